"""The store's disk writer process (journal.py starts it and speaks to it): whole frames of rows from its stdin,
committed in order, several queued frames in one SQLite transaction (so the disk always holds a prefix of the writes
in resourceVersion order), each commit acknowledged on its stdout with the last frame's sequence number.

Run as a script (`python -I disk_writer.py <db>`): it imports nothing but what it needs of the standard library,
so the process stays small.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import struct
import sys
from typing import Any

FRAME = struct.Struct("<I")  # a frame's length, then that many bytes of pickle: (seq, upserts, deletes, meta_rv)
ACK = struct.Struct("<Q")  # the sequence number of the last transaction committed
READ_SIZE = 1 << 20


def _apply(db: sqlite3.Connection, frames: list[Any]) -> None:
    """Every whole frame received, in one transaction: each object's last version only."""
    latest: dict[tuple[str, str, str], tuple[str, str, str, int, bytes] | None] = {}
    meta_rv = None
    for _seq, upserts, deletes, rv in frames:
        for row in upserts:
            latest[row[:3]] = row
        for key in deletes:
            latest[key] = None
        if rv is not None:
            meta_rv = rv
    with db:
        db.execute("BEGIN")
        gone = [key for key, row in latest.items() if row is None]
        if gone:
            db.executemany("DELETE FROM objects WHERE res=? AND ns=? AND name=?", gone)
        rows = [row for row in latest.values() if row is not None]
        if rows:
            db.executemany("INSERT OR REPLACE INTO objects (res, ns, name, rv, data) VALUES (?,?,?,?,?)", rows)
        if meta_rv is not None:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rv', ?)", (meta_rv,))


def _writer(path: str) -> int:
    # Its life is the pipe's: Ctrl-C or a SIGTERM to the process group must not kill it before the simulator's own
    # shutdown has sent it the last writes; it exits when the simulator closes the pipe (or dies: a kill -9 included).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # as the store's own connection: a commit survives a process kill
    source, sink = sys.stdin.buffer.fileno(), sys.stdout.buffer.fileno()
    buffer = bytearray()
    acks_open = True
    while True:
        chunk = os.read(source, READ_SIZE)
        if not chunk:
            return 0 if not buffer else 3  # a frame cut short: the main process died mid-send, the frame is dropped
        buffer += chunk
        frames = []
        offset = 0
        while len(buffer) - offset >= FRAME.size:
            (size,) = FRAME.unpack_from(buffer, offset)
            if len(buffer) - offset - FRAME.size < size:
                break
            start = offset + FRAME.size
            frames.append(pickle.loads(buffer[start : start + size]))
            offset = start + size
        del buffer[:offset]
        if not frames:
            continue
        _apply(db, frames)
        if acks_open:
            try:
                os.write(sink, ACK.pack(frames[-1][0]))
            except BrokenPipeError:  # the main process is gone: keep committing what it sent, then exit
                acks_open = False


if __name__ == "__main__":
    sys.exit(_writer(sys.argv[1]))
