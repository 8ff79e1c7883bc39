"""kube-scheduler for the pods a client creates without a node: a Pending pod of the `default-scheduler` (its
spec.schedulerName, defaulted so) is placed by the collection's scheduling functions (plugins/module_utils/scheduling.py:
resources, node selector and affinity, pod (anti-)affinity, taints and tolerations, unschedulable and NotReady nodes)
and bound through the binding subresource's write, with the events kube-scheduler records: `Scheduled` ("Successfully
assigned <ns>/<pod> to <node>"), or `FailedScheduling` with the filters' count ("0/N nodes are available: …"), after
which the pod waits for a node to come, turn Ready or schedulable (or for the unschedulable pods' periodic retry,
upstream's podMaxInUnschedulablePodsDuration). The kubelet then starts it (controllers/kubelet.py).

The platform's pods (virt-launcher, virt-handler) are created already bound to their node by their controllers and
never pass here.

Scores count a container that requests no CPU or memory as requesting 100m and 200 MiB (kube-scheduler's non-zero
requests: its filters use the real requests, its resource scores these), so pods without requests — a Deployment's,
typically — spread over the nodes instead of filling the first one by name.

Costs: a placement builds every node's state from the pods bound to it (the nodeName index): O(nodes + their pods) per
placement — fine for the pods an admin creates, which are few; the VMs' pods, the many, are placed by the VM
controller's own cached node states. Pods waiting for a node are found through an index, never by a scan."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import pod_requests

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..scheduler import Decision, NodeState, PodRequest, node_state, pod_request_from_pod, schedule
from ..store.store import ADDED, NODE_NAME, Event, Store
from .runtime import Context, Controller, Key, Requeue

PODS, NODES = v.resource_key(v.POD), v.resource_key(v.NODE)
SCHEDULER = v.DEFAULT_SCHEDULER
UNSCHEDULED = "unscheduledPod"  # index of pods: "true" for a pod waiting for this scheduler
RETRY = 60.0  # simulated seconds before an unschedulable pod is tried again without a cluster event
DEFAULT_CPU_MILLI, DEFAULT_MEMORY = 100, 200 * 1024 * 1024  # schedutil.DefaultMilliCPURequest, DefaultMemoryRequest


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


def _nonzero(spec: dict[str, Any]) -> tuple[int, int]:
    """A pod's requests as kube-scheduler's resource scores count them: a container asking for no CPU or memory counts
    DEFAULT_CPU_MILLI / DEFAULT_MEMORY (schedutil.GetNonzeroRequests), so pods without requests spread over the nodes."""
    cpu = memory = 0
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        one_cpu, one_memory = pod_requests({"containers": [{"resources": {"requests": requests}}]})
        cpu += one_cpu or DEFAULT_CPU_MILLI
        memory += one_memory or DEFAULT_MEMORY
    return cpu, memory


def _scored_as_nonzero(spec: dict[str, Any], request: PodRequest, feasible: list[NodeState], bound: dict[str, list[dict[str, Any]]]) -> Decision | None:
    """The best of the feasible nodes by the scores over non-zero requests (kube-scheduler's NodeResourcesFit and
    BalancedAllocation use them; its filters the real ones, which chose `feasible`); None if none stays feasible so."""
    cpu, memory = _nonzero(spec)
    pod = replace(request, cpu_milli=max(cpu, request.cpu_milli), memory=max(memory, request.memory))
    states = []
    for state in feasible:
        pods = [p for p in bound[state.name] if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        real = [pod_requests(p.get("spec") or {}) for p in pods]
        counted = [_nonzero(p.get("spec") or {}) for p in pods]
        add_cpu = sum(c for c, _ in counted) - sum(c for c, _ in real)
        add_memory = sum(m for _, m in counted) - sum(m for _, m in real)
        states.append(replace(state, requested_cpu_milli=state.requested_cpu_milli + add_cpu, requested_memory=state.requested_memory + add_memory))
    decision = schedule(pod, states)
    return decision if decision.node is not None else None


def controller(store: Store) -> Controller:
    store.add_index(PODS, UNSCHEDULED, _waiting_index)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(PODS, *key)
        if entry is None or not waiting(entry.obj):
            return None
        nodes = store.list(NODES)
        bound = {n.name: [p.obj for p in store.by_index(PODS, NODE_NAME, n.name)] for n in nodes}
        states = [node_state(n.obj, bound[n.name]) for n in nodes]
        request = pod_request_from_pod(entry.obj)
        decision = schedule(request, states)
        if decision.node is not None and len(decision.feasible) > 1:
            decision = _scored_as_nonzero(entry.obj.get("spec") or {}, request, [s for s in states if s.name in decision.feasible], bound) or decision
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
