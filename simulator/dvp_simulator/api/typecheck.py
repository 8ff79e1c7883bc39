"""The JSON types of a write's body against its kind's structural schema, checked before admission acts on it.

kube-apiserver decodes a body before any admission plugin or webhook sees it, and what it decodes into decides what a
value of the wrong JSON type costs:
- a built-in kind is decoded into its Go structs: a string where a list belongs is the JSON decoder's error, a 400
  BadRequest before anything else runs ("Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal
  string into Go struct field PodSpec.spec.containers of type []v1.Container") — `go_decode_error`; a patch's
  handlers decode the patched object themselves and answer the same words with a 422 on the field `patch`
  (ObjectService.patch), and a review's or a subresource's body is decoded as a create's (APIServer._decode_posted);
- a custom resource is decoded as it is written, and a webhook that decodes it into its own types fails on it. The
  simulator's mutating hooks read fields by their types, as those webhooks do, so they only run on a body in which
  every value has its schema's type (`type_error` is None); any other body goes straight to the schema's validation,
  which refuses it with kube-openapi's type causes (422). A server-side apply's body that is not well typed is
  refused with `type_error`'s words, structured-merge-diff's.

One walk (`_mismatches`) serves both. Go's decoder keeps the first type error it meets and carries on, but stops at
once at an error of a type that decodes itself (a Quantity, an IntOrString, a Time), which then wins; it names the
innermost struct and the JSON path of struct fields (no indexes, no map keys) and the Go type it was filling. The Go
type of a schema node comes from the client model it was generated from (schemas/builtin.py's marker). Approximated:
what the models do not carry (a named string type: v1.RestartPolicy is "string" here; an integer's width: int32 but
for INT64_FIELDS), and a number's literal as written, which the body's decoding (decoding.check_tree) has already
turned into a value: an integral 3e1 or 30.0 is the integer 30 there and passes, where Go's ParseInt refuses the
literal; 1.5 is "1.5", 1e23 "1e23".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..schemas.builtin import INT_OR_STRING, MARKER, QUANTITY
from . import quantities

QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_MODEL = re.compile(r"^(?:[A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")  # V1PodSpec, StorageV1CSIDriver
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# The client's models type every integer `int`; upstream's are int32 but for these fields (k8s.io/api, meta/v1)
INT64_FIELDS = frozenset(
    {
        "terminationGracePeriodSeconds", "activeDeadlineSeconds", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups",
        "deletionGracePeriodSeconds", "generation", "observedGeneration", "expirationSeconds", "startingDeadlineSeconds",
        "gracePeriodSeconds", "progressDeadlineSeconds",
    }
)  # fmt: skip


def go_decode_error(schema: dict[str, Any], obj: dict[str, Any]) -> str | None:
    """What decoding `obj` into a built-in kind's Go struct says (None: it decodes); metadata is not walked (the caller
    has decoded it: objectmeta.decode_errors)."""
    first = None
    for message, fatal in _mismatches(schema, obj, (), "", _struct_name(schema), go=True):
        if fatal:
            return message
        first = first or message
    return first


def type_error(schema: dict[str, Any], obj: dict[str, Any], builtin: bool) -> str | None:
    """The first value of `obj` without its schema's JSON type, worded as structured-merge-diff words it for a
    server-side apply (".spec.ports[0]: expected map, got string"); None when every value has its type. Integral
    floats count as integers, as kube-openapi counts them; a built-in kind's nulls are its zero values (pruning
    drops them)."""
    return next((message for message, _ in _mismatches(schema, obj, (), "", "", go=False, nulls=builtin)), None)


# structured-merge-diff's names of the types it expects
_SMD_NAMES = {"object": "map", "array": "list", "string": "string", "boolean": "boolean", "integer": "numeric (int or float)",
              "number": "numeric (int or float)", "int-or-string": "string or int"}  # fmt: skip


def _mismatches(
    node: dict[str, Any], value: Any, path: tuple[str, ...], where: str, struct: str, go: bool, nulls: bool = True
) -> Iterator[tuple[str, bool]]:
    """(message, fatal) for each value of the wrong type, depth-first in the body's order. `path` and `struct` are the
    last struct field passed (Go's error context), `where` the value's whole path (indexes too); the message is Go's
    decoder's when `go`, structured-merge-diff's otherwise."""
    kind = _kind(node)
    if value is None:
        if not (go or nulls or node.get("nullable")) and kind != "any":
            yield f"{where}: expected {_SMD_NAMES[kind]}, got null", False
        return
    if kind == "any":
        return
    if not go and not _has_kind(kind, value):
        yield f"{where}: expected {_SMD_NAMES[kind]}, got {_json_type(value, numeric=False)}", False
        return
    if kind == "int-or-string":
        if go:
            yield from _int_or_string(node, value)
        return
    if kind == "object":
        if not isinstance(value, dict):
            yield _type_error(value, node, path, struct), False
            return
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        inner = _struct_name(node) or struct
        for key, child in value.items():
            if not where and key in ("apiVersion", "kind", "metadata"):
                continue
            if key in props:
                yield from _mismatches(props[key], child, (*path, key), f"{where}.{key}", inner, go, nulls)
            elif isinstance(extra, dict):
                if child is None and not go:  # pruning drops no map's nulls
                    if not extra.get("nullable") and _kind(extra) != "any":
                        yield f"{where}.{key}: expected {_SMD_NAMES[_kind(extra)]}, got null", False
                    continue
                yield from _mismatches(extra, child, path, f"{where}.{key}", struct, go, nulls)
        return
    if kind == "array":
        if not isinstance(value, list):
            yield _type_error(value, node, path, struct), False
            return
        items = node.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if item is None:  # Go: the element's zero value; pruning drops no list's nulls
                    if not (go or items.get("nullable")) and _kind(items) != "any":
                        yield f"{where}[{i}]: expected {_SMD_NAMES[_kind(items)]}, got null", False
                    continue
                yield from _mismatches(items, item, path, f"{where}[{i}]", struct, go, nulls)
        return
    if not go:
        return
    if kind == "string":
        if not isinstance(value, str):
            if node.get("format") == "date-time":
                yield f"json: cannot unmarshal {_json_type(value, numeric=False)} into Go value of type string", True  # metav1.Time's UnmarshalJSON
            else:
                yield _type_error(value, node, path, struct), False
    elif kind == "boolean":
        if not isinstance(value, bool):
            yield _type_error(value, node, path, struct), False
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            yield _type_error(value, node, path, struct), False
        else:
            low, high = _INT_RANGES[_int_format(node, path)]
            if isinstance(value, float) or not low <= value <= high:
                yield _type_error(value, node, path, struct, numeric=True), False
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            yield _type_error(value, node, path, struct), False


def _has_kind(kind: str, value: Any) -> bool:
    """Whether a (non-null) value is of a schema type as kube-openapi checks it."""
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return kind == "int-or-string" and isinstance(value, str)
    if kind == "number":
        return True
    return isinstance(value, int) or (value.is_integer() and abs(value) < 2**53)  # integer, int-or-string


def _int_or_string(node: dict[str, Any], value: Any) -> Iterator[tuple[str, bool]]:
    """The Go decoding of an int-or-string: resource.Quantity's UnmarshalJSON (a string or a number it parses), else
    IntOrString's (a string, or an int32)."""
    if node.get(MARKER) == QUANTITY:
        if not quantities.is_quantity(value):
            yield QUANTITY_FORMAT_ERROR, True
        return
    if isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        yield f"json: cannot unmarshal {_json_type(value, numeric=False)} into Go value of type int32", True
    elif isinstance(value, float) or not -(2**31) <= value < 2**31:
        yield f"json: cannot unmarshal {_json_type(value, numeric=True)} into Go value of type int32", True


def _kind(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    kind = node.get("type")
    return kind if kind in ("object", "array", "string", "boolean", "integer", "number") else "any"


def _int_format(node: dict[str, Any], path: tuple[str, ...]) -> str:
    fmt = node.get("format")
    if fmt in _INT_RANGES:
        return fmt
    return "int64" if path and path[-1] in INT64_FIELDS else "int32"


def _type_error(value: Any, node: dict[str, Any], path: tuple[str, ...], struct: str, numeric: bool = False) -> str:
    what = _json_type(value, numeric)
    if not path:
        return f"json: cannot unmarshal {what} into Go value of type {go_type(node)}"
    return f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(path)} of type {go_type(node, path)}"


def _json_type(value: Any, numeric: bool) -> str:
    """The decoder's name of what it met: "number 1.5" (the literal) where it was filling a number."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value!r}".replace("e+", "e") if numeric else "number"  # 1e+23 as a client writes it, 1e23
    return {str: "string", list: "array", dict: "object"}.get(type(value), "value")


def _struct_name(node: dict[str, Any]) -> str:
    m = _MODEL.match(node.get(MARKER) or "")
    return m.group(2) if m else ""


def go_type(node: dict[str, Any], path: tuple[str, ...] = ()) -> str:
    """The Go type a schema node of a built-in kind was generated from, as reflect names it (`path`: the struct field's,
    which tells an int64 from an int32)."""
    model = node.get(MARKER)
    if model == QUANTITY:
        return "resource.Quantity"
    if model == INT_OR_STRING:
        return "intstr.IntOrString"
    m = _MODEL.match(model or "")
    if m:
        return f"{m.group(1).lower()}.{m.group(2)}"
    kind = node.get("type")
    if kind == "array":
        return "[]" + go_type(node.get("items") or {}, path)
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            return "v1.ResourceList" if extra.get(MARKER) == QUANTITY else "map[string]" + go_type(extra, path)
        return "map[string]interface {}"
    if kind == "string":
        return {"byte": "[]uint8", "date-time": "v1.Time"}.get(node.get("format") or "", "string")
    if kind == "integer":
        return _int_format(node, path)
    return {"boolean": "bool", "number": "float64"}.get(kind or "", "interface {}")
