# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for an object to reach a state: pure predicates over objects, and one watch-based loop.

The loop never sleeps-and-polls: it watches the object from the resourceVersion it last saw, re-reading only
when a stream ends (timeout, 410 Gone after a server restart). A `Failed` phase ends the wait at once with the
Ready condition's reason and message; a timeout names the phase and conditions last seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DVPError
from .kinds import Kind


@dataclass(frozen=True)
class Outcome:
    done: bool = False
    failed: bool = False
    message: str = ""


Predicate = Callable[[Any], Outcome]


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in (obj or {}).get("status", {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def describe_state(obj: dict[str, Any] | None) -> str:
    """`phase Provisioning, progress 45%; Ready=False (Provisioning: importing)` for messages."""
    if obj is None:
        return "the object does not exist"
    status = obj.get("status") or {}
    parts = [f"phase {status.get('phase') or '<none>'}"]
    if status.get("progress"):
        parts[0] += f", progress {status['progress']}"
    conds = [
        f"{c.get('type')}={c.get('status')} ({c.get('reason', '')}{': ' + c['message'] if c.get('message') else ''})" for c in status.get("conditions") or []
    ]
    return parts[0] + ("; " + "; ".join(conds) if conds else "")


def phase_in(ready: tuple[str, ...] = ("Ready",), failed: tuple[str, ...] = ("Failed",)) -> Predicate:
    """Done in a ready phase (with status current for the spec); failed in a failed phase."""

    def check(obj: dict[str, Any] | None) -> Outcome:
        if obj is None:
            return Outcome(failed=True, message="the object was deleted while waiting")
        status = obj.get("status") or {}
        generation = obj.get("metadata", {}).get("generation")
        observed = status.get("observedGeneration")
        current = observed is None or generation is None or observed >= generation
        phase = status.get("phase")
        if phase in ready and current:
            return Outcome(done=True)
        if phase in failed and current:
            cond = condition(obj, "Ready") or {}
            why = f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".rstrip(": ")
            return Outcome(failed=True, message=f"phase {phase}: {why}")
        return Outcome()

    return check


def gone(obj: dict[str, Any] | None) -> Outcome:
    return Outcome(done=obj is None)


def wait_for(
    client: Any, kind: Kind, name: str, namespace: str | None, predicate: Predicate, timeout: float, clock: Callable[[], float] = time.monotonic
) -> dict[str, Any] | None:
    """The object once predicate says done; DVPError when it fails or time runs out."""
    what = kind.describe(name, namespace)
    deadline = clock() + timeout
    obj = client.get(kind, name, namespace)
    while True:
        outcome = predicate(obj)
        if outcome.done:
            return obj
        if outcome.failed:
            raise DVPError(f"{what}: {outcome.message}", resource=obj)
        remaining = deadline - clock()
        if remaining <= 0:
            raise DVPError(f"{what}: timed out after {timeout:g}s waiting; last seen: {describe_state(obj)}", resource=obj)
        rv = (obj or {}).get("metadata", {}).get("resourceVersion") or client.list(kind, namespace, field_selector=f"metadata.name={name}")["metadata"][
            "resourceVersion"
        ]
        for event in client.watch(kind, name, namespace, rv, remaining):
            if event.get("type") == "ERROR":
                break  # 410 Gone and the like: re-read and watch again
            if event.get("type") == "BOOKMARK":
                continue
            obj = None if event.get("type") == "DELETED" else event.get("object")
            outcome = predicate(obj)
            if outcome.done or outcome.failed or clock() >= deadline:
                break
        else:
            obj = client.get(kind, name, namespace)
            continue
        if not (outcome.done or outcome.failed):
            obj = client.get(kind, name, namespace)
