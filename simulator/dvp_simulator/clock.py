"""Simulated time: every timer in the simulator runs on this clock, `scale` times faster than the wall clock, and
tests can step it forward (`advance`).

Timestamps written into objects come from here too, so an object's age, a 10-minute upload timeout and a
60-second fencing lease all agree. The clock's reading is saved in the state dir and never goes backwards
across restarts.

Timers live on simulated time: the clock keeps its own queue (a heap ordered by simulated deadline) and arms a
single asyncio timer for the nearest deadline, converted to real time by `scale`. `advance(seconds)` moves the
reading forward and fires, in deadline order, every timer whose deadline it passed; new timers and advances re-arm
the asyncio timer. Cancelled timers stay in the heap until popped, unless they become the majority (then the
heap is rebuilt), as asyncio does for its own.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Timer:
    """A callback due at a simulated deadline. `cancel()` is idempotent; `when()` is the simulated deadline
    (comparable with `Clock.time()`), so callers can tell which of two timers fires first."""

    __slots__ = ("deadline", "seq", "callback", "args", "cancelled", "_clock")

    def __init__(self, clock: Clock, deadline: float, seq: int, callback: Callable[..., Any], args: tuple[Any, ...]):
        self.deadline, self.seq, self.callback, self.args = deadline, seq, callback, args
        self.cancelled = False
        self._clock: Clock | None = clock  # None once fired or cancelled

    def __lt__(self, other: Timer) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)

    def when(self) -> float:
        return self.deadline

    def cancel(self) -> None:
        if self._clock is not None:
            self._clock._dead += 1  # still in the heap: counted, so compaction needs no scan
            self._clock = None
        self.cancelled = True
        self.callback, self.args = _noop, ()

    def _run(self) -> None:
        self._clock = None
        self.cancelled = True  # a cancel() after firing is a no-op
        self.callback(*self.args)


class Clock:
    def __init__(self, scale: float = 1.0, state_file: Path | None = None):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self.state_file = state_file
        start = time.time()
        if state_file is not None and state_file.exists():
            try:
                start = max(start, float(state_file.read_text().strip()))
            except ValueError:
                pass
        self._epoch = start  # simulated reading at real monotonic instant _mono, including every advance
        self._mono = time.monotonic()
        self._timers: list[Timer] = []
        self._dead = 0  # cancelled timers still in the heap
        self._seq = itertools.count()
        self._alarm: asyncio.TimerHandle | None = None  # the one asyncio timer, for the heap's nearest deadline
        self._alarm_at = float("inf")
        self._alarm_loop: asyncio.AbstractEventLoop | None = None
        self._stamp_second, self._stamp = -1, ""  # stamp()'s text and the simulated second it is of

    # -- reading -------------------------------------------------------------------------------------------
    def time(self) -> float:
        """Simulated seconds since the Unix epoch."""
        return self._epoch + (time.monotonic() - self._mono) * self.scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def stamp(self) -> str:
        """RFC 3339 with second precision, as metav1.Time serialises. Made once per simulated second: every write
        stamps managedFields, and formatting a datetime each time was ~1% of a build-up."""
        second = math.floor(self.time())
        if second != self._stamp_second:
            self._stamp_second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._stamp

    def real_seconds(self, simulated: float) -> float:
        return max(0.0, simulated / self.scale)

    @staticmethod
    def parse(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    # -- timers --------------------------------------------------------------------------------------------
    def call_later(self, simulated: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run `callback(*args)` on the running event loop once `simulated` seconds have passed on this clock."""
        return self.call_at(self.time() + max(0.0, simulated), callback, *args)

    def call_at(self, deadline: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run `callback(*args)` once the clock reads `deadline` (simulated epoch seconds)."""
        timer = Timer(self, deadline, next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        if deadline < self._alarm_at or self._alarm_loop is not asyncio.get_running_loop():
            self._arm()
        return timer

    async def sleep(self, simulated: float) -> None:
        """Sleep `simulated` seconds of this clock (cut short by `advance`)."""
        future = asyncio.get_running_loop().create_future()
        timer = self.call_later(simulated, _wake, future)
        try:
            await future
        finally:
            timer.cancel()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until the clock reads `deadline` (simulated epoch seconds); at once if it already has. Periodic
        work that sleeps to absolute deadlines keeps its phase however long each round's work took."""
        future = asyncio.get_running_loop().create_future()
        timer = self.call_at(deadline, _wake, future)
        try:
            await future
        finally:
            timer.cancel()

    def advance(self, seconds: float) -> int:
        """Step the clock `seconds` forward (not backwards) and fire, in deadline order, every timer due by then;
        each callback runs with the clock reading its deadline. Returns how many timers fired. Saved to the
        state file, so a restart does not go back behind what objects were stamped with."""
        if not seconds >= 0 or seconds == float("inf"):
            raise ValueError("the clock advances by a finite number of seconds >= 0")
        target = self.time() + seconds
        fired = self._fire_until(target)
        self._epoch += max(0.0, target - self.time())
        self._arm()
        self.save()
        return fired

    def pending(self) -> int:
        """Timers not yet fired nor cancelled."""
        return len(self._timers) - self._dead

    def _pop(self) -> Timer | None:
        """The earliest live timer, removed from the heap (cancelled ones on the way are dropped)."""
        while self._timers:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                return timer
            self._dead -= 1
        return None

    def _fire_until(self, target: float) -> int:
        fired = 0
        while self._timers and self._timers[0].deadline <= target:
            timer = self._pop()
            if timer is None:
                break
            if timer.deadline > target:  # a cancelled head hid a later one
                heapq.heappush(self._timers, timer)
                break
            self._epoch += max(0.0, timer.deadline - self.time())  # the callback sees its own deadline
            timer._run()
            fired += 1
        return fired

    def _on_alarm(self) -> None:
        self._alarm, self._alarm_at = None, float("inf")
        self._fire_until(self.time())
        self._arm()

    def _arm(self) -> None:
        """(Re-)arm the asyncio timer for the nearest live deadline on the running loop."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
            self._dead -= 1
        if self._dead > 64 and self._dead * 2 > len(self._timers):  # mostly cancelled: rebuild, amortised O(1)
            self._timers = [t for t in self._timers if not t.cancelled]
            heapq.heapify(self._timers)
            self._dead = 0
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm, self._alarm_at, self._alarm_loop = None, float("inf"), None
        if not self._timers:
            return
        loop = asyncio.get_running_loop()
        deadline = self._timers[0].deadline
        self._alarm = loop.call_at(loop.time() + self.real_seconds(deadline - self.time()), self._on_alarm)
        self._alarm_at, self._alarm_loop = deadline, loop

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"{self.time():.6f}\n")
            tmp.replace(self.state_file)


def _noop(*_args: Any) -> None:
    pass


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
