"""Query parameters and DeleteOptions bodies, checked as kube-apiserver checks them.

Two kinds of refusal, as upstream: a parameter that does not parse (`limit=abc`, a bool that is not one) is a
400 BadRequest from the parameter decoder; a parameter that parses but is not allowed (`dryRun=true`, an
unknown `fieldValidation`, apply without `fieldManager`) is a 422 Invalid on the verb's options kind
(`CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ...`)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import golang
from .errors import APIError, bad_request, cause, invalid
from .objectmeta import json_type

META_GROUP = "meta.k8s.io"
FIELD_VALIDATION = ("", "Ignore", "Strict", "Warn")
PROPAGATION = ("Foreground", "Background", "Orphan")
RV_MATCH = ("Exact", "NotOlderThan")
FIELD_MANAGER_MAX = 128


def _quote(value: Any) -> str:
    if isinstance(value, list):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    return json.dumps(value)


def unsupported(path: str, value: Any, allowed: tuple[str, ...]) -> dict[str, str]:
    listed = ", ".join(json.dumps(a) for a in allowed)
    return cause(path, f"Unsupported value: {_quote(value)}: supported values: {listed}", "FieldValueNotSupported")


def options_invalid(kind: str, causes: list[dict[str, str]]) -> APIError:
    """422 on `<kind>.meta.k8s.io ""`, the form of every options-validation error."""
    return invalid(META_GROUP, kind, "", causes)


_GO_INT = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt(s, 10, 64): no spaces, no underscores
INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def parse_int(params: Mapping[str, str], name: str) -> int | None:
    """An int64 query parameter, or None when absent; 400 as Go's strconv words it when not one."""
    text = params.get(name)
    if text is None or text == "":
        return None
    if not _GO_INT.fullmatch(text) or not text.isascii():
        raise bad_request(f'strconv.ParseInt: parsing "{text[:64]}": invalid syntax')
    value = int(text, 10)
    if not INT64_MIN <= value <= INT64_MAX:
        raise bad_request(f'strconv.ParseInt: parsing "{text[:64]}": value out of range')
    return value


def query_flag(params: Mapping[str, str], name: str) -> bool:
    """A boolean of ListOptions (watch, allowWatchBookmarks, sendInitialEvents) as the API server converts it
    (Convert_Slice_string_To_bool): absent is false, "0" and "false" in any case are false, anything else is true."""
    text = params.get(name)
    return text is not None and text != "0" and text.lower() != "false"


def parse_bool(params: Mapping[str, str], name: str) -> bool | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise bad_request(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def dry_run_causes(values: list[Any]) -> list[dict[str, str]]:
    if all(v == "All" for v in values):
        return []
    return [unsupported("dryRun", values, ("All",))]


def field_manager_causes(manager: str) -> list[dict[str, str]]:
    out = []
    if len(manager.encode()) > FIELD_MANAGER_MAX:
        out.append(cause("fieldManager", f"Too long: may not be more than {FIELD_MANAGER_MAX} bytes", "FieldValueTooLong"))
    for i, ch in enumerate(manager):
        if not ch.isprintable() and ch != " ":
            out.append(cause("fieldManager", f"Invalid value: {json.dumps(manager)}: invalid character U+{ord(ch):04X} (at position {i})"))
            break
    return out


@dataclass
class WriteParams:
    dry_run: bool
    manager: str
    field_validation: str
    force: bool


def write_params(params: Mapping[str, str], dry_run: list[str], verb: str, user_agent: str, apply: bool = False) -> WriteParams:
    """Options of a create (POST), update (PUT) or patch (PATCH). `verb` picks the options kind named in errors.
    Without fieldManager a non-apply write is recorded under the User-Agent's product name, as upstream;
    an apply patch must name its manager."""
    kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}[verb]
    force = parse_bool(params, "force")
    manager = params.get("fieldManager", "")
    validation = params.get("fieldValidation", "")
    causes = []
    if verb == "PATCH" and not apply and force is not None:
        causes.append(cause("force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden"))
    if apply and not manager:
        causes.append(cause("fieldManager", "Required value: is required for apply patch", "FieldValueRequired"))
    causes += field_manager_causes(manager)
    causes += dry_run_causes(dry_run)
    if validation not in FIELD_VALIDATION:
        causes.append(unsupported("fieldValidation", validation, FIELD_VALIDATION))
    if causes:
        raise options_invalid(kind, causes)
    if not manager and not apply:
        manager = user_agent.split("/")[0][:FIELD_MANAGER_MAX] or "unknown"
    return WriteParams(bool(dry_run), manager, validation or "Warn", bool(force))


@dataclass
class ListParams:
    limit: int
    continue_rv: int | None
    continue_after: tuple[str, str] | None
    resource_version: int | None
    timeout: int | None


def list_params(params: Mapping[str, str], watch: bool) -> ListParams:
    """limit (negative means no limit, as upstream), continue, resourceVersion(+Match), timeoutSeconds."""
    limit = parse_int(params, "limit") or 0
    timeout = parse_int(params, "timeoutSeconds")
    rv_text = params.get("resourceVersion", "")
    match = params.get("resourceVersionMatch", "")
    token = params.get("continue", "")
    causes = []
    if watch:
        causes += watch_match_causes(match, params.get("sendInitialEvents"), token)
    elif "sendInitialEvents" in params:
        causes.append(cause("sendInitialEvents", "Forbidden: sendInitialEvents is forbidden for list", "FieldValueForbidden"))
    if not watch and match:
        if not rv_text:
            causes.append(cause("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided", "FieldValueForbidden"))
        if token:
            causes.append(cause("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden when continue is provided", "FieldValueForbidden"))
        if match not in RV_MATCH:
            causes.append(unsupported("resourceVersionMatch", match, (*RV_MATCH, "")))
        if match == "Exact" and rv_text == "0":
            causes.append(cause("resourceVersionMatch", 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"', "FieldValueForbidden"))
    if causes:
        raise options_invalid("ListOptions", causes)
    # the token first, then the version (upstream: staging/src/k8s.io/apiserver/pkg/storage/interfaces.go ValidateListOptions)
    continue_rv, after = decode_continue(token) if token else (None, None)
    if token and rv_text not in ("", "0"):
        raise bad_request("specifying resource version is not allowed when using continue")
    rv = parse_resource_version(rv_text) if rv_text else None
    return ListParams(max(limit, 0), continue_rv, after, rv, timeout)


def watch_match_causes(match: str, send_initial: str | None, token: str) -> list[dict[str, Any]]:
    """Upstream validateWatchOptions: sendInitialEvents requires resourceVersionMatch=NotOlderThan, and a match is
    allowed on a watch only together with sendInitialEvents."""
    causes = []
    if send_initial is not None and match != "NotOlderThan":
        causes.append(cause("resourceVersionMatch", "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan", "FieldValueForbidden"))
    if match:
        if send_initial is None:
            causes.append(cause("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided", "FieldValueForbidden"))
        if match != "NotOlderThan":
            causes.append(unsupported("resourceVersionMatch", match, ("NotOlderThan",)))
        if token:
            causes.append(cause("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden when continue is provided", "FieldValueForbidden"))
    return causes


def parse_resource_version(text: str) -> int:
    """A resourceVersion is a non-negative decimal integer here (a uint64 in etcd); anything else is 400 as from
    the storage layer."""
    if not text.isdigit() or not text.isascii():
        raise bad_request(f'invalid resource version: resourceVersion: Invalid value: "{text[:64]}": strconv.ParseUint: parsing "{text[:64]}": invalid syntax')
    if int(text) > UINT64_MAX:
        raise bad_request(f'invalid resource version: resourceVersion: Invalid value: "{text[:64]}": strconv.ParseUint: parsing "{text[:64]}": value out of range')
    return int(text)


def encode_continue(rv: int, namespace: str, name: str) -> str:
    """A continue token: base64 without padding of the URL alphabet (RawURLEncoding, as upstream's), of JSON of the
    simulator's own making (upstream's carries an etcd key; the simulator's store is keyed by namespace and name)."""
    return base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "ns": namespace, "name": name}).encode()).decode().rstrip("=")


_TOKEN_FIELDS = (("v", "string"), ("rv", "int64"))  # the fields upstream's continueToken has too


def decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    """(list resourceVersion, (namespace, name) to start after). A forged token is 400 BadRequest "invalid continue
    token: continue key is not valid: <why>", as storage.ValidateListOptions words storage.DecodeContinue's errors
    (upstream: staging/src/k8s.io/apiserver/pkg/storage/interfaces.go, continue.go), <why> in Go's own words for a
    token that is not base64 or not JSON (encoding/base64, encoding/json). Trailing '=' padding, which the tokens of
    earlier simulator versions carried, is accepted; a resourceVersion below 1 is refused (upstream reads a negative
    one as "the latest", which the simulator never issues)."""

    def reject(why: str) -> APIError:
        return bad_request(f"invalid continue token: continue key is not valid: {why}")

    try:
        raw = golang.raw_url_b64decode(token.rstrip("="))
    except ValueError as exc:
        raise reject(str(exc)) from None
    syntax = golang.json_syntax_error(raw)
    if syntax:
        raise reject(syntax)
    data = json.loads(raw.decode("utf-8", "replace"))
    if not isinstance(data, dict):
        raise reject(golang.unmarshal_type_error(data, "storage.continueToken"))
    for key, go_type in _TOKEN_FIELDS:  # what json.Unmarshal into upstream's continueToken refuses (null is a zero value)
        value, number = data.get(key), json_type(data.get(key)) == "number"
        if value is None or (go_type == "string" and isinstance(value, str)):
            continue
        if go_type == "int64" and number and isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
            continue
        what = f"number {json.dumps(value)}" if number and go_type == "int64" else json_type(value)
        raise reject(f"json: cannot unmarshal {what} into Go struct field continueToken.{key} of type {go_type}")
    version, rv, ns, name = data.get("v") or "", data.get("rv") or 0, data.get("ns"), data.get("name")
    if version != "meta.k8s.io/v1":
        raise reject(f"server does not recognize this encoded version {version}")
    if rv <= 0:
        raise reject("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(ns, str) or not isinstance(name, str) or not name:  # the start key (upstream's "start")
        raise reject("encoded start key empty (version meta.k8s.io/v1)")
    return rv, (ns, name)


# -- DELETE ---------------------------------------------------------------------------------------------
_DELETE_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "apiVersion": (str,),
    "gracePeriodSeconds": (int,),
    "preconditions": (dict,),
    "orphanDependents": (bool,),
    "propagationPolicy": (str,),
    "dryRun": (list,),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (bool,),
}
_GO_TYPES = {"gracePeriodSeconds": "int64", "preconditions": "v1.Preconditions", "orphanDependents": "bool", "propagationPolicy": "v1.DeletionPropagation"}


def _type_error(value: Any, field: str, go_type: str) -> APIError:
    what = {bool: "bool", str: "string", int: "number", float: "number", list: "array", dict: "object"}.get(type(value), "value")
    return bad_request(f"json: cannot unmarshal {what} into Go struct field DeleteOptions.{field} of type {go_type}")


def delete_options(body: Any, params: Mapping[str, str], dry_run: list[str]) -> dict[str, Any]:
    """DeleteOptions from the body when there is one, else from the query (upstream reads one or the other,
    never both). Wrong types are 400 (decode errors); disallowed values are 422 on DeleteOptions."""
    if body is None:
        options: dict[str, Any] = {"dryRun": dry_run}
        grace = parse_int(params, "gracePeriodSeconds")
        orphan = parse_bool(params, "orphanDependents")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if orphan is not None:
            options["orphanDependents"] = orphan
        if params.get("propagationPolicy"):
            options["propagationPolicy"] = params["propagationPolicy"]
    else:
        if not isinstance(body, dict):
            raise bad_request("decoded object cannot be converted to DeleteOptions")
        if body.get("kind") not in (None, "DeleteOptions") or body.get("apiVersion") not in (None, "v1", "meta.k8s.io/v1"):
            raise bad_request(f'no kind "{body.get("kind")}" is registered for version "{body.get("apiVersion")}": decoded object cannot be converted to DeleteOptions')
        options = {k: v for k, v in body.items() if v is not None}
        for key, value in options.items():
            types = _DELETE_FIELDS.get(key)
            if types is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
                raise _type_error(value, key, _GO_TYPES.get(key, types[0].__name__))
        for key, value in (options.get("preconditions") or {}).items():
            if value is not None and not isinstance(value, str):
                raise _type_error(value, f"preconditions.{key}", "string")
        if not all(isinstance(v, str) for v in options.get("dryRun") or []):
            raise _type_error(1, "dryRun", "string")
        options.setdefault("dryRun", [])
    causes = []
    if "orphanDependents" in options and "propagationPolicy" in options:
        causes.append(cause("propagationPolicy", f"Invalid value: {_quote(options['propagationPolicy'])}: orphanDependents and deletionPropagation cannot be both set"))
    if "propagationPolicy" in options and options["propagationPolicy"] not in PROPAGATION:
        causes.append(unsupported("propagationPolicy", options["propagationPolicy"], (*PROPAGATION, "nil")))
    causes += dry_run_causes(options["dryRun"])
    if causes:
        raise options_invalid("DeleteOptions", causes)
    return options
