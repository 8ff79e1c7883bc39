"""Objects, resourceVersions and watch: the simulator's etcd.

Every object lives in memory (a dict per resource, each entry with its JSON bytes ready to send) and in SQLite
(WAL mode), written in one transaction before the write is acknowledged, so `kill -9` loses nothing that a
client saw succeed. resourceVersion is one global counter, persisted with every write, so it keeps
increasing across restarts. Recent events are kept per resource in a window for watch resumption; a watch
from before the window gets 410 Gone, as from a compacted etcd.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Entry:
    """One stored version of one object. Never mutated: a write makes a new Entry."""

    obj: dict[str, Any]
    raw: bytes
    rv: int

    @property
    def namespace(self) -> str:
        return self.obj["metadata"].get("namespace", "")

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]


@dataclass(frozen=True)
class Event:
    type: str
    entry: Entry
    prev: Entry | None  # the version before a MODIFIED, for selector transitions


class Expired(Exception):
    """The requested resourceVersion is older than the watch window."""


@dataclass(eq=False)
class Watcher:
    resource: str
    predicate: Callable[[Entry], bool]
    bounded: bool = True
    queue: asyncio.Queue = field(init=False)
    closed: bool = False

    def __post_init__(self) -> None:
        # Clients get a bounded queue (a slow one is cut off and re-lists); in-process controllers do not.
        self.queue = asyncio.Queue(maxsize=20000 if self.bounded else 0)

    def offer(self, event: Event) -> None:
        """Deliver what this watcher should see: selector transitions become ADDED/DELETED, as in the apiserver."""
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
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A client that cannot keep up is cut off; it re-lists, as with a real apiserver.
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Store:
    def __init__(self, path: Path | None, window: int = 50000):
        self.path = path
        self.window = window
        self.objects: dict[str, dict[tuple[str, str], Entry]] = {}
        self.events: dict[str, deque[Event]] = {}
        self.oldest: dict[str, int] = {}  # smallest rv from which a watch can resume, per resource
        self.watchers: dict[str, set[Watcher]] = {}
        self.rv = 0
        self.db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)
        self.start_rv = self.rv

    # -- persistence -------------------------------------------------------------------------------------
    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process kill (only power loss can lose it).
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS objects (res TEXT, ns TEXT, name TEXT, rv INTEGER, data BLOB, PRIMARY KEY (res, ns, name))")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        row = db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        self.rv = row[0] if row else 0
        for res, ns, name, rv, data in db.execute("SELECT res, ns, name, rv, data FROM objects"):
            self.objects.setdefault(res, {})[(ns, name)] = Entry(json.loads(data), bytes(data), rv)
        self.db = db

    def _persist(self, res: str, entry: Entry | None, key: tuple[str, str]) -> None:
        if self.db is None:
            return
        with self.db:
            self.db.execute("BEGIN")
            if entry is None:
                self.db.execute("DELETE FROM objects WHERE res=? AND ns=? AND name=?", (res, *key))
            else:
                self.db.execute(
                    "INSERT OR REPLACE INTO objects (res, ns, name, rv, data) VALUES (?,?,?,?,?)",
                    (res, key[0], key[1], entry.rv, entry.raw),
                )
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rv', ?)", (self.rv,))

    def close_watchers(self) -> None:
        """End every watch stream (on shutdown, so clients see the stream close and reconnect)."""
        for watchers in self.watchers.values():
            for w in list(watchers):
                w.close()

    def close(self) -> None:
        self.close_watchers()
        if self.db is not None:
            self.db.close()
            self.db = None

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, res: str, namespace: str, name: str) -> Entry | None:
        return self.objects.get(res, {}).get((namespace, name))

    def list(self, res: str, namespace: str | None = None) -> list[Entry]:
        """Entries in key order (namespace, name), like etcd."""
        table = self.objects.get(res, {})
        keys = sorted(table) if namespace is None else sorted(k for k in table if k[0] == namespace)
        return [table[k] for k in keys]

    def count(self, res: str) -> int:
        return len(self.objects.get(res, {}))

    # -- writes ------------------------------------------------------------------------------------------
    def put(self, res: str, obj: dict[str, Any], event_type: str) -> Entry:
        """Store a new version of obj (its metadata already complete but for resourceVersion)."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        entry = Entry(obj, dumps(obj), self.rv)
        table = self.objects.setdefault(res, {})
        prev = table.get(key)
        self._persist(res, entry, key)
        table[key] = entry
        self._publish(res, Event(event_type, entry, prev))
        return entry

    def remove(self, res: str, namespace: str, name: str) -> Entry:
        """Delete the object; the DELETED event carries a new resourceVersion, as the apiserver's does."""
        table = self.objects.get(res, {})
        key = (namespace, name)
        old = table[key]
        self.rv += 1
        obj = json.loads(old.raw)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        entry = Entry(obj, dumps(obj), self.rv)
        self._persist(res, None, key)
        del table[key]
        self._publish(res, Event(DELETED, entry, None))
        return entry

    # -- watch -------------------------------------------------------------------------------------------
    def _publish(self, res: str, event: Event) -> None:
        log = self.events.setdefault(res, deque())
        log.append(event)
        if len(log) > self.window:
            dropped = log.popleft()
            self.oldest[res] = dropped.entry.rv
        for w in list(self.watchers.get(res, ())):
            w.offer(event)

    def watch(self, res: str, since_rv: int | None, predicate: Callable[[Entry], bool], bounded: bool = True) -> Watcher:
        """A watcher receiving events after since_rv (None: from now). Raises Expired when too old."""
        watcher = Watcher(res, predicate, bounded)
        if since_rv is not None:
            oldest = max(self.oldest.get(res, 0), self.start_rv)
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
