"""The client's keep-alive connections (module_utils/transport.py): requests made one after another share one
connection; requests made side by side (a batch's worker threads) each get one of their own and give it back; a
connection the server closed while idle is replaced without the caller seeing it. A loopback HTTP/1.1 server
records which client port carried each request."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils.transport import Settings, Transport


class KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ports: list[int] = []
    barrier: threading.Barrier | None = None  # holds each answer until this many requests are in at once
    close_after_answer = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.ports.append(self.client_address[1])
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        body = json.dumps({"kind": "Status", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.close_after_answer:  # an idle timeout on the server's side, without telling the client
            self.close_connection = True


@pytest.fixture
def server():
    KeepAlive.ports, KeepAlive.barrier, KeepAlive.close_after_answer = [], None, False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield Transport(Settings(server=f"http://127.0.0.1:{httpd.server_address[1]}"))
    httpd.shutdown()


def get(transport, path="/"):
    answer = transport.request("GET", path, {"Accept": "application/json"}, None, 10)
    assert answer.status == 200
    return json.loads(answer.data)


def test_requests_one_after_another_share_one_connection(server):
    for i in range(5):
        assert get(server, f"/{i}")["path"] == f"/{i}"
    assert len(KeepAlive.ports) == 5 and len(set(KeepAlive.ports)) == 1


def test_requests_side_by_side_get_a_connection_each_and_give_it_back(server):
    KeepAlive.barrier = threading.Barrier(3)  # the server answers only once three requests are in at once
    answers = []
    threads = [threading.Thread(target=lambda i=i: answers.append(get(server, f"/{i}"))) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(a["path"] for a in answers) == ["/0", "/1", "/2"]
    assert len(set(KeepAlive.ports)) == 3
    KeepAlive.barrier = None
    get(server)
    assert KeepAlive.ports[-1] in KeepAlive.ports[:3], "a later request reuses an idle connection"
    server.close()
    get(server)
    assert KeepAlive.ports[-1] not in KeepAlive.ports[:-1], "close() closed the idle ones"


def test_a_connection_the_server_closed_while_idle_is_replaced(server):
    KeepAlive.close_after_answer = True
    assert [get(server, f"/{i}")["path"] for i in range(3)] == ["/0", "/1", "/2"]
    assert len(set(KeepAlive.ports)) == 3


def test_after_side_by_side_requests_a_closed_idle_connection_is_replaced_by_a_new_one(server):
    KeepAlive.barrier, KeepAlive.close_after_answer = threading.Barrier(3), True  # three idle connections, all closed
    threads = [threading.Thread(target=get, args=(server, f"/{i}")) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    KeepAlive.barrier = None
    assert get(server, "/after")["path"] == "/after", "the retry opens a connection instead of taking another closed one"
    assert KeepAlive.ports[-1] not in KeepAlive.ports[:3]
