"""ResourceQuota, LimitRange and NetworkPolicy: the pure rules (quantities as Go prints them, usage of pods and
claims, the quota's and the limit range's validation and messages, the LimitRanger's defaults) and, in process through
app.build, the admission and the usage ledger (exact refusals, dry runs charging nothing, no rescans of a namespace
per write, namespaces without quotas left alone)."""

from __future__ import annotations

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.waiter import phase_in
from dvp_simulator import app
from dvp_simulator.api import limitranger, networkpolicy, quota
from dvp_simulator.api import quantities as qty
from dvp_simulator.api.admission import CREATE, AdmissionRequest
from dvp_simulator.api.errors import APIError
from dvp_simulator.api.service import WriteOptions


# -- quantities ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "canonical", "fmt"),
    [
        ("1500m", "1500m", qty.DECIMAL_SI), ("1.5", "1500m", qty.DECIMAL_SI), ("2000", "2k", qty.DECIMAL_SI), ("1000m", "1", qty.DECIMAL_SI),
        ("2048Mi", "2Gi", qty.BINARY_SI), ("1.5Gi", "1536Mi", qty.BINARY_SI), ("0.5Ki", "512", qty.BINARY_SI), ("1e3", "1e3", qty.DECIMAL_EXPONENT),
        ("1E", "1E", qty.DECIMAL_SI), (2, "2", qty.DECIMAL_SI), ("0", "0", qty.DECIMAL_SI), ("0.1n", "1n", qty.DECIMAL_SI),
    ],
)  # fmt: skip
def test_quantities_print_in_their_canonical_form(text, canonical, fmt):
    q = qty.parse(text)
    assert (str(q), q.format) == (canonical, fmt)


def test_sums_keep_the_format_of_their_first_non_zero_part():
    assert str(qty.parse("1Gi") + qty.parse("512Mi")) == "1536Mi"
    assert str(qty.ZERO + qty.parse("1Gi") + qty.parse("1Gi")) == "2Gi"
    assert str(qty.parse("100m") + qty.parse("900m")) == "1"
    assert str(qty.parse("1G") + qty.parse("1Gi")) == "2073741824"  # decimal first: printed as DecimalSI
    assert qty.pretty({"requests.storage": qty.parse("10Gi"), "pods": qty.parse("1")}) == "pods=1,requests.storage=10Gi"


def test_a_quantity_bad_value_is_shown_as_the_go_struct():
    assert qty.go_repr("2") == (
        'resource.Quantity{i:resource.int64Amount{value:2, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"2", Format:"DecimalSI"}'
    )
    assert qty.go_repr("1.5", stringified=False) == (
        'resource.Quantity{i:resource.int64Amount{value:15, scale:-1}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"", Format:"DecimalSI"}'
    )
    assert 's:"1Gi", Format:"BinarySI"' in qty.go_repr("1Gi", stringified=False)  # canonical as written: kept by the parser
    assert 's:"", Format:"BinarySI"' in qty.go_repr("1024Mi", stringified=False)


# -- usage -----------------------------------------------------------------------------------------------------------
def container(name, requests=None, limits=None, **extra):
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": name, "image": "x", "resources": resources, **extra}


def pod(*containers, init=(), phase="Running", **spec):
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": list(containers), "initContainers": list(init), **spec},
            "status": {"phase": phase}}  # fmt: skip


def test_pod_usage_sums_containers_takes_the_largest_init_container_and_adds_sidecars_and_overhead():
    p = pod(
        container("a", {"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
        container("b", {"cpu": "250m"}),
        init=[container("init", {"cpu": "2", "memory": "256Mi"}), container("side", {"cpu": "100m"}, restartPolicy="Always")],
        overhead={"memory": "64Mi"},
    )
    usage = qty.to_json(quota.pod_usage(p, 0.0))
    assert usage == {
        "count/pods": "1", "pods": "1",
        "cpu": "2", "requests.cpu": "2",  # the init container's 2 cores exceed the containers' 750m plus the sidecar's 100m
        "memory": "1088Mi", "requests.memory": "1088Mi", "limits.cpu": "1", "limits.memory": "1088Mi",
    }  # fmt: skip
    done = qty.to_json(quota.pod_usage(pod(container("a", {"cpu": "1"}), phase="Succeeded"), 0.0))
    assert done == {"count/pods": "1"}, "a finished pod holds no compute quota, but is still an object"


def test_claim_usage_by_class_rounds_storage_up_and_takes_the_larger_allocation():
    claim = {"metadata": {"name": "c"}, "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1500m"}}},
             "status": {"allocatedResources": {"storage": "3Gi"}}}  # fmt: skip
    assert qty.to_json(quota.claim_usage(claim)) == {
        "persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1", "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
        "requests.storage": "3Gi", "fast.storageclass.storage.k8s.io/requests.storage": "3Gi",
    }  # fmt: skip
    claim["status"] = {}
    assert str(quota.claim_usage(claim)["requests.storage"]) == "2", "1.5 bytes are charged as 2"


def test_a_quota_on_cpu_or_memory_wants_every_container_to_state_them():
    spec = pod(container("web", {"memory": "1Gi"}), container("log"), init=[container("setup", {"cpu": "1"})])["spec"]
    assert quota.missing_requirements({"requests.cpu", "requests.memory", "pods"}, spec) == (
        "must specify requests.cpu for: log,web; requests.memory for: log,setup"
    )
    assert quota.missing_requirements({"pods", "requests.storage"}, spec) == ""


# -- validation messages ------------------------------------------------------------------------------------------
def test_quota_resource_names_values_and_scopes_are_validated_as_upstream():
    causes = quota.spec_causes({"hard": {"limits.pods": "1", "pods": "1.5", "cpu": "-1", "count/deployments.apps": "2", "requests.nvidia.com/gpu": "1"}})
    assert [c["field"] + ": " + c["message"] for c in causes] == [
        "spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
        "spec.hard[limits.pods]: Invalid value: limits.pods: must be a standard resource type or fully qualified",
        "spec.hard[limits.pods]: Invalid value: limits.pods: must be a standard resource for quota",
        'spec.hard[pods]: Invalid value: resource.Quantity{i:resource.int64Amount{value:15, scale:-1}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, '
        's:"", Format:"DecimalSI"}: must be an integer',
    ]
    scoped = quota.spec_causes({"hard": {"cpu": "1", "pods": "2"}, "scopes": ["BestEffort", "Sometimes"]})
    assert [c["message"] for c in scoped] == [
        'Invalid value: []core.ResourceQuotaScope{"BestEffort", "Sometimes"}: unsupported scope applied to resource',
        'Invalid value: []core.ResourceQuotaScope{"BestEffort", "Sometimes"}: unsupported scope',
    ]
    selector = quota.spec_causes({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In"}]}})
    assert [(c["field"], c["reason"]) for c in selector] == [("spec.scopeSelector.matchExpressions.values", "FieldValueRequired")]


def limit_range(*items):
    return {"metadata": {"name": "lr", "namespace": "ns"}, "spec": {"limits": list(items)}}


def admitted(hook, obj, kind="LimitRange", group=""):
    rt = type("RT", (), {"kind": kind, "group": group, "plural": kind.lower() + "s", "namespaced": True})()
    request = AdmissionRequest(CREATE, rt, obj, None, None, False, None, "v1")  # type: ignore[arg-type]
    hook(request)
    return request.obj


def test_limit_range_container_defaults_come_from_max_then_default_then_min():
    lr = admitted(limitranger.default_items, limit_range({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
                                                         {"type": "Pod", "max": {"cpu": "4"}}))  # fmt: skip
    assert lr["spec"]["limits"][0] == {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}, "default": {"cpu": "2"},
                                       "defaultRequest": {"cpu": "2", "memory": "64Mi"}}  # fmt: skip
    assert "default" not in lr["spec"]["limits"][1], "only Container items are defaulted"


def test_limit_range_ordering_rules_and_their_messages():
    item = {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"},
            "maxLimitRequestRatio": {"cpu": "600m"}}  # fmt: skip
    causes = limitranger.item_causes(item, "spec.limits[0]")
    repr_2, repr_1 = qty.go_repr("2"), qty.go_repr("1")
    assert [c["field"] + ": " + c["message"] for c in causes] == [
        f"spec.limits[0].min[cpu]: Invalid value: {repr_2}: min value 2 is greater than max value 1",
        f"spec.limits[0].defaultRequest[cpu]: Invalid value: {repr_1}: min value 2 is greater than default request value 1",
        f"spec.limits[0].default[cpu]: Invalid value: {repr_2}: min value 2 is greater than default value 1",
        f"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: {qty.go_repr('600m')}: ratio 600m is less than 1",
        f"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: {qty.go_repr('600m')}: ratio 600m is greater than max/min = 0.500000",
    ]
    assert limitranger.item_causes({"type": "PersistentVolumeClaim"}, "spec.limits[1]")[0]["message"] == (
        "Required value: either minimum or maximum storage value is required, but neither was provided"
    )
    assert limitranger.item_causes({"type": "Pod", "default": {"cpu": "1"}}, "p")[0]["message"] == "Forbidden: may not be specified when `type` is 'Pod'"


def test_limit_ranger_defaults_containers_and_enforces_bounds():
    lr = admitted(limitranger.default_items, limit_range({"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}, "defaultRequest": {"cpu": "100m"}},
                                                         {"type": "Pod", "max": {"memory": "1536Mi"}}))  # fmt: skip
    p = pod(container("web", limits={"memory": "512Mi"}), container("log"))
    assert limitranger.merge_defaults(p, lr)
    assert p["spec"]["containers"][1]["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}}
    assert p["metadata"]["annotations"][limitranger.ANNOTATION] == (
        "LimitRanger plugin set: cpu, memory request for container web; cpu limit for container web; "
        "cpu, memory request for container log; cpu, memory limit for container log"
    )
    assert limitranger.pod_violations(p, lr) == ["maximum memory usage per Pod is 1536Mi, but request is 2Gi"]
    over = pod(container("big", {"cpu": "2"}, {"cpu": "2", "memory": "2Gi"}))
    assert limitranger.pod_violations(over, lr) == [
        "maximum cpu usage per Container is 1, but limit is 2",
        "maximum memory usage per Container is 1Gi, but limit is 2Gi",
        "maximum memory usage per Pod is 1536Mi, but limit is 2Gi",
    ]
    assert limitranger.aggregate(["a"]) == "a" and limitranger.aggregate(["a", "b", "a"]) == "[a, b]"
    claim = {"spec": {"resources": {"requests": {"storage": "6Gi"}}}}
    assert limitranger.claim_violations(claim, limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "5Gi"}})) == [
        "maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 6Gi"
    ]


def test_network_policy_defaults_and_validation():
    np = admitted(networkpolicy.defaults, {"metadata": {"name": "np"}, "spec": {"egress": [{"ports": [{"port": 53}]}]}}, "NetworkPolicy", "networking.k8s.io")
    assert np["spec"] == {"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "TCP"}]}], "policyTypes": ["Ingress", "Egress"]}
    causes = networkpolicy.spec_causes(
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
         "ingress": [{"ports": [{"port": "http", "endPort": 90}, {"port": 80, "endPort": 79, "protocol": "ICMP"}],
                      "from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/8"]}, "podSelector": {}}]}],
         "policyTypes": ["Ingress", "Egress", "Ingress"]}
    )  # fmt: skip
    assert [c["field"] + ": " + c["message"] for c in causes] == [
        "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
        'spec.ingress[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
        "spec.ingress[0].ports[1].endPort: Invalid value: 79: must be greater than or equal to `port`",
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
        "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer",
        'spec.policyTypes: Invalid value: []networking.PolicyType{"Ingress", "Egress", "Ingress"}: may not specify more than two policyTypes',
    ]


# -- the waiters -------------------------------------------------------------------------------------------------
def test_a_disk_refused_by_a_quota_ends_the_wait_with_the_quota_message():
    message = 'Quota exceeded during the creation of the target PersistentVolumeClaim: persistentvolumeclaims "x" is forbidden: exceeded quota: q'
    disk = {"metadata": {"generation": 2}, "status": {"phase": v.PENDING, "observedGeneration": 2, "conditions": [
        {"type": v.COND_READY, "status": "False", "reason": v.REASON_QUOTA_EXCEEDED, "message": message, "observedGeneration": 2}]}}  # fmt: skip
    outcome = phase_in((v.READY,))(disk)
    assert outcome.failed and outcome.message == f"phase Pending: QuotaExceeded: {message}"
    disk["status"]["conditions"][0]["observedGeneration"] = 1  # a verdict on the spec before: the disk is looked at again
    assert not phase_in((v.READY,))(disk).failed
    disk["status"]["conditions"][0].update(reason=v.REASON_PROVISIONING, observedGeneration=2)
    assert not phase_in((v.READY,))(disk).failed


# -- in process: admission and the ledger ------------------------------------------------------------------------
@pytest.fixture
def sim(tmp_path):
    built = app.build(tmp_path / "state", "unit-test-token", "https://127.0.0.1:0")
    built.service.create(built.registry.types["/namespaces"], "", {"metadata": {"name": "proj"}}, WriteOptions(version="v1"))
    yield built
    built.store.close()


def opts(**kw):
    return WriteOptions(version="v1", manager="test", **kw)


def ledger_of(sim) -> quota.Ledger:
    return next(hook.__self__ for hook in sim.service.admission.last if isinstance(getattr(hook, "__self__", None), quota.Ledger))


def simple_pod(name, cpu=None):
    resources = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}} if cpu else {}
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x", "resources": resources}]}}


def test_pods_beyond_the_quota_are_refused_with_upstreams_message_and_dry_runs_charge_nothing(sim):
    types, service = sim.registry.types, sim.service
    service.create(types["/resourcequotas"], "proj", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2", "requests.cpu": "1"}}}, opts())
    service.create(types["/pods"], "proj", simple_pod("a", "400m"), opts(dry_run=True))
    service.create(types["/pods"], "proj", simple_pod("a", "400m"), opts())
    service.create(types["/pods"], "proj", simple_pod("b", "400m"), opts())
    with pytest.raises(APIError) as err:
        service.create(types["/pods"], "proj", simple_pod("c", "400m"), opts())
    assert (err.value.code, err.value.reason) == (403, "Forbidden")
    assert err.value.message == (
        'pods "c" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=400m, used: pods=2,requests.cpu=800m, limited: pods=2,requests.cpu=1'
    )
    assert err.value.details == {"name": "c", "kind": "pods"}
    with pytest.raises(APIError) as err:
        service.create(types["/pods"], "proj", simple_pod("d"), opts())
    assert err.value.message == 'pods "d" is forbidden: failed quota: q: must specify requests.cpu for: c'
    assert ledger_of(sim).status("proj", "q") == {"hard": {"pods": "2", "requests.cpu": "1"}, "used": {"pods": "2", "requests.cpu": "800m"}}


def test_usage_moves_per_event_without_rescanning_the_namespace(sim, monkeypatch):
    types, service, ledger = sim.registry.types, sim.service, ledger_of(sim)
    claim = {"metadata": {"name": "c1"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}
    service.create(types["/persistentvolumeclaims"], "proj", claim, opts())
    service.create(types["/resourcequotas"], "proj", {"metadata": {"name": "q"}, "spec": {"hard": {"requests.storage": "5Gi", "pods": "10"}}}, opts())
    assert ledger.status("proj", "q")["used"] == {"requests.storage": "2Gi", "pods": "0"}, "a new quota is computed from what is there"
    woken = []
    ledger.wake = woken.append
    monkeypatch.setattr(sim.store, "list", lambda *a, **kw: pytest.fail("the ledger rescanned a namespace"))
    service.create(types["/pods"], "proj", simple_pod("a"), opts())
    service.create(types["/persistentvolumeclaims"], "proj", {**claim, "metadata": {"name": "c2"}}, opts())
    assert ledger.status("proj", "q")["used"] == {"requests.storage": "4Gi", "pods": "1"}
    pods, claims = types["/pods"], types["/persistentvolumeclaims"]
    done = service.get(pods, "proj", "a")
    service.update(pods, "proj", "a", {**done, "status": {**(done.get("status") or {}), "phase": "Succeeded"}}, opts(subresource="status"))
    current = service.get(claims, "proj", "c2")
    service.update(claims, "proj", "c2", {**current, "metadata": {**current["metadata"], "labels": {"x": "y"}}}, opts())  # moves nothing
    assert ledger.status("proj", "q")["used"] == {"requests.storage": "4Gi", "pods": "0"}, "a finished pod is no longer charged"
    assert woken == [("proj", "q")] * 3, "the controller is woken once per write that moved the quota's usage"


def test_a_namespace_without_quotas_is_not_measured(sim):
    ledger = ledger_of(sim)
    sim.service.create(sim.registry.types["/pods"], "proj", simple_pod("free"), opts())
    assert ledger.charges == {} and ledger.quotas == {}


def test_object_counts_of_other_kinds_and_scoped_quotas(sim):
    types, service = sim.registry.types, sim.service
    service.create(types["/resourcequotas"], "proj", {"metadata": {"name": "objects"}, "spec": {"hard": {"count/secrets": "1", "configmaps": "0"}}}, opts())
    service.create(types["/secrets"], "proj", {"metadata": {"name": "s1"}}, opts())
    with pytest.raises(APIError) as err:
        service.create(types["/secrets"], "proj", {"metadata": {"name": "s2"}}, opts())
    assert err.value.message == (
        'secrets "s2" is forbidden: exceeded quota: objects, requested: count/secrets=1, used: count/secrets=1, limited: count/secrets=1'
    )
    with pytest.raises(APIError):
        service.create(types["/configmaps"], "proj", {"metadata": {"name": "cm"}}, opts())
    service.create(types["/resourcequotas"], "proj", {"metadata": {"name": "best-effort"}, "spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}}, opts())
    service.create(types["/pods"], "proj", simple_pod("guaranteed-1", "100m"), opts())
    service.create(types["/pods"], "proj", simple_pod("guaranteed-2", "100m"), opts())  # not BestEffort: not this quota's
    service.create(types["/pods"], "proj", simple_pod("free-1"), opts())
    with pytest.raises(APIError) as err:
        service.create(types["/pods"], "proj", simple_pod("free-2"), opts())
    assert "exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1" in err.value.message


def test_a_claim_may_not_grow_beyond_the_quota(sim):
    types, service = sim.registry.types, sim.service
    service.create(types["/resourcequotas"], "proj", {"metadata": {"name": "q"}, "spec": {"hard": {"requests.storage": "3Gi"}}}, opts())
    claim_rt = types["/persistentvolumeclaims"]
    claim = {"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}
    service.create(claim_rt, "proj", claim, opts())
    current = service.get(claim_rt, "proj", "c")
    grown = {**current, "spec": {**current["spec"], "resources": {"requests": {"storage": "4Gi"}}}}
    with pytest.raises(APIError) as err:  # the quota's own check (the claim is not bound here: its update rules would refuse any resize)
        ledger_of(sim).admit(AdmissionRequest("UPDATE", claim_rt, grown, current, None, False, service, "v1"))
    assert err.value.message == (
        'persistentvolumeclaims "c" is forbidden: exceeded quota: q, requested: requests.storage=2Gi, used: requests.storage=2Gi, limited: requests.storage=3Gi'
    )


def test_importer_pods_and_claims_of_disks_meet_the_quota(sim):
    from dvp_simulator.controllers.provisioning import importer_refusal

    types, service = sim.registry.types, sim.service
    assert importer_refusal(service, "vd", "d", "proj", "uid-1") is None, "no quota: nothing to ask"
    service.create(types["/resourcequotas"], "proj", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "0"}}}, opts())
    refusal = importer_refusal(service, "vd", "d", "proj", "uid-1")
    assert refusal is not None and refusal.message == (
        'pods "d8v-vd-importer-d-uid-1" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'
    )
    assert sim.store.count_after("/pods", "proj", None) == 0, "a dry run stores no pod"


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
         "spec": {"hard": {"pods": "2", "requests.storage": "10Gi"}, "scopes": ["NotBestEffort"],
                  "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}},
         "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
         "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "100m"}, "default": {"cpu": "500m"},
                              "defaultRequest": {"cpu": "200m"}, "maxLimitRequestRatio": {"cpu": "4"}}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
         "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
                  "ingress": [{"ports": [{"protocol": "TCP", "port": 80, "endPort": 90}, {"port": "https"}],
                               "from": [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
                  "egress": [{"to": [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}]}]}},
    ],
)  # fmt: skip
def test_kubectl_protobuf_bodies_of_the_policy_kinds_decode(obj):
    from dvp_simulator.api import protobuf

    assert protobuf.decode(protobuf.encode(obj)) == obj
