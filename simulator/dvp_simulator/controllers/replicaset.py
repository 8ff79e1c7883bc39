"""The ReplicaSet controller (kube-controller-manager's, pkg/controller/replicaset): a ReplicaSet keeps spec.replicas
pods of its template, and reports them in its status.

- Its pods are those naming it as their controller (ownerReferences; the store's OWNER index) that are not being
  deleted and have not ended (Succeeded, Failed). Too few: pods are made from the template (generateName
  `<replicaset>-`, the template's labels and annotations, a controller reference; the scheduler and the kubelet run
  them). Too many: the surplus is deleted, those furthest from running first (upstream's ActivePods order: unbound,
  then pending, then not ready, then ready the shortest time, then the newest).
- Status: replicas (its pods), fullyLabeledReplicas (those carrying every label of the template), readyReplicas
  (Ready), availableReplicas (Ready for minReadySeconds: a reconcile is due when the next one becomes available),
  observedGeneration, and the ReplicaFailure condition while a pod is refused at admission (a ResourceQuota): a
  Warning FailedCreate Event for each refusal, and the sync tried again with the queue's backoff, as upstream's.

The pod's other owners and adoption of orphans matching the selector are not modelled. One reconcile makes at most
BURST pods (upstream's burstReplicas) and deletes the whole surplus.

Costs: a reconcile reads the ReplicaSet's pods (the owner index); a pod's event wakes its ReplicaSet only when what
the counts read changed (created, deleted, phase, Ready, deletion, labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError, is_namespace_terminating
from ..api.service import WriteOptions, json_copy
from ..clock import Clock
from ..store.store import ADDED, DELETED, OWNER, Event, Store
from .runtime import Context, Controller, Key, Requeue, Retry, controller_ref

REPLICASETS, PODS = v.resource_key(v.REPLICA_SET), v.resource_key(v.POD)
MANAGER = "replicaset-controller"
ENDED = ("Succeeded", "Failed")
# Pods made by one reconcile at most (upstream's burstReplicas, the Job controller's MaxBatchSize): a ReplicaSet, Job
# or DaemonSet asking for 100,000 pods makes them 500 at a time, a reconcile each, the event loop serving requests
# between them, instead of one reconcile holding it for minutes.
BURST = 500
REPLICA_FAILURE, FAILED_CREATE = "ReplicaFailure", "FailedCreate"


def controller_of(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The object's controller reference when its controller is a `kind`."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return ref
    return None


def ready_since(pod: dict[str, Any]) -> str | None:
    """When the pod's Ready condition turned True; None when it is not Ready."""
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return (condition.get("lastTransitionTime") or "") if condition.get("status") == "True" else None
    return None


def active(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in ENDED


def deletion_rank(pod: dict[str, Any]) -> tuple[Any, ...]:
    """The order in which surplus pods go (first the lowest): upstream's ActivePods, less ready first, newer first."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase") or "Pending", 0)
    since = ready_since(pod)
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        phase_rank,
        since is not None,
        _negated(since or ""),
        _negated(pod["metadata"].get("creationTimestamp") or ""),
    )


def _negated(stamp: str) -> tuple[int, ...]:
    """A key that sorts RFC 3339 stamps newest first."""
    return tuple(-ord(c) for c in stamp)


def counts(rs: dict[str, Any], pods: list[dict[str, Any]], now: float) -> tuple[dict[str, Any], float | None]:
    """The ReplicaSet's status for its active `pods` (pure), and in how many seconds the next ready pod becomes
    available (None: none is waiting)."""
    spec = rs.get("spec") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    ready = available = 0
    wait: float | None = None
    for pod in pods:
        since = ready_since(pod)
        if since is None:
            continue
        ready += 1
        left = min_ready - (now - Clock.parse(since)) if min_ready and since else 0
        if left <= 0:
            available += 1
        else:
            wait = left if wait is None else min(wait, left)
    pod_labels = [p["metadata"].get("labels") or {} for p in pods]
    status = {
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(1 for have in pod_labels if all(have.get(k) == value for k, value in labels.items())),
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    return status, wait


def pod_from_template(rs: dict[str, Any], kind: str = v.REPLICA_SET) -> dict[str, Any]:
    """The pod a ReplicaSet (or another `kind`: a Job) makes (upstream: controller.GetPodFromTemplate): the template's
    labels, annotations and spec, generateName `<name>-`, the owner as its controller."""
    meta, template = rs["metadata"], json_copy((rs.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "generateName": f"{meta['name']}-",
        "namespace": meta["namespace"],
        "ownerReferences": [controller_ref(f"{v.group_of(kind)}/{v.CORE_VERSION}", kind, meta["name"], meta["uid"])],
    }
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            pod_meta[key] = tmeta[key]
    return {"apiVersion": v.CORE_VERSION, "kind": v.POD, "metadata": pod_meta, "spec": template.get("spec") or {}, "status": {"phase": v.PENDING}}


def create_pod(ctx: Context, owner: dict[str, Any], body: dict[str, Any], manager: str) -> dict[str, Any]:
    """Create one pod of `owner` with a SuccessfulCreate Event on it (upstream's controller_utils createPods, the
    ReplicaSet, Job and DaemonSet controllers' way). Refused at admission (a ResourceQuota, a LimitRange, a Pod
    Security level, an invalid template): a Warning FailedCreate Event `Error creating: <the API server's words>` (none
    when the namespace is being deleted, as upstream) and the APIError raised for the caller's status and retry."""
    try:
        made = ctx.service.create(ctx.service.registry.types[PODS], owner["metadata"]["namespace"], body, WriteOptions(version=v.CORE_VERSION, manager=manager, with_status=True)).obj
    except APIError as error:
        if not is_namespace_terminating(error):
            ctx.service.record_event(owner, "Warning", FAILED_CREATE, f"Error creating: {error.message}", manager)
        raise
    ctx.service.record_event(owner, "Normal", "SuccessfulCreate", f"Created pod: {made['metadata']['name']}", manager)
    return made


def failure_conditions(conditions: list[dict[str, Any]], refused: APIError | None, now: str) -> list[dict[str, Any]]:
    """A ReplicaSet's conditions after a sync (upstream's calculateStatus): a pod refused adds ReplicaFailure
    (FailedCreate, the API server's words), kept as first reported while creates keep failing; a sync that failed at
    nothing drops it. `kubectl describe` shows it, and the Deployment copies it."""
    failing = any(c.get("type") == REPLICA_FAILURE for c in conditions)
    if refused is not None and not failing:
        return [*conditions, {"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": now, "reason": FAILED_CREATE, "message": refused.message}]
    if refused is None and failing:
        return [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    return conditions


def delete_pods(ctx: Context, owner: dict[str, Any], pods: list[dict[str, Any]], manager: str) -> None:
    """Delete these pods of `owner` (each by its uid: a pod made again under the name stays), a SuccessfulDelete Event
    on the owner for each."""
    rt = ctx.service.registry.types[PODS]
    for pod in pods:
        meta = pod["metadata"]
        try:
            ctx.service.delete(rt, meta["namespace"], meta["name"], {"preconditions": {"uid": meta["uid"]}})
        except APIError as exc:
            if exc.code not in (404, 409):  # gone already, or another pod of the name now
                raise
        else:
            ctx.service.record_event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}", manager)


def owned(store: Store, kind_key: str, owner: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The objects of `kind_key` whose controller is `owner` (a `kind`), through the owner index."""
    uid = owner["metadata"]["uid"]
    return [e.obj for e in store.by_index(kind_key, OWNER, uid, owner["metadata"].get("namespace")) if (controller_of(e.obj, kind) or {}).get("uid") == uid]


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(REPLICASETS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return None
        rs = entry.obj
        pods = [p for p in owned(store, PODS, rs, v.REPLICA_SET) if active(p)]
        wanted = (rs.get("spec") or {}).get("replicas", 1)
        more = False
        refused: APIError | None = None
        if len(pods) < wanted:
            more = wanted - len(pods) > BURST
            for _ in range(min(wanted - len(pods), BURST)):
                try:
                    pods.append(create_pod(ctx, rs, pod_from_template(rs), MANAGER))
                except APIError as error:
                    refused, more = error, False
                    break
        elif len(pods) > wanted:
            pods.sort(key=deletion_rank)
            surplus, pods = pods[: len(pods) - wanted], pods[len(pods) - wanted :]
            delete_pods(ctx, rs, surplus, MANAGER)
        status, wait = counts(rs, pods, ctx.clock.time())
        conditions = failure_conditions((rs.get("status") or {}).get("conditions") or [], refused, ctx.clock.stamp())
        if conditions:
            status["conditions"] = conditions
        if rs.get("status") != status:
            rt = ctx.service.registry.types[REPLICASETS]
            current = ctx.service.find(rt, *key)
            if current is not None:
                ctx.service.update(rt, key[0], key[1], {**current, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
        if refused is not None:
            raise Retry(refused.message)  # upstream requeues the sync with backoff: a quota raised meanwhile lets it make the rest
        if more:
            return Requeue(0)  # the next BURST in the next slice: the API is served in between
        return Requeue(wait) if wait is not None else None

    return Controller("replicaset", REPLICASETS, reconcile, {PODS: pods_of(v.REPLICA_SET)})


def pods_of(kind: str) -> Callable[[Event], list[Key]]:
    """The mapper of a pod's event to its controller of `kind` (a ReplicaSet, a Job): when the pod was created or
    deleted, or changed what its controller counts (phase, Ready, deletion, labels)."""

    def pod_changed(event: Event) -> list[Key]:
        ref = controller_of(event.entry.obj, kind)
        if ref is None:
            return []
        if event.type not in (ADDED, DELETED) and event.prev is not None and _seen(event.prev.obj) == _seen(event.entry.obj):
            return []
        return [(event.entry.namespace, ref["name"])]

    return pod_changed


def _seen(pod: dict[str, Any]) -> tuple[Any, ...]:
    meta = pod["metadata"]
    return ((pod.get("status") or {}).get("phase"), ready_since(pod), meta.get("deletionTimestamp"), meta.get("labels"))
