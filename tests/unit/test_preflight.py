"""The migration preflight of vm_operation and node_maintenance (plugins/module_utils/migration_rules.py): pure
functions over hand-built nodes and VMs, with libvirt's CPU map (test driver) deciding CPU compatibility."""

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.cpu_models import default_map
from ansible_collections.deckhouse.virtualization.plugins.module_utils.maintenance_service import cpu_checker, option_problems, select
from ansible_collections.deckhouse.virtualization.plugins.module_utils.migration_rules import (
    CLASS_NODES,
    GuestCPU,
    Leaver,
    auto_converge,
    describe_refusal,
    force_problem,
    guest_cpu,
    node_cpu,
    plan_moves,
)
from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import NodeState, PodRequest
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vmop_service import static_problems
from dvp_simulator.nodes.cpu import cpu_labels
from dvp_simulator.nodes.topology import CPU

GI = 1024**3
HOST = "kubernetes.io/hostname"
BROADWELL = CPU("Intel", "Broadwell-noTSX", ("vme", "f16c", "rdrand", "spec-ctrl"), 16)
SKYLAKE = CPU("Intel", "Skylake-Client-noTSX-IBRS", ("vme", "f16c", "rdrand", "avx512f"), 32)
EPYC = CPU("AMD", "EPYC", (), 32)


def node(name, cpu=BROADWELL, cpus=8000, mem=16 * GI, used_cpu=0, used_mem=0, **kw):
    return NodeState(
        name=name, labels={HOST: name, **cpu_labels(cpu), **kw.pop("labels", {})}, taints=kw.pop("taints", []),
        unschedulable=kw.pop("unschedulable", False), ready=True, allocatable_cpu_milli=cpus, allocatable_memory=mem,
        requested_cpu_milli=used_cpu, requested_memory=used_mem, pods=kw.pop("pods", ()),
    )  # fmt: skip


def vm(name, cpu_type="Discovery", cpu_milli=1000, mem=GI, phase="Running", **kw):
    request = PodRequest("vms", {v.VM_NAME_LABEL: name, **kw.pop("labels", {})}, cpu_milli, mem, kw.pop("node_selector", {}), kw.pop("affinity", {}), [])
    return Leaver("vms", name, phase, request, cpu=GuestCPU(cpu_type, kw.pop("model", None), kw.pop("features", ())), **kw)


@pytest.fixture(scope="module")
def check():
    checker, why = cpu_checker()
    assert checker is not None, why
    return checker


def test_every_vm_gets_the_schedulers_pick_and_capacity_is_counted_in_turn(check):
    nodes = [node("blue-0"), node("blue-1", mem=3 * GI), node("green-0", cpu=SKYLAKE, mem=2 * GI)]
    moves = plan_moves([vm("a", mem=GI + GI // 2), vm("b", mem=GI + GI // 2)], nodes, "blue-0", check)
    assert all(m.ok for m in moves), describe_refusal(moves)
    assert {m.target for m in moves} == {"blue-1", "green-0"}, "the second VM no longer fits where the first went"
    assert all(m.source == "blue-0" for m in moves)


def test_host_passthrough_needs_an_identical_cpu_elsewhere(check):
    nodes = [node("blue-0"), node("green-0", cpu=SKYLAKE), node("green-1", cpu=SKYLAKE)]
    [move] = plan_moves([vm("db", "HostPassthrough")], nodes, "blue-0", check)
    assert not move.ok and move.target is None
    assert set(move.nodes) == {"green-0", "green-1"}
    assert all("host-passthrough needs an identical CPU" in r[0] for r in move.nodes.values()), move.nodes
    [line] = describe_refusal([move])
    assert line.startswith("vms/db: no node can take it: 0/2 nodes are available") and "green-0: CPU: host-passthrough" in line
    # an identical node is a target
    [ok] = plan_moves([vm("db", "HostPassthrough")], [*nodes, node("blue-1")], "blue-0", check)
    assert ok.ok and ok.target == "blue-1"


def test_host_model_never_crosses_vendors(check):
    nodes = [node("amd-0", cpu=EPYC), node("intel-0", cpu=SKYLAKE)]
    [move] = plan_moves([vm("web", "Host")], nodes, "amd-0", check)
    assert not move.ok and "vendor differs (AMD → Intel)" in move.nodes["intel-0"][0]
    # Host to a newer CPU of the same vendor is fine, to an older one is not
    [up] = plan_moves([vm("web", "Host")], [node("blue-0"), node("green-0", cpu=SKYLAKE)], "blue-0", check)
    assert up.ok and up.target == "green-0"
    [down] = plan_moves([vm("web", "Host")], [node("green-0", cpu=SKYLAKE), node("blue-0")], "green-0", check)
    assert not down.ok and "lacks" in down.nodes["blue-0"][0]


def test_model_and_features_classes_need_the_cpu_the_class_names(check):
    nodes = [node("green-0", cpu=SKYLAKE), node("blue-0"), node("green-1", cpu=SKYLAKE)]
    [move] = plan_moves([vm("m", "Model", model="Skylake-Client-noTSX-IBRS")], nodes, "green-0", check)
    assert move.target == "green-1" and "lacks" in move.nodes["blue-0"][0]
    [feat] = plan_moves([vm("f", "Features", features=("avx512f",))], nodes, "green-0", check)
    assert feat.target == "green-1" and "avx512f" in feat.nodes["blue-0"][0]


def test_class_nodes_selectors_affinity_cordon_and_capacity_each_named():
    nodes = [
        node("src"),
        node("cordoned", unschedulable=True),
        node("full", used_cpu=7800),
        node("other-group", labels={"group": "green"}),
        node("outside-class", labels={"group": "blue"}),
        node("ok", labels={"group": "blue"}),
    ]
    leaver = vm("w", node_selector={"group": "blue"}, available_nodes=frozenset({"src", "cordoned", "full", "other-group", "ok"}))
    [move] = plan_moves([leaver], nodes, "src")
    assert move.target == "ok"
    assert move.nodes == {
        "cordoned": ("node(s) were unschedulable",),
        "full": ("node(s) didn't match Pod's node affinity/selector",),
        "other-group": ("node(s) didn't match Pod's node affinity/selector",),
        "outside-class": (CLASS_NODES,),
    }
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": HOST}]}}
    busy = [node("src"), node("a", pods=(("vms", {"app": "web"}),)), node("b", cpus=500)]
    [stuck] = plan_moves([vm("w2", labels={"app": "web"}, affinity=anti)], busy, "src")
    assert not stuck.ok and stuck.nodes == {"a": ("node(s) didn't match pod anti-affinity rules",), "b": ("Insufficient cpu",)}


def test_vm_problems_come_first_rwo_disks_phase_and_pinned_volumes():
    nodes = [node("src"), node("dst")]
    [rwo] = plan_moves([vm("d", not_migratable="Disks with the ReadWriteOnce access mode cannot be migrated: d-root.")], nodes, "src")
    assert not rwo.ok and rwo.problems == ("not migratable: Disks with the ReadWriteOnce access mode cannot be migrated: d-root.",)
    [stopped] = plan_moves([vm("s", phase="Starting")], nodes, "src")
    assert not stopped.ok and "only a Running VM live-migrates" in stopped.problems[0]
    pinned = (("d-root", ({"matchExpressions": [{"key": HOST, "operator": "In", "values": ["src"]}]},)),)
    [local] = plan_moves([vm("l", pinned=pinned)], nodes, "src")
    assert not local.ok and "cannot reach the VM's disk volume (d-root)" in local.nodes["dst"][0]


def test_force_against_the_live_migration_policy():
    assert "AlwaysSafe" in force_problem("AlwaysSafe", True)
    assert force_problem("AlwaysSafe", False) is None and force_problem("AlwaysSafe", None) is None
    assert "AlwaysForced" in force_problem("AlwaysForced", False)
    assert force_problem("AlwaysForced", True) is None and force_problem("AlwaysForced", None) is None
    assert force_problem("PreferSafe", True) is None and force_problem(None, False) is None
    assert force_problem("AlwaysSafe", True, system_override="PreferSafe") is None, "a system override ignores force"
    assert auto_converge("PreferForced", None) and not auto_converge("PreferForced", False) and auto_converge("PreferSafe", True)
    assert not auto_converge(None, None)


def test_node_cpu_and_guest_cpu_from_api_objects():
    labels = cpu_labels(SKYLAKE)
    model, vendor, features = node_cpu(labels)
    assert (model, vendor) == ("Skylake-Client-noTSX-IBRS", "Intel") and "avx512f" in features
    assert node_cpu({HOST: "master-0"}) is None
    assert default_map().features(model, vendor, features) >= set(features)
    discovery = {"spec": {"cpu": {"type": "Discovery"}}, "status": {"cpuFeatures": {"enabled": ["sse4.2"]}}}
    assert guest_cpu(discovery) == GuestCPU("Discovery", None, ("sse4.2",))
    assert guest_cpu({"spec": {"cpu": {"type": "Model", "model": "EPYC"}}}) == GuestCPU("Model", "EPYC", ())


def pod_obj(name, owner=None, labels=None, volumes=(), annotations=None, phase="Running"):
    meta = {"name": name, "namespace": "ns", "labels": labels or {}, "annotations": annotations or {}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "x", "controller": True}]
    return {"metadata": meta, "spec": {"volumes": list(volumes)}, "status": {"phase": phase}}


def test_full_drain_pod_rules_as_kubectl():
    pods = [
        pod_obj("ds", "DaemonSet"),
        pod_obj("handler", labels={v.VIRT_HANDLER_LABEL: v.VIRT_HANDLER}),
        pod_obj("cache", "ReplicaSet", volumes=[{"name": "c", "emptyDir": {}}]),
        pod_obj("bare"),
        pod_obj("mirror", annotations={v.MIRROR_POD_ANNOTATION: "x"}),
        pod_obj("web", "ReplicaSet"),
    ]
    params = {"scope": "all", "ignore_daemonsets": True, "delete_emptydir_data": False, "force": False}
    sel = select(None, pods, params)
    assert [p["metadata"]["name"] for p in sel.others] == ["web"]
    assert {s["pod"] for s in sel.skipped} == {"ns/ds", "ns/handler", "ns/mirror"}
    assert any("ns/cache" in p and "delete_emptydir_data" in p for p in sel.problems) and any("ns/bare" in p and "force=true" in p for p in sel.problems)
    sel = select(None, pods, {**params, "ignore_daemonsets": False, "delete_emptydir_data": True, "force": True})
    assert {p["metadata"]["name"] for p in sel.others} == {"cache", "bare", "web"} and len(sel.problems) == 2
    assert select(None, pods, {**params, "scope": "vms"}).others == []


def test_option_rules_name_the_option():
    base = {"state": "drained", "wait_timeout": 10, "max_concurrent": 2, "preflight_only": False, "force": False, "delete_emptydir_data": False, "scope": "vms"}
    assert option_problems(base) == []
    assert "max_concurrent" in option_problems({**base, "max_concurrent": 0})[0]
    assert "only used with state=drained" in option_problems({**base, "state": "uncordoned", "preflight_only": True})[0]
    assert "only used with scope=all" in option_problems({**base, "force": True})[0]
    op = {"state": "present", "wait_timeout": 10, "type": "Start", "force": True, "migrate": None, "name": None, "unless_done": False, "generate_name": None}
    assert static_problems(op) == ["force: a Start cannot be forced (the platform's CRD rule)"]
    assert "never already done" in static_problems({**op, "type": "Evict", "force": None, "unless_done": True})[0]
    assert "only with type=Migrate" in static_problems({**op, "type": "Evict", "force": None, "migrate": {"node_selector": {"a": "b"}}})[0]
    assert static_problems({**op, "type": "Migrate", "force": None, "migrate": {"node_selector": {"a": "b"}}, "unless_done": True}) == []
