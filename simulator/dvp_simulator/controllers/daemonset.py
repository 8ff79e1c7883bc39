"""DaemonSet status (the part of kube-controller-manager's daemon controller the simulator needs): the counts of a
DaemonSet's pods that `kubectl get daemonset` shows. DaemonSets are served read-only and the node agents make their
pods (the module's `virt-handler`, one per node), so this controller only counts: desired = the Nodes (no DaemonSet
here has a node selector or tolerations to narrow them), scheduled = the DaemonSet's pods on a Node that exists,
ready / available = those Running and not being deleted.

Costs: a reconcile reads the DaemonSet's pods (the owner index) and checks each one's Node (a key lookup); it is woken
by a pod of the DaemonSet created, deleted or changing phase, and by a Node created or deleted. A burst of such events
(1,000 nodes registering at start-up) coalesces on the work queue into a few reconciles, where counting within every
node's registration cost a walk of every virt-handler pod each: quadratic in the nodes.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import WriteOptions
from ..store.store import ADDED, DELETED, OWNER, Event, Store
from .runtime import Context, Controller, Key, Requeue

DAEMONSETS, NODES, PODS = v.resource_key(v.DAEMON_SET), v.resource_key(v.NODE), v.resource_key(v.POD)
MANAGER = "daemon-set-controller"


def _owner(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The pod's controller reference when it is a DaemonSet."""
    for ref in pod["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == v.DAEMON_SET:
            return ref
    return None


def counts(pods: list[dict[str, Any]], node_exists: Any, desired: int, generation: int) -> dict[str, Any]:
    """The DaemonSet status for its `pods` (pure): `node_exists(name)` says whether a pod's node is still there."""
    scheduled = [p for p in pods if node_exists((p.get("spec") or {}).get("nodeName") or "")]
    ready = sum(1 for p in scheduled if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running")
    n = len(scheduled)
    return {
        "currentNumberScheduled": n, "desiredNumberScheduled": desired, "numberAvailable": ready, "numberReady": ready,
        "numberMisscheduled": 0, "updatedNumberScheduled": n, "observedGeneration": generation,
        **({"numberUnavailable": desired - ready} if desired > ready else {}),
    }  # fmt: skip


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        rt = ctx.service.registry.types[DAEMONSETS]
        entry = store.get(DAEMONSETS, *key)
        if entry is None:
            return None
        ds = entry.obj
        pods = [e.obj for e in store.by_index(PODS, OWNER, ds["metadata"]["uid"], key[0]) if (_owner(e.obj) or {}).get("uid") == ds["metadata"]["uid"]]
        status = counts(pods, lambda node: store.get(NODES, "", node) is not None, store.count(NODES), ds["metadata"].get("generation", 1))
        if ds.get("status") != status:
            ctx.service.update(rt, key[0], key[1], {**ctx.service.find(rt, *key), "status": status}, WriteOptions(version="v1", manager=MANAGER, subresource="status"))
        return None

    def pod_changed(event: Event) -> list[Key]:
        """A pod of a DaemonSet created, deleted, or changing what the counts read (its node, phase, deletion)."""
        entry = event.entry
        ref = _owner(entry.obj)
        if ref is None:
            return []
        if event.type not in (ADDED, DELETED):
            old = event.prev.obj if event.prev is not None else {}
            new = entry.obj

            def seen(pod: dict[str, Any]) -> tuple[Any, ...]:
                return ((pod.get("spec") or {}).get("nodeName"), (pod.get("status") or {}).get("phase"), pod.get("metadata", {}).get("deletionTimestamp"))

            if seen(old) == seen(new):
                return []
        return [(entry.namespace, ref["name"])]

    def node_changed(event: Event) -> list[Key]:
        """A Node created or deleted changes every DaemonSet's desired count (there is one: virt-handler)."""
        if event.type not in (ADDED, DELETED):
            return []
        return [(e.namespace, e.name) for e in store.list(DAEMONSETS)]

    return Controller("daemonset", DAEMONSETS, reconcile, {PODS: pod_changed, NODES: node_changed})
