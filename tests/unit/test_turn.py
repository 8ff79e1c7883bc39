"""The writers' turn (simulator/dvp_simulator/turn.py): alternation of client writes and worker slices, and waiters
cancelled before and after the turn reached them."""

from __future__ import annotations

import asyncio

import pytest

from dvp_simulator.turn import Turn


def run(coro):
    return asyncio.run(coro)


def test_clients_and_workers_alternate_while_both_wait():
    async def main():
        turn, order = Turn(), []
        await turn.acquire()  # a worker holds it

        async def take(tag: str, client: bool):
            await turn.acquire(client=client)
            order.append(tag)
            turn.release()

        tasks = [asyncio.create_task(take(f"c{i}", True)) for i in range(3)]
        tasks += [asyncio.create_task(take(f"w{i}", False)) for i in range(3)]
        await asyncio.sleep(0)
        turn.release()
        await asyncio.gather(*tasks)
        return order, turn.locked()

    order, locked = run(main())
    assert order == ["c0", "w0", "c1", "w1", "c2", "w2"]
    assert not locked


def test_waiter_cancelled_before_its_turn_leaves_the_queue():
    async def main():
        turn = Turn()
        await turn.acquire()
        waiting = asyncio.create_task(turn.acquire(client=True))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        turn.release()
        return turn.locked()

    assert run(main()) is False


def test_waiter_cancelled_and_skipped_by_a_release_raises_cancelled_not_value_error():
    """A task cancelled while it waits cancels its waiter future at once; a release() before the task runs again pops
    that future and skips it. The task's cleanup must not then fail to find it in the queue (it raised ValueError
    instead of CancelledError: seen as 'unhandled exception' noise from every worker at shutdown)."""

    async def main():
        turn = Turn()
        await turn.acquire()
        waiting = asyncio.create_task(turn.acquire())
        await asyncio.sleep(0)
        waiting.cancel()  # the waiter future is cancelled now; the task's handler runs on its next step
        turn.release()  # pops the cancelled waiter, skips it, frees the turn
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return turn.locked()

    assert run(main()) is False


def test_waiter_handed_the_turn_as_it_is_cancelled_passes_it_on():
    async def main():
        turn = Turn()
        await turn.acquire()
        first = asyncio.create_task(turn.acquire())
        second = asyncio.create_task(turn.acquire())
        await asyncio.sleep(0)
        turn.release()  # hands the turn to `first` (its future done), which has not run yet
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await second  # `first` passed the turn on
        held = turn.locked()
        turn.release()
        return held, turn.locked()

    assert run(main()) == (True, False)
