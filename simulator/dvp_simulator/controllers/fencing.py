"""Fencing (node-manager, BEHAVIOUR.md §7.7) and the node lifecycle controller's part of it, in one reconcile per
node, keyed by the node's `kube-node-lease` Lease (woken by writes to the Node, by a Lease created, deleted or renewed
after it went stale, and by its own timer on the simulated clock: when the Lease it last saw would go stale, at most
a minute later):

- node lifecycle: a node whose Lease was not renewed for more than NODE_MONITOR_GRACE (40 s) gets every condition
  `Unknown` (reason NodeStatusUnknown) and the `node.kubernetes.io/unreachable` NoSchedule / NoExecute taints; the
  taints go once the Lease is renewed again (the kubelet itself posts Ready again);
- fencing: a node labelled `node-manager.deckhouse.io/fencing-enabled` whose Lease was not renewed for more than
  FENCING_TIMEOUT (60 s), and without a maintenance annotation (`fencing-disable`, `update…/approved`,
  `update…/disruption-approved`: they suspend the watchdog), gets all its pods deleted with grace period 0. Mode
  `Watchdog` (`fencing-mode` label): the node's watchdog has fired by then (the fencing-agent stopped feeding it when it
  lost the API, which is also the network-partition case: the split-brain fencing exists for), so its domains are
  gone, and the Node is deleted — unless the node's type (`node.deckhouse.io/type`, its NodeGroup's nodeType) is
  Static or CloudStatic: node-manager cannot make such a machine again, so its Node stays, NotReady and tainted
  unreachable, until the machine is repaired and its kubelet posts Ready. Mode `Notify`: the Node is kept and nothing
  happens on the node itself — a node that
  is merely cut off (network, kubelet) keeps running its domains while their VMs restart elsewhere, so the same guest
  runs twice until the node is recovered (its virt-handler then destroys the orphans): Notify is only safe when the
  operator makes sure the node is really down.

The node-side effect of the watchdog goes through the fleet (nodes/agent.py `fence`); everything else through the API.
A clock advance fires the Lease renewals' and this controller's timers together: before acting on a stale Lease the
reconcile yields to the event loop so a healthy node's renewal, due in the same advance, lands first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..clock import Clock
from ..nodes.fleet import Fleet
from ..store.store import NODE_NAME, Event, Store
from .runtime import Context, Controller, Key, Requeue

log = logging.getLogger("dvp_simulator.controllers.fencing")
LEASES, NODES, PODS = v.resource_key(v.LEASE), v.resource_key(v.NODE), v.resource_key(v.POD)
RECHECK = 60.0  # the fencing controller rechecks every minute
MANAGER = "node-controller"
EPSILON = 0.001
NODE_CONDITIONS = (v.COND_NODE_READY, "MemoryPressure", "DiskPressure", "PIDPressure")


def controller(store: Store, fleet: Fleet, clock: Clock) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        ns, name = key
        if ns != v.NODE_LEASE_NAMESPACE:
            return None
        age = _age(store, ctx.clock, name)
        if age is not None and age > v.NODE_MONITOR_GRACE:
            for _ in range(3):  # let a renewal that fell due in the same clock advance land first
                await asyncio.sleep(0)
            age = _age(store, ctx.clock, name)
        node = store.get(NODES, "", name)
        if age is None or node is None:
            return None
        with store.batch():  # the pods and the Node go in one transaction
            return Fencing(ctx, store, fleet, node.obj, age).run()

    def of_node(event: Event) -> list[Key]:
        return [(v.NODE_LEASE_NAMESPACE, event.entry.name)]

    def of_lease(event: Event) -> list[Key]:
        # A renewal of a Lease that was still fresh changes no verdict (nothing was marked or fenced on its account):
        # the reconcile's own timer, armed for when the Lease would go stale, rechecks it then. Waking on every
        # renewal was a reconcile per node every 10 s, a sixth of the idle CPU of a 1,000-node cluster.
        if event.type == "MODIFIED" and event.prev is not None and event.entry.namespace == v.NODE_LEASE_NAMESPACE:
            before = _renewed(event.prev.obj)
            if before is not None and clock.time() - before <= v.NODE_MONITOR_GRACE:
                return []
        return [(event.entry.namespace, event.entry.name)]

    return Controller("fencing", LEASES, reconcile, {NODES: of_node}, primary_mapper=of_lease)


def _age(store: Store, clock: Clock, name: str) -> float | None:
    lease = store.get(LEASES, v.NODE_LEASE_NAMESPACE, name)
    renewed = _renewed(lease.obj) if lease is not None else None
    return None if renewed is None else clock.time() - renewed


def _renewed(lease: dict[str, Any]) -> float | None:
    """A Lease's renewTime on the simulated clock (None when absent or malformed)."""
    renewed = (lease.get("spec") or {}).get("renewTime") or None
    if renewed is None:
        return None
    try:
        return Clock.parse(renewed)
    except ValueError:
        return None


def deletes_node(labels: dict[str, str]) -> bool:
    """Whether fencing a node with these labels deletes its Node object (pure): not in Notify mode, nor for a node type
    node-manager cannot make again."""
    return labels.get(v.FENCING_MODE_LABEL) != v.FENCING_NOTIFY and labels.get(v.NODE_TYPE_LABEL) not in v.NODE_TYPES_KEPT_WHEN_FENCED


class Fencing:
    def __init__(self, ctx: Context, store: Store, fleet: Fleet, node: dict[str, Any], age: float):
        self.service, self.clock, self.store, self.fleet = ctx.service, ctx.clock, store, fleet
        self.node, self.age = node, age
        self.name = node["metadata"]["name"]
        self.requeue = RECHECK

    def rt(self, res: str):
        return self.service.registry.types[res]

    def opts(self, sub: str | None = None) -> WriteOptions:
        return WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource=sub)

    def after(self, seconds: float) -> None:
        self.requeue = min(self.requeue, max(seconds, EPSILON))

    def run(self) -> Requeue | None:
        if self.age > v.NODE_MONITOR_GRACE:
            self.unknown()
        else:
            self.reachable()
            self.after(v.NODE_MONITOR_GRACE - self.age + EPSILON)
        labels = self.node["metadata"].get("labels") or {}
        if v.FENCING_ENABLED_LABEL not in labels:
            return Requeue(self.requeue) if self.age <= v.NODE_MONITOR_GRACE else None
        annotations = self.node["metadata"].get("annotations") or {}
        if any(a in annotations for a in v.FENCING_SUSPEND_ANNOTATIONS):
            return Requeue(self.requeue)  # maintenance: the watchdog is suspended
        if self.age <= v.FENCING_TIMEOUT:
            self.after(v.FENCING_TIMEOUT - self.age + EPSILON)
            return Requeue(self.requeue)
        self.fence(labels.get(v.FENCING_MODE_LABEL) or v.FENCING_WATCHDOG, deletes_node(labels))
        return Requeue(self.requeue)

    # -- node lifecycle -------------------------------------------------------------------------------------------
    def unknown(self) -> None:
        status = self.node.get("status") or {}
        now = self.clock.stamp()
        conditions = []
        changed = False
        for c in status.get("conditions") or []:
            if c.get("type") in NODE_CONDITIONS and c.get("status") != "Unknown":
                c = {**c, "status": "Unknown", "reason": v.REASON_NODE_STATUS_UNKNOWN, "message": v.NODE_STATUS_UNKNOWN_MESSAGE, "lastTransitionTime": now}
                changed = True
            conditions.append(c)
        if changed:
            self.node = self.service.update(
                self.rt(NODES), "", self.name, {**self.node, "status": {**status, "conditions": conditions}}, self.opts("status")
            ).obj
        taints = list((self.node.get("spec") or {}).get("taints") or [])
        have = {(t.get("key"), t.get("effect")) for t in taints}
        missing = [
            {"key": v.UNREACHABLE_TAINT_KEY, "effect": effect, "timeAdded": now}
            for effect in ("NoSchedule", "NoExecute")
            if (v.UNREACHABLE_TAINT_KEY, effect) not in have
        ]
        if missing:
            spec = {**(self.node.get("spec") or {}), "taints": taints + missing}
            self.node = self.service.update(self.rt(NODES), "", self.name, {**self.node, "spec": spec}, self.opts()).obj

    def reachable(self) -> None:
        taints = list((self.node.get("spec") or {}).get("taints") or [])
        kept = [t for t in taints if t.get("key") != v.UNREACHABLE_TAINT_KEY]
        if len(kept) != len(taints):
            spec = {**self.node["spec"], "taints": kept}
            if not kept:
                spec.pop("taints")
            self.node = self.service.update(self.rt(NODES), "", self.name, {**self.node, "spec": spec}, self.opts()).obj

    # -- fencing --------------------------------------------------------------------------------------------------
    def fence(self, mode: str, delete_node: bool) -> None:
        agent = self.fleet.agents.get(self.name)
        if mode != v.FENCING_NOTIFY and agent is not None and not agent.fenced:  # any mode but Notify is Watchdog, as deletes_node has it
            agent.fence()  # the watchdog fired on the node: kernel panic, its domains are gone
        pods = [(e.namespace, e.name) for e in self.store.by_index(PODS, NODE_NAME, self.name)]
        for ns, pod in pods:
            try:
                self.service.delete(self.rt(PODS), ns, pod, {"gracePeriodSeconds": 0})
            except APIError as exc:
                if exc.code != 404:
                    raise
        if pods:
            kept = "" if delete_node else "; the Node is kept"
            message = f"The node's Lease was not renewed for {self.age:.0f} s: {len(pods)} pod(s) deleted (fencing mode {mode}){kept}."
            self.service.record_event(self.node, "Warning", "NodeFenced", message, MANAGER)
            log.warning("node %s fenced (%s): %d pods deleted%s", self.name, mode, len(pods), kept)
        if delete_node:
            try:
                self.service.delete(self.rt(NODES), "", self.name, {})
            except APIError as exc:
                if exc.code != 404:
                    raise
