"""The store's disk writer: SQLite commits in a process of their own, so they cost the event loop a pipe write.

Why a process: the commits were ~10% of the event loop's time in a 10,000-VM build-up, and the loop is the
simulator's bottleneck. A thread did not help (measured): SQLite releases the GIL for its own work, but takes it
back for every row, and each hand-over while the loop runs Python costs the loop about what the thread took off it.

Contract (the store's, store.py): what is on disk is always a prefix of the writes in resourceVersion order, and
nothing a client is shown can be lost by a `kill -9`. `send()` queues one transaction's rows on the pipe, in order,
and returns its sequence number; the writer commits every transaction it has whole, in order (several queued ones in
one SQLite transaction: still a prefix), then acknowledges the last one's number. Whatever is shown to a client
waits for `durable()` (or `sync()`, blocking) first. A frame cut by a crash is never applied (frames are length-
prefixed; the writer applies whole ones only).

One writer per state directory: the main process takes an exclusive flock on `<db>.lock` before it reads the
database, and the writer inherits the locked file. After a `kill -9` of the main process the writer still commits
what it has received (writes no client was shown: harmless, as a write whose response was lost), sees the pipe's end
and exits; the lock is free only then, so a simulator restarted on the same state waits for it instead of reading a
database that is still changing under it.

A writer gone while the simulator runs (killed, crashed) fails every later write and wait (JournalFailed), and the
event loop, which watches its pipe, learns of it at once: the simulator stops with code 1 and says why (cli.py),
crash-only, rather than failing every response; a restart resumes from the disk.

The writer's side is disk_writer.py.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pickle
import select
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from . import disk_writer
from .disk_writer import ACK, FRAME

PIPE_SIZE = 1 << 20  # a full pipe blocks the event loop until the writer drains it: room for ~250 rows
LOCK_WAIT = 30.0  # seconds a start waits for a previous writer (a killed simulator's) to finish


class JournalFailed(RuntimeError):
    """The writer is gone: nothing more can be made durable."""


def lock(path: Path, wait: float | None = None) -> int:
    """An fd holding an exclusive flock on `<path>.lock` (private, as every state file), waiting up to `wait` s
    (LOCK_WAIT by default)."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    os.chmod(lock_path, 0o600)
    deadline = time.monotonic() + (LOCK_WAIT if wait is None else wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RuntimeError(f"the state in {path.parent} is in use by another simulator (or its disk writer)") from None
            time.sleep(0.05)


class Journal:
    """The main process's end: send transactions, learn which are on disk."""

    def __init__(self, path: Path, lock_fd: int):
        self.process = subprocess.Popen(
            [sys.executable, "-I", disk_writer.__file__, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(lock_fd,),
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._out = self.process.stdin.fileno()
        self._in = self.process.stdout.fileno()
        for fd in (self._out, self._in):
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:  # above /proc/sys/fs/pipe-max-size: the default size only costs more blocking
                pass
        os.set_blocking(self._in, False)
        self.sent = 0  # sequence number of the last transaction sent
        self.acked = 0  # ... and of the last one on disk
        self.rows = 0  # rows sent, for tests and benchmarks
        self.acked_rv = 0  # every write up to this resourceVersion is on disk
        self._unacked: deque[tuple[int, int]] = deque()  # (seq, its largest resourceVersion), in order
        self._acks = bytearray()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []  # (the transaction awaited, its waiter)
        self._reading: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.failed: str | None = None
        # Called once with the reason when the writer is found gone: nothing can be made durable any more, so nothing
        # more can be shown to a client; the simulator stops (cli.serve_forever) instead of failing every response.
        self.on_failure: Callable[[str], None] | None = None

    # -- sending --------------------------------------------------------------------------------------------
    def send(self, upserts: list[tuple[str, str, str, int, bytes]], deletes: list[tuple[str, str, str]], meta_rv: int | None, max_rv: int) -> int:
        """Queue one transaction (blocking only while the pipe is full); its sequence number."""
        if self.failed:
            raise JournalFailed(self.failed)
        if self._reading is None or self._reading.is_closed():  # no event loop takes them in as they come: drain here
            self._read_acks()
        self.sent += 1
        payload = pickle.dumps((self.sent, upserts, deletes, meta_rv), protocol=5)
        try:
            self._write(FRAME.pack(len(payload)) + payload)
        except OSError as exc:
            self._fail(f"the store's disk writer is gone: {exc}")
            raise JournalFailed(self.failed) from exc
        self.rows += len(upserts) + len(deletes)
        self._unacked.append((self.sent, max_rv))
        return self.sent

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._out, view) :]

    # -- acknowledgements -----------------------------------------------------------------------------------
    def _read_acks(self) -> None:
        """Take in every acknowledgement the writer has sent; wake the waiters they satisfy. Cheap when there is
        none (one read that would block), so every send drains them: the writer blocks when its pipe is full."""
        ended = False
        while True:
            try:
                chunk = os.read(self._in, 65536)
            except BlockingIOError:
                break
            if not chunk:
                ended = True
                break
            self._acks += chunk
            if len(chunk) < 65536:  # all there was (a read more would only raise BlockingIOError)
                break
        whole = len(self._acks) - len(self._acks) % ACK.size
        if whole:
            self.acked = ACK.unpack_from(self._acks, whole - ACK.size)[0]
            del self._acks[:whole]
            while self._unacked and self._unacked[0][0] <= self.acked:
                self.acked_rv = self._unacked.popleft()[1]
        if ended:  # the writer exited: only a close() asks it to; what it did not acknowledge may not be on disk
            self._stop_reading()
            if self.acked < self.sent:
                self._fail(f"the store's disk writer exited (code {self.process.wait()}) with transactions unacknowledged")
            elif not self._closing:
                self._fail(f"the store's disk writer exited (code {self.process.wait()})")
        if self._waiters and (whole or self.failed):
            waiting = self._waiters
            self._waiters = [(seq, future) for seq, future in waiting if seq > self.acked and not self.failed]
            for seq, future in waiting:
                if not future.done() and (self.failed or seq <= self.acked):
                    if self.failed:
                        future.set_exception(JournalFailed(self.failed))
                    else:
                        future.set_result(None)

    def _fail(self, why: str) -> None:
        if self.failed is None:
            self.failed = why
            if self.on_failure is not None:
                self.on_failure(why)

    def watch(self) -> None:
        """Take acknowledgements in on the running event loop from now on, and so learn at once when the writer
        exits (an end of file on its pipe), not at the next write or wait."""
        loop = asyncio.get_running_loop()
        if self._reading is not loop and not self.failed:
            self._stop_reading()
            loop.add_reader(self._in, self._read_acks)
            self._reading = loop

    def _stop_reading(self) -> None:
        if self._reading is not None:
            if not self._reading.is_closed():
                self._reading.remove_reader(self._in)
            self._reading = None

    def sync(self, timeout: float = 60.0) -> None:
        """Block until every transaction sent is on disk."""
        deadline = time.monotonic() + timeout
        self._read_acks()
        while self.acked < self.sent:
            if self.failed:
                raise JournalFailed(self.failed)
            left = deadline - time.monotonic()
            if left <= 0:
                raise JournalFailed(f"the store's disk writer did not commit within {timeout:.0f} s")
            select.select([self._in], [], [], left)
            self._read_acks()

    async def durable(self, rv: int) -> None:
        """Wait (without blocking the loop) until every write up to resourceVersion `rv` is on disk, i.e. every
        transaction sent so far that holds one."""
        if rv <= self.acked_rv and not self.failed:
            return
        self._read_acks()
        if self.failed:
            raise JournalFailed(self.failed)
        target = next((seq for seq, top in self._unacked if top >= rv), self.sent)
        if target <= self.acked:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((target, future))
        self.watch()  # the loop takes acknowledgements in from now on (one registration, not one a wait)
        await future

    def close(self, timeout: float = 60.0) -> None:
        """Let the writer commit what it has and exit; raise if it could not."""
        self._closing = True
        self._stop_reading()
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()  # the file object's own close: an os.close here would close a reused fd later
        except OSError:
            pass
        try:
            self.sync(timeout)
        finally:
            code = self.process.wait(timeout)
            assert self.process.stdout is not None
            self.process.stdout.close()
            if code != 0 and not self.failed:
                self._fail(f"the store's disk writer exited with code {code}")
        if self.failed:
            raise JournalFailed(self.failed)
