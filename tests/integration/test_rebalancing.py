"""Rebalancing by the descheduler (BEHAVIOUR.md §7.5, the admin guide's "VM Rebalancing") against the simulator as a
subprocess with three 8-core workers, the clock stepped with `dvp-sim clock advance` (time scale 1, so nothing
happens between steps that a step does not cause): a node loaded past 80 % of its CPU sheds VMs, smallest first,
until it is under the threshold — every VM live-migrated through the eviction API's 429 and an `evacuation-*`
Evict operation, never stopped; a required anti-affinity violation is fixed by moving the VM whose rule it is; with
the ModuleConfig `descheduler` disabled nothing moves. The invariant of tests/invariants.py (a domain on one node
at a time, the API and libvirt agreeing) is sampled continuously through every test."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from ..invariants import InvariantSampler
from ..simulator_process import BIN, Simulator
from . import test_vms
from .test_vms import apply, get, phase, vm_body

env, images = test_vms.env, test_vms.images  # test_vms' fixtures, over this module's `cluster`

WORKERS = ("w-0", "w-1", "w-2")
TOPOLOGY = {
    "cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16"},
    "nodes": [{"name": n, "cpu": {"vendor": "Intel", "model": "Broadwell-noTSX", "features": ["vme"], "cores": 8}, "memory": "32Gi"} for n in WORKERS],
    "storageClasses": [
        {"name": "replicated", "provisioner": "replicated.csi.storage.deckhouse.io", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "default": True}
    ],
}
SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"
ANTI = {
    "virtualMachineAndPodAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "pair"}}, "topologyKey": "kubernetes.io/hostname"}]
    }
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("rebalancing")
    (root / "topology.yaml").write_text(json.dumps(TOPOLOGY))
    s = Simulator.start(root / "state", "--topology", str(root / "topology.yaml"), time_scale=1.0)
    yield s
    assert s.stop() == 0


def advance(cluster, seconds):
    command = [str(BIN / "dvp-sim"), "clock", "advance", str(seconds), "--kubeconfig", str(cluster.kubeconfig)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr


def stepping(cluster, read, check, step=5, limit=900):
    """Advance the clock `step` simulated seconds at a time until `check(read())`, at most `limit` seconds."""
    spent, last = 0, None
    while spent <= limit:
        last = read()
        if check(last):
            return last
        advance(cluster, step)
        spent += step
    raise AssertionError(f"not reached in {limit} simulated seconds; last: {json.dumps(last)[:3000]}")


def descheduler(cluster, on):
    body = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "descheduler"}, "spec": {"enabled": on, "version": 1}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))


def vms(cluster, ns):
    return {o["metadata"]["name"]: o for o in json.loads(cluster.kubectl("get", "vm", "-n", ns, "-o", "json").stdout)["items"]}


def vmops(cluster, ns):
    return json.loads(cluster.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"]


def cpu_used(cluster, node):
    """Millicores requested by the live pods on the node (what the descheduler measures)."""
    pods = json.loads(cluster.kubectl("get", "pods", "-A", "--field-selector", f"spec.nodeName={node}", "-o", "json").stdout)["items"]
    total = 0
    for p in pods:
        if p["status"].get("phase") in ("Succeeded", "Failed") or p["metadata"].get("deletionTimestamp"):
            continue
        for c in p["spec"]["containers"]:
            cpu = (c.get("resources") or {}).get("requests", {}).get("cpu", "0")
            total += int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
    return total


def settled(objs):
    return all(phase(o) == "Running" for o in objs.values())


@pytest.fixture
def ns(cluster, env):
    """A namespace with every node schedulable again afterwards and its VMs gone (the next test starts empty)."""
    name = "rb-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("uncordon", *WORKERS)
    cluster.kubectl("delete", "vm", "--all", "-n", name, "--wait=false")
    stepping(cluster, lambda: vms(cluster, name), lambda o: not o, step=10, limit=600)


def load_one_node(cluster, ns, iso, sizes):
    """VMs of the given core counts (100 % coreFraction) all started on w-0 (the others cordoned), then released."""
    cluster.kubectl("cordon", "w-1", "w-2")
    for i, cores in enumerate(sizes):
        apply(cluster, ns, vm_body(f"vm{i}-c{cores}", iso, cores=cores))
    objs = stepping(cluster, lambda: vms(cluster, ns), lambda o: len(o) == len(sizes) and settled(o))
    assert {o["status"]["nodeName"] for o in objs.values()} == {"w-0"}
    cluster.kubectl("uncordon", "w-1", "w-2")
    return objs


def test_an_overloaded_node_sheds_vms_until_under_80_percent(cluster, env, ns):
    with InvariantSampler(cluster, list(WORKERS)):  # a domain on one node at a time, the API and libvirt agreeing, throughout
        load_one_node(cluster, ns, env["iso"], [2, 1, 2, 1, 2])  # 8000m of 8000m: 100 %
        assert cpu_used(cluster, "w-0") == 8000
        descheduler(cluster, True)
        seen_phases = set()

        def read():
            objs = vms(cluster, ns)
            seen_phases.update(phase(o) for o in objs.values())
            return objs

        # the first pass comes one interval (120 s) after the module is switched on; then the migrations run
        objs = stepping(cluster, read, lambda o: settled(o) and cpu_used(cluster, "w-0") <= 6400 and any(x["status"]["nodeName"] != "w-0" for x in o.values()))
        advance(cluster, 300)  # two more passes: nothing else moves once w-0 is under the threshold
        objs = stepping(cluster, read, settled)
        moved = sorted(n for n, o in objs.items() if o["status"]["nodeName"] != "w-0")
        assert moved == ["vm1-c1", "vm3-c1"], "smallest first, and only until w-0 is under 80 %"
        assert cpu_used(cluster, "w-0") == 6000
        assert {objs[n]["status"]["nodeName"] for n in moved} <= {"w-1", "w-2"}
        assert seen_phases <= {"Running", "Migrating"}, f"a VM left Running other than by migrating: {seen_phases}"
        ops = vmops(cluster, ns)
        assert sorted(o["spec"]["virtualMachineName"] for o in ops) == moved
        assert all(o["metadata"]["name"].startswith("evacuation-") and o["spec"]["type"] == "Evict" and phase(o) == "Completed" for o in ops)
        for n in moved:
            assert objs[n]["status"]["migrationState"]["result"] == "Succeeded"
        events = json.loads(cluster.kubectl("get", "events", "-n", ns, "--field-selector", "reason=LowNodeUtilization", "-o", "json").stdout)["items"]
        assert len(events) == 2 and all("evicted from w-0 node by sigs.k8s.io/descheduler" in e["message"] for e in events)


def test_an_anti_affinity_violation_is_fixed(cluster, env, ns):
    with InvariantSampler(cluster, list(WORKERS)):  # a domain on one node at a time, the API and libvirt agreeing, throughout
        descheduler(cluster, True)
        cluster.kubectl("cordon", "w-1", "w-2")
        iso = env["iso"]
        apply(cluster, ns, vm_body("a1", iso, labels={"app": "pair"}, affinity=ANTI))
        apply(cluster, ns, vm_body("a2", iso, labels={"app": "solo"}))
        objs = stepping(cluster, lambda: vms(cluster, ns), lambda o: len(o) == 2 and settled(o))
        assert {o["status"]["nodeName"] for o in objs.values()} == {"w-0"}
        cluster.kubectl("uncordon", "w-1", "w-2")
        # a2's pod now matches a1's required anti-affinity on the same node: a violation only a move can fix
        pod = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-l", f"{SELECTOR}=a2", "-o", "json").stdout)["items"][0]
        cluster.kubectl("label", "pod", "-n", ns, pod["metadata"]["name"], "app=pair", "--overwrite")
        objs = stepping(cluster, lambda: vms(cluster, ns), lambda o: settled(o) and o["a1"]["status"]["nodeName"] != "w-0")
        assert objs["a2"]["status"]["nodeName"] == "w-0" and objs["a1"]["status"]["nodeName"] in ("w-1", "w-2")
        ops = vmops(cluster, ns)
        assert [(o["spec"]["virtualMachineName"], phase(o)) for o in ops] == [("a1", "Completed")] and ops[0]["metadata"]["name"].startswith("evacuation-")
        advance(cluster, 300)  # fixed: later passes leave both alone
        objs = stepping(cluster, lambda: vms(cluster, ns), settled)
        assert (objs["a1"]["status"]["nodeName"], objs["a2"]["status"]["nodeName"]) != ("w-0", "w-0") and len(vmops(cluster, ns)) == 1


def test_a_required_node_affinity_no_longer_met_is_fixed(cluster, env, ns):
    with InvariantSampler(cluster, list(WORKERS)):  # a domain on one node at a time, the API and libvirt agreeing, throughout
        descheduler(cluster, True)
        key = "rb-zone-" + uuid.uuid4().hex[:6]
        affinity = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": ["a"]}]}]
                }
            }
        }
        try:
            cluster.kubectl("label", "node", "w-0", f"{key}=a")
            apply(cluster, ns, vm_body("na", env["iso"], affinity=affinity))
            apply(cluster, ns, vm_body("free", env["iso"]))
            objs = stepping(cluster, lambda: vms(cluster, ns), lambda o: len(o) == 2 and settled(o))
            assert objs["na"]["status"]["nodeName"] == "w-0"
            free_node = objs["free"]["status"]["nodeName"]
            # relabel: w-0 no longer matches na's required node affinity, w-2 does
            cluster.kubectl("label", "node", "w-0", f"{key}=b", "--overwrite")
            cluster.kubectl("label", "node", "w-2", f"{key}=a")
            objs = stepping(cluster, lambda: vms(cluster, ns), lambda o: settled(o) and o["na"]["status"]["nodeName"] != "w-0")
            assert objs["na"]["status"]["nodeName"] == "w-2" and objs["free"]["status"]["nodeName"] == free_node
            ops = vmops(cluster, ns)
            assert [(o["spec"]["virtualMachineName"], phase(o)) for o in ops] == [("na", "Completed")] and ops[0]["metadata"]["name"].startswith("evacuation-")
            events = json.loads(cluster.kubectl("get", "events", "-n", ns, "--field-selector", "reason=RemovePodsViolatingNodeAffinity", "-o", "json").stdout)[
                "items"
            ]
            assert len(events) == 1 and "evicted from w-0 node by sigs.k8s.io/descheduler" in events[0]["message"], events
            advance(cluster, 300)  # fixed: later passes leave it alone
            objs = stepping(cluster, lambda: vms(cluster, ns), settled)
            assert objs["na"]["status"]["nodeName"] == "w-2" and len(vmops(cluster, ns)) == 1
        finally:
            cluster.kubectl("label", "node", *WORKERS, f"{key}-")


def test_nothing_moves_with_the_descheduler_disabled(cluster, env, ns):
    with InvariantSampler(cluster, list(WORKERS)):  # a domain on one node at a time, the API and libvirt agreeing, throughout
        descheduler(cluster, False)
        load_one_node(cluster, ns, env["iso"], [2, 1, 2, 1, 2])
        for _unused in range(6):  # three intervals' worth
            advance(cluster, 60)
            objs = vms(cluster, ns)
            assert settled(objs) and {o["status"]["nodeName"] for o in objs.values()} == {"w-0"}
        assert vmops(cluster, ns) == [] and cpu_used(cluster, "w-0") == 8000
        assert get(cluster, "moduleconfig", "descheduler")["spec"]["enabled"] is False
