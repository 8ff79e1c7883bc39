"""api/typecheck.py: a body's JSON types against its kind's schema — the Go decoder's 400 of a built-in kind, the
structured-merge-diff wording of a server-side apply, and the guard that keeps mistyped bodies from the mutating
hooks — and validation.py's kube-openapi wording of a type cause. The walk must never be stricter than the schema's
validation (a body it flags is one validation refuses), or a mistyped body would skip the hooks and be stored."""

from __future__ import annotations

import copy

import pytest

from dvp_simulator.api import typecheck
from dvp_simulator.api.validation import _type_names
from dvp_simulator.resources import build_registry

from ..mutations import TOP_LEVEL_KEPT, paths, with_value

REGISTRY = build_registry()
V = "virtualization.deckhouse.io"


def version(group: str, kind: str, name: str):
    return REGISTRY.by_kind(group, kind).versions[name]


POD = version("", "Pod", "v1")
SERVICE = version("", "Service", "v1")
CONFIGMAP = version("", "ConfigMap", "v1")
VM = version(V, "VirtualMachine", "v1alpha2")

A_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"a": "b"}},
    "spec": {
        "terminationGracePeriodSeconds": 30,
        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1", "memory": 1073741824}}}],
        "nodeSelector": {"a": "b"},
    },
}
A_VM = {
    "apiVersion": f"{V}/v1alpha2",
    "kind": "VirtualMachine",
    "metadata": {"name": "vm"},
    "spec": {
        "virtualMachineClassName": "generic",
        "cpu": {"cores": 1, "coreFraction": "10%"},
        "memory": {"size": "1Gi"},
        "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "d"}],
        "runPolicy": "AlwaysOn",
    },
}


# -- the Go decoder (built-in kinds) ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("spec",), "x", "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"),
        (("spec", "containers"), "x", "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container"),
        (("spec", "containers", 0), 7, "json: cannot unmarshal number into Go struct field PodSpec.spec.containers of type v1.Container"),
        (
            ("spec", "containers", 0, "ports", 0, "containerPort"),
            "80",
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32",
        ),
        (
            ("spec", "containers", 0, "ports", 0, "containerPort"),
            2**31,
            "json: cannot unmarshal number 2147483648 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32",
        ),
        (
            ("spec", "terminationGracePeriodSeconds"),
            1.5,
            "json: cannot unmarshal number 1.5 into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64",
        ),
        (("spec", "nodeSelector"), ["a"], "json: cannot unmarshal array into Go struct field PodSpec.spec.nodeSelector of type map[string]string"),
        (("spec", "nodeSelector", "a"), True, "json: cannot unmarshal bool into Go struct field PodSpec.spec.nodeSelector of type string"),
        (
            ("spec", "containers", 0, "resources", "limits"),
            "1",
            "json: cannot unmarshal string into Go struct field ResourceRequirements.spec.containers.resources.limits of type v1.ResourceList",
        ),
        (("spec", "containers", 0, "resources", "limits", "cpu"), "lots", typecheck.QUANTITY_FORMAT_ERROR),
        (("spec", "containers", 0, "resources", "limits", "cpu"), {}, typecheck.QUANTITY_FORMAT_ERROR),
    ],
)
def test_a_built_in_kind_decodes_as_kube_apiservers_go_structs(path, value, message):
    assert typecheck.go_decode_error(POD.schema, with_value(A_POD, path, value)) == message


def test_a_well_formed_body_decodes_and_nulls_are_go_zero_values():
    assert typecheck.go_decode_error(POD.schema, A_POD) is None
    assert typecheck.go_decode_error(POD.schema, with_value(A_POD, ("spec", "nodeSelector"), None)) is None
    assert typecheck.go_decode_error(POD.schema, with_value(A_POD, ("spec", "containers", 0, "ports"), [None])) is None
    a_number_quantity = with_value(A_POD, ("spec", "containers", 0, "resources", "limits", "cpu"), 0.5)
    assert typecheck.go_decode_error(POD.schema, a_number_quantity) is None, "a Quantity parses a JSON number"


def test_int_or_string_and_time_decode_through_their_own_unmarshalers():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}
    assert typecheck.go_decode_error(SERVICE.schema, service) is None
    target = ("spec", "ports", 0, "targetPort")
    assert typecheck.go_decode_error(SERVICE.schema, with_value(service, target, 8080)) is None
    assert typecheck.go_decode_error(SERVICE.schema, with_value(service, target, True)) == "json: cannot unmarshal bool into Go value of type int32"
    assert typecheck.go_decode_error(SERVICE.schema, with_value(service, target, 1.5)) == "json: cannot unmarshal number 1.5 into Go value of type int32"
    pod = with_value(A_POD, ("status",), {"startTime": 5})
    assert typecheck.go_decode_error(POD.schema, pod) == "json: cannot unmarshal number into Go value of type string"


def test_the_first_type_error_is_kept_but_an_unmarshalers_error_wins():
    """Go's decoder saves the first UnmarshalTypeError and goes on; an error from a type's own UnmarshalJSON stops it."""
    two = with_value(A_POD, ("spec", "terminationGracePeriodSeconds"), "30")
    two["spec"]["nodeSelector"] = 5
    assert "terminationGracePeriodSeconds" in typecheck.go_decode_error(POD.schema, two)
    two["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "lots"
    assert typecheck.go_decode_error(POD.schema, two) == typecheck.QUANTITY_FORMAT_ERROR


def test_a_map_of_strings_names_its_struct():
    message = "json: cannot unmarshal string into Go struct field ConfigMap.data of type map[string]string"
    assert typecheck.go_decode_error(CONFIGMAP.schema, {"data": "x"}) == message
    assert typecheck.go_decode_error(CONFIGMAP.schema, {"data": {"a": "b"}, "binaryData": {"b": "dg=="}}) is None


# -- the walk beside the schema's validation ------------------------------------------------------------------
def test_type_error_words_the_first_mismatch_with_its_whole_path():
    assert typecheck.type_error(VM.schema, A_VM, builtin=False) is None
    assert typecheck.type_error(VM.schema, with_value(A_VM, ("spec",), ""), builtin=False) == ".spec: expected map, got string"
    refs = ("spec", "blockDeviceRefs", 0)
    assert typecheck.type_error(VM.schema, with_value(A_VM, refs, "d"), builtin=False) == ".spec.blockDeviceRefs[0]: expected map, got string"
    no_cores = with_value(A_VM, ("spec", "cpu", "cores"), None)
    assert typecheck.type_error(VM.schema, no_cores, builtin=False) == ".spec.cpu.cores: expected numeric (int or float), got null"
    assert typecheck.type_error(VM.schema, with_value(A_VM, ("spec", "cpu", "cores"), 2.0), builtin=False) is None, "an integral float is an integer"
    assert typecheck.type_error(POD.schema, with_value(A_POD, ("spec", "nodeSelector"), None), builtin=True) is None, "pruning drops it"
    assert typecheck.type_error(POD.schema, with_value(A_POD, ("spec", "containers", 0), None), builtin=True) == ".spec.containers[0]: expected map, got null"


ALTERNATIVES = ("s", 7, 1.5, 2.0, True, [], [1], {}, {"x": 1}, None, 2**40)


@pytest.mark.parametrize("subject", ["pod", "vm"])
def test_the_walk_flags_what_validation_refuses_and_every_wrong_type(subject):
    """Every value of a valid body replaced by values of each JSON type: a body type_error flags is one the schema's
    validation refuses (so a body that skips the mutating hooks is never stored), and every body validation finds a
    wrong type in is flagged (so the hooks never meet one)."""
    ver, body, builtin = (POD, A_POD, True) if subject == "pod" else (VM, A_VM, False)
    checked = flagged_count = 0
    for path in paths(body, skip=TOP_LEVEL_KEPT):
        for alt in ALTERNATIVES:
            mutated = with_value(body, path, alt)
            if builtin:  # decoded before the walk, as admission does: nulls dropped, quantities canonical
                ver.ops.prune(mutated)
                ver.ops.canonicalize(mutated)
            flagged = typecheck.type_error(ver.schema, mutated, builtin) is not None
            causes = ver.ops.validate(copy.deepcopy(mutated))
            assert not flagged or causes, (path, alt)
            assert flagged or not any(c["reason"] == "FieldValueTypeInvalid" for c in causes), (path, alt, causes)
            checked += 1
            flagged_count += flagged
    assert checked > 100 and flagged_count > 50


def test_a_built_in_kinds_quantities_are_written_back_canonical():
    pod = with_value(A_POD, ("spec", "containers", 0, "resources", "requests"), {"cpu": 0.5, "memory": "1024Mi", "ephemeral-storage": "2e3"})
    pod["spec"]["overhead"] = {"cpu": 1}
    POD.ops.canonicalize(pod)
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2e3"}
    assert resources["limits"] == {"cpu": "1", "memory": "1073741824"}
    assert pod["spec"]["overhead"] == {"cpu": "1"}
    bad = with_value(A_POD, ("spec", "containers", 0, "resources", "limits", "cpu"), True)
    POD.ops.canonicalize(bad)
    assert bad["spec"]["containers"][0]["resources"]["limits"]["cpu"] is True, "not a quantity: left to validation"


# -- kube-openapi's wording of a type cause ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schema", "expected", "value", "names"),
    [
        ({"type": "object"}, "object", "abc", ("object", "string")),
        ({"type": "integer"}, "integer", "3", ("integer", "string")),
        ({"type": "string"}, "string", 7, ("string", "integer")),
        ({"type": "string"}, "string", 1.5, ("string", "number")),
        ({"type": "string"}, "string", None, ("string", "null")),
        ({"type": "array"}, "array", {}, ("array", "object")),
        ({"type": "integer", "format": "int32"}, "integer", True, ("int32", "")),
        ({"type": "integer", "format": "int32"}, "integer", "x", ("integer", "string")),
        ({"type": "string", "format": "byte"}, "string", 5, ("byte", "int64")),
        ({"type": "boolean"}, ["boolean", "null"], "yes", ("boolean", "string")),
    ],
)
def test_a_type_cause_names_the_values_type_as_kube_openapi(schema, expected, value, names):
    assert _type_names(schema, expected, value) == names


def test_a_crd_type_cause_reads_as_kube_apiservers():
    causes = VM.ops.validate(with_value(A_VM, ("spec", "cpu"), "big"))
    why = 'Invalid value: "string": spec.cpu in body must be of type object: "string"'
    assert {"reason": "FieldValueTypeInvalid", "message": why, "field": "spec.cpu"} in causes
