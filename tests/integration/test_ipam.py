"""IPAM against a simulator subprocess (BEHAVIOUR.md §5): VirtualMachineIPAddress Auto/Static through kubectl and
the kubernetes client, leases `ip-a-b-c-d` with the VMIP-UID label, the first free address never a CIDR's first or
last, Released leases kept 10 simulated minutes (the clock is stepped) and re-takable only by a Static VMIP of the
same namespace, and the VMIP webhook's denials."""

import json
import subprocess
import time
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ..simulator_process import BIN, Simulator
from .conftest import TOPOLOGIES

G, V = "virtualization.deckhouse.io", "v1alpha2"
UID_LABEL = "virtualization.deckhouse.io/virtual-machine-ip-address-uid"
MC = """apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata: {name: virtualization}
spec:
  enabled: true
  version: 1
  settings:
    dvcr: {storage: {type: PersistentVolumeClaim, persistentVolumeClaim: {size: 50G}}}
    virtualMachineCIDRs: [10.66.10.0/30, 10.66.20.0/24]
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("ipam"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def crd(sim):
    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))


def new_namespace(sim):
    name = "ip-" + uuid.uuid4().hex[:6]
    sim.kubectl("create", "namespace", name)
    return name


def vmip(crd, ns, name, type_="Auto", static=None):
    spec = {"type": type_, **({"staticIP": static} if static else {})}
    return crd.create_namespaced_custom_object(
        G, V, ns, "virtualmachineipaddresses", {"apiVersion": f"{G}/{V}", "kind": "VirtualMachineIPAddress", "metadata": {"name": name}, "spec": spec}
    )


def wait_vmip(crd, ns, name, pred, timeout=10):
    end = time.time() + timeout
    while True:
        obj = crd.get_namespaced_custom_object(G, V, ns, "virtualmachineipaddresses", name)
        if pred(obj.get("status") or {}):
            return obj
        if time.time() > end:
            raise AssertionError(f"VMIP {ns}/{name} never reached the state: {obj.get('status')}")
        time.sleep(0.05)


def lease(crd, name):
    try:
        return crd.get_cluster_custom_object(G, V, "virtualmachineipaddressleases", name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def wait_lease(crd, name, pred, timeout=10):
    end = time.time() + timeout
    while True:
        obj = lease(crd, name)
        if pred(obj):
            return obj
        if time.time() > end:
            raise AssertionError(f"lease {name} never reached the state: {obj}")
        time.sleep(0.05)


def bound(s):
    return s.get("phase") == "Bound"


def condition(obj, type_):
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def denied(fn):
    with pytest.raises(ApiException) as info:
        fn()
    assert info.value.status == 403
    return json.loads(info.value.body)["message"]


def advance(sim, seconds):
    out = subprocess.run(
        [str(BIN / "dvp-sim"), "clock", "advance", str(seconds), "--kubeconfig", str(sim.kubeconfig)], capture_output=True, check=False, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr


def test_ipam_end_to_end(sim, crd):
    ns, other = new_namespace(sim), new_namespace(sim)
    message = denied(lambda: vmip(crd, ns, "early"))
    assert "virtualMachineCIDRs is not configured" in message

    sim.kubectl("apply", "-f", "-", input=MC)
    # Auto: first free address in CIDR order, never the first or last of a CIDR (a /30 offers .1 and .2)
    got = {}
    for name in ("a", "b", "c"):
        vmip(crd, ns, name)
        got[name] = wait_vmip(crd, ns, name, bound)
    assert [got[n]["status"]["address"] for n in "abc"] == ["10.66.10.1", "10.66.10.2", "10.66.20.1"]
    assert condition(got["a"], "Bound")["status"] == "True" and condition(got["a"], "Attached")["reason"] == "VirtualMachineNotFound"
    la = wait_lease(crd, "ip-10-66-10-1", lambda o: o and (o.get("status") or {}).get("phase") == "Bound")
    assert la["metadata"]["labels"][UID_LABEL] == got["a"]["metadata"]["uid"]
    assert la["spec"]["virtualMachineIPAddressRef"] == {"namespace": ns, "name": "a"}
    assert "virtualization.deckhouse.io/vmipl-cleanup" in la["metadata"]["finalizers"]
    table = sim.kubectl("get", "vmip", "-n", ns).stdout
    assert "10.66.10.1" in table and "Bound" in table
    assert "ip-10-66-20-1" in sim.kubectl("get", "vmipl").stdout

    # webhook denials
    assert "out of the valid range" in denied(lambda: vmip(crd, ns, "first", "Static", "10.66.20.0"))
    assert "out of the valid range" in denied(lambda: vmip(crd, ns, "last", "Static", "10.66.20.255"))
    assert "out of the valid range" in denied(lambda: vmip(crd, ns, "outside", "Static", "10.99.0.5"))
    assert f"already leased by VirtualMachineIPAddress {ns}/a" in denied(lambda: vmip(crd, ns, "dup", "Static", "10.66.10.1"))
    assert "must not be set with type Auto" in denied(lambda: vmip(crd, ns, "auto-static", "Auto", "10.66.20.9"))
    assert "required with type Static" in denied(lambda: vmip(crd, ns, "static-none", "Static"))
    assert "not an IP address" in denied(lambda: vmip(crd, ns, "static-bad", "Static", "10.66.20.x"))
    out = sim.kubectl("patch", "vmip", "c", "-n", ns, "--type=merge", "-p", '{"spec":{"type":"Static","staticIP":"10.66.20.7"}}', check=False)
    assert out.returncode != 0 and "only Auto → Static with spec.staticIP equal to the bound address 10.66.20.1" in out.stderr
    sim.kubectl("patch", "vmip", "c", "-n", ns, "--type=merge", "-p", '{"spec":{"type":"Static","staticIP":"10.66.20.1"}}')
    out = sim.kubectl("patch", "vmip", "c", "-n", ns, "--type=merge", "-p", '{"spec":{"staticIP":"10.66.20.8"}}', check=False)
    assert out.returncode != 0 and "immutable once Bound" in out.stderr

    # release: the lease stays Released (namespace kept) and still blocks Auto
    crd.delete_namespaced_custom_object(G, V, ns, "virtualmachineipaddresses", "a")
    released = wait_lease(crd, "ip-10-66-10-1", lambda o: o and (o.get("status") or {}).get("phase") == "Released")
    assert released["spec"]["virtualMachineIPAddressRef"] == {"namespace": ns, "name": ""}
    assert UID_LABEL not in (released["metadata"].get("labels") or {})
    vmip(crd, ns, "d")
    assert wait_vmip(crd, ns, "d", bound)["status"]["address"] == "10.66.20.2", "a Released lease still takes its address out of the Auto walk"

    # re-take: a Static VMIP of another namespace cannot; one of the same namespace can
    vmip(crd, other, "thief", "Static", "10.66.10.1")
    thief = wait_vmip(
        crd, other, "thief", lambda s: any(c["type"] == "Bound" and c["reason"] == "VirtualMachineIPAddressLeaseNotReady" for c in s.get("conditions") or [])
    )
    assert thief["status"]["phase"] == "Pending" and "different namespace" in condition(thief, "Bound")["message"]
    vmip(crd, ns, "again", "Static", "10.66.10.1")
    again = wait_vmip(crd, ns, "again", bound)
    assert again["status"]["address"] == "10.66.10.1"
    retaken = wait_lease(crd, "ip-10-66-10-1", lambda o: (o.get("status") or {}).get("phase") == "Bound")
    assert retaken["spec"]["virtualMachineIPAddressRef"] == {"namespace": ns, "name": "again"}
    assert retaken["metadata"]["labels"][UID_LABEL] == again["metadata"]["uid"]

    # retention: a Released lease goes 10 simulated minutes after the release, not before
    crd.delete_namespaced_custom_object(G, V, ns, "virtualmachineipaddresses", "b")
    wait_lease(crd, "ip-10-66-10-2", lambda o: o and (o.get("status") or {}).get("phase") == "Released")
    advance(sim, 590)
    time.sleep(0.3)
    assert lease(crd, "ip-10-66-10-2") is not None, "kept for 10 minutes"
    advance(sim, 15)
    wait_lease(crd, "ip-10-66-10-2", lambda o: o is None)
    vmip(crd, ns, "e")
    assert wait_vmip(crd, ns, "e", bound)["status"]["address"] == "10.66.10.2", "the freed address is the first free one again"

    # a CIDR with leased addresses cannot be removed (the ModuleConfig webhook reads IPAM's lease index)
    out = sim.kubectl("apply", "-f", "-", input=MC.replace("[10.66.10.0/30, 10.66.20.0/24]", "[10.66.10.0/30]"), check=False)
    assert out.returncode != 0
    held = f"ip-10-66-20-1 (Bound, {ns}/c), ip-10-66-20-2 (Bound, {ns}/d)"
    assert f"virtualMachineCIDRs: 10.66.20.0/24 cannot be removed: addresses in it are leased ({held})" in out.stderr
    out = sim.kubectl("apply", "-f", "-", input=MC.replace("[10.66.10.0/30, 10.66.20.0/24]", "[10.66.20.0/24]"), check=False)
    assert "10.66.10.0/30 cannot be removed: addresses in it are leased (ip-10-66-10-1 (Bound" in out.stderr


def test_a_lease_needs_a_lease_name(sim, crd):
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "VirtualMachineIPAddressLease",
        "metadata": {"name": "not-an-ip"},
        "spec": {"virtualMachineIPAddressRef": {"namespace": "x", "name": "y"}},
    }
    assert "is not a lease name" in denied(lambda: crd.create_cluster_custom_object(G, V, "virtualmachineipaddressleases", body))
