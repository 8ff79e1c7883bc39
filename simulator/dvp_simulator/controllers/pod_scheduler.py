"""kube-scheduler for the pods a client creates without a node: a Pending pod of the `default-scheduler` (its
spec.schedulerName, defaulted so) is placed by the collection's scheduling functions (plugins/module_utils/scheduling.py:
resources, node selector and affinity, pod (anti-)affinity, taints and tolerations, unschedulable and NotReady nodes)
and bound through the binding subresource's write, with the events kube-scheduler records: `Scheduled` ("Successfully
assigned <ns>/<pod> to <node>"), or `FailedScheduling` with the filters' count ("0/N nodes are available: …"), after
which the pod waits for a node to come, turn Ready or schedulable (or for the unschedulable pods' periodic retry,
upstream's podMaxInUnschedulablePodsDuration). The kubelet then starts it (controllers/kubelet.py).

The platform's pods (virt-launcher, virt-handler) are created already bound to their node by their controllers and
never pass here.

Costs: a placement builds every node's state from the pods bound to it (the nodeName index): O(nodes + their pods) per
placement — fine for the pods an admin creates, which are few; the VMs' pods, the many, are placed by the VM
controller's own cached node states. Pods waiting for a node are found through an index, never by a scan."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..scheduler import node_state, pod_request_from_pod, schedule
from ..store.store import ADDED, NODE_NAME, Event, Store
from .runtime import Context, Controller, Key, Requeue

PODS, NODES = v.resource_key(v.POD), v.resource_key(v.NODE)
SCHEDULER = "default-scheduler"
UNSCHEDULED = "unscheduledPod"  # index of pods: "true" for a pod waiting for this scheduler
RETRY = 60.0  # simulated seconds before an unschedulable pod is tried again without a cluster event


def waiting(pod: dict[str, Any]) -> bool:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (
        not spec.get("nodeName")
        and spec.get("schedulerName", SCHEDULER) == SCHEDULER
        and status.get("phase") in (None, v.PENDING)
        and not pod["metadata"].get("deletionTimestamp")
    )


def _waiting_index(pod: dict[str, Any]) -> list[str]:
    return ["true"] if waiting(pod) else []


def _schedulable(node: dict[str, Any]) -> tuple[Any, ...]:
    """What of a node can turn a pod that did not fit into one that does."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == v.COND_NODE_READY), None)
    return ready, (node.get("spec") or {}).get("unschedulable"), (node.get("spec") or {}).get("taints"), (node.get("metadata") or {}).get("labels")


def controller(store: Store) -> Controller:
    store.add_index(PODS, UNSCHEDULED, _waiting_index)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(PODS, *key)
        if entry is None or not waiting(entry.obj):
            return None
        nodes = store.list(NODES)
        states = [node_state(n.obj, [p.obj for p in store.by_index(PODS, NODE_NAME, n.name)]) for n in nodes]
        decision = schedule(pod_request_from_pod(entry.obj), states)
        rt = ctx.service.registry.types[PODS]
        pod = ctx.service.find(rt, *key)
        if pod is None:
            return None
        if decision.node is None:
            ctx.service.record_event(pod, "Warning", "FailedScheduling", decision.message, SCHEDULER)  # "0/N nodes are available: …"
            return Requeue(RETRY)
        pod = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": decision.node}}  # the stored version stays as it was
        try:  # the binding subresource's write, as upstream's scheduler posts a Binding (no managedFields entry)
            ctx.service.update(rt, key[0], key[1], pod, WriteOptions(version=v.CORE_VERSION, manager="", subresource="binding"))
        except APIError as exc:
            if exc.code in (404, 409):  # gone, or bound or changed meanwhile: its event brings it back if still waiting
                return None
            raise
        ctx.service.record_event(pod, "Normal", "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {decision.node}", SCHEDULER)
        return None

    def pod_waiting(event: Event) -> list[Key]:
        return [(event.entry.namespace, event.entry.name)] if waiting(event.entry.obj) else []

    def node_changed(event: Event) -> list[Key]:
        """A node came, or changed what placement reads: the waiting pods try again."""
        if event.type != ADDED and event.prev is not None and _schedulable(event.prev.obj) == _schedulable(event.entry.obj):
            return []
        return [(e.namespace, e.name) for e in store.by_index(PODS, UNSCHEDULED, "true")]

    return Controller("pod-scheduler", PODS, reconcile, {NODES: node_changed}, primary_mapper=pod_waiting)
