# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared body of every `_info` module: one object by name, or a list filtered by label and field
selectors; optionally waiting (watch-based, see waiter.wait_for) until each one found is ready or has the
wait_condition the task names."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import vocabulary as v
from .client import DVPClient
from .kinds import Kind
from .waiter import Outcome, Predicate, condition_is, once_it_exists, wait_for


def collect(
    client: DVPClient,
    kind: Kind,
    params: dict[str, Any],
    summarize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ready: Predicate | None = None,
) -> dict[str, Any]:
    """`{"changed": False, "resources": [...], "summaries": [...]}`. With `wait`, a named object is waited for
    until it exists and is ready; without a name, each object found is (objects created later are not).
    Ready means `ready` (the kind's own rule), or wait_condition when the task gives one."""
    namespace = params.get("namespace") if kind.namespaced else None
    if params.get("wait"):
        items = _wait(client, kind, namespace, params, _predicate(params, ready))
    else:
        items = _find(client, kind, namespace, params)
    result: dict[str, Any] = {"changed": False, "resources": items}
    if summarize is not None:
        result["summaries"] = [{"name": o["metadata"]["name"], **summarize(o)} for o in items]
    return result


def _find(client: DVPClient, kind: Kind, namespace: str | None, params: dict[str, Any]) -> list[dict[str, Any]]:
    labels = ",".join(params.get("label_selectors") or []) or None
    fields = list(params.get("field_selectors") or [])
    if params.get("name"):
        if not labels and not fields:
            obj = client.get(kind, params["name"], namespace)
            return [obj] if obj is not None else []
        fields.insert(0, f"metadata.name={params['name']}")
    return client.list(kind, namespace, labels, ",".join(fields) or None)["items"]


def _predicate(params: dict[str, Any], ready: Predicate | None) -> Predicate:
    wanted = params.get("wait_condition")
    if wanted:
        return condition_is(wanted["type"], wanted.get("status") or "True", wanted.get("reason"))
    return ready or condition_is(v.COND_READY)


def _wait(client: DVPClient, kind: Kind, namespace: str | None, params: dict[str, Any], predicate: Predicate) -> list[dict[str, Any]]:
    deadline = time.monotonic() + params["wait_timeout"]
    if params.get("name"):
        wait_for(client, kind, params["name"], namespace, once_it_exists(predicate), params["wait_timeout"])
        return _find(client, kind, namespace, params)
    items = []
    for obj in _find(client, kind, namespace, params):
        meta = obj["metadata"]
        remaining = max(0.0, deadline - time.monotonic())
        current = wait_for(client, kind, meta["name"], meta.get("namespace"), _or_deleted(predicate), remaining)
        if current is not None:
            items.append(current)
    return items


def _or_deleted(predicate: Predicate) -> Predicate:
    """A listed object deleted meanwhile is no longer waited for (and left out of the result)."""

    def check(obj: dict[str, Any] | None) -> Outcome:
        return Outcome(done=True) if obj is None else predicate(obj)

    return check
