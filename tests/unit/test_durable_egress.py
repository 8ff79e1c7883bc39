"""What a client is shown is on disk first: a write (pending, sent to the disk writer with others, store.Store._pend)
is committed before a response or a watch event carrying it leaves, so a kill -9 right after can never take back what
a client saw. In process: the simulator as app.build assembles it, its real aiohttp application on a local port; the
timed send of pending writes is switched off, so only the server's wait for durability can put the write on disk."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from aiohttp.test_utils import TestClient, TestServer

from dvp_simulator import app
from dvp_simulator.api.service import WriteOptions

TOKEN = "unit-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CM = {"metadata": {"name": "seen"}, "data": {"phase": "one"}}


def on_disk(path, name: str) -> int | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT rv FROM objects WHERE res='/configmaps' AND ns='default' AND name=?", (name,)).fetchone()
    return row[0] if row else None


def build(tmp_path):
    sim = app.build(tmp_path / "state", TOKEN, "https://127.0.0.1:0")

    def pending_only(writes: list) -> None:
        """No timed send: only what waits for durability sends pending writes."""
        sim.store._pending.extend(writes)

    sim.store._pend = pending_only
    rt = sim.registry.types["/configmaps"]

    def controller_write(body: dict) -> int:
        """A write as a controller makes it (nobody waits on it); its resourceVersion."""
        return int(sim.service.update(rt, "default", "seen", body, WriteOptions(version="v1", manager="ctrl")).obj["metadata"]["resourceVersion"])

    sim.service.create(rt, "default", CM, WriteOptions(version="v1", manager="test"))
    sim.store.sync()
    return sim, controller_write


def test_a_response_showing_a_deferred_write_leaves_after_its_commit(tmp_path):
    sim, controller_write = build(tmp_path)
    path = tmp_path / "state" / "store.sqlite"

    async def run() -> None:
        async with TestClient(TestServer(sim.api.app)) as http:
            rv = controller_write({**CM, "data": {"phase": "two"}})
            assert on_disk(path, "seen") == rv - 1, "deferred: not on disk yet"
            response = await http.get("/api/v1/namespaces/default/configmaps/seen", headers=AUTH)
            assert (await response.json())["data"] == {"phase": "two"}
            assert on_disk(path, "seen") == rv

    try:
        asyncio.run(run())
    finally:
        sim.store.close()


def test_a_watch_event_of_a_deferred_write_leaves_after_its_commit(tmp_path):
    sim, controller_write = build(tmp_path)
    path = tmp_path / "state" / "store.sqlite"

    async def run() -> None:
        async with TestClient(TestServer(sim.api.app)) as http:
            start = sim.store.rv
            response = await http.get(f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start}", headers=AUTH)
            rv = controller_write({**CM, "data": {"phase": "three"}})
            assert on_disk(path, "seen") == start
            event = json.loads(await asyncio.wait_for(response.content.readline(), 5))
            assert (event["type"], event["object"]["data"]) == ("MODIFIED", {"phase": "three"})
            assert on_disk(path, "seen") == rv
            response.close()

    try:
        asyncio.run(run())
    finally:
        sim.store.close()
