"""metav1.Condition lists as the platform's controllers keep them (apimachinery's SetStatusCondition):
lastTransitionTime moves only when the status changes; every write stamps observedGeneration."""

from __future__ import annotations

from typing import Any

Condition = dict[str, Any]


def get(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def set_condition(conditions: list[Condition], type_: str, status: str, reason: str, message: str, generation: int, now: str) -> None:
    """Add or update the condition of `type_` in place."""
    current = get(conditions, type_)
    if current is None:
        conditions.append({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now, "observedGeneration": generation})
        return
    if current.get("status") != status:
        current["lastTransitionTime"] = now
    current.update(status=status, reason=reason, message=message, observedGeneration=generation)


def remove(conditions: list[Condition], type_: str) -> None:
    conditions[:] = [c for c in conditions if c.get("type") != type_]
