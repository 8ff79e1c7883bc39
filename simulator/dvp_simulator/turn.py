"""The writers' turn: who may write to the store now, in one event loop.

API requests that write (admission, the store's transaction) and the controllers' workers (a slice of reconciles)
take the turn; reads never do. One holder at a time, and two queues of waiters, each first come first served:
clients' writes and controller workers. A release hands the turn to the next client write unless the previous
holder was a client write and a worker waits, so the two alternate while both wait:

- a client's write waits behind at most one worker's slice (controllers/runtime.py SLICE), not behind every busy
  worker queued before it: kube-apiserver serves a request beside the controllers, which are clients of it with
  their own rate limits, not a queue it is in;
- a stream of client writes cannot starve the controllers: each write is followed by a slice of reconciles.

asyncio.Lock's contract otherwise: `async with turn` (a client write) or acquire() / release() (a worker); a waiter
cancelled before it got the turn leaves its queue, one cancelled after passes the turn on."""

from __future__ import annotations

import asyncio
from collections import deque


def after_io() -> asyncio.Future[None]:
    """Await to yield to the event loop until the sockets have been polled and their callbacks queued: a timer due
    at once, which the loop queues after the I/O callbacks of its next pass (`asyncio.sleep(0)` is queued before
    them). A long task that yields this way between slices lets a request that arrived meanwhile be read and
    handled before its next slice: with sleep(0) the next slice (this task's, or the next worker's it hands the
    turn to) was queued ahead of the request's handler and a GET waited behind two slices instead of one."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    loop.call_later(0, _wake, future)
    return future


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # cancelled meanwhile
        future.set_result(None)


class Turn:
    def __init__(self) -> None:
        self._held = False
        self._clients: deque[asyncio.Future[None]] = deque()
        self._workers: deque[asyncio.Future[None]] = deque()
        self._client_last = False  # whether the holder (or the last one) is a client write

    def locked(self) -> bool:
        return self._held

    async def acquire(self, client: bool = False) -> None:
        """Wait for the turn: `client` for an API request's write, else a controller worker's slice."""
        if not self._held and not self._clients and not self._workers:
            self._held, self._client_last = True, client
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._clients if client else self._workers
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the turn was handed over as the waiter was cancelled: pass it on
            elif waiter in queue:
                # A cancelled waiter a release() already popped and skipped (cancelled futures are passed over) is
                # no longer queued: its task was cancelled with the future, before its handler here ran.
                queue.remove(waiter)
            raise

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("Turn is not held")
        while True:
            if self._clients and not (self._client_last and self._workers):
                waiter, self._client_last = self._clients.popleft(), True
            elif self._workers:
                waiter, self._client_last = self._workers.popleft(), False
            else:
                self._held = False
                return
            if not waiter.done():
                waiter.set_result(None)  # the turn passes to it, still held
                return

    async def __aenter__(self) -> None:
        await self.acquire(client=True)

    async def __aexit__(self, *exc: object) -> None:
        self.release()
