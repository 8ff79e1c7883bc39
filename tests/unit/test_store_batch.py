"""Store.batch(): many writes, one SQLite transaction — the same objects on disk as one commit per write."""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3

import pytest

from dvp_simulator.store.store import ADDED, DEFERRED, MODIFIED, Store


def _on_disk(path) -> dict[tuple[str, str], int]:
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
        assert _on_disk(path) == {}, "nothing is on disk before the block ends"
        assert store.get("/pods", "ns", "a").rv == 3  # memory has every write at once
    assert _on_disk(path) == {("ns", "a"): 3}
    store.put("/pods", {"metadata": {"name": "c", "namespace": "ns"}}, ADDED)  # after the block: its own commit
    assert _on_disk(path) == {("ns", "a"): 3, ("ns", "c"): 5}
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
    assert _on_disk(path) == {("ns", "a"): 1} and store.get("/pods", "ns", "a") is not None
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
    assert Store(path).rv == 5


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
    """The number of writes of each of the store's SQLite transactions, as they happen."""
    sizes: list[int] = []
    commit = store._commit

    def counted(writes):
        sizes.append(len(writes))
        commit(writes)

    store._commit = counted
    return sizes


def test_a_controllers_writes_are_committed_together_at_the_end_of_the_pass(tmp_path):
    """DEFERRED (the controllers' workers): memory has each write at once, the disk all of them in one transaction
    when the event loop's pass ends - before the task that wrote them runs again - each object's last version only."""
    path = tmp_path / "store.sqlite"
    store = Store(path)
    sizes = _counting_commits(store)

    async def worker() -> None:
        DEFERRED.set(True)
        for name in ("a", "b", "c"):
            store.put("/pods", {"metadata": {"name": name, "namespace": "ns"}}, ADDED)
        with store.batch():  # a batch in a deferred task joins the same transaction
            store.put("/pods", {"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}}}, MODIFIED)
        assert _on_disk(path) == {} and store.get("/pods", "ns", "c").rv == 3
        rows = store.db.total_changes
        await asyncio.sleep(0)
        assert _on_disk(path) == {("ns", "a"): 4, ("ns", "b"): 2, ("ns", "c"): 3}
        assert sizes == [4]
        assert store.db.total_changes - rows == 3, "one row per object: only a's last version is written"

    asyncio.run(worker())
    assert not DEFERRED.get(), "the flag is the worker task's own"
    store.close()


def test_a_clients_write_commits_the_deferred_writes_before_it_in_one_transaction(tmp_path):
    """On disk is always a prefix of the writes in resourceVersion order: an undeferred write (a client's) takes the
    deferred ones before it along; flush() and close() commit what is left."""
    path = tmp_path / "store.sqlite"
    store = Store(path)
    sizes = _counting_commits(store)

    def controller(name: str) -> None:
        """A write as a controller's worker makes it, within this pass of the loop."""

        def write() -> None:
            DEFERRED.set(True)
            store.put("/pods", {"metadata": {"name": name, "namespace": "ns"}}, ADDED)

        contextvars.copy_context().run(write)

    async def run() -> None:
        controller("a")
        assert _on_disk(path) == {}
        store.put("/pods", {"metadata": {"name": "b", "namespace": "ns"}}, ADDED)  # this task is not deferred
        assert _on_disk(path) == {("ns", "a"): 1, ("ns", "b"): 2} and sizes == [2]
        controller("c")
        store.flush()
        assert _on_disk(path) == {("ns", "a"): 1, ("ns", "b"): 2, ("ns", "c"): 3} and sizes == [2, 1]
        controller("d")
        store.close()  # shutdown commits the rest too

    asyncio.run(run())
    assert _on_disk(path) == {("ns", "a"): 1, ("ns", "b"): 2, ("ns", "c"): 3, ("ns", "d"): 4}
    assert sizes == [2, 1, 1]
