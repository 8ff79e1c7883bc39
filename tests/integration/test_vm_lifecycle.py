"""VM lifecycle on a simulator of its own (a CE cluster of two nodes, real-time clock stepped from outside):
guest power events through the admin API per run policy (BEHAVIOUR.md §4.6), graceful stop within
terminationGracePeriodSeconds and restart phases (§6.3), protection finalizers on mounted images and disks (§1.8,
§2.2, §4.9), the PV node-affinity "topology conflict" (§4.4), VMOP admission by edition (§6.2), the vmop-cleanup
finalizer and the daily VMOP garbage collection (§6.4)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
import yaml

from ..image_sources import FileServer, iso_image
from ..simulator_process import Simulator
from .polling import eventually

G = "virtualization.deckhouse.io/v1alpha2"
TOPOLOGY = {
    "cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16", "edition": "CE"},
    "nodes": [
        {"name": "red-0", "labels": {"group": "red"}, "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
        {"name": "teal-0", "labels": {"group": "teal"}, "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
    ],
    "storageClasses": [
        {"name": "shared", "provisioner": "replicated.csi.example.com", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "volumeMode": "Block",
         "capacity": "1Ti", "default": True},
        {"name": "local", "provisioner": "local.csi.example.com", "accessModes": ["ReadWriteOnce"], "volumeMode": "Block",
         "volumeBindingMode": "WaitForFirstConsumer", "capacity": "1Ti"},
    ],
}  # fmt: skip
MC = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
      "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
                                                           "virtualMachineCIDRs": ["10.66.20.0/24"]}}}  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    topo = tmp / "ce.yaml"
    topo.write_text(yaml.safe_dump(TOPOLOGY))
    s = Simulator.start(tmp / "state", "--topology", str(topo))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def iso(sim, tmp_path_factory):
    root = tmp_path_factory.mktemp("lifecycle-images")
    iso_image(root / "boot.iso")
    server = FileServer(root)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    name = "boot-" + uuid.uuid4().hex[:6]
    create(
        sim, "", {"kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": {"type": "HTTP", "http": {"url": server.url("boot.iso")}}}}
    )
    eventually(lambda: get(sim, "cvi", name), lambda o: phase(o) == "Ready", 60)
    yield {"name": name, "url": server.url("boot.iso")}
    server.stop()


@pytest.fixture
def ns(sim):
    name = "life-" + uuid.uuid4().hex[:8]
    sim.kubectl("create", "namespace", name)
    return name


# -- helpers --------------------------------------------------------------------------------------------------------

def request(sim, method, path, body=None):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sim.token}"}
    req = urllib.request.Request(sim.server + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def advance(sim, seconds):
    code, body = request(sim, "POST", "/simulator/v1/clock/advance", json.dumps({"seconds": seconds}).encode())
    assert code == 200, body


def clock_now(sim):
    code, body = request(sim, "GET", "/simulator/v1/clock")
    assert code == 200
    return datetime.strptime(body["message"].split("reads ")[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def guest(sim, ns, name, action):
    return request(sim, "POST", f"/simulator/v1/vms/{ns}/{name}/guest", json.dumps({"action": action}).encode())


def domains(sim, node):
    code, body = request(sim, "GET", f"/simulator/v1/nodes/{node}")
    assert code == 200
    return {d["name"]: d["state"] for d in body["domains"]}


def get(sim, kind, name, ns=None):
    result = sim.kubectl("get", kind, name, "-o", "json", *(["-n", ns] if ns else []), check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def create(sim, ns, obj, check=True):
    obj = {"apiVersion": G, **obj}
    return sim.kubectl("apply", *(["-n", ns] if ns else []), "-f", "-", input=json.dumps(obj), check=check)


def phase(obj):
    return (obj.get("status") or {}).get("phase")


def condition(obj, type_):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def vm(sim, ns, name, refs, **spec):
    body = {"virtualMachineClassName": "generic", "cpu": {"cores": 1}, "memory": {"size": "1Gi"}, "blockDeviceRefs": refs, **spec}
    return create(sim, ns, {"kind": "VirtualMachine", "metadata": {"name": name}, "spec": body}, check=False)


def cvi_ref(iso):
    return {"kind": "ClusterVirtualImage", "name": iso["name"]}


def vm_phase(sim, ns, name, want, timeout=30.0, step=0.0):
    def read():
        if step:
            advance(sim, step)
        return get(sim, "vm", name, ns)

    return eventually(read, lambda o: phase(o) == want, timeout)


def running(sim, ns, name):
    """Running: the boot (3 simulated seconds) stepped over."""
    return vm_phase(sim, ns, name, "Running", step=2)


def pod_of(obj):
    pods = (obj.get("status") or {}).get("virtualMachinePods") or []
    return pods[0]["name"] if pods else None


def vmop(sim, ns, vm_name, kind, force=None, name=None, check=True, **extra):
    name = name or f"{kind.lower()}-{uuid.uuid4().hex[:6]}"
    spec = {"virtualMachineName": vm_name, "type": kind, **({"force": force} if force is not None else {}), **extra}
    result = create(sim, ns, {"kind": "VirtualMachineOperation", "metadata": {"name": name}, "spec": spec}, check=check)
    return name, result


def transitions(obj):
    return [p["phase"] for p in obj["status"]["stats"]["phasesTransitions"]]


# -- guest power events (§4.6) ------------------------------------------------------------------------------------------
def test_guest_events_follow_the_run_policy(sim, iso, ns):
    for name, policy in (("aousm", "AlwaysOnUnlessStoppedManually"), ("on", "AlwaysOn"), ("manual", "Manual")):
        assert vm(sim, ns, name, [cvi_ref(iso)], runPolicy=policy).returncode == 0
    vm_phase(sim, ns, "manual", "Stopped")
    vmop(sim, ns, "manual", "Start")
    vms = {name: running(sim, ns, name) for name in ("aousm", "on", "manual")}

    # the guest reboots: the same instance keeps running under every policy
    for name, obj in vms.items():
        code, body = guest(sim, ns, name, "reboot")
        assert code == 200 and "rebooted" in body["message"], body
        node = obj["status"]["nodeName"]
        assert domains(sim, node)[f"{ns}_{name}"] == "Running"
        after = get(sim, "vm", name, ns)
        assert phase(after) == "Running" and pod_of(after) == pod_of(obj)

    # the guest crashes: AlwaysOn and AlwaysOnUnlessStoppedManually restart it, Manual stays down
    for name in ("aousm", "on", "manual"):
        code, body = guest(sim, ns, name, "crash")
        assert code == 200 and "crashed" in body["message"], body
    manual = vm_phase(sim, ns, "manual", "Stopped")
    assert pod_of(manual) is None and not manual["status"].get("nodeName")
    for name in ("aousm", "on"):
        restarted = eventually(lambda n=name: get(sim, "vm", n, ns), lambda o, n=name: pod_of(o) not in (None, pod_of(vms[n])))
        vms[name] = running(sim, ns, name)
        assert pod_of(vms[name]) == pod_of(restarted) and domains(sim, vms[name]["status"]["nodeName"])[f"{ns}_{name}"] == "Running"
    events = sim.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=aousm", "-o", "json").stdout
    assert "GuestCrashed" in events and "GuestRebooted" in events

    # the guest shuts down: AlwaysOn restarts it, AlwaysOnUnlessStoppedManually stays Stopped
    for name in ("aousm", "on"):
        assert guest(sim, ns, name, "shutdown")[0] == 200
    aousm = vm_phase(sim, ns, "aousm", "Stopped")
    assert f"{ns}_aousm" not in domains(sim, vms["aousm"]["status"]["nodeName"])
    eventually(lambda: get(sim, "vm", "on", ns), lambda o: pod_of(o) not in (None, pod_of(vms["on"])))
    running(sim, ns, "on")
    advance(sim, 30)
    assert phase(get(sim, "vm", "aousm", ns)) == "Stopped" and pod_of(aousm) is None

    # Manual: started again, then its guest shuts down → Stopped
    vmop(sim, ns, "manual", "Start")
    running(sim, ns, "manual")
    assert guest(sim, ns, "manual", "shutdown")[0] == 200
    vm_phase(sim, ns, "manual", "Stopped")


def test_a_lost_pod_restarts_or_stays_down_per_run_policy(sim, iso, ns):
    assert vm(sim, ns, "aousm", [cvi_ref(iso)]).returncode == 0
    assert vm(sim, ns, "manual", [cvi_ref(iso)], runPolicy="Manual").returncode == 0
    vmop(sim, ns, "manual", "Start")
    before = {name: pod_of(running(sim, ns, name)) for name in ("aousm", "manual")}
    for pod in before.values():
        sim.kubectl("delete", "pod", pod, "-n", ns, "--wait=false")
    vm_phase(sim, ns, "manual", "Stopped")
    eventually(lambda: get(sim, "vm", "aousm", ns), lambda o: pod_of(o) not in (None, before["aousm"]))
    running(sim, ns, "aousm")


def test_guest_endpoint_refuses_bad_requests(sim, iso, ns):
    assert vm(sim, ns, "idle", [cvi_ref(iso)], runPolicy="Manual").returncode == 0
    vm_phase(sim, ns, "idle", "Stopped")
    code, body = guest(sim, ns, "idle", "shutdown")
    assert code == 409 and "has no running guest (phase Stopped)" in body["message"]
    code, body = guest(sim, ns, "nobody", "crash")
    assert code == 404 and body["reason"] == "NotFound"
    code, body = guest(sim, ns, "idle", "explode")
    assert code == 400 and "must be one of shutdown, reboot, crash" in body["message"]
    for raw in (b"{}", b"[1]", b'{"action": 1}', b"{bad", b'{"action": "crash", "x": 1}'):
        code, body = request(sim, "POST", f"/simulator/v1/vms/{ns}/idle/guest", raw)
        assert code == 400 and body["kind"] == "Status", (raw, body)
    code, body = request(sim, "GET", f"/simulator/v1/vms/{ns}/idle/guest")
    assert code == 405


# -- graceful stop and restart (§6.3) -----------------------------------------------------------------------------------
def test_stop_waits_for_the_guest_up_to_the_grace_period_and_restart_passes_through_stopped(sim, iso, ns):
    assert vm(sim, ns, "slow", [cvi_ref(iso)]).returncode == 0  # grace 60 s: the guest's own 20 s shutdown decides
    assert vm(sim, ns, "short", [cvi_ref(iso)], terminationGracePeriodSeconds=8).returncode == 0
    for name in ("slow", "short"):
        running(sim, ns, name)
    slow_stop, _unused = vmop(sim, ns, "slow", "Stop")
    short_stop, _unused = vmop(sim, ns, "short", "Stop")
    for name in ("slow", "short"):
        vm_phase(sim, ns, name, "Stopping", timeout=5)
    advance(sim, 9)  # past the 8 s grace: the short one's domain is destroyed; the slow guest still shuts down
    vm_phase(sim, ns, "short", "Stopped")
    slow = get(sim, "vm", "slow", ns)
    assert phase(slow) == "Stopping" and phase(get(sim, "vmop", slow_stop, ns)) == "InProgress"
    assert domains(sim, slow["status"]["nodeName"])[f"{ns}_slow"] == "Running"
    stopping_pod = slow["status"]["virtualMachinePods"][0]["name"]
    last = json.loads(sim.kubectl("logs", "-n", ns, stopping_pod, "--tail=1").stdout)
    assert (last["msg"], last["name"]) == ("Signaled graceful shutdown.", "slow"), "the virt-launcher's log says it asked the guest"
    advance(sim, 12)  # the guest's 20 s
    vm_phase(sim, ns, "slow", "Stopped")
    eventually(lambda: get(sim, "vmop", slow_stop, ns), lambda o: phase(o) == "Completed")
    assert phase(get(sim, "vmop", short_stop, ns)) == "Completed"

    # Restart: Stopping → Stopped → Starting → Running, a new instance
    vmop(sim, ns, "slow", "Start")
    before = pod_of(running(sim, ns, "slow"))
    restart, _unused = vmop(sim, ns, "slow", "Restart")
    vm_phase(sim, ns, "slow", "Stopping", timeout=5)
    advance(sim, 21)
    after = running(sim, ns, "slow")
    assert transitions(after)[-4:] == ["Stopping", "Stopped", "Starting", "Running"] and pod_of(after) != before
    eventually(lambda: get(sim, "vmop", restart, ns), lambda o: phase(o) == "Completed")

    # force: no graceful shutdown at all
    forced, _unused = vmop(sim, ns, "slow", "Stop", force=True)
    stopped = vm_phase(sim, ns, "slow", "Stopped", timeout=5)
    assert transitions(stopped)[-2:] == ["Running", "Stopped"]


# -- protection finalizers (§1.8, §2.2, §4.9) ----------------------------------------------------------------------------
def finalizers(obj):
    return obj.get("metadata", {}).get("finalizers") or []


def test_mounted_images_and_disks_are_protected_until_released(sim, iso, ns):
    cvi = "prot-" + uuid.uuid4().hex[:6]
    create(sim, "", {"kind": "ClusterVirtualImage", "metadata": {"name": cvi}, "spec": {"dataSource": {"type": "HTTP", "http": {"url": iso["url"]}}}})
    create(
        sim,
        ns,
        {
            "kind": "VirtualImage",
            "metadata": {"name": "vi"},
            "spec": {"storage": "ContainerRegistry", "dataSource": {"type": "HTTP", "http": {"url": iso["url"]}}},
        },
    )
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": "vd"}, "spec": {"persistentVolumeClaim": {"size": "1Gi"}}})
    eventually(lambda: get(sim, "cvi", cvi), lambda o: phase(o) == "Ready", 60)
    eventually(lambda: get(sim, "vi", "vi", ns), lambda o: phase(o) == "Ready", 60)
    eventually(lambda: get(sim, "vd", "vd", ns), lambda o: phase(o) == "Ready", 60)
    refs = [{"kind": "ClusterVirtualImage", "name": cvi}, {"kind": "VirtualDisk", "name": "vd"}, {"kind": "VirtualImage", "name": "vi"}]
    assert vm(sim, ns, "holder", refs).returncode == 0
    running(sim, ns, "holder")
    protections = {("cvi", cvi, None): "cvi-protection", ("vi", "vi", ns): "vi-protection", ("vd", "vd", ns): "vd-protection"}
    for (kind, name, where), fin in protections.items():
        obj = eventually(lambda k=kind, n=name, w=where: get(sim, k, n, w), lambda o, f=fin: f"virtualization.deckhouse.io/{f}" in finalizers(o))
        assert condition(obj, "InUse")["status"] == "True"
    for kind, name, where in protections:
        sim.kubectl("delete", kind, name, *(["-n", where] if where else []), "--wait=false")
    for kind, name, where in protections:
        obj = eventually(lambda k=kind, n=name, w=where: get(sim, k, n, w), lambda o: phase(o) == "Terminating")
        assert condition(obj, "InUse")["status"] == "True" and condition(obj, "InUse")["reason"] == "AttachedToVirtualMachine"
    advance(sim, 30)
    assert all(phase(get(sim, k, n, w)) == "Terminating" for k, n, w in protections)  # held while the VM runs
    vmop(sim, ns, "holder", "Stop")
    advance(sim, 21)
    vm_phase(sim, ns, "holder", "Stopped")
    for kind, name, where in protections:
        eventually(lambda k=kind, n=name, w=where: get(sim, k, n, w), lambda o: o == {})


def test_deleting_the_vm_releases_what_it_mounted(sim, iso, ns):
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": "data"}, "spec": {"persistentVolumeClaim": {"size": "1Gi"}}})
    eventually(lambda: get(sim, "vd", "data", ns), lambda o: phase(o) == "Ready", 60)
    assert vm(sim, ns, "owner", [cvi_ref(iso), {"kind": "VirtualDisk", "name": "data"}]).returncode == 0
    running(sim, ns, "owner")
    eventually(lambda: get(sim, "vd", "data", ns), lambda o: "virtualization.deckhouse.io/vd-protection" in finalizers(o))
    sim.kubectl("delete", "vm", "owner", "-n", ns, "--wait=false")
    eventually(lambda: get(sim, "vm", "owner", ns), lambda o: o == {})
    disk = eventually(lambda: get(sim, "vd", "data", ns), lambda o: "virtualization.deckhouse.io/vd-protection" not in finalizers(o))
    assert condition(disk, "InUse")["status"] == "False" and phase(disk) == "Ready"
    cvi = eventually(lambda: get(sim, "cvi", iso["name"]), lambda o: ns + "/owner" not in (condition(o, "InUse") or {}).get("message", ""))
    assert phase(cvi) == "Ready"


# -- PV node affinity (§4.4) ------------------------------------------------------------------------------------------------
def test_volume_node_affinity_topology_conflict(sim, iso, ns):
    local = {"persistentVolumeClaim": {"size": "1Gi", "storageClassName": "local"}}
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": "pinned"}, "spec": local})
    eventually(lambda: get(sim, "vd", "pinned", ns), lambda o: phase(o) == "WaitForFirstConsumer", 60)
    pinned = {"kind": "VirtualDisk", "name": "pinned"}
    assert vm(sim, ns, "first", [cvi_ref(iso), pinned], nodeSelector={"group": "red"}).returncode == 0
    assert running(sim, ns, "first")["status"]["nodeName"] == "red-0"
    claim = get(sim, "vd", "pinned", ns)["status"]["target"]["persistentVolumeClaimName"]
    pv = get(sim, "pv", get(sim, "pvc", claim, ns)["spec"]["volumeName"])
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["red-0"]
    vmop(sim, ns, "first", "Stop", force=True)
    vm_phase(sim, ns, "first", "Stopped")

    refused = vm(sim, ns, "second", [cvi_ref(iso), pinned], nodeSelector={"group": "teal"})
    assert refused.returncode != 0 and "topology conflict" in refused.stderr and "pinned" in refused.stderr
    assert vm(sim, ns, "third", [cvi_ref(iso)], nodeSelector={"group": "teal"}).returncode == 0
    assert running(sim, ns, "third")["status"]["nodeName"] == "teal-0"
    patch = json.dumps({"spec": {"blockDeviceRefs": [cvi_ref(iso), pinned]}})
    refused = sim.kubectl("patch", "vm", "third", "-n", ns, "--type", "merge", "-p", patch, check=False)
    assert refused.returncode != 0 and "not reachable from the node teal-0" in refused.stderr

    # no selector: the scheduler places it where the volume is
    assert vm(sim, ns, "fourth", [cvi_ref(iso), pinned]).returncode == 0
    assert running(sim, ns, "fourth")["status"]["nodeName"] == "red-0"


# -- VMOP admission by edition (§6.2), finalizer and GC (§6.4) --------------------------------------------------------------
def test_ce_edition_refuses_targeted_migration_and_rwo_disks(sim, iso, ns):
    _unused, refused = vmop(sim, ns, "any", "Migrate", check=False, migrate={"nodeSelector": {"kubernetes.io/hostname": "red-0"}})
    assert refused.returncode != 0 and "not available in the CE edition" in refused.stderr
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": "rwo"}, "spec": {"persistentVolumeClaim": {"size": "1Gi", "storageClassName": "local"}}})
    assert vm(sim, ns, "mover", [cvi_ref(iso), {"kind": "VirtualDisk", "name": "rwo"}]).returncode == 0
    _unused, refused = vmop(sim, ns, "mover", "Evict", check=False)
    assert refused.returncode != 0 and "ReadWriteMany" in refused.stderr and "rwo" in refused.stderr
    name, accepted = vmop(sim, ns, "diskless", "Evict")  # no disks: nothing to refuse
    assert accepted.returncode == 0 and get(sim, "vmop", name, ns)


def test_vmop_cleanup_finalizer(sim, iso, ns):
    assert vm(sim, ns, "target", [cvi_ref(iso)]).returncode == 0
    running(sim, ns, "target")
    stop, _unused = vmop(sim, ns, "target", "Stop")
    op = eventually(lambda: get(sim, "vmop", stop, ns), lambda o: phase(o) == "InProgress")
    assert "virtualization.deckhouse.io/vmop-cleanup" in finalizers(op)
    sim.kubectl("delete", "vmop", stop, "-n", ns, "--wait=false")
    eventually(lambda: get(sim, "vmop", stop, ns), lambda o: o == {})
    advance(sim, 21)
    vm_phase(sim, ns, "target", "Stopped")  # what was sent is not reverted
    failed, _unused = vmop(sim, ns, "ghost", "Start")
    op = eventually(lambda: get(sim, "vmop", failed, ns), lambda o: phase(o) == "Failed")
    assert "virtualization.deckhouse.io/vmop-cleanup" not in finalizers(op)


def test_daily_gc_keeps_ten_newest_per_vm_and_nothing_older_than_a_day(sim, ns):
    for i in range(12):
        vmop(sim, ns, "g1", "Start", name=f"gc-{i:02d}")
    for i in range(2):
        vmop(sim, ns, "g2", "Start", name=f"other-{i}")

    def names():
        items = json.loads(sim.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"]
        return {o["metadata"]["name"]: phase(o) for o in items}

    eventually(names, lambda n: len(n) == 14 and set(n.values()) == {"Failed"})
    now = clock_now(sim)
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6)
    if to_midnight > 60:
        advance(sim, to_midnight - 30)
        assert len(names()) == 14  # no sweep before 00:00
    advance(sim, 31 if to_midnight > 60 else to_midnight + 1)
    kept = eventually(names, lambda n: len(n) == 12)
    assert sorted(kept) == [f"gc-{i:02d}" for i in range(2, 12)] + ["other-0", "other-1"]
    advance(sim, 86400)
    eventually(names, lambda n: n == {})
