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


def store_with(*names):
    """A store with the pods-by-node index the VM controller registers, and these nodes."""
    store = Store(None)
    store.add_index(PODS, NODE_NAME, lambda o: [o.get("spec", {}).get("nodeName", "")])
    for name in names:
        store.put(NODES, node(name), ADDED)
    return store


def test_a_write_refreshes_only_its_node():
    store = store_with("a", "b")
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


def test_nodes_to_find_is_kube_schedulers_adaptive_percentage():
    from dvp_simulator.controllers.vm import nodes_to_find

    assert [nodes_to_find(n) for n in (5, 99, 100, 200, 1000, 5000, 10000)] == [5, 99, 100, 100, 420, 500, 500]


def test_place_scores_a_round_robin_sample_in_a_large_cluster_and_all_nodes_when_few_fit():
    from dvp_simulator.scheduler import pod_request_from_pod

    store = Store(None)
    for i in range(300):
        store.put(NODES, node(f"n{i:03d}"), ADDED)
    states = NodeStates(store)
    request = pod_request_from_pod(pod("p", ""))
    first = states.place(request, None)
    assert len(first.feasible) == 144 and first.node == "n000", "300 nodes: the first 48% found are scored"
    second = states.place(request, None)
    assert second.feasible[0] == "n144" and second.node == "n144", "the next placement starts where the last stopped"
    only = {"n007", "n250"}
    third = states.place(request, lambda n: None if n.name in only else "node(s) didn't match the VirtualMachineClass node selector")
    assert set(third.feasible) == only and third.node == "n007", "fewer than 144 fit: every node is filtered, as before"
    none = states.place(request, lambda n: "node(s) didn't match the VirtualMachineClass node selector")
    assert none.node is None and none.message.startswith("0/300 nodes are available")


def test_the_list_follows_nodes_coming_and_going_and_is_the_callers_to_keep():
    from dvp_simulator.store.store import DELETED

    store = store_with("b", "d")
    states = NodeStates(store)
    first = states.all()
    assert [s.name for s in first] == ["b", "d"]
    first.reverse()  # a caller reordering its list does not reorder the cache
    store.put(NODES, node("a"), ADDED)
    store.put(NODES, node("c"), ADDED)
    assert [s.name for s in states.all()] == ["a", "b", "c", "d"], "new nodes in key order"
    store.put(PODS, pod("p1", "c"), ADDED)
    store.put(NODES, node("d", cpu="16"), MODIFIED)
    after = {s.name: s for s in states.all()}
    assert after["c"].requested_cpu_milli == 500 and after["d"].allocatable_cpu_milli == 16000
    store.remove(NODES, "", "b")
    assert [s.name for s in states.all()] == ["a", "c", "d"], f"a deleted node leaves the list ({DELETED})"


def test_existing_required_anti_affinity_is_known_without_a_walk():
    store = store_with("a", "b")
    states = NodeStates(store)
    states.all()
    assert not states.any_pod_anti_affinity()
    lonely = pod("lonely", "b")
    lonely["spec"]["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]
        }
    }
    store.put(PODS, lonely, ADDED)
    states.all()
    assert states.any_pod_anti_affinity()
    store.remove(PODS, "ns", "lonely")
    states.all()
    assert not states.any_pod_anti_affinity()
    store.put(PODS, lonely, ADDED)
    store.remove(NODES, "", "b")  # the pod's node gone: its pods no longer count
    states.all()
    assert not states.any_pod_anti_affinity()


def test_each_pods_share_is_read_once_per_version_and_the_states_stay_those_made_from_scratch(monkeypatch):
    """A node's state is made again after every write to one of its pods; each pod's requests are read once per
    version of the pod (within its write, once its node's state was made), and the states are those node_state makes
    from the stored objects."""
    import random

    from dvp_simulator.controllers import vm as vm_controller
    from dvp_simulator.scheduler import node_state
    from dvp_simulator.store.store import DELETED

    reads = []
    original = vm_controller.pod_share
    monkeypatch.setattr(vm_controller, "pod_share", lambda obj: reads.append(obj["metadata"]["name"]) or original(obj))
    store = store_with("a", "b", "c")
    states = NodeStates(store)
    rng = random.Random(7)
    live: dict[str, str] = {}
    for step in range(400):
        name = f"p{rng.randrange(40)}"
        if name in live and rng.random() < 0.3:
            store.remove(PODS, "ns", name)
            del live[name]
        else:
            node_name = live.get(name) or rng.choice("abc")  # a bound pod stays on its node
            p = pod(name, node_name, cpu=f"{rng.randrange(1, 9) * 100}m")
            p["metadata"]["labels"] = {"step": str(step)}
            if rng.random() < 0.2:
                p["status"]["phase"] = rng.choice(["Succeeded", "Failed"])  # terminal pods hold nothing
            store.put(PODS, p, MODIFIED if name in live else ADDED)
            live[name] = node_name
        assert len(reads) <= 1, f"only the version just written is read ({reads})"
        got = {s.name: s for s in states.all()}
        assert len(reads) <= 1, f"only the version just written is read ({reads})"
        reads.clear()
        for entry in store.list(NODES):
            pods = [e.obj for e in store.by_index(PODS, NODE_NAME, entry.name)]
            assert got[entry.name] == node_state(entry.obj, pods), f"step {step}: node {entry.name}"
    kept = {key for on_node in states.shares.values() for key in on_node}
    assert kept == {("ns", name) for name in live}, f"a deleted pod's share is dropped ({DELETED})"
    store.remove(NODES, "", "a")
    assert "a" not in states.shares, "a deleted node's pods are forgotten"
