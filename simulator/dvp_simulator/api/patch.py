"""PATCH bodies: JSON patch (RFC 6902, via jsonpatch), JSON merge patch (RFC 7386) and strategic merge patch
(for built-in kinds, with the merge keys declared in the schema)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import APIError
from .schema import child_schema

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


MAX_JSON_PATCH_OPERATIONS = 10000  # upstream's maxJSONPatchOperations: a bound on a patch's work, checked before any applies


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise APIError(400, "json patch must be a list of operations")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:  # upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go applyJSPatch
        raise APIError(
            413,
            f"Request entity too large: The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
            reason="RequestEntityTooLarge",
        )
    try:
        return jsonpatch.JsonPatch(ops).apply(target)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError, TypeError):
        # An operation that does not apply (a failed test, a missing path, an unknown op): kube-apiserver answers
        # NewGenericServerResponse(422, ...) with the json-patch library's error only in its log, so the Status
        # says no more than this and carries empty details (upstream: staging/src/k8s.io/apiserver/pkg/endpoints/
        # handlers/patch.go applyJSPatch; staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go).
        raise APIError(422, "the server rejected our request due to an error in our request", reason="Invalid", details={}) from None


def strategic_merge(target: Any, patch: Any, schema: dict[str, Any] | None) -> Any:
    """Strategic merge patch: maps merge, lists with x-kubernetes-patch-merge-key merge by key, other lists are
    replaced; directives `$patch` (replace/delete), `$retainKeys`, `$deleteFromPrimitiveList/<f>` and
    `$setElementOrder/<f>` are honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [x for x in out.get(field, []) if x not in value]
            continue
        sub = child_schema(schema, key)
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and sub and sub.get("x-kubernetes-patch-merge-key"):
            out[key] = _merge_keyed_list(out.get(key) or [], value, sub)
        elif isinstance(value, dict):
            merged = strategic_merge(out.get(key), value, sub)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_keyed_list(current: list[Any], patch: list[Any], schema: dict[str, Any]) -> list[Any]:
    key = schema["x-kubernetes-patch-merge-key"]
    items = schema.get("items") if isinstance(schema.get("items"), dict) else None
    out = [copy.deepcopy(x) for x in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        index = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
        elif index is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            out[index] = strategic_merge(out[index], item, items)
    return out


def apply_patch(content_type: str, current: dict[str, Any], body: Any, schema: dict[str, Any], strategic_ok: bool) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        return json_patch(current, body)
    if content_type == MERGE_PATCH:
        if not isinstance(body, dict):
            raise APIError(400, "merge patch must be a JSON object")
        return merge_patch(current, body)
    if content_type == STRATEGIC_PATCH and strategic_ok:
        if not isinstance(body, dict):
            raise APIError(400, "strategic merge patch must be a JSON object")
        return strategic_merge(current, body, schema)
    raise unsupported_patch(strategic_ok)


def unsupported_patch(strategic_ok: bool) -> APIError:
    """415 for a PATCH whose content type is no patch type of the resource, as kube-apiserver words it (a custom
    resource has no strategic merge patch: kubectl then says "application/strategic-merge-patch+json is not
    supported by <group/version, Kind>: " and this)."""
    types = [JSON_PATCH, MERGE_PATCH, *([STRATEGIC_PATCH] if strategic_ok else []), APPLY_PATCH_YAML]
    return APIError(415, f"the body of the request was in an unknown format - accepted media types include: {', '.join(types)}")
