"""Controller runtime: watch-driven reconcilers with a work queue, per-object serialisation, requeue with
exponential backoff, and every delay on the simulated clock.

Errors: an exception from reconcile is transient (retried with backoff, as controller-runtime does), except a
`PermanentError` — one retrying cannot fix (a bad spec, a refused source) — which is reported once as a Warning
Event on the object and not requeued: the next change of the object (or of what it watches) tries again. A
controller's own write refused as invalid or forbidden (400, 403, 422) is permanent too: the same reconcile would
write the same thing again. A reconcile that has reported its failure itself and wants the backoff raises `Retry`.

A controller is one file defining a `Controller` with the resources it watches and one `reconcile`
function; `Manager.add` wires it to the store and runs it. Its watches are the store's synchronous observers: within
every write of a watched kind, the controller's mapper turns the event into keys on its work queue (an informer's
event handler, in the order of the writes). A watch stream and a task per watch woke on every event - ~130 task
wake-ups per VM on its way to Running, about as costly as the mapping itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..api.errors import APIError
from ..api.service import ObjectService
from ..clock import Clock, Timer
from ..resources import ResourceType
from ..store.store import Event
from ..turn import Turn, after_io

log = logging.getLogger("dvp_simulator.controllers")

Key = tuple[str, str]  # (namespace, name) of the primary object
PERMANENT_CODES = (400, 403, 422)  # a controller's write refused for what it says, not for when it says it
# Seconds of back-to-back reconciles before a worker hands the turn on and lets API requests in. A GET spans a couple
# of passes of the event loop: 5 ms gave a 10,000-VM build-up a GET p50 of 9 ms and p99 of 22 ms, 2 ms gives 5 / 13 ms
# and no more CPU (the backlog still coalesces: a slice is several reconciles). 1 ms lowered the p50 (6.4 -> 4.5 ms)
# but not the p99 (one reconcile, a VM's start, is longer than that), and coalesced less: 15% more VM reconciles.
SLICE = 0.002


def _desired_state(obj: dict[str, Any]) -> Any:
    """What tells one desired state of an object from another: its generation, or, for the kinds that have none (most
    core kinds, as upstream: api/service.py GENERATION_KINDS), its spec."""
    generation = obj["metadata"].get("generation")
    return generation if generation is not None else json.dumps(obj.get("spec"), sort_keys=True, default=str)


class PermanentError(Exception):
    """Raise from reconcile when retrying cannot help. `reason` is the Event's reason (CamelCase), the message
    its text; both must be safe to show (no Secret data, no upload tokens)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class Retry(Exception):
    """Raise from reconcile once it has said what failed (an Event, a condition in the object's status): the key is
    tried again after the queue's backoff, as controller-runtime requeues a reconcile that returned an error, and
    nothing more is logged or recorded. For refusals that a change elsewhere may lift (a ResourceQuota raised, a
    LimitRange removed) and that upstream's controllers retry: a workload's pods refused at admission."""


@dataclass
class Requeue:
    """Return from reconcile to run again after `after` simulated seconds."""

    after: float


@dataclass
class Context:
    service: ObjectService
    clock: Clock

    def rt(self, group: str, kind: str) -> ResourceType:
        rt = self.service.registry.by_kind(group, kind)
        if rt is None:
            raise KeyError(f"{kind}.{group} is not served")
        return rt


Reconcile = Callable[[Context, Key], Awaitable[Requeue | None]]
Mapper = Callable[[Event], list[Key]]


@dataclass
class Controller:
    name: str
    primary: str  # resource key (group/plural) of the reconciled kind
    reconcile: Reconcile
    # other resources whose events map to primary keys (e.g. a Pod event → its owning VM)
    secondary: dict[str, Mapper] = field(default_factory=dict)
    workers: int = 1
    # the primary kind's events to keys: by default every event wakes its own object; a controller may skip events
    # that cannot change its verdict (its timers still run)
    primary_mapper: Mapper | None = None


class WorkQueue:
    """Keys to reconcile; a key is never processed by two workers at once, and adds while processing
    are remembered and replayed after (client-go's workqueue semantics)."""

    def __init__(self, clock: Clock, base_delay: float = 0.005, max_delay: float = 300.0):
        self.clock = clock
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.queued: set[Key] = set()
        self.processing: set[Key] = set()
        self.dirty: set[Key] = set()
        self.failures: dict[Key, int] = {}
        self.timers: dict[Key, Timer] = {}
        self.reported: dict[Key, tuple[Any, ...]] = {}  # the last PermanentError reported per key (see Manager._report)
        self.base_delay, self.max_delay = base_delay, max_delay

    def add(self, key: Key) -> None:
        if key in self.processing:
            self.dirty.add(key)
        elif key not in self.queued:
            self.queued.add(key)
            self.queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Add after `delay` simulated seconds; an earlier pending timer for the key wins."""
        if delay <= 0:
            self.add(key)
            return
        old = self.timers.get(key)
        if old is not None and old.when() <= self.clock.time() + delay:  # both on the simulated clock
            return
        if old is not None:
            old.cancel()
        self.timers[key] = self.clock.call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self.timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Key) -> None:
        n = self.failures.get(key, 0)
        self.failures[key] = n + 1
        self.add_after(key, min(self.base_delay * (2**n), self.max_delay))

    def forget(self, key: Key) -> None:
        self.failures.pop(key, None)

    async def get(self) -> Key:
        key = await self.queue.get()
        self.queued.discard(key)
        self.processing.add(key)
        return key

    def done(self, key: Key) -> None:
        self.processing.discard(key)
        if key in self.dirty:
            self.dirty.discard(key)
            self.add(key)

    def idle(self) -> bool:
        return not self.queued and not self.processing


class Manager:
    def __init__(self, service: ObjectService, clock: Clock, turn: Turn | None = None):
        self.ctx = Context(service, clock)
        self.controllers: list[tuple[Controller, WorkQueue]] = []
        self.tasks: list[asyncio.Task] = []
        self.observed: list[tuple[str, Callable[[Event], None]]] = []  # (resource, deliver) registered with the store
        # The writers' turn (the API server's writes take it too: api/server.py): one worker reconciles at a time,
        # for at most one SLICE, then yields and hands the turn to the next waiting writer (turn.py: first come first
        # served, client writes and workers alternating, a releaser cannot barge back in), so one pass of the loop runs
        # one slice of reconciles, not one per busy controller: the loop polls its sockets every ~SLICE and a read
        # waits behind one slice, not behind all of them.
        self.turn = turn or Turn()

    def add(self, controller: Controller) -> None:
        self.controllers.append((controller, WorkQueue(self.ctx.clock)))

    def enqueue(self, name: str, key: Key) -> None:
        """Wake the named controller for a key from outside its watches."""
        for controller, queue in self.controllers:
            if controller.name == name:
                queue.add(key)

    def wake(self, resource: str, key: Key) -> None:
        """Wake every controller reconciling `resource` for one object (e.g. its background import progressed)."""
        for controller, queue in self.controllers:
            if controller.primary == resource:
                queue.add(key)

    async def start(self) -> None:
        store = self.ctx.service.store
        for controller, queue in self.controllers:
            primary = controller.primary_mapper or _identity
            watched = [(controller.primary, primary)] if controller.primary else []
            for res, mapper in watched + list(controller.secondary.items()):
                deliver = _deliverer(controller.name, res, mapper, queue)
                store.observe(res, deliver)
                self.observed.append((res, deliver))
            if controller.primary:
                for entry in store.list(controller.primary):
                    queue.add((entry.namespace, entry.name))
            else:  # a controller without a primary kind sees the current state as synthetic events
                for res, mapper in controller.secondary.items():
                    for entry in store.list(res):
                        for key in mapper(Event("ADDED", entry, None)):
                            queue.add(key)
            for _ in range(controller.workers):
                self.tasks.append(asyncio.create_task(self._work(controller, queue)))

    async def stop(self) -> None:
        store = self.ctx.service.store
        for res, deliver in self.observed:
            store.unobserve(res, deliver)
        self.observed.clear()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    async def _work(self, controller: Controller, queue: WorkQueue) -> None:
        started = 0.0  # when this worker took the turn; 0 while it does not hold it
        # Nobody waits on a controller's write: the store sends it to disk with the others pending (store.Store._pend).
        try:
            while True:
                if started and queue.queue.empty():  # never hold the turn while waiting for work
                    self.turn.release()
                    started = 0.0
                key = await queue.get()
                if not started:
                    await self.turn.acquire()
                    started = time.monotonic()
                await self._reconcile(controller, queue, key)
                # A reconcile runs without awaiting anything real, and `queue.get()` returns at once while keys wait: a
                # backlog of thousands of keys would hold the event loop and starve API requests. Hand the turn on
                # once per time slice, not per reconcile: events arriving within a slice still coalesce into one
                # reconcile per key.
                if time.monotonic() - started >= SLICE:
                    # Yield still holding the turn, then release it: the workers that woke meanwhile queue up for it
                    # (a free lock with nobody waiting yet would let each of them run a slice in this same pass), and
                    # the requests that arrived during the slice are handled before the next one (turn.after_io).
                    await after_io()
                    self.turn.release()
                    started = 0.0
        finally:
            if started:
                self.turn.release()

    async def _reconcile(self, controller: Controller, queue: WorkQueue, key: Key) -> None:
        try:
            result = await controller.reconcile(self.ctx, key)
        except asyncio.CancelledError:
            raise
        except PermanentError as error:
            queue.forget(key)
            self._report(controller, queue, key, error)
        except Retry as error:
            log.debug("%s: reconcile %s/%s: %s; retrying with backoff", controller.name, *key, error)
            queue.add_rate_limited(key)
        except APIError as error:
            if error.code not in PERMANENT_CODES:
                log.warning("%s: reconcile %s/%s: %s; retrying with backoff", controller.name, *key, error.message)
                queue.add_rate_limited(key)
            else:
                queue.forget(key)
                self._report(controller, queue, key, PermanentError(f"Reconcile{error.reason}", error.message))
        except Exception:
            log.exception("%s: reconcile %s/%s failed; retrying with backoff", controller.name, *key)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
            queue.reported.pop(key, None)
            if result is not None:
                queue.add_after(key, result.after)
        finally:
            queue.done(key)

    def _report(self, controller: Controller, queue: WorkQueue, key: Key, error: PermanentError) -> None:
        """One Warning Event per distinct error of an object version: reconciles caused by unrelated events
        that meet the same error again stay silent."""
        entry = self.ctx.service.store.get(controller.primary, *key) if controller.primary else None
        seen = (error.reason, error.message, _desired_state(entry.obj) if entry else None)
        if queue.reported.get(key) == seen:
            return
        queue.reported[key] = seen
        log.warning("%s: reconcile %s/%s failed permanently: %s: %s", controller.name, *key, error.reason, error.message)
        if entry is not None:
            self.ctx.service.record_event(entry.obj, "Warning", error.reason, error.message, controller.name)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every queue is idle (for start-up and tests of in-process use)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            if all(q.idle() and q.queue.empty() for _, q in self.controllers):
                return
            await asyncio.sleep(0.01)


def _deliverer(name: str, res: str, mapper: Mapper, queue: WorkQueue) -> Callable[[Event], None]:
    """The store observer of one watch of one controller: the event's keys onto its queue. It runs inside the write
    that made the event, so a mapper that fails is logged here instead of failing that write (as a failing informer
    handler does not fail the write it watched)."""

    def deliver(event: Event) -> None:
        try:
            keys = mapper(event)
        except Exception:  # noqa: BLE001 - the write that made the event has succeeded; only this controller misses it
            log.exception("%s: mapping a %s event of %s to keys", name, event.type, res)
            return
        for key in keys:
            queue.add(key)

    return deliver


def _identity(event: Event) -> list[Key]:
    return [(event.entry.namespace, event.entry.name)]


def owner_keys(kind: str) -> Mapper:
    """Map an event of a dependent object to the keys of its owners of `kind`."""

    def mapper(event: Event) -> list[Key]:
        meta = event.entry.obj["metadata"]
        return [(meta.get("namespace", ""), ref["name"]) for ref in meta.get("ownerReferences") or [] if ref.get("kind") == kind]

    return mapper


def controller_ref(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    """The ownerReference a controller puts on an object it creates for `name` (controller-runtime's
    SetControllerReference): the owner's controller, and its deletion waits for this dependent (foreground)."""
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}
