"""The collection's client retries 429 and 5xx answers with backoff (honouring Retry-After) and then reports
the server's own message. The simulator has no fault mode yet (ROADMAP: reliability), so a small loopback HTTP
server plays an API server that is overloaded for the first requests."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import RETRY_AFTER_CAP, DVPClient, retry_pause
from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import StreamBroken
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import CLUSTER_VIRTUAL_IMAGE
from ansible_collections.deckhouse.virtualization.plugins.module_utils.transport import Settings, Transport

from ..ansible_runner import run_playbook

IMAGE = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": "img", "resourceVersion": "1"}, "spec": {}}


class FlakyAPI(BaseHTTPRequestHandler):
    failures: list[int] = []  # status codes to answer first, in order
    retry_after = "0"  # the Retry-After of a 429
    seen: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.seen.append(self.path)
        if self.failures:
            code = self.failures.pop(0)
            body = json.dumps({"kind": "Status", "status": "Failure", "message": f"try again ({code})", "code": code}).encode()
            self.send_response(code)
            if code == 429:
                self.send_header("Retry-After", self.retry_after)
        else:
            body = json.dumps(IMAGE).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FlakyAPI.seen.clear()
    FlakyAPI.retry_after = "0"
    yield server
    server.shutdown()


def info(server, **options):
    host = f"http://127.0.0.1:{server.server_address[1]}"
    return {
        "deckhouse.virtualization.cluster_virtual_image_info": {
            "name": "img",
            "host": host,
            "api_key": "retry-test-token-0123456789",
            "kubeconfig": None,
            **options,
        }
    }


def test_429_and_5xx_are_retried(flaky, tmp_path, sim):
    FlakyAPI.failures[:] = [429, 503, 500]
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", **info(flaky)}])
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["read"]["resources"][0]["metadata"]["name"] == "img"
    assert len(FlakyAPI.seen) == 4, "three refusals, then the answer"


def test_persistent_failure_reports_the_server_message(flaky, tmp_path, sim):
    FlakyAPI.failures[:] = [503] * 10
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", **info(flaky), "ignore_errors": True}])
    assert run["read"]["failed"]
    assert "ClusterVirtualImage img: Service Unavailable (503): try again (503)" in run["read"]["msg"]
    assert len(FlakyAPI.seen) == 5, "five tries in all"


def test_retry_after_is_capped(flaky):
    """A server asking for an hour's pause gets RETRY_AFTER_CAP seconds (the client's sleep is recorded, the
    requests are real)."""
    FlakyAPI.failures[:] = [429]
    FlakyAPI.retry_after = "3600"
    pauses = []
    client = DVPClient(Transport(Settings(server=f"http://127.0.0.1:{flaky.server_address[1]}")), sleep=pauses.append)
    assert client.get(CLUSTER_VIRTUAL_IMAGE, "img")["metadata"]["name"] == "img"
    assert pauses == [RETRY_AFTER_CAP] and RETRY_AFTER_CAP == 10.0
    assert retry_pause("Wed, 21 Oct 2015 07:28:00 GMT", 0.4) == 0.4, "an HTTP-date counts as no Retry-After"


def test_wait_timeout_bounds_the_retry_budget(flaky, tmp_path, sim):
    """wait_timeout: 2 and a Retry-After of 3600 (capped to 10 s): the pause would end after the budget, so the
    task reports the 429 at once; with 503s and wait_timeout: 1 the backoff (0.2, 0.4, then 0.8 s) stops after
    three tries instead of five."""
    FlakyAPI.failures[:] = [429]
    FlakyAPI.retry_after = "3600"
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", **info(flaky, wait_timeout=2), "ignore_errors": True}])
    assert "ClusterVirtualImage img: Too Many Requests (429): try again (429)" in run["read"]["msg"]
    assert len(FlakyAPI.seen) == 1, "no pause past the budget"
    FlakyAPI.seen.clear()
    FlakyAPI.failures[:] = [503] * 10
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", **info(flaky, wait_timeout=1), "ignore_errors": True}])
    assert "Service Unavailable (503)" in run["read"]["msg"]
    assert len(FlakyAPI.seen) == 3


class BrokenWatch(BaseHTTPRequestHandler):
    """Answers a watch with one whole event, then breaks the stream as `mode` says."""

    protocol_version = "HTTP/1.1"
    mode = "truncated chunk"

    def log_message(self, *args):
        pass

    def do_GET(self):
        event = json.dumps({"type": "MODIFIED", "object": {**IMAGE, "metadata": {"name": "img", "resourceVersion": "7"}}}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        if self.mode == "truncated chunk":
            self.wfile.write(b"400\r\n" + b'{"type": "MOD')  # a chunk announced as 1 KiB, cut short
        elif self.mode == "garbled line":
            self.wfile.write(b"6\r\n{oops\n\r\n")
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)  # the server goes away without the last chunk


@pytest.mark.parametrize("mode", ["truncated chunk", "connection closed", "garbled line"])
def test_a_broken_watch_stream_raises_stream_broken(mode):
    BrokenWatch.mode = mode
    server = ThreadingHTTPServer(("127.0.0.1", 0), BrokenWatch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = DVPClient(Transport(Settings(server=f"http://127.0.0.1:{server.server_address[1]}")))
        events = []
        with pytest.raises(StreamBroken) as err:
            for event in client.watch(CLUSTER_VIRTUAL_IMAGE, "img", None, "5", 5):
                events.append(event)
    finally:
        server.shutdown()
    assert [e["object"]["metadata"]["resourceVersion"] for e in events] == ["7"]
    assert err.value.details["resource_version"] == "7", "the waiter resumes from the last event it saw"
    assert "the watch stream broke after resourceVersion 7" in err.value.message
