"""kube-apiserver's own rules for Secrets, ConfigMaps and Leases, as admission hooks on (group, kind).

- `stringData` is write-only: merged into `data` (base64) on every write and never stored.
- `data` values must be base64 (a decode error, 400, before anything else sees them).
- Keys are config keys (`[-._a-zA-Z0-9]+`, ≤ 253, not `.`/`..`); the total payload is at most 1 MiB.
- Typed Secrets carry their required keys (docker config JSON, TLS pair).
- `immutable: true` freezes data (and binaryData), and `immutable` itself; a Secret's `type` never changes.
- A Lease's acquireTime and renewTime are metav1.MicroTime: Go parses them with the RFC3339Micro layout, exactly six
  fraction digits, and a string it cannot parse is a decode error (400), as is any other JSON type.

No message quotes a Secret's values: they are credentials."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from . import pod_defaults
from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, decode_failure, invalid
from .objectmeta import json_type

CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
MAX_DATA_BYTES = 1024 * 1024
IMMUTABLE = "field is immutable when `immutable` is set"
REDACTED = "<secret contents redacted>"
SECRET_TYPE_SA_TOKEN, SA_NAME_ANNOTATION = "kubernetes.io/service-account-token", "kubernetes.io/service-account.name"
SECRET_TYPE_BASIC_AUTH = "kubernetes.io/basic-auth"  # username or password, either may be empty
REQUIRED_KEYS = {
    v.SECRET_TYPE_DOCKER_CONFIG_JSON: (".dockerconfigjson",),
    v.SECRET_TYPE_DOCKERCFG: (".dockercfg",),
    v.SECRET_TYPE_TLS: ("tls.crt", "tls.key"),
    v.SECRET_TYPE_SSH_AUTH: ("ssh-privatekey",),
}


def config_key_errors(key: str) -> list[str]:
    """IsConfigMapKey's messages."""
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not CONFIG_KEY.fullmatch(key):
        errs.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        )
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


# metav1.MicroTime's decoder is time.Parse(RFC3339Micro, s): each layout element must match in turn (the fraction
# has exactly six digits), then the fields must be in range. The pieces below are that layout, element by element.
MICRO_TIME_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
_MICRO_TIME_ELEMENTS = tuple(
    (element, re.compile(rx, re.ASCII))  # Go reads ASCII digits only; Python's \d alone would take any Unicode digit
    for element, rx in (
        ("2006", r"\d{4}"), ("-", "-"), ("01", r"\d\d"), ("-", "-"), ("02", r"\d\d"), ("T", "T"), ("15", r"\d\d"), (":", ":"),
        ("04", r"\d\d"), (":", ":"), ("05", r"\d\d"), (".000000", r"\.\d{6}"), ("Z07:00", r"(?:Z|[+-]\d\d:\d\d)"),
    )
)  # fmt: skip
_MICRO_TIME = re.compile("".join(rx.pattern for _, rx in _MICRO_TIME_ELEMENTS), re.ASCII)
_RANGES = ((5, 7, 1, 12, "month"), (8, 10, 1, 31, "day"), (11, 13, 0, 23, "hour"), (14, 16, 0, 59, "minute"), (17, 19, 0, 59, "second"))
LEASE_TIME_FIELDS = ("acquireTime", "renewTime")


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def micro_time_error(value: str) -> str | None:
    """Why Go's time.Parse(RFC3339Micro, value) fails, worded as Go words it; None when it parses."""
    if not _MICRO_TIME.fullmatch(value):
        rest = value
        for element, rx in _MICRO_TIME_ELEMENTS:
            found = rx.match(rest)
            if found is None:
                return f"parsing time {_go_quote(value)} as {_go_quote(MICRO_TIME_LAYOUT)}: cannot parse {_go_quote(rest)} as {_go_quote(element)}"
            rest = rest[found.end() :]
        return f"parsing time {_go_quote(value)}: extra text: {_go_quote(rest)}"
    for start, end, low, high, what in _RANGES:
        if not low <= int(value[start:end]) <= high:
            return f"parsing time {_go_quote(value)}: {what} out of range"
    if value[26] != "Z" and (int(value[27:29]) > 24 or int(value[30:32]) > 60):
        what = "hour" if int(value[27:29]) > 24 else "minute"
        return f"parsing time {_go_quote(value)}: time zone offset {what} out of range"
    try:
        datetime(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return f"parsing time {_go_quote(value)}: day out of range"  # the 31st of a 30-day month, 29 February
    return None


def _decode_failure(kind: str, why: str) -> Exception:
    return decode_failure(kind, v.CORE_VERSION, why)


def _string_map(obj: dict[str, Any], field: str, kind: str) -> dict[str, str]:
    value = obj.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise _decode_failure(kind, f"json: cannot unmarshal into Go struct field {kind}.{field} of type map[string]string")
    return value


def _base64_map(obj: dict[str, Any], field: str, kind: str) -> dict[str, bytes]:
    """Decoded values of a map[string][]byte field; 400 as Go's decoder words a bad one (without the value)."""
    out = {}
    for key, value in _string_map(obj, field, kind).items():
        try:
            out[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _decode_failure(kind, f"illegal base64 data in {field}[{key}]") from None
    return out


def merge_string_data(request: AdmissionRequest) -> None:
    """Secret: stringData into data (stringData wins), then dropped."""
    obj = request.obj
    strings = _string_map(obj, "stringData", v.SECRET)
    _base64_map(obj, "data", v.SECRET)
    obj.pop("stringData", None)
    if strings:
        data = dict(obj.get("data") or {})
        data.update({k: base64.b64encode(text.encode()).decode() for k, text in strings.items()})
        obj["data"] = data


def _key_causes(maps: dict[str, dict[str, bytes]]) -> list[dict[str, str]]:
    causes = []
    total = 0
    for field, values in maps.items():
        for key, value in values.items():
            total += len(value)
            causes += [cause(f"{field}[{key}]", f"Invalid value: {json.dumps(key)}: {m}") for m in config_key_errors(key)]
    if total > MAX_DATA_BYTES:
        field = "data" if len(maps) == 1 else "[]"
        causes.append(cause(field, f"Too long: may not be more than {MAX_DATA_BYTES} bytes", "FieldValueTooLong"))
    return causes


def validate_secret(request: AdmissionRequest) -> None:
    obj, old = request.obj, request.old
    data = _base64_map(obj, "data", v.SECRET)
    causes = _key_causes({"data": data})
    secret_type = obj.get("type") or v.SECRET_TYPE_OPAQUE
    for key in REQUIRED_KEYS.get(secret_type, ()):
        if key not in data:
            causes.append(cause(f"data[{key}]", "Required value", "FieldValueRequired"))
    for docker_type, key in ((v.SECRET_TYPE_DOCKER_CONFIG_JSON, ".dockerconfigjson"), (v.SECRET_TYPE_DOCKERCFG, ".dockercfg")):
        if secret_type == docker_type and key in data:
            try:
                json.loads(data[key])
            except ValueError as exc:
                causes.append(cause(f"data[{key}]", f'Invalid value: "{REDACTED}": {exc}'))
    if secret_type == SECRET_TYPE_SA_TOKEN and not ((obj["metadata"].get("annotations") or {}).get(SA_NAME_ANNOTATION)):
        # its token and uid may come later from a controller; the account it is for never does (upstream ValidateSecret)
        causes.append(cause(f"metadata.annotations[{SA_NAME_ANNOTATION}]", "Required value", "FieldValueRequired"))
    if secret_type == SECRET_TYPE_BASIC_AUTH and "username" not in data and "password" not in data:
        causes += [cause(f"data[{key}]", "Required value", "FieldValueRequired") for key in ("username", "password")]
    if old is not None:
        old_type = old.get("type") or v.SECRET_TYPE_OPAQUE
        if secret_type != old_type:
            causes.append(cause("type", f"Invalid value: {json.dumps(secret_type)}: field is immutable"))
        if old.get("immutable") is True:
            if obj.get("immutable") is not True:
                causes.append(cause("immutable", f"Forbidden: {IMMUTABLE}", "FieldValueForbidden"))
            if (obj.get("data") or {}) != (old.get("data") or {}):
                causes.append(cause("data", f"Forbidden: {IMMUTABLE}", "FieldValueForbidden"))
    if causes:
        raise invalid(v.CORE_GROUP, v.SECRET, obj["metadata"]["name"], causes)


def validate_configmap(request: AdmissionRequest) -> None:
    obj, old = request.obj, request.old
    data = {k: text.encode() for k, text in _string_map(obj, "data", v.CONFIG_MAP).items()}
    binary = _base64_map(obj, "binaryData", v.CONFIG_MAP)
    causes = _key_causes({"data": data, "binaryData": binary})
    for key in data.keys() & binary.keys():
        causes.append(cause(f"data[{key}]", f"Invalid value: {json.dumps(key)}: duplicate of key present in binaryData"))
    if old is not None and old.get("immutable") is True:
        if obj.get("immutable") is not True:
            causes.append(cause("immutable", f"Forbidden: {IMMUTABLE}", "FieldValueForbidden"))
        for field in ("data", "binaryData"):
            if (obj.get(field) or {}) != (old.get(field) or {}):
                causes.append(cause(field, f"Forbidden: {IMMUTABLE}", "FieldValueForbidden"))
    if causes:
        raise invalid(v.CORE_GROUP, v.CONFIG_MAP, obj["metadata"]["name"], causes)


def decode_lease_times(request: AdmissionRequest) -> None:
    """Lease: acquireTime and renewTime must decode as metav1.MicroTime (400 otherwise, before the schema runs)."""
    spec = request.obj.get("spec")
    if not isinstance(spec, dict):
        return  # the schema's 422 names it
    for field in LEASE_TIME_FIELDS:
        value = spec.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _decode_failure(v.LEASE, f"json: cannot unmarshal {json_type(value)} into Go struct field LeaseSpec.spec.{field} of type string")
        why = micro_time_error(value)
        if why:
            raise _decode_failure(v.LEASE, why)


def register(admission: Admission) -> None:
    pod_defaults.register(admission)
    admission.mutate(v.CORE_GROUP, v.SECRET, operations=(CREATE, UPDATE))(merge_string_data)
    admission.validate(v.CORE_GROUP, v.SECRET, operations=(CREATE, UPDATE))(validate_secret)
    admission.validate(v.CORE_GROUP, v.CONFIG_MAP, operations=(CREATE, UPDATE))(validate_configmap)
    admission.mutate(v.COORDINATION_GROUP, v.LEASE, operations=(CREATE, UPDATE))(decode_lease_times)
