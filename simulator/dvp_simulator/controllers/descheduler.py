"""The descheduler (BEHAVIOUR.md §7.5, the admin guide's "VM Rebalancing"): Deckhouse renders the Descheduler
`virtualization` only when the `descheduler` module is on, so here it runs while the ModuleConfig `descheduler` has
`spec.enabled: true`. It acts only on pods with the label key `vm.kubevirt.internal.virtualization.deckhouse.io/name`
(virt-launcher pods; a migration's target pod and a pod already asked to evacuate are left alone).

Schedule: a pass every INTERVAL (120 simulated seconds, the descheduler's `deschedulingInterval` of the Deckhouse
module); the first one INTERVAL after the module is switched on; switching it off cancels the next. Steps of a
pass, in the default profile's order (Deschedule plugins, then Balance):
  1. RemovePodsViolatingInterPodAntiAffinity: a pod whose own required pod anti-affinity term matches another pod
     in the same topology domain is evicted (a pod evicted earlier in the pass no longer counts, so of a pair only
     one moves);
  2. RemovePodsViolatingNodeAffinity (requiredDuringSchedulingIgnoredDuringExecution): a pod whose node no longer
     satisfies its nodeSelector / required node affinity;
  both only when the scheduler finds another node for the pod;
  3. LowNodeUtilization by CPU requests: a Ready node over 80 % of its allocatable CPU is over-used, a Ready,
     schedulable node under 50 % under-used; nothing happens without both. From the most used over-used node
     first, its VM pods smallest CPU request first (then by name) are evicted while the node is over 80 % and the
     under-used nodes still have room below 80 % (the pool shrinks by each eviction); a pod that fits no under-used
     node is skipped.
A VM pod being evacuated is counted as gone from its node (the descheduler's tracking of evictions in background),
so a pass during a migration does not evict more than needed.

Each eviction is the Eviction API's own path (`pod_subresources.evict_pod`: the eviction interceptor answers 429
`Eviction triggered evacuation …` and requests the evacuation, the evacuation controller creates the `evacuation-*`
Evict operation, the VM live-migrates to the node the scheduler picks); that 429 counts as an eviction done, any
other refusal (a budget) as not. Each eviction is recorded as a Normal Event on the pod, reason the strategy.

Costs: one pass per interval: the scheduler's NodeStates (cached per node, rebuilt after writes to that node or its
pods) and the pods on each node through the NODE_NAME index; nothing runs per event."""

from __future__ import annotations

import logging
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import (
    TERMINAL_PHASES,
    NodeState,
    label_selector_matches,
    node_affinity_matches,
    pod_requests,
    with_pod,
)

from ..api import pod_subresources
from ..api.errors import APIError
from ..api.service import ObjectService
from ..scheduler import pod_request_from_pod, schedule
from ..store.store import NODE_NAME, Store
from . import ipam
from .runtime import Context, Controller, Key, Requeue
from .vm import NodeStates

log = logging.getLogger("dvp_simulator.controllers.descheduler")
PODS = v.resource_key(v.POD)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
INTERVAL = 120.0  # simulated seconds between passes
LOW, HIGH = 50, 80  # % of allocatable CPU: under-used below LOW, over-used above HIGH (thresholds / targetThresholds)
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def enabled(store: Store) -> bool:
    mc = ipam.module_config(store, v.DESCHEDULER_MODULE)
    return mc is not None and (mc.get("spec") or {}).get("enabled") is True


def controller(store: Store) -> Controller:
    node_states = NodeStates(store)
    due: dict[str, float] = {}  # the next pass's time, while the module is on

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        if key != ("", v.DESCHEDULER_MODULE):
            return None
        if not enabled(store):
            due.clear()
            return None
        now = ctx.clock.time()
        if "next" not in due:
            due["next"] = now + INTERVAL
        if now + 1e-6 < due["next"]:
            return Requeue(due["next"] - now)
        Pass(ctx.service, store, node_states.all()).run()
        due["next"] = ctx.clock.time() + INTERVAL
        return Requeue(INTERVAL)

    return Controller("descheduler", ipam.MODULE_CONFIGS, reconcile)


def _cpu(pod: dict[str, Any]) -> int:
    return pod_requests(pod.get("spec") or {})[0]


class Pass:
    """One descheduling pass over a snapshot of the nodes."""

    def __init__(self, service: ObjectService, store: Store, states: list[NodeState]):
        self.service, self.store = service, store
        self.states = {s.name: s for s in states if s.ready}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.evicted: set[tuple[str, str]] = set()

    def on(self, node: str) -> list[dict[str, Any]]:
        """The live pods bound to the node (NODE_NAME index), read once per pass."""
        if node not in self.pods:
            self.pods[node] = [
                e.obj
                for e in self.store.by_index(PODS, NODE_NAME, node)
                if (e.obj.get("status") or {}).get("phase") not in TERMINAL_PHASES and not e.obj["metadata"].get("deletionTimestamp")
            ]
        return self.pods[node]

    def gone(self, pod: dict[str, Any]) -> bool:
        """Evicted in this pass, or leaving its node already (an evacuation in progress)."""
        meta = pod["metadata"]
        return (meta["namespace"], meta["name"]) in self.evicted or (
            v.VM_MIGRATION_TARGET_ANNOTATION not in (meta.get("annotations") or {}) and v.VM_EVACUATION_NODE_ANNOTATION in (meta.get("annotations") or {})
        )

    def candidates(self, node: str) -> list[dict[str, Any]]:
        """The VM pods on the node the descheduler may evict: its VM Running, not a migration's target, not leaving."""
        out = []
        for pod in self.on(node):
            meta = pod["metadata"]
            vm_name = (meta.get("labels") or {}).get(v.VM_NAME_LABEL)
            if not vm_name or v.VM_MIGRATION_TARGET_ANNOTATION in (meta.get("annotations") or {}) or self.gone(pod):
                continue
            vm = self.store.get(VMS, meta["namespace"], vm_name)
            if vm is not None and (vm.obj.get("status") or {}).get("phase") == v.VM_RUNNING:
                out.append(pod)
        return sorted(out, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))

    def fits_elsewhere(self, pod: dict[str, Any], node: str, among: list[NodeState] | None = None) -> NodeState | None:
        nodes = among if among is not None else [s for n, s in self.states.items() if n != node]
        decision = schedule(pod_request_from_pod(pod), nodes)
        return next((s for s in nodes if s.name == decision.node), None) if decision.node else None

    def evict(self, pod: dict[str, Any], strategy: str) -> bool:
        meta = pod["metadata"]
        ns, name, node = meta["namespace"], meta["name"], (pod.get("spec") or {}).get("nodeName") or ""
        rt = self.service.registry.types[PODS]
        body = {"apiVersion": f"{v.POLICY_GROUP}/{v.POLICY_VERSION}", "kind": v.EVICTION, "metadata": {"name": name, "namespace": ns}}
        try:
            pod_subresources.evict_pod(self.service, rt, ns, name, body, v.CORE_VERSION, False)
        except APIError as exc:
            if not (exc.code == 429 and v.EVICTION_TRIGGERED_EVACUATION in str(exc)):
                log.info("%s: eviction of %s/%s refused: %s", strategy, ns, name, exc)
                return False
        self.evicted.add((ns, name))
        log.info("%s: evicted %s/%s from %s", strategy, ns, name, node)
        self.service.record_event(pod, "Normal", strategy, v.DESCHEDULED_MESSAGE.format(node=node), v.DESCHEDULER_COMPONENT)
        return True

    def run(self) -> None:
        self.anti_affinity()
        self.node_affinity()
        self.low_node_utilization()

    # -- RemovePodsViolatingInterPodAntiAffinity --------------------------------------------------------------
    def anti_affinity(self) -> None:
        for node in sorted(self.states):
            for pod in self.candidates(node):
                if self.violates_anti_affinity(pod, node) and self.fits_elsewhere(pod, node):
                    self.evict(pod, v.REMOVE_PODS_VIOLATING_INTER_POD_ANTI_AFFINITY)

    def violates_anti_affinity(self, pod: dict[str, Any], node: str) -> bool:
        terms = (((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}).get(REQUIRED) or []
        labels = self.states[node].labels
        for term in terms:
            key = term.get("topologyKey") or ""
            if key not in labels:
                continue
            selector = term.get("namespaceSelector")
            every_ns = selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions")
            namespaces = set(term.get("namespaces") or []) or {pod["metadata"]["namespace"]}
            for other in (s.name for s in self.states.values() if s.labels.get(key) == labels[key]):
                for q in self.on(other):
                    if q is pod or q["metadata"].get("uid") == pod["metadata"].get("uid") or self.gone(q):
                        continue
                    if (every_ns or q["metadata"]["namespace"] in namespaces) and label_selector_matches(
                        term.get("labelSelector"), q["metadata"].get("labels") or {}
                    ):
                        return True
        return False

    # -- RemovePodsViolatingNodeAffinity ----------------------------------------------------------------------
    def node_affinity(self) -> None:
        for node in sorted(self.states):
            for pod in self.candidates(node):
                if not node_affinity_matches(pod_request_from_pod(pod), self.states[node]) and self.fits_elsewhere(pod, node):
                    self.evict(pod, v.REMOVE_PODS_VIOLATING_NODE_AFFINITY)

    # -- LowNodeUtilization -----------------------------------------------------------------------------------
    def low_node_utilization(self) -> None:
        usage = {n: sum(_cpu(p) for p in self.on(n) if not self.gone(p)) for n in self.states}

        def percent(n: str) -> float:
            alloc = self.states[n].allocatable_cpu_milli
            return usage[n] * 100.0 / alloc if alloc else 0.0

        under = [self.states[n] for n in sorted(self.states) if percent(n) < LOW and not self.states[n].unschedulable]
        over = sorted((n for n in self.states if percent(n) > HIGH), key=lambda n: (-percent(n), n))
        if not under or not over:
            return
        room = sum(s.allocatable_cpu_milli * HIGH // 100 - usage[s.name] for s in under)
        for node in over:
            for pod in sorted(self.candidates(node), key=lambda p: (_cpu(p), p["metadata"]["name"])):
                if percent(node) <= HIGH or room <= 0:
                    break
                target = self.fits_elsewhere(pod, node, under)
                if target is None or not self.evict(pod, v.LOW_NODE_UTILIZATION):
                    continue
                cpu = _cpu(pod)
                usage[node] -= cpu
                room -= cpu
                under = [with_pod(s, pod_request_from_pod(pod)) if s.name == target.name else s for s in under]
