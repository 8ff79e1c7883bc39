"""Placement over numpy columns (scheduler/columns.py) gives what the general path gives: the same Decision (node,
feasible nodes, every score) and the same round-robin start for the next pod, on random clusters and sequences of
placements with pods bound in between; and it declines (the general path answers) whenever a node is not plain."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dvp_simulator.controllers.vm import NODES, PODS, NodeStates, nodes_to_find
from dvp_simulator.scheduler import pod_request_from_pod
from dvp_simulator.scheduler.columns import Columns
from dvp_simulator.store.store import ADDED, MODIFIED, NODE_NAME, Store

SELECTOR_MISS = "node(s) didn't match the VirtualMachineClass node selector"


def node(name, millicores, mebibytes, cordoned=False, taint=False, ready=True):
    spec = {"unschedulable": True} if cordoned else {}
    if taint:
        spec["taints"] = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]
    return {
        "metadata": {"name": name},
        "spec": spec,
        "status": {
            "allocatable": {"cpu": f"{millicores}m", "memory": f"{mebibytes}Mi"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name, node_name, millicores, mebibytes):
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "resources": {"requests": {"cpu": f"{millicores}m", "memory": f"{mebibytes}Mi"}}}]},
        "status": {"phase": "Running"},
    }


def cluster(sizes):
    store = Store(None)
    store.add_index(PODS, NODE_NAME, lambda o: [o.get("spec", {}).get("nodeName", "")])
    for i, (cpu, mem, used_cpu, used_mem) in enumerate(sizes):
        store.put(NODES, node(f"n{i:03d}", cpu, mem), ADDED)
        if used_cpu or used_mem:
            store.put(PODS, pod(f"used-{i}", f"n{i:03d}", used_cpu, used_mem), ADDED)
    return store


def sides(store):
    """Two caches of the same store: one placing through the general path, one through the columns."""
    return NodeStates(store), NodeStates(store)


# (allocatable millicores, MiB, used millicores, MiB): mostly roomy nodes, so that 100 feasible ones are usually found
# past some that are not (the search's later chunks); their figures vary freely, so do the scores' roundings
roomy = st.tuples(st.integers(8000, 64000), st.integers(16384, 262144), st.integers(0, 6000), st.integers(0, 20000))
# round figures: fractions such as 0.3 and 0.5, whose scores sit exactly on an integer before truncation
nice = st.tuples(
    st.sampled_from([1000, 2000, 4000, 10000]),
    st.sampled_from([1024, 4096, 10240]),
    st.integers(0, 10).map(lambda x: x * 100),
    st.integers(0, 8).map(lambda x: x * 512),
)
tight = st.tuples(st.sampled_from([0, 1000, 2000]), st.sampled_from([0, 1024, 2048]), st.integers(0, 2000), st.integers(0, 2048))
nodes_st = st.lists(st.one_of(roomy, roomy, nice, nice, tight), min_size=100, max_size=180)
pods_st = st.lists(
    st.tuples(st.one_of(st.integers(0, 3000), st.sampled_from([100, 500])), st.one_of(st.integers(0, 4096), st.sampled_from([512, 1024]))),
    min_size=1,
    max_size=6,
)


@settings(max_examples=120, deadline=None)
# a score exactly on an integer before truncation: 100 x (1 - |0.4 - 0.5| / 2) is 95.0 in float64, off by one if
# the columns computed it in another order
@example([(1000, 1024, 300, 0)] * 150, [(100, 512)], set(), 0, False, False)
@given(nodes_st, pods_st, st.sets(st.integers(0, 179), max_size=40), st.integers(0, 500), st.booleans(), st.booleans())
def test_columns_place_as_the_general_path(sizes, requests, excluded, start, bind, odd):
    store = cluster(sizes)
    general, columns = sides(store)
    general.next_start = columns.next_start = start
    names = {f"n{i:03d}" for i in range(len(sizes))}
    allowed = names - {f"n{i:03d}" for i in excluded}

    def class_filter(n):
        return None if n.name in allowed else SELECTOR_MISS

    for k, (cpu, mem) in enumerate(requests):
        if odd and k == 1:  # a node cordoned midway: the columns decline from then on, the outcome stays the same
            store.put(NODES, node("n050", 4000, 8192, cordoned=True), MODIFIED)
        request = pod_request_from_pod(pod(f"p{k}", "", cpu, mem))
        want = general.place(request, class_filter)
        got = columns.place(request, class_filter, (("class", len(allowed)), allowed))
        assert (got.node, got.message, got.feasible, got.scores) == (want.node, want.message, want.feasible, want.scores)
        assert columns.next_start == general.next_start
        if bind and want.node:
            store.put(PODS, pod(f"p{k}", want.node, cpu, mem), ADDED)


def test_the_columns_answer_when_every_node_is_plain_and_decline_otherwise():
    store = cluster([(4000, 8192, i * 10, 0) for i in range(200)])
    states = NodeStates(store)
    listed = states.all()
    cols = Columns(listed)
    request = pod_request_from_pod(pod("p", "", 500, 1024))
    everyone = cols.mask("all", {s.name for s in listed})
    decision, seen = cols.place(request, everyone, 0, nodes_to_find(200))
    assert seen == 100 and decision.node == "n000" and len(decision.feasible) == 100, "the least used of the first 100"
    none_fit, seen = cols.place(pod_request_from_pod(pod("big", "", 8000, 1024)), everyone, 0, 100)
    assert none_fit is None and seen == 200, "nothing fits: the caller schedules over every node for the message"
    for odd in (node("n007", 4000, 8192, cordoned=True), node("n007", 4000, 8192, taint=True), node("n007", 4000, 8192, ready=False)):
        store.put(NODES, odd, MODIFIED)
        states.all()
        cols.update(7, {s.name: s for s in states.all()}["n007"])
        assert cols.place(request, everyone, 0, 100) is None, odd["spec"] or "NotReady"
    store.put(NODES, node("n007", 4000, 8192), MODIFIED)
    cols.update(7, {s.name: s for s in states.all()}["n007"])
    assert cols.place(request, everyone, 0, 100) is not None, "plain again"


def test_a_plain_pod_in_a_large_cluster_is_placed_over_the_columns():
    store = cluster([(4000, 8192, 0, 0)] * 300)
    states = NodeStates(store)
    request = pod_request_from_pod(pod("p", "", 500, 1024))
    everyone = {f"n{i:03d}" for i in range(300)}
    first = states.place(request, lambda n: None, ("k", everyone))
    assert states.columns is not None and first.node == "n000" and len(first.feasible) == 144
    store.put(PODS, pod("p", "n000", 500, 1024), ADDED)
    second = states.place(request, lambda n: None, ("k", everyone))
    assert second.node == "n144", "round robin: the next search starts where the last one stopped"
    assert states.columns.req_cpu[0] == 500, "a bound pod reaches the columns through the cache's refresh"
