"""`kubectl exec` into a VM's virt-launcher pod, as an admin debugging a VM does: `virsh list / domstate / dominfo /
dumpxml` answered by the libvirt of the node the VM runs on (the domain the VM controller defined there, nobody
else's), through the real kubectl 1.37 (WebSocket, v5.channel.k8s.io) and the kubernetes Python client's stream()
(v4.channel.k8s.io); the exit codes kubectl passes on; kube-apiserver's refusals before the upgrade (no command, an
unknown container, not a WebSocket, no pod, a pod without a node); RBAC: `get` on pods/exec without `create` is not
enough for a WebSocket."""

from __future__ import annotations

import json
import os
import pty
import select
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from kubernetes import client, config
from kubernetes.stream import stream

from ..simulator_process import BIN
from . import iso_vms
from .test_vm_lifecycle import eventually, get, phase

NODES = [
    {"name": "exec-0", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
    {"name": "exec-1", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
]


@pytest.fixture(scope="module")
def vms(tmp_path_factory):
    """A simulator with two VMs Running in one namespace: {"sim", "ns", "vm", "pod", "other_pod"}."""
    sizes = {"web": {"cores": 2, "memory": "2Gi"}, "db": {"cores": 2, "memory": "2Gi"}}
    with iso_vms.running(tmp_path_factory.mktemp("exec"), "exec", NODES, "10.66.30.0/24", sizes) as cluster:
        sim, ns, pods = cluster["sim"], cluster["ns"], cluster["pods"]
        yield {"sim": sim, "ns": ns, "vm": get(sim, "vm", "web", ns), "pod": pods["web"], "other_pod": pods["db"]}


def admin_post(sim, path, body):
    """POST to the simulator's admin API (/simulator/v1/…); the response's status."""
    headers = {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}
    req = urllib.request.Request(f"{sim.server}/simulator/v1/{path}", data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
        return r.status


def kexec(v, *command, pod=None, check=False, args=(), input=None):
    return v["sim"].kubectl("exec", "-n", v["ns"], pod or v["pod"], *args, "--", *command, check=check, input=input)


def test_virsh_in_the_virt_launcher_sees_its_vm_domain_on_its_node(vms):
    ns, vm = vms["ns"], vms["vm"]
    domain = f"{ns}_web"
    listed = kexec(vms, "virsh", "list", check=True).stdout
    lines = listed.splitlines()
    assert lines[0].split() == ["Id", "Name", "State"] and set(lines[1]) == {"-"}
    assert lines[2].split()[1:] == [domain, "running"], listed
    assert f"{ns}_db" not in listed, "a virt-launcher's libvirt holds its own VM's domain only"
    assert kexec(vms, "virsh", "list", "--all", "--name", check=True).stdout.split() == [domain]
    assert kexec(vms, "virsh", "domstate", domain, check=True).stdout.strip() == "running"
    shown = kexec(vms, "virsh", "dominfo", domain, check=True).stdout.splitlines()
    info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in shown if ":" in line)}
    assert info["Name"] == domain and info["State"] == "running" and info["CPU(s)"] == "2" and info["Max memory"] == f"{2 * 1024 * 1024} KiB"
    xml = ET.fromstring(kexec(vms, "virsh", "dumpxml", domain, check=True).stdout)
    assert xml.findtext("name") == domain and xml.findtext("vcpu") == "2"
    assert int(xml.findtext("memory")) == 2 * 1024 * 1024 and xml.find("memory").get("unit") == "KiB"
    assert xml.find("devices/disk/source").get("file").endswith("/ClusterVirtualImage/exec-iso")
    mac = xml.find("devices/interface/mac").get("address")
    assert mac.startswith("52:54:00:"), "the VM's Main network interface, as the controller defined it"
    assert kexec(vms, "virsh", "domuuid", domain, check=True).stdout.strip() == info["UUID"]
    # where the pod runs is where the domain is: the simulator's admin view of that node agrees
    node = vm["status"]["nodeName"]
    assert get(vms["sim"], "pod", vms["pod"], ns)["spec"]["nodeName"] == node


def test_exit_codes_and_errors_reach_kubectl(vms):
    missing = kexec(vms, "virsh", "domstate", "nobody")
    assert missing.returncode == 1 and "error: failed to get domain 'nobody'" in missing.stderr
    assert "command terminated with exit code 1" in missing.stderr
    other = kexec(vms, "virsh", "dumpxml", f"{vms['ns']}_db")
    assert other.returncode == 1 and "failed to get domain" in other.stderr, "another VM's domain is not in this pod's libvirt"
    forbidden = kexec(vms, "virsh", "destroy", f"{vms['ns']}_web")
    assert forbidden.returncode == 1 and "VirtualMachineOperation" in forbidden.stderr
    assert phase(get(vms["sim"], "vm", "web", vms["ns"])) == "Running"
    unknown = kexec(vms, "virsh", "frobnicate")
    assert unknown.returncode == 1 and "unknown command: 'frobnicate'" in unknown.stderr
    shell = kexec(vms, "sh", "-c", "id")
    assert shell.returncode != 0 and 'exec: "sh": executable file not found in $PATH' in shell.stderr


def test_commands_on_stdin_and_a_terminal(vms):
    domain = f"{vms['ns']}_web"
    piped = kexec(vms, "virsh", args=("-i",), input=f"domstate {domain}\n# a comment\ndomname {domain}\nquit\nlist\n", check=True)
    assert piped.stdout.split() == ["running", domain]
    tty = kexec(vms, "virsh", "domstate", domain, args=("-t",), check=True)
    assert tty.stdout.strip() == "running"


def test_an_interactive_virsh_on_a_terminal(vms):
    """`kubectl exec -it … -- virsh` from a real terminal (a pty): the banner, the prompt, a command typed key by key,
    and `quit` ending kubectl with exit code 0."""
    domain = f"{vms['ns']}_web"
    leader, follower = pty.openpty()
    env = {**os.environ, "KUBECONFIG": str(vms["sim"].kubeconfig), "TERM": "xterm"}
    proc = subprocess.Popen(
        [str(BIN / "kubectl"), "exec", "-it", "-n", vms["ns"], vms["pod"], "--", "virsh"], stdin=follower, stdout=follower, stderr=follower, env=env,
        start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    seen = bytearray()

    def read_until(marker: bytes, timeout: float = 30.0) -> None:
        end = time.time() + timeout
        while marker not in seen:
            assert time.time() < end, bytes(seen)
            if select.select([leader], [], [], 0.5)[0]:
                seen.extend(os.read(leader, 4096))

    try:
        read_until(b"virsh # ")
        assert b"Welcome to virsh" in seen
        seen.clear()
        os.write(leader, f"domstate {domain}\r".encode())
        read_until(b"virsh # ")
        assert b"running" in seen
        os.write(leader, b"quit\r")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)


def test_refusals_before_the_upgrade(vms):
    sim, ns = vms["sim"], vms["ns"]
    assert "container nope is not valid for pod" in kexec(vms, "virsh", "list", args=("-c", "nope")).stderr
    assert 'pods "virt-launcher-nobody" not found' in kexec(vms, "virsh", "list", pod="virt-launcher-nobody").stderr
    base = f"/api/v1/namespaces/{ns}/pods/{vms['pod']}/exec"
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))

    def plain_get(query):
        req = urllib.request.Request(sim.server + base + query, headers={"Authorization": f"Bearer {sim.token}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    code, body = plain_get("?stdout=true")
    assert (code, body["message"]) == (400, "you must specify at least 1 command")
    code, body = plain_get("?command=virsh")
    assert (code, body["message"]) == (400, "you must specify at least 1 of stdin, stdout, stderr")
    code, body = plain_get("?command=virsh&stdout=true")
    assert (code, body["reason"], body["message"]) == (400, "BadRequest", "Upgrade request required")
    # a pod nobody scheduled has no node to run anything on
    sim.kubectl("run", "unscheduled", "-n", ns, "--image=x", "--overrides", json.dumps({"spec": {"schedulerName": "nobody"}}))
    unscheduled = kexec(vms, "true", pod="unscheduled")
    assert unscheduled.returncode != 0 and "does not have a host assigned" in unscheduled.stderr


def grant(sim, ns: str, name: str, user: str, resources: list[str], verbs: list[str]) -> dict:
    """A Role `name` with one rule (core group) bound to `user` in `ns`; the Role, to apply again changed."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}]}  # fmt: skip
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}))
    return role


def test_websocket_exec_needs_create_on_pods_exec(vms):
    sim, ns = vms["sim"], vms["ns"]
    role = grant(sim, ns, "exec-get", "carol", ["pods", "pods/exec"], ["get", "list"])
    denied = kexec(vms, "virsh", "list", args=("--as=carol",))
    assert denied.returncode != 0 and 'cannot create resource "pods/exec"' in denied.stderr, denied.stderr
    role["rules"][0]["verbs"].append("create")
    sim.kubectl("apply", "-f", "-", input=json.dumps(role))
    assert f"{ns}_web" in kexec(vms, "virsh", "list", args=("--as=carol",), check=True).stdout


def test_the_python_clients_stream(vms):
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(vms["sim"].kubeconfig)))
    domain = f"{vms['ns']}_web"
    exec_ = api.connect_get_namespaced_pod_exec
    out = stream(exec_, vms["pod"], vms["ns"], command=["virsh", "domstate", domain], stdout=True, stderr=True, stdin=False, tty=False)
    assert out.strip() == "running"
    resp = stream(
        api.connect_get_namespaced_pod_exec, vms["pod"], vms["ns"], command=["virsh", "domstate", "x"], stdout=True, stderr=True, stdin=False, tty=False,
        _preload_content=False,
    )  # fmt: skip
    resp.run_forever(timeout=10)
    assert resp.returncode == 1 and "failed to get domain 'x'" in resp.read_stderr()


def test_the_virt_launcher_logs_its_domain(vms):
    sim, ns, vm = vms["sim"], vms["ns"], vms["vm"]
    lines = [json.loads(line) for line in sim.kubectl("logs", "-n", ns, vms["pod"], "-c", "compute").stdout.splitlines()]
    assert [line["msg"] for line in lines] == ["Domain defined.", "Domain started."]
    assert {(line["component"], line["name"], line["namespace"], line["uid"]) for line in lines} == {("virt-launcher", "web", ns, vm["metadata"]["uid"])}
    assert lines[1]["node"] == vm["status"]["nodeName"]
    # the guest's own events reach its virt-launcher's log (the simulator's admin API plays the guest)
    assert admin_post(sim, f"vms/{ns}/db/guest", {"action": "reboot"}) == 200
    last = json.loads(sim.kubectl("logs", "-n", ns, vms["other_pod"], "--tail=1").stdout)
    assert (last["msg"], last["name"]) == ("Domain rebooted by the guest.", "db")


def test_attach_follows_the_containers_output(vms):
    """`kubectl attach` to db's virt-launcher: what it writes from then on (here, the guest rebooting twice) arrives
    while kubectl stays attached; kubectl leaves when it is stopped."""
    sim, ns = vms["sim"], vms["ns"]
    env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig)}
    proc = subprocess.Popen(
        [str(BIN / "kubectl"), "attach", "-n", ns, vms["other_pod"], "-c", "compute"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )  # fmt: skip
    try:
        time.sleep(1.5)  # attached
        for _unused in range(2):
            assert admin_post(sim, f"vms/{ns}/db/guest", {"action": "reboot"}) == 200
        first = json.loads(proc.stdout.readline())
        second = json.loads(proc.stdout.readline())
        assert [first["msg"], second["msg"]] == ["Domain rebooted by the guest."] * 2 and first["name"] == "db"
        assert proc.poll() is None, "still attached"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    role = sim.kubectl("attach", "-n", ns, vms["other_pod"], "--as=carol", check=False)
    assert role.returncode != 0 and 'cannot create resource "pods/attach"' in role.stderr, role.stderr


def test_a_node_the_control_plane_cannot_reach_runs_nothing(vms):
    """Near the end of this module: it partitions the node of the VM `db` (no fencing here, so the VM stays bound to
    it) and recovers it."""
    sim, ns = vms["sim"], vms["ns"]
    node = get(sim, "pod", vms["other_pod"], ns)["spec"]["nodeName"]
    assert admin_post(sim, f"nodes/{node}/fail", {"mode": "network"}) == 200
    try:
        cut = kexec(vms, "virsh", "list", pod=vms["other_pod"])
        assert cut.returncode != 0 and "error dialing backend" in cut.stderr and "no route to host" in cut.stderr, cut.stderr
    finally:
        assert admin_post(sim, f"nodes/{node}/recover", {}) == 200
    assert f"{ns}_db" in kexec(vms, "virsh", "list", pod=vms["other_pod"], check=True).stdout


def test_a_node_deleted_by_hand_loses_its_pods_and_the_vm_restarts_elsewhere(vms):
    """Last in this module: `kubectl delete node` under a running VM. PodGC deletes the VM's virt-launcher pod once the
    Node has been gone 40 simulated seconds (2 s here); the VM's run policy restarts it on the other node, whose
    libvirt then holds the domain — and the deleted node's no longer does (one copy of the guest)."""
    sim, ns = vms["sim"], vms["ns"]
    old_pod = get(sim, "pod", vms["pod"], ns)
    node = old_pod["spec"]["nodeName"]
    sim.kubectl("delete", "node", node)
    moved = eventually(lambda: get(sim, "vm", "web", ns), lambda o: phase(o) == "Running" and o["status"].get("nodeName") not in (None, node), 60)
    assert get(sim, "pod", vms["pod"], ns) == {}, "the pod of the deleted node was collected"
    new_pod = moved["status"]["virtualMachinePods"][0]["name"]
    assert f"{ns}_web" in kexec(vms, "virsh", "list", pod=new_pod, check=True).stdout
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    req = urllib.request.Request(f"{sim.server}/simulator/v1/nodes/{node}", headers={"Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        domains = [d["name"] for d in json.load(r)["domains"]]
    assert f"{ns}_web" not in domains, domains
