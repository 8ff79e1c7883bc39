"""The simulator's scheduler (dvp_simulator.scheduler): each filter with kube-scheduler's reason text, the
failure message, scores and the API-object helpers. Pure functions over hand-built nodes."""

from dataclasses import replace

import pytest

from dvp_simulator.scheduler import NO_NODES, NodeState, PodRequest, node_state, pod_request_from_pod, schedule
from dvp_simulator.scheduler.core import failure_message, tolerates

GI = 1024**3
HOST = "kubernetes.io/hostname"


def node(name, labels=None, cpu=4000, mem=8 * GI, **kw):
    return NodeState(
        name=name, labels={HOST: name, **(labels or {})}, taints=kw.pop("taints", []), unschedulable=kw.pop("unschedulable", False),
        ready=kw.pop("ready", True), allocatable_cpu_milli=cpu, allocatable_memory=mem,
        requested_cpu_milli=kw.pop("used_cpu", 0), requested_memory=kw.pop("used_mem", 0), pods=kw.pop("pods", ()), **kw,
    )  # fmt: skip


def pod(cpu=1000, mem=GI, ns="vms", labels=None, **kw):
    return PodRequest(
        namespace=ns, labels=labels or {"app": "web"}, cpu_milli=cpu, memory=mem, node_selector=kw.get("node_selector", {}),
        affinity=kw.get("affinity", {}), tolerations=kw.get("tolerations", []),
    )  # fmt: skip


def term(*exprs, fields=()):
    return {"matchExpressions": list(exprs), "matchFields": list(fields)}


def expr(key, op, *values):
    return {"key": key, "operator": op, "values": list(values)} if values else {"key": key, "operator": op}


def required_node_affinity(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def anti(labels, key=HOST, preferred=False, weight=100):
    t = {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
    if preferred:
        return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": t}]}}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}}


def test_fits_and_lists_every_feasible_node():
    d = schedule(pod(), [node("b"), node("a")])
    assert d.node == "a" and d.feasible == ("a", "b") and d.message == ""  # equal scores: smallest name


def test_message_format_as_kube_scheduler():
    nodes = [
        node("n1", {"zone": "a"}, unschedulable=True),
        node("n2", {"zone": "a"}, cpu=500), node("n3", {"zone": "a"}, cpu=500),
        node("n4", labels={"zone": "b"}), node("n5", labels={"zone": "b"}),
    ]  # fmt: skip
    d = schedule(pod(node_selector={"zone": "a"}), nodes)
    assert d.node is None and d.feasible == ()
    assert d.message == "0/5 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."


def test_no_nodes():
    assert schedule(pod(), []).message == NO_NODES
    assert (
        failure_message(2, ["Insufficient cpu", "Insufficient memory", "Insufficient cpu"])
        == "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."
    )


def test_cordoned_node_is_skipped_unless_tolerated():
    nodes = [node("a", unschedulable=True), node("b", used_cpu=3000)]
    assert schedule(pod(), nodes).node == "b"
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert schedule(pod(tolerations=tol), nodes).node == "a"


def test_not_ready_node_fails_as_the_not_ready_taint():
    d = schedule(pod(), [node("a", ready=False)])
    assert d.message == "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."


@pytest.mark.parametrize(
    "taint,tolerations,ok",
    [
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [], False),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, [], False),
        ({"key": "k", "value": "v", "effect": "PreferNoSchedule"}, [], True),
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}], True),
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "k", "value": "v"}], True),  # Equal by default, any effect
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "k", "operator": "Equal", "value": "w"}], False),
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "k", "operator": "Exists"}], True),
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "k", "operator": "Exists", "effect": "NoExecute"}], False),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, [{"operator": "Exists"}], True),  # empty key + Exists: everything
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "other", "operator": "Exists"}], False),
    ],
)
def test_taints_and_tolerations(taint, tolerations, ok):
    d = schedule(pod(tolerations=tolerations), [node("a", taints=[taint])])
    assert (d.node == "a") is ok
    if not ok:
        assert d.message == "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}."


def test_first_untolerated_taint_is_named():
    taints = [{"key": "dedicated", "value": "", "effect": "NoSchedule"}, {"key": "x", "value": "y", "effect": "NoSchedule"}]
    assert schedule(pod(), [node("a", taints=taints)]).message.endswith("1 node(s) had untolerated taint {dedicated: }.")
    assert tolerates({"operator": "Exists"}, taints[1])


@pytest.mark.parametrize(
    "requirement,matches",
    [
        (expr("zone", "In", "a", "b"), {"n-a", "n-b"}),
        (expr("zone", "In", "a"), {"n-a"}),
        (expr("zone", "NotIn", "a"), {"n-b", "n-none"}),  # NotIn matches nodes without the label
        (expr("zone", "Exists"), {"n-a", "n-b"}),
        (expr("zone", "DoesNotExist"), {"n-none"}),
        (expr("gen", "Gt", "3"), {"n-b"}),
        (expr("gen", "Lt", "4"), {"n-a"}),
        (expr("gen", "Gt", "x"), set()),  # not an integer: matches nothing
    ],
)
def test_required_node_affinity_operators(requirement, matches):
    nodes = [node("n-a", {"zone": "a", "gen": "3"}), node("n-b", {"zone": "b", "gen": "5"}), node("n-none")]
    d = schedule(pod(affinity=required_node_affinity(term(requirement))), nodes)
    assert set(d.feasible) == matches
    if not matches:
        assert d.message == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def test_node_affinity_terms_are_ored_and_match_fields_by_name():
    nodes = [node("n1", {"zone": "a"}), node("n2"), node("n3")]
    aff = required_node_affinity(term(expr("zone", "In", "a")), term(fields=[expr("metadata.name", "In", "n3")]))
    assert schedule(pod(affinity=aff), nodes).feasible == ("n1", "n3")
    empty = required_node_affinity({})  # an empty term matches no node
    assert schedule(pod(affinity=empty), nodes).feasible == ()


def test_node_selector_and_affinity_both_apply():
    nodes = [node("n1", {"zone": "a", "disk": "ssd"}), node("n2", {"zone": "a"})]
    d = schedule(pod(node_selector={"zone": "a"}, affinity=required_node_affinity(term(expr("disk", "Exists")))), nodes)
    assert d.feasible == ("n1",)


def test_resources_against_allocatable():
    nodes = [node("a", cpu=2000, used_cpu=1500), node("b", mem=2 * GI, used_mem=GI + 1), node("c", cpu=1000, mem=GI)]
    d = schedule(pod(cpu=1000, mem=GI), nodes)
    assert d.feasible == ("c",)  # exactly full is still a fit
    d = schedule(pod(cpu=1001, mem=GI + 1), nodes)
    assert d.message == "0/3 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."  # c lacks both


def test_extra_filter_reason_is_counted():
    def only_blue(n):
        return None if n.labels.get("color") == "blue" else "node(s) are not in the VirtualMachineClass's available nodes"

    nodes = [node("a", {"color": "blue"}), node("b"), node("c")]
    assert schedule(pod(), nodes, only_blue).feasible == ("a",)
    d = schedule(pod(), nodes[1:], only_blue)
    assert d.message == "0/2 nodes are available: 2 node(s) are not in the VirtualMachineClass's available nodes."


def test_required_anti_affinity_spreads_two_pods():
    p = pod(affinity=anti({"app": "web"}))
    nodes = [node("a"), node("b")]
    first = schedule(p, nodes)
    assert first.node == "a"
    nodes = [replace(nodes[0], pods=(("vms", {"app": "web"}),), requested_cpu_milli=1000, requested_memory=GI), nodes[1]]
    assert schedule(p, nodes).node == "b"
    full = [replace(n, pods=(("vms", {"app": "web"}),)) for n in nodes]
    assert schedule(p, full).message == "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
    # another namespace's pods do not count (the term's namespaces default to the pod's own)
    assert schedule(replace(p, namespace="other"), full).feasible == ("a", "b")


def test_anti_affinity_by_zone_topology():
    nodes = [node("a1", {"zone": "a"}, pods=(("vms", {"app": "web"}),)), node("a2", {"zone": "a"}), node("b1", {"zone": "b"})]
    assert schedule(pod(affinity=anti({"app": "web"}, key="zone")), nodes).feasible == ("b1",)


def test_preferred_anti_affinity_spreads_by_score():
    nodes = [node("a", pods=(("vms", {"app": "web"}),), used_cpu=1000, used_mem=GI), node("b", cpu=2000, mem=4 * GI)]
    d = schedule(pod(affinity=anti({"app": "web"}, preferred=True)), nodes)
    assert d.node == "b" and d.feasible == ("a", "b")  # preferred: both feasible, b wins despite fewer free resources
    assert schedule(pod(), nodes).node == "a"  # without it the emptier node wins


def test_required_pod_affinity():
    db = {"app": "db"}
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": db}, "topologyKey": "zone"}]}}
    nodes = [node("a1", {"zone": "a"}), node("a2", {"zone": "a"}, pods=(("vms", db),)), node("b1", {"zone": "b"}), node("x")]
    d = schedule(pod(affinity=aff), nodes)
    assert d.feasible == ("a1", "a2")
    assert d.message == ""
    d = schedule(pod(affinity=aff), nodes[2:])
    assert d.message == "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."
    # the first pod of a self-affine group may go to any node that has the topology key
    assert schedule(pod(labels=db, affinity=aff), nodes[2:]).feasible == ("b1",)


def test_pod_affinity_namespaces():
    sel = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST}
    nodes = [node("a", {"team": "x"}, pods=(("data", {"app": "db"}),)), node("b")]

    def req(**extra):
        return pod(affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{**sel, **extra}]}})

    assert schedule(req(), nodes).feasible == ()  # own namespace only
    assert schedule(req(namespaces=["data"]), nodes).feasible == ("a",)
    assert schedule(req(namespaceSelector={}), nodes).feasible == ("a",)  # {} = every namespace
    labels = {"data": {"tier": "storage"}}
    assert schedule(req(namespaceSelector={"matchLabels": {"tier": "storage"}}), nodes, namespace_labels=labels).feasible == ("a",)
    assert schedule(req(labelSelector=None), nodes).feasible == ()  # nil selector matches nothing


def test_match_label_keys():
    aff = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["rev"], "topologyKey": HOST}]}}  # fmt: skip
    nodes = [node("a", pods=(("vms", {"app": "web", "rev": "1"}),)), node("b", pods=(("vms", {"app": "web", "rev": "2"}),))]
    assert schedule(pod(labels={"app": "web", "rev": "2"}, affinity=aff), nodes).feasible == ("a",)


def test_existing_pods_anti_affinity_is_symmetric():
    existing = (("vms", ({"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": HOST},)),)
    nodes = [node("a", pods=(("vms", {"app": "lonely"}),), pod_anti_affinity=existing), node("b", cpu=1000)]
    d = schedule(pod(), nodes)
    assert d.feasible == ("b",)
    d = schedule(pod(), nodes[:1])
    assert d.message == "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."


def test_preferred_node_affinity_weights():
    pref = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": term(expr("disk", "In", "ssd"))},
        {"weight": 50, "preference": term(expr("gpu", "Exists"))}]}}  # fmt: skip
    nodes = [node("a"), node("b", {"disk": "ssd"}), node("c", {"gpu": "1"})]
    d = schedule(pod(affinity=pref), nodes)
    assert d.node == "c" and [n for n, _unused in d.scores] == ["c", "b", "a"]


def test_prefer_no_schedule_taint_lowers_the_score():
    nodes = [node("a", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]), node("b")]
    assert schedule(pod(), nodes).node == "b"
    assert schedule(pod(tolerations=[{"key": "k", "operator": "Exists"}]), nodes).node == "a"


def test_least_allocated_and_balanced():
    nodes = [node("busy", used_cpu=3000, used_mem=6 * GI), node("idle")]
    assert schedule(pod(), nodes).node == "idle"
    # same free share, but one node would be lopsided (cpu full, memory empty): the balanced one wins
    nodes = [node("lopsided", cpu=2000, mem=16 * GI, used_cpu=1000), node("even", cpu=4000, mem=8 * GI, used_cpu=1000, used_mem=2 * GI)]
    scores = dict(schedule(pod(), nodes).scores)
    assert scores["even"] > scores["lopsided"]


def test_deterministic_for_equal_nodes():
    nodes = [node(f"n{i}") for i in (3, 1, 2)]
    assert {schedule(pod(), nodes).node for _unused in range(5)} == {"n1"}


def test_from_api_objects():
    p = {
        "metadata": {"name": "virt-launcher-vm-abc", "namespace": "vms", "labels": {"vm": "x"}},
        "spec": {
            "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}, {"resources": {"requests": {"cpu": "0.1", "memory": "40Mi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "10Mi"}}}],
            "overhead": {"memory": "8Mi"},
            "nodeSelector": {"zone": "a"},
            "tolerations": [{"operator": "Exists"}],
        },
    }
    r = pod_request_from_pod(p)
    assert (r.namespace, r.labels, r.cpu_milli, r.memory) == ("vms", {"vm": "x"}, 2000, GI + 48 * 1024**2)
    assert r.node_selector == {"zone": "a"} and r.tolerations == [{"operator": "Exists"}] and r.affinity == {}
    n = {
        "metadata": {"name": "w1", "labels": {HOST: "w1"}},
        "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    anti_pod = {"metadata": {"namespace": "vms", "labels": {"a": "b"}}, "spec": {"affinity": anti({"app": "web"}),
                "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}  # fmt: skip
    done = {"metadata": {"namespace": "vms"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "3"}}}]}, "status": {"phase": "Succeeded"}}
    s = node_state(n, [p, anti_pod, done])
    assert (s.name, s.ready, s.unschedulable, s.allocatable_cpu_milli, s.allocatable_memory) == ("w1", True, True, 4000, 8 * GI)
    assert (s.requested_cpu_milli, s.requested_memory) == (3000, 2 * GI + 48 * 1024**2)
    assert s.pods == (("vms", {"vm": "x"}), ("vms", {"a": "b"}))
    assert s.pod_anti_affinity == (("vms", tuple(anti({"app": "web"})["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"])),)
    assert node_state({**n, "status": {"allocatable": {}}}, []).ready is False


# -- scores: the shortcuts for plugins that score every node alike keep kube-scheduler's figures -------------------
def _scores_by_definition(request, nodes):
    """Every plugin's map over every node, normalised and weighted: the definition scores() shortcuts."""
    from ansible_collections.deckhouse.virtualization.plugins.module_utils import scheduling as core

    affinity = core._Affinity(request, nodes, {})
    preferred = ((request.affinity or {}).get("nodeAffinity") or {}).get(core.PREFERRED) or []
    node_aff = core._normalize({n.name: sum(int(p.get("weight") or 0) for p in preferred if core.node_term_matches(p.get("preference"), n)) for n in nodes})
    tolerations = [t for t in request.tolerations if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"]
    taint = core._normalize({n.name: len(core.untolerated(n.taints, tolerations, ("PreferNoSchedule",))) for n in nodes}, reverse=True)
    pod_aff = core._min_max({n.name: affinity.score(n) for n in nodes})
    weights = core.WEIGHTS
    return {
        n.name: weights["NodeAffinity"] * node_aff[n.name]
        + weights["TaintToleration"] * taint[n.name]
        + weights["InterPodAffinity"] * pod_aff[n.name]
        + weights["NodeResourcesFit"] * core._least_allocated(request, n)
        + weights["NodeResourcesBalancedAllocation"] * core._balanced(request, n)
        for n in nodes
    }


def test_scores_equal_the_plugin_by_plugin_definition():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ansible_collections.deckhouse.virtualization.plugins.module_utils import scheduling as core

    soft = {"key": "soft", "value": "x", "effect": "PreferNoSchedule"}
    hard_tolerated = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}
    node_kinds = st.tuples(
        st.sampled_from([(), (soft,), (hard_tolerated,), (soft, hard_tolerated)]),
        st.sampled_from(["a", "b"]),
        st.integers(0, 3900),
        st.integers(0, 7),
        st.sampled_from([(), (("vms", {"app": "web"}),), (("vms", {"app": "db"}),)]),
    )
    preferences = st.sampled_from(
        [
            {},
            {"nodeAffinity": {core.PREFERRED: [{"weight": 30, "preference": term(expr("zone", "In", "a"))}]}},
            {"podAffinity": {core.PREFERRED: [{"weight": 20, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}}]}},
            {"podAntiAffinity": {core.PREFERRED: [{"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST}}]}},
        ]
    )
    tolerations = st.sampled_from([[], [{"key": "gpu", "operator": "Exists"}], [{"key": "soft", "operator": "Exists", "effect": "PreferNoSchedule"}]])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(node_kinds, min_size=0, max_size=12), preferences, tolerations)
    def check(kinds, affinity, tols):
        nodes = [
            node(f"n{i}", labels={"zone": zone}, taints=list(taints), used_cpu=cpu, used_mem=mem * GI, pods=pods)
            for i, (taints, zone, cpu, mem, pods) in enumerate(kinds)
        ]
        request = pod(affinity=affinity, tolerations=tols)
        affinity_state = core._Affinity(request, nodes, {})
        assert core.scores(request, nodes, affinity_state) == _scores_by_definition(request, nodes)

    check()


# -- schedule: the inline check of the common case passes exactly the nodes filter_reasons passes ------------------
def _decision_by_definition(request, nodes, extra_filter):
    """filter_reasons on every node, then the best score (ties by name): the definition schedule() shortcuts."""
    from ansible_collections.deckhouse.virtualization.plugins.module_utils import scheduling as core

    affinity = core._Affinity(request, nodes, {})
    reasons = {n.name: core.filter_reasons(request, n, affinity, extra_filter) for n in nodes}
    feasible = [n for n in nodes if not reasons[n.name]]
    names = tuple(sorted(n.name for n in feasible))
    if not feasible:
        return (None, core.failure_message(len(nodes), [r for n in nodes for r in reasons[n.name]]), names, ())
    ranked = sorted(core.scores(request, feasible, affinity).items(), key=lambda item: (-item[1], item[0]))
    return (ranked[0][0], "", names, tuple(ranked))


def test_schedule_equals_filter_reasons_on_every_node():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ansible_collections.deckhouse.virtualization.plugins.module_utils import scheduling as core

    hard = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}
    node_kinds = st.tuples(
        st.sampled_from([(), (hard,), ({"key": "soft", "effect": "PreferNoSchedule"},)]),
        st.sampled_from(["a", "b"]),
        st.booleans(),  # unschedulable
        st.booleans(),  # ready
        st.integers(0, 4000),
        st.sampled_from([(), (("vms", {"app": "web"}),), (("vms", {"app": "db"}),)]),
        st.sampled_from([(), (("vms", tuple(anti({"app": "web"})["podAntiAffinity"][core.REQUIRED])),)]),
    )
    affinities = st.sampled_from([{}, required_node_affinity(term(expr("zone", "In", "a"))), anti({"app": "db"}), anti({"app": "web"}, key="zone")])
    selectors = st.sampled_from([{}, {"zone": "b"}])
    tolerations = st.sampled_from([[], [{"key": "gpu", "operator": "Exists"}], [{"operator": "Exists"}]])
    extra = st.sampled_from([None, lambda n: "not this one" if n.name == "n1" else None, lambda n: ""])

    @settings(max_examples=400, deadline=None)
    @given(st.lists(node_kinds, min_size=0, max_size=10), affinities, selectors, tolerations, extra, st.integers(500, 3000))
    def check(kinds, affinity, selector, tols, extra_filter, cpu):
        nodes = [
            node(f"n{i}", labels={"zone": zone}, taints=list(taints), unschedulable=off, ready=ready, used_cpu=used, pods=pods, pod_anti_affinity=existing)
            for i, (taints, zone, off, ready, used, pods, existing) in enumerate(kinds)
        ]
        request = pod(cpu=cpu, affinity=affinity, node_selector=selector, tolerations=tols)
        d = schedule(request, nodes, extra_filter)
        assert (d.node, d.message, d.feasible, d.scores) == _decision_by_definition(request, nodes, extra_filter)

    check()
