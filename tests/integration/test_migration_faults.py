"""Node faults in the middle of a live migration (BEHAVIOUR.md §4.6, §6.5, §7.1, §7.6, §7.7), against the simulator
as a subprocess, the clock stepped with `dvp-sim clock advance` (time scale 0.05: nothing happens between steps that
a step does not cause). A 32 GiB VM takes 51 simulated seconds to copy, so every fault lands while its memory is on
the move (operation reason Syncing). The invariant of tests/invariants.py is sampled continuously throughout.

(a) The source loses its power (fencing on): the migration fails at once (the target's broken connection), the
    operation ends Failed naming the source; the VM stays bound to the dead source until fencing (60 s) deletes its
    pods, then AlwaysOn restarts it cold, exactly once, on a suitable node.
(b) The target loses its power or its network: the migration is aborted, the VM keeps running on the source, the
    target pod is deleted (the target never had a domain: the simulator moves the domain in one step at the switch);
    nothing runs on the target after it recovers.
(c) The simulator killed with kill -9 mid-migration and restarted on its state dir: the VM runs on its source node,
    once; the operation ends Failed with the restart as its reason, the VM's migrationState Failed, the orphaned
    target pod gone, nothing lost — and the VM migrates again."""

from __future__ import annotations

import json
import signal
import ssl
import urllib.request
import uuid

import pytest
import yaml

from ..image_sources import FileServer, iso_image
from ..invariants import InvariantSampler, check_invariant, nodes_view
from ..simulator_process import Simulator
from .test_fencing import MC, G, advance, dvp_sim, eventually, fail, get, ready

WORKERS = ["worker-a", "worker-b", "worker-c"]
NODES = ["master", *WORKERS]
MEMORY = "32Gi"  # 32 GiB at 640 MiB/s: 51.2 simulated seconds of transfer
SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"


def topology() -> dict:
    worker = {"cpu": {"model": "Nehalem", "cores": 16}, "memory": "80Gi", "fencing": {"enabled": True, "mode": "Watchdog"}}
    master = {"name": "master", "cpu": {"model": "Nehalem", "cores": 4}, "memory": "8Gi",
              "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}  # fmt: skip
    return {"nodes": [master, *({"name": n, **worker} for n in WORKERS)]}


def start(tmp) -> Simulator:
    return Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=0.05)


def prepare(tmp):
    (tmp / "topology.yaml").write_text(yaml.safe_dump(topology()))
    sim = start(tmp)
    root = tmp / "images"
    root.mkdir()
    iso_image(root / "boot.iso")
    server = FileServer(root)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    cvi = {"apiVersion": G, "kind": "ClusterVirtualImage", "metadata": {"name": "boot"},
           "spec": {"dataSource": {"type": "HTTP", "http": {"url": server.url("boot.iso")}}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(cvi))
    eventually(lambda: get(sim, "cvi", "boot"), lambda o: (o.get("status") or {}).get("phase") == "Ready", 60)
    return sim, server


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    sim, server = prepare(tmp_path_factory.mktemp("migfaults"))
    yield sim
    server.stop()
    assert sim.stop() == 0


# -- helpers --------------------------------------------------------------------------------------------------------
def namespace(sim) -> str:
    name = "mf-" + uuid.uuid4().hex[:6]
    sim.kubectl("create", "namespace", name)
    return name


def vm_status(sim, ns, name):
    return get(sim, "vm", name, ns).get("status") or {}


def completed(op):
    return next((c for c in (op.get("status") or {}).get("conditions") or [] if c["type"] == "Completed"), {})


def pods_of(sim, ns, vm):
    out = sim.kubectl("get", "pods", "-n", ns, "-l", f"{SELECTOR}={vm}", "-o", "json").stdout
    return {p["metadata"]["name"]: p["spec"]["nodeName"] for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")}


def libvirt_states(sim, node):
    """{domain: libvirt state} on the node's own connection."""
    req = urllib.request.Request(f"{sim.server}/simulator/v1/nodes/{node}", headers={"Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
        return {d["name"]: d["state"] for d in json.load(r)["domains"]}


def where(sim, domain):
    return sorted(n for n, seen in nodes_view(sim, NODES).items() if domain in seen["domains"])


def step_until(sim, read, check, seconds=1.0, timeout=60.0):
    """Step the clock `seconds` at a time until check(read())."""
    def stepped():
        value = read()
        if not check(value):
            advance(sim, seconds)
        return value

    return eventually(stepped, check, timeout)


def place_on_worker_a(sim, ns, name, policy="AlwaysOn"):
    """The VM started on worker-a (the other workers cordoned while it starts; master is tainted)."""
    sim.kubectl("cordon", "worker-b", "worker-c")
    try:
        spec = {"virtualMachineClassName": "generic", "runPolicy": policy, "cpu": {"cores": 1}, "memory": {"size": MEMORY},
                "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "boot"}]}  # fmt: skip
        sim.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": G, "kind": "VirtualMachine", "metadata": {"name": name}, "spec": spec}))
        step_until(sim, lambda: vm_status(sim, ns, name), lambda s: s.get("phase") == "Running" and s.get("nodeName") == "worker-a", seconds=2)
    finally:
        sim.kubectl("uncordon", "worker-b", "worker-c")


def evict_until_syncing(sim, ns, vm):
    """An Evict operation, the clock stepped until the memory is on the move; returns (operation name, migrationState)."""
    name = f"evict-{vm}"
    op = {"apiVersion": G, "kind": "VirtualMachineOperation", "metadata": {"name": name}, "spec": {"virtualMachineName": vm, "type": "Evict"}}
    sim.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(op))
    step_until(sim, lambda: get(sim, "vmop", name, ns), lambda o: completed(o).get("reason") == "Syncing")
    advance(sim, 10)  # 10 of the 51 s: well inside the transfer
    op = get(sim, "vmop", name, ns)
    assert completed(op)["reason"] == "Syncing" and op["status"]["phase"] == "InProgress", op["status"]
    status = vm_status(sim, ns, vm)
    assert status["phase"] == "Migrating" and status["migrationState"]["source"]["node"] == "worker-a" and not status["migrationState"]["result"]
    return name, status["migrationState"]


def recover(sim, node):
    assert "recovered" in dvp_sim(sim, "node", "recover", node).stdout
    eventually(lambda: get(sim, "node", node), lambda o: ready(o) == "True" and not (o.get("spec") or {}).get("taints"))


def starts_since(status, stamp):
    return [t for t in (status.get("stats") or {}).get("phasesTransitions") or [] if t["phase"] == "Starting" and t["timestamp"] >= stamp]


# -- (a) the source loses its power ----------------------------------------------------------------------------------
def test_source_power_loss_fails_the_migration_and_fencing_restarts_the_vm_once(faults):
    sim, ns = faults, namespace(faults)
    place_on_worker_a(sim, ns, "src")
    domain = f"{ns}_src"
    with InvariantSampler(sim, NODES) as sampler:
        op_name, state = evict_until_syncing(sim, ns, "src")
        target, target_pod = state["target"]["node"], state["target"]["pod"]
        source_pod = state["source"]["pod"]
        fault_at = state["startTimestamp"]  # the migration began before the fault: every start since counts
        fail(sim, "worker-a", "power")

        # the target notices at once: no clock step needed
        op = eventually(lambda: get(sim, "vmop", op_name, ns), lambda o: o["status"]["phase"] == "Failed")
        reason = completed(op)
        assert (reason["status"], reason["reason"]) == ("False", "Failed"), reason
        assert "source node worker-a stopped responding" in reason["message"], reason["message"]
        eventually(lambda: pods_of(sim, ns, "src"), lambda p: p == {source_pod: "worker-a"})  # the target pod is gone
        status = vm_status(sim, ns, "src")
        assert (status["phase"], status["nodeName"]) == ("Running", "worker-a"), "bound to the dead source, as the platform shows it"
        assert status["migrationState"]["result"] == "Failed" and status["migrationState"]["endTimestamp"]
        assert where(sim, domain) == [] and libvirt_states(sim, target) == {}, "nothing runs: the source is off, the target never had the domain"
        assert target_pod not in pods_of(sim, ns, "src")

        advance(sim, 41)  # NotReady, not fenced yet: still bound, still not running anywhere
        eventually(lambda: get(sim, "node", "worker-a"), lambda o: ready(o) == "Unknown")
        assert vm_status(sim, ns, "src")["nodeName"] == "worker-a" and where(sim, domain) == []
        advance(sim, 20)  # past 60 s: fenced; its pods force-deleted; AlwaysOn restarts the VM elsewhere, cold
        eventually(lambda: sim.kubectl("get", "node", "worker-a", check=False).returncode, lambda rc: rc != 0)
        status = step_until(sim, lambda: vm_status(sim, ns, "src"), lambda s: s.get("phase") == "Running" and s.get("nodeName") in ("worker-b", "worker-c"))
        pods = pods_of(sim, ns, "src")
        assert len(pods) == 1 and source_pod not in pods and target_pod not in pods, "a cold restart: one new pod"
        assert list(pods.values()) == [status["nodeName"]] and where(sim, domain) == [status["nodeName"]]
        restarted_on, pod = status["nodeName"], next(iter(pods))
        advance(sim, 120)  # later: nothing moves, nothing restarts again
        status = vm_status(sim, ns, "src")
        assert (status["phase"], status["nodeName"]) == ("Running", restarted_on) and list(pods_of(sim, ns, "src")) == [pod]
        assert len(starts_since(status, fault_at)) == 1, f"restarted exactly once: {status['stats']['phasesTransitions']}"
        assert get(sim, "vmop", op_name, ns)["status"]["phase"] == "Failed", "the operation stays Failed"
        assert sampler.samples > 0
        recover(sim, "worker-a")
    seen, _unused = check_invariant(sim, NODES)
    assert domain not in seen["worker-a"]["domains"] and vm_status(sim, ns, "src")["nodeName"] == restarted_on


# -- (b) the target fails --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["power", "network"])
def test_target_failure_aborts_the_migration_and_the_vm_keeps_running_on_the_source(faults, mode):
    sim, ns = faults, namespace(faults)
    place_on_worker_a(sim, ns, "tgt")
    domain = f"{ns}_tgt"
    with InvariantSampler(sim, NODES):
        op_name, state = evict_until_syncing(sim, ns, "tgt")
        target, target_pod, source_pod = state["target"]["node"], state["target"]["pod"], state["source"]["pod"]
        assert pods_of(sim, ns, "tgt") == {source_pod: "worker-a", target_pod: target}
        fail(sim, target, mode)

        op = eventually(lambda: get(sim, "vmop", op_name, ns), lambda o: o["status"]["phase"] == "Failed")
        reason = completed(op)
        assert (reason["status"], reason["reason"]) == ("False", "Aborted"), reason
        assert f"target node {target} stopped responding" in reason["message"] and "keeps running on worker-a" in reason["message"], reason["message"]
        eventually(lambda: pods_of(sim, ns, "tgt"), lambda p: p == {source_pod: "worker-a"})  # the half-made target pod is cleaned up
        status = vm_status(sim, ns, "tgt")
        assert (status["phase"], status["nodeName"], status["migrationState"]["result"]) == ("Running", "worker-a", "Failed")
        assert status["virtualMachinePods"] == [{"name": source_pod, "active": True}]
        assert libvirt_states(sim, "worker-a")[domain] == "Running", "the guest keeps running (not left paused)"
        assert where(sim, domain) == ["worker-a"]
        if mode == "network":
            assert domain not in libvirt_states(sim, target), "the cut-off target holds no half-made domain"

        for _unused in range(4):  # past fencing of the target: the VM is not touched
            advance(sim, 20)
        status = vm_status(sim, ns, "tgt")
        assert (status["phase"], status["nodeName"]) == ("Running", "worker-a") and pods_of(sim, ns, "tgt") == {source_pod: "worker-a"}
        recover(sim, target)
        assert where(sim, domain) == ["worker-a"] and domain not in libvirt_states(sim, target)
        assert vm_status(sim, ns, "tgt")["nodeName"] == "worker-a"
    assert get(sim, "vmop", op_name, ns)["status"]["phase"] == "Failed"


# -- (c) kill -9 mid-migration -----------------------------------------------------------------------------------------
def test_kill_9_mid_migration_the_vm_runs_once_and_the_operation_fails_truthfully(tmp_path):
    sim, server = prepare(tmp_path)
    try:
        ns = namespace(sim)
        place_on_worker_a(sim, ns, "k9")
        with InvariantSampler(sim, NODES):
            op_name, state = evict_until_syncing(sim, ns, "k9")
        target_pod, source_pod = state["target"]["pod"], state["source"]["pod"]
        objects = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in json.loads(
            sim.kubectl("get", "vm,vmop,vmip,cvi,vmclass,ns", "-A", "-o", "json").stdout)["items"]}  # fmt: skip
        sim.process.send_signal(signal.SIGKILL)
        sim.process.wait()

        sim = start(tmp_path)
        with InvariantSampler(sim, NODES):
            op = eventually(lambda: get(sim, "vmop", op_name, ns), lambda o: o["status"]["phase"] in ("Completed", "Failed"))
            reason = completed(op)
            assert op["status"]["phase"] == "Failed" and reason["reason"] == "Failed", reason
            assert "the simulator restarted while it was in progress" in reason["message"] and "stays on worker-a" in reason["message"], reason
            status = eventually(lambda: vm_status(sim, ns, "k9"), lambda s: s.get("phase") == "Running" and s.get("migrationState", {}).get("result"))
            assert status["nodeName"] == "worker-a" and status["migrationState"]["result"] == "Failed" and status["migrationState"]["endTimestamp"]
            eventually(lambda: pods_of(sim, ns, "k9"), lambda p: p == {source_pod: "worker-a"})  # the orphaned target pod is deleted
            assert target_pod not in pods_of(sim, ns, "k9")
            assert where(sim, f"{ns}_k9") == ["worker-a"], "back on its node, once"
            after = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in json.loads(
                sim.kubectl("get", "vm,vmop,vmip,cvi,vmclass,ns", "-A", "-o", "json").stdout)["items"]}  # fmt: skip
            assert objects <= after, f"lost by kill -9: {sorted(objects - after)}"
            events = sim.kubectl("get", "events", "-n", ns, "--field-selector", "reason=MigrationFailed", "-o", "json").stdout
            assert any("the simulator restarted" in e["message"] for e in json.loads(events)["items"])

            # nothing is stuck: the VM migrates again
            again = {"apiVersion": G, "kind": "VirtualMachineOperation", "metadata": {"name": "evict-again"},
                     "spec": {"virtualMachineName": "k9", "type": "Evict"}}  # fmt: skip
            sim.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(again))
            step_until(sim, lambda: get(sim, "vmop", "evict-again", ns), lambda o: (o.get("status") or {}).get("phase") == "Completed", seconds=5)
            status = vm_status(sim, ns, "k9")
            assert status["phase"] == "Running" and status["nodeName"] in ("worker-b", "worker-c") and status["migrationState"]["result"] == "Succeeded"
            assert where(sim, f"{ns}_k9") == [status["nodeName"]]
    finally:
        server.stop()
        assert sim.stop() == 0
