"""The simulator's CPU and memory as /proc shows them, its store's disk writer included.

The simulator is a process and its live children (store/journal.py's writer commits to SQLite in a process of its
own): every benchmark counts both, so moving work to the writer does not make it look free.
"""

from __future__ import annotations

import os
from pathlib import Path


def family(pid: int) -> list[int]:
    """The process and its live children, but a child not yet past its exec: between fork (or vfork) and exec a
    child is the parent's image, and /proc shows the parent's resident pages as its own (an image import's `file` or
    `qemu-img` caught there doubled the simulator's VmRSS in one sample: 278 MiB against 139 MiB). Such a child
    still has its parent's command line; a program it runs, the store's writer included, has its own."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(c) for c in task.read_text().split()]
        except FileNotFoundError:  # a thread that just ended
            continue
    own = _cmdline(pid)
    return [pid, *(child for child in children if _cmdline(child) != own)]


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):  # gone meanwhile
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime (fields 14 and 15 of stat(5)) of the process and its live children."""
    total = 0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a child that just exited
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS in kB, each summed over the process and its live children (for peaks: an upper bound)."""
    out = {"VmHWM": 0, "VmRSS": 0}
    for member in family(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in out:
                out[key] += int(value.split()[0])
    return out
