"""Objects, resourceVersions and watch: the simulator's etcd.

Every object lives in memory (a dict per resource, each entry with its JSON bytes ready to send) and in SQLite (WAL
mode), written by a process of its own (journal.py: the commits were a tenth of the event loop's time), and on disk
before anything a client can see depends on it, so `kill -9` loses nothing that a client saw. Writes wait to be sent
to the writer together (`_pend`), until a response or watch event needs them: it awaits `durable()`, which sends them
at the end of the loop's pass and waits for the writer to have committed them, the loop running on meanwhile. What is
on disk is always a prefix of the writes in resourceVersion order. resourceVersion is one global counter, persisted
with every write, so it keeps increasing across restarts. Recent events are kept per resource in a window for watch
resumption — at most `window` events and WINDOW_BYTES of their JSON per resource, as kube-apiserver's watch cache is
bounded; a watch from before the window gets 410 Gone, as from a compacted etcd.

Reads cost what they return, never the size of the store: keys are kept sorted as they are written (a sorted
list per resource and one per namespace, maintained with bisect: O(log n) comparisons and a memmove, ~8 µs at
50,000 keys), so LIST never sorts, a page after a `continue` token starts by bisection (`list_after`) and a
namespaced LIST touches only that namespace. Named secondary indexes (`add_index` / `by_index`) answer "which
objects have this owner / label / node / reference" from a dict, maintained on every put and remove; built in
are OWNER (ownerReference uids), LABEL (`key=value`) and NODE_NAME (`spec.nodeName` of pods). Controllers and
webhooks register their own instead of scanning.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import heapq
import itertools
import json
import os
import sqlite3
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import journal

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

Key = tuple[str, str]  # (namespace, name); "" for cluster-scoped objects
IndexFn = Callable[[dict[str, Any]], Iterable[str]]

# Built-in index names, on every resource but NODE_NAME (pods only).
OWNER, LABEL, NODE_NAME = "owner", "label", "nodeName"
PODS = "/pods"

# How long, and how many, writes wait to be sent to the disk writer together when nothing shown to a client needs them
# (Store._pend): a controller's write waits at most this long to be on its way to disk.
PENDING_SECONDS, PENDING_WRITES = 0.02, 1000


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. orjson is several times faster than json.dumps on the write path; an integer beyond 64
    bits (which orjson refuses) takes the standard library's way."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads(raw: bytes) -> Any:
    """Parse stored JSON (a number beyond 64 bits becomes a float, as kube-apiserver's unstructured decoding does)."""
    return orjson.loads(raw)


SHARED_TEXT = 256  # string values up to this length are shared between stored objects (share_strings)


def share_strings(node: dict[str, Any] | list[Any]) -> None:
    """Replace, in place, every string value of up to SHARED_TEXT characters in this JSON tree by the interpreter's one
    copy of that text (sys.intern). Parsed JSON brings a new string object for every value, so 10,000 VMs held ~170,000
    copies of "True" and ~90,000 of their namespace's name: about 2 of every 2.5 million strings in the stored objects
    of a 10,000-VM cluster were copies (~60 bytes each, ~120 MiB). An interned string is freed with its last user (the
    interpreter's table holds no reference), so unique values (names, uids, times) cost only their table slot while
    they live. Equal strings are interchangeable, so a caller sharing parts of the tree sees no change."""
    intern = sys.intern
    items = node.items() if type(node) is dict else enumerate(node)
    for k, value in items:
        t = type(value)
        if t is str:
            if len(value) <= SHARED_TEXT:
                node[k] = intern(value)  # a value replaced, no key added: safe while iterating
        elif t is dict or t is list:
            share_strings(value)


# DVP_SIM_CHECK_STORED=1 (the test suite sets it): each write first checks that the version it replaces is still the
# one stored, and close() checks every live object. Entry.obj is what service.find gives, the stored dict itself: a
# caller that changes it in place changes what every reader sees with no new version, no event and no index update
# (a pod bound that way was missing from its node's pod index). The check costs a parse per write, so it is off in
# production; a version found changed is logged as CHANGED_IN_PLACE, which the tests' harness looks for.
CHECK_STORED = os.environ.get("DVP_SIM_CHECK_STORED") == "1"
CHANGED_IN_PLACE = "stored version changed in place"


def _check_stored(res: str, key: Key, entry: Entry) -> None:
    if entry.obj != slim(loads(entry.raw)):
        print(f"dvp-sim: ERROR {CHANGED_IN_PLACE}: {res} {key[0]}/{key[1]} (resourceVersion {entry.rv})", file=sys.stderr, flush=True)


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """obj without metadata.managedFields (a shallow copy when it has them)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


class _Named:
    """namespace and name of a stored version, read from its `obj`."""

    __slots__ = ()
    obj: dict[str, Any]

    @property
    def namespace(self) -> str:
        return self.obj["metadata"].get("namespace", "")

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]


@dataclass(frozen=True)
class Entry(_Named):
    """One stored version of one object. Never mutated: a write makes a new Entry.

    `raw` is the object as served, managedFields included; `obj`, what controllers, selectors and indexes read, is
    the same object without metadata.managedFields: the field-ownership trees are about half of an object's dicts
    in memory, and only a write's own bookkeeping reads them (`full()`, parsed from `raw`)."""

    obj: dict[str, Any]
    raw: bytes
    rv: int

    def full(self) -> dict[str, Any]:
        """A fresh copy of the object as served (managedFields included)."""
        return loads(self.raw)


class LoggedEntry(_Named):
    """A version as the watch window keeps it: its JSON bytes (shared with the Entry it came from), parsed again when
    a watch that starts in the past replays it. Keeping each superseded version's dict instead would hold several
    times the live objects in memory (a VM is written ~7 times on its way to Running)."""

    __slots__ = ("key", "raw", "rv")

    def __init__(self, raw: bytes, rv: int, key: Key):
        self.raw, self.rv, self.key = raw, rv, key  # key: (namespace, name), kept so a look back parses nothing

    @property
    def obj(self) -> dict[str, Any]:
        return loads(self.raw)

    @property
    def namespace(self) -> str:
        return self.key[0]

    @property
    def name(self) -> str:
        return self.key[1]

    def full(self) -> dict[str, Any]:
        """A fresh copy of the object as served, as Entry.full (a replayed event served in another API version is
        converted from it): `obj` already parses a fresh copy of the whole JSON."""
        return self.obj


@dataclass(frozen=True)
class Event:
    type: str
    entry: Entry | LoggedEntry
    prev: Entry | LoggedEntry | None  # the version before a MODIFIED, for selector transitions

    def logged(self, deleted: Entry | None = None) -> Event:
        """This event as the window keeps it (bytes, not dicts). A DELETED event keeps there the version it deleted
        (`deleted`) as its prev: a LIST continued from before the delete still lists that version (versions_at)."""
        key = (self.entry.namespace, self.entry.name)
        before = self.prev if deleted is None else deleted
        prev = LoggedEntry(before.raw, before.rv, key) if before is not None else None
        return Event(self.type, LoggedEntry(self.entry.raw, self.entry.rv, key), prev)


class Expired(Exception):
    """The requested resourceVersion is older than the watch window."""


# What a client's watch may have waiting to be sent: a client that falls this far behind is cut off and re-lists, as
# kube-apiserver's cacher terminates a watcher whose buffer stays full. Bytes as well as events: queued events keep
# their versions alive, and one client that stops reading while a big object is rewritten would otherwise hold every
# version of it (20,000 versions of a 1 MiB ConfigMap).
MAX_QUEUED_EVENTS = 20000
MAX_QUEUED_BYTES = 32 * 2**20


@dataclass(eq=False)
class Watcher:
    resource: str
    predicate: Callable[[Entry], bool]
    bounded: bool = True
    queue: asyncio.Queue = field(init=False)
    closed: bool = False
    queued_bytes: int = 0  # the stored JSON of the queued events (a bounded watcher's)

    def __post_init__(self) -> None:
        # Clients get a bounded queue (a slow one is cut off and re-lists); in-process controllers do not.
        self.queue = asyncio.Queue(maxsize=MAX_QUEUED_EVENTS if self.bounded else 0)

    async def next(self, timeout: float) -> Event | None:
        """The next event (None: the watch was closed); TimeoutError after `timeout` seconds without one."""
        event = await asyncio.wait_for(self.queue.get(), timeout)
        if event is not None and self.bounded:
            self.queued_bytes -= len(event.entry.raw)
        return event

    def offer(self, event: Event) -> None:
        """Deliver what this watcher should see: selector transitions become ADDED/DELETED, as in the apiserver. A
        closed one gets nothing more: its stream ends at the None it was given, maybe long after (a writer blocked
        on a client that does not read), and until then it stays registered."""
        if self.closed:
            return
        now = self.predicate(event.entry)
        before = event.prev is not None and self.predicate(event.prev)
        if event.type == MODIFIED:
            if now and not before:
                event = Event(ADDED, event.entry, None)
            elif before and not now:
                event = Event(DELETED, event.entry, None)
            elif not now:
                return
        elif not now:
            return
        size = len(event.entry.raw) if self.bounded else 0
        if self.queued_bytes + size > MAX_QUEUED_BYTES:
            self.close()  # a client that cannot keep up is cut off; it re-lists, as with a real apiserver
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.close()
            return
        self.queued_bytes += size

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queued_bytes = 0
            self.queue.put_nowait(None)


def owner_uids(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid")]


def label_pairs(obj: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in (obj["metadata"].get("labels") or {}).items()]


def node_name(obj: dict[str, Any]) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


class Index:
    """One named secondary index of one resource: value → keys of the objects `fn` maps to that value."""

    def __init__(self, fn: IndexFn):
        self.fn = fn
        self.keys: dict[str, set[Key]] = {}

    def update(self, key: Key, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        listed_before = self.fn(old) if old is not None else ()
        listed_after = self.fn(new) if new is not None else ()
        if listed_before == listed_after:  # most writes leave an index's values as they were: no sets to make
            return
        before, after = set(listed_before), set(listed_after)
        for value in before - after:
            keys = self.keys.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.keys[value]
        for value in after - before:
            self.keys.setdefault(value, set()).add(key)


WINDOW_BYTES = 8 << 20  # JSON bytes of the events kept per resource for resuming watches (a 10,000-VM build-up
# otherwise held ~150 MB of superseded versions; 8 MiB is still ~2,000 versions of a VM, 14,000 of a Lease)


class Store:
    def __init__(self, path: Path | None, window: int = 50000):
        self.path = path
        self.window = window
        self.window_bytes: dict[str, int] = {}  # per resource, the JSON bytes its window holds
        self.objects: dict[str, dict[Key, Entry]] = {}
        self.ordered: dict[str, list[Key]] = {}  # per resource, every key, sorted
        self.by_namespace: dict[str, dict[str, list[str]]] = {}  # per resource and namespace, names sorted
        self.indexes: dict[str, dict[str, Index]] = {}  # per resource, by index name
        self.index_fns: dict[str, IndexFn] = {}  # indexes on every resource (built when a resource first appears)
        self.events: dict[str, deque[Event]] = {}
        self.oldest: dict[str, int] = {}  # smallest rv from which a watch can resume, per resource
        self.watchers: dict[str, set[Watcher]] = {}
        # Synchronous observers: caches derived from the store (e.g. per-node requested resources) learn of a write
        # inside it, before it returns, so they are never a step behind the objects they summarise.
        self.observers: dict[str, list[Callable[[Event], None]]] = {}
        self.rv = 0
        self.journal: journal.Journal | None = None  # the disk writer (journal.py); None for a store in memory only
        self._lock = -1
        self._batched: list[tuple[str, Entry | None, Key]] | None = None  # writes of an open batch(), in order
        self._pending: list[tuple[str, Entry | None, Key]] = []  # writes not yet sent to the disk writer, in order
        self._flush_soon: asyncio.Handle | None = None  # the pending writes' send: PENDING_SECONDS away, or this pass
        self._flush_now = False  # ... this pass's (a response waits for it)
        self._sent_waiters: list[asyncio.Future[None]] = []  # responses waiting for the pending writes to be sent
        self._sent_rv = 0  # every write up to this resourceVersion has been sent
        # Requests waiting for `rv` to reach a resourceVersion (`wait_for_rv`): a heap of (rv, sequence, future), so a
        # write costs one comparison with the smallest, and waking k waiters O(k log n).
        self._rv_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._rv_waiter_seq = itertools.count()
        self.add_index_everywhere(OWNER, owner_uids)
        self.add_index_everywhere(LABEL, label_pairs)
        self.add_index(PODS, NODE_NAME, node_name)
        if path is not None:
            self._open(path)
        self.start_rv = self.rv

    # -- persistence -------------------------------------------------------------------------------------
    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The database holds Secret data: owner-only, at creation and for files an older version left readable.
        # SQLite gives the -wal and -shm files the database file's mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for suffix in ("", "-wal", "-shm"):
            private = path.with_name(path.name + suffix)
            if private.exists():
                private.chmod(0o600)
        self._lock = journal.lock(path)  # a killed simulator's writer may still be committing: wait for it to finish
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process kill (only power loss can lose it).
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS objects (res TEXT, ns TEXT, name TEXT, rv INTEGER, data BLOB, PRIMARY KEY (res, ns, name))")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        row = db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        # The newest resourceVersion is the largest of a stored object's and the last one a delete consumed (a delete
        # leaves no row, so only deletes write it down: one statement less on every other write).
        self.rv = max(row[0] if row else 0, db.execute("SELECT MAX(rv) FROM objects").fetchone()[0] or 0)
        # The load makes millions of containers, none of them garbage: the cyclic collector's full passes, each
        # walking the whole heap again as it grows by a quarter, were a third of a 10,000-VM restart.
        collecting = gc.isenabled()
        gc.disable()
        loaded = 0
        try:
            for res, ns, name, rv, data in db.execute("SELECT res, ns, name, rv, data FROM objects ORDER BY res, ns, name"):
                loaded += 1
                # rows arrive in key order (the primary key's B-tree): appending keeps every key list sorted
                entry = Entry(slim(loads(data)), bytes(data), rv)
                self.objects.setdefault(res, {})[(ns, name)] = entry
                self.ordered.setdefault(res, []).append((ns, name))
                self.by_namespace.setdefault(res, {}).setdefault(ns, []).append(name)
                for index in self._indexes(res).values():
                    index.update((ns, name), None, entry.obj)
        finally:
            # ... and they live as long as they are stored: frozen (gc.freeze, as cli.py's short_full_passes does once
            # serving), the collector never walks them. Re-enabled over them, its first passes walked every loaded
            # container of the youngest generation, then the middle one: ~0.8 s of a 10,000-VM restart, spent in the
            # first allocations after the load (bench/scale.py's fixes).
            if loaded:
                gc.freeze()
            if collecting:
                gc.enable()
        db.close()
        self.journal = journal.Journal(path, self._lock)

    def _persist(self, res: str, entry: Entry | None, key: tuple[str, str]) -> None:
        """One write on its way to disk before anyone can see it: the open batch's, or pending (see `_pend`); in
        order either way (the order on disk is the order of the writes)."""
        if self.journal is None:
            return
        if self._batched is not None:
            self._batched.append((res, entry, key))
        else:
            self._pend([(res, entry, key)])

    def _pend(self, writes: list[tuple[str, Entry | None, Key]]) -> None:
        """Writes wait to be sent to the disk writer together: until something shown to a client needs them
        (`durable`), PENDING_WRITES of them are waiting, or PENDING_SECONDS have passed. Nobody waits on most writes
        (a controller's), and each send costs the event loop a pipe write and the writer's wake-up: sent as they
        came, a 1,000-VM build-up made 6,931 sends of 2.7 rows each. Outside an event loop (start-up, tools) a write
        is sent at once."""
        self._pending += writes
        if len(self._pending) >= PENDING_WRITES:
            self.flush()
            return
        if self._flush_soon is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_soon = loop.call_later(PENDING_SECONDS, self._flush_pending)

    def _flush_pending(self) -> None:
        self._flush_soon = None
        try:
            self.flush()
        except journal.JournalFailed:
            pass  # the writer is gone: its waiters have the error, and the journal reported it once (watch_disk)

    def flush(self) -> None:
        """Send the pending writes to the disk writer now (without waiting for them to get there: see `durable`)."""
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        self._flush_now = False
        waiters, self._sent_waiters = self._sent_waiters, []
        try:
            if self._pending and self.journal is not None:
                pending, self._pending = self._pending, []
                self._commit(pending)
            self._sent_rv = self.rv
        except Exception as exc:  # the writer is gone (journal.JournalFailed): so is every wait for it
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            raise
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def durable(self, rv: int | None = None) -> None:
        """Return once every write up to resourceVersion `rv` (all so far when None) is on disk. Await it before
        anything read from the store leaves the process (a response, a watch event): a client must never see a write
        that a `kill -9` could still lose. The event loop runs on meanwhile. Pending writes are sent at the end of
        this pass of the loop, so the responses made in one pass share one send."""
        if self.journal is None:
            return
        rv = self.rv if rv is None else rv
        if rv <= self.journal.acked_rv:
            return
        if rv > self._sent_rv and self._pending:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._sent_waiters.append(waiter)
            if not self._flush_now:
                if self._flush_soon is not None:
                    self._flush_soon.cancel()
                self._flush_soon = loop.call_soon(self._flush_pending)
                self._flush_now = True
            await waiter
        await self.journal.durable(rv)

    def sync(self) -> None:
        """`durable()` for code outside the event loop (and tests): block until every write so far is on disk."""
        if self.journal is not None:
            self.flush()
            self.journal.sync()

    def _commit(self, writes: list[tuple[str, Entry | None, Key]]) -> None:
        assert self.journal is not None
        # One transaction is atomic, so only each object's last version in it needs a row: a quarter of the controllers'
        # writes of a build-up are an object written again within the same pass of the loop (a pod created, then its
        # status; a disk's finalizer, then its status).
        latest: dict[tuple[str, Key], Entry | None] = {}
        for res, entry, key in writes:
            latest[(res, key)] = entry
        upserts = [(res, key[0], key[1], entry.rv, entry.raw) for (res, key), entry in latest.items() if entry is not None]
        deletes = [(res, *key) for (res, key), entry in latest.items() if entry is None]
        # a delete's version is held by no row (an object deleted and made again is: its new row's), so it goes to meta
        self.journal.send(upserts, deletes, self.rv if deletes else None, self.rv)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every put and remove inside the block goes to disk in one transaction: they are pending together when the
        block ends (also when it raises: memory already holds those writes), and sent together. For synchronous
        blocks only: a block that awaited would let another task's writes, later in resourceVersion order, reach the
        disk before the block's. Nested blocks join the outer one."""
        if self._batched is not None:
            yield
            return
        self._batched = []
        try:
            yield
        finally:
            writes, self._batched = self._batched, None
            if writes and self.journal is not None:
                self._pend(writes)

    def close_watchers(self) -> None:
        """End every watch stream (on shutdown, so clients see the stream close and reconnect)."""
        for watchers in self.watchers.values():
            for w in list(watchers):
                w.close()

    def close(self) -> None:
        """Stop: end the watches, put every write on disk, stop the disk writer, free the state directory."""
        if CHECK_STORED:
            for res, table in self.objects.items():
                for key, entry in table.items():
                    _check_stored(res, key, entry)
        self.close_watchers()
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        if self.journal is None:
            return
        try:
            if not self.journal.failed:  # a failed writer takes nothing more: close() says why
                self.flush()
        finally:
            try:
                self.journal.close()
            finally:
                self.journal = None
                os.close(self._lock)

    def watch_disk(self, on_failure: Callable[[str], None]) -> None:
        """Call `on_failure(reason)` once if the disk writer is found gone, and find it at once (the event loop
        watches its pipe from now on): from then on nothing can be made durable, so nothing more may be shown."""
        if self.journal is not None:
            self.journal.on_failure = on_failure
            self.journal.watch()

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, res: str, namespace: str, name: str) -> Entry | None:
        return self.objects.get(res, {}).get((namespace, name))

    def list(self, res: str, namespace: str | None = None) -> list[Entry]:
        """Entries in key order (namespace, name), like etcd; a namespace's list costs only its own objects."""
        table = self.objects.get(res, {})
        if namespace is None:
            return [table[k] for k in self.ordered.get(res, ())]
        return [table[(namespace, name)] for name in self.by_namespace.get(res, {}).get(namespace, ())]

    def list_after(self, res: str, namespace: str | None, after: Key | None) -> Iterator[Entry]:
        """Entries whose key comes after `after` (all when None), in key order, produced lazily: the place is found
        by bisecting the sorted keys, so a LIST page costs O(log n + page) wherever it starts. Consume it before
        the next write (the key lists it walks are live)."""
        keys, start = self._keys_after(res, namespace, after)
        table = self.objects.get(res, {})
        for i in range(start, len(keys)):  # by position: a slice would copy every later key
            yield table[keys[i]] if namespace is None else table[(namespace, keys[i])]

    def page_after(self, res: str, namespace: str | None, after: Key | None, count: int | None = None) -> list[Entry]:
        """Up to `count` (all when None) of `list_after`'s entries, as a list taken at once: a snapshot that stays
        true while the caller awaits (entries never change; a later write replaces the entry, not this list)."""
        keys, start = self._keys_after(res, namespace, after)
        stop = len(keys) if count is None else min(len(keys), start + count)
        table = self.objects.get(res, {})
        if namespace is None:
            return list(map(table.__getitem__, keys[start:stop]))
        return [table[(namespace, name)] for name in keys[start:stop]]

    def count_after(self, res: str, namespace: str | None, after: Key | None) -> int:
        """How many entries `list_after` would produce: O(log n)."""
        keys, start = self._keys_after(res, namespace, after)
        return len(keys) - start

    def _keys_after(self, res: str, namespace: str | None, after: Key | None) -> tuple[list[Any], int]:
        """The sorted key list of `res` (or of one namespace's names) and the position just past `after`."""
        if namespace is None:
            keys: list[Any] = self.ordered.get(res, [])
            return keys, bisect.bisect_right(keys, after) if after is not None else 0
        keys = self.by_namespace.get(res, {}).get(namespace, [])
        if after is None or after[0] < namespace:
            return keys, 0
        return keys, len(keys) if after[0] > namespace else bisect.bisect_right(keys, after[1])

    def count(self, res: str) -> int:
        return len(self.objects.get(res, {}))

    def by_index(self, res: str, index: str, value: str, namespace: str | None = None) -> list[Entry]:
        """Entries whose index function yields `value` (in `namespace` if given), in key order.
        Costs the number of matches. KeyError for an index nobody registered (a typo must not read as "none")."""
        keys = self._indexes(res)[index].keys.get(value, ())
        if namespace is not None:
            keys = [k for k in keys if k[0] == namespace]
        table = self.objects[res] if keys else {}
        return [table[k] for k in sorted(keys)]

    def select(self, res: str, namespace: str | None, labels: dict[str, str]) -> list[Entry]:
        """Entries carrying every label `key=value` of `labels` (all when empty), in key order: read from the
        LABEL index of the rarest pair, so an equality selector costs its matches, not the collection."""
        if not labels:
            return self.list(res, namespace)
        index = self._indexes(res)[LABEL].keys
        pairs = sorted((len(index.get(f"{k}={v}", ())), k, v) for k, v in labels.items())
        _, key, value = pairs[0]
        return [e for e in self.by_index(res, LABEL, f"{key}={value}", namespace) if all((e.obj["metadata"].get("labels") or {}).get(k) == v for _, k, v in pairs[1:])]

    # -- indexes -----------------------------------------------------------------------------------------
    def add_index(self, res: str, name: str, fn: IndexFn) -> None:
        """Maintain the index `name` of `res`: `fn(obj)` lists the values under which obj is found by `by_index`.
        Registering the same function again under the same name does nothing (webhooks and controllers each register
        the indexes they read: at 10,000 VMs re-indexing every lease five times was a fifth of a restart); another
        function under the same name replaces the index. Objects already stored are indexed now, once."""
        existing = self.indexes.get(res, {}).get(name)
        if existing is not None and existing.fn is fn:
            return
        index = Index(fn)
        self._indexes(res)[name] = index
        for key, entry in self.objects.get(res, {}).items():
            index.update(key, None, entry.obj)

    def add_index_everywhere(self, name: str, fn: IndexFn) -> None:
        """An index on every resource, present and future."""
        self.index_fns[name] = fn
        for res in set(self.objects) | set(self.indexes):
            self.add_index(res, name, fn)

    def _indexes(self, res: str) -> dict[str, Index]:
        indexes = self.indexes.get(res)
        if indexes is None:
            indexes = self.indexes[res] = {name: Index(fn) for name, fn in self.index_fns.items()}
        return indexes

    def _reindex(self, res: str, key: Key, old: Entry | None, new: Entry | None) -> None:
        """Keep key lists and indexes in step with one write: O(log n) for a new or deleted key, else O(values)."""
        if old is None or new is None:
            ordered = self.ordered.setdefault(res, [])
            names = self.by_namespace.setdefault(res, {}).setdefault(key[0], [])
            if old is None:
                bisect.insort(ordered, key)
                bisect.insort(names, key[1])
            else:
                del ordered[bisect.bisect_left(ordered, key)]
                del names[bisect.bisect_left(names, key[1])]
                if not names:
                    del self.by_namespace[res][key[0]]
        for index in self._indexes(res).values():
            index.update(key, old.obj if old else None, new.obj if new else None)

    # -- writes ------------------------------------------------------------------------------------------
    def put(self, res: str, obj: dict[str, Any], event_type: str) -> Entry:
        """Store a new version of obj (its metadata already complete but for resourceVersion, which is set in obj).
        The entry holds a slim copy (see Entry); obj itself is left whole for the caller's response."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        stored = slim(obj)
        share_strings(stored)
        entry = Entry(stored, dumps(obj), self.rv)
        table = self.objects.setdefault(res, {})
        prev = table.get(key)
        if CHECK_STORED and prev is not None:
            _check_stored(res, key, prev)
        self._persist(res, entry, key)
        table[key] = entry
        self._reindex(res, key, prev, entry)
        self._publish(res, Event(event_type, entry, prev))
        return entry

    def remove(self, res: str, namespace: str, name: str) -> Entry:
        """Delete the object; the DELETED event carries a new resourceVersion, as the apiserver's does."""
        table = self.objects.get(res, {})
        key = (namespace, name)
        old = table[key]
        if CHECK_STORED:
            _check_stored(res, key, old)
        self.rv += 1
        obj = loads(old.raw)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        entry = Entry(slim(obj), dumps(obj), self.rv)
        self._persist(res, None, key)
        del table[key]
        self._reindex(res, key, old, None)
        self._publish(res, Event(DELETED, entry, None), deleted=old)
        return entry

    # -- watch -------------------------------------------------------------------------------------------
    def _publish(self, res: str, event: Event, deleted: Entry | None = None) -> None:
        log = self.events.setdefault(res, deque())
        log.append(event.logged(deleted))
        held = self.window_bytes.get(res, 0) + len(event.entry.raw)
        while len(log) > self.window or (held > WINDOW_BYTES and len(log) > 1):
            dropped = log.popleft()
            held -= len(dropped.entry.raw)
            self.oldest[res] = dropped.entry.rv
        self.window_bytes[res] = held
        for observe in self.observers.get(res, ()):
            observe(event)
        for w in list(self.watchers.get(res, ())):
            w.offer(event)
        if self._rv_waiters and self._rv_waiters[0][0] <= self.rv:
            self._wake_rv_waiters()

    def _wake_rv_waiters(self) -> None:
        while self._rv_waiters and self._rv_waiters[0][0] <= self.rv:
            waiter = heapq.heappop(self._rv_waiters)[2]
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_rv(self, rv: int, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, until the store's resourceVersion reaches `rv`; whether it did. Nothing polls:
        the write that reaches `rv` wakes the waiter (`_publish`), and a waiter that times out or is cancelled (its
        client gone) leaves the heap at once, so a client asking for versions that never come holds nothing after."""
        if self.rv >= rv:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = (rv, next(self._rv_waiter_seq), waiter)
        heapq.heappush(self._rv_waiters, item)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            if not waiter.done():
                waiter.cancel()
            try:
                self._rv_waiters.remove(item)  # O(waiters); absent when a write woke it
                heapq.heapify(self._rv_waiters)
            except ValueError:
                pass
        return self.rv >= rv

    def last_change(self, res: str) -> int | None:
        """The resourceVersion of the newest write of `res` since this store started (None when none): O(1), the
        newest event of its watch window."""
        log = self.events.get(res)
        return log[-1].entry.rv if log else None

    def versions_at(self, res: str, rv: int) -> dict[Key, Entry | LoggedEntry | None] | None:
        """What the keys of `res` written after resourceVersion `rv` held at `rv` (None: absent then), read back from
        the watch window's newest events until `rv` — O(writes since `rv`), the rest of the collection untouched;
        None when the window no longer reaches back to `rv`. With the live entries of the other keys, that is the
        collection as of `rv`: a LIST continued from a token at `rv` is the snapshot it started from, as etcd's
        read at a revision."""
        if rv < self.oldest_rv(res):
            return None
        past: dict[Key, Entry | LoggedEntry | None] = {}
        for event in reversed(self.events.get(res, ())):
            if event.entry.rv <= rv:
                break
            key = (event.entry.namespace, event.entry.name)
            past[key] = None if event.type == ADDED else event.prev  # the earliest event after rv is seen last
        return past

    def oldest_rv(self, res: str) -> int:
        """The oldest resourceVersion from which `res`'s history is known (a watch from before it is Expired)."""
        return max(self.oldest.get(res, 0), self.start_rv)

    def observe(self, res: str, fn: Callable[[Event], None]) -> None:
        """Call `fn(event)` within every write of `res`, after the store holds it: derived caches, and the controllers'
        watches (their work queues). `fn` must be cheap, must not write and must not raise."""
        self.observers.setdefault(res, []).append(fn)

    def unobserve(self, res: str, fn: Callable[[Event], None]) -> None:
        observers = self.observers.get(res, [])
        if fn in observers:
            observers.remove(fn)

    def watch(self, res: str, since_rv: int | None, predicate: Callable[[Entry], bool], bounded: bool = True) -> Watcher:
        """A watcher receiving events after since_rv (None: from now). Raises Expired when too old."""
        watcher = Watcher(res, predicate, bounded)
        if since_rv is not None:
            oldest = self.oldest_rv(res)
            if since_rv < oldest:
                raise Expired(f"too old resource version: {since_rv} ({oldest})")
            for event in self.events.get(res, ()):
                if event.entry.rv > since_rv:
                    watcher.offer(event)
        self.watchers.setdefault(res, set()).add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self.watchers.get(watcher.resource, set()).discard(watcher)
        watcher.closed = True

    def resources(self) -> Iterable[str]:
        return self.objects.keys()
