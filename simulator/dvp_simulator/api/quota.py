"""ResourceQuota: the kind's validation (upstream: pkg/apis/core/validation/validation.go ValidateResourceQuota,
ValidateResourceQuotaUpdate, ValidateResourceQuotaStatusUpdate; the resource-name rules of pkg/apis/core/helper), the
usage of the objects quota counts (pkg/quota/v1/evaluator/core: pods, persistentvolumeclaims, services; generic object
counts), the ResourceQuota admission plugin (staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/
controller.go CheckRequest) and the usage the quota controller reports (pkg/controller/resourcequota).

Usage lives in the `Ledger`, a cache derived from the store like the scheduler's: within every write of a pod, claim or
service of a namespace that has quotas, the object's charge (its usage and the quotas whose scopes select it) is
replaced — O(quotas of the namespace) per write, never a scan of the namespace. A namespace without quotas costs one
dict lookup per write. A quota's creation or change of spec recomputes that quota from the namespace's objects
(the controller's full sync). Object counts of other kinds (`count/virtualmachines.virtualization.deckhouse.io`,
`configmaps`, …) are the store's per-namespace counts, O(1). controllers/resourcequota.py writes status.hard and
status.used from the ledger; the ledger wakes it (`wake`) when a quota's usage moves.

Admission, the last validating step of every write (as the plugin is the last of kube-apiserver's chain): a pod
(on create), a claim or a service (create and update) is measured; a quota whose scopes select it and whose hard
resources include some of its usage must hold the usage — else 403 `exceeded quota: <q>, requested: …, used: …,
limited: …`, the quantities in their canonical form. A quota limiting cpu or memory refuses a pod whose containers
do not all state them (`failed quota: <q>: must specify …`). Dry runs are checked and charge nothing. Usage counts
from the quota's spec at once (upstream admission waits for the controller to have filled status.hard: a new quota is
there a moment later), so a quota created now limits the next write."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..store.store import ADDED, DELETED, Event, Store
from . import quantities as qty
from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import APIError, cause, forbidden, invalid
from .objectmeta import qualified_name_errors
from .pod_defaults import qos_class
from .quantities import ZERO, Quantity, ResourceList

if TYPE_CHECKING:
    from ..resources import Registry

Key = tuple[str, str]
PODS, CLAIMS, SERVICES, QUOTAS = "/pods", "/persistentvolumeclaims", "/services", "/resourcequotas"
KIND = "ResourceQuota"
ONE = Quantity(Decimal(1))
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
NOT_INTEGER = "must be an integer"
NEGATIVE = "must be greater than or equal to 0"
INVALID_QUOTA_RESOURCE = "must be a standard resource for quota"

# -- resource names (pkg/apis/core/helper/helpers.go) -------------------------------------------------------------
STANDARD_QUOTA = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers",
    "secrets", "persistentvolumeclaims", "configmaps", "services.nodeports", "services.loadbalancers",
})  # fmt: skip
STANDARD_RESOURCES = STANDARD_QUOTA | {"storage"}
INTEGER_RESOURCES = frozenset(
    {"pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps", "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"}
)
STANDARD_CONTAINER = frozenset({"cpu", "memory", "ephemeral-storage"})
# the scopes a quota may name (helper.IsStandardResourceQuotaScope with 1.33's gates: VolumeAttributesClass is off)
SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity")
EXISTS_ONLY = ("BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
POD_COMPUTE = frozenset({"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"})
# the resources of which every container must state its share once a quota limits them (podEvaluator's validationSet)
VALIDATION_SET = POD_COMPUTE
# legacy object-count names of the generic evaluators (pkg/quota/v1/evaluator/core/registry.go)
LEGACY_COUNTS = {"configmaps": "/configmaps", "secrets": "/secrets", "resourcequotas": "/resourcequotas", "replicationcontrollers": "/replicationcontrollers"}


def is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def is_extended(name: str) -> bool:
    """IsExtendedResourceName: outside kubernetes.io, not `requests.`-prefixed, a qualified name as `requests.<name>`."""
    return not is_native(name) and not name.startswith("requests.") and not qualified_name_errors("requests." + name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native(name) and not is_hugepages(name)


def _standard(name: str) -> bool:
    return name in STANDARD_RESOURCES or name.startswith(("hugepages-", "requests.hugepages-"))


def resource_name_errors(name: str) -> list[str]:
    """validateResourceName: a qualified name, standard unless it has a domain."""
    errs = list(qualified_name_errors(name))
    if errs:
        return errs
    if "/" not in name and not _standard(name):
        return ["must be a standard resource type or fully qualified"]
    return []


def quota_resource_name_errors(name: str) -> list[str]:
    """ValidateResourceQuotaResourceName."""
    errs = resource_name_errors(name)
    if "/" not in name and not (name in STANDARD_QUOTA or name.startswith(("hugepages-", "requests.hugepages-"))):
        errs.append(INVALID_QUOTA_RESOURCE)
    return errs


def container_resource_name_errors(name: str) -> list[str]:
    """validateContainerResourceName."""
    errs = resource_name_errors(name)
    if "/" not in name:
        if name not in STANDARD_CONTAINER and not is_hugepages(name):
            errs.append("must be a standard resource for containers")
    elif not is_native(name) and not is_extended(name):
        errs.append("doesn't follow extended resource name standard")
    return errs


def quantity_value_causes(name: str, raw: Any, path: str) -> list[dict[str, str]]:
    """ValidateResourceQuantityValue: not negative; a whole number for the integer resources."""
    try:
        q = qty.parse(raw)
    except ValueError:
        return []  # the schema's pattern names it
    out = []
    if q.value < 0:
        out.append(cause(path, f"Invalid value: {json.dumps(str(q))}: {NEGATIVE}"))
    if (name in INTEGER_RESOURCES or is_extended(name)) and q.milli() % 1000:
        out.append(cause(path, f"Invalid value: {qty.go_repr(raw, stringified=False)}: {NOT_INTEGER}"))
    return out


# -- %#v of the quota's Go values, as field.Invalid prints them ---------------------------------------------------
def _go_list(type_name: str, values: Any) -> str:
    if values is None:
        return f"[]{type_name}(nil)"
    return "[]" + type_name + "{" + ", ".join(json.dumps(v) for v in values) + "}"


def _go_selector(selector: Any) -> str:
    items = []
    for req in (selector or {}).get("matchExpressions") or []:
        req = req if isinstance(req, dict) else {}
        items.append(
            f"core.ScopedResourceSelectorRequirement{{ScopeName:{json.dumps(req.get('scopeName') or '')}, "
            f"Operator:{json.dumps(req.get('operator') or '')}, Values:{_go_list('string', req.get('values'))}}}"
        )
    expressions = "[]core.ScopedResourceSelectorRequirement{" + ", ".join(items) + "}" if (selector or {}).get("matchExpressions") is not None else "[]core.ScopedResourceSelectorRequirement(nil)"
    return f"core.ScopeSelector{{MatchExpressions:{expressions}}}"


# -- validation -----------------------------------------------------------------------------------------------------
def _resource_map_causes(resources: Any, path: str) -> list[dict[str, str]]:
    out = []
    for name in sorted(resources or {}):
        where = f"{path}[{name}]"
        out += [cause(where, f"Invalid value: {name}: {m}") for m in quota_resource_name_errors(name)]
        out += quantity_value_causes(name, resources[name], where)
    return out


def scope_valid_for(scope: str, resource: str) -> bool:
    """IsResourceQuotaScopeValidForResource."""
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"):
        return resource == "pods" or resource in POD_COMPUTE
    if scope == "BestEffort":
        return resource == "pods"
    return True


def _is_standard_quota_name(name: str) -> bool:
    return name in STANDARD_QUOTA or name.startswith(("hugepages-", "requests.hugepages-"))


def spec_causes(spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidateResourceQuotaSpec: hard resources, scopes (validateResourceQuotaScopes) and scopeSelector."""
    hard = spec.get("hard") or {}
    out = _resource_map_causes(hard, "spec.hard")
    scopes = spec.get("scopes")
    if scopes:
        rendered = _go_list("core.ResourceQuotaScope", scopes)
        for scope in scopes:
            if scope not in SCOPES:
                out.append(cause("spec.scopes", f"Invalid value: {rendered}: unsupported scope"))
            for name in sorted(hard):
                if _is_standard_quota_name(name) and not scope_valid_for(scope, name):
                    out.append(cause("spec.scopes", f"Invalid value: {rendered}: unsupported scope applied to resource"))
        for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
            if all(s in scopes for s in pair):
                out.append(cause("spec.scopes", f"Invalid value: {rendered}: conflicting scopes"))
    selector = spec.get("scopeSelector")
    if isinstance(selector, dict):
        path = "spec.scopeSelector.matchExpressions"
        seen = set()
        for req in selector.get("matchExpressions") or []:
            req = req if isinstance(req, dict) else {}
            name, op, values = req.get("scopeName") or "", req.get("operator") or "", req.get("values") or []
            if name not in SCOPES:
                out.append(cause(f"{path}.scopeName", f"Invalid value: {json.dumps(name)}: unsupported scope"))
            for resource in sorted(hard):
                if _is_standard_quota_name(resource) and not scope_valid_for(name, resource):
                    out.append(cause(path, f"Invalid value: {_go_selector(selector)}: unsupported scope applied to resource"))
            if name in EXISTS_ONLY and op != "Exists":
                message = ("must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, "
                           "ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity")  # fmt: skip
                out.append(cause(f"{path}.operator", f"Invalid value: {json.dumps(op)}: {message}"))
            if op in ("In", "NotIn"):
                if not values:
                    message = "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"
                    out.append(cause(f"{path}.values", f"Required value: {message}", "FieldValueRequired"))
            elif op in ("Exists", "DoesNotExist"):
                if values:
                    message = "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"
                    out.append(cause(f"{path}.values", f"Invalid value: {_go_list('string', values)}: {message}"))
            else:
                out.append(cause(f"{path}.operator", f"Invalid value: {json.dumps(op)}: not a valid selector operator"))
            seen.add(name)
        for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
            if all(s in seen for s in pair):
                out.append(cause(path, f"Invalid value: {_go_list('core.ResourceQuotaScope', spec.get('scopes'))}: conflicting scopes"))
    return out


def status_causes(status: dict[str, Any]) -> list[dict[str, str]]:
    return _resource_map_causes(status.get("hard"), "status.hard") + _resource_map_causes(status.get("used"), "status.used")


def clear_status(request: AdmissionRequest) -> None:
    """The strategy's PrepareForCreate: a new quota has no status (the controller's to write)."""
    (request.obj or {}).pop("status", None)


def validate_quota(request: AdmissionRequest) -> None:
    obj, old = request.obj or {}, request.old
    if request.subresource == "status":
        causes = status_causes(obj.get("status") or {})
    else:
        spec = obj.get("spec") or {}
        causes = spec_causes(spec)
        if old is not None and set((old.get("spec") or {}).get("scopes") or []) != set(spec.get("scopes") or []):
            causes.append(cause("spec.scopes", f"Invalid value: {_go_list('core.ResourceQuotaScope', spec.get('scopes'))}: field is immutable"))
        if old is None:
            causes += status_causes(obj.get("status") or {})
    if causes:
        raise invalid("", KIND, obj["metadata"]["name"], causes)
    # valid: the quantities as the API server serializes them (validation quoted them as sent)
    for owner, field in ((obj.get("spec"), "hard"), (obj.get("status"), "hard"), (obj.get("status"), "used")):
        if isinstance(owner, dict) and isinstance(owner.get(field), dict):
            owner[field] = {name: qty.normalized(value) for name, value in owner[field].items()}


# -- usage of the objects quota counts (pkg/quota/v1/evaluator/core) ---------------------------------------------------
def _max_into(into: ResourceList, other: ResourceList) -> None:
    for name, q in other.items():
        if name not in into or q.value > into[name].value:
            into[name] = q


def _resources(container: Any, field: str) -> ResourceList:
    resources = container.get("resources") if isinstance(container, dict) else None
    return qty.parse_list((resources or {}).get(field)) if isinstance(resources, dict) else {}


def pod_aggregate(spec: dict[str, Any], field: str, overhead: bool = True) -> ResourceList:
    """PodRequests / PodLimits (component-helpers resource): the containers' sum, restartable init containers (sidecars)
    added, at least the largest init container with the sidecars started before it; plus the pod's overhead unless
    excluded (for limits only where a limit is set)."""
    total: ResourceList = {}
    for c in spec.get("containers") or []:
        total = qty.add(total, _resources(c, field))
    sidecars: ResourceList = {}
    init: ResourceList = {}
    for c in spec.get("initContainers") or []:
        own = _resources(c, field)
        if isinstance(c, dict) and c.get("restartPolicy") == "Always":
            total = qty.add(total, own)
            sidecars = qty.add(sidecars, own)
            _max_into(init, sidecars)
        else:
            _max_into(init, qty.add(own, sidecars))
    _max_into(total, init)
    extra = qty.parse_list(spec.get("overhead")) if overhead else {}
    if field == "requests":
        return qty.add(total, extra)
    return {name: q + extra[name] if name in extra else q for name, q in total.items()}


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """podComputeUsageHelper: the quota names of a pod's (or a container's) requests and limits."""
    out: ResourceList = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            out[name] = out[f"requests.{name}"] = requests[name]
        if name in limits:
            out[f"limits.{name}"] = limits[name]
    for name, q in requests.items():
        if is_hugepages(name):
            out[name] = out[f"requests.{name}"] = q
        if is_extended(name):
            out[f"requests.{name}"] = q
    return out


def pod_charged(pod: dict[str, Any], now: float) -> bool:
    """QuotaV1Pod: not in a terminal phase, and not being deleted past its grace period."""
    if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
        return False
    meta = pod["metadata"]
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
        return now <= Clock.parse(meta["deletionTimestamp"]) + float(meta["deletionGracePeriodSeconds"])
    return True


def pod_usage(pod: dict[str, Any], now: float) -> ResourceList:
    """PodUsageFunc: count/pods always; the compute resources while the pod is charged."""
    out: ResourceList = {"count/pods": ONE}
    if not pod_charged(pod, now):
        return out
    spec = pod.get("spec") or {}
    return qty.add(out, compute_usage(pod_aggregate(spec, "requests"), pod_aggregate(spec, "limits")))


def _cross_namespace(spec: dict[str, Any]) -> bool:
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [(w or {}).get("podAffinityTerm") or {} for w in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        if any(isinstance(t, dict) and (t.get("namespaces") or t.get("namespaceSelector") is not None) for t in terms):
            return True
    return False


def pod_facts(pod: dict[str, Any]) -> dict[str, Any]:
    """What a pod's quota scopes read: terminating (activeDeadlineSeconds ≥ 0), BestEffort, its priority class, and
    whether its pod (anti-)affinity reaches other namespaces."""
    spec = pod.get("spec") or {}
    deadline = spec.get("activeDeadlineSeconds")
    return {
        "Terminating": isinstance(deadline, int) and deadline >= 0,
        "BestEffort": qos_class(spec) == "BestEffort",
        "PriorityClass": spec.get("priorityClassName") or "",
        "CrossNamespacePodAffinity": _cross_namespace(spec),
    }


def _pod_scope_matches(selector: dict[str, Any], facts: dict[str, Any]) -> bool:
    """podMatchesScopeFunc."""
    name = selector.get("scopeName")
    if name in ("Terminating", "BestEffort", "CrossNamespacePodAffinity"):
        return bool(facts[name])
    if name in ("NotTerminating", "NotBestEffort"):
        return not facts[name[3:]]
    if name == "PriorityClass":
        op, values, value = selector.get("operator"), selector.get("values") or [], facts["PriorityClass"]
        if op == "Exists":
            return bool(value)
        if op == "DoesNotExist":
            return not value
        if op == "In":
            return bool(value) and value in values
        if op == "NotIn":
            return not value or value not in values
    return False


def claim_class(claim: dict[str, Any]) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation, else spec.storageClassName."""
    annotations = claim["metadata"].get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return annotations[BETA_STORAGE_CLASS_ANNOTATION]
    return (claim.get("spec") or {}).get("storageClassName") or ""


def claim_usage(claim: dict[str, Any], now: float = 0.0) -> ResourceList:
    """pvcEvaluator.Usage: the claim, by class too; its storage request (the allocated size when larger), in bytes."""
    out: ResourceList = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
    sc = claim_class(claim)
    if sc:
        out[f"{sc}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    requests = qty.parse_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    storage = qty.round_up(requests["storage"]) if "storage" in requests else None
    allocated = qty.parse_list((claim.get("status") or {}).get("allocatedResources")).get("storage")
    if storage is not None and allocated is not None and allocated.value > storage.value:
        storage = qty.round_up(allocated)
    if storage is not None:
        out["requests.storage"] = storage
        if sc:
            out[f"{sc}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
    return out


def service_usage(service: dict[str, Any], now: float = 0.0) -> ResourceList:
    """serviceEvaluator.Usage: the service, its node ports (NodePort, LoadBalancer) and load balancer."""
    spec = service.get("spec") or {}
    out: ResourceList = {"services": ONE, "count/services": ONE}
    ports = spec.get("ports") or []
    kind = spec.get("type") or "ClusterIP"
    if kind == "NodePort":
        out["services.nodeports"] = Quantity(Decimal(len(ports)))
    elif kind == "LoadBalancer":
        with_ports = ports if spec.get("allocateLoadBalancerNodePorts") is not False else [p for p in ports if isinstance(p, dict) and p.get("nodePort")]
        out["services.nodeports"] = Quantity(Decimal(len(with_ports)))
        out["services.loadbalancers"] = ONE
    return out


def _pod_resources(names: Iterable[str]) -> set[str]:
    """podEvaluator.MatchingResources."""
    own = {"count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
           "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods"}  # fmt: skip
    return {n for n in names if n in own or n.startswith(("hugepages-", "requests.hugepages-")) or (not is_native(n) and n.startswith("requests."))}


def _claim_resources(names: Iterable[str]) -> set[str]:
    own = {"count/persistentvolumeclaims", "persistentvolumeclaims", "requests.storage"}
    suffixes = (f"{STORAGE_CLASS_SUFFIX}persistentvolumeclaims", f"{STORAGE_CLASS_SUFFIX}requests.storage")
    return {n for n in names if n in own or n.endswith(suffixes)}


def _service_resources(names: Iterable[str]) -> set[str]:
    return {n for n in names if n in ("count/services", "services", "services.loadbalancers", "services.nodeports")}


@dataclass(frozen=True)
class Evaluator:
    resource: str
    usage: Callable[[dict[str, Any], float], ResourceList]
    matching: Callable[[Iterable[str]], set[str]]
    scoped: bool  # whether quota scopes apply to its objects (pods only; the others match no scoped quota)


EVALUATORS = {
    PODS: Evaluator(PODS, pod_usage, _pod_resources, True),
    CLAIMS: Evaluator(CLAIMS, claim_usage, _claim_resources, False),
    SERVICES: Evaluator(SERVICES, service_usage, _service_resources, False),
}


def object_count_name(group: str, plural: str) -> str:
    """generic.ObjectCountQuotaResourceNameFor: `count/<resource>[.<group>]`."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


# -- the ledger -------------------------------------------------------------------------------------------------------
@dataclass
class Charge:
    """One object's share: its usage, what its scopes read, and the quotas that count it."""

    usage: ResourceList
    facts: dict[str, Any] | None
    quotas: frozenset[str]


class QuotaState:
    """One quota as the ledger keeps it: its hard limits and scope selectors (from the spec) and its usage."""

    def __init__(self, quota: dict[str, Any], registry: Registry):
        spec = quota.get("spec") or {}
        self.name: str = quota["metadata"]["name"]
        self.spec_key = json.dumps([spec.get("hard"), spec.get("scopes"), spec.get("scopeSelector")], sort_keys=True)
        self.hard: ResourceList = qty.parse_list(spec.get("hard"))
        self.selectors = [{"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []]
        self.selectors += [r for r in ((spec.get("scopeSelector") or {}).get("matchExpressions") or []) if isinstance(r, dict)]
        self.tracked = {res: ev.matching(self.hard) for res, ev in EVALUATORS.items()}
        self.used: ResourceList = {name: ZERO for names in self.tracked.values() for name in names}
        self.counted: dict[str, str] = {}  # hard name -> store resource of the generic object counts
        for name in self.hard:
            res = counted_resource(name, registry)
            if res is not None and not any(name in names for names in self.tracked.values()):
                self.counted[name] = res

    def matches(self, evaluator: Evaluator, facts: dict[str, Any] | None) -> bool:
        """generic.Matches: the quota limits one of the evaluator's resources, and all its scopes select the object."""
        if not self.tracked[evaluator.resource]:
            return False
        if not self.selectors:
            return True
        return evaluator.scoped and facts is not None and all(_pod_scope_matches(s, facts) for s in self.selectors)


def counted_resource(name: str, registry: Registry) -> str | None:
    """The store resource a generic object count counts (`count/<plural>[.<group>]`, or a legacy name), if served
    and namespaced."""
    if name in LEGACY_COUNTS:
        return LEGACY_COUNTS[name]
    if not name.startswith("count/"):
        return None
    plural, _, group = name[len("count/") :].partition(".")
    rt = registry.types.get(f"{group}/{plural}")
    return rt.key if rt is not None and rt.namespaced and not rt.read_only else None


class Ledger:
    """Quota usage per namespace, derived from the store within every write (see the module's docstring)."""

    def __init__(self, registry: Registry, store: Store, clock: Clock):
        self.registry, self.store, self.clock = registry, store, clock
        self.quotas: dict[str, dict[str, QuotaState]] = {}
        self.charges: dict[str, dict[Key, Charge]] = {}  # namespace -> (resource, name) -> charge
        self.counted_observers: set[str] = set()
        self.wake: Callable[[Key], None] = lambda key: None  # the controller's enqueue (app.py)
        for res, evaluator in EVALUATORS.items():
            store.observe(res, self._observer(evaluator))
        store.observe(QUOTAS, self._quota_event)
        for entry in store.list(QUOTAS):
            if not entry.obj["metadata"].get("deletionTimestamp"):
                self._set_quota(entry.obj)

    # -- events ------------------------------------------------------------------------------------------------------
    def _observer(self, evaluator: Evaluator) -> Callable[[Event], None]:
        def observe(event: Event) -> None:
            states = self.quotas.get(event.entry.namespace)
            if not states:
                return  # the common case: a namespace without quotas
            self._charge(evaluator, event.entry.namespace, event.entry.name, None if event.type == DELETED else event.entry.obj, states)

        return observe

    def _charge(self, evaluator: Evaluator, namespace: str, name: str, obj: dict[str, Any] | None, states: dict[str, QuotaState]) -> None:
        charges = self.charges.setdefault(namespace, {})
        key = (evaluator.resource, name)
        old = charges.pop(key, None)
        new = None
        if obj is not None:
            facts = pod_facts(obj) if evaluator.scoped else None
            new = Charge(evaluator.usage(obj, self.clock.time()), facts, frozenset(q for q, st in states.items() if st.matches(evaluator, facts)))
            charges[key] = new
        if old is not None and new is not None and old.usage == new.usage and old.quotas == new.quotas:
            return  # most writes of a pod or a claim (its status) move no usage
        for q in (old.quotas if old else frozenset()) | (new.quotas if new else frozenset()):
            st = states[q] if q in states else None
            if st is None:
                continue
            names = st.tracked[evaluator.resource]
            before = qty.mask(old.usage, names) if old is not None and q in old.quotas else {}
            after = qty.mask(new.usage, names) if new is not None and q in new.quotas else {}
            if before != after:
                st.used = qty.add(qty.subtract(st.used, before), after)
                self.wake((namespace, q))

    def _quota_event(self, event: Event) -> None:
        quota = event.entry.obj
        namespace, name = event.entry.namespace, event.entry.name
        if event.type == DELETED:
            self._drop_quota(namespace, name)
            return
        current = self.quotas.get(namespace, {}).get(name)
        spec = quota.get("spec") or {}
        if current is not None and current.spec_key == json.dumps([spec.get("hard"), spec.get("scopes"), spec.get("scopeSelector")], sort_keys=True):
            return  # a status write
        self._set_quota(quota)

    def _set_quota(self, quota: dict[str, Any]) -> None:
        """A new quota, or a new spec: its usage computed from the namespace's objects (the controller's full sync)."""
        namespace = quota["metadata"].get("namespace", "")
        states = self.quotas.setdefault(namespace, {})
        st = QuotaState(quota, self.registry)
        states[st.name] = st
        charges = self.charges.get(namespace)
        if charges is None:  # the namespace's first quota: measure what is there
            charges = self.charges[namespace] = {}
            now = self.clock.time()
            for res, evaluator in EVALUATORS.items():
                for entry in self.store.list(res, namespace):
                    facts = pod_facts(entry.obj) if evaluator.scoped else None
                    charges[(res, entry.name)] = Charge(evaluator.usage(entry.obj, now), facts, frozenset())
        for (res, obj_name), charge in charges.items():
            evaluator = EVALUATORS[res]
            quotas = charge.quotas - {st.name}
            if st.matches(evaluator, charge.facts):
                quotas |= {st.name}
                st.used = qty.add(st.used, qty.mask(charge.usage, st.tracked[res]))
            charges[(res, obj_name)] = Charge(charge.usage, charge.facts, quotas)
        for res in set(st.counted.values()) - self.counted_observers:
            self.counted_observers.add(res)
            self.store.observe(res, self._count_observer(res))
        self.wake((namespace, st.name))

    def _drop_quota(self, namespace: str, name: str) -> None:
        states = self.quotas.get(namespace, {})
        if states.pop(name, None) is None:
            return
        if not states:
            self.quotas.pop(namespace, None)
            self.charges.pop(namespace, None)
            return
        charges = self.charges.get(namespace, {})
        for key, charge in charges.items():
            if name in charge.quotas:
                charges[key] = Charge(charge.usage, charge.facts, charge.quotas - {name})

    def _count_observer(self, res: str) -> Callable[[Event], None]:
        """A kind some quota counts: its creations and deletions wake the quotas of the namespace that count it."""

        def observe(event: Event) -> None:
            if event.type not in (ADDED, DELETED):
                return  # an update changes no count
            for st in self.quotas.get(event.entry.namespace, {}).values():
                if res in st.counted.values():
                    self.wake((event.entry.namespace, st.name))

        return observe

    # -- reading ---------------------------------------------------------------------------------------------------
    def count(self, st: QuotaState, res: str, namespace: str) -> Quantity:
        """A generic object count: the namespace's objects of the resource (none for a scoped quota, which counts no
        object of these kinds)."""
        return ZERO if st.selectors else Quantity(Decimal(self.store.count_after(res, namespace, None)))

    def status(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The status the quota controller writes: hard as the spec says, used for every hard resource it tracks."""
        st = self.quotas.get(namespace, {}).get(name)
        if st is None:
            return None
        used: dict[str, str] = {}
        for resource in st.hard:
            if resource in st.counted:
                used[resource] = str(self.count(st, st.counted[resource], namespace))
            elif resource in st.used:
                used[resource] = str(st.used[resource])
        return {"hard": qty.to_json(st.hard), "used": used}

    # -- admission ---------------------------------------------------------------------------------------------------
    def admit(self, request: AdmissionRequest) -> None:
        """The ResourceQuota admission plugin, after every other check of a write."""
        if request.operation not in (CREATE, UPDATE) or request.obj is None or not request.rt.namespaced:
            return
        namespace = (request.obj.get("metadata") or {}).get("namespace", "")
        states = self.quotas.get(namespace)
        if not states:
            return
        evaluator = EVALUATORS.get(request.rt.key)
        if evaluator is None:
            self._admit_count(request, namespace, states)
        else:
            self._admit_evaluated(request, evaluator, namespace, states)

    def _admit_count(self, request: AdmissionRequest, namespace: str, states: dict[str, QuotaState]) -> None:
        """The generic object-count evaluator: on create, one more object of the kind."""
        if request.operation != CREATE or request.subresource is not None:
            return
        res = request.rt.key
        for st in (states[q] for q in sorted(states)):
            if st.selectors:
                continue
            names = sorted(n for n, counted in st.counted.items() if counted == res)
            exceeded = [n for n in names if self.count(st, res, namespace).value + 1 > st.hard[n].value]
            if exceeded:
                requested = {n: ONE for n in exceeded}
                used = {n: self.count(st, res, namespace) for n in exceeded}
                raise _exceeded(request, st, requested, used)

    def _admit_evaluated(self, request: AdmissionRequest, evaluator: Evaluator, namespace: str, states: dict[str, QuotaState]) -> None:
        obj, old = request.obj or {}, request.old
        if not _handles(request, evaluator):
            return
        facts = pod_facts(obj) if evaluator.scoped else None
        interesting = []
        for st in (states[q] for q in sorted(states)):
            if not st.matches(evaluator, facts):
                continue
            if evaluator.resource == PODS:
                missing = missing_requirements(st.tracked[PODS], obj.get("spec") or {})
                if missing:
                    raise forbidden(request, f"failed quota: {st.name}: {missing}")
            interesting.append(st)
        if not interesting:
            return
        now = self.clock.time()
        usage = evaluator.usage(obj, now)
        negative = sorted(n for n, q in usage.items() if q.value < 0)
        if negative:
            raise forbidden(request, f"quota usage is negative for resource(s): {','.join(negative)}")
        prev_usage = evaluator.usage(old, now) if request.operation == UPDATE and old is not None else None
        prev_facts = pod_facts(old) if evaluator.scoped and old is not None else None
        for st in interesting:
            delta = usage
            if prev_usage is not None and st.matches(evaluator, prev_facts):
                delta = _nonnegative(usage, prev_usage)
            requested = qty.remove_zeros(qty.mask(delta, st.hard))
            if not requested or request.subresource == "status":
                continue
            exceeded = sorted(n for n, q in requested.items() if (st.used.get(n, ZERO) + q).value > st.hard[n].value)
            if exceeded:
                raise _exceeded(request, st, qty.mask(requested, exceeded), {n: st.used.get(n, ZERO) for n in exceeded})


def _handles(request: AdmissionRequest, evaluator: Evaluator) -> bool:
    """Which writes an evaluator measures: a pod's create; a claim's or a service's create and update (a claim's
    status write too when its allocated size changes)."""
    if evaluator.resource == PODS:
        return request.operation == CREATE and request.subresource is None
    if request.subresource is None:
        return True
    if evaluator.resource == CLAIMS and request.subresource == "status" and request.old is not None:
        allocated = [((o.get("status") or {}).get("allocatedResources") or {}).get("storage") for o in (request.obj or {}, request.old)]
        return allocated[0] != allocated[1]
    return False


def _nonnegative(a: ResourceList, b: ResourceList) -> ResourceList:
    """quota.SubtractWithNonNegativeResult."""
    out = {name: (q - b[name] if name in b else q) for name, q in a.items()}
    out = {name: (q if q.value > 0 else qty.parse("0")) for name, q in out.items()}
    for name in b:
        out.setdefault(name, qty.parse("0"))
    return out


def missing_requirements(restricted: Iterable[str], spec: dict[str, Any]) -> str:
    """podEvaluator.Constraints: with a quota on cpu or memory, every container and init container states them;
    `must specify <resource> for: <containers>; …`, or "" when all do."""
    required = set(restricted) & VALIDATION_SET
    if not required:
        return ""
    missing: dict[str, set[str]] = {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if not isinstance(c, dict):
            continue
        have = compute_usage(_resources(c, "requests"), _resources(c, "limits"))
        for name in required - set(have):
            missing.setdefault(name, set()).add(str(c.get("name", "")))
    if not missing:
        return ""
    return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))


def _exceeded(request: AdmissionRequest, st: QuotaState, requested: ResourceList, used: ResourceList) -> APIError:
    limited = qty.mask(st.hard, requested)
    message = f"exceeded quota: {st.name}, requested: {qty.pretty(requested)}, used: {qty.pretty(used)}, limited: {qty.pretty(limited)}"
    return forbidden(request, message)


def refusal_reason(message: str) -> str:
    """What a Forbidden message says after `<resource> "<name>" is forbidden: `: the same for two attempts refused for the
    same reason, whatever the names of the objects they tried (a controller reports each refusal once, not each try)."""
    return message.partition(" is forbidden: ")[2]


def is_quota_error(error: Exception) -> bool:
    """A write refused by a quota (what the platform's controllers look for: CDI's ErrQuotaExceeded)."""
    return isinstance(error, APIError) and error.code == 403 and "exceeded quota:" in error.message


def register(admission: Admission, ledger: Ledger) -> None:
    admission.mutate("", KIND, operations=(CREATE,))(clear_status)
    admission.validate("", KIND, operations=(CREATE, UPDATE), subresources=(None, "status"))(validate_quota)
    admission.validate_last(ledger.admit)
