"""The fleet's kubelet rounds: every node renews its Lease once per LEASE_RENEW on its own phase, and renewals
falling due together share one store transaction (at most BEAT_GROUP of them), so a big fleet's idle cost is
not a commit per renewal."""

import asyncio
import contextlib

from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.nodes.agent import LEASE_RENEW
from dvp_simulator.nodes.fleet import BEAT_GROUP, Fleet
from dvp_simulator.nodes.topology import parse
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Store

NODES = 200  # 10 s / 200 = one renewal due every 50 ms of simulated time: four in each 0.2 s window
STEP = 0.1  # the test moves the clock in steps of 0.1 simulated s and lets the loop run after each
ROUNDS = 3
LEASES = "coordination.k8s.io/leases"


def test_renewals_keep_their_phase_and_share_transactions(tmp_path):
    """Time is stepped by the test (the clock barely moves on its own), so what is counted does not depend on how
    fast the machine is: a loaded CI runner once starved a wall-clock version of this test of two intervals."""
    cpu = {"vendor": "Intel", "model": "Haswell-noTSX", "cores": 4}
    topology = parse({"nodes": [{"name": f"n-{i:03d}", "cpu": cpu, "memory": "8Gi"} for i in range(NODES)]})

    async def run():
        registry = build_registry()
        clock = Clock(scale=1e-9)  # a second of wall time is a nanosecond of simulated time
        store = Store(tmp_path / "store.sqlite")
        service = ObjectService(registry, store, clock)
        for ns in ("kube-node-lease", "d8-virtualization"):
            service.create(registry.types["/namespaces"], "", {"metadata": {"name": ns}}, WriteOptions(version="v1"))
        commits: list[list[str]] = []  # the resources written by each outermost store batch (one transaction each)
        batch = store.batch

        @contextlib.contextmanager
        def counting():
            outer = store._batched is None
            with batch():
                yield
                if outer:
                    commits.append([write[0] for write in store._batched])

        store.batch = counting
        fleet = Fleet(topology, service, clock)
        fleet.start()
        try:
            # The beat loop starts and sets every node's first deadline (its phase from now); the rounds due at once
            # renew Leases registration wrote in the same second (a no-op write): counting starts after them.
            for _turn in range(20):
                await asyncio.sleep(0)
            clock.advance(STEP / 4)  # rounds fall due on multiples of 0.05 s: off them, no horizon lands on one
            counted, before = len(commits), {name: agent.stats["renewals"] for name, agent in fleet.agents.items()}
            for _step in range(round(ROUNDS * LEASE_RENEW / STEP)):
                clock.advance(STEP)
                for _turn in range(20):  # a handful of rounds fall due per step: one or two groups, a turn each
                    await asyncio.sleep(0)
        finally:
            await fleet.stop()
        return [agent.stats["renewals"] - before[name] for name, agent in fleet.agents.items()], commits[counted:]

    renewals, commits = asyncio.run(run())
    # Every node renewed once per interval on its own phase: ROUNDS times in ROUNDS intervals, once more for the
    # few whose phase puts a fourth round within BEAT_WINDOW (made early) of the end; never doubled up.
    assert set(renewals) <= {ROUNDS, ROUNDS + 1}, renewals
    assert renewals.count(ROUNDS + 1) <= NODES // 10, renewals
    # a round that also reposts the node status (every STATUS_HEARTBEAT) commits its Node with its Lease
    beats = [writes.count(LEASES) for writes in commits if LEASES in writes]
    assert sum(beats) == sum(renewals), "every renewal was committed by the beat loop"
    assert max(beats) <= BEAT_GROUP
    assert len(beats) * 2 <= sum(renewals), f"{sum(renewals)} renewals in {len(beats)} transactions: not grouped"


def test_a_clock_step_renews_every_late_lease_before_anything_else_runs(tmp_path):
    """After the clock is stepped past several intervals, every node's round is made in the next step of the loop
    (the fencing controller woken by the same step yields a few times to let them land, then judges the Leases)."""
    cpu = {"vendor": "Intel", "model": "Haswell-noTSX", "cores": 4}
    topology = parse({"nodes": [{"name": f"n-{i:03d}", "cpu": cpu, "memory": "8Gi"} for i in range(NODES)]})

    async def run():
        registry = build_registry()
        clock = Clock(scale=1.0)
        service = ObjectService(registry, Store(None), clock)
        for ns in ("kube-node-lease", "d8-virtualization"):
            service.create(registry.types["/namespaces"], "", {"metadata": {"name": ns}}, WriteOptions(version="v1"))
        fleet = Fleet(topology, service, clock)
        fleet.start()
        try:
            await asyncio.sleep(0.05)  # the beat loop is waiting for the first deadlines
            before = [agent.stats["renewals"] for agent in fleet.agents.values()]
            clock.advance(3600)
            for _count in range(3):
                await asyncio.sleep(0)
            after = [agent.stats["renewals"] for agent in fleet.agents.values()]
        finally:
            await fleet.stop()
        return before, after

    before, after = asyncio.run(run())
    # once each (twice for the few whose next round falls within BEAT_WINDOW of the step)
    renewed = [a - b for a, b in zip(after, before, strict=True)]
    assert all(1 <= count <= 2 for count in renewed), f"not every node renewed within three loop steps: {renewed}"


def test_a_restart_posts_an_unchanged_node_status_at_the_first_round(tmp_path):
    """A fleet started again on its store (the simulator's restart) finds each Node's status as the topology has it
    but for its times: registration writes no Node status (the Lease only), the node's first round posts the
    heartbeat times and keeps the transition times. A Node whose status differs otherwise (capacity) is written at
    registration, as before."""
    cpu = {"vendor": "Intel", "model": "Haswell-noTSX", "cores": 4}
    spec = {"nodes": [{"name": f"n-{i}", "cpu": cpu, "memory": "8Gi"} for i in range(3)]}
    bigger = {"nodes": [dict(n, memory="16Gi") if n["name"] == "n-2" else n for n in spec["nodes"]]}

    def node(service, registry, name):
        return service.find(registry.types["/nodes"], "", name)

    async def run():
        registry = build_registry()
        clock = Clock(scale=1e-9)
        store = Store(tmp_path / "store.sqlite")
        service = ObjectService(registry, store, clock)
        for ns in ("kube-node-lease", "d8-virtualization"):
            service.create(registry.types["/namespaces"], "", {"metadata": {"name": ns}}, WriteOptions(version="v1"))
        fleet = Fleet(parse(spec), service, clock)
        fleet.start()
        await fleet.stop()
        first = {n: node(service, registry, n) for n in ("n-0", "n-1", "n-2")}
        clock.advance(100.0)
        written: list[str] = []
        store.observe("/nodes", lambda event: written.append(event.entry.name))
        fleet = Fleet(parse(bigger), service, clock)
        fleet.start()  # registration
        registered = list(written)
        try:
            for _step in range(round(LEASE_RENEW / STEP) + 2):  # one round of every node
                clock.advance(STEP)
                for _turn in range(5):
                    await asyncio.sleep(0)
        finally:
            await fleet.stop()
        return first, registered, {n: node(service, registry, n) for n in ("n-0", "n-1", "n-2")}

    first, registered, after = asyncio.run(run())
    assert registered == ["n-2"], "only the Node whose capacity changed is written at registration"
    assert after["n-2"]["status"]["capacity"]["memory"] == "16Gi"
    for name in ("n-0", "n-1"):
        before, now = first[name]["status"]["conditions"], after[name]["status"]["conditions"]
        assert [c["lastTransitionTime"] for c in now] == [c["lastTransitionTime"] for c in before]
        assert all(a["lastHeartbeatTime"] > b["lastHeartbeatTime"] for a, b in zip(now, before, strict=True)), (before, now)
