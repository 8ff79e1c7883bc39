"""PodDisruptionBudget status, as kube-controller-manager's disruption controller keeps it: the pods a budget
selects (expectedPods), how many are healthy (Ready, not being deleted, not just evicted), how many must stay
healthy (desiredHealthy, from minAvailable or maxUnavailable, percentages rounded up) and so how many
voluntary disruptions are allowed now. The eviction subresource (api/pod_subresources.py) reads this status."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.pod_subresources import PDBS, budgets_of, is_ready
from ..api.selectors import match_label_selector
from ..api.service import WriteOptions
from ..clock import Clock
from ..store.store import Event
from .runtime import Context, Controller, Key, Requeue

PODS = v.resource_key(v.POD)
MANAGER = "disruption-controller"
DISRUPTED_POD_TIMEOUT = 120.0  # simulated seconds an evicted pod may take to be deleted before it counts again


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scaled(value: int | str, total: int) -> int:
    """An int-or-string of the budget against `total` pods; percentages round up, as kube does."""
    if isinstance(value, str):
        return math.ceil(int(value.rstrip("%")) * total / 100)
    return int(value)


def desired_healthy(spec: dict[str, Any], expected: int) -> int:
    if spec.get("minAvailable") is not None:
        return scaled(spec["minAvailable"], expected)
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - scaled(spec["maxUnavailable"], expected))
    return 0


def compute_status(pdb: dict[str, Any], pods: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The budget's status for the pods of its namespace (pure: no store, no clock)."""
    spec = pdb.get("spec") or {}
    selector = spec.get("selector")
    selected = [p for p in pods if selector is not None and match_label_selector(selector, p["metadata"].get("labels") or {})]
    alive = {p["metadata"]["name"] for p in selected if not p["metadata"].get("deletionTimestamp")}
    disrupted = {
        name: stamp
        for name, stamp in ((pdb.get("status") or {}).get("disruptedPods") or {}).items()
        if name in alive and now - Clock.parse(stamp) < DISRUPTED_POD_TIMEOUT
    }
    running = [p for p in selected if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    expected = len(running)
    healthy = len([p for p in running if p["metadata"]["name"] in alive and p["metadata"]["name"] not in disrupted and is_ready(p)])
    desired = desired_healthy(spec, expected)
    allowed = max(0, healthy - desired) if expected else 0
    old_conditions = (pdb.get("status") or {}).get("conditions") or []
    reason, state = ("SufficientPods", "True") if allowed > 0 else ("InsufficientPods", "False")
    previous = next((c for c in old_conditions if c.get("type") == "DisruptionAllowed"), None)
    condition = {
        "type": "DisruptionAllowed",
        "status": state,
        "reason": reason,
        "message": "",
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "lastTransitionTime": previous["lastTransitionTime"] if previous and previous.get("status") == state else _stamp(now),
    }
    status: dict[str, Any] = {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [condition],
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return status


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    service = ctx.service
    rt = service.registry.types[PDBS]
    pdb = service.find(rt, *key)
    if pdb is None or pdb["metadata"].get("deletionTimestamp"):
        return None
    selector = (pdb.get("spec") or {}).get("selector") or {}
    # read through the label index when the selector has equality terms; compute_status applies the whole selector
    pods = [e.obj for e in service.store.select(PODS, key[0], selector.get("matchLabels") or {})]
    status = compute_status(pdb, pods, ctx.clock.time())
    if status != pdb.get("status"):
        service.update(rt, key[0], key[1], {**pdb, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
    # an evicted pod that is not deleted in time counts again: look again when its grace runs out
    return Requeue(after=DISRUPTED_POD_TIMEOUT) if status.get("disruptedPods") else None


def controller(service) -> Controller:
    def budgets_of_pod(event: Event) -> list[Key]:
        pods = [event.entry.obj] + ([event.prev.obj] if event.prev is not None else [])
        keys = {(p["metadata"]["namespace"], b["metadata"]["name"]) for p in pods for b in budgets_of(service, p)}
        return sorted(keys)

    return Controller("disruption", PDBS, reconcile, {PODS: budgets_of_pod})
