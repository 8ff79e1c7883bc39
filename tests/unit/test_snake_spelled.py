"""naming.snake_spelled: snake_case keys inside the Kubernetes types the modules pass through as the API writes them."""

from ansible_collections.deckhouse.virtualization.plugins.module_utils.naming import snake_spelled
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vm_service import static_problems
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vmclass_service import spelling_problems


def test_snake_case_fields_of_a_selector_are_named_with_the_api_spelling():
    selector = {"match_expressions": [{"key": "zone", "operator": "In", "values": ["a"]}], "matchLabels": {"team_name": "x"}}
    assert snake_spelled(selector, "node_selector") == ["node_selector.match_expressions: a Kubernetes type is written as the API writes it: matchExpressions"]


def test_label_keys_and_api_spelled_types_pass():
    affinity = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"match_labels": "a-label-key-may-hold-underscores"}}, "topologyKey": "kubernetes.io/hostname"}
        ]
    }
    assert snake_spelled(affinity, "affinity.virtual_machine_and_pod_anti_affinity") == []
    assert snake_spelled([{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}], "tolerations") == []
    assert snake_spelled(None, "tolerations") == []


def test_deep_paths_name_the_list_index():
    affinity = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"match_fields": []}}]}
    assert snake_spelled(affinity, "affinity.node_affinity") == [
        "affinity.node_affinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.match_fields: "
        "a Kubernetes type is written as the API writes it: matchFields"
    ]


def test_the_vm_and_vm_class_checks_name_the_option():
    params = {"state": "present", "name": "vm", "affinity": {"node_affinity": {"required_during_scheduling_ignored_during_execution": {}}},
              "tolerations": [{"key": "k", "toleration_seconds": 3}]}  # fmt: skip
    problems = static_problems(params, {"name": "vm", "namespace": "ns"})
    assert "affinity.node_affinity.required_during_scheduling_ignored_during_execution: a Kubernetes type is written as the API writes it: " \
           "requiredDuringSchedulingIgnoredDuringExecution" in problems  # fmt: skip
    assert "tolerations[0].toleration_seconds: a Kubernetes type is written as the API writes it: tolerationSeconds" in problems
    cls = {"cpu": {"type": "Discovery", "discovery": {"node_selector": {"match_labels": {"a": "b"}}}}, "node_selector": {"matchLabels": {}}}
    assert spelling_problems(cls) == ["cpu.discovery.node_selector.match_labels: a Kubernetes type is written as the API writes it: matchLabels"]
