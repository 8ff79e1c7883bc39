"""Benchmark of object creation as the store grows: 20 clients create 10,000 Upload ClusterVirtualImages on a
fresh `dvp-sim serve`, and the CVI controller answers each with its own writes (cleanup finalizer, Pending →
Provisioning → WaitForUserUpload status with upload URLs), so every figure includes the controller's work.

Reports the creation rate of the first, fifth and tenth thousand, the slope (last thousand / first thousand),
the rate including the controller's catch-up (until every image is WaitForUserUpload), then restarts the
simulator on the same state and reports the time to ready and the CPU it spends settling 10,000 images.
A benchmark, not a test: a missed target is reported, nothing fails.
`.venv/bin/python bench/cvi_scale.py [COUNT]` runs it alone and prints the table.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.proc import cpu_seconds  # noqa: E402
from bench.report import section_lines  # noqa: E402
from tests.simulator_process import Simulator  # noqa: E402

COUNT, CLIENTS, WINDOW = 10_000, 20, 1_000
PATH = "/apis/virtualization.deckhouse.io/v1alpha2/clustervirtualimages"
RATE_TARGET = 150.0  # objects/s, controller writes included
SLOPE_TARGET = 0.8  # the last thousand at least 80 % of the first's rate
SETTLE_TIMEOUT = 600.0
WAITING = "WaitForUserUpload"

Row = tuple[str, str, str, str]


def log(message: str) -> None:
    print(f"[bench cvi] {message}", file=sys.stderr, flush=True)


class Client:
    def __init__(self, sim: Simulator):
        self.pid = sim.process.pid
        self.base = sim.server
        self.tls = ssl.create_default_context(cafile=str(sim.ca_file))
        self.headers = {"Authorization": f"Bearer {sim.token}", "Accept": "application/json", "Content-Type": "application/json"}

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.tls, limit=CLIENTS), headers=self.headers)

    async def create_all(self, count: int) -> tuple[list[float], list[float]]:
        """Create count images from CLIENTS closed-loop clients: the completion time of each, in order, and the
        server's CPU seconds at the start and after every WINDOW creations."""
        done: list[float] = []
        cpu = [cpu_seconds(self.pid)]
        names = iter(range(count))
        async with self.session() as session:

            async def client() -> None:
                for i in names:
                    body = {
                        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
                        "kind": "ClusterVirtualImage",
                        "metadata": {"name": f"img-{i:05}"},
                        "spec": {"dataSource": {"type": "Upload"}},
                    }
                    async with session.post(self.base + PATH, data=json.dumps(body)) as resp:
                        text = await resp.read()
                        if resp.status != 201:
                            raise RuntimeError(f"POST img-{i:05}: {resp.status} {text[:200]!r}")
                    done.append(time.perf_counter())
                    if len(done) % WINDOW == 0:
                        cpu.append(cpu_seconds(self.pid))
                        log(f"{len(done)} created")

            await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return done, cpu

    async def phases(self) -> dict[str, int]:
        async with self.session() as session, session.get(self.base + PATH) as resp:
            items = json.loads(await resp.read())["items"]
        out: dict[str, int] = {}
        for item in items:
            phase = (item.get("status") or {}).get("phase", "")
            out[phase] = out.get(phase, 0) + 1
        return out

    async def wait_resynced(self, name: str) -> float:
        """Seconds until the image `name` — the last in the controller's start-up queue (key order) — carries
        upload URLs pointing at this server (a restarted simulator listens on a new port)."""
        start = time.perf_counter()
        async with self.session() as session:
            while time.perf_counter() - start < SETTLE_TIMEOUT:
                async with session.get(f"{self.base}{PATH}/{name}") as resp:
                    obj = json.loads(await resp.read())
                url = ((obj.get("status") or {}).get("imageUploadURLs") or {}).get("external", "")
                if url.startswith(self.base + "/"):
                    break
                await asyncio.sleep(0.1)
        return time.perf_counter() - start

    async def wait_settled(self, name: str, count: int) -> float:
        """Seconds until the last image created is WaitForUserUpload (the controller's queue is FIFO), then every
        image is checked once."""
        start = time.perf_counter()
        async with self.session() as session:
            while time.perf_counter() - start < SETTLE_TIMEOUT:
                async with session.get(f"{self.base}{PATH}/{name}") as resp:
                    obj = json.loads(await resp.read())
                if (obj.get("status") or {}).get("phase") == WAITING:
                    break
                await asyncio.sleep(0.2)
        while (await self.phases()).get(WAITING, 0) < count and time.perf_counter() - start < SETTLE_TIMEOUT:
            await asyncio.sleep(0.5)
        return time.perf_counter() - start


def window_rate(done: list[float], start: float, end_count: int) -> float:
    """Objects/s over the WINDOW creations ending at end_count."""
    first = done[end_count - WINDOW - 1] if end_count > WINDOW else start
    return WINDOW / (done[end_count - 1] - first)


def measure(count: int = COUNT) -> tuple[list[Row], dict[str, float]]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dvp-bench-cvi-") as tmp:
        state = Path(tmp) / "state"
        sim = Simulator.start(state)
        try:
            client = Client(sim)
            start = time.perf_counter()
            done, cpu = asyncio.run(client.create_all(count))
            created = done[-1] - start
            settle = asyncio.run(client.wait_settled(f"img-{count - 1:05}", count))
            figures["cpu"] = cpu_seconds(sim.process.pid) - cpu[0]
            figures["created"], figures["settled"] = created, created + settle
            for at in sorted({WINDOW, count // 2, count}):
                if at >= WINDOW:
                    figures[f"rate@{at}"] = window_rate(done, start, at)
                    figures[f"cpu@{at}"] = (cpu[at // WINDOW] - cpu[at // WINDOW - 1]) / WINDOW * 1000
        finally:
            sim.stop()
        # restart on the same state: the controller resyncs every image once (O(1) each: indexes, no scans)
        t = time.perf_counter()
        sim = Simulator.start(state)
        try:
            figures["restart"] = time.perf_counter() - t
            client = Client(sim)
            asyncio.run(client.wait_resynced(f"img-{count - 1:05}"))
            figures["restart_cpu"] = cpu_seconds(sim.process.pid)
            figures["restart_settled"] = time.perf_counter() - t
        finally:
            sim.stop()
    return rows(figures, count), figures


def rows(f: dict[str, float], count: int) -> list[Row]:
    first, last = f.get(f"rate@{WINDOW}", 0.0), f.get(f"rate@{count}", 0.0)
    slope = last / first if first else 0.0
    cpu_slope = f.get(f"cpu@{count}", 0.0) / f[f"cpu@{WINDOW}"] if f.get(f"cpu@{WINDOW}") else 0.0
    overall = count / f["settled"]

    def verdict(met: bool) -> str:
        return "met" if met else "**missed**"

    out = [
        (f"thousand ending at {at:,}", f"{f[f'rate@{at}']:.0f} objects/s, server {f[f'cpu@{at}']:.2f} CPU-ms per image", "", "reported")
        for at in sorted({WINDOW, count // 2, count})
        if f"rate@{at}" in f
    ]
    out += [
        ("slope: last thousand's rate / first thousand's", f"{slope:.2f}", f"≥ {SLOPE_TARGET:.2f}", verdict(slope >= SLOPE_TARGET)),
        ("server CPU per image, last thousand / first thousand", f"{cpu_slope:.2f}", f"≤ {1 / SLOPE_TARGET:.2f}", verdict(0 < cpu_slope <= 1 / SLOPE_TARGET)),
        (
            f"{count:,} created, every one WaitForUserUpload",
            f"{f['settled']:.1f} s = {overall:.0f} objects/s",
            f"≥ {RATE_TARGET:.0f}/s",
            verdict(overall >= RATE_TARGET),
        ),
        ("server CPU for the run", f"{f['cpu']:.1f} CPU-s = {f['cpu'] / count * 1000:.2f} ms per image", "", "reported"),
        (f"restart with {count:,} images: ready line", f"{f['restart']:.2f} s", "", "reported"),
        (
            "restart: every image resynced (new upload URLs written)",
            f"{f['restart_settled']:.1f} s, {f['restart_cpu']:.1f} CPU-s = {f['restart_cpu'] / count * 1000:.2f} ms per image",
            "",
            "reported",
        ),
    ]
    return out


def section(table: list[Row], count: int = COUNT) -> str:
    method = (
        f"A fresh `dvp-sim serve`; {CLIENTS} closed-loop aiohttp clients POST {count:,} Upload ClusterVirtualImages "
        "over HTTPS. Each create runs full admission (webhook, schema, CEL) and wakes the CVI controller, which adds "
        "its finalizer and writes status twice (Provisioning, then WaitForUserUpload with upload URLs), so four writes "
        f"per image. Rates are per window of {WINDOW:,} creations; the overall figure runs until the last image is "
        "WaitForUserUpload and a LIST shows all of them there. Server CPU (utime+stime from /proc) per window is the "
        "figure the rest of the machine cannot skew: the wall-clock rates depend on what else runs on the two cores. "
        "Then the simulator is stopped and started again on the same state: time to its ready line, and until the "
        "controller's start-up resync has rewritten the last image's upload URLs for the new port (start-up CPU "
        "included)."
    )
    lines = [*section_lines("## ClusterVirtualImage creation at scale", method, table), ""]
    return "\n".join(lines)


def run(count: int = COUNT) -> str:
    """The markdown section for docs/benchmarks.md."""
    table, _ = measure(count)
    return section(table, count)


if __name__ == "__main__":  # this benchmark alone, printed; docs/benchmarks.md untouched
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else COUNT))
