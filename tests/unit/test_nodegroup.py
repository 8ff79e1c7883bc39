"""controllers/nodegroup.py's pure parts: the fencing labels a NodeGroup puts on its nodes, and the NodeGroups made
from a topology's group labels."""

from __future__ import annotations

from dvp_simulator.api.admission import Admission
from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.controllers import nodegroup
from dvp_simulator.nodes.topology import parse
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Store

ENABLED, MODE = "node-manager.deckhouse.io/fencing-enabled", "node-manager.deckhouse.io/fencing-mode"


def test_a_groups_fencing_becomes_its_nodes_labels_and_goes_with_it():
    watchdog = {"spec": {"nodeType": "Static", "fencing": {"mode": "Watchdog"}}}
    assert nodegroup.fencing_labels(watchdog) == {ENABLED: "", MODE: "Watchdog"}
    assert nodegroup.fencing_labels({"spec": {"nodeType": "Static"}}) == {} and nodegroup.fencing_labels(None) == {}
    labels = {"kubernetes.io/hostname": "a", ENABLED: "", MODE: "Notify"}
    assert nodegroup.relabelled(labels, {ENABLED: "", MODE: "Watchdog"}) == {"kubernetes.io/hostname": "a", ENABLED: "", MODE: "Watchdog"}
    assert nodegroup.relabelled(labels, {}) == {"kubernetes.io/hostname": "a"}


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
