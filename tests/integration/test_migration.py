"""Live migration against the simulator as a subprocess (BEHAVIOUR.md §6.5, §7.2–7.4): Evict and Migrate operations
move a running VM to another node — watched with `kubectl get vm -w` — with migrationState, progress and the libvirt
domain on one node's connection at a time; cancellation by deleting the operation; the force × liveMigrationPolicy
matrix; a ReadWriteOnce disk that moves with its VM (EE); one inbound and one outbound migration per node; CPU
compatibility per class type on a mixed Intel/AMD cluster, decided with libvirt's CPU map."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from ..image_sources import FileServer, iso_image
from ..simulator_process import BIN, Simulator
from . import test_vms
from .conftest import TOPOLOGIES
from .test_vms import apply, condition, domains, get, phase, running, vm_body, vmop, wait

env, images = test_vms.env, test_vms.images  # the fixtures of test_vms.py


@pytest.fixture
def ns(cluster):
    """A namespace whose VMs are deleted afterwards (the session's cluster has memory for a few large VMs only)."""
    name = "mig-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "vm", "--all", "-n", name, "--wait=false", check=False)


G = "virtualization.deckhouse.io/v1alpha2"
TARGET_ANNOTATION = "vm.dvp-sim.deckhouse.io/migration-target"


def op_done(cluster, ns, name, timeout=60.0):
    return wait(lambda: get(cluster, "vmop", name, ns), lambda o: phase(o) in ("Completed", "Failed", "Superseded"), timeout)


def pods_of(cluster, ns, vm):
    out = cluster.kubectl("get", "pods", "-n", ns, "-l", f"vm.kubevirt.internal.virtualization.deckhouse.io/name={vm}", "-o", "json").stdout
    return json.loads(out)["items"]


def advance(cluster, seconds):
    """`dvp-sim clock advance`, as an operator steps the clock."""
    env_ = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    subprocess.run([str(BIN / "dvp-sim"), "clock", "advance", str(seconds), "--kubeconfig", str(cluster.kubeconfig)], check=True, env=env_, capture_output=True)


class Watch:
    """`kubectl get vm <name> -w` printing PHASE and NODE, read in the background."""

    def __init__(self, cluster, ns, name):
        env_ = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        self.proc = subprocess.Popen(
            [str(BIN / "kubectl"), "get", "vm", name, "-n", ns, "-w", "-o", "custom-columns=PHASE:.status.phase,NODE:.status.nodeName", "--no-headers"],
            stdout=subprocess.PIPE,
            text=True,
            env=env_,
        )
        self.rows: list[tuple[str, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                self.rows.append((parts[0], parts[1]))

    def stop(self):
        time.sleep(0.5)
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(5)
        return [r for i, r in enumerate(self.rows) if i == 0 or r != self.rows[i - 1]]


def sample_domains(cluster, domain, source, target, stop):
    """Each sample reads the target node first, then the source: a domain seen on both would have been on the target
    before it was (still) on the source — never allowed."""
    samples = []
    while not stop.is_set():
        on_target = domain in domains(cluster, target)
        on_source = domain in domains(cluster, source)
        samples.append((on_source, on_target))
    return samples


def test_evict_moves_a_running_vm_watched_and_its_domain_is_on_one_node_at_a_time(cluster, env, ns):
    apply(cluster, ns, vm_body("linux-vm", env["iso"], memory="32Gi"))  # 32 GiB at 640 MiB/s: 51 simulated seconds
    vm = running(cluster, ns, "linux-vm")
    source, first_pod = vm["status"]["nodeName"], vm["status"]["virtualMachinePods"][0]["name"]
    assert condition(vm, "Migratable")["status"] == "True"
    watch = Watch(cluster, ns, "linux-vm")
    time.sleep(1.0)
    name, _unused = vmop(cluster, ns, "linux-vm", "Evict")
    op = wait(lambda: get(cluster, "vmop", name, ns), lambda o: condition(o, "Completed") and condition(o, "Completed")["reason"] == "Syncing")
    assert phase(op) == "InProgress" and 10 <= int(op["status"]["progress"].rstrip("%")) <= 90
    assert "virtualization.deckhouse.io/vmop-cleanup" in op["metadata"]["finalizers"] and condition(op, "SignalSent")["status"] == "True"
    vm = get(cluster, "vm", "linux-vm", ns)
    assert phase(vm) == "Migrating" and condition(vm, "Migrating")["status"] == "True" and condition(vm, "Migrating")["reason"] == "InProgress"
    target = vm["status"]["migrationState"]["target"]["node"]
    assert target != source and vm["status"]["migrationState"]["source"] == {"node": source, "pod": first_pod}
    pods = pods_of(cluster, ns, "linux-vm")
    assert len(pods) == 2 and {p["spec"]["nodeName"] for p in pods} == {source, target}
    # both pods hold the VM's address, as DVP's IPAM asks the CNI to give them (cni.cilium.io/ipAddress)
    address = vm["status"]["ipAddress"]
    assert address and [(p["metadata"]["annotations"]["cni.cilium.io/ipAddress"], p["status"]["podIP"]) for p in pods] == [(address, address)] * 2
    stop = threading.Event()
    result: list = []
    sampler = threading.Thread(target=lambda: result.extend(sample_domains(cluster, f"{ns}_linux-vm", source, target, stop)))
    sampler.start()
    done = op_done(cluster, ns, name)
    stop.set()
    sampler.join()
    rows = watch.stop()

    assert phase(done) == "Completed" and done["status"]["progress"] == "100%" and condition(done, "Completed")["reason"] == "Completed"
    vm = running(cluster, ns, "linux-vm")
    state = vm["status"]["migrationState"]
    assert vm["status"]["nodeName"] == target and state["result"] == "Succeeded" and state["startTimestamp"] <= state["endTimestamp"]
    assert state["target"]["pod"] == vm["status"]["virtualMachinePods"][0]["name"] != first_pod
    assert condition(vm, "Migrating") is None
    # the watch: Running on the source → Migrating → Running on the target
    assert ("Running", source) in rows and ("Migrating", source) in rows and rows[-1] == ("Running", target)
    assert rows.index(("Running", source)) < rows.index(("Migrating", source)) < rows.index(("Running", target))
    # the domain: never on both nodes; seen on the source and then on the target alone
    assert result and not any(s and t for s, t in result)
    assert result[0] == (True, False)  # sampling began while the memory was moving
    assert domains(cluster, target)[f"{ns}_linux-vm"] == "Running" and f"{ns}_linux-vm" not in domains(cluster, source)
    # the old pod completed and is gone; the new one is the VM's
    assert get(cluster, "pod", first_pod, ns) == {}
    assert [p["spec"]["nodeName"] for p in pods_of(cluster, ns, "linux-vm")] == [target]
    # the new virt-launcher's log begins with the domain it received
    logged = [json.loads(line) for line in cluster.kubectl("logs", "-n", ns, state["target"]["pod"]).stdout.splitlines()]
    assert [(e["msg"], e.get("sourceNode"), e.get("node")) for e in logged] == [("Domain started (incoming live migration).", source, target)]


def test_deleting_the_operation_while_in_progress_cancels_and_the_vm_stays(cluster, env, ns):
    apply(cluster, ns, vm_body("stay", env["iso"], memory="24Gi"))
    vm = running(cluster, ns, "stay")
    source = vm["status"]["nodeName"]
    name, _unused = vmop(cluster, ns, "stay", "Evict")
    wait(lambda: get(cluster, "vmop", name, ns), lambda o: condition(o, "Completed") and condition(o, "Completed")["reason"] == "Syncing")
    cluster.kubectl("delete", "vmop", name, "-n", ns)  # waits until the finalizer is released
    assert get(cluster, "vmop", name, ns) == {}
    vm = running(cluster, ns, "stay")
    assert vm["status"]["nodeName"] == source and vm["status"]["migrationState"]["result"] == "Failed"
    assert condition(vm, "Migrating") is None
    pods = wait(lambda: pods_of(cluster, ns, "stay"), lambda p: len(p) == 1)
    assert pods[0]["spec"]["nodeName"] == source and TARGET_ANNOTATION not in (pods[0]["metadata"].get("annotations") or {})
    assert domains(cluster, source)[f"{ns}_stay"] == "Running"
    logged = [json.loads(line)["msg"] for line in cluster.kubectl("logs", "-n", ns, pods[0]["metadata"]["name"]).stdout.splitlines()]
    assert logged[:2] == ["Domain defined.", "Domain started."] and logged[2] == "Initiating live migration."
    assert logged[3].startswith("Live migration failed: "), logged


def test_deleting_the_operation_while_pending_cancels_it_before_anything_moves(cluster, env, ns):
    """The admin guide: an operation may be deleted while `Pending` or `InProgress`. Two migrations into one node:
    the second waits for the node's inbound slot (Pending); deleted then, its VM never moves."""
    for name in ("wait-a", "wait-b"):
        apply(cluster, ns, vm_body(name, env["iso"], memory="16Gi"))
    sources = {name: running(cluster, ns, name)["status"]["nodeName"] for name in ("wait-a", "wait-b")}
    goal = next(n for n in ("green-1", "green-0", "blue-1", "blue-0") if n not in sources.values())
    ops = {name: vmop(cluster, ns, name, "Migrate", migrate={"nodeSelector": {"kubernetes.io/hostname": goal}})[0] for name in ("wait-a", "wait-b")}

    def states():
        return {name: ((condition(o, "Completed") or {}).get("reason"), phase(o)) for name, o in ((n, get(cluster, "vmop", op, ns)) for n, op in ops.items())}

    seen = wait(states, lambda s: sorted(s.values()) == [("Syncing", "InProgress"), ("WaitingForSyncSlot", "Pending")], 60, 0.05)
    waiting = next(name for name, state in seen.items() if state[1] == "Pending")
    moving = next(name for name in ops if name != waiting)
    cluster.kubectl("delete", "vmop", ops[waiting], "-n", ns)  # returns once the operation is gone
    assert get(cluster, "vmop", ops[waiting], ns) == {}
    assert phase(op_done(cluster, ns, ops[moving])) == "Completed"
    assert running(cluster, ns, moving)["status"]["nodeName"] == goal
    time.sleep(1.0)  # 20 simulated seconds: nothing picks the cancelled migration up
    stayed = running(cluster, ns, waiting)
    assert stayed["status"]["nodeName"] == sources[waiting] and condition(stayed, "Migrating") is None
    assert [p["spec"]["nodeName"] for p in pods_of(cluster, ns, waiting)] == [sources[waiting]]


def test_migrate_with_a_node_selector_lands_there(cluster, env, ns):
    apply(cluster, ns, vm_body("aim", env["iso"]))
    source = running(cluster, ns, "aim")["status"]["nodeName"]
    goal = next(n for n in ("green-1", "green-0", "blue-1", "blue-0") if n != source)
    name, _unused = vmop(cluster, ns, "aim", "Migrate", migrate={"nodeSelector": {"kubernetes.io/hostname": goal}})
    assert phase(op_done(cluster, ns, name)) == "Completed"
    vm = running(cluster, ns, "aim")
    assert vm["status"]["nodeName"] == goal and vm["status"]["migrationState"]["target"]["node"] == goal
    assert f"{ns}_aim" in domains(cluster, goal) and f"{ns}_aim" not in domains(cluster, source)


@pytest.mark.parametrize(
    ("policy", "force", "outcome"),
    [
        ("AlwaysSafe", True, "NotApplicableForLiveMigrationPolicy"),
        ("AlwaysSafe", False, "Completed"),
        ("PreferSafe", True, "Completed"),
        ("AlwaysForced", False, "NotApplicableForLiveMigrationPolicy"),
        ("AlwaysForced", None, "Completed"),
        ("PreferForced", True, "Completed"),
    ],
)
def test_force_and_live_migration_policy(cluster, env, ns, policy, force, outcome):
    apply(cluster, ns, vm_body("lm", env["iso"], liveMigrationPolicy=policy))
    source = running(cluster, ns, "lm")["status"]["nodeName"]
    name, _unused = vmop(cluster, ns, "lm", "Evict", force=force)
    op = op_done(cluster, ns, name)
    if outcome == "Completed":
        assert phase(op) == "Completed" and running(cluster, ns, "lm")["status"]["nodeName"] != source
    else:
        assert phase(op) == "Failed" and condition(op, "Completed")["reason"] == outcome and policy in condition(op, "Completed")["message"]
        assert running(cluster, ns, "lm")["status"]["nodeName"] == source and "migrationState" not in get(cluster, "vm", "lm", ns)["status"]


def test_an_evict_moves_the_vm_with_its_rwo_disk(cluster, env, ns):
    """EE (the guide's cluster): a disk on a ReadWriteOnce, node-local claim does not keep the VM in place - the VM is
    Migratable (VirtualMachineDisksShouldBeMigrating) and the Evict moves the disk with it to a new claim of the same
    class on the target node (BEHAVIOUR.md §7.3; CE refuses it: tests/integration/test_volume_migration.py)."""
    apply(
        cluster,
        ns,
        {
            "apiVersion": G,
            "kind": "VirtualDisk",
            "metadata": {"name": "local"},
            "spec": {"persistentVolumeClaim": {"size": "1Gi", "storageClassName": "local-thin"}},
        },
    )
    apply(
        cluster,
        ns,
        vm_body("pinned", env["iso"], blockDeviceRefs=[{"kind": "ClusterVirtualImage", "name": env["iso"]}, {"kind": "VirtualDisk", "name": "local"}]),
    )
    vm = running(cluster, ns, "pinned", 60)
    migratable = condition(vm, "Migratable")
    assert (migratable["status"], migratable["reason"]) == ("True", "VirtualMachineDisksShouldBeMigrating") and "local" in migratable["message"]
    source = wait(lambda: get(cluster, "vd", "local", ns), lambda o: phase(o) == "Ready")["status"]["target"]["persistentVolumeClaimName"]
    name, _unused = vmop(cluster, ns, "pinned", "Evict")
    op = op_done(cluster, ns, name)
    assert phase(op) == "Completed", op
    moved = running(cluster, ns, "pinned")
    assert moved["status"]["nodeName"] != vm["status"]["nodeName"]
    disk = wait(lambda: get(cluster, "vd", "local", ns), lambda o: (o["status"].get("migrationState") or {}).get("result") == "Succeeded")
    target = disk["status"]["target"]["persistentVolumeClaimName"]
    assert target != source and disk["status"]["storageClassName"] == "local-thin" and disk["status"]["migrationState"]["sourcePVC"] == source
    volume = get(cluster, "pv", get(cluster, "pvc", target, ns)["spec"]["volumeName"])
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [moved["status"]["nodeName"]]


def test_one_inbound_and_one_outbound_migration_per_node(cluster, env, ns):
    for name in ("in-a", "in-b"):
        apply(cluster, ns, vm_body(name, env["iso"], memory="16Gi"))
    sources = {name: running(cluster, ns, name)["status"]["nodeName"] for name in ("in-a", "in-b")}
    goal = next(n for n in ("green-1", "green-0", "blue-1", "blue-0") if n not in sources.values())
    ops = [vmop(cluster, ns, name, "Migrate", migrate={"nodeSelector": {"kubernetes.io/hostname": goal}})[0] for name in ("in-a", "in-b")]

    def reasons():
        return sorted((condition(o, "Completed") or {}).get("reason", "") + "/" + (phase(o) or "") for o in (get(cluster, "vmop", n, ns) for n in ops))

    # both target the same node: one transfers while the other waits for the inbound slot (Pending)
    seen = wait(reasons, lambda r: r == ["Syncing/InProgress", "WaitingForSyncSlot/Pending"], 60, 0.05)
    assert seen
    for name in ops:
        assert phase(op_done(cluster, ns, name)) == "Completed"
    assert {running(cluster, ns, n)["status"]["nodeName"] for n in ("in-a", "in-b")} == {goal}
    # both leave the same node: one outbound transfer at a time
    ops = [vmop(cluster, ns, name, "Evict")[0] for name in ("in-a", "in-b")]
    wait(reasons, lambda r: r == ["Syncing/InProgress", "WaitingForSyncSlot/Pending"], 60, 0.05)
    for name in ops:
        assert phase(op_done(cluster, ns, name)) == "Completed"
    assert goal not in {running(cluster, ns, n)["status"]["nodeName"] for n in ("in-a", "in-b")}


# -- CPU compatibility on a mixed Intel/AMD cluster (§7.3) ----------------------------------------------------------
MC = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
      "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
                                                           "virtualMachineCIDRs": ["10.66.30.0/24"]}}}  # fmt: skip


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixed")
    sim = Simulator.start(tmp / "state", "--topology", str(TOPOLOGIES / "mixed-intel-amd.yaml"), time_scale=20.0)
    root = tmp / "images"
    root.mkdir()
    iso_image(root / "boot.iso")
    server = FileServer(root)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    boot = {"apiVersion": G, "kind": "ClusterVirtualImage", "metadata": {"name": "boot"},
            "spec": {"dataSource": {"type": "HTTP", "http": {"url": server.url("boot.iso")}}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(boot))
    for cls, kind in (("host", "Host"), ("passthrough", "HostPassthrough")):
        sim.kubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump({"apiVersion": G, "kind": "VirtualMachineClass", "metadata": {"name": cls}, "spec": {"cpu": {"type": kind}}}),
        )
    wait(lambda: get(sim, "cvi", "boot"), lambda o: phase(o) == "Ready", 60)
    sim.kubectl("create", "namespace", "mixed")
    yield sim
    server.stop()
    assert sim.stop() == 0


def prefer(node):
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}}]}}  # fmt: skip


def test_a_host_class_vm_does_not_move_from_amd_to_intel(mixed):
    name = "host-" + uuid.uuid4().hex[:5]
    apply(mixed, "mixed", vm_body(name, "boot", virtualMachineClassName="host", affinity=prefer("amd-0")))
    assert running(mixed, "mixed", name)["status"]["nodeName"] == "amd-0"
    op, _unused = vmop(mixed, "mixed", name, "Migrate", migrate={"nodeSelector": {"kubernetes.io/hostname": "intel-1"}})
    seen = wait(lambda: get(mixed, "vmop", op, "mixed"), lambda o: (condition(o, "Completed") or {}).get("reason") == "TargetUnschedulable")
    message = condition(seen, "Completed")["message"]
    assert "1 node(s) had a CPU the virtual machine's CPU cannot migrate to" in message and phase(seen) == "InProgress"
    vm = get(mixed, "vm", name, "mixed")
    assert phase(vm) == "Running" and vm["status"]["nodeName"] == "amd-0" and len(pods_of(mixed, "mixed", name)) == 1
    advance(mixed, 301)  # stuck preparing the target for 5 minutes: the operation fails
    failed = op_done(mixed, "mixed", op)
    assert phase(failed) == "Failed" and "Timed out preparing" in condition(failed, "Completed")["message"]
    assert running(mixed, "mixed", name)["status"]["nodeName"] == "amd-0"


def test_a_host_passthrough_vm_without_an_identical_cpu_elsewhere_cannot_move(mixed):
    name = "pt-" + uuid.uuid4().hex[:5]
    apply(mixed, "mixed", vm_body(name, "boot", virtualMachineClassName="passthrough", affinity=prefer("intel-0")))
    assert running(mixed, "mixed", name)["status"]["nodeName"] == "intel-0"
    op, _unused = vmop(mixed, "mixed", name, "Evict")
    seen = wait(lambda: get(mixed, "vmop", op, "mixed"), lambda o: (condition(o, "Completed") or {}).get("reason") == "TargetUnschedulable")
    assert "3 node(s) had a CPU the virtual machine's CPU cannot migrate to" in condition(seen, "Completed")["message"]
    advance(mixed, 301)
    assert phase(op_done(mixed, "mixed", op)) == "Failed"
    assert running(mixed, "mixed", name)["status"]["nodeName"] == "intel-0"
