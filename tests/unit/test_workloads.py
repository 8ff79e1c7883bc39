"""The pure parts of Deployments and ReplicaSets: the rolling update's steps (controllers/deployment.py), a
ReplicaSet's counts and the order its surplus pods go in (controllers/replicaset.py), the apps/v1 defaults and rules
(api/workloads.py), ValidatePodSpec's rules (api/pod_spec.py) and the Scale view (api/scale.py)."""

from __future__ import annotations

import copy
import re

import pytest

from dvp_simulator.api import pod_spec, scale, workloads
from dvp_simulator.api.admission import CREATE, UPDATE, AdmissionRequest
from dvp_simulator.api.errors import APIError
from dvp_simulator.clock import Clock
from dvp_simulator.controllers import deployment as d
from dvp_simulator.controllers import replicaset as r


def make_deployment(replicas: int = 4, surge: object = "25%", unavailable: object = "25%") -> dict:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}},
        },
    }


def rs(name: str, replicas: int, available: int | None = None, created: str = "2026-01-01T00:00:00Z") -> dict:
    have = replicas if available is None else available
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": have, "availableReplicas": have},
    }


# -- the rolling update ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [("25%", "25%", 4, (1, 1)), ("25%", "25%", 3, (1, 0)), (0, 0, 3, (0, 1)), ("50%", 1, 5, (3, 1)), (2, "100%", 3, (2, 3))],
)
def test_fenceposts_round_surge_up_and_unavailable_down(surge, unavailable, replicas, expected):
    assert d.fenceposts(make_deployment(replicas, surge, unavailable)) == expected


def test_a_rolling_update_never_exceeds_surge_nor_drops_below_availability():
    """Step the controller's arithmetic as its reconciles would, pods turning available between steps: the totals
    stay within replicas + maxSurge and the available pods at or above replicas - maxUnavailable, until done."""
    deployment = make_deployment(replicas=4)
    old, new = rs("old", 4), rs("new", 0, 0)
    for _step in range(20):
        everything = [old, new]
        total = sum(x["spec"]["replicas"] for x in everything)
        available = sum(x["status"]["availableReplicas"] for x in everything)
        assert total <= 5 and available >= 3
        if new["spec"]["replicas"] == 4 and old["spec"]["replicas"] == 0:
            break
        up = d.new_replicas(deployment, everything, new)
        if up != new["spec"]["replicas"]:
            new = rs("new", up, new["status"]["availableReplicas"])
        else:
            old = rs("old", d.old_scale_down(deployment, everything, new, [old])["old"])
        new = rs("new", new["spec"]["replicas"])  # its pods become available
    else:
        pytest.fail("the rollout did not finish")
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 4)


def test_old_pods_that_are_not_available_go_first():
    deployment = make_deployment(replicas=4)
    broken, healthy = rs("broken", 2, 0, "2026-01-02T00:00:00Z"), rs("healthy", 2, 2, "2026-01-01T00:00:00Z")
    # 5 pods, 3 must stay available, the new one is: both unavailable old pods can go, the available ones stay
    assert d.old_scale_down(deployment, [broken, healthy, rs("new", 1, 1)], rs("new", 1, 1), [broken, healthy]) == {"broken": 0, "healthy": 2}
    # the new pod not available yet counts against the room: one of them only
    assert d.old_scale_down(deployment, [broken, healthy, rs("new", 1, 0)], rs("new", 1, 0), [broken, healthy]) == {"broken": 1, "healthy": 2}


def test_a_scale_down_of_the_deployment_shrinks_the_new_replicaset_at_once():
    assert d.new_replicas(make_deployment(replicas=2), [rs("new", 5)], rs("new", 5)) == 2


def test_template_hash_is_a_stable_label_value_that_ignores_its_own_label():
    template = make_deployment()["spec"]["template"]
    digest = d.template_hash(template)
    labelled = copy.deepcopy(template)
    labelled["metadata"]["labels"]["pod-template-hash"] = digest
    assert d.template_hash(labelled) == digest and re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}", digest)
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "nginx:2"
    assert d.template_hash(changed) != digest
    assert d.without_hash(labelled) == template


def test_complete_needs_every_replica_updated_available_and_the_generation_observed():
    deployment = make_deployment(replicas=2)
    done = {"updatedReplicas": 2, "replicas": 2, "availableReplicas": 2, "observedGeneration": 1}
    assert d.complete(deployment, done)
    for key, value in (("updatedReplicas", 1), ("replicas", 3), ("availableReplicas", 1), ("observedGeneration", 0)):
        assert not d.complete(deployment, {**done, key: value})


def test_conditions_keep_their_transition_time_and_progress_touches_the_update_time():
    first = d.set_condition([], "Progressing", "True", "ReplicaSetUpdated", "m", "T1")
    assert first == [
        {"type": "Progressing", "status": "True", "lastUpdateTime": "T1", "lastTransitionTime": "T1", "reason": "ReplicaSetUpdated", "message": "m"}
    ]
    assert d.set_condition(first, "Progressing", "True", "ReplicaSetUpdated", "m", "T2") is first
    touched = d.set_condition(first, "Progressing", "True", "ReplicaSetUpdated", "m", "T2", touch=True)
    assert (touched[0]["lastUpdateTime"], touched[0]["lastTransitionTime"]) == ("T2", "T1")
    failed = d.set_condition(first, "Progressing", "False", "ProgressDeadlineExceeded", "x", "T3")
    assert failed[0]["lastTransitionTime"] == "T3"
    assert d.progressed({"updatedReplicas": 1}, {"updatedReplicas": 2}) and not d.progressed({"readyReplicas": 2}, {"readyReplicas": 2})


def test_the_new_replicaset_carries_the_hash_the_revision_and_the_owner():
    deployment = make_deployment(replicas=4)
    made = d.new_replicaset(deployment, 3, 2)
    digest = made["metadata"]["labels"]["pod-template-hash"]
    assert made["metadata"]["name"] == f"web-{digest}" and made["spec"]["replicas"] == 2
    assert made["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert made["metadata"]["annotations"] == {d.REVISION: "3", d.DESIRED: "4", d.MAX_REPLICAS: "5"}
    assert made["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u1", "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]  # the Deployment's own is untouched


# -- the ReplicaSet ---------------------------------------------------------------------------------------------------
def pod(name: str, node: str = "n1", phase: str = "Running", ready_at: str | None = "2026-01-01T00:00:00Z", created: str = "2026-01-01T00:00:00Z") -> dict:
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}] if ready_at else [{"type": "Ready", "status": "False"}]
    spec = {"nodeName": node} if node else {}
    return {
        "metadata": {"name": name, "creationTimestamp": created, "labels": {"app": "web"}},
        "spec": spec,
        "status": {"phase": phase, "conditions": conditions},
    }


def test_surplus_pods_go_unbound_first_then_pending_then_not_ready_then_newest():
    pods = [
        pod("ready-old", created="2026-01-01T00:00:00Z"),
        pod("ready-new", ready_at="2026-01-02T00:00:00Z", created="2026-01-02T00:00:00Z"),
        pod("not-ready", ready_at=None),
        pod("pending", phase="Pending", ready_at=None),
        pod("unbound", node="", phase="Pending", ready_at=None),
    ]
    assert [p["metadata"]["name"] for p in sorted(pods, key=r.deletion_rank)] == ["unbound", "pending", "not-ready", "ready-new", "ready-old"]


def test_counts_wait_for_min_ready_seconds():
    now = Clock.parse("2026-01-01T00:00:10Z")
    replicaset = {"metadata": {"generation": 2}, "spec": {"minReadySeconds": 30, "template": {"metadata": {"labels": {"app": "web", "tier": "f"}}}}}
    status, wait = r.counts(replicaset, [pod("a"), pod("b", ready_at=None)], now)
    assert status == {"replicas": 2, "fullyLabeledReplicas": 0, "readyReplicas": 1, "availableReplicas": 0, "observedGeneration": 2}
    assert wait == 20
    replicaset["spec"]["minReadySeconds"] = 0
    assert r.counts(replicaset, [pod("a")], now) == (
        {"replicas": 1, "fullyLabeledReplicas": 0, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 2},
        None,
    )


def test_a_pod_from_the_template_is_the_replicasets():
    replicaset = {
        "metadata": {"name": "web-abc", "namespace": "ns", "uid": "u2"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    made = r.pod_from_template(replicaset)
    assert made["metadata"]["generateName"] == "web-abc-" and made["metadata"]["labels"] == {"app": "web"} and made["metadata"]["annotations"] == {"a": "b"}
    assert made["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" and made["spec"] == replicaset["spec"]["template"]["spec"]
    made["spec"]["containers"][0]["image"] = "changed"
    assert replicaset["spec"]["template"]["spec"]["containers"][0]["image"] == "i"  # a copy


# -- defaults and rules -----------------------------------------------------------------------------------------------
def admit(hook, obj: dict, old: dict | None = None) -> dict:
    request = AdmissionRequest(UPDATE if old else CREATE, None, obj, old, None, False, None, "v1")  # type: ignore[arg-type]
    hook(request)
    return obj


def test_deployment_defaults_are_apps_v1s():
    obj = {"metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    spec = admit(workloads.default_deployment, obj)["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    pod_spec_ = spec["template"]["spec"]
    assert pod_spec_["restartPolicy"] == "Always" and pod_spec_["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "tolerations" not in pod_spec_ and "enableServiceLinks" not in pod_spec_  # a Pod's, not a template's
    recreate = {"metadata": {"name": "x"}, "spec": {"strategy": {"type": "Recreate"}}}
    assert admit(workloads.default_deployment, recreate)["spec"]["strategy"] == {"type": "Recreate"}


def causes_of(hook, obj: dict, old: dict | None = None) -> list[str]:
    try:
        admit(hook, obj, old)
    except APIError as error:
        return [f"{c['field']}: {c['message']}" for c in error.details["causes"]]
    return []


def valid_deployment() -> dict:
    obj = {"metadata": {"name": "x"}, **make_deployment()}
    obj["metadata"] = {"name": "x"}
    return obj


def test_a_valid_deployment_passes_and_a_selector_change_does_not():
    assert causes_of(workloads.validate_deployment, valid_deployment()) == []
    changed = valid_deployment()
    changed["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    [message] = causes_of(workloads.validate_deployment, changed, valid_deployment())
    assert message.startswith('spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}') and message.endswith(
        "field is immutable"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s.update(progressDeadlineSeconds=5, minReadySeconds=5),
            "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
        ),
        (lambda s: s.update(revisionHistoryLimit=-1), "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"),
        (lambda s: s["strategy"].update(type="BlueGreen"), 'spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"'),
        (
            lambda s: s["strategy"]["rollingUpdate"].update(maxUnavailable="120%"),
            'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "120%": must not be greater than 100%',
        ),
        (
            lambda s: s["strategy"]["rollingUpdate"].update(maxSurge=-1),
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
        ),
        (lambda s: s.pop("selector"), "spec.selector: Required value"),
        (
            lambda s: s["template"]["spec"].update(activeDeadlineSeconds=5),
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported",
        ),
        (lambda s: s["template"]["metadata"]["labels"].update({"bad key!": "v"}), "spec.template.metadata.labels: Invalid value: "),
    ],
)
def test_deployment_rules(change, expected):
    obj = valid_deployment()
    change(obj["spec"])
    assert any(m.startswith(expected) for m in causes_of(workloads.validate_deployment, obj)), causes_of(workloads.validate_deployment, obj)


def test_replicaset_rules_share_the_templates():
    obj = {
        "metadata": {"name": "x"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "c"}}, "spec": {}}},
    }
    assert causes_of(workloads.validate_replicaset, obj) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: map[string]string{"a":"c"}: `selector` does not match template `labels`',
        "spec.template.spec.containers: Required value",
    ]


def test_pod_spec_rules_report_under_the_path_given():
    spec = {
        "volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}, "secret": {"secretName": "s"}}],
        "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/a"}], "ports": [{}]}],
        "initContainers": [{"name": "c", "image": "i"}],
    }
    assert [f"{c['field']}: {c['message']}" for c in pod_spec.pod_spec_causes(spec, "spec.template.spec")] == [
        'spec.template.spec.volumes[1].name: Duplicate value: "v"',
        "spec.template.spec.volumes[2]: Forbidden: may not specify more than 1 volume type",
        "spec.template.spec.containers[0].ports[0].containerPort: Required value",
        'spec.template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/a": must be unique',
        'spec.template.spec.initContainers[0].name: Duplicate value: "c"',
    ]
    assert pod_spec.pod_spec_causes({"containers": [{"name": "a" * 64, "image": "i"}]})[0]["message"].endswith("must be no more than 63 characters")


def test_the_scale_of_an_object():
    obj = {
        "metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "7", "creationTimestamp": "T", "labels": {"x": "y"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}},
        "status": {"replicas": 2},
    }
    assert scale.scale_of(obj) == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "7", "creationTimestamp": "T"},
        "spec": {"replicas": 3},
        "status": {"replicas": 2, "selector": "app=web,tier in (a,b)"},
    }
    assert scale.scale_of({"metadata": {"name": "x"}})["spec"] == {"replicas": 0}


# -- DaemonSets -------------------------------------------------------------------------------------------------------
def node(name: str, labels: dict | None = None, taints: list | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints} if taints else {}}


CONTROL_PLANE = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def test_a_daemon_pod_runs_where_selected_and_tolerated():
    from dvp_simulator.controllers import daemonset as ds

    plain = {"spec": {"containers": []}}
    assert ds.should_run(plain, node("w"))
    assert not ds.should_run(plain, node("m", taints=[CONTROL_PLANE]))
    assert ds.should_run({"spec": {"tolerations": [{"key": CONTROL_PLANE["key"], "operator": "Exists"}]}}, node("m", taints=[CONTROL_PLANE]))
    assert ds.should_run(plain, node("c", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]))  # cordoned
    assert ds.should_run(plain, node("p", taints=[{"key": "x", "effect": "PreferNoSchedule"}]))
    selected = {"spec": {"nodeSelector": {"group": "green"}}}
    assert ds.should_run(selected, node("g", {"group": "green"})) and not ds.should_run(selected, node("b", {"group": "blue"}))
    by_name = {
        "spec": {
            "affinity": {"nodeAffinity": {ds.REQUIRED: {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]}]}}}
        }
    }
    assert ds.should_run(by_name, node("a")) and not ds.should_run(by_name, node("b"))


def test_a_daemon_pod_is_bound_to_its_node_by_affinity_and_tolerates_the_defaults():
    from dvp_simulator.controllers import daemonset as ds

    owner = {
        "metadata": {"name": "agent", "namespace": "ns", "uid": "u", "generation": 3},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "tolerations": [ds.DEFAULT_TOLERATIONS[0]]},
            }
        },
    }
    pod = ds.daemon_pod(owner, "n1", "abc")
    assert pod["metadata"]["labels"] == {"app": "a", ds.HASH_LABEL: "abc", ds.GENERATION_LABEL: "3"} and pod["metadata"]["generateName"] == "agent-"
    assert ds.node_of(pod) == "n1" and ds.node_of({**pod, "spec": {**pod["spec"], "nodeName": "n2"}}) == "n2"
    assert pod["spec"]["tolerations"] == list(ds.DEFAULT_TOLERATIONS)  # the template's own one is not repeated


# -- StatefulSets -----------------------------------------------------------------------------------------------------
def test_a_stateful_pod_has_its_identity_and_its_claims():
    from dvp_simulator.controllers import statefulset as sts

    owner = {
        "metadata": {"name": "db", "namespace": "ns", "uid": "u"},
        "spec": {
            "serviceName": "db-headless",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "data", "emptyDir": {}}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}],
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
        },
    }
    pod = sts.stateful_pod(owner, 2, "db-abc")
    assert pod["metadata"]["name"] == "db-2" and (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-2", "db-headless")
    assert pod["metadata"]["labels"] == {"app": "db", sts.REVISION_LABEL: "db-abc", sts.POD_NAME_LABEL: "db-2", sts.POD_INDEX_LABEL: "2"}
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-2"}}]  # the claim wins over the template's volume
    claim = sts.stateful_claim(owner, owner["spec"]["volumeClaimTemplates"][0], 2)
    assert claim["metadata"]["name"] == "data-db-2" and claim["metadata"]["labels"] == {"app": "db"}
    assert claim["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"  # whenDeleted: Delete
    assert sts.ordinal_of(owner, pod) == 2 and sts.ordinal_of(owner, {"metadata": {"name": "db-x"}}) is None
    assert sts.ordinal_of(owner, {"metadata": {"name": "dbx-1"}}) is None


# -- the default scheduler's scores over non-zero requests ------------------------------------------------------------
def test_pods_without_requests_spread_as_kube_schedulers_scores_count_them():
    from dvp_simulator.controllers import pod_scheduler as ps
    from dvp_simulator.scheduler import node_state, pod_request_from_pod, schedule

    def make(name: str) -> dict:
        ready = [{"type": "Ready", "status": "True"}]
        return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "conditions": ready}}

    def bare(name: str, node: str = "") -> dict:
        return {
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"},
        }

    bound = {"a": [bare("p1", "a"), bare("p2", "a")], "b": [bare("p3", "b")]}
    states = [node_state(make(name), bound[name]) for name in ("a", "b")]
    incoming = bare("new")
    assert schedule(pod_request_from_pod(incoming), states).node == "a"  # the real requests (none) tie: by name
    decision = ps._scored_as_nonzero(incoming["spec"], pod_request_from_pod(incoming), states, bound)
    assert decision is not None and decision.node == "b"  # 100m / 200 MiB a pod: b has the fewer
    assert ps._nonzero({"containers": [{"resources": {"requests": {"cpu": "1"}}}, {}]}) == (1100, 2 * ps.DEFAULT_MEMORY)


def test_a_reconcile_makes_a_burst_of_pods_at_most_and_comes_again_for_the_rest():
    import asyncio

    from dvp_simulator.api.admission import Admission
    from dvp_simulator.api.service import ObjectService, WriteOptions
    from dvp_simulator.controllers import replicaset as rs
    from dvp_simulator.controllers.runtime import Context, Requeue
    from dvp_simulator.resources import build_registry
    from dvp_simulator.store.store import OWNER, Store

    registry, store = build_registry(), Store(None)
    service = ObjectService(registry, store, Clock(scale=1.0), Admission())
    opts = WriteOptions(version="v1", manager="test")
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "ns"}}, opts)
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    body = {"metadata": {"name": "many"}, "spec": {"replicas": rs.BURST + 10, "selector": {"matchLabels": {"app": "a"}}, "template": template}}
    uid = service.create(registry.types["apps/replicasets"], "ns", body, opts).obj["metadata"]["uid"]
    controller, ctx = rs.controller(store), Context(service, service.clock)
    assert asyncio.run(controller.reconcile(ctx, ("ns", "many"))) == Requeue(0)
    assert len(store.by_index("/pods", OWNER, uid, "ns")) == rs.BURST
    assert asyncio.run(controller.reconcile(ctx, ("ns", "many"))) is None
    assert len(store.by_index("/pods", OWNER, uid, "ns")) == rs.BURST + 10


def test_a_generated_name_is_at_most_63_characters():
    from dvp_simulator.api.admission import Admission
    from dvp_simulator.api.service import MAX_GENERATED_BASE, ObjectService, WriteOptions
    from dvp_simulator.resources import build_registry
    from dvp_simulator.store.store import Store

    registry = build_registry()
    service = ObjectService(registry, Store(None), Clock(scale=1.0), Admission())
    opts = WriteOptions(version="v1", manager="test")
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "ns"}}, opts)
    base = "a-very-long-deployment-name-that-goes-on-and-on-7957885594-"
    made = service.create(registry.types["/configmaps"], "ns", {"metadata": {"generateName": base}}, opts).obj["metadata"]["name"]
    assert len(made) == 63 and made.startswith(base[:MAX_GENERATED_BASE]) and len(base) > MAX_GENERATED_BASE
    short = service.create(registry.types["/configmaps"], "ns", {"metadata": {"generateName": "web-"}}, opts).obj["metadata"]["name"]
    assert short.startswith("web-") and len(short) == 9


def test_a_generated_name_that_is_taken_is_generated_again(monkeypatch):
    """kube-apiserver's RetryGenerateName: a taken generated name is drawn again, 8 names in all, then AlreadyExists."""
    from dvp_simulator.api import service as service_module
    from dvp_simulator.api.admission import Admission
    from dvp_simulator.api.service import ObjectService, WriteOptions
    from dvp_simulator.resources import build_registry
    from dvp_simulator.store.store import Store

    registry = build_registry()
    service = ObjectService(registry, Store(None), Clock(scale=1.0), Admission())
    opts = WriteOptions(version="v1", manager="test")
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "ns"}}, opts)
    configmaps = registry.types["/configmaps"]
    service_module._NAME_SUFFIX.seed(7)
    first = service.create(configmaps, "ns", {"metadata": {"generateName": "web-"}}, opts).obj["metadata"]["name"]
    service_module._NAME_SUFFIX.seed(7)  # the next draw is the taken name again
    second = service.create(configmaps, "ns", {"metadata": {"generateName": "web-"}}, opts).obj["metadata"]["name"]
    assert second != first and second.startswith("web-")
    drawn = []
    monkeypatch.setattr(service_module, "_generated_name", lambda base: drawn.append(base) or first)
    with pytest.raises(APIError) as refused:
        service.create(configmaps, "ns", {"metadata": {"generateName": "web-"}}, opts)
    assert refused.value.code == 409 and refused.value.reason == "AlreadyExists" and len(drawn) == service_module.MAX_NAME_GENERATIONS
    with pytest.raises(APIError):  # a name given outright is never replaced
        service.create(configmaps, "ns", {"metadata": {"name": first, "generateName": "web-"}}, opts)
    assert len(drawn) == service_module.MAX_NAME_GENERATIONS


def test_replica_failure_is_set_once_kept_while_creates_fail_and_dropped_after():
    refused = APIError(403, 'pods "web-abcde" is forbidden: exceeded quota: q', reason="Forbidden")
    first = r.failure_conditions([], refused, "2026-01-01T00:00:00Z")
    made = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "FailedCreate", "message": refused.message}
    assert first == [made]
    again = APIError(403, 'pods "web-fghij" is forbidden: exceeded quota: q', reason="Forbidden")
    assert r.failure_conditions(first, again, "2026-01-01T00:01:00Z") == first  # upstream keeps the first words
    assert r.failure_conditions(first, None, "2026-01-01T00:02:00Z") == []
    other = [{"type": "Other", "status": "True"}]
    assert r.failure_conditions(other, None, "2026-01-01T00:02:00Z") == other


def test_a_deployment_copies_its_new_replicasets_failure_first():
    failure = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "T1", "reason": "FailedCreate", "message": "new"}
    old_failure = {**failure, "message": "old"}
    new_rs, old_rs = {"status": {"conditions": [failure]}}, {"status": {"conditions": [old_failure]}}
    available = {"type": "Available", "status": "True"}
    copied = d.replica_failure([available], new_rs, [old_rs, new_rs])
    assert copied == [available, {**failure, "lastUpdateTime": "T1"}]
    assert d.replica_failure([available], {"status": {}}, [old_rs])[-1]["message"] == "old"  # else any other's
    assert d.replica_failure(copied, new_rs, [{"status": {"conditions": [{**failure, "message": "newer"}]}}]) is copied  # same status and reason: kept
    assert d.replica_failure(copied, {"status": {}}, [{"status": {}}]) == [available]


def test_the_same_event_again_is_counted_on_the_first():
    from dvp_simulator.api.admission import Admission
    from dvp_simulator.api.service import ObjectService, WriteOptions
    from dvp_simulator.resources import build_registry
    from dvp_simulator.store.store import Store

    registry = build_registry()
    clock = Clock(scale=1.0)
    service = ObjectService(registry, Store(None), clock, Admission())
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "ns"}}, WriteOptions(version="v1", manager="test"))
    owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "ns", "uid": "u-1"}}
    first = service.record_event(owner, "Warning", "FailedCreate", "create Pod db-0 failed", "statefulset-controller")
    clock.advance(5)
    second = service.record_event(owner, "Warning", "FailedCreate", "create Pod db-0 failed", "statefulset-controller")
    assert second["metadata"]["name"] == first["metadata"]["name"] and second["count"] == 2
    assert second["firstTimestamp"] == first["firstTimestamp"] < second["lastTimestamp"]
    other = service.record_event(owner, "Warning", "FailedCreate", "create Pod db-1 failed", "statefulset-controller")
    assert other["metadata"]["name"] != first["metadata"]["name"] and other["count"] == 1
    assert len(service.store.list("/events")) == 2


def test_a_daemonsets_template_generation_is_the_servers_and_counts_template_changes():
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    stored = {"metadata": {"annotations": {workloads.TEMPLATE_GENERATION: "4"}}, "spec": {"template": template}}
    assert workloads.template_generation({"template": template}, None) == 1
    assert workloads.template_generation({"template": template, "minReadySeconds": 5}, stored) == 4, "no template change"
    changed = {"template": {**template, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}}
    assert workloads.template_generation(changed, stored) == 5
    assert workloads.template_generation(changed, {"metadata": {}, "spec": {"template": template}}) == 2, "a DaemonSet stored without it"


def test_a_daemon_pod_is_updated_by_its_revision_hash_or_its_template_generation():
    from dvp_simulator.controllers import daemonset as ds

    owner = {"metadata": {"annotations": {workloads.TEMPLATE_GENERATION: "3"}}}
    pod = {"metadata": {"labels": {ds.HASH_LABEL: "old", ds.GENERATION_LABEL: "3"}}}
    assert ds.pod_updated(owner, "new", pod), "IsPodUpdated: the template generation matches"
    assert ds.pod_updated({"metadata": {}}, "old", pod), "the hash matches"
    assert not ds.pod_updated({"metadata": {}}, "new", pod) and not ds.pod_updated(owner, "new", {"metadata": {"labels": {ds.GENERATION_LABEL: "2"}}})
