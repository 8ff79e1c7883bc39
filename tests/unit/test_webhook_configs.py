"""api/webhook_configs.py's pure parts: kube-apiserver's rules for a webhook configuration, rule matching, and the
dispatch order of the configurations' webhooks; webhooks/registrations.py's configurations pass those rules."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dvp_simulator.api.errors import APIError
from dvp_simulator.api.webhook_configs import (
    Attributes,
    Dispatch,
    Registered,
    _conditions,
    _labels_match,
    candidates,
    configuration_causes,
    index,
    rule_causes,
    rule_matches,
)
from dvp_simulator.webhooks import registrations

SVC = "webhooks[0].clientConfig.service"


def rule(**over):
    return {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], **over}


def hook(name="a.example.com", **over):
    base = {
        "name": name,
        "rules": [rule()],
        "clientConfig": {"service": {"namespace": "n", "name": "s"}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    return {**base, **over}


def fields(causes):
    return [(c["field"], c["message"]) for c in causes]


def test_the_modules_configurations_are_valid():
    for kind, body in registrations.configurations():
        assert configuration_causes(body, kind.startswith("Mutating")) == [], kind


def test_a_valid_webhook_has_no_causes():
    assert configuration_causes({"webhooks": [hook()]}, False) == []
    assert configuration_causes({"webhooks": [hook(clientConfig={"url": "https://h.example.com:8443/x"})]}, True) == []


@pytest.mark.parametrize(
    ("over", "field", "message"),
    [
        ({"name": "ab.c"}, "webhooks[0].name", 'Invalid value: "ab.c": should be a domain with at least three segments separated by dots'),
        ({"name": ""}, "webhooks[0].name", "Required value"),
        ({"name": "A.b.c"}, "webhooks[0].name", 'Invalid value: "A.b.c": a lowercase RFC 1123 subdomain'),
        ({"sideEffects": "Some"}, "webhooks[0].sideEffects", 'Unsupported value: "Some": supported values: "None", "NoneOnDryRun"'),
        ({"timeoutSeconds": 0}, "webhooks[0].timeoutSeconds", "Invalid value: 0: the timeout value must be between 1 and 30 seconds"),
        ({"admissionReviewVersions": []}, "webhooks[0].admissionReviewVersions", "Required value: must specify one of v1, v1beta1"),
        ({"admissionReviewVersions": ["v1", "v1"]}, "webhooks[0].admissionReviewVersions[1]", 'Invalid value: "v1": duplicate version'),
        ({"matchPolicy": "Loose"}, "webhooks[0].matchPolicy", 'Unsupported value: "Loose": supported values: "Equivalent", "Exact"'),
        ({"clientConfig": {}}, "webhooks[0].clientConfig", "Required value: exactly one of url or service is required"),
        ({"clientConfig": {"url": "https://"}}, "webhooks[0].clientConfig.url", 'Invalid value: "": host must be specified'),
        (
            {"clientConfig": {"service": {"namespace": "n", "name": "s", "port": 0}}},
            SVC + ".port",
            "Invalid value: 0: port is not valid",
        ),
        ({"clientConfig": {"service": {"namespace": "n", "name": "s", "path": "x"}}}, SVC + ".path", "must start with a '/'"),
        (
            {"clientConfig": {"service": {"namespace": "n", "name": "s", "path": "/a//b"}}},
            SVC + ".path",
            "segment[1] may not be empty",
        ),
        ({"clientConfig": {"service": {"namespace": "", "name": ""}}}, SVC + ".name", "Required value: service name is required"),
        ({"namespaceSelector": {"matchLabels": {"a b": "c"}}}, "webhooks[0].namespaceSelector.matchLabels", 'Invalid value: "a b"'),
        ({"matchConditions": [{"name": "", "expression": "true"}]}, "webhooks[0].matchConditions[0].name", "Required value"),
        ({"matchConditions": [{"name": "c", "expression": "1 +"}]}, "webhooks[0].matchConditions[0].expression", 'Invalid value: "1 +": compilation failed'),
        ({"matchConditions": [{"name": f"c{i}", "expression": "true"} for i in range(65)]}, "webhooks[0].matchConditions", "Too many: 65"),
    ],
)
def test_a_webhooks_rules(over, field, message):
    found = fields(configuration_causes({"webhooks": [hook(**over)]}, False))
    assert any(f == field and message in m for f, m in found), found


def test_reinvocation_policy_is_the_mutating_kinds_own():
    assert fields(configuration_causes({"webhooks": [hook(reinvocationPolicy="Twice")]}, True)) == [
        ("webhooks[0].reinvocationPolicy", 'Unsupported value: "Twice": supported values: "IfNeeded", "Never"')
    ]
    assert configuration_causes({"webhooks": [hook(reinvocationPolicy="Twice")]}, False) == []


def test_webhook_names_are_unique_in_a_configuration():
    assert ("webhooks[1].name", 'Duplicate value: "a.example.com"') in fields(configuration_causes({"webhooks": [hook(), hook()]}, False))


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (["*/*", "pods"], "if '*/*' is present, must not specify other resources"),
        (["*", "pods"], "if '*' is present, must not specify other resources without subresources"),
        (["pods/*", "pods/log"], "if 'pods/*' is present, must not specify pods/log"),
        (["*/log", "pods/log"], "if '*/log' is present, must not specify pods/log"),
        ([""], "Required value"),
        ([], "Required value"),
    ],
)
def test_resources_do_not_contradict_one_another(resources, message):
    assert any(message in m for _f, m in fields(rule_causes(rule(resources=resources), "r"))), fields(rule_causes(rule(resources=resources), "r"))


def test_wildcards_stand_alone_and_operations_are_known():
    found = fields(rule_causes(rule(operations=["*", "CREATE"], apiGroups=["*", ""], apiVersions=["*", "v1"]), "r"))
    assert [f for f, _m in found] == ["r.operations", "r.apiGroups", "r.apiVersions"]
    assert fields(rule_causes(rule(operations=["PATCH"]), "r")) == [
        ("r.operations[0]", 'Unsupported value: "PATCH": supported values: "*", "CONNECT", "CREATE", "DELETE", "UPDATE"')
    ]
    assert rule_causes(rule(resources=["*", "pods/log"], scope="Namespaced"), "r") == []


POD_CREATE = Attributes("CREATE", "", "v1", "pods", "", "default")


@pytest.mark.parametrize(
    ("over", "attrs", "expected"),
    [
        ({}, POD_CREATE, True),
        ({"operations": ["UPDATE"]}, POD_CREATE, False),
        ({"operations": ["*"]}, POD_CREATE, True),
        ({"apiGroups": ["apps"]}, POD_CREATE, False),
        ({"apiVersions": ["v2"]}, POD_CREATE, False),
        ({"resources": ["*"]}, POD_CREATE, True),
        ({"resources": ["*"]}, Attributes("CREATE", "", "v1", "pods", "eviction", "default"), False),
        ({"resources": ["pods/*"]}, Attributes("CREATE", "", "v1", "pods", "eviction", "default"), True),
        ({"resources": ["pods/*"]}, POD_CREATE, True),
        ({"resources": ["*/eviction"]}, Attributes("CREATE", "", "v1", "pods", "eviction", "default"), True),
        ({"resources": ["pods/eviction"]}, POD_CREATE, False),
        ({"scope": "Cluster"}, POD_CREATE, False),
        ({"scope": "Namespaced"}, POD_CREATE, True),
        ({"resources": ["namespaces"], "scope": "Cluster"}, Attributes("CREATE", "", "v1", "namespaces", "", "team"), True),
        ({"resources": ["namespaces"], "scope": "Namespaced"}, Attributes("CREATE", "", "v1", "namespaces", "", "team"), False),
    ],
)
def test_rule_matching(over, attrs, expected):
    assert rule_matches(rule(**over), attrs) is expected


def test_equivalent_versions_match_when_asked():
    r = rule(apiVersions=["v1alpha2"])
    attrs = Attributes("CREATE", "", "v1alpha3", "pods", "", "default")
    assert not rule_matches(r, attrs)
    assert rule_matches(r, attrs, ("v1alpha2", "v1alpha3"))


def test_dispatch_order_is_by_configuration_name_then_position():
    b = {"metadata": {"name": "b"}, "webhooks": [hook("b1.x.y"), hook("b2.x.y", rules=[rule(resources=["*"])])]}
    a = {"metadata": {"name": "a"}, "webhooks": [hook("a1.x.y", rules=[rule(apiGroups=["*"])]), hook("a2.x.y", rules=[rule(apiGroups=["apps"])])]}
    idx = index([b, a], mutating=True)
    assert [r.name for r in candidates(idx, "", "pods")] == ["a1.x.y", "b1.x.y", "b2.x.y"]
    assert [r.name for r in candidates(idx, "apps", "pods")] == ["a1.x.y", "a2.x.y"]
    assert [r.name for r in candidates(idx, "batch", "jobs")] == []


def test_causes_come_in_upstreams_order():
    """Per webhook its own causes (name … matchConditions), then admissionReviewVersions, then a duplicate name."""
    bad = hook("dup.x.y", admissionReviewVersions=[], timeoutSeconds=99, matchConditions=[{"name": "", "expression": " "}])
    found = [f for f, _m in fields(configuration_causes({"webhooks": [hook("dup.x.y"), bad]}, True))]
    assert found == [
        "webhooks[1].timeoutSeconds",
        "webhooks[1].matchConditions[0].expression",
        "webhooks[1].matchConditions[0].name",
        "webhooks[1].admissionReviewVersions",
        "webhooks[1].name",
    ]


def test_labels_that_are_not_a_map_match_nothing():
    selector = {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}
    assert _labels_match(selector, {"metadata": {"labels": {}}})
    for body in ({"metadata": {"labels": "x"}}, {"metadata": {"labels": [1]}}, {"metadata": "m"}, {}):
        assert _labels_match(selector, body) is True  # as an object without labels


def request_of(operation, obj=None, old=None, subresource=None, user=None, kind="ConfigMap", plural="configmaps", group=""):
    rt = SimpleNamespace(group=group, kind=kind, plural=plural, namespaced=True, key=f"{group}/{plural}")
    return SimpleNamespace(operation=operation, rt=rt, obj=obj, old=old, subresource=subresource, dry_run=False, user=user, version="v1")


def test_a_namespaces_own_labels_on_its_create_and_update_only():
    selector = {"matchLabels": {"audited": "true"}}
    attrs = Attributes("UPDATE", "", "v1", "namespaces", "", "team")
    new, old = {"metadata": {"name": "team", "labels": {}}}, {"metadata": {"name": "team", "labels": {"audited": "true"}}}
    assert not Dispatch._namespace_matches(selector, attrs, request_of("UPDATE", new, old, kind="Namespace", plural="namespaces"))
    assert Dispatch._namespace_matches(selector, attrs, request_of("DELETE", None, old, kind="Namespace", plural="namespaces"))
    status = Attributes("UPDATE", "", "v1", "namespaces", "status", "team")
    assert Dispatch._namespace_matches(selector, status, request_of("UPDATE", new, old, subresource="status", kind="Namespace", plural="namespaces"))


def test_match_conditions_see_objects_as_upstream():
    attrs = Attributes("CREATE", "", "v1", "configmaps", "", "default")
    big = {"metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "db"}}, "data": {}, "n": 2**64}
    user = SimpleNamespace(to_json=lambda: {"username": "alice", "groups": ["devs"]})
    req = request_of("CREATE", big, user=user)
    cond = [{"name": "c", "expression": 'object.metadata.labels["app.kubernetes.io/name"] == "db" && oldObject == null && object.n > 1.0'}]
    assert _conditions(cond, req, attrs) is True
    assert _conditions([{"name": "c", "expression": 'request.userInfo.username == "alice" && "devs" in request.userInfo.groups'}], req, attrs) is True
    assert _conditions([{"name": "c", "expression": 'request.userInfo.username == ""'}], request_of("CREATE", big), attrs) is True
    # any false: no call; an error with none false: the error, without the objects in it
    failing = [{"name": "e", "expression": 'object.metadata.labels["nope"] == "v"'}]
    assert _conditions([*failing, {"name": "f", "expression": "false"}], req, attrs) is False
    error = _conditions(failing, request_of("CREATE", {"metadata": {"name": "x"}, "data": {"secret": "s3cr3t"}}), attrs)
    assert error.startswith('expression \'object.metadata.labels["nope"] == "v"\' resulted in error') and "s3cr3t" not in error


def test_a_served_webhook_that_fails_is_a_failed_call():
    def broken(request):
        raise KeyError("spec")

    dispatch = Dispatch()
    dispatch.serve("ns", "svc", "/x", broken, False, ("CREATE",))
    attrs = Attributes("CREATE", "", "v1", "configmaps", "", "default")
    for policy, refused in (("Fail", True), ("Ignore", False)):
        registered = Registered(
            "c", 0, "w.x.y", False, hook("w.x.y", failurePolicy=policy, clientConfig={"service": {"namespace": "ns", "name": "svc", "path": "/x"}})
        )
        if refused:
            with pytest.raises(APIError) as err:
                dispatch._call(registered, request_of("CREATE", {"metadata": {"name": "c"}}), attrs)
            assert err.value.code == 500 and 'failed calling webhook "w.x.y"' in str(err.value)
        else:
            dispatch._call(registered, request_of("CREATE", {"metadata": {"name": "c"}}), attrs)


def test_the_index_names_each_webhook_once_per_group_and_resource():
    many = hook("many.x.y", rules=[rule(apiGroups=[f"g{i}" for i in range(50)], resources=[f"r{j}" for j in range(50)] + ["r0/status"])])
    idx = index([{"metadata": {"name": "m"}, "webhooks": [many]}], mutating=False)
    assert len(idx) == 2500 and all(len(found) == 1 for found in idx.values())
