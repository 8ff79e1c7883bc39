"""The VM controller's cache of the scheduler's node view: rebuilt only for nodes whose Node or pods were written."""

from dvp_simulator.controllers.vm import NODES, PODS, NodeStates
from dvp_simulator.store.store import ADDED, MODIFIED, NODE_NAME, Store


def node(name, cpu="4"):
    return {
        "metadata": {"name": name},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(name, node_name, cpu="500m"):
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]},
        "status": {"phase": "Running"},
    }


def test_a_write_refreshes_only_its_node():
    store = Store(None)
    store.add_index(PODS, NODE_NAME, lambda o: [o.get("spec", {}).get("nodeName", "")])
    for name in ("a", "b"):
        store.put(NODES, node(name), ADDED)
    states = NodeStates(store)
    first = {s.name: s for s in states.all()}
    assert first["a"].requested_cpu_milli == 0
    store.put(PODS, pod("p1", "a"), ADDED)
    second = {s.name: s for s in states.all()}
    assert second["a"].requested_cpu_milli == 500, "the pod's node is rebuilt at once"
    assert second["b"] is first["b"], "other nodes come from the cache"
    store.put(NODES, node("b", cpu="8"), MODIFIED)
    assert {s.name: s for s in states.all()}["b"].allocatable_cpu_milli == 8000
    store.remove(PODS, "ns", "p1")
    assert {s.name: s for s in states.all()}["a"].requested_cpu_milli == 0
