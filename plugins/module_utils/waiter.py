# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for an object to reach a state: pure predicates over objects, and one watch-based loop.

The loop never sleeps-and-polls: it watches the object from the resourceVersion it last saw, re-reading only
after a 410 Gone (watch window expired, server restarted). A stream that breaks (connection reset, server
restart) is resumed from that resourceVersion, within the same timeout; one that broke before bringing anything is
followed by a read first, so a path that never carries a watch (a proxy cutting long requests) still sees the object
change, one read per reconnect pause. A `Failed` phase ends the wait at once with the
Ready condition's reason and message, and so does a Ready reason that no waiting ends (QuotaExceeded); a timeout
names the phase and conditions last seen (timed_out, the one wording of a timeout every module reports).
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import vocabulary as v
from .client import APIStatusError
from .errors import DVPError, StreamBroken
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


# Ready reasons that no waiting ends: the object stays where it is until someone acts (a disk or image whose claim or
# importer pod the namespace's ResourceQuota refuses stays Pending until the quota or the usage changes)
STUCK_REASONS = (v.REASON_QUOTA_EXCEEDED,)


def phase_in(ready: tuple[str, ...] = (v.READY,), failed: tuple[str, ...] = (v.FAILED,), stuck: tuple[str, ...] = STUCK_REASONS) -> Predicate:
    """Done in a ready phase (with status current for the spec); failed in a failed phase, or while the Ready
    condition of the current spec has a `stuck` reason."""

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
        cond = condition(obj, v.COND_READY) or {}
        stamped = generation is None or cond.get("observedGeneration", generation) >= generation
        blocked = cond.get("reason") in stuck and cond.get("status") == "False" and stamped
        if (phase in failed or blocked) and current:
            why = f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".rstrip(": ")
            return Outcome(failed=True, message=f"phase {phase}: {why}")
        return Outcome()

    return check


def gone(obj: dict[str, Any] | None) -> Outcome:
    return Outcome(done=obj is None)


def condition_is(type_: str, status: str = "True", reason: str | None = None) -> Predicate:
    """Done when the condition `type_` has this status (and reason, when given), as k8s_info's wait_condition."""

    def check(obj: dict[str, Any] | None) -> Outcome:
        cond = condition(obj, type_) or {}
        return Outcome(done=cond.get("status") == status and (reason is None or cond.get("reason") == reason))

    return check


def once_it_exists(predicate: Predicate) -> Predicate:
    """predicate, except that an object not there (yet) is waited for instead of being a failure."""

    def check(obj: dict[str, Any] | None) -> Outcome:
        return Outcome() if obj is None else predicate(obj)

    return check


def reporting(predicate: Predicate, log: Callable[[str], None] | None, what: str) -> Predicate:
    """predicate, saying through `log` (the module's progress lines) `<what>: phase P, progress X` whenever the
    phase the object reports changes or its progress passes another tenth, so a long import or provisioning shows
    that work goes on (at most ~11 lines a phase, however often the object is written)."""
    if log is None:
        return predicate
    said: list[Any] = [None]

    def check(obj: dict[str, Any] | None) -> Outcome:
        if obj is not None:
            status = obj.get("status") or {}
            progress = status.get("progress")
            now = (status.get("phase"), _tenth(progress))
            if now != said[0]:
                said[0] = now
                log(f"{what}: phase {now[0] or '<none>'}" + (f", progress {progress}" if progress else ""))
        return predicate(obj)

    return check


def _tenth(progress: Any) -> int | None:
    """`45.2%` -> 4; None for no progress or one that is not a percentage."""
    try:
        return int(float(str(progress).rstrip("%")) // 10) if progress else None
    except ValueError:
        return None


RECONNECT_PAUSE = 1.0  # seconds between attempts while the API server is unreachable (a restart takes a few)


def stream_broken(exc: BaseException) -> bool:
    """True for a watch or read that failed in transport (reset, refused, truncated), which a later try may
    not hit: StreamBroken, or the client's "cannot reach" DVPError caused by such an error. API statuses
    (403, 404, 422 …) are answers, not breakage."""
    if isinstance(exc, StreamBroken):
        return True
    if isinstance(exc, APIStatusError):
        return False
    if isinstance(exc, DVPError):
        return exc.__cause__ is not None and stream_broken(exc.__cause__)
    if isinstance(exc, ssl.SSLCertVerificationError):  # a wrong certificate stays wrong
        return False
    if isinstance(exc, (OSError, http.client.HTTPException)):  # ConnectionResetError, IncompleteRead …
        return True
    # urllib3's errors (ProtocolError, MaxRetryError …), recognised without importing urllib3 here
    return any(cls.__module__.startswith("urllib3.") for cls in type(exc).__mro__)


def wait_for(
    client: Any,
    kind: Kind,
    name: str,
    namespace: str | None,
    predicate: Predicate,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """The object once predicate says done; DVPError when it fails or time runs out.

    Transport breakage (see stream_broken) never ends the wait: the watch resumes from the last
    resourceVersion seen, after a short pause, until timeout (after a stream that broke with nothing delivered, or a
    failed read, the object is read again first); a 410 Gone (window expired, server restarted) re-reads the object.
    Every other API error is raised at once."""
    what = kind.describe(name, namespace)
    deadline = clock() + timeout
    obj: dict[str, Any] | None = None
    rv = ""
    known = False  # obj and rv are current: from a read, or from the events since (a broken stream keeps them)
    last_break = ""
    brought = False  # whether the last watch delivered anything (a failed read leaves known False either way)
    while True:
        if known:
            outcome = predicate(obj)
            if outcome.done:
                return obj
            if outcome.failed:
                raise DVPError(f"{what}: {outcome.message}", resource=obj)
        remaining = deadline - clock()
        if remaining <= 0:
            raise timed_out(client, what, timeout, obj if rv else NOTHING_READ, last_break)
        try:
            if not known:
                obj, rv = _read(client, kind, name, namespace)
                known = True
                continue
            brought = False
            for event in client.watch(kind, name, namespace, rv, remaining):
                brought = True
                etype = event.get("type")
                if etype == "ERROR":  # 410 Gone and the like: re-read and watch again
                    known = False
                    break
                event_rv = ((event.get("object") or {}).get("metadata") or {}).get("resourceVersion")
                rv = event_rv or rv
                if etype == "BOOKMARK":
                    continue
                obj = None if etype == "DELETED" else event.get("object")
                outcome = predicate(obj)
                if outcome.done or outcome.failed:
                    break
        except APIStatusError as err:
            if err.status != 410:
                raise
            known = False
        except Exception as exc:  # noqa: BLE001 - anything else is re-raised below unless it is transport breakage
            if not stream_broken(exc):
                raise
            last_break = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            if not brought:  # resuming from the same resourceVersion may break the same way: read what is there now
                known = False
            sleep(max(0.0, min(RECONNECT_PAUSE, deadline - clock())))


NOTHING_READ: Any = type("NothingRead", (), {"__repr__": lambda self: "NOTHING_READ"})()  # timed_out's `obj` when the wait read nothing


def task_waits(module: Any) -> bool:
    """Whether the task waits for its object: its `wait`, or, in a batch's apply pass (where every element runs with
    wait=false), whether the element is waited for once all are applied (batch.ElementModule.waits_after)."""
    return bool(module.params.get("wait") or getattr(module, "waits_after", False))


def timed_out(client: Any, what: str, timeout: float, obj: Any, last_break: str = "") -> DVPError:
    """The one wording of a wait that ran out of time: `<what>: timed out after <timeout>s waiting; last seen: <state>`,
    with the object (`resource`) the message describes.

    `obj` is what the wait last read (None: the object did not exist), or NOTHING_READ when it read nothing. Then, when no
    connection broke, there was no time for a first read, and the state shown is the object as the API server
    returned it before the wait (a client that notes its answers: common.RecordingClient.seen, by Kind.describe),
    said to be from before the wait; when a connection broke, the API server did not answer, and the message says
    what the connection last broke with."""
    broke = f"; the API connection last broke with: {last_break}" if last_break else ""
    if obj is not NOTHING_READ:
        seen = describe_state(obj)
    elif last_break:
        obj, seen = None, "nothing (the API server did not answer)"
    else:
        obj = (getattr(client, "seen", None) or {}).get(what)
        if obj is not None:
            seen = f"{describe_state(obj)} (in the API server's answer before the wait; the time was up before the wait's first read)"
        else:
            seen = "nothing (the time was up before the first read)"
    return DVPError(f"{what}: timed out after {timeout:g}s waiting; last seen: {seen}{broke}", resource=obj)


def _read(client: Any, kind: Kind, name: str, namespace: str | None) -> tuple[dict[str, Any] | None, str]:
    """The object (None when absent) and the resourceVersion to watch from."""
    obj = client.get(kind, name, namespace)
    if obj is not None:
        return obj, obj["metadata"]["resourceVersion"]
    listing = client.list(kind, namespace, field_selector=f"metadata.name={name}")
    return None, listing["metadata"]["resourceVersion"]
