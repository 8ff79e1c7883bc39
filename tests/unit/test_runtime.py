"""The controller runtime and the clock, driven in-process with a real store."""

import asyncio
import itertools
import time

import pytest

from dvp_simulator.api.errors import APIError
from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.controllers import runtime
from dvp_simulator.controllers.runtime import Controller, Manager, PermanentError, Requeue, WorkQueue
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Store


def test_clock_scale_and_persistence(tmp_path):
    clock = Clock(scale=100.0, state_file=tmp_path / "clock")
    start = clock.time()
    assert clock.real_seconds(60) == pytest.approx(0.6)
    clock.save()
    later = Clock(scale=1.0, state_file=tmp_path / "clock")
    assert later.time() >= start, "the clock never goes backwards across restarts"
    with pytest.raises(ValueError):
        Clock(scale=0)


def test_workqueue_serialises_a_key_and_replays_adds():
    async def run():
        q = WorkQueue(Clock(scale=1000.0))
        q.add(("ns", "a"))
        q.add(("ns", "a"))
        key = await q.get()
        assert q.queue.empty(), "a key is queued once"
        q.add(key)  # added while processing: remembered, not handed to another worker
        assert q.queue.empty()
        q.done(key)
        assert await asyncio.wait_for(q.get(), 1) == key

    asyncio.run(run())


def test_workqueue_backoff_grows_and_forget_resets():
    async def run():
        q = WorkQueue(Clock(scale=1.0), base_delay=0.01)
        key = ("", "k")
        for expected in (1, 2, 3):
            q.add_rate_limited(key)
            assert q.failures[key] == expected
        q.forget(key)
        assert key not in q.failures
        got = await asyncio.wait_for(q.get(), 2)
        assert got == key

    asyncio.run(run())


def test_manager_reconciles_on_watch_events_with_requeue_on_the_sim_clock():
    async def run():
        registry = build_registry()
        clock = Clock(scale=1000.0)
        service = ObjectService(registry, Store(None), clock)
        ns = registry.types["/namespaces"]
        service.create(ns, "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
        seen: list[tuple[str, str]] = []
        failures = {"n": 0}

        async def reconcile(ctx, key):
            seen.append(key)
            if key[1] == "flaky" and failures["n"] < 2:
                failures["n"] += 1
                raise RuntimeError("transient")
            if key[1] == "timer" and seen.count(key) < 3:
                return Requeue(after=10.0)  # 10 simulated seconds = 10 ms here
            return None

        manager = Manager(service, clock)
        manager.add(Controller("test", "/secrets", reconcile))
        await manager.start()
        for name in ("plain", "flaky", "timer"):
            service.create(registry.types["/secrets"], "default", {"metadata": {"name": name}}, WriteOptions(version="v1"))
        for _unused in range(200):
            await asyncio.sleep(0.01)
            if seen.count(("default", "timer")) >= 3 and seen.count(("default", "flaky")) >= 3:
                break
        await manager.stop()
        assert seen.count(("default", "plain")) == 1
        assert seen.count(("default", "flaky")) == 3, "failures are retried with backoff until success"
        assert seen.count(("default", "timer")) == 3

    asyncio.run(run())


def test_watch_events_reach_the_queue_within_the_write_a_failing_mapper_fails_no_write_and_stop_unsubscribes():
    async def run():
        registry = build_registry()
        clock = Clock(scale=1000.0)
        store = Store(None)
        service = ObjectService(registry, store, clock)
        ns = registry.types["/namespaces"]
        service.create(ns, "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
        seen: list[tuple[str, str]] = []

        async def reconcile(ctx, key):
            seen.append(key)

        def secret_to_config(event):
            if event.entry.name == "bad":
                raise ValueError("a mapper's bug")
            return [("default", "cfg-" + event.entry.name)]

        manager = Manager(service, clock)
        manager.add(Controller("test", "/configmaps", reconcile, secondary={"/secrets": secret_to_config}))
        await manager.start()
        queue = manager.controllers[0][1]
        secrets = registry.types["/secrets"]
        service.create(secrets, "default", {"metadata": {"name": "a"}}, WriteOptions(version="v1"))
        assert ("default", "cfg-a") in queue.queued, "the key is queued within the write, before anything awaits"
        created = service.create(secrets, "default", {"metadata": {"name": "bad"}}, WriteOptions(version="v1"))
        assert created.obj["metadata"]["name"] == "bad", "the write succeeds although the mapper raised"
        for _unused in range(100):
            await asyncio.sleep(0.01)
            if seen:
                break
        assert seen == [("default", "cfg-a")]
        await manager.stop()
        assert not store.observers.get("/secrets") and not store.observers.get("/configmaps"), "stop unsubscribes"
        service.create(secrets, "default", {"metadata": {"name": "b"}}, WriteOptions(version="v1"))
        assert ("default", "cfg-b") not in queue.queued

    asyncio.run(run())


def test_permanent_error_is_reported_once_as_a_warning_event_and_not_retried():
    async def run():
        registry = build_registry()
        clock = Clock(scale=1000.0)
        service = ObjectService(registry, Store(None), clock)
        secrets_rt = registry.types["/secrets"]
        service.create(registry.types["/namespaces"], "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
        seen: list[tuple[str, str]] = []

        async def reconcile(ctx, key):
            seen.append(key)
            raise PermanentError("BadSource", f"the source of {key[1]} can never be imported")

        manager = Manager(service, clock)
        manager.add(Controller("test", "/secrets", reconcile))
        await manager.start()
        service.create(secrets_rt, "default", {"metadata": {"name": "broken"}}, WriteOptions(version="v1"))
        await manager.settle()
        await asyncio.sleep(0.2)  # backoff would have retried several times by now (base 5 ms, 1000× clock)
        assert seen == [("default", "broken")], "a permanent error is not requeued"

        # an unrelated change of the object reconciles it again: same error, no second Event
        service.patch(secrets_rt, "default", "broken", "application/merge-patch+json", {"metadata": {"labels": {"a": "b"}}}, WriteOptions(version="v1"))
        await manager.settle()
        await asyncio.sleep(0.05)
        await manager.stop()
        assert seen == [("default", "broken")] * 2
        events = [e.obj for e in service.store.list("/events", "default")]
        assert [(e["type"], e["reason"], e["involvedObject"]["name"]) for e in events] == [("Warning", "BadSource", "broken")]
        assert events[0]["message"] == "the source of broken can never be imported"
        assert events[0]["source"]["component"] == "test"

    asyncio.run(run())


def test_a_refused_write_is_permanent_and_a_conflict_is_retried():
    async def run():
        registry = build_registry()
        clock = Clock(scale=1000.0)
        service = ObjectService(registry, Store(None), clock)
        secrets_rt = registry.types["/secrets"]
        service.create(registry.types["/namespaces"], "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
        calls: dict[str, int] = {}

        async def reconcile(ctx, key):
            calls[key[1]] = calls.get(key[1], 0) + 1
            if key[1] == "invalid":  # the controller's own write, refused by admission: 422
                ctx.service.update(secrets_rt, "default", "invalid", {"metadata": {"name": "invalid"}, "type": 7}, WriteOptions(version="v1"))
            if key[1] == "racing" and calls["racing"] < 3:
                raise APIError(409, "the object has been modified")
            return None

        manager = Manager(service, clock)
        manager.add(Controller("test", "/secrets", reconcile))
        await manager.start()
        for name in ("invalid", "racing"):
            service.create(secrets_rt, "default", {"metadata": {"name": name}}, WriteOptions(version="v1"))
        for _unused in range(100):
            await asyncio.sleep(0.01)
            if calls.get("racing", 0) >= 3:
                break
        await asyncio.sleep(0.1)
        await manager.stop()
        assert calls == {"invalid": 1, "racing": 3}, "422 is not retried, 409 is until it succeeds"
        events = [e.obj for e in service.store.list("/events", "default")]
        assert [(e["type"], e["reason"], e["involvedObject"]["name"]) for e in events] == [("Warning", "ReconcileInvalid", "invalid")]

    asyncio.run(run())


def test_one_slice_of_reconciles_per_pass_of_the_event_loop_and_writes_queue_for_the_same_turn():
    """Three controllers with a backlog each: in any one pass of the event loop only one of them reconciles (the
    writers' turn), every one of them gets turns (first come, first served), and an API-side writer taking the turn
    between them is served within a few passes instead of after the backlogs."""

    async def run():
        registry = build_registry()
        clock = Clock(scale=1.0)
        service = ObjectService(registry, Store(None), clock)
        service.create(registry.types["/namespaces"], "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
        passes = {"n": 0}
        runs: list[tuple[int, str]] = []  # (pass of the loop, controller) of every reconcile

        async def ticker():
            while True:
                await asyncio.sleep(0)
                passes["n"] += 1

        def busy(name):
            async def reconcile(ctx, key):
                runs.append((passes["n"], name))
                end = time.monotonic() + runtime.SLICE / 4  # a reconcile that computes for a while
                while time.monotonic() < end:
                    pass
                return None

            return reconcile

        manager = Manager(service, clock)
        for name in ("a", "b", "c"):
            manager.add(Controller(name, "/secrets", busy(name)))
        for i in range(60):
            service.create(registry.types["/secrets"], "default", {"metadata": {"name": f"s{i}"}}, WriteOptions(version="v1"))
        tick = asyncio.create_task(ticker())
        await manager.start()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        asked = passes["n"]
        async with manager.turn:  # what the API server does around a write
            served = passes["n"]
        await manager.settle(timeout=30)
        await manager.stop()
        tick.cancel()
        assert len(runs) == 180, "every controller reconciled every key"
        by_pass: dict[int, set[str]] = {}
        for at, name in runs:
            by_pass.setdefault(at, set()).add(name)
        assert all(len(names) == 1 for names in by_pass.values()), "two controllers reconciled in one pass of the loop"
        order = [name for _at, name in runs]
        switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
        assert switches >= 20, "the turn goes round the busy controllers, a slice each, not one backlog after another"
        assert served - asked <= 8, "a writer waits behind the slices already queued, not behind whole backlogs"

    asyncio.run(run())


def test_a_request_arriving_during_a_slice_is_handled_before_the_next_slice():
    """A socket that becomes readable while a worker computes wakes a handler task (as aiohttp's connection task is
    woken by data_received); that task runs before the next slice of reconciles, not after it (turn.after_io)."""
    import socket

    async def run():
        registry = build_registry()
        clock = Clock(scale=1.0)
        service = ObjectService(registry, Store(None), clock)
        service.create(registry.types["/namespaces"], "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
        runs: list[str] = []
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        loop = asyncio.get_running_loop()
        arrived = loop.create_future()
        loop.add_reader(reader.fileno(), lambda: arrived.done() or arrived.set_result(reader.recv(16)))

        async def handler():
            await arrived
            runs.append("handled")

        def busy(name):
            async def reconcile(ctx, key):
                runs.append(name)
                if len(runs) == 3:
                    writer.send(b"GET")  # the request arrives during this slice
                end = time.monotonic() + runtime.SLICE * 2  # each reconcile a slice of its own
                while time.monotonic() < end:
                    pass
                return None

            return reconcile

        manager = Manager(service, clock)
        for name in ("a", "b"):
            manager.add(Controller(name, "/secrets", busy(name)))
        for i in range(5):
            service.create(registry.types["/secrets"], "default", {"metadata": {"name": f"s{i}"}}, WriteOptions(version="v1"))
        task = asyncio.create_task(handler())
        await manager.start()
        await manager.settle(timeout=30)
        await manager.stop()
        await task
        loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()
        assert runs.index("handled") == 3, f"the request waited behind another slice: {runs}"

    asyncio.run(run())


def test_clock_stamp_is_the_simulated_second_in_rfc3339():
    """stamp() is made once per simulated second: across seconds (1,000 a real second here) it is always the second
    of a reading taken around it, as datetime formats it."""
    from datetime import UTC, datetime

    rfc3339 = "%Y-%m-%dT%H:%M:%SZ"
    clock = Clock(scale=1000.0)
    seen = set()
    for attempt in range(1_000_000):  # until three simulated seconds went by (~3 ms), bounded should it never move
        before = clock.time()
        text = clock.stamp()
        after = clock.time()
        assert datetime.fromtimestamp(before, UTC).strftime(rfc3339) <= text <= datetime.fromtimestamp(after, UTC).strftime(rfc3339), attempt
        seen.add(text)
        if len(seen) == 3:
            break
    assert len(seen) == 3, "the stamp moves with the clock"
