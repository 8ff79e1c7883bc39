"""The admin guide's VirtualMachineClass rules (module side) and the platform's webhook and status rules
(simulator side): pure functions, each tested directly."""

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vmclass_rules as rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils.cpu_models import default_map
from dvp_simulator.controllers.vmclass import compute_status, phase_and_conditions
from dvp_simulator.webhooks.vmclass import overlapping_policy

GUIDE = [
    {"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi", "step": "512Mi"}, "core_fractions": [5, 10, 20, 50, 100]},
    {"cores": {"min": 5, "max": 8}, "memory": {"min": "5Gi", "max": "16Gi", "step": "1Gi"}, "core_fractions": [20, 50, 100]},
    {"cores": {"min": 9, "max": 16}, "memory": {"min": "9Gi", "max": "32Gi", "step": "1Gi"}, "core_fractions": [50, 100]},
    {"cores": {"min": 17, "max": 248}, "memory": {"per_core": {"min": "1Gi", "max": "2Gi"}}, "core_fractions": [100]},
]


def policy(lo, hi, **kw):
    return {"cores": {"min": lo, "max": hi}, "core_fractions": [100], **kw}


def test_guide_example_is_accepted():
    assert rules.check_sizing_policies(GUIDE) == []


@pytest.mark.parametrize(
    "policies,fragment",
    [
        ([policy(1, 4), policy(4, 8)], "sizing_policies[1].cores: range [4, 8] overlaps"),
        ([policy(1, 10), policy(3, 5)], "sizing_policies[1].cores: range [3, 5] overlaps"),
        ([policy(1, 4), policy(6, 8)], "sizing_policies[1].cores.min: must be 5"),
        ([policy(4, 4)], "sizing_policies[0].cores: max (4) must be greater than min (4)"),
        ([{"cores": {"min": 1, "max": 4}}], "sizing_policies[0]: give memory"),
        ([policy(1, 4, memory={"min": "2Gi", "max": "1Gi"})], "sizing_policies[0].memory: min (2Gi) must not be greater than max (1Gi)"),
        ([policy(1, 4, memory={"min": "1Gi", "max": "2Gi", "step": "3Gi"})], "sizing_policies[0].memory.step: 3Gi is larger than the range"),
        ([policy(1, 4, memory={"min": "1Gi", "max": "2Gi", "step": "300Mi"})], "not a whole number of 300Mi steps"),
        ([policy(1, 4, memory={"min": "1Gi", "per_core": {"min": "1Gi"}})], "give either min/max or per_core"),
        ([policy(1, 4, memory={"min": "lots"})], "sizing_policies[0].memory.min: 'lots' is not a quantity"),
        ([policy(1, 4, core_fractions=[0])], "sizing_policies[0].core_fractions[0]: 0 is not a core fraction"),
        ([policy(1, 4, core_fractions=[5, 50], default_core_fraction="20%")], "default_core_fraction: 20% must be one of core_fractions"),
        ([policy(1, 4, cores={"min": 1, "max": 4, "step": 4})], "sizing_policies[0].cores.step"),
    ],
)
def test_guide_rules_name_index_and_field(policies, fragment):
    problems = rules.check_sizing_policies(policies)
    assert any(fragment in p for p in problems), problems


def test_cpu_combinations_and_names_from_libvirt():
    cpu_map = default_map()
    assert rules.check_cpu({"type": "Model", "model": "IvyBridge"}, cpu_map) == []
    assert rules.check_cpu({"type": "Features", "features": ["vmx"]}, cpu_map) == []
    assert rules.check_cpu({"type": "Discovery", "discovery": {}}, cpu_map) == []
    assert "did you mean 'IvyBridge'" in rules.check_cpu({"type": "Model", "model": "Ivybridge"}, cpu_map)[0]
    assert rules.check_cpu({"type": "Host", "features": ["vmx"]}, cpu_map) == ["cpu.features is not allowed with cpu.type=Host"]
    assert rules.check_cpu({"type": "Features", "features": []}, cpu_map) == ["cpu.features needs at least one feature with cpu.type=Features"]


def test_policies_to_api_writes_v1alpha3_fractions():
    api = rules.policies_to_api([policy(1, 4, core_fractions=[5, "50%"], default_core_fraction=50, memory={"per_core": {"min": "1Gi", "max": "2Gi"}})])
    assert api == [
        {"cores": {"min": 1, "max": 4}, "memory": {"perCore": {"min": "1Gi", "max": "2Gi"}}, "coreFractions": ["5%", "50%"], "defaultCoreFraction": "50%"}
    ]


@pytest.mark.parametrize(
    "ranges,clash",
    [([(1, 4), (5, 8)], None), ([(1, 4), (4, 8)], (0, 1)), ([(1, 10), (3, 5)], None), ([(3, 5), (1, 10)], (0, 1)), ([(1, 4), (8, 9)], None)],
)
def test_webhook_overlap_algorithm_literally(ranges, clash):
    assert overlapping_policy([{"cores": {"min": a, "max": b}} for a, b in ranges]) == clash


def node(name, features, **labels):
    return {
        "metadata": {"name": name, "labels": {**{f"cpu-feature.node.virtualization.deckhouse.io/{f}": "true" for f in features}, **labels}},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}},
    }


def test_discovery_status_is_the_intersection_and_frozen():
    nodes = [node("a", ["x", "y"], group="blue"), node("b", ["x", "y", "z"], group="green")]
    spec = {"cpu": {"type": "Discovery", "discovery": {"nodeSelector": {"matchLabels": {"group": "green"}}}}}
    status = compute_status(spec, {}, nodes)
    assert status["cpuFeatures"]["enabled"] == ["x", "y", "z"] and status["availableNodes"] == ["b"]
    later = compute_status(spec, status, nodes + [node("c", ["x", "y", "z", "w"])])
    assert later["cpuFeatures"]["enabled"] == ["x", "y", "z"] and later["availableNodes"] == ["b", "c"]
    assert later["cpuFeatures"]["notEnabledCommon"] == []


def test_phase_rules():
    host = {"metadata": {"generation": 1}, "spec": {"cpu": {"type": "Host"}}}
    assert phase_and_conditions(host, compute_status(host["spec"], {}, []), "t")["phase"] == "Ready"
    model = {"metadata": {"generation": 1}, "spec": {"cpu": {"type": "Model", "model": "X"}}}
    status = phase_and_conditions(model, compute_status(model["spec"], {}, [node("a", [])]), "t")
    assert status["phase"] == "Pending" and next(c for c in status["conditions"] if c["type"] == "Ready")["reason"] == "NoSuitableNodesFound"
    empty = {"metadata": {"generation": 1}, "spec": {"cpu": {"type": "Discovery", "discovery": {"nodeSelector": {"matchLabels": {"none": "x"}}}}}}
    status = phase_and_conditions(empty, compute_status(empty["spec"], {}, [node("a", ["x"])]), "t")
    assert status["phase"] == "Pending"
    assert next(c for c in status["conditions"] if c["type"] == "Discovered")["reason"] == "DiscoveryFailed"
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["reason"] == "NoCpuFeaturesEnabled"
