"""How fast one core of this machine runs the simulator's own hot path, so that reports made on machines of different
speed can be compared: the figures of nearly the same code moved by 1.6x and more between the machines the reports were
made on, which the CPU model named in a report did not explain (two "AMD EPYC" virtual machines served 10,035 and 3,484
GETs a second in the API benchmark).

The reference is one write as the controllers make ~19 of per VM: a PersistentVolumeClaim's status written through
ObjectService in process — admission (pruning, defaults, the schema), managedFields, the store's indexes and watch
fan-out (no observers here), no HTTP and no disk. Blocks of writes alternate the claim's phase, so each one is a new
version; a block's cost is the thread's CPU time over its writes (time.thread_time: what other processes take from the
core does not count, what they take from its caches does). The figure is the median of the blocks, with their range.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "simulator") not in sys.path:
    sys.path.insert(0, str(ROOT / "simulator"))

BLOCKS, WRITES = 7, 500
PHASES = ("Pending", "Bound")


def write_cost(blocks: int = BLOCKS, writes: int = WRITES) -> tuple[float, float, float]:
    """(median, lowest, highest) µs of CPU per status write over `blocks` blocks of `writes` writes."""
    from dvp_simulator.api.service import ObjectService, WriteOptions
    from dvp_simulator.clock import Clock
    from dvp_simulator.resources import build_registry
    from dvp_simulator.store.store import Store

    registry = build_registry()
    service = ObjectService(registry, Store(None), Clock(scale=1.0))
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
    claims = registry.types["/persistentvolumeclaims"]
    body = {"metadata": {"name": "claim"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    claim = service.create(claims, "default", body, WriteOptions(version="v1", manager="kubectl")).obj
    opts = WriteOptions(version="v1", manager="calibration", subresource="status")
    costs = []
    for _block in range(blocks + 1):  # the first block warms up (caches of compiled checks, the allocator)
        first = int(claim["metadata"]["resourceVersion"])
        started = time.thread_time()
        for i in range(writes):
            status = {"phase": PHASES[i % len(PHASES)], "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
            claim = service.update(claims, "default", "claim", {**claim, "status": status}, opts).obj
        costs.append((time.thread_time() - started) / writes * 1e6)
        if int(claim["metadata"]["resourceVersion"]) - first != writes:  # a write that changed nothing costs a fraction
            raise RuntimeError(f"{writes} writes made {int(claim['metadata']['resourceVersion']) - first} versions")
    costs = costs[1:]
    return statistics.median(costs), min(costs), max(costs)


def text(cost: tuple[float, float, float]) -> str:
    return f"{cost[0]:.0f} µs (range {cost[1]:.0f}–{cost[2]:.0f}, {BLOCKS} blocks of {WRITES:,})"


if __name__ == "__main__":
    print(f"a claim's status write in process: {text(write_cost())}")
