"""The connection options of kubernetes.core's auth block, through ansible-playbook → HTTPS → simulator: a
kubeconfig file or dictionary, host + api_key, K8S_AUTH_* variables, an exec credential plugin, an HTTP proxy
(a loopback CONNECT proxy in this file), and what only a recording server can show, because the simulator
ignores it: impersonation headers and basic credentials. Credentials never reach the output, even at -vvv."""

import json
import os
import select
import socket
import socketserver
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ..ansible_runner import ROOT, run_playbook

INFO = "deckhouse.virtualization.cluster_virtual_image_info"
IMAGE = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": "img", "resourceVersion": "1"}, "spec": {}}


def info(name="img", **options):
    return {INFO: {"name": name, **options}}


# -- a recording API server (plain HTTP) --------------------------------------------------------------------
class Recorder(BaseHTTPRequestHandler):
    seen: list = []  # (method, path, list of (header, value))

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.seen.append((self.command, self.path, list(self.headers.items())))
        body = json.dumps(IMAGE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def recorder():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# -- a loopback CONNECT proxy ----------------------------------------------------------------------------------
class Tunnel(socketserver.StreamRequestHandler):
    seen: list = []  # (request line, {header: value})

    def handle(self):
        line = self.rfile.readline().decode().strip()
        headers = {}
        while (header := self.rfile.readline().decode().strip()) != "":
            key, _unused, value = header.partition(":")
            headers[key.strip().lower()] = value.strip()
        self.seen.append((line, headers))
        method, target, _unused = line.split(" ", 2)
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        pair = [self.connection, upstream]
        try:
            while True:
                ready, _unused, _unused = select.select(pair, [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()


@pytest.fixture
def proxy():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Tunnel.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def verbose(run):
    """The task results of a -vvv run: verbose lines come before the json callback's report."""
    report = json.loads(run.stdout[run.stdout.index("\n{\n") + 1 :])
    return {t["task"]["name"]: next(iter(t["hosts"].values())) for play in report["plays"] for t in play["tasks"]}


def no_secret(run, *secrets):
    text = run.stdout + run.stderr
    for secret in secrets:
        assert secret not in text, "a credential reached the output"


# -- the tests ---------------------------------------------------------------------------------------------
def test_kubeconfig_file_dictionary_context_and_host_token_at_vvv(sim, tmp_path):
    cfg = yaml.safe_load(sim.kubeconfig.read_text())
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "file", **info()},
            {"name": "dictionary", **info(kubeconfig=cfg)},
            {"name": "context", **info(context="dvp-sim")},
            {"name": "host and token", **info(kubeconfig=None, host=sim.server, api_key=sim.token, ca_cert=str(sim.ca_file))},
            {"name": "bad token", **info(kubeconfig=None, host=sim.server, api_key=sim.token[::-1], ca_cert=str(sim.ca_file)), "ignore_errors": True},
        ],
        extra_args=("-vvv",),
    )
    results = verbose(run)
    assert all(results[t]["resources"] == [] for t in ("file", "dictionary", "context", "host and token")), run.stdout[-3000:]
    assert results["bad token"]["failed"] and "Unauthorized (401)" in results["bad token"]["msg"]
    assert results["dictionary"]["invocation"]["module_args"]["kubeconfig"]["users"][0]["user"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    no_secret(run, sim.token, sim.token[::-1])


def test_k8s_auth_variables_alone(sim, tmp_path):
    env = {"K8S_AUTH_KUBECONFIG": str(sim.kubeconfig), "K8S_AUTH_CONTEXT": "dvp-sim"}
    tasks = [{"name": "kubeconfig from env", **info(kubeconfig="{{ omit }}")}]
    run = run_playbook(tmp_path, sim.kubeconfig, tasks, extra_env=env)
    assert run["kubeconfig from env"]["resources"] == [], run.stdout[-3000:]
    env = {"K8S_AUTH_HOST": sim.server, "K8S_AUTH_API_KEY": sim.token, "K8S_AUTH_SSL_CA_CERT": str(sim.ca_file), "K8S_AUTH_KUBECONFIG": "/nonexistent"}
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "host from env", **info(kubeconfig="{{ omit }}")}], extra_env=env)
    assert run["host from env"]["resources"] == [], "host with a token needs no kubeconfig, as in kubernetes.core"
    env = {"K8S_AUTH_HOST": sim.server, "K8S_AUTH_API_KEY": sim.token, "K8S_AUTH_VERIFY_SSL": "no"}
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "no verification", **info(kubeconfig="{{ omit }}")}], extra_env=env)
    assert run["no verification"]["resources"] == []
    env = {"K8S_AUTH_HOST": sim.server, "K8S_AUTH_API_KEY": sim.token}
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "unknown CA", **info(kubeconfig="{{ omit }}"), "ignore_errors": True}], extra_env=env)
    assert run["unknown CA"]["failed"] and "CERTIFICATE_VERIFY_FAILED" in run["unknown CA"]["msg"]


def test_impersonation_and_basic_credentials_reach_the_server(recorder, tmp_path, sim):
    env = {"K8S_AUTH_IMPERSONATE_USER": "jane", "K8S_AUTH_IMPERSONATE_GROUPS": "ops,auditors", "K8S_AUTH_USERNAME": "alice", "K8S_AUTH_PASSWORD": "s3cret-pw"}
    tasks = [
        {
            "name": "options",
            **info(
                kubeconfig=None, host=recorder, username="bob", password="hunter2-pw", impersonate_user="admin", impersonate_groups=["system:masters", "dev"]
            ),
        },
        {"name": "environment", **info(kubeconfig=None, host=recorder)},
    ]
    run = run_playbook(tmp_path, sim.kubeconfig, tasks, extra_args=("-vvv",), extra_env=env)
    assert verbose(run)["options"]["resources"][0]["metadata"]["name"] == "img", run.stdout[-3000:]
    (_unused, path, first), (_unused, _unused, second) = Recorder.seen
    assert path == "/apis/virtualization.deckhouse.io/v1alpha2/clustervirtualimages/img"
    assert ("Authorization", "Basic Ym9iOmh1bnRlcjItcHc=") in first  # bob:hunter2-pw
    assert ("Impersonate-User", "admin") in first
    assert [v for k, v in first if k == "Impersonate-Group"] == ["system:masters", "dev"], "one header per group"
    assert ("Authorization", "Basic YWxpY2U6czNjcmV0LXB3") in second  # alice:s3cret-pw
    assert ("Impersonate-User", "jane") in second and [v for k, v in second if k == "Impersonate-Group"] == ["ops", "auditors"]
    no_secret(run, "hunter2-pw", "s3cret-pw")


def test_proxy_connect_tunnel_with_headers_and_no_proxy(proxy, sim, tmp_path):
    port = sim.server.rsplit(":", 1)[1]
    proxied = {"proxy": proxy, "proxy_headers": {"proxy_basic_auth": "carol:tunnel-pw", "user_agent": "dvp-test/1.0"}}
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "through the proxy", **info(**proxied)},
            {"name": "no_proxy", **info(**proxied, no_proxy="example.com,127.0.0.0/8")},
            {"name": "proxy from env", **info()},
        ],
        extra_env={"K8S_AUTH_PROXY": proxy, "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "from-env/2.0"},
    )
    assert all(run[t]["resources"] == [] for t in ("through the proxy", "no_proxy", "proxy from env")), run.stdout[-3000:]
    (line, headers), (env_line, env_headers) = Tunnel.seen  # the no_proxy task went direct
    assert line.startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.")
    assert headers["proxy-authorization"] == "Basic Y2Fyb2w6dHVubmVsLXB3" and headers["user-agent"] == "dvp-test/1.0"
    assert env_line == line and env_headers["user-agent"] == "from-env/2.0"


def test_exec_credential_plugin(sim, tmp_path):
    cfg = yaml.safe_load(sim.kubeconfig.read_text())
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": sim.token}}
    cfg["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
        }
    }
    path = tmp_path / "exec-kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    run = run_playbook(tmp_path, path, [{"name": "exec", **info()}])
    assert run["exec"]["resources"] == [], run.stdout[-3000:]


def test_a_missing_field_is_named(sim, tmp_path):
    cfg = yaml.safe_load(sim.kubeconfig.read_text())
    del cfg["clusters"][0]["cluster"]["server"]
    path = tmp_path / "broken"
    path.write_text(yaml.safe_dump(cfg))
    run = run_playbook(tmp_path, path, [{"name": "broken", **info(), "ignore_errors": True}, {"name": "gone", **info(context="nope"), "ignore_errors": True}])
    assert run["broken"]["msg"] == "kubeconfig: clusters[dvp-sim].cluster.server: missing"
    assert run["gone"]["msg"] == "kubeconfig: context: no entry named 'nope' in contexts"


def module_run(sim, tmp_path, kubeconfig):
    """The module run as Ansible runs it (its arguments in a file), under `python -X importtime`."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"name": "img", "kubeconfig": str(kubeconfig)}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT / ".venv" / "collections")}
    module = "ansible_collections.deckhouse.virtualization.plugins.modules.cluster_virtual_image_info"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", module, str(args)], capture_output=True, check=False, text=True, env=env, timeout=60)
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:") and "|" in line}
    return json.loads(proc.stdout), imported


def test_the_hot_path_does_not_import_kubernetes(sim, tmp_path):
    result, imported = module_run(sim, tmp_path, sim.kubeconfig)
    assert result["resources"] == [] and not result.get("failed"), result
    assert "ansible.module_utils.basic" in imported and "http.client" in imported, "the import log is read"
    assert not [m for m in imported if m == "kubernetes" or m.startswith("kubernetes.") or m == "urllib3"]


def test_only_credential_plugins_import_kubernetes(sim, tmp_path):
    cfg = yaml.safe_load(sim.kubeconfig.read_text())
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": sim.token}}
    cfg["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
        }
    }
    path = Path(tmp_path / "exec-kubeconfig")
    path.write_text(yaml.safe_dump(cfg))
    result, imported = module_run(sim, tmp_path, path)
    assert result["resources"] == [], result
    assert "kubernetes.config" in imported
