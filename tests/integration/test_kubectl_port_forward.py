"""`kubectl port-forward` to a VM's virt-launcher pod, as an admin tries it: the real kubectl 1.37 over its WebSocket
tunnel (SPDY/3.1+portforward.k8s.io) and over its SPDY fallback, and the kubernetes Python client's portforward()
(v4.channel.k8s.io). Nothing listens inside a simulated pod, so a connection through the forward is refused inside
the pod, and kubectl reports it as against a real cluster ("an error occurred forwarding … connection refused", then
"lost connection to pod"). Also kube-apiserver's refusals before the upgrade, RBAC (`create` on pods/portforward),
and a node the control plane cannot reach."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from kubernetes import client, config
from kubernetes.stream import portforward

from ..simulator_process import BIN
from . import iso_vms
from .polling import eventually
from .test_kubectl_exec import admin_post, grant
from .test_vm_lifecycle import get

NODES = [
    {"name": "pf-0", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
    {"name": "pf-1", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
]


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    """A simulator with one VM Running: {"sim", "ns", "pod"} (the VM's virt-launcher pod)."""
    with iso_vms.running(tmp_path_factory.mktemp("pf"), "pf", NODES, "10.66.31.0/24", {"web": {"cores": 1, "memory": "1Gi"}}) as cluster:
        yield {"sim": cluster["sim"], "ns": cluster["ns"], "pod": cluster["pods"]["web"]}


def forward(v, port: str, *args: str, env: dict[str, str] | None = None) -> tuple[str, str, int]:
    """Run `kubectl port-forward` to the VM's pod, connect once through it, read until the forward closes the
    connection; (kubectl's stdout, its stderr, its exit code) once it has exited."""
    sim = v["sim"]
    cmd = [str(BIN / "kubectl"), "port-forward", "-n", v["ns"], f"pod/{v['pod']}", f":{port}", "--address", "127.0.0.1", *args]
    env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig), **(env or {})}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> " + port, line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=20) as conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            try:  # closed with what it sent unread, the connection may end in a reset rather than an EOF
                assert conn.recv(100) == b"", "nothing listens inside the pod: the forward closes the connection"
            except ConnectionResetError:
                pass
        out, err = proc.communicate(timeout=30)
        return line + out, err, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def refused(err: str, port: str) -> bool:
    return (
        "An error occurred forwarding" in err
        and f"error forwarding port {port} to pod" in err
        and f"dial tcp4 127.0.0.1:{port}: connect: connection refused" in err
        and "lost connection to pod" in err
    )


def test_kubectl_port_forward_over_its_websocket_tunnel(vm):
    out, err, code = forward(vm, "22", "-v=6")
    assert "Handling connection for" in out
    assert code != 0 and refused(err, "22"), err
    assert "Before WebSocket Upgrade Connection" in err and "fallback to secondary dialer" not in err, "the tunnel, not the fallback"


def test_kubectl_port_forward_over_spdy(vm):
    out, err, code = forward(vm, "5900", "-v=6", env={"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"})
    assert code != 0 and refused(err, "5900"), err
    assert re.search(r'verb="POST" url="[^"]+/pods/[^"]+/portforward" status="101 Switching Protocols"', err), err


def test_the_python_clients_portforward(vm):
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(vm["sim"].kubeconfig)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, vm["pod"], vm["ns"], ports="22,80")
    try:
        sock = pf.socket(22)
        sock.settimeout(20)
        assert sock.recv(100) == b""
        for port in (22, 80):  # each port's error arrives on its own channel, in turn: port 80's may come after 22's EOF
            message = eventually(lambda p=port: pf.error(p), lambda text: text is not None, timeout=20)
            assert f"dial tcp4 127.0.0.1:{port}: connect: connection refused" in message, message
    finally:
        pf.close()


def _request(sim, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(sim.server + path, method=method, headers={"Authorization": f"Bearer {sim.token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _websocket(sim, path: str, protocol: str) -> tuple[int, str]:
    """A WebSocket handshake that the server refuses: (its status, its body)."""

    async def go() -> tuple[int, str]:
        ctx = ssl.create_default_context(cafile=str(sim.ca_file))
        async with aiohttp.ClientSession() as session:
            async with session.get(
                sim.server + path, ssl=ctx,
                headers={"Authorization": f"Bearer {sim.token}", "Connection": "Upgrade", "Upgrade": "websocket",
                         "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": protocol},
            ) as resp:  # fmt: skip
                return resp.status, await resp.text()

    return asyncio.run(go())


def test_refusals_before_the_upgrade(vm):
    sim, ns = vm["sim"], vm["ns"]
    base = f"/api/v1/namespaces/{ns}/pods/{vm['pod']}/portforward"
    code, body = _request(sim, base)
    assert (code, body["reason"], body["message"]) == (400, "BadRequest", "Upgrade request required")
    code, body = _request(sim, f"/api/v1/namespaces/{ns}/pods/nobody/portforward")
    assert (code, body["message"]) == (404, 'pods "nobody" not found')
    spdy = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
    code, body = _request(sim, base, "POST", spdy)
    assert code == 403 and "unable to negotiate protocol" in body["message"]
    code, text = _websocket(sim, base, "v4.channel.k8s.io")
    assert code == 400 and 'query parameter \\"port\\" is required' in text, text
    code, text = _websocket(sim, base + "?ports=ssh", "v4.channel.k8s.io")
    assert code == 400 and "unable to parse" in text, text
    # a pod nobody scheduled has no node to forward to (kubectl refuses it first, as not Running)
    sim.kubectl("run", "unscheduled", "-n", ns, "--image=x", "--overrides", json.dumps({"spec": {"schedulerName": "nobody"}}))
    code, body = _request(sim, f"/api/v1/namespaces/{ns}/pods/unscheduled/portforward", "POST", {**spdy, "X-Stream-Protocol-Version": "portforward.k8s.io"})
    assert (code, body["message"]) == (400, "pod unscheduled does not have a host assigned")
    shown = sim.kubectl("port-forward", "-n", ns, "pod/unscheduled", ":22", check=False)
    assert shown.returncode != 0 and "pod is not running" in shown.stderr


def test_port_forward_needs_create_on_pods_portforward(vm):
    sim, ns = vm["sim"], vm["ns"]
    role = grant(sim, ns, "pf-get", "dave", ["pods", "pods/portforward"], ["get", "list"])
    denied = sim.kubectl("port-forward", "-n", ns, f"pod/{vm['pod']}", ":22", "--as=dave", check=False, timeout=30)
    assert denied.returncode != 0 and 'cannot create resource "pods/portforward"' in denied.stderr, denied.stderr
    role["rules"][0]["verbs"].append("create")
    sim.kubectl("apply", "-f", "-", input=json.dumps(role))
    _out, err, code = forward(vm, "22", "--as=dave")
    assert code != 0 and refused(err, "22"), err


def test_a_node_the_control_plane_cannot_reach_forwards_nothing(vm):
    sim, ns = vm["sim"], vm["ns"]
    node = get(sim, "pod", vm["pod"], ns)["spec"]["nodeName"]
    assert admin_post(sim, f"nodes/{node}/fail", {"mode": "network"}) == 200
    try:
        started = time.monotonic()
        cut = sim.kubectl("port-forward", "-n", ns, f"pod/{vm['pod']}", ":22", check=False, timeout=60)
        assert cut.returncode != 0 and "error dialing backend" in cut.stderr and "no route to host" in cut.stderr, cut.stderr
        assert time.monotonic() - started < 60
    finally:
        assert admin_post(sim, f"nodes/{node}/recover", {}) == 200
    _out, err, code = forward(vm, "22")
    assert code != 0 and refused(err, "22"), err
