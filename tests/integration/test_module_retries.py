"""The collection's client retries 429 and 5xx answers with backoff (honouring Retry-After) and then reports
the server's own message. The simulator has no fault mode yet (ROADMAP: reliability), so a small loopback HTTP
server plays an API server that is overloaded for the first requests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ..ansible_runner import run_playbook

IMAGE = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": "img", "resourceVersion": "1"}, "spec": {}}


class FlakyAPI(BaseHTTPRequestHandler):
    failures: list[int] = []  # status codes to answer first, in order
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
                self.send_header("Retry-After", "0")
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
    yield server
    server.shutdown()


def info(server):
    host = f"http://127.0.0.1:{server.server_address[1]}"
    return {"deckhouse.virtualization.cluster_virtual_image_info": {"name": "img", "host": host, "api_key": "retry-test-token-0123456789", "kubeconfig": None}}


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
