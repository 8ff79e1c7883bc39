"""Store.wait_for_rv: a request waiting for a resourceVersion the store has not reached is woken by the write that
reaches it (no polling), and leaves nothing behind when it times out or its client goes away."""

import asyncio
import time

from dvp_simulator.store.store import ADDED, Store


def obj(name):
    return {"metadata": {"name": name, "namespace": "ns"}}


def test_a_write_reaching_the_version_wakes_the_waiters_and_only_those():
    async def scenario():
        store = Store(None)
        store.put("/configmaps", obj("a"), ADDED)
        start = store.rv
        near = asyncio.create_task(store.wait_for_rv(start + 2, 5))
        far = asyncio.create_task(store.wait_for_rv(start + 3, 0.3))
        await asyncio.sleep(0.01)
        assert not near.done() and len(store._rv_waiters) == 2
        store.put("/configmaps", obj("b"), ADDED)
        await asyncio.sleep(0.01)
        assert not near.done(), "woken before the store reached its version"
        began = time.monotonic()
        store.put("/secrets", obj("c"), ADDED)  # any resource's write moves the one resourceVersion
        assert await near is True and time.monotonic() - began < 0.5
        assert [w[0] for w in store._rv_waiters] == [start + 3]
        assert await far is False  # timed out: nobody wrote again
        assert store._rv_waiters == []
        assert await store.wait_for_rv(start, 5) is True and store._rv_waiters == []  # reached already: no wait

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_heap():
    async def scenario():
        store = Store(None)
        waiters = [asyncio.create_task(store.wait_for_rv(100 + i, 60)) for i in range(5)]
        await asyncio.sleep(0.01)
        assert len(store._rv_waiters) == 5
        waiters[2].cancel()
        await asyncio.gather(waiters[2], return_exceptions=True)
        assert sorted(w[0] for w in store._rv_waiters) == [100, 101, 103, 104]
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert store._rv_waiters == []

    asyncio.run(scenario())
