"""Pure functions of the API layer: selectors, patches, field ownership, tables, schema admission."""

import pytest

from dvp_simulator.api import apply as ssa
from dvp_simulator.api.discovery import version_priority
from dvp_simulator.api.errors import APIError
from dvp_simulator.api.patch import merge_patch, strategic_merge
from dvp_simulator.api.selectors import match_label_selector, parse_field_selector, parse_label_selector
from dvp_simulator.api.tables import human_duration, jsonpath
from dvp_simulator.api.validation import cel_escape
from dvp_simulator.resources import build_registry


@pytest.mark.parametrize(
    "selector,labels,expected",
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a in (b, c)", {"a": "c"}, True),
        ("a notin (b,c)", {"a": "b"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("a=b,c in (d)", {"a": "b", "c": "d"}, True),
        ("x>3", {"x": "4"}, True),
    ],
)
def test_label_selector(selector, labels, expected):
    assert parse_label_selector(selector)(labels) is expected


def test_bad_label_selector_is_400():
    with pytest.raises(APIError) as err:
        parse_label_selector("a in b")
    assert err.value.code == 400


def test_label_selector_object():
    sel = {"matchLabels": {"group": "blue"}, "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}
    assert match_label_selector(sel, {"group": "blue", "zone": "z2"})
    assert not match_label_selector(sel, {"group": "blue", "zone": "z1"})
    assert match_label_selector({}, {})


def test_field_selector_paths():
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    assert parse_field_selector("spec.nodeName=n1,status.phase!=Failed")(pod)
    assert not parse_field_selector("metadata.name=q")(pod)


def test_merge_patch_rfc7386():
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None}, "d": [2]}) == {"a": {"c": 2}, "d": [2]}


def test_strategic_merge_by_key_and_directives():
    schema = {"properties": {"list": {"type": "array", "x-kubernetes-patch-merge-key": "name", "items": {"type": "object"}}}}
    cur = {"list": [{"name": "a", "v": 1}, {"name": "b", "v": 2}], "keep": 1}
    out = strategic_merge(cur, {"list": [{"name": "b", "v": 3}, {"name": "c"}, {"name": "a", "$patch": "delete"}]}, schema)
    assert out == {"list": [{"name": "b", "v": 3}, {"name": "c"}], "keep": 1}
    assert strategic_merge({"m": {"x": 1}}, {"m": {"$patch": "replace", "y": 2}}, None) == {"m": {"y": 2}}


SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "items": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}},
                },
            },
        }
    },
}


def test_field_paths_keyed_lists_and_metadata():
    obj = {"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"url": "u", "items": [{"name": "n", "v": 1}]}}
    paths = ssa.field_paths(obj, SCHEMA)
    assert ("f:metadata", "f:labels", "f:a") in paths
    assert ("f:spec", "f:items", 'k:{"name":"n"}', "f:v") in paths
    assert not any(p[:2] == ("f:metadata", "f:name") for p in paths)
    assert ssa.decode(ssa.encode(paths)) == paths


def test_server_side_apply_conflict_force_and_removal():
    base = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}}
    obj = ssa.server_side_apply(None, {**base, "spec": {"url": "a", "items": [{"name": "n", "v": 1}]}}, SCHEMA, "alice", "v1", False)
    with pytest.raises(APIError) as err:
        ssa.server_side_apply(obj, {**base, "spec": {"url": "b"}}, SCHEMA, "bob", "v1", False)
    assert err.value.code == 409 and 'conflict with "alice"' in err.value.message
    # Same value: shared ownership, no conflict.
    shared = ssa.server_side_apply(obj, {**base, "spec": {"url": "a"}}, SCHEMA, "bob", "v1", False)
    assert shared["spec"]["url"] == "a"
    forced = ssa.server_side_apply(obj, {**base, "spec": {"url": "b"}}, SCHEMA, "bob", "v1", True)
    assert forced["spec"]["url"] == "b"
    # alice drops the list item from her intent: the server removes it (nobody else owns it).
    again = ssa.server_side_apply(forced, {**base, "spec": {}}, SCHEMA, "alice", "v1", False)
    assert "items" not in again["spec"] and again["spec"]["url"] == "b"


def test_track_update_moves_ownership():
    obj = ssa.server_side_apply(None, {"metadata": {"name": "x"}, "spec": {"url": "a"}}, SCHEMA, "alice", "v1", False)
    new = {**obj, "spec": {"url": "edited"}, "metadata": dict(obj["metadata"])}
    ssa.track_update(obj, new, SCHEMA, "kubectl-edit", "v1", None)
    owners = {e["manager"]: e for e in new["metadata"]["managedFields"]}
    assert "f:url" in str(owners["kubectl-edit"]["fieldsV1"]) and "alice" not in owners


@pytest.mark.parametrize(
    "seconds,text", [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (9 * 3600, "9h"), (3 * 86400, "3d"), (30 * 86400, "30d")]
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_jsonpath_subset():
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "InUse", "status": "False"}], "n": [{"name": "a", "mounted": True}]}}
    assert jsonpath(obj, ".status.conditions[?(@.type=='InUse')].status") == ["False"]
    assert jsonpath(obj, ".status.n[?(@.mounted==true)].name") == ["a"]
    assert jsonpath(obj, ".status.missing") == []


def test_cel_escaping():
    assert cel_escape("namespace") == "__namespace__"
    assert cel_escape("a-b.c") == "a__dash__b__dot__c"


REGISTRY = build_registry()


def ops(kind, version="v1alpha2"):
    return REGISTRY.by_kind("virtualization.deckhouse.io", kind).versions[version].ops


def test_defaults_and_pruning_from_schema():
    vm = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "VirtualMachine",
        "metadata": {"name": "v"},
        "spec": {
            "virtualMachineClassName": "generic",
            "cpu": {"cores": 1},
            "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "d"}],
            "bogus": 1,
        },
    }
    dropped = ops("VirtualMachine").prune(vm)
    assert dropped == ["spec.bogus"]
    ops("VirtualMachine").default(vm)
    assert vm["spec"]["runPolicy"] == "AlwaysOnUnlessStoppedManually"
    assert vm["spec"]["bootloader"] == "BIOS"
    assert ops("VirtualMachine").validate(vm) == []


def test_validation_messages_in_kubernetes_form():
    vm = {
        "metadata": {"name": "v"},
        "spec": {"virtualMachineClassName": "g", "cpu": {"cores": 0}, "memory": {"size": "1Gi"}, "blockDeviceRefs": [], "runPolicy": "Sometimes"},
    }
    causes = {c["field"]: c for c in ops("VirtualMachine").validate(vm)}
    assert causes["spec.runPolicy"]["message"].startswith('Unsupported value: "Sometimes": supported values:')
    assert "should be greater than or equal to 1" in causes["spec.cpu.cores"]["message"]
    assert causes["spec.blockDeviceRefs"]["message"].startswith("Invalid value: 0")
    cvi = {"metadata": {"name": "c"}, "spec": {}}
    assert ops("ClusterVirtualImage").validate(cvi)[0] == {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.dataSource"}


def test_cel_rules_and_transition_rules():
    v = ops("VirtualMachineClass", "v1alpha3")
    bad = {"metadata": {"name": "c"}, "spec": {"cpu": {"type": "Host", "model": "Nehalem"}}}
    assert "HostPassthrough and Host cannot have model" in v.validate(bad)[0]["message"]
    good = {"metadata": {"name": "c"}, "spec": {"cpu": {"type": "Model", "model": "Nehalem"}}}
    assert v.validate(good) == []
    changed = {"metadata": {"name": "c"}, "spec": {"cpu": {"type": "Model", "model": "Haswell"}}}
    assert ".spec.cpu is immutable" in v.validate(changed, good)[0]["message"]
    assert v.validate(changed) == [], "transition rules only run on update"


def test_vm_core_fraction_rule_uses_the_kubernetes_string_library():
    vm = {
        "metadata": {"name": "v"},
        "spec": {
            "virtualMachineClassName": "g",
            "cpu": {"cores": 1, "coreFraction": "50%"},
            "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "d"}],
        },
    }
    assert ops("VirtualMachine").validate(vm) == [], "the rule calls replace(), from Kubernetes' CEL string library"
    from dvp_simulator.api.validation import cel_program

    assert cel_program("'a-b-c'.replace('-', '', 1) == 'ab-c' && 'A'.lowerAscii() == 'a' && 'x,y'.split(',').size() == 2").evaluate({})


def test_a_requests_own_managed_fields_replace_the_live_ones_only_when_well_formed():
    schema = {"type": "object", "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}}
    live_owner = [{"manager": "old", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]
    old = {"metadata": {"name": "x", "managedFields": live_owner}, "data": {"a": "1"}}
    moved = [{**live_owner[0], "manager": "new", "operation": "Apply"}]
    new = {"metadata": {"name": "x", "managedFields": moved}, "data": {"a": "1"}}
    ssa.track_update(old, new, schema, "kubectl", "v1", None)
    assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["new"]
    for broken in ([{"manager": "new", "operation": "Apply", "fieldsV1": {"f:data": 1}}], [{"operation": "Update"}], "nonsense"):
        new = {"metadata": {"name": "x", "managedFields": broken}, "data": {"a": "1"}}
        ssa.track_update(old, new, schema, "kubectl", "v1", None)
        assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["old"], broken
    new = {"metadata": {"name": "x", "managedFields": moved}, "data": {"a": "1"}}
    ssa.track_update(old, new, schema, "kubectl", "v1", "status")
    assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["old"], "a subresource write never edits ownership"


def test_an_invalid_selector_requirement_matches_nothing_and_raises_nothing():
    """A requirement the platform's conversions refuse matches no labels (a VirtualMachineClass whose selector had
    `Gt` with a non-integer value crashed its reconcile on every retry, and could not be deleted)."""
    from dvp_simulator.api.selectors import match_label_selector

    labels = {"x": "5", "z": "1"}
    node = {"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["3"]}]}
    assert match_label_selector(node, labels, node_selector=True)
    assert not match_label_selector(node, labels), "Gt is not a LabelSelector operator"
    for values in (["abc"], [], ["1", "2"], [None]):
        bad = {"matchExpressions": [{"key": "x", "operator": "Gt", "values": values}]}
        assert not match_label_selector(bad, labels, node_selector=True), values
    invalid = [
        {"key": "x", "operator": "In", "values": []},
        {"key": "x", "operator": "Exists", "values": ["5"]},
        {"key": "x", "operator": "Equals", "values": ["5"]},
        {"key": "x"},
        "x=5",
    ]
    for expr in invalid:
        assert not match_label_selector({"matchExpressions": [expr]}, labels), expr
        assert not match_label_selector({"matchExpressions": [expr]}, labels, node_selector=True), expr
    assert match_label_selector({"matchExpressions": [{"key": "x", "operator": "Exists"}, {"key": "y", "operator": "DoesNotExist"}]}, labels)


@pytest.mark.parametrize(
    "selector, message",
    [
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a=b,,c=d", "found ',', expected: identifier after ','"),
        ("a in (x y)", "found 'y', expected: ',' or ')'"),
        ("a in b", "found 'b', expected: '('"),
        ("a in ()", "values set can't be empty"),
        ("-a=b", 'key: Invalid value: "-a"'),
        ("a/b/c=d", 'key: Invalid value: "a/b/c": a qualified name must consist'),
        ("k" * 64 + "=v", "no more than 63 characters"),
        ("a=-b", 'values[0][a]: Invalid value: "-b"'),
        ("a=" + "v" * 64, "no more than 63 characters"),
        ("x>q", "must be an integer"),
        ("!", "expected: identifier"),
    ],
)
def test_a_label_selector_that_labels_parse_refuses_is_a_400_naming_the_problem(selector, message):
    """kube-apiserver's labels.Parse: syntax, then each key and value as a label key and value (a regular expression
    here once took 'a=b=c', 'a,' or a 70-character key as a selector matching nothing)."""
    from dvp_simulator.api.selectors import equality_labels

    with pytest.raises(APIError) as err:
        parse_label_selector(selector)
    assert err.value.code == 400 and err.value.message.startswith("unable to parse requirement: ") and message in err.value.message, err.value.message
    assert equality_labels(selector) == {}


def test_label_selector_edges_that_parse_and_field_selector_escapes():
    from dvp_simulator.api.selectors import equality_labels

    assert parse_label_selector("example.com/a=b,c in (d,),e")({"example.com/a": "b", "c": "", "e": "1"})
    assert parse_label_selector("a=")({"a": ""}) and not parse_label_selector("a=")({})
    assert equality_labels("a=b,c==d,e!=f,g in (h)") == {"a": "b", "c": "d"}
    with pytest.raises(APIError) as err:
        parse_field_selector("metadata.name=a=b")
    assert err.value.code == 400 and "unescaped '='" in err.value.message
    assert parse_field_selector(r"metadata.name=a\=b")({"metadata": {"name": "a=b"}})


def test_discovery_prefers_the_highest_version_in_kube_aware_order():
    """As apiextensions-apiserver: a group's preferred version is its highest served one (kube-aware order), not the
    storage version; VirtualMachineClass stores v1alpha2 (deprecated) and serves v1alpha3."""
    given = ["v1alpha2", "foo", "v2", "v1beta1", "v1", "v1alpha3", "v10beta1", "v1beta2", "bar"]
    assert sorted(given, key=version_priority) == ["v2", "v1", "v10beta1", "v1beta2", "v1beta1", "v1alpha3", "v1alpha2", "bar", "foo"]
