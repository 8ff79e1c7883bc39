"""The scale subresource (`deployments/scale`, `replicasets/scale`): the object seen as an autoscaling/v1 Scale, as
kube-apiserver's ScaleREST serves it (upstream: pkg/registry/apps/deployment/storage/storage.go, and replicaset's).

- GET: the Scale — the object's name, namespace, uid, resourceVersion and creationTimestamp; spec.replicas; and
  status.replicas with status.selector, the selector as a string (`app=web`).
- PUT: a Scale; its spec.replicas becomes the object's (not negative: 422 on the Scale), its resourceVersion, when
  given, a precondition (409). A write of the object: admission, managedFields (an entry of the `scale`
  subresource), the generation bumped, a dry run stored nowhere.
- PATCH (JSON merge, JSON patch, strategic merge — `kubectl scale` sends a merge patch of spec.replicas): applied to
  the Scale (a result that does not decode as a Scale is the patch's 422), then as a PUT of the result. A server-side
  apply takes the applied Scale's spec.replicas (a body that does not decode as a Scale is the decoder's 400)."""

from __future__ import annotations

from typing import Any

from . import objectmeta, typecheck
from .errors import bad_request, cause, decode_failure, invalid
from .patch import APPLY_PATCH_CBOR, APPLY_PATCH_YAML, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, apply_patch, unsupported_patch
from .selectors import format_label_selector
from .service import ObjectService, WriteOptions

GROUP, VERSION, KIND = "autoscaling", "v1", "Scale"


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale of a Deployment or ReplicaSet (pure)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    shown = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    return {
        "kind": KIND,
        "apiVersion": f"{GROUP}/{VERSION}",
        "metadata": shown,
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": format_label_selector(spec.get("selector"))},
    }


def _replicas(name: str, scale: Any) -> int:
    """The wanted replicas of a Scale body, checked as ValidateScale."""
    if not isinstance(scale, dict):
        raise bad_request("the body of the request must be a Scale object")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise invalid(GROUP, KIND, name, [cause("spec.replicas", f"Invalid value: {replicas!r}: must be an integer")])
    if replicas < 0:
        raise invalid(GROUP, KIND, name, [cause("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")])
    return replicas


def _decode_error(service: ObjectService, scale: Any) -> str | None:
    """Why `scale` does not decode into a Scale (its metadata, then every other field's JSON type); None if it does.
    A body that is not an object is _replicas' 400."""
    if not isinstance(scale, dict):
        return None
    meta = scale.get("metadata")
    why = objectmeta.decode_errors(meta) if meta is not None else None
    schema = service.registry.posted_schema(GROUP, VERSION, KIND)
    return why or (typecheck.go_decode_error(schema, scale) if schema is not None else None)


def read(service: ObjectService, call: Any) -> dict[str, Any]:
    return scale_of(service.entry(call.rt, call.namespace, call.name).full())


def write(service: ObjectService, call: Any, body: Any, opts: WriteOptions, content_type: str | None) -> dict[str, Any]:
    """A PUT (content_type None) or PATCH of the Scale: the object's new Scale."""
    current = service.entry(call.rt, call.namespace, call.name).full()
    scale = scale_of(current)
    if content_type in (APPLY_PATCH_YAML, APPLY_PATCH_CBOR):
        why = _decode_error(service, body)
        if why:  # the applied Scale does not decode: 400, as a PUT's body
            raise decode_failure(KIND, VERSION, why)
        scale["spec"]["replicas"] = _replicas(call.name, body)
    elif content_type is not None:
        if content_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
            raise unsupported_patch(strategic_ok=True)
        scale = apply_patch(content_type, scale, body, {}, strategic_ok=True)
        why = _decode_error(service, scale)
        if why:  # the patched Scale does not decode: the patch's 422, as for any object (ObjectService.patch)
            raise invalid("", "", "", [cause("patch", f'Invalid value: "{{...}}": {why}')])
    else:
        scale = body
    replicas = _replicas(call.name, scale)
    meta = scale.get("metadata") or {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if meta.get("name") not in (None, "", call.name):
        raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({call.name})")
    obj = {**current, "spec": {**(current.get("spec") or {}), "replicas": replicas}}
    obj["metadata"] = {**current["metadata"], "resourceVersion": meta.get("resourceVersion") or current["metadata"].get("resourceVersion")}
    if meta.get("uid"):
        obj["metadata"]["uid"] = meta["uid"]
    result = service.update(call.rt, call.namespace, call.name, obj, opts)
    return scale_of(result.obj)
