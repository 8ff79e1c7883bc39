"""vm_class and vm_class_info through ansible-playbook → HTTPS → simulator with the admin guide's nodes."""

import json

import pytest

from ..ansible_runner import run_playbook
from .test_module_vm import ensure_cidrs

GUIDE_POLICIES = [
    {"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi", "step": "512Mi"}, "core_fractions": [5, 10, 20, 50, 100]},
    {"cores": {"min": 5, "max": 8}, "memory": {"min": "5Gi", "max": "16Gi", "step": "1Gi"}, "core_fractions": [20, 50, 100]},
    {"cores": {"min": 9, "max": 16}, "memory": {"min": "9Gi", "max": "32Gi", "step": "1Gi"}, "core_fractions": [50, 100]},
    {"cores": {"min": 17, "max": 248}, "memory": {"per_core": {"min": "1Gi", "max": "2Gi"}}, "core_fractions": [100]},
]


@pytest.fixture(scope="module")
def vm_network(cluster):
    """The VM network in ModuleConfig virtualization (spec.settings.virtualMachineCIDRs), which the platform's webhook
    requires of any VM with the Main network; kept as another module of the session configured it, when it did."""
    cidrs = ensure_cidrs(cluster)
    assert cidrs, "ModuleConfig virtualization has virtualMachineCIDRs"
    return cidrs


def vmclass(name, **kw):
    return {"deckhouse.virtualization.vm_class": {"name": name, **kw}}


def exists(sim, name):
    return sim.kubectl("get", "vmclass", name, check=False).returncode == 0


def test_admin_guide_classes_idempotent_with_check_mode_and_diff(cluster, tmp_path):
    universal = vmclass("m-universal", cpu={"type": "Discovery", "discovery": {}}, sizing_policies=GUIDE_POLICIES)
    cpux = vmclass(
        "m-cpux", cpu={"type": "Discovery", "discovery": {"node_selector": {"matchExpressions": [{"key": "group", "operator": "In", "values": ["blue"]}]}}}
    )
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "check", **universal, "check_mode": True},
            {"name": "universal", **universal},
            {"name": "cpux", **cpux},
            {"name": "again", **universal},
            {
                "name": "change policy (check, diff)",
                **vmclass("m-universal", cpu={"type": "Discovery", "discovery": {}}, sizing_policies=GUIDE_POLICIES[:1]),
                "check_mode": True,
                "diff": True,
            },
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["check"]["changed"]
    assert run["universal"]["changed"] and run["universal"]["vm_class"]["phase"] == "Ready"
    assert run["universal"]["vm_class"]["available_nodes"] == ["blue-0", "blue-1", "green-0", "green-1", "master-0"]
    assert run["universal"]["resource"]["spec"]["sizingPolicies"][0]["coreFractions"] == ["5%", "10%", "20%", "50%", "100%"]
    assert run["cpux"]["vm_class"]["available_nodes"] == ["blue-0", "blue-1", "green-0", "green-1"]
    assert len(run["cpux"]["vm_class"]["cpu_features"]["enabled"]) > len(run["universal"]["vm_class"]["cpu_features"]["enabled"])
    assert run["again"]["changed"] is False
    change = run["change policy (check, diff)"]
    assert change["changed"] and len(change["diff"]["before"]["spec"]["sizingPolicies"]) == 4 and len(change["diff"]["after"]["spec"]["sizingPolicies"]) == 1
    stored = json.loads(cluster.kubectl("get", "vmclass", "m-universal", "-o", "json").stdout)
    assert len(stored["spec"]["sizingPolicies"]) == 4, "check mode changes nothing"


def test_check_mode_create_writes_nothing(cluster, tmp_path):
    run = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "check", **vmclass("m-never", cpu={"type": "Host"}), "check_mode": True}])
    assert run.returncode == 0 and run["check"]["changed"]
    assert not exists(cluster, "m-never")


def test_bad_inputs_each_named_and_nothing_written(cluster, tmp_path):
    cases = {
        "unknown model": vmclass("bad-model", cpu={"type": "Model", "model": "Haswel"}),
        "unknown feature": vmclass("bad-feature", cpu={"type": "Features", "features": ["avx512f", "avx3"]}),
        "model missing": vmclass("bad-missing", cpu={"type": "Model"}),
        "model with Host": vmclass("bad-combo", cpu={"type": "Host", "model": "Nehalem"}),
        "overlap (guide example)": vmclass(
            "bad-overlap",
            cpu={"type": "Host"},
            sizing_policies=[{"cores": {"min": 1, "max": 4}, "core_fractions": [100]}, {"cores": {"min": 4, "max": 8}, "core_fractions": [100]}],
        ),
        "nested (webhook misses it)": vmclass(
            "bad-nested",
            cpu={"type": "Host"},
            sizing_policies=[{"cores": {"min": 1, "max": 10}, "core_fractions": [100]}, {"cores": {"min": 3, "max": 5}, "core_fractions": [100]}],
        ),
        "gap": vmclass(
            "bad-gap",
            cpu={"type": "Host"},
            sizing_policies=[{"cores": {"min": 1, "max": 4}, "core_fractions": [100]}, {"cores": {"min": 8, "max": 16}, "core_fractions": [100]}],
        ),
        "memory min > max": vmclass(
            "bad-memory", cpu={"type": "Host"}, sizing_policies=[{"cores": {"min": 1, "max": 4}, "memory": {"min": "8Gi", "max": "1Gi"}}]
        ),
        "empty range": vmclass("bad-empty", cpu={"type": "Host"}, sizing_policies=[{"cores": {"min": 1, "max": 4}}]),
        "bad step": vmclass(
            "bad-step", cpu={"type": "Host"}, sizing_policies=[{"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "2Gi", "step": "300Mi"}}]
        ),
        "default fraction": vmclass(
            "bad-default", cpu={"type": "Host"}, sizing_policies=[{"cores": {"min": 1, "max": 4}, "core_fractions": [5, 50], "default_core_fraction": 20}]
        ),
    }
    run = run_playbook(tmp_path, cluster.kubeconfig, [{"name": name, **task, "ignore_errors": True} for name, task in cases.items()])
    msgs = {name: run[name].get("msg", "") for name in cases}
    assert all(run[name].get("failed") for name in cases), msgs
    assert "cpu.model: unknown CPU model 'Haswel'; did you mean 'Haswell'" in msgs["unknown model"]
    assert "cpu.features[1]: unknown CPU feature 'avx3'; did you mean" in msgs["unknown feature"]
    assert "cpu.model is required with cpu.type=Model" in msgs["model missing"]
    assert "cpu.model is not allowed with cpu.type=Host" in msgs["model with Host"]
    assert "sizing_policies[1].cores" in msgs["overlap (guide example)"] and "overlaps" in msgs["overlap (guide example)"]
    assert "sizing_policies[1].cores" in msgs["nested (webhook misses it)"] and "overlaps" in msgs["nested (webhook misses it)"]
    assert "sizing_policies[1].cores.min: must be 5" in msgs["gap"]
    assert "sizing_policies[0].memory: min (8Gi) must not be greater than max (1Gi)" in msgs["memory min > max"]
    assert "sizing_policies[0]: give memory" in msgs["empty range"]
    assert "sizing_policies[0].memory.step" in msgs["bad step"]
    assert "sizing_policies[0].default_core_fraction: 20% must be one of core_fractions" in msgs["default fraction"]
    written = cluster.kubectl("get", "vmclass", "-o", "name").stdout
    assert "bad-" not in written


def test_cpu_change_refused_then_recreated_only_without_vms(cluster, vm_network, tmp_path):
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "create", **vmclass("m-model", cpu={"type": "Model", "model": "Nehalem"})},
            {"name": "change cpu", **vmclass("m-model", cpu={"type": "Model", "model": "Westmere"}), "ignore_errors": True},
            {"name": "recreate (check)", **vmclass("m-model", cpu={"type": "Model", "model": "Westmere"}, recreate=True), "check_mode": True},
            {"name": "recreate", **vmclass("m-model", cpu={"type": "Model", "model": "Westmere"}, recreate=True)},
            {"name": "selector in place", **vmclass("m-model", cpu={"type": "Model", "model": "Westmere"}, node_selector={"matchLabels": {"group": "green"}})},
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["change cpu"]["failed"] and "cannot change spec.cpu.model in place; set recreate=true" in run["change cpu"]["msg"]
    uid_before = run["create"]["resource"]["metadata"]["uid"]
    assert run["recreate (check)"]["changed"]
    assert run["recreate"]["changed"] and run["recreate"]["resource"]["metadata"]["uid"] != uid_before
    assert run["recreate"]["resource"]["spec"]["cpu"]["model"] == "Westmere"
    assert run["selector in place"]["resource"]["metadata"]["uid"] == run["recreate"]["resource"]["metadata"]["uid"]
    assert run["selector in place"]["vm_class"]["available_nodes"] == ["green-0", "green-1"]
    cluster.kubectl(
        "apply", "-f", "-",
        input="{apiVersion: virtualization.deckhouse.io/v1alpha2, kind: VirtualMachine, metadata: {name: pinned, namespace: default}, "
        "spec: {virtualMachineClassName: m-model, cpu: {cores: 1, coreFraction: '100%'}, memory: {size: 1Gi}, "
        "blockDeviceRefs: [{kind: VirtualDisk, name: root}]}}",
    )  # fmt: skip
    try:
        blocked = run_playbook(
            tmp_path,
            cluster.kubeconfig,
            [{"name": "recreate used", **vmclass("m-model", cpu={"type": "Model", "model": "Nehalem"}, recreate=True), "ignore_errors": True}],
        )
        assert blocked["recreate used"]["failed"] and "default/pinned" in blocked["recreate used"]["msg"]
        assert json.loads(cluster.kubectl("get", "vmclass", "m-model", "-o", "json").stdout)["spec"]["cpu"]["model"] == "Westmere"
    finally:
        cluster.kubectl("delete", "vm", "-n", "default", "pinned")


def test_default_class_and_info_with_node_models(cluster, tmp_path):
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "default", **vmclass("m-default", cpu={"type": "Host"}, default=True, labels={"tier": "gold"})},
            {"name": "info", "deckhouse.virtualization.vm_class_info": {"label_selectors": ["tier=gold"]}},
            {"name": "one", "deckhouse.virtualization.vm_class_info": {"name": "generic"}},
            {"name": "absent", **vmclass("m-default", state="absent")},
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["default"]["vm_class"]["default"] is True
    assert [s["name"] for s in run["info"]["summaries"]] == ["m-default"]
    node_cpu = run["one"]["node_cpu"]
    by_node = {n["name"]: n for n in node_cpu["nodes"]}
    assert "Skylake-Client-noTSX-IBRS" in by_node["green-0"]["cpu_models"] and "avx512f" in by_node["green-0"]["cpu_features"]
    assert "Nehalem" in node_cpu["common_cpu_models"] and "Skylake-Client-noTSX-IBRS" not in node_cpu["common_cpu_models"]
    assert run["one"]["summaries"][0]["phase"] == "Ready"
    assert run["absent"]["changed"] and not exists(cluster, "m-default")


def test_discovery_selector_without_class_selector_warns_and_the_guide_intent_keeps_vms_on_blue(cluster, tmp_path):
    blue = {"matchExpressions": [{"key": "group", "operator": "In", "values": ["blue"]}]}
    discovery = {"type": "Discovery", "discovery": {"node_selector": blue}}
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "as the guide writes it", **vmclass("m-cpux-guide", cpu=discovery)},
            {"name": "with the class selector", **vmclass("m-cpux-blue", cpu=discovery, node_selector=blue)},
            {"name": "no discovery selector", **vmclass("m-cpux-all", cpu={"type": "Discovery", "discovery": {}})},
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    guide = run["as the guide writes it"]
    assert any("only chooses the nodes that define the vCPU's features" in w and "give node_selector" in w for w in guide.get("warnings", [])), guide
    assert guide["vm_class"]["available_nodes"] == ["blue-0", "blue-1", "green-0", "green-1"], "green nodes have every blue feature"
    pinned = run["with the class selector"]
    assert not pinned.get("warnings") and pinned["vm_class"]["available_nodes"] == ["blue-0", "blue-1"]
    assert pinned["vm_class"]["cpu_features"]["enabled"] == guide["vm_class"]["cpu_features"]["enabled"], "the same vCPU"
    assert not run["no discovery selector"].get("warnings")
