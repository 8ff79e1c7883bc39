"""Simulated time: every timer in the simulator runs on this clock, `scale` times faster than the wall clock.

Timestamps written into objects come from here too, so an object's age, a 10-minute upload timeout and a
60-second fencing lease all agree. The clock's reading is saved in the state dir and never goes backwards
across restarts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path


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
        self._epoch = start
        self._mono = time.monotonic()

    def time(self) -> float:
        """Simulated seconds since the Unix epoch."""
        return self._epoch + (time.monotonic() - self._mono) * self.scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def stamp(self) -> str:
        """RFC 3339 with second precision, as metav1.Time serialises."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def real_seconds(self, simulated: float) -> float:
        return max(0.0, simulated / self.scale)

    async def sleep(self, simulated: float) -> None:
        await asyncio.sleep(self.real_seconds(simulated))

    def call_later(self, simulated: float, callback, *args) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(self.real_seconds(simulated), callback, *args)

    def save(self) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(f"{self.time():.3f}\n")
            tmp.replace(self.state_file)

    @staticmethod
    def parse(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
