"""Pod garbage collection: the part of kube-controller-manager's PodGC a simulated cluster meets. A pod bound to a
Node that no longer exists (deleted by hand: fencing deletes a node's pods itself before its Node) is deleted once
the Node has stayed gone for QUARANTINE simulated seconds (upstream's quarantineTime, 40 s): first marked Failed with
the condition DisruptionTarget (reason DeletionByPodGC, "PodGC: node no longer exists") unless it already ended, then
deleted with grace period 0 (upstream: pkg/controller/podgc/gc_controller.go gcOrphaned,
markFailedAndDeletePodWithCondition). A virt-launcher pod deleted so is a VM's lost pod: its run policy decides.

Keyed by the node's name; woken by a Node deleted, and by a pod bound (created, or bound later) to a node that does
not exist. A reconcile reads that node's pods through the nodeName index: nothing walks every pod. Not simulated:
upstream's other passes — terminated pods beyond --terminated-pod-gc-threshold (12,500), and terminating pods on
out-of-service nodes."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..store.store import ADDED, DELETED, NODE_NAME, Event, Store
from .runtime import Context, Controller, Key, Requeue

NODES, PODS = v.resource_key(v.NODE), v.resource_key(v.POD)
MANAGER = "PodGC"
QUARANTINE = 40.0
REASON, MESSAGE = "DeletionByPodGC", "PodGC: node no longer exists"
ENDED = ("Succeeded", "Failed")


def controller(store: Store) -> Controller:
    missing_since: dict[str, float] = {}  # node -> when a reconcile first found it gone

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        node = key[1]
        if store.get(NODES, "", node) is not None:
            missing_since.pop(node, None)
            return None
        pods = store.by_index(PODS, NODE_NAME, node)
        if not pods:
            missing_since.pop(node, None)
            return None
        now = ctx.clock.time()
        since = missing_since.setdefault(node, now)
        if now - since < QUARANTINE:
            return Requeue(QUARANTINE - (now - since))
        rt = ctx.service.registry.types[PODS]
        for entry in list(pods):
            pod = ctx.service.find(rt, entry.namespace, entry.name)
            if pod is None:
                continue
            try:
                if (pod.get("status") or {}).get("phase") not in ENDED:
                    status = pod.get("status") or {}
                    target = {"type": v.COND_DISRUPTION_TARGET, "status": "True", "reason": REASON, "message": MESSAGE, "lastTransitionTime": ctx.clock.stamp()}
                    conditions = [c for c in status.get("conditions") or [] if c.get("type") != v.COND_DISRUPTION_TARGET] + [target]
                    failed = {**pod, "status": {**status, "phase": "Failed", "conditions": conditions}}  # the stored version stays as it was
                    ctx.service.update(rt, entry.namespace, entry.name, failed, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
                ctx.service.delete(rt, entry.namespace, entry.name, {"gracePeriodSeconds": 0})
            except APIError as exc:
                if exc.code not in (404, 409):  # gone or changed meanwhile: the next event brings it back if still orphaned
                    raise
        missing_since.pop(node, None)
        return None

    def node_deleted(event: Event) -> list[Key]:
        return [("", event.entry.name)] if event.type == DELETED else []

    def pod_bound(event: Event) -> list[Key]:
        """A pod bound to a node that does not exist: when it is created so, or bound later."""
        if event.type == DELETED:
            return []
        node = (event.entry.obj.get("spec") or {}).get("nodeName")
        if not node:
            return []
        if event.type != ADDED and event.prev is not None and (event.prev.obj.get("spec") or {}).get("nodeName") == node:
            return []
        return [("", node)] if store.get(NODES, "", node) is None else []

    return Controller("pod-gc", NODES, reconcile, {PODS: pod_bound}, primary_mapper=node_deleted)
