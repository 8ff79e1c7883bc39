"""A client's watch is bounded in events and in bytes: one that stops reading is cut off (its stream ends, it
re-lists) instead of keeping every version written meanwhile alive; an in-process controller's is not bounded."""

from __future__ import annotations

import asyncio

import pytest

from dvp_simulator.store import store as store_module
from dvp_simulator.store.store import ADDED, MODIFIED, Store


def _config_map(i: int, size: int) -> dict:
    return {"metadata": {"name": "big", "namespace": "ns"}, "data": {"d": str(i % 10) * size}}


def test_a_client_that_stops_reading_is_cut_off_by_the_bytes_its_events_hold(monkeypatch):
    monkeypatch.setattr(store_module, "MAX_QUEUED_BYTES", 1_000_000)
    store = Store(None)
    client = store.watch("/configmaps", None, lambda entry: True)
    controller = store.watch("/configmaps", None, lambda entry: True, bounded=False)
    store.put("/configmaps", _config_map(0, 100_000), ADDED)
    for i in range(1, 30):  # ~3 MB of versions of one object
        store.put("/configmaps", _config_map(i, 100_000), MODIFIED)
    assert client.closed and client.queued_bytes == 0
    assert client.queue.qsize() == 1 and client.queue.get_nowait() is None, "its stream ends"
    assert not controller.closed and controller.queue.qsize() == 30, "a controller's queue is not bounded"


def test_a_client_that_reads_is_not_cut_off(monkeypatch):
    monkeypatch.setattr(store_module, "MAX_QUEUED_BYTES", 1_000_000)
    store = Store(None)
    client = store.watch("/configmaps", None, lambda entry: True)

    async def read_as_written() -> list[int]:
        seen = []
        for i in range(30):
            store.put("/configmaps", _config_map(i, 100_000), ADDED if i == 0 else MODIFIED)
            event = await client.next(1.0)
            seen.append(event.entry.rv)
        return seen

    assert len(asyncio.run(read_as_written())) == 30
    assert not client.closed and client.queued_bytes == 0
    with pytest.raises(TimeoutError):
        asyncio.run(client.next(0.01))
