"""controllers/nodegroup.py's pure parts: the type and fencing labels a NodeGroup puts on its nodes, and the NodeGroups made
from a topology's group labels."""

from __future__ import annotations

from dvp_simulator.api.admission import Admission
from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.controllers import nodegroup
from dvp_simulator.nodes.topology import parse
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Store
from dvp_simulator.webhooks import nodegroup as nodegroup_webhook

ENABLED, MODE = "node-manager.deckhouse.io/fencing-enabled", "node-manager.deckhouse.io/fencing-mode"
TYPE = "node.deckhouse.io/type"


def test_a_groups_type_and_fencing_become_its_nodes_labels_and_fencing_goes_with_it():
    watchdog = {"spec": {"nodeType": "Static", "fencing": {"mode": "Watchdog"}}}
    assert nodegroup.group_labels(watchdog) == {TYPE: "Static", ENABLED: "", MODE: "Watchdog"}
    assert nodegroup.group_labels({"spec": {"nodeType": "CloudEphemeral"}}) == {TYPE: "CloudEphemeral"}
    assert nodegroup.group_labels(None) == {}
    labels = {"kubernetes.io/hostname": "a", TYPE: "Static", ENABLED: "", MODE: "Notify"}
    wanted = {TYPE: "CloudStatic", ENABLED: "", MODE: "Watchdog"}
    assert nodegroup.relabelled(labels, wanted) == {"kubernetes.io/hostname": "a", **wanted}
    assert nodegroup.relabelled(labels, {TYPE: "Static"}) == {"kubernetes.io/hostname": "a", TYPE: "Static"}


def test_seed_makes_a_static_group_per_label_and_keeps_one_already_stored():
    topology = parse(
        {
            "nodes": [
                {"name": "w-0", "labels": {"node.deckhouse.io/group": "worker"}, "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi"},
                {"name": "w-1", "labels": {"node.deckhouse.io/group": "worker"}, "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi",
                 "fencing": {"enabled": True, "mode": "Notify"}},
                {"name": "solo", "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi"},
            ]
        }
    )  # fmt: skip
    registry = build_registry()
    service = ObjectService(registry, Store(None), Clock(scale=1.0), Admission())
    nodegroup.seed(service, topology)
    rt = registry.types[nodegroup.NODEGROUPS]
    [made] = service.store.list(nodegroup.NODEGROUPS)
    assert made.obj["metadata"]["name"] == "worker" and made.obj["spec"] == {"nodeType": "Static", "fencing": {"mode": "Notify"}}
    changed = {**made.obj, "spec": {"nodeType": "Static"}}
    service.update(rt, "", "worker", changed, WriteOptions(version="v1", manager="admin"))
    nodegroup.seed(service, topology)  # a restart: the admin's change stays
    assert service.find(rt, "", "worker")["spec"] == {"nodeType": "Static"}


def test_node_managers_webhook_keeps_the_node_type_and_the_names_it_allows():
    static = {"metadata": {"name": "worker"}, "spec": {"nodeType": "Static"}}
    assert nodegroup_webhook.nodegroup_errors(static, None) == []
    assert nodegroup_webhook.nodegroup_errors(static, static) == []
    cloud = {**static, "spec": {"nodeType": "CloudStatic"}}
    assert nodegroup_webhook.nodegroup_errors(cloud, static) == ["spec.nodeType: Forbidden: nodeType is immutable"]
    long = {"metadata": {"name": "g" * 43}, "spec": {"nodeType": "Static", "cloudInstances": {}}}
    assert nodegroup_webhook.nodegroup_errors(long, None) == [
        f'metadata.name: Invalid value: "{"g" * 43}": name must be no more than 42 characters, got 43',
        "spec.cloudInstances: Forbidden: cloudInstances must not be set for nodeType Static",
    ]
    ephemeral = {"metadata": {"name": "w"}, "spec": {"nodeType": "CloudEphemeral"}}
    assert nodegroup_webhook.nodegroup_errors(ephemeral, None) == [
        "spec.cloudInstances: Required value: cloudInstances is required for nodeType CloudEphemeral"
    ]


def test_seed_skips_a_group_label_no_nodegroup_can_be_named_after():
    topology = parse({"nodes": [{"name": "w-0", "labels": {"node.deckhouse.io/group": "g" * 50}, "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi"}]})
    registry = build_registry()
    admission = Admission()
    nodegroup_webhook.register(admission)
    service = ObjectService(registry, Store(None), Clock(scale=1.0), admission)
    nodegroup.seed(service, topology)  # logged, not raised: the simulator still starts
    assert service.store.list(nodegroup.NODEGROUPS) == []


def test_a_node_template_is_applied_and_what_it_no_longer_has_taken_away():
    group = {
        "metadata": {"name": "worker"},
        "spec": {"nodeType": "Static", "nodeTemplate": {"labels": {"tier": "vm"}, "taints": [{"key": "dedicated", "value": "vm", "effect": "NoSchedule"}]}},
    }
    node = {
        "metadata": {"name": "w-0", "labels": {"node.deckhouse.io/group": "worker", "mine": "1"}},
        "spec": {"taints": [{"key": "node.deckhouse.io/uninitialized", "effect": "NoSchedule"}, {"key": "other", "effect": "NoExecute"}]},
    }
    first = nodegroup.templated(node, group)
    assert first["labels"] == {"node.deckhouse.io/group": "worker", "mine": "1", "tier": "vm", TYPE: "Static", "node-role.kubernetes.io/worker": ""}
    assert first["taints"] == [{"key": "other", "effect": "NoExecute"}, {"key": "dedicated", "value": "vm", "effect": "NoSchedule"}], "uninitialized gone"
    assert first["annotations"]["node-manager.deckhouse.io/last-applied-node-template"] == (
        '{"annotations":{},"labels":{"tier":"vm"},"taints":[{"key":"dedicated","value":"vm","effect":"NoSchedule"}]}'
    )
    assert first["annotations"]["cluster-autoscaler.kubernetes.io/scale-down-disabled"] == "true"
    applied = {"metadata": {**node["metadata"], "labels": first["labels"], "annotations": first["annotations"]}, "spec": {"taints": first["taints"]}}
    assert nodegroup.templated(applied, group) == first, "applied once: nothing more to do"
    emptied = {**group, "spec": {"nodeType": "Static", "nodeTemplate": {"labels": {}}}}
    second = nodegroup.templated(applied, emptied)
    assert "tier" not in second["labels"] and second["labels"]["mine"] == "1", "only what the template had is taken away"
    assert second["taints"] == [{"key": "other", "effect": "NoExecute"}]
    ephemeral = {"metadata": {"name": "cloud"}, "spec": {"nodeType": "CloudEphemeral", "nodeTemplate": {"labels": {"tier": "vm"}}}}
    assert "tier" not in nodegroup.templated(node, ephemeral)["labels"], "a CloudEphemeral group's machines get it when made"
    master = nodegroup.templated({"metadata": {"name": "m", "labels": {}}}, {"metadata": {"name": "master"}, "spec": {"nodeType": "Static"}})
    assert {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} <= set(master["labels"])
