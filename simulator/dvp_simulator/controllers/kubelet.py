"""The kubelet's start of a pod bound to its node: a Pending pod whose spec.nodeName names a Ready node is started —
its containers running at once (the simulated node pulls no image), phase Running, the pod's conditions, its
containers' statuses, hostIP and the address its network gave it (nodes/pod_network.py), as the kubelet reports
them in its status update.

A Job's pod (its controller is a Job) runs to completion: RUN_SECONDS after it started, its containers exit 0
(`Completed`) and the pod is Succeeded — the simulator runs no process whose end it could wait for, and a Job is work
that ends. Every other pod runs until it is deleted. An ephemeral container `kubectl debug` adds to a running pod
(pods/ephemeralcontainers) is started the same way, virt-launcher pods included; it is never Ready.

The platform's pods (virt-launcher, virt-handler) are created by their controllers with the status they simulate and
never pass here; this is for the pods a client creates bound to a node (spec.nodeName, or bound later through
pods/binding), which the API server leaves Pending (api/pod_defaults.py). A pod on a node that is not Ready waits: its
node becoming Ready starts it.

Costs: a pod's event maps to itself only when it is bound and Pending (one look at its status); a node's event maps to
its pods (the nodeName index) only when its Ready condition turned True."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..clock import Clock
from ..nodes.pod_network import host_ip, pod_ip
from ..store.store import NODE_NAME, Event, Store
from .runtime import Context, Controller, Key, Requeue

PODS, NODES = v.resource_key(v.POD), v.resource_key(v.NODE)
MANAGER = "kubelet"
RUN_SECONDS = 1.0  # how long a Job's pod runs, in simulated seconds: its containers exit 0 then
CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def waiting(pod: dict[str, Any]) -> bool:
    """Bound to a node, not started yet, not being deleted."""
    return (
        bool((pod.get("spec") or {}).get("nodeName"))
        and (pod.get("status") or {}).get("phase") in (None, v.PENDING)
        and not pod["metadata"].get("deletionTimestamp")
    )


def node_ready(node: dict[str, Any] | None) -> bool:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == v.COND_NODE_READY and c.get("status") == "True" for c in conditions)


def _container_status(container: dict[str, Any], pod_uid: str, now: str) -> dict[str, Any]:
    image = str(container.get("image") or "")
    digest = hashlib.sha256(image.encode()).hexdigest()
    return {
        "name": container.get("name", ""),
        "ready": True,
        "started": True,
        "restartCount": 0,
        "image": image,
        "imageID": image if "@" in image else f"{image}@sha256:{digest}",
        "containerID": "containerd://" + hashlib.sha256(f"{pod_uid}/{container.get('name', '')}".encode()).hexdigest(),
        "state": {"running": {"startedAt": now}},
        "lastState": {},
    }


def started_status(pod: dict[str, Any], node: dict[str, Any], now: str, ip: str = "") -> dict[str, Any]:
    """The status the kubelet posts once the pod's containers run, `ip` the address its network gave it (pure)."""
    address = host_ip(node)
    spec, uid = pod.get("spec") or {}, pod["metadata"].get("uid", "")
    status: dict[str, Any] = {
        **(pod.get("status") or {}),
        "phase": "Running",
        "startTime": now,
        "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now} for t in CONDITIONS],
        "containerStatuses": [_container_status(c, uid, now) for c in spec.get("containers") or [] if isinstance(c, dict)],
    }
    if address:
        status["hostIP"] = address
        status["hostIPs"] = [{"ip": address}]
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    if spec.get("initContainers"):
        done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
        status["initContainerStatuses"] = [
            {**_container_status(c, uid, now), "ready": True, "started": False, "state": done} for c in spec["initContainers"] if isinstance(c, dict)
        ]
    return status


def ephemeral_waiting(pod: dict[str, Any]) -> bool:
    """A running pod with an ephemeral container (kubectl debug) the kubelet has not started yet. Most pods have none:
    that is looked at first, as every pod event asks."""
    ephemeral = (pod.get("spec") or {}).get("ephemeralContainers")
    if not ephemeral:
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return False
    started = {s.get("name") for s in status.get("ephemeralContainerStatuses") or [] if isinstance(s, dict)}
    return any(isinstance(c, dict) and c.get("name") not in started for c in ephemeral)


def ephemeral_started(pod: dict[str, Any], now: str) -> dict[str, Any]:
    """The pod's status with its new ephemeral containers running (pure): never Ready, as the kubelet reports them."""
    status = dict(pod.get("status") or {})
    statuses = [s for s in status.get("ephemeralContainerStatuses") or [] if isinstance(s, dict)]
    started = {s.get("name") for s in statuses}
    for container in (pod.get("spec") or {}).get("ephemeralContainers") or []:
        if isinstance(container, dict) and container.get("name") not in started:
            running = _container_status(container, pod["metadata"].get("uid", ""), now)
            running.pop("started")
            statuses.append({**running, "ready": False})
    return {**status, "ephemeralContainerStatuses": statuses}


def job_pod(pod: dict[str, Any]) -> bool:
    """A pod a Job made (its controller is the Job): its containers run to completion."""
    return any(ref.get("controller") and ref.get("kind") == v.JOB for ref in pod["metadata"].get("ownerReferences") or ())


def finishing(pod: dict[str, Any]) -> bool:
    """A Job's pod that runs, not being deleted: its containers exit (0) RUN_SECONDS after they started."""
    return (pod.get("status") or {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp") and job_pod(pod)


def completed_status(pod: dict[str, Any], now: str) -> dict[str, Any]:
    """The status the kubelet posts once every container of the pod exited 0 (pure): phase Succeeded, the containers
    terminated `Completed`, the pod no longer Ready (`PodCompleted`)."""
    status = dict(pod.get("status") or {})
    containers = []
    for container in status.get("containerStatuses") or []:
        started = ((container.get("state") or {}).get("running") or {}).get("startedAt") or now
        done = {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now, "containerID": container.get("containerID", "")}
        containers.append({**container, "ready": False, "started": False, "state": {"terminated": done}})
    conditions = []
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Ready", "ContainersReady"):
            condition = {**condition, "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}
        elif condition.get("type") == "PodReadyToStartContainers":
            condition = {**condition, "status": "False", "lastTransitionTime": now}
        conditions.append(condition)
    return {**status, "phase": "Succeeded", "conditions": conditions, "containerStatuses": containers}


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(PODS, *key)
        if entry is not None and ephemeral_waiting(entry.obj):
            _start_ephemeral(ctx, key)
            return None
        if entry is not None and finishing(entry.obj):
            return _finish(ctx, key, entry.obj)
        if entry is None or not waiting(entry.obj):
            return None
        node = store.get(NODES, "", entry.obj["spec"]["nodeName"])
        if node is None or not node_ready(node.obj):
            return None  # the node's Ready (nodes_ready) brings it back
        rt = ctx.service.registry.types[PODS]
        pod = ctx.service.find(rt, *key)
        if pod is None:
            return None
        pod = {**pod, "status": started_status(pod, node.obj, ctx.clock.stamp(), pod_ip(store, node.obj, pod))}
        try:
            ctx.service.update(rt, key[0], key[1], pod, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
        except APIError as exc:
            if exc.code not in (404, 409):  # gone, or changed meanwhile (its event brings it back)
                raise
        return Requeue(RUN_SECONDS) if job_pod(pod) else None

    def _post_status(ctx: Context, key: Key, status_of: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """The pod's status as `status_of` makes it from the stored pod (None: nothing to post), as a status update."""
        rt = ctx.service.registry.types[PODS]
        current = ctx.service.find(rt, *key)
        status = status_of(current) if current is not None else None
        if status is None:
            return
        try:
            ctx.service.update(rt, key[0], key[1], {**current, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
        except APIError as exc:
            if exc.code not in (404, 409):  # gone, or changed meanwhile (its event brings it back)
                raise

    def _start_ephemeral(ctx: Context, key: Key) -> None:
        _post_status(ctx, key, lambda pod: ephemeral_started(pod, ctx.clock.stamp()) if ephemeral_waiting(pod) else None)

    def _finish(ctx: Context, key: Key, pod: dict[str, Any]) -> Requeue | None:
        started = (pod.get("status") or {}).get("startTime")
        left = Clock.parse(started) + RUN_SECONDS - ctx.clock.time() if started else 0
        if left > 0:
            return Requeue(left)
        _post_status(ctx, key, lambda current: completed_status(current, ctx.clock.stamp()))
        return None

    def pod_waiting(event: Event) -> list[Key]:
        obj = event.entry.obj
        return [(event.entry.namespace, event.entry.name)] if waiting(obj) or finishing(obj) or ephemeral_waiting(obj) else []

    def nodes_ready(event: Event) -> list[Key]:
        """A node that turned Ready starts its waiting pods."""
        if not node_ready(event.entry.obj) or (event.prev is not None and node_ready(event.prev.obj)):
            return []
        return [(e.namespace, e.name) for e in store.by_index(PODS, NODE_NAME, event.entry.name) if waiting(e.obj)]

    return Controller("kubelet", PODS, reconcile, {NODES: nodes_ready}, primary_mapper=pod_waiting)
