"""ObjectMeta rules every kind shares, worded as apimachinery words them.

`decode_errors` is the JSON decoder's part (a field of the wrong type is a 400 BadRequest before anything else
runs); `validate` is ValidateObjectMeta's part (422 causes: qualified label and annotation keys, label values,
the 256 KiB annotation budget, owner references, finalizer names)."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from .errors import cause

QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
DNS1123_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_QUALIFIED = re.compile(QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(LABEL_VALUE_FMT)
_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_FMT)
TOTAL_ANNOTATION_SIZE = 256 * 1024
QUALIFIED_NAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

# Go type of each ObjectMeta field, for the decoder's "cannot unmarshal" message.
_STRING_FIELDS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")
_INT_FIELDS = ("generation", "deletionGracePeriodSeconds")
_MAP_FIELDS = ("labels", "annotations")
_LIST_FIELDS = {"finalizers": "[]string", "ownerReferences": "[]v1.OwnerReference", "managedFields": "[]v1.ManagedFieldsEntry"}


# A kind's name rule (ValidateNameFunc upstream): most names are DNS-1123 subdomains, a Namespace's a DNS-1123 label
# (apimachinery ValidateNamespaceName), a Service's a DNS-1035 label (core validation ValidateServiceName: it becomes a
# DNS name of its own, which must not start with a digit).
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_NAME_RULES = {
    "subdomain": (
        re.compile(DNS1123_SUBDOMAIN_FMT),
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        ("example.com",),
    ),
    "label": (
        re.compile(DNS1123_LABEL_FMT),
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        DNS1123_LABEL_FMT,
        ("my-name", "123-abc"),
    ),
    "dns1035": (
        re.compile(DNS1035_LABEL_FMT),
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT,
        ("my-name", "abc-123"),
    ),
}
NAME_RULE_OF_KIND = {"Namespace": "label", "Service": "dns1035"}


@functools.lru_cache(maxsize=4096)
def name_errors(kind: str, name: str) -> tuple[str, ...]:
    """The messages of metadata.name's rule for `kind` (none: valid), as IsDNS1123Subdomain / IsDNS1123Label /
    IsDNS1035Label word them: the length first, then the pattern. Memoised: a controller writes the same names over and
    over."""
    pattern, most, msg, fmt, examples = _NAME_RULES[NAME_RULE_OF_KIND.get(kind, "subdomain")]
    errs = []
    if len(name) > most:
        errs.append(f"must be no more than {most} characters")
    if not pattern.fullmatch(name):
        errs.append(_regex_error(msg, fmt, *examples))
    return tuple(errs)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def json_type(value: Any) -> str:
    """The JSON type of a decoded value as Go's decoder names it in "cannot unmarshal X"."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "value")


def decode_errors(meta: Any) -> str | None:
    """Why metadata could not be decoded into an ObjectMeta, or None."""
    if not isinstance(meta, dict):
        return f"json: cannot unmarshal {json_type(meta)} into Go struct field .metadata of type v1.ObjectMeta"

    def wrong(field: str, value: Any, go_type: str) -> str:
        return f"json: cannot unmarshal {json_type(value)} into Go struct field ObjectMeta.metadata.{field} of type {go_type}"

    for key, value in meta.items():
        if value is None:
            continue
        if key in _STRING_FIELDS and not isinstance(value, str):
            return wrong(key, value, "string")
        if key in _INT_FIELDS and (not isinstance(value, int) or isinstance(value, bool)):
            return wrong(key, value, "int64")
        if key in _MAP_FIELDS:
            if not isinstance(value, dict):
                return wrong(key, value, "map[string]string")
            for v in value.values():
                if not isinstance(v, str):
                    return wrong(key, v, "string")
        if key in _LIST_FIELDS:
            if not isinstance(value, list):
                return wrong(key, value, _LIST_FIELDS[key])
            item_type = str if key == "finalizers" else dict
            for item in value:
                if not isinstance(item, item_type):
                    return wrong(key, item, _LIST_FIELDS[key][2:])
                if key == "ownerReferences":
                    for f in ("apiVersion", "kind", "name", "uid"):
                        if not isinstance(item.get(f, ""), str):
                            return wrong(f"ownerReferences.{f}", item[f], "string")
                    for f in ("controller", "blockOwnerDeletion"):
                        if not isinstance(item.get(f, False), bool | None):
                            return wrong(f"ownerReferences.{f}", item[f], "bool")
                if key == "managedFields":
                    for f in ("manager", "operation", "apiVersion", "time", "fieldsType", "subresource"):
                        if not isinstance(item.get(f, ""), str | None):
                            return wrong(f"managedFields.{f}", item[f], "string")
                    if not isinstance(item.get("fieldsV1", {}), dict | None):
                        return wrong("managedFields.fieldsV1", item["fieldsV1"], "v1.FieldsV1")
    return None


@functools.lru_cache(maxsize=8192)
def qualified_name_errors(value: str) -> tuple[str, ...]:
    """IsQualifiedName: an optional DNS-subdomain prefix (≤ 253) and '/', then a name (≤ 63). Memoised: the same
    label keys and finalizers come back on every write of every object (a node carries ~70 CPU-feature labels)."""
    return tuple(_qualified_name_errors(value))


def _qualified_name_errors(value: str) -> list[str]:
    errs = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not _SUBDOMAIN.fullmatch(prefix):
                msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                errs.append("prefix part " + _regex_error(msg, DNS1123_SUBDOMAIN_FMT, "example.com"))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QUALIFIED.fullmatch(name):
        errs.append("name part " + _regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


@functools.lru_cache(maxsize=8192)
def label_value_errors(value: str) -> tuple[str, ...]:
    """IsValidLabelValue (memoised as qualified_name_errors)."""
    return tuple(_label_value_errors(value))


def _label_value_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE.fullmatch(value):
        msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        errs.append(_regex_error(msg, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _invalid(path: str, value: str, msg: str) -> dict[str, str]:
    return cause(path, f"Invalid value: {json.dumps(value)}: {msg}")


def validate(meta: dict[str, Any]) -> list[dict[str, str]]:
    """ValidateObjectMeta's causes for labels, annotations, owner references and finalizers (names are the
    caller's: their rule depends on the kind). `meta` has passed decode_errors."""
    causes = []
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:  # a client's own, on a kind that keeps none (service.GENERATION_KINDS)
        causes.append(cause("metadata.generation", f"Invalid value: {generation}: must be greater than or equal to 0"))
    for key, value in (meta.get("labels") or {}).items():
        causes += [_invalid("metadata.labels", key, m) for m in qualified_name_errors(key)]
        causes += [_invalid("metadata.labels", value, m) for m in label_value_errors(value)]
    annotations = meta.get("annotations") or {}
    size = 0
    for key, value in annotations.items():
        causes += [_invalid("metadata.annotations", key, m) for m in qualified_name_errors(key.lower())]
        size += len(key.encode()) + len(value.encode())
    if size > TOTAL_ANNOTATION_SIZE:
        causes.append(cause("metadata.annotations", f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE} bytes", "FieldValueTooLong"))
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for f in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(f):
                causes.append(_invalid(f"metadata.ownerReferences[{i}].{f}", "", f"{f.lower() if f != 'apiVersion' else 'version'} must not be empty"))
    for i, name in enumerate(meta.get("finalizers") or []):
        causes += [_invalid(f"metadata.finalizers[{i}]", name, m) for m in qualified_name_errors(name)]
    return causes
