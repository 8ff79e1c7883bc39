"""LimitRange: its defaulting (upstream: pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem), its validation
(pkg/apis/core/validation/validation.go ValidateLimitRange) and the LimitRanger admission plugin
(plugin/pkg/admission/limitranger/admission.go).

- Defaulting: a Container item's default limit is its max where unset; its default request the default limit, else
  its min.
- Validation: a known type, once per LimitRange; resource names as containers name them (Pod, Container) or any
  standard or qualified name; min ≤ defaultRequest ≤ default ≤ max; maxLimitRequestRatio ≥ 1 and ≤ max/min; a Pod
  item has no defaults; a PersistentVolumeClaim item states a min or a max storage. A quantity is shown as the API
  server's field errors show one (the Go struct, quantities.go_repr).
- Admission, for each LimitRange of the namespace (by name): a new pod's containers and init containers get the
  Container item's default requests and limits for the resources they leave unset, recorded in the annotation
  `kubernetes.io/limit-ranger`; then every container (Container items) and the pod as a whole (Pod items) must stay
  within min, max and the limit/request ratio, and a claim's storage request (on create and update) within the
  PersistentVolumeClaim item's — else 403 `<resource> "<name>" is forbidden: <every violation>`. Pod updates are not
  checked (their containers cannot change), nor objects being deleted.

The quantities of a LimitRange are written back in their canonical form once valid, as the API server serializes
them (validation reads them as sent: its messages quote them so)."""

from __future__ import annotations

import json
from typing import Any

from ..store.store import Store
from . import quantities as qty
from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, forbidden, invalid
from .objectmeta import qualified_name_errors
from .pod_defaults import qos_class
from .quantities import ZERO, Quantity, ResourceList
from .quota import container_resource_name_errors, is_overcommit_allowed, pod_aggregate, resource_name_errors

KIND = "LimitRange"
LIMIT_RANGES = "/limitranges"
ANNOTATION = "kubernetes.io/limit-ranger"
CONTAINER, POD, CLAIM = "Container", "Pod", "PersistentVolumeClaim"
TYPES = (POD, CONTAINER, CLAIM)
FIELDS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")


# -- defaulting and validation of the kind ------------------------------------------------------------------------
def default_items(request: AdmissionRequest) -> None:
    """SetDefaults_LimitRangeItem for every Container item."""
    for item in ((request.obj or {}).get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != CONTAINER:
            continue
        default = dict(item.get("default") or {})
        request_default = dict(item.get("defaultRequest") or {})
        for name, value in (item.get("max") or {}).items():
            default.setdefault(name, value)
        for name, value in default.items():
            request_default.setdefault(name, value)
        for name, value in (item.get("min") or {}).items():
            request_default.setdefault(name, value)
        for field, values in (("default", default), ("defaultRequest", request_default)):
            if values:
                item[field] = values


def _type_causes(value: Any, path: str) -> list[dict[str, str]]:
    """validateLimitRangeTypeName."""
    text = value if isinstance(value, str) else ""
    errs = qualified_name_errors(text)
    if errs:
        return [cause(path, f"Invalid value: {json.dumps(text)}: {m}") for m in errs]
    if "/" not in text and text not in TYPES:
        return [cause(path, f"Invalid value: {json.dumps(text)}: must be a standard limit type or fully qualified")]
    return []


def _name_causes(kind: Any, name: str, path: str) -> list[dict[str, str]]:
    errs = container_resource_name_errors(name) if kind in (POD, CONTAINER) else resource_name_errors(name)
    return [cause(path, f"Invalid value: {name}: {m}") for m in errs]


def item_causes(item: dict[str, Any], path: str) -> list[dict[str, str]]:
    """One item's checks of ValidateLimitRange (after its type)."""
    kind = item.get("type")
    out: list[dict[str, str]] = []
    raw: dict[str, dict[str, Any]] = {field: dict(item.get(field) or {}) if isinstance(item.get(field), dict) else {} for field in FIELDS}
    for field in ("max", "min"):
        out += [c for name in sorted(raw[field]) for c in _name_causes(kind, name, f"{path}.{field}[{name}]")]
    if kind == POD:
        for field in ("default", "defaultRequest"):
            if raw[field]:
                out.append(cause(f"{path}.{field}", "Forbidden: may not be specified when `type` is 'Pod'", "FieldValueForbidden"))
                raw[field] = {}
    else:
        for field in ("default", "defaultRequest"):
            out += [c for name in sorted(raw[field]) for c in _name_causes(kind, name, f"{path}.{field}[{name}]")]
    if kind == CLAIM and "storage" not in raw["min"] and "storage" not in raw["max"]:
        out.append(cause(f"{path}.limits", "Required value: either minimum or maximum storage value is required, but neither was provided", "FieldValueRequired"))
    out += [c for name in sorted(raw["maxLimitRequestRatio"]) for c in _name_causes(kind, name, f"{path}.maxLimitRequestRatio[{name}]")]
    parsed = {field: qty.parse_list(values) for field, values in raw.items()}
    names = sorted(set().union(*(set(values) for values in raw.values())))
    for name in names:
        q = {field: parsed[field].get(name) for field in FIELDS}
        low, high, default, request, ratio = q["min"], q["max"], q["default"], q["defaultRequest"], q["maxLimitRequestRatio"]

        def bad(field: str, shown: str, message: str, name: str = name) -> None:
            out.append(cause(f"{path}.{field}[{name}]", f"Invalid value: {qty.go_repr(raw[shown][name])}: {message}"))

        if low is not None and high is not None and low.value > high.value:
            bad("min", "min", f"min value {low} is greater than max value {high}")
        if request is not None and low is not None and low.value > request.value:
            bad("defaultRequest", "defaultRequest", f"min value {low} is greater than default request value {request}")
        if request is not None and high is not None and request.value > high.value:
            bad("defaultRequest", "defaultRequest", f"default request value {request} is greater than max value {high}")
        if request is not None and default is not None and request.value > default.value:
            bad("defaultRequest", "defaultRequest", f"default request value {request} is greater than default limit value {default}")
        if default is not None and low is not None and low.value > default.value:
            bad("default", "min", f"min value {low} is greater than default value {default}")
        if default is not None and high is not None and default.value > high.value:
            bad("default", "max", f"default value {default} is greater than max value {high}")
        if ratio is not None and ratio.value < 1:
            bad("maxLimitRequestRatio", "maxLimitRequestRatio", f"ratio {ratio} is less than 1")
        if ratio is not None and low is not None and high is not None:
            if ratio.whole() < qty.MAX_MILLI and low.whole() < qty.MAX_MILLI and high.whole() < qty.MAX_MILLI:
                ratio_value, low_value, high_value = ratio.milli() / 1000, low.milli(), high.milli()
            else:
                ratio_value, low_value, high_value = float(ratio.whole()), low.whole(), high.whole()
            limit = float(high_value) / float(low_value) if low_value else float("inf")
            if ratio_value > limit:
                bad("maxLimitRequestRatio", "maxLimitRequestRatio", f"ratio {ratio} is greater than max/min = {limit:f}")
        if not is_overcommit_allowed(name) and default is not None and request is not None and default.value != request.value:
            bad("defaultRequest", "defaultRequest", f"default value {default} must equal to defaultRequest value {request} in {name}")
    return out


def validate_limit_range(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    causes: list[dict[str, str]] = []
    seen: set[Any] = set()
    for i, item in enumerate(((obj.get("spec") or {}).get("limits")) or []):
        item = item if isinstance(item, dict) else {}
        path = f"spec.limits[{i}]"
        causes += _type_causes(item.get("type"), f"{path}.type")
        kind = item.get("type")
        if kind in seen:
            causes.append(cause(f"{path}.type", f"Duplicate value: {json.dumps(kind)}", "FieldValueDuplicate"))
        seen.add(kind)
        causes += item_causes(item, path)
    if causes:
        raise invalid("", KIND, obj["metadata"]["name"], causes)
    for item in ((obj.get("spec") or {}).get("limits")) or []:  # written as the API server serializes quantities
        for field in FIELDS:
            if isinstance(item.get(field), dict):
                item[field] = {name: qty.normalized(value) for name, value in item[field].items()}


# -- the admission plugin -----------------------------------------------------------------------------------------
def _limit_ranges(store: Store, namespace: str) -> list[dict[str, Any]]:
    """The namespace's LimitRanges by name; none costs a dict lookup."""
    if not store.count_after(LIMIT_RANGES, namespace, None):
        return []
    return [e.obj for e in store.list(LIMIT_RANGES, namespace)]


def _items(limit_range: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in ((limit_range.get("spec") or {}).get("limits") or []) if isinstance(i, dict)]


def merge_defaults(pod: dict[str, Any], limit_range: dict[str, Any]) -> bool:
    """mergePodResourceRequirements of one LimitRange: the Container items' defaults into every container that leaves
    the resource unset; the annotation says what was set. Whether anything was."""
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    for item in _items(limit_range):
        if item.get("type") == CONTAINER:
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    if not limits and not requests:
        return False
    notes = []
    spec = pod.get("spec") or {}
    for field, label in (("containers", "container"), ("initContainers", "init container")):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            resources = container.setdefault("resources", {})
            set_limits = [n for n in limits if n not in (resources.get("limits") or {})]
            set_requests = [n for n in requests if n not in (resources.get("requests") or {})]
            if set_limits:
                resources["limits"] = {**(resources.get("limits") or {}), **{n: limits[n] for n in set_limits}}
            if set_requests:
                resources["requests"] = {**(resources.get("requests") or {}), **{n: requests[n] for n in set_requests}}
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for {label} {container.get('name', '')}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for {label} {container.get('name', '')}")
    if not notes:
        return False
    meta = pod.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes)}
    return True


def _enforced(request: Quantity | None, limit: Quantity | None, enforced: Quantity) -> tuple[int, int, int]:
    """requestLimitEnforcedValues: milli-values when none would overflow, else whole values."""
    req, lim = request or ZERO, limit or ZERO
    if max(req.whole(), lim.whole(), enforced.whole()) <= qty.MAX_MILLI:
        return req.milli(), lim.milli(), enforced.milli()
    return req.whole(), lim.whole(), enforced.whole()


def min_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList, limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, value = _enforced(req, lim, enforced)
    if req is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req < value:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {req}"
    if lim is not None and observed_lim < value:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {lim}"
    return None


def max_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList, limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, value = _enforced(req, lim, enforced)
    if lim is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_lim > value:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {lim}"
    if req is not None and observed_req > value:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return None


def max_request_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList) -> str | None:
    """maxRequestConstraint (claims: only the request is theirs)."""
    req = requests.get(name)
    observed_req, _, value = _enforced(req, None, enforced)
    if req is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req > value:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return None


def ratio_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList, limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, _ = _enforced(req, lim, enforced)
    if req is None or observed_req == 0:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
    if lim is None or observed_lim == 0:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
    observed = float(observed_lim) / float(observed_req)
    shown, maximum = observed, float(enforced.whole())
    if enforced.whole() <= qty.MAX_MILLI:
        observed, maximum = observed * 1000, float(enforced.milli())
    if observed > maximum:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio is {shown:f}"
    return None


def _bounds(kind: str, item: dict[str, Any], requests: ResourceList, limits: ResourceList) -> list[str]:
    out: list[str | None] = []
    for field, check in (("min", min_violation), ("max", max_violation), ("maxLimitRequestRatio", ratio_violation)):
        for name, enforced in sorted(qty.parse_list(item.get(field)).items()):
            out.append(check(kind, name, enforced, requests, limits))
    return [m for m in out if m]


def pod_violations(pod: dict[str, Any], limit_range: dict[str, Any]) -> list[str]:
    """PodValidateLimitFunc: every container and init container against the Container items, the pod's aggregate
    (without its overhead) against the Pod items."""
    spec = pod.get("spec") or {}
    out: list[str] = []
    for item in _items(limit_range):
        if item.get("type") == CONTAINER:
            for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
                resources = (container or {}).get("resources") or {}
                out += _bounds(CONTAINER, item, qty.parse_list(resources.get("requests")), qty.parse_list(resources.get("limits")))
        elif item.get("type") == POD:
            out += _bounds(POD, item, pod_aggregate(spec, "requests", overhead=False), pod_aggregate(spec, "limits", overhead=False))
    return out


def claim_violations(claim: dict[str, Any], limit_range: dict[str, Any]) -> list[str]:
    """PersistentVolumeClaimValidateLimitFunc: the storage request within min and max."""
    requests = qty.parse_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    out: list[str | None] = []
    for item in _items(limit_range):
        if item.get("type") != CLAIM:
            continue
        out += [min_violation(CLAIM, n, q, requests, {}) for n, q in sorted(qty.parse_list(item.get("min")).items())]
        out += [max_request_violation(CLAIM, n, q, requests) for n, q in sorted(qty.parse_list(item.get("max")).items())]
    return [m for m in out if m]


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as it is, several (deduplicated) in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def register(admission: Admission, store: Store) -> None:
    def mutate_pod(request: AdmissionRequest) -> None:
        pod = request.obj or {}
        changed = False
        for limit_range in _limit_ranges(store, pod.get("metadata", {}).get("namespace", "")):
            changed = merge_defaults(pod, limit_range) or changed
        if changed and isinstance(pod.get("status"), dict) and "qosClass" in pod["status"]:
            pod["status"]["qosClass"] = qos_class(pod.get("spec") or {})  # the strategy computes it after admission

    def validate(request: AdmissionRequest) -> None:
        obj = request.obj or {}
        if request.old is not None and request.old["metadata"].get("deletionTimestamp"):
            return
        for limit_range in _limit_ranges(store, obj.get("metadata", {}).get("namespace", "")):
            problems = pod_violations(obj, limit_range) if request.rt.kind == "Pod" else claim_violations(obj, limit_range)
            if problems:
                raise forbidden(request, aggregate(problems))

    admission.mutate("", KIND, operations=(CREATE, UPDATE))(default_items)
    admission.validate("", KIND, operations=(CREATE, UPDATE))(validate_limit_range)
    admission.mutate("", "Pod", operations=(CREATE,))(mutate_pod)
    admission.validate("", "Pod", operations=(CREATE,))(validate)
    admission.validate("", "PersistentVolumeClaim", operations=(CREATE, UPDATE))(validate)
