"""The store's disk writer (store/journal.py), a process of its own: acknowledged writes survive the main process's
kill -9, the disk always holds a prefix of the writes, a restart waits for a killed simulator's writer, a dead writer
fails what waits for it, and a main process that never waits does not wedge the pipes."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from dvp_simulator.store import journal
from dvp_simulator.store.journal import JournalFailed
from dvp_simulator.store.store import ADDED, Store


def pod(name: str, pad: int = 0) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "annotations": {"pad": "x" * pad}}}


def rows(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT name, rv FROM objects WHERE res='/pods'"))


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from dvp_simulator.store.store import ADDED, Store
    store = Store(__import__("pathlib").Path(sys.argv[1]))
    for i in range(300):
        store.put("/pods", {"metadata": {"name": f"p{i:04d}", "namespace": "ns", "annotations": {"pad": "x" * 3000}}}, ADDED)
        if i == 99:
            store.sync()  # the first 100 are acknowledged, as a response would have waited for them
            print(store.rv, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # 200 more sent, none waited for
    """
)


def test_a_kill_9_keeps_every_acknowledged_write_and_a_prefix_of_the_rest(tmp_path):
    path = tmp_path / "store.sqlite"
    run = subprocess.run([sys.executable, "-c", KILLED, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == -signal.SIGKILL, run.stderr
    acknowledged = int(run.stdout)
    store = Store(path)  # waits for the killed process's writer to finish, then reads
    try:
        on_disk = rows(path)
        assert all(on_disk.get(f"p{i:04d}") == i + 1 for i in range(acknowledged)), "an acknowledged write was lost"
        assert sorted(on_disk.values()) == list(range(1, len(on_disk) + 1)), "the disk holds a prefix of the writes"
        assert store.rv == len(on_disk) and len(store.list("/pods")) == len(on_disk)
        assert store.put("/pods", pod("after"), ADDED).rv == len(on_disk) + 1
    finally:
        store.close()


def test_a_second_simulator_on_the_same_state_is_refused_while_the_first_runs(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    first = Store(path)
    try:
        monkeypatch.setattr(journal, "LOCK_WAIT", 0.2)
        with pytest.raises(RuntimeError, match="in use by another simulator"):
            Store(path)
    finally:
        first.close()
    Store(path).close()  # free once the first has stopped


def test_a_dead_writer_fails_what_waits_for_it(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    store.put("/pods", pod("a"), ADDED)
    store.sync()
    store.journal.process.kill()
    store.journal.process.wait()

    async def wait() -> None:
        store.put("/pods", pod("b"), ADDED)
        await store.durable()

    with pytest.raises(JournalFailed):
        asyncio.run(wait())
    with pytest.raises(JournalFailed):
        store.put("/pods", pod("c"), ADDED)
    with pytest.raises(JournalFailed):
        store.close()


def test_a_writer_gone_while_idle_is_reported_once_at_once_and_a_close_is_not(tmp_path):
    """watch_disk: the loop watches the writer's pipe, so a writer that dies with every write acknowledged (nothing
    waits, nothing is sent) is found by its end of file alone, reported once; an orderly close reports nothing."""
    reports: list[str] = []

    async def idle_death() -> None:
        store = Store(tmp_path / "a" / "store.sqlite")
        store.put("/pods", pod("a"), ADDED)
        await store.durable()
        store.watch_disk(reports.append)
        store.journal.process.kill()
        for _tick in range(200):
            if reports:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(JournalFailed):
            store.put("/pods", pod("b"), ADDED)
            await store.durable()
        with pytest.raises(JournalFailed):
            store.close()

    (tmp_path / "a").mkdir()
    asyncio.run(idle_death())
    assert len(reports) == 1 and "disk writer exited" in reports[0], reports

    async def orderly() -> None:
        store = Store(tmp_path / "b" / "store.sqlite")
        store.watch_disk(reports.append)
        store.put("/pods", pod("a"), ADDED)
        await store.durable()
        store.close()

    (tmp_path / "b").mkdir()
    asyncio.run(orderly())
    assert len(reports) == 1
    assert rows(tmp_path / "b" / "store.sqlite") == {"a": 1}


def test_durable_waits_for_the_writer_without_blocking_the_loop(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path)

    async def run() -> list[str]:
        steps: list[str] = []

        async def other() -> None:
            steps.append("other task ran")

        for i in range(50):
            store.put("/pods", pod(f"p{i}", 4000), ADDED)
        rv = store.rv
        waiting = asyncio.ensure_future(store.durable())
        await asyncio.gather(other(), waiting)
        steps.append("durable")
        assert rows(path).get("p49") == rv
        await store.durable(1)  # already on disk: returns at once
        return steps

    assert asyncio.run(run()) == ["other task ran", "durable"]
    store.close()


def test_many_transactions_never_waited_for_do_not_wedge_the_pipes(tmp_path, monkeypatch):
    """With pipes of one page, the writer's acknowledgements fill theirs after ~500 transactions; unless the main
    process drains them as it sends, the writer blocks on them and stops reading, and the next send blocks forever."""
    monkeypatch.setattr(journal, "PIPE_SIZE", 4096)
    path = tmp_path / "store.sqlite"
    store = Store(path)
    for i in range(3000):
        store.put("/pods", pod(f"p{i % 50}"), ADDED if i < 50 else "MODIFIED")
    store.sync()
    assert rows(path)["p49"] == 3000
    store.close()
