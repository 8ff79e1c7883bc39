"""The simulated clock's timers, stepped with `advance` (no sleeping: the clock runs 1e-6 × real time here, so
only `advance` makes time pass in a test's span), and the node topology's generated addresses and podCIDRs."""

import asyncio

import pytest

from dvp_simulator.clock import Clock
from dvp_simulator.controllers.runtime import WorkQueue
from dvp_simulator.nodes.topology import TopologyError, parse

FROZEN = 1e-6  # simulated seconds per real second: a test's few milliseconds are nanoseconds of simulated time


def test_advance_fires_due_timers_in_deadline_order_each_at_its_deadline():
    async def run():
        clock = Clock(scale=FROZEN)
        start = clock.time()
        fired = []
        for delay in (30.0, 10.0, 20.0, 50.0):
            clock.call_later(delay, lambda d: fired.append((d, clock.time() - start)), delay)
        assert clock.advance(25) == 2
        assert [d for d, _unused in fired] == [10.0, 20.0]
        assert [seen for _unused, seen in fired] == pytest.approx([10.0, 20.0], abs=1e-3), "each callback sees its own deadline"
        assert clock.time() - start == pytest.approx(25.0, abs=1e-3)
        assert clock.advance(100) == 2
        assert [d for d, _unused in fired] == [10.0, 20.0, 30.0, 50.0]
        assert clock.pending() == 0

    asyncio.run(run())


def test_timers_set_by_callbacks_fire_within_the_same_advance():
    async def run():
        clock = Clock(scale=FROZEN)
        ticks = []

        def tick():
            ticks.append(clock.time())
            clock.call_later(10, tick)

        clock.call_later(10, tick)
        assert clock.advance(35) == 3
        assert [b - a for a, b in zip(ticks, ticks[1:], strict=False)] == pytest.approx([10.0, 10.0], abs=1e-3)

    asyncio.run(run())


def test_cancel_before_and_after_firing():
    async def run():
        clock = Clock(scale=FROZEN)
        fired = []
        keep = clock.call_later(5, fired.append, "keep")
        drop = clock.call_later(1, fired.append, "drop")
        drop.cancel()
        drop.cancel()  # idempotent
        assert clock.pending() == 1
        clock.advance(10)
        assert fired == ["keep"]
        keep.cancel()  # after firing: a no-op
        assert clock.pending() == 0

    asyncio.run(run())


def test_many_cancelled_timers_are_compacted():
    async def run():
        clock = Clock(scale=FROZEN)
        timers = [clock.call_later(100 + i, lambda: None) for i in range(1000)]
        for t in timers[:900]:
            t.cancel()
        clock.call_later(1, lambda: None)  # re-arming compacts a heap that is mostly cancelled
        assert clock.pending() == 101
        assert len(clock._timers) < 400
        assert clock.advance(2000) == 101

    asyncio.run(run())


def test_sleep_ends_on_advance_and_cancels_its_timer():
    async def run():
        clock = Clock(scale=FROZEN)
        start = clock.time()
        woke = []

        async def sleeper(seconds):
            await clock.sleep(seconds)
            woke.append(round(clock.time() - start))

        tasks = [asyncio.create_task(sleeper(s)) for s in (600, 60)]
        await asyncio.sleep(0)
        assert clock.pending() == 2
        clock.advance(61)
        await asyncio.sleep(0)
        assert woke == [61]
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        assert clock.pending() == 0, "a cancelled sleep leaves no timer behind"

    asyncio.run(run())


def test_timers_also_fire_in_real_time_at_scale():
    async def run():
        clock = Clock(scale=1000.0)  # 10 simulated seconds = 10 ms
        done = asyncio.Event()
        order = []
        clock.call_later(20, lambda: (order.append(20), done.set()))
        clock.call_later(10, order.append, 10)
        await asyncio.wait_for(done.wait(), 5)
        assert order == [10, 20]

    asyncio.run(run())


def test_advance_refuses_going_backwards_and_non_numbers(tmp_path):
    clock = Clock(scale=1.0, state_file=tmp_path / "clock")
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            clock.advance(bad)
    clock.advance(3600)  # no timers: needs no event loop
    assert Clock(scale=1.0, state_file=tmp_path / "clock").time() >= clock.time() - 1, "an advance is saved: a restart does not go back"
    assert (tmp_path / "clock").stat().st_mode & 0o777 == 0o600


def test_workqueue_add_after_keeps_the_earlier_deadline():
    async def run():
        clock = Clock(scale=FROZEN)
        q = WorkQueue(clock)
        key = ("", "k")
        q.add_after(key, 60)
        q.add_after(key, 600)  # later: the pending 60 s timer wins
        q.add_after(key, 30)  # earlier: replaces it
        assert clock.pending() == 1
        clock.advance(31)
        assert await asyncio.wait_for(q.get(), 1) == key

    asyncio.run(run())


def node(name, **extra):
    return {"name": name, "cpu": {"model": "Nehalem"}, **extra}


def test_topology_gives_distinct_addresses_and_pod_cidrs_beyond_a_slash_24():
    topo = parse({"cluster": {"podSubnetCIDR": "10.96.0.0/12"}, "nodes": [node(f"n-{i}") for i in range(1000)] + [node("fixed", address="192.168.0.11")]})
    addresses = [n.address for n in topo.nodes]
    assert len(set(addresses)) == 1001
    assert addresses[:3] == ["192.168.0.10", "192.168.0.12", "192.168.0.13"], "an explicit address is skipped by generation"
    assert topo.nodes[999].address == "192.168.3.242"  # 10 + 999 + the skipped one = 3 × 256 + 242
    assert len({n.pod_cidr for n in topo.nodes}) == 1001
    assert topo.nodes[256].pod_cidr == "10.97.0.0/24"


def test_topology_networks_too_small_are_refused_naming_the_field():
    with pytest.raises(
        TopologyError, match=r"cluster\.podSubnetCIDR: 10\.111\.0\.0/16 has room for 256 node pod subnets of /24, but the topology has 257 nodes"
    ):
        parse({"nodes": [node(f"n-{i}") for i in range(257)]})
    with pytest.raises(TopologyError, match=r"cluster\.nodeSubnetCIDR: 10\.0\.0\.0/28 has room for 5 generated node addresses, not enough for nodes\[5\]"):
        parse({"cluster": {"nodeSubnetCIDR": "10.0.0.0/28"}, "nodes": [node(f"n-{i}") for i in range(6)]})
    with pytest.raises(TopologyError, match=r"nodes\[1\]\.address: 192\.168\.0\.10 is already the address of nodes\[0\]"):
        parse({"nodes": [node("a", address="192.168.0.10"), node("b", address="192.168.0.10")]})
    with pytest.raises(TopologyError, match=r"cluster\.podSubnetNodeCIDRPrefix: must be a prefix length between 16"):
        parse({"cluster": {"podSubnetNodeCIDRPrefix": 8}, "nodes": []})
    assert parse({"cluster": {"podSubnetNodeCIDRPrefix": "26"}, "nodes": [node(f"n-{i}") for i in range(1024)]}).nodes[-1].pod_cidr == "10.111.255.192/26"
