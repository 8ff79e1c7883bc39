"""Polling a simulator until what a test waits for is there: one helper for the integration tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def eventually(read: Callable[[], T], predicate: Callable[[T], Any], timeout: float = 40.0, interval: float = 0.1) -> T:
    """`read()` again every `interval` seconds until `predicate` holds for its value, which is returned; after
    `timeout` seconds an AssertionError showing the last value (the first 3,000 characters of its JSON)."""
    end = time.monotonic() + timeout
    while True:
        value = read()
        if predicate(value):
            return value
        assert time.monotonic() < end, value if isinstance(value, str) else json.dumps(value, default=str)[:3000]
        time.sleep(interval)
