"""Store.batch(): many writes, one SQLite transaction — the same objects on disk as one commit per write."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from dvp_simulator.store import store as store_module
from dvp_simulator.store.store import ADDED, MODIFIED, Store


def _on_disk(path, store: Store | None = None) -> dict[tuple[str, str], int]:
    """The pods on disk, once the disk writer has committed everything `store` sent it (what is not sent stays off)."""
    if store is not None and store.journal is not None:
        store.journal.sync()
    with sqlite3.connect(path) as db:
        return {(ns, name): rv for ns, name, rv in db.execute("SELECT ns, name, rv FROM objects WHERE res='/pods'")}


def test_a_batch_commits_once_at_its_end_what_single_writes_would(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path)
    with store.batch():
        store.put("/pods", {"metadata": {"name": "a", "namespace": "ns"}}, ADDED)
        with store.batch():  # a nested block joins the outer transaction
            store.put("/pods", {"metadata": {"name": "b", "namespace": "ns"}}, ADDED)
        store.put("/pods", {"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}}}, MODIFIED)
        store.remove("/pods", "ns", "b")
        assert _on_disk(path, store) == {}, "nothing is on disk before the block ends"
        assert store.get("/pods", "ns", "a").rv == 3  # memory has every write at once
    assert _on_disk(path, store) == {("ns", "a"): 3}
    store.put("/pods", {"metadata": {"name": "c", "namespace": "ns"}}, ADDED)  # after the block: its own commit
    assert _on_disk(path, store) == {("ns", "a"): 3, ("ns", "c"): 5}
    store.close()

    reopened = Store(path)
    assert reopened.rv == 5 and [e.name for e in reopened.list("/pods")] == ["a", "c"]
    assert reopened.get("/pods", "ns", "a").obj["metadata"]["labels"] == {"x": "y"}
    reopened.close()


def test_a_batch_that_raises_still_commits_the_writes_memory_holds(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path)
    with pytest.raises(RuntimeError), store.batch():
        store.put("/pods", {"metadata": {"name": "a", "namespace": "ns"}}, ADDED)
        raise RuntimeError("registration failed half-way")
    assert _on_disk(path, store) == {("ns", "a"): 1} and store.get("/pods", "ns", "a") is not None
    store.close()


def test_the_resource_version_survives_a_restart_after_puts_and_after_deletes(tmp_path):
    """Only deletes write the newest resourceVersion down; after a put it is the largest row's. Either way a
    reopened store continues past every version it ever handed out (a watch must never see one twice)."""
    path = tmp_path / "store.sqlite"
    store = Store(path)
    store.put("/pods", {"metadata": {"name": "a", "namespace": "ns"}}, ADDED)
    store.put("/pods", {"metadata": {"name": "b", "namespace": "ns"}}, ADDED)
    store.close()
    store = Store(path)
    assert store.rv == 2
    store.remove("/pods", "ns", "b")  # rv 3, and no row holds it
    store.close()
    store = Store(path)
    assert store.rv == 3
    assert store.put("/pods", {"metadata": {"name": "c", "namespace": "ns"}}, ADDED).rv == 4
    store.put("/pods", {"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}}}, MODIFIED)  # rv 5
    store.close()
    store = Store(path)
    assert store.rv == 5
    store.close()


def test_the_watch_window_is_bounded_in_bytes_too(monkeypatch):
    """Past WINDOW_BYTES of JSON a resource's oldest events leave the window (a watch from before them gets 410)."""
    from dvp_simulator.store import store as store_module
    from dvp_simulator.store.store import Expired

    monkeypatch.setattr(store_module, "WINDOW_BYTES", 2000)
    store = Store(None, window=1000)
    for i in range(40):
        store.put("/pods", {"metadata": {"name": f"p{i}", "namespace": "ns", "annotations": {"pad": "x" * 100}}}, ADDED)
    kept = store.events["/pods"]
    assert 1 < len(kept) < 40 and sum(len(e.entry.raw) for e in kept) <= 2000
    assert store.window_bytes["/pods"] == sum(len(e.entry.raw) for e in kept)
    with pytest.raises(Expired):
        store.watch("/pods", 1, lambda entry: True)
    watcher = store.watch("/pods", kept[0].entry.rv - 1, lambda entry: True)  # the oldest kept still replays
    assert watcher.queue.qsize() == len(kept)


def _counting_commits(store: Store) -> list[int]:
    """The number of writes of each transaction sent to the disk writer, as they are sent."""
    sizes: list[int] = []
    commit = store._commit

    def counted(writes):
        sizes.append(len(writes))
        commit(writes)

    store._commit = counted
    return sizes


def test_writes_in_the_event_loop_are_sent_together_after_a_while(tmp_path, monkeypatch):
    """Nobody waits on a controller's write: memory has each at once, the disk all of them in one transaction once
    PENDING_SECONDS have passed, each object's last version only."""
    monkeypatch.setattr(store_module, "PENDING_SECONDS", 0.05)
    path = tmp_path / "store.sqlite"
    store = Store(path)
    sizes = _counting_commits(store)

    async def worker() -> None:
        for name in ("a", "b", "c"):
            store.put("/pods", {"metadata": {"name": name, "namespace": "ns"}}, ADDED)
        with store.batch():  # a batch joins the same transaction
            store.put("/pods", {"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}}}, MODIFIED)
        assert store.get("/pods", "ns", "c").rv == 3
        rows = store.journal.rows
        await asyncio.sleep(0.01)
        assert _on_disk(path, store) == {} and sizes == []
        await asyncio.sleep(0.1)
        assert _on_disk(path, store) == {("ns", "a"): 4, ("ns", "b"): 2, ("ns", "c"): 3}
        assert sizes == [4]
        assert store.journal.rows - rows == 3, "one row per object: only a's last version is written"

    asyncio.run(worker())
    store.close()


def test_what_a_response_shows_is_on_disk_before_it_leaves_and_the_pass_shares_one_send(tmp_path):
    """durable() sends the pending writes at the end of the loop's pass - one send for every response waiting in it -
    and returns once the writer has committed them; on disk is always a prefix of the writes in resourceVersion order.
    sync() and close() put the rest on disk."""
    path = tmp_path / "store.sqlite"
    store = Store(path)
    sizes = _counting_commits(store)

    def write(name: str) -> int:
        return store.put("/pods", {"metadata": {"name": name, "namespace": "ns"}}, ADDED).rv

    async def respond(rv: int | None, shown: list[str]) -> None:
        await store.durable(rv)
        shown.append(str(rv))

    async def run() -> None:
        write("a")
        b = write("b")
        shown: list[str] = []
        await asyncio.gather(respond(b, shown), respond(None, shown), respond(1, shown))
        assert sorted(shown) == ["1", "2", "None"] and sizes == [2], "three responses, one send"
        assert _on_disk(path) == {("ns", "a"): 1, ("ns", "b"): 2}
        await store.durable(1)  # on disk already: no send
        assert sizes == [2]
        write("c")
        store.sync()
        assert _on_disk(path) == {("ns", "a"): 1, ("ns", "b"): 2, ("ns", "c"): 3} and sizes == [2, 1]
        write("d")
        store.close()  # shutdown puts the rest on disk too

    asyncio.run(run())
    assert _on_disk(path) == {("ns", "a"): 1, ("ns", "b"): 2, ("ns", "c"): 3, ("ns", "d"): 4}
    assert sizes == [2, 1, 1]
