# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one "ensure" flow every module uses: desired state in, changed/resource/diff out.

- present: nothing is sent when the server already holds every field the user gave (compared after server
  defaulting, quantities by value) and no field the collection set earlier was dropped from the task;
  otherwise a server-side apply (field manager `deckhouse.virtualization`) — dry-run first in check mode,
  so check mode and --diff show what the server would really store. Fields another manager owns are not taken
  silently: the server's 409 becomes an error naming the managers and fields, unless `force_conflicts`.
- a kind-specific guard may refuse a change (immutable fields) or ask for delete + create (`recreate`).
- absent: delete (dry-run in check mode), then optionally wait until gone.
- check mode with a reference the module's checks could not verify (`refs`, see references.py: an object the task
  names does not exist, nor, as the dry run answers, its namespace - an earlier task may create them): no dry run;
  the outcome is the object as the task declares it over the stored one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from .client import APPLY, FIELD_MANAGER, APIStatusError, DVPClient, backoff_delays, conflict_is_retriable
from .compare import differences, strip_server_fields
from .errors import DVPError, status_body
from .kinds import Kind
from .naming import snake
from .references import References, missing_namespace, predicted
from .waiter import Predicate, gone, reporting, wait_for

# `known` of Ensurer.present when the caller has not read the object (None there means: read, and it does not exist).
NOT_READ: Any = type("NotRead", (), {"__repr__": lambda self: "NOT_READ"})()

# guard(actual, desired, changed_paths) -> None (go ahead) or "recreate"; raises DVPError to refuse.
Guard = Callable[[dict[str, Any], dict[str, Any], list[str]], Optional[str]]


@dataclass
class Outcome:
    changed: bool
    resource: dict[str, Any] | None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    messages: list[str] = field(default_factory=list)

    def result(self, with_diff: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"changed": self.changed, "resource": self.resource or {}}
        if with_diff:
            out["diff"] = {"before": strip_server_fields(self.before) or {}, "after": strip_server_fields(self.after) or {}}
        return out


def owned_paths(obj: dict[str, Any], manager: str = FIELD_MANAGER) -> list[tuple[str, ...]]:
    """Leaf paths (API field names) this manager applied, from managedFields."""
    paths: list[tuple[str, ...]] = []

    def walk(tree: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, sub in tree.items():
            if key == ".":
                continue
            if not key.startswith("f:"):
                paths.append(prefix)  # keyed list items / set members: the list itself is the unit
                continue
            if sub:
                walk(sub, prefix + (key[2:],))
            else:
                paths.append(prefix + (key[2:],))

    for entry in obj.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            walk(entry.get("fieldsV1") or {}, ())
    return paths


def unchanged(desired: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    """True when applying `desired` over `actual` would change nothing (the test present() makes before writing)."""
    return actual is not None and not (differences(_comparable(desired), actual) + dropped_fields(desired, actual))


def dropped_fields(desired: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Fields the collection applied before that the task no longer gives (they must be removed)."""
    out = []
    for path in owned_paths(actual):
        cur: Any = desired
        for part in path:
            if not isinstance(cur, dict) or part not in cur:
                out.append(".".join(path))
                break
            cur = cur[part]
    return out


def removed_options(desired: dict[str, Any], dropped: list[str]) -> list[str]:
    """dropped_fields' paths as the options a user left out: each path up to the first field `desired` lacks, once,
    as the option's name (`spec.provisioning.userData` -> `provisioning` when the task gives no provisioning,
    `provisioning.user_data` when it gives another; `metadata.labels.app` -> `labels.app`)."""
    out: list[str] = []
    for path in dropped:
        parts, cur, depth = path.split("."), desired, 0
        while depth < len(parts) and isinstance(cur, dict) and parts[depth] in cur:
            cur, depth = cur[parts[depth]], depth + 1
        shown = parts[1 : depth + 1]
        if parts[0] == "metadata":
            option = ".".join(shown)
        else:
            option = ".".join(snake(part) for part in shown)
        if option and option not in out:
            out.append(option)
    return out


def conflict_causes(body: Any) -> list[dict[str, str]]:
    """`[{"manager": "ops", "field": ".spec.x"}]` from a 409 apply Status (its FieldManagerConflict causes)."""
    body = status_body(body)
    out = []
    for cause in ((body or {}).get("details") or {}).get("causes") or []:
        if cause.get("reason") != "FieldManagerConflict":
            continue
        match = re.search(r'conflicts? with "([^"]+)"', cause.get("message") or "")
        out.append({"manager": match.group(1) if match else "another manager", "field": cause.get("field") or ""})
    return out


def conflict_message(what: str, conflicts: list[dict[str, str]]) -> str:
    """`ClusterVirtualImage x: fields owned by other field managers: .spec.y (by "ops"); …`."""
    by_manager: dict[str, list[str]] = {}
    for c in conflicts:
        by_manager.setdefault(c["manager"], []).append(c["field"])
    owned = "; ".join(f"{', '.join(fields)} (owned by {manager!r})" for manager, fields in by_manager.items())
    return (
        f"{what}: the task would change fields another field manager owns: {owned}. "
        "Set force_conflicts=true to take them over, or leave those fields out of the task"
    )


class Ensurer:
    def __init__(self, client: DVPClient, check_mode: bool, refs: References | None = None, log: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None):  # fmt: skip
        """`refs`: the task's references (the module's checks record there those check mode could not verify);
        `log`: where a wait says how the object moves on (the module's progress lines), if anywhere; `warn`: the
        module's warnings (an apply that removes fields an earlier task set)."""
        self.client = client
        self.check_mode = check_mode
        self.refs = refs if refs is not None else References(check_mode)
        self.log = log
        self.warn = warn

    def present(self, kind: Kind, desired: dict[str, Any], guard: Guard | None = None, recreate: bool = False,
                wait: Predicate | None = None, wait_timeout: float = 300, force_conflicts: bool = False,
                known: Any = NOT_READ) -> Outcome:  # fmt: skip
        """Create or update to desired; fields other managers own are taken only with force_conflicts. A 409
        Conflict ("the object has been modified") is met by re-reading the object and deciding again, within
        the client's budget. `known` is the object as the caller has just read it (None: it does not exist): the
        first decision uses it instead of reading it again (a retry always re-reads)."""
        for pause in [*backoff_delays(), None]:
            try:
                return self._present(kind, desired, guard, recreate, wait, wait_timeout, force_conflicts, known)
            except APIStatusError as err:
                if pause is None or not conflict_is_retriable(err.status, err.body) or not self.client._may_wait(pause):
                    raise
                self.client.sleep(pause)
                known = NOT_READ
        raise AssertionError("unreachable: the last try returns or raises")

    def _present(self, kind: Kind, desired: dict[str, Any], guard: Guard | None, recreate: bool,
                 wait: Predicate | None, wait_timeout: float, force_conflicts: bool, known: Any) -> Outcome:  # fmt: skip
        name = desired["metadata"]["name"]
        namespace = desired["metadata"].get("namespace") if kind.namespaced else None
        actual = self.client.get(kind, name, namespace) if known is NOT_READ else known
        if actual is None:
            after = self._apply(kind, desired, name, namespace, force_conflicts, actual)
            return self._finish(kind, Outcome(True, after, None, after), wait, wait_timeout)
        dropped = dropped_fields(desired, actual)
        changed = differences(_comparable(desired), actual) + dropped
        if not changed:
            return self._finish(kind, Outcome(False, actual, actual, actual), wait, wait_timeout)
        if dropped and self.warn is not None:
            self.warn(f"{kind.describe(name, namespace)}: {'would remove' if self.check_mode else 'removes'} {', '.join(removed_options(desired, dropped))}, "
                      "which an earlier task set and this one leaves out (the apply is declarative: give an option again to keep it)")  # fmt: skip
        if guard is not None and guard(actual, desired, changed) == "recreate":
            if not recreate:
                raise DVPError(
                    f"{kind.describe(name, namespace)}: cannot change {', '.join(changed)} in place; set recreate=true to delete and re-create it",
                    changed_fields=changed,
                )
            return self._recreate(kind, desired, actual, name, namespace, wait, wait_timeout)
        after = self._apply(kind, desired, name, namespace, force_conflicts, actual)
        if strip_server_fields(after) == strip_server_fields(actual):
            return self._finish(kind, Outcome(False, actual, actual, actual), wait, wait_timeout)
        return self._finish(kind, Outcome(True, after, actual, after), wait, wait_timeout)

    def absent(self, kind: Kind, name: str, namespace: str | None, wait: bool = False, wait_timeout: float = 300) -> Outcome:
        actual = self.client.get(kind, name, namespace)
        if actual is None:
            return Outcome(False, None, None, None)
        self.client.delete(kind, name, namespace, dry_run=self.check_mode)
        if wait and not self.check_mode:
            wait_for(self.client, kind, name, namespace, gone, wait_timeout)
        return Outcome(True, actual, actual, None)

    # -- steps -----------------------------------------------------------------------------------------
    def _apply(self, kind: Kind, desired: dict[str, Any], name: str, namespace: str | None, force: bool = False,
               actual: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """The server-side apply (a dry run in check mode), answered with the object as the server stores it. In check
        mode, with a reference not verified (self.refs), or when the dry run answers that the namespace does not exist,
        the object as predicted over `actual` (the object as read) instead."""
        query = [("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict")]
        if force:
            query.append(("force", "true"))
        if self.check_mode:
            query.append(("dryRun", "All"))
        body = {**desired, "apiVersion": kind.api_version, "kind": kind.kind}  # sent as JSON, which is YAML
        what = kind.describe(name, namespace)
        if self.check_mode and self.refs.unverified:
            return predicted(actual, body)
        try:
            return self.client.request("PATCH", self.client.path(kind, name, namespace), what, query, body, APPLY)
        except APIStatusError as err:
            gone = missing_namespace(err.status, err.body) if self.check_mode else None
            if gone is not None and self.refs.missing(f"namespace: Namespace {gone} does not exist"):
                return predicted(actual, body)
            conflicts = conflict_causes(err.body) if err.status == 409 else []
            if not conflicts:
                raise
            raise DVPError(conflict_message(what, conflicts), conflicts=conflicts) from err

    def _recreate(self, kind: Kind, desired: dict[str, Any], actual: dict[str, Any], name: str, namespace: str | None,
                  wait: Predicate | None, wait_timeout: float) -> Outcome:  # fmt: skip
        if self.check_mode:
            return Outcome(True, actual, actual, {**actual, **{k: v for k, v in desired.items() if k != "metadata"}}, ["would be re-created"])
        self.client.delete(kind, name, namespace)
        wait_for(self.client, kind, name, namespace, gone, wait_timeout)
        after = self._apply(kind, desired, name, namespace)
        return self._finish(kind, Outcome(True, after, actual, after, ["re-created"]), wait, wait_timeout)

    def _finish(self, kind: Kind, outcome: Outcome, wait: Predicate | None, wait_timeout: float) -> Outcome:
        if wait is not None and not self.check_mode and outcome.resource is not None:
            meta = outcome.resource["metadata"]
            watched = reporting(wait, self.log, kind.describe(meta["name"], meta.get("namespace")))
            outcome.resource = wait_for(self.client, kind, meta["name"], meta.get("namespace"), watched, wait_timeout)
        return outcome


def _comparable(desired: dict[str, Any]) -> dict[str, Any]:
    """What the user controls: labels, annotations and everything outside metadata."""
    meta = desired.get("metadata", {})
    out = {k: v for k, v in desired.items() if k not in ("metadata", "apiVersion", "kind")}
    picked = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    if picked:
        out["metadata"] = picked
    return out
