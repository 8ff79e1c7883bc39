"""Verify of the `node_maintenance` scenario: the role took worker-0, then worker-1 through maintenance. While the
play's task file and handler ran, each node was cordoned with no VM running on it (ConfigMap maintenance-log, written
by them); every VM live-migrated (the platform's Evict operations, Completed) and never stopped; both nodes are
schedulable and Ready again; each VM runs once, where the API says."""

from __future__ import annotations

import json

NAMESPACE = "node-maintenance"
VMS = ["app-0", "app-1"]
NODES = ["worker-0", "worker-1"]


def test_the_plays_tasks_ran_on_each_drained_node(platform):
    data = platform.get("configmap", "maintenance-log", NAMESPACE)["data"]
    for node in NODES:
        assert json.loads(data[node]) == {"unschedulable": True, "running_vm_pods": 0}, (node, data)
        assert data[f"{node}.handler"] == "ran", (node, data)


def test_every_vm_live_migrated_and_never_stopped(platform):
    operations = platform.items("vmop", NAMESPACE)
    evicted = [op["spec"]["virtualMachineName"] for op in operations if op["spec"]["type"] == "Evict" and op["status"]["phase"] == "Completed"]
    for name in VMS:
        assert name in evicted, (name, evicted)
        status = platform.get("vm", name, NAMESPACE)["status"]
        assert status["phase"] == "Running", (name, status.get("phase"))
        phases = [t["phase"] for t in status["stats"]["phasesTransitions"]]
        assert set(phases[phases.index("Running"):]) == {"Running", "Migrating"}, (name, phases)


def test_each_vm_runs_once_where_the_api_says(platform):
    domains = platform.domains()
    for name in VMS:
        where = [node for node, names in domains.items() if f"{NAMESPACE}_{name}" in names]
        assert where == [platform.get("vm", name, NAMESPACE)["status"]["nodeName"]], (name, domains)


def test_the_nodes_are_back_in_service(platform):
    for node in NODES:
        assert not platform.get("node", node)["spec"].get("unschedulable"), f"{node} is still cordoned"
        assert platform.node_ready(node), node
