"""The POST subresources of a Pod: `pods/eviction` (policy/v1 Eviction) and `pods/binding` (v1 Binding).

Both are writes like any other: the posted object goes through the admission chain as a CREATE of the
subresource (`Admission.validate("", "Pod", operations=(CREATE,), subresources=("eviction",))` is where an
eviction interceptor plugs in), and only then does the server act. An eviction then honours the pod's
PodDisruptionBudget as kube-apiserver's eviction REST handler does, and deletes the pod with the Eviction's
DeleteOptions (dryRun=All evaluates everything and changes nothing).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..resources import ResourceType
from .admission import CREATE, AdmissionRequest
from .errors import APIError, bad_request, conflict
from .selectors import match_label_selector
from .service import ObjectService, WriteOptions

if TYPE_CHECKING:
    from .server import APIServer, Call

PDBS = v.resource_key(v.POD_DISRUPTION_BUDGET)
PDB_MANAGER = "kube-apiserver-eviction"
SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def register(api: APIServer) -> None:
    service = api.service
    api.subresource_handlers[("/pods", "eviction")] = lambda call, body: evict(service, call, body)
    api.subresource_handlers[("/pods", "binding")] = lambda call, body: bind(service, call, body)


def _dry_run(call: Call, options: dict[str, Any]) -> bool:
    return "All" in call.request.query.getall("dryRun", []) or "All" in (options.get("dryRun") or [])


def _posted(call: Call, body: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The posted object, checked as kube-apiserver checks it: the right kind, the name of the URL."""
    if not isinstance(body, dict) or body.get("kind") not in (*kinds, None):
        raise bad_request(f"the body must be a {' or '.join(kinds)} object")
    obj = copy.deepcopy(body)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if meta.get("name") not in (None, "", call.name):
        raise bad_request(f"name in URL does not match name in {kinds[0]} object")
    meta["name"], meta["namespace"] = call.name, call.namespace
    return obj


def admit(service: ObjectService, rt: ResourceType, subresource: str, obj: dict[str, Any], version: str, dry_run: bool) -> list[str]:
    """The admission chain for a CREATE of `rt`'s `subresource` with the posted object (no schema of its own)."""
    request = AdmissionRequest(CREATE, rt, obj, None, subresource, dry_run, service, version)
    service.admission.run_mutating(request)
    service.admission.run_validating(request)
    return request.warnings


# -- eviction -----------------------------------------------------------------------------------------------------
def evict(service: ObjectService, call: Call, body: Any) -> dict[str, Any]:
    eviction = _posted(call, body, ("Eviction",))
    options = eviction.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise bad_request("deleteOptions must be an object")
    dry_run = _dry_run(call, options)
    pod = service.get(call.rt, call.namespace, call.name)  # 404 before admission, as kube-apiserver
    admit(service, call.rt, "eviction", eviction, call.version, dry_run)
    if not _ignores_budgets(pod):
        _check_budget(service, pod, dry_run)
    service.delete(call.rt, call.namespace, call.name, options, dry_run, call.version)
    return SUCCESS


def _ignores_budgets(pod: dict[str, Any]) -> bool:
    """Pods that are not running, or already being deleted, are evicted without consulting a budget."""
    return bool(pod["metadata"].get("deletionTimestamp")) or pod.get("status", {}).get("phase") in ("Pending", "Succeeded", "Failed")


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions") or [])


def budgets_of(service: ObjectService, pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The PodDisruptionBudgets of the pod's namespace whose selector matches it (the namespace's PDBs only)."""
    labels = pod["metadata"].get("labels") or {}
    return [
        e.obj
        for e in service.store.list(PDBS, pod["metadata"]["namespace"])
        if (selector := e.obj.get("spec", {}).get("selector")) is not None and match_label_selector(selector, labels)
    ]


def _check_budget(service: ObjectService, pod: dict[str, Any], dry_run: bool) -> None:
    budgets = budgets_of(service, pod)
    if not budgets:
        return
    if len(budgets) > 1:
        raise APIError(500, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
    pdb = budgets[0]
    status = pdb.get("status") or {}
    name = pdb["metadata"]["name"]
    if not is_ready(pod):
        policy = pdb.get("spec", {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
        if policy == "AlwaysAllow" or status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0:
            return  # an unready pod does not count towards the budget
    if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        raise _too_many("Cannot evict pod as it would violate the pod's disruption budget.", "observedGeneration less than generation")
    if status.get("disruptionsAllowed", 0) <= 0:
        raise _too_many(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy pods and has {status.get('currentHealthy', 0)} currently",
        )
    if dry_run:
        return
    # Spend one disruption now, so concurrent evictions cannot all pass; the disruption controller recounts.
    updated = copy.deepcopy(pdb)
    updated["status"] = {
        **status,
        "disruptionsAllowed": status["disruptionsAllowed"] - 1,
        "disruptedPods": {**(status.get("disruptedPods") or {}), pod["metadata"]["name"]: service.clock.stamp()},
    }
    pdb_rt = service.registry.types[PDBS]
    try:
        service.update(pdb_rt, pdb["metadata"]["namespace"], name, updated, WriteOptions(version="v1", manager=PDB_MANAGER, subresource="status"))
    except APIError as exc:  # a concurrent write to the budget: the client retries, as with kube-apiserver
        if exc.code == 409:
            raise _too_many(f"The disruption budget {name} was modified concurrently; please retry.") from exc
        raise


def _too_many(message: str, why: str | None = None) -> APIError:
    """kube-apiserver's refusal: 429 without Retry-After (clients such as `kubectl drain` retry on their own)."""
    return APIError(429, message, reason="TooManyRequests", details={"causes": [{"reason": "DisruptionBudget", "message": why or message}]})


# -- binding ------------------------------------------------------------------------------------------------------
def bind(service: ObjectService, call: Call, body: Any) -> dict[str, Any]:
    """Assign the pod to the target node (what a scheduler does); a pod is bound once."""
    binding = _posted(call, body, ("Binding",))
    target = binding.get("target")
    if not isinstance(target, dict) or not target.get("name") or target.get("kind", "Node") != "Node":
        raise bad_request("a Binding needs target: {kind: Node, name: <node>}")
    dry_run = _dry_run(call, {})
    pod = service.get(call.rt, call.namespace, call.name)
    admit(service, call.rt, "binding", binding, call.version, dry_run)
    node = pod.get("spec", {}).get("nodeName")
    if node:
        raise conflict("", "pods", call.name, f"pod {call.name} is already assigned to node {node!r}")
    bound = copy.deepcopy(pod)
    bound.setdefault("spec", {})["nodeName"] = target["name"]
    service.update(call.rt, call.namespace, call.name, bound, WriteOptions(version=call.version, dry_run=dry_run, manager="kube-scheduler"))
    return SUCCESS
