"""ClusterRole aggregation, as kube-controller-manager's clusterrole-aggregation controller does it: a ClusterRole
with an `aggregationRule` gets as its `rules` the union (in order, without duplicates) of the rules of every other
ClusterRole matching one of its `clusterRoleSelectors`, those roles taken in name order. Any ClusterRole's change
requeues every aggregating ClusterRole, so chains (a level role selecting another level role) settle."""

from __future__ import annotations

from typing import Any

from ..api.rbac import CLUSTER_ROLES
from ..api.selectors import match_label_selector
from ..api.service import WriteOptions
from ..store.store import Event
from .runtime import Context, Controller, Key, Requeue

MANAGER = "clusterrole-aggregation-controller"


def aggregated_rules(role: dict[str, Any], roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules an aggregating ClusterRole should have, given every ClusterRole (pure)."""
    selectors = ((role.get("aggregationRule") or {}).get("clusterRoleSelectors")) or []
    name = role["metadata"]["name"]
    out: list[dict[str, Any]] = []
    for other in sorted(roles, key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == name:
            continue
        labels = other["metadata"].get("labels") or {}
        if not any(isinstance(s, dict) and match_label_selector(s, labels) for s in selectors):
            continue
        for r in other.get("rules") or []:
            if r not in out:
                out.append(r)
    return out


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    store = ctx.service.store
    entry = store.get(CLUSTER_ROLES, "", key[1])
    if entry is None or not entry.obj.get("aggregationRule"):
        return None
    rules = aggregated_rules(entry.obj, [e.obj for e in store.list(CLUSTER_ROLES)])
    if rules == (entry.obj.get("rules") or []):
        return None
    rt = ctx.service.registry.types[CLUSTER_ROLES]
    ctx.service.update(rt, "", key[1], {**entry.obj, "rules": rules}, WriteOptions(version="v1", manager=MANAGER))
    return None


def controller(store: Any) -> Controller:
    def aggregators(event: Event) -> list[Key]:
        """The aggregating ClusterRoles whose selectors match the changed ClusterRole's labels, before or after."""
        labels = [((e.obj.get("metadata") or {}).get("labels") or {}) for e in (event.entry, event.prev) if e is not None]
        out = []
        for e in store.list(CLUSTER_ROLES):
            selectors = ((e.obj.get("aggregationRule") or {}).get("clusterRoleSelectors")) or []
            if e.name != event.entry.name and any(isinstance(sel, dict) and match_label_selector(sel, lab) for sel in selectors for lab in labels):
                out.append(("", e.name))
        return out

    return Controller("clusterrole-aggregation", CLUSTER_ROLES, reconcile, secondary={CLUSTER_ROLES: aggregators})
