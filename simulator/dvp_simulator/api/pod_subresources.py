"""The subresources of a Pod: POST `pods/eviction` (policy/v1 Eviction) and `pods/binding` (v1 Binding), and
GET `pods/log` (the container's output from the simulator's PodLogs, pod_logs.py).

Both are writes like any other: the posted object goes through the admission chain as a CREATE of the
subresource (`Admission.validate("", "Pod", operations=(CREATE,), subresources=("eviction",))` is where an
eviction interceptor plugs in), and only then does the server act. An eviction then honours the pod's
PodDisruptionBudget as kube-apiserver's eviction REST handler does, and deletes the pod with the Eviction's
DeleteOptions (dryRun=All evaluates everything and changes nothing).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..pod_logs import PodLogs
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


FOLLOW_POLL = 1.0  # real seconds between checks that a followed pod still exists


def register(api: APIServer, logs: PodLogs) -> None:
    service = api.service
    api.subresource_handlers[("/pods", "eviction")] = lambda call, body: evict(service, call, body)
    api.subresource_handlers[("/pods", "binding")] = lambda call, body: bind(service, call, body)
    api.subresource_getters[("/pods", "log")] = lambda call: read_log(service, logs, call)


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
    if meta.get("namespace") not in (None, "", call.namespace):  # the create handler's EnsureObjectNamespaceMatchesRequestNamespace
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
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
    return evict_pod(service, call.rt, call.namespace, call.name, eviction, call.version, _dry_run(call, options))


def evict_pod(service: ObjectService, rt: ResourceType, namespace: str, name: str, eviction: dict[str, Any], version: str, dry_run: bool) -> dict[str, Any]:
    """The eviction itself (also the in-cluster descheduler's path, controllers/descheduler.py): admission (the
    eviction interceptor's 429), the pod's budget, the delete."""
    options = eviction.get("deleteOptions") or {}
    pod = service.get(rt, namespace, name)  # 404 before admission, as kube-apiserver
    admit(service, rt, "eviction", eviction, version, dry_run)
    if not _ignores_budgets(pod):
        _check_budget(service, pod, dry_run)
    service.delete(rt, namespace, name, options, dry_run, version)
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
    # a write of the binding subresource, not an update of the pod: ValidatePodUpdate (api/core_updates.py) does not
    # see it, and nothing is recorded in managedFields (upstream's BindingREST sets nodeName in storage directly)
    opts = WriteOptions(version=call.version, dry_run=dry_run, manager="", subresource="binding")
    service.update(call.rt, call.namespace, call.name, bound, opts)
    return SUCCESS


# -- log ----------------------------------------------------------------------------------------------------------
def _bool(query: Any, name: str) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it; 400 for anything else."""
    value = query.get(name)
    if value is None or value in ("1", "t", "T", "true", "TRUE", "True"):
        return value is not None
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise bad_request(f'invalid value for {name}: strconv.ParseBool: parsing "{value}": invalid syntax')


def _int(query: Any, name: str, minimum: int) -> int | None:
    """An integer query parameter of at least `minimum`, or None when absent; 400 otherwise."""
    value = query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{value}": invalid syntax') from None
    if number < minimum:
        raise bad_request(f"{name}: Invalid value: {number}: must be greater than or equal to {minimum}")
    return number


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _time(q: Any, name: str) -> float | None:
    """A metav1.Time query parameter (RFC 3339, as Go's time.RFC3339 parses it) in seconds; 400 with the parser's
    words when it is none."""
    value = q.get(name)
    if not value:
        return None
    try:
        if not RFC3339.fullmatch(value):
            raise ValueError(value)
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_request(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as "2006"') from None


def _container(pod: dict[str, Any], requested: str | None) -> str:
    """The container whose log is read: the requested one, or the only one; 400 as kube-apiserver otherwise."""
    name = pod["metadata"]["name"]
    names = [c.get("name") for c in pod.get("spec", {}).get("containers") or []]
    others = [c.get("name") for key in ("initContainers", "ephemeralContainers") for c in pod.get("spec", {}).get(key) or []]
    if not requested:
        if len(names) == 1:
            return names[0]
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
    if requested not in names + others:
        raise bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _format(at: float, line: str, timestamps: bool) -> bytes:
    if not timestamps:
        return line.encode() + b"\n"
    stamp = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} {line}\n".encode()


async def read_log(service: ObjectService, logs: PodLogs, call: Call) -> web.StreamResponse:
    """GET pods/log: the container's kept lines as text/plain, with `container`, `tailLines`, `sinceSeconds`,
    `limitBytes`, `timestamps`, `previous` and `follow` (the stream then stays open, sending new lines, and ends
    when the pod is deleted or replaced). 400 for malformed parameters or an unknown container, 404 for no pod."""
    q = call.request.query
    follow, timestamps, previous = _bool(q, "follow"), _bool(q, "timestamps"), _bool(q, "previous")
    tail, since, limit = _int(q, "tailLines", 0), _int(q, "sinceSeconds", 1), _int(q, "limitBytes", 1)
    if since is not None and q.get("sinceTime"):
        raise bad_request("at most one of sinceTime or sinceSeconds may be specified")
    since_time = _time(q, "sinceTime")
    pod = service.get(call.rt, call.namespace, call.name)
    container = _container(pod, q.get("container"))
    if previous:
        raise bad_request(f'previous terminated container "{container}" in pod "{call.name}" not found')
    uid = pod["metadata"]["uid"]
    entries = logs.lines(call.namespace, call.name, uid, container)
    if since is not None:
        entries = [e for e in entries if e[1] >= service.clock.time() - since]
    elif since_time is not None:
        entries = [e for e in entries if e[1] >= since_time]
    if tail is not None:
        entries = entries[len(entries) - tail :] if tail else []
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(call.request)
    budget = limit if limit is not None else -1

    async def send(batch: list[tuple[int, float, str]]) -> bool:
        """Write the lines; False once limitBytes is spent."""
        nonlocal budget
        for _, at, line in batch:
            data = _format(at, line, timestamps)
            if budget >= 0:
                data = data[:budget]
                budget -= len(data)
            await response.write(data)
            if budget == 0:
                return False
        return True

    last = max((e[0] for e in logs.lines(call.namespace, call.name, uid, container)), default=0)
    try:
        going = await send(entries)
        while follow and going:
            await logs.wait(call.namespace, call.name, FOLLOW_POLL)
            fresh = logs.lines(call.namespace, call.name, uid, container, after=last)
            if fresh:
                last = fresh[-1][0]
                going = await send(fresh)
            current = service.find(call.rt, call.namespace, call.name)
            if current is None or current["metadata"]["uid"] != uid:
                break
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response
