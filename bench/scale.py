"""The simulator at scale: nodes and VMs from nothing to all Running (wall time, CPU, peak RSS, GET and LIST latency
sampled by side clients meanwhile), restarts on the same state (to serving, to all Running again), the idle CPU of a
loaded simulator at several time scales, and a node carrying many AlwaysOn VMs failing with fencing on (time until
every VM runs again elsewhere).

`python bench/scale.py` runs the section at the default sizes and rewrites it in docs/benchmarks.md;
`python bench/scale.py --sizes 100:1000,300:3000 --chaos 100,300 --runs 1 --no-write` runs chosen sizes once each
and only prints;
`python bench/scale.py --profile FILE --sizes 300:3000` runs one build-up under cProfile (docs untouched);
`bench/run.py` calls `run()`. A benchmark, not a test: nothing fails on a slow figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import pstats
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import vms  # noqa: E402
from bench.report import replace_section, section_lines  # noqa: E402
from dvp_simulator.store.store import SHARED_TEXT  # noqa: E402
from tests.image_sources import FileServer, iso_image  # noqa: E402
from tests.simulator_process import Simulator  # noqa: E402

HEADING = "## Simulator scale"
SIZES = [(100, 1000), (300, 3000), (1000, 10000)]  # (nodes, VMs)
CHAOS_SIZES = [100, 300, 1000]  # VMs on the node that fails
# Runs per size: the first build-up of a size is followed by its restarts; the others are build-ups alone. A 10,000-VM
# build-up costs ~3 minutes with its 1,000 nodes' start, so it runs twice; the machine drifts by a fifth between runs.
BUILD_RUNS = {1000: 3, 3000: 3, 10000: 2}
CHAOS_RUNS = {100: 3, 300: 3, 1000: 2}
IDLE_SCALES = [1.0, 5.0, 20.0]  # the restarts run at these time scales, each then measured idle
RENEWALS_PER_S = 600  # ... where nodes × scale / 10 s (the Lease renewals per real second) stays within this: 1,000 nodes at
# ×20 renew 2,000 Leases a second (about half a core, measured without VMs) and their 40-s grace is 2 s of wall time, which
# the restart's resync of 10,000 VMs on the same core would put at risk (a node marked NotReady moves its VMs)
BUILD_SCALE = 1.0  # real time: thousands of VMs boot side by side, so a faster clock barely shortens a build-up, but it
# multiplies every node's Lease renewals (1,000 nodes at ×4: 400 writes/s, as much as the VMs' own writes)
CHAOS_SCALE = 20.0  # fencing's 60 simulated seconds are 3 s
CIDR = "10.64.0.0/16"  # 65,534 VM addresses
GET_EVERY, LIST_EVERY = 0.05, 1.0  # the side clients' pace (s)
IDLE_WINDOW = 20.0  # seconds of idle CPU measured per time scale
TIMEOUT = 1800.0
V2 = vms.V2
NAMESPACE = vms.NAMESPACE
# targets at 1,000 nodes / 10,000 VMs
TARGET_RUNNING_S, TARGET_RSS_MIB, TARGET_GET_P99_MS, TARGET_LIST_S, TARGET_RESTART_S, TARGET_IDLE = 60.0, 1536, 20.0, 1.0, 10.0, 0.10

Row = tuple[str, str, str, str]


def log(message: str) -> None:
    print(f"[bench scale] {message}", file=sys.stderr, flush=True)


def timeline(samples: list, total: float) -> str:
    """The LIST side client's samples (seconds from the first POST, VMs there, VMs Running) at each tenth of `total`:
    where the build-up spends its time (the controllers lag behind the POSTs while both share the event loop)."""
    out = []
    for tenth in range(1, 11):
        at = total * tenth / 10
        seen = [s for s in samples if s[0] <= at + 0.01]
        if seen:
            when, there, up = seen[-1]
            out.append(f"{when:.0f} s: {there:,} / {up:,}")
    return "; ".join(out) + " (seconds from the first POST: VMs there / Running)" if out else "not sampled"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), interpolating between ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    at = (len(ordered) - 1) * q / 100
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def spread(values: list[float], unit: str = " s", digits: int = 2) -> str:
    """median (min–max, n runs)"""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return f"{statistics.median(values):.{digits}f}{unit} (range {min(values):.{digits}f}–{max(values):.{digits}f}, {len(values)} runs)"


# -- side clients -------------------------------------------------------------------------------------------
def _sampler(mode: str, server: str, token: str, ca_file: str, path: str, every: float, expect: int, stop: Any, seen_all: Any, out: Any) -> None:
    """In its own process (so its parsing never delays the other's timings, nor the creating clients' theirs):
    `get` GETs `path` every `every` s and records (when, latency, status); `list` LISTs it, records (when, latency,
    items, running) and sets `seen_all` once `expect` VMs are Running with an IP."""
    samples: list[tuple[float, ...]] = []

    async def loop() -> None:
        tls = ssl.create_default_context(cafile=ca_file)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls, limit=1), headers=headers) as session:
            async with session.get(server + "/version") as resp:  # the connection is open before timing starts
                await resp.read()
            while not stop.is_set():
                began = time.monotonic()
                async with session.get(server + path) as resp:
                    body = await resp.read()
                    status = resp.status
                ended = time.monotonic()
                if mode == "list":
                    # only the two status fields of each item are decoded (vms.count_running): a whole parse of a
                    # 10,000-VM LIST (30-40 MB) took 0.2-0.7 CPU-s, once a second, on the cores the server runs on
                    there, up = vms.count_running(body) if status == 200 else (0, 0)
                    samples.append((ended, ended - began, there, up))
                    if up >= expect:
                        seen_all.set()
                else:
                    samples.append((ended, ended - began, status))
                await asyncio.sleep(max(0.0, every - (time.monotonic() - began)))

    cpu0 = time.process_time()
    asyncio.run(loop())
    out.put((samples, time.process_time() - cpu0))


class Side:
    """The GET and the LIST side clients, each a process of its own."""

    def __init__(self, sim: Simulator, get_path: str, list_path: str, expect: int):
        ctx = multiprocessing.get_context("spawn")
        self.stop, self.seen_all = ctx.Event(), ctx.Event()
        self.outs = {"get": ctx.Queue(), "list": ctx.Queue()}
        common = (sim.server, sim.token, str(sim.ca_file))
        self.procs = {
            "get": ctx.Process(target=_sampler, args=("get", *common, get_path, GET_EVERY, expect, self.stop, self.seen_all, self.outs["get"])),
            "list": ctx.Process(target=_sampler, args=("list", *common, list_path, LIST_EVERY, expect, self.stop, self.seen_all, self.outs["list"])),
        }
        for proc in self.procs.values():
            proc.start()

    def wait_all(self, timeout: float) -> bool:
        """Until the LIST client has seen every VM Running (True) or `timeout` s pass (False). A side client that
        dies (an exception in it, or a spawned child that could not import its caller's main module: a script
        calling build() without a `__main__` guard) fails the build-up at once instead of leaving it waiting."""
        end = time.monotonic() + timeout
        while not self.seen_all.wait(min(1.0, max(0.0, end - time.monotonic()))):
            dead = [name for name, proc in self.procs.items() if not proc.is_alive()]
            if dead:
                raise RuntimeError(f"side client {', '.join(dead)} exited (code {self.procs[dead[0]].exitcode}) before every VM was Running")
            if time.monotonic() >= end:
                return False
        return True

    def finish(self) -> tuple[dict[str, list[tuple[float, ...]]], dict[str, float]]:
        """Each side client's samples, and its CPU seconds (they share the machine's cores with the server)."""
        self.stop.set()
        results = {name: self.outs[name].get(timeout=120) for name in self.procs}
        for proc in self.procs.values():
            proc.join(30)
        return {name: samples for name, (samples, _) in results.items()}, {name: cpu for name, (_, cpu) in results.items()}


def clients_cpu(runs: list[dict]) -> str:
    """The measuring clients' CPU seconds per build-up, by run: the POSTing clients, the GET and the LIST side clients."""
    parts = []
    for name, what in (("post", "POSTing"), ("get", "GET side"), ("list", "LIST side")):
        values = [r["clients_cpu"][name] for r in runs if "clients_cpu" in r]
        if values:
            parts.append(f"{what} {' / '.join(f'{x:.1f}' for x in values)}")
    return (", ".join(parts) + " CPU-s") if parts else "not measured"


# -- measurements ---------------------------------------------------------------------------------------------
def cpu_rate(pid: int, seconds: float) -> float:
    """The process's CPU over the next `seconds` of wall time, in cores."""
    cpu0, t0 = vms.cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (vms.cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def settle(pid: int, limit: float = 120.0, quiet: float = 0.3) -> float:
    """Wait until the process uses less than `quiet` of a core over a second; the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if cpu_rate(pid, 1.0) < quiet:
            break
    return time.monotonic() - t0


def running_count(client: vms.Client) -> tuple[int, int]:
    async def once() -> tuple[int, int]:
        async with client.session() as s:
            return await client.running(s)

    return asyncio.run(once())


def wait_running(client: vms.Client, count: int, timeout: float = TIMEOUT, every: float = 0.2) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        total, up = running_count(client)
        if total == count and up == count:
            return time.monotonic() - t0
        time.sleep(every)
    raise RuntimeError(f"not all {count} VMs Running after {timeout:.0f} s")


def idle_scales(nodes: int) -> list[float]:
    return [scale for scale in IDLE_SCALES if nodes * scale / 10 <= RENEWALS_PER_S]


def build(nodes: int, count: int, work: Path, profile: Path | None = None, restarts: bool = True, census: bool = True) -> dict:
    """From nothing to `count` VMs Running on `nodes` nodes, then restarts at each idle time scale (`restarts`);
    `census`: the stored objects by kind, read back from the state (memory_rows)."""
    f: dict[str, Any] = {"nodes": nodes, "vms": count}
    topo = work / "topology.yaml"
    topo.write_text(yaml.safe_dump(vms.topology(nodes)))
    www = work / "www"
    www.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(www / "ubuntu.qcow2"), "64M"], check=True)
    files = FileServer(www)
    state = work / "state"
    extra = ("--topology", str(topo))
    t = time.monotonic()
    sim = vms.start_profiled(state, profile, *extra, time_scale=BUILD_SCALE) if profile else Simulator.start(state, *extra, time_scale=BUILD_SCALE)
    try:
        f["start"] = time.monotonic() - t
        pid = sim.process.pid
        client = vms.Client(sim.server, sim.token, sim.ca_file)
        asyncio.run(client.prepare(files.url("ubuntu.qcow2"), CIDR))
        f["idle_rss"] = vms.memory(pid)["VmRSS"]
        side = Side(sim, f"{V2}/namespaces/{NAMESPACE}/virtualmachines/vm-0000", f"{V2}/namespaces/{NAMESPACE}/virtualmachines", count)
        time.sleep(2.0)  # both side clients connected
        cpu0, started, own0 = vms.cpu_seconds(pid), time.monotonic(), time.process_time()
        done = asyncio.run(client.create(count))
        posting = time.process_time() - own0  # the POSTing clients are this process
        f["created"], f["cpu_created"] = done[-1] - started, vms.cpu_seconds(pid) - cpu0
        f["created_rss"] = vms.memory(pid)["VmRSS"]
        log(f"{count} disks and VMs created in {f['created']:.1f} s")
        if not side.wait_all(TIMEOUT):
            raise RuntimeError(f"not all {count} VMs Running after {TIMEOUT:.0f} s")
        f["cpu"] = vms.cpu_seconds(pid) - cpu0
        samples, side_cpu = side.finish()
        f["clients_cpu"] = {"post": posting, **side_cpu}
        lists = samples["list"]
        f["running"] = next(at for at, _, _, up in lists if up >= count) - started
        f["half"] = next(at for at, _, _, up in lists if up >= count // 2) - started
        f["timeline"] = [(round(at - started, 2), items, up) for at, _, items, up in lists if started <= at]  # VMs there, Running
        f["memory"] = vms.memory(pid)
        f["get_ms"] = [latency * 1000 for at, latency, _ in samples["get"] if started <= at]
        f["list_s"] = [latency for at, latency, _, _ in lists if started <= at]
        f["list_full_s"] = [latency for at, latency, items, _ in lists if started <= at and items >= count]
        log(f"all {count} Running after {f['running']:.1f} s, {f['cpu']:.1f} CPU-s, VmHWM {f['memory']['VmHWM'] // 1024} MiB")
        if census and not profile:
            f["objects"] = stored_objects(state / "store.sqlite")
        if profile or not restarts:
            return f
        settle(pid)
        f["idle_build"] = cpu_rate(pid, IDLE_WINDOW / 2)
        f["restarts"] = []
        for scale in idle_scales(nodes):
            sim.stop()
            t = time.monotonic()
            sim = Simulator.start(state, *extra, time_scale=scale)
            serving = time.monotonic() - t
            pid = sim.process.pid
            client = vms.Client(sim.server, sim.token, sim.ca_file)
            again = serving + wait_running(client, count)
            quiet = serving + settle(pid)
            restart = {"scale": scale, "serving": serving, "running": again, "quiet": quiet, "cpu_start": vms.cpu_seconds(pid)}
            restart["idle"] = cpu_rate(pid, IDLE_WINDOW)
            restart["rss"] = vms.memory(pid)["VmRSS"]
            log(f"restart at time scale {scale:g}: serving {serving:.2f} s, all Running {again:.2f} s, quiet {quiet:.1f} s, idle {restart['idle']:.1%}")
            f["restarts"].append(restart)
    finally:
        code = sim.stop()
        files.stop()
        if code:
            log(f"simulator exited with {code}; log ends:\n{(state / 'server.log').read_text()[-3000:]}")
    return f


def _dict_bytes(value: Any, shared: set[str]) -> tuple[int, int]:
    """(bytes, of which managedFields) of a parsed object as Python holds it: containers and values by getsizeof; keys
    not counted (orjson and json share them across objects), nor True, False and None (one object each); a string of up
    to SHARED_TEXT characters counted once for all objects (`shared`: those counted so far), as the store interns them."""
    if isinstance(value, dict | list):
        total, managed = sys.getsizeof(value), 0
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            size, inner = _dict_bytes(item, shared)
            total += size
            managed += size if key == "managedFields" else inner
        return total, managed
    if value is None or isinstance(value, bool):
        return 0, 0
    if isinstance(value, str) and len(value) <= SHARED_TEXT:
        if value in shared:
            return 0, 0
        shared.add(value)
    return sys.getsizeof(value), 0


def stored_objects(db_path: Path) -> dict[str, list[int]]:
    """Per kind: [objects, JSON bytes, dict bytes held, managedFields as dicts] of what the store holds (read from its
    SQLite file, which holds exactly the live objects; the server keeps each as its JSON bytes and as a dict without
    managedFields — the last figure is what they would add as dicts)."""
    import sqlite3

    out: dict[str, list[int]] = {}
    shared: set[str] = set()
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        for res, data in db.execute("SELECT res, data FROM objects"):
            whole, managed = _dict_bytes(orjson.loads(data), shared)
            row = out.setdefault(res.rsplit("/", 1)[-1], [0, 0, 0, 0])
            row[0] += 1
            row[1] += len(data)
            row[2] += whole - managed  # the server's dict leaves managedFields out (store.Entry)
            row[3] += managed
    return out


def memory_rows(f: dict) -> list[str]:
    """Markdown: where the memory of the largest build-up goes."""
    objects = f.get("objects")
    if not objects:
        return []
    n = f["vms"]
    mib = 1024 * 1024
    lines = [
        "### Where the memory goes",
        "",
        f"The {f['nodes']:,}-node / {n:,}-VM build-up with every VM Running: the live objects by kind, as the JSON bytes the "
        "server keeps to serve them and as the Python dicts it keeps to read them (estimated with getsizeof over containers "
        "and values; keys are shared and not counted, nor a string value of up to 256 characters after its first "
        "appearance in any object: the store interns those). The dicts leave metadata.managedFields out (only a write's own "
        "bookkeeping reads them, from the JSON): the last column is what they would add. Against the server's VmRSS then "
        f"({f['memory']['VmRSS'] / 1024:.0f} MiB), the rest is the interpreter and its libraries, the nodes, the libvirt "
        "domains, the watch window (the JSON bytes of the last versions of each kind: at most 10,000 and 8 MiB) and the "
        "allocator's slack.",
        "",
        "| Kind | objects | JSON | dict held | managedFields, were they dicts |",
        "| --- | --- | --- | --- | --- |",
    ]
    total = [0, 0, 0, 0]
    for kind, row in sorted(objects.items(), key=lambda kv: -kv[1][2])[:10]:
        lines.append(f"| {kind} | {row[0]:,} | {row[1] / mib:.1f} MiB | {row[2] / mib:.1f} MiB | {row[3] / mib:.1f} MiB |")
    for row in objects.values():
        total = [a + b for a, b in zip(total, row, strict=True)]
    lines.append(
        f"| all kinds | {total[0]:,} | {total[1] / mib:.1f} MiB | {total[2] / mib:.1f} MiB | {total[3] / mib:.1f} MiB |"
    )
    per_vm = (total[1] + total[2]) / n / 1024
    lines += ["", f"Per VM with its disk and the objects they bring: {per_vm:.0f} KiB held as dict and JSON; VmRSS per VM {f['memory']['VmRSS'] / n:.0f} KiB.", ""]
    return lines


# -- chaos ----------------------------------------------------------------------------------------------------
SOURCE, TARGETS = "chaos-0", ["chaos-1", "chaos-2", "chaos-3", "chaos-4"]


def chaos_topology() -> dict:
    cpu = {"vendor": "Intel", "model": "Broadwell-noTSX", "features": ["vme", "f16c", "rdrand"], "cores": 256}
    fencing = {"enabled": True, "mode": "Watchdog"}
    nodes = [{"name": name, "labels": {"group": "chaos"}, "cpu": cpu, "memory": "2Ti", "fencing": fencing} for name in [SOURCE, *TARGETS]]
    return {"cluster": {"podSubnetCIDR": "10.96.0.0/12", "serviceSubnetCIDR": "10.222.0.0/16", "nodeSubnetCIDR": "192.168.0.0/16"}, "nodes": nodes}


def chaos_vm(i: int) -> dict:
    """AlwaysOn, class generic, 1 core at 10%, 1 GiB, an ISO as its only device (no disk bound to the node)."""
    spec = {
        "virtualMachineClassName": "generic",
        "runPolicy": "AlwaysOn",
        "cpu": {"cores": 1, "coreFraction": "10%"},
        "memory": {"size": "1Gi"},
        "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "ubuntu"}],
    }
    return {"apiVersion": vms.API, "kind": "VirtualMachine", "metadata": {"name": f"vm-{i:04d}", "namespace": NAMESPACE}, "spec": spec}


async def _chaos(client: vms.Client, count: int) -> dict:
    """Place `count` VMs on SOURCE, fail it, and follow every VM through a watch until all run elsewhere: times after
    the failure of the Node's deletion (fenced), the first and the last VM leaving SOURCE (its status no longer
    Running there: rescheduled), the first and the last Running elsewhere. A watch costs the server one event per
    change; polling with LISTs cost it a LIST of every VM ten times a second (a quarter of its loop at 1,000 VMs),
    which slowed what it measured."""
    f: dict[str, Any] = {}
    async with client.session() as s:

        async def cordon(node: str, on: bool) -> None:
            await client.request(s, "PATCH", f"/api/v1/nodes/{node}", {"spec": {"unschedulable": on}})

        for node in TARGETS:
            await cordon(node, True)
        t = time.monotonic()
        await client.create(count, with_disks=False, vm=chaos_vm)
        path = f"{V2}/namespaces/{NAMESPACE}/virtualmachines"
        while True:
            _, listed = await client.request(s, "GET", path)
            where = {vm["metadata"]["name"]: _where(vm) for vm in listed["items"]}
            if sum(1 for w in where.values() if w == "source") == count:
                break
            await asyncio.sleep(0.5)
        f["placed"] = time.monotonic() - t
        for node in TARGETS:
            await cordon(node, False)
        await asyncio.sleep(1.0)
        _, listed = await client.request(s, "GET", path)
        where = {vm["metadata"]["name"]: _where(vm) for vm in listed["items"]}
        query = f"?watch=1&resourceVersion={listed['metadata']['resourceVersion']}&timeoutSeconds={int(TIMEOUT)}"
        async with s.get(client.base + path + query) as stream:  # open (headers read) before the failure
            if stream.status != 200:
                raise RuntimeError(f"watch: {stream.status} {(await stream.read())[:300]!r}")
            failed = time.monotonic()
            await client.request(s, "POST", f"/simulator/v1/nodes/{SOURCE}/fail", {"mode": "power"})

            async def fenced() -> None:
                while True:
                    status, _ = await client.request(s, "GET", f"/api/v1/nodes/{SOURCE}", ok=(200, 404))
                    if status == 404:
                        f["fenced"] = time.monotonic() - failed
                        return
                    await asyncio.sleep(0.1)

            async def follow() -> None:
                tally = Counter(where.values())
                async for line in stream.content:
                    event = json.loads(line)
                    if event["type"] not in ("ADDED", "MODIFIED"):
                        continue
                    name, now = event["object"]["metadata"]["name"], _where(event["object"])
                    tally[where.get(name)] -= 1
                    tally[now] += 1
                    where[name] = now
                    at = time.monotonic() - failed
                    if tally["source"] < count:
                        f.setdefault("first_away", at)
                    if tally["source"] == 0:
                        f.setdefault("all_away", at)
                    if tally["elsewhere"]:
                        f.setdefault("first", at)
                    if tally["elsewhere"] == count:
                        f["recovered"] = at
                        return
                raise RuntimeError("the watch ended before every VM was Running elsewhere")

            await asyncio.wait_for(asyncio.gather(fenced(), follow()), TIMEOUT)
        _, listed = await client.request(s, "GET", path)
        placed: dict[str, int] = {}
        for vm in listed["items"]:
            node = vm["status"].get("nodeName", "")
            placed[node] = placed.get(node, 0) + 1
        f["where"] = dict(sorted(placed.items()))
    return f


def _where(vm: dict) -> str:
    """`source` while Running on SOURCE, `elsewhere` once Running (with an IP) on another node, else `between`."""
    if not vms.running(vm):
        return "between"
    return "source" if vm["status"].get("nodeName") == SOURCE else "elsewhere"


def chaos(count: int, work: Path) -> dict:
    topo = work / "topology.yaml"
    topo.write_text(yaml.safe_dump(chaos_topology()))
    www = work / "www"
    www.mkdir()
    iso_image(www / "boot.iso")
    files = FileServer(www)
    sim = Simulator.start(work / "state", "--topology", str(topo), time_scale=CHAOS_SCALE)
    try:
        pid = sim.process.pid
        client = vms.Client(sim.server, sim.token, sim.ca_file)
        asyncio.run(client.prepare(files.url("boot.iso"), CIDR))
        f = asyncio.run(_chaos(client, count))
        f["vms"] = count
        f["cpu"] = vms.cpu_seconds(pid)
        log(f"chaos {count}: fenced {f['fenced']:.1f} s, all Running elsewhere {f['recovered']:.1f} s after the failure")
        return f
    finally:
        code = sim.stop()
        files.stop()
        if code:
            log(f"simulator exited with {code}; log ends:\n{(work / 'state' / 'server.log').read_text()[-3000:]}")


# -- report ---------------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def build_rows(f: dict, largest: bool) -> list[Row]:
    n, count = f["nodes"], f["vms"]
    size = f"{n:,} nodes / {count:,} VMs"
    mem = f["memory"]
    runs = all_runs(f)
    running, hwm = [r["running"] for r in runs], [r["memory"]["VmHWM"] / 1024 for r in runs]
    get, lists, full = pooled(runs)
    rss = max(hwm)  # judged on the largest peak

    def by_run(key: str) -> str:
        return " / ".join(f"{r[key]:.1f}" for r in runs)

    of_runs = f" over {len(runs)} runs" if len(runs) > 1 else ""
    get_p99s = " / ".join(f"{percentile(r['get_ms'], 99):.1f}" for r in runs)

    def target(text: str, ok: bool) -> tuple[str, str]:
        return (text, verdict(ok)) if largest else (f"({text} at 1,000 / 10,000)", "reported")

    rows: list[Row] = [
        (
            f"{size}: first POST → a LIST shows all Running with an IP",
            f"{spread(running, ' s', 1)} = {count / statistics.median(running):.0f} VMs/s; by run: half Running after {by_run('half')} s, "
            f"POSTs of {count:,} disks and VMs done after {by_run('created')} s, all Running after {by_run('running')} s",
            *target(f"≤ {TARGET_RUNNING_S:.0f} s", statistics.median(running) <= TARGET_RUNNING_S),
        ),
        (
            f"{size}: VMs POSTed and VMs Running as the build-up goes (first run; the LIST sample at each tenth of its time)",
            timeline(f.get("timeline") or [], f["running"]),
            "—",
            "reported",
        ),
        (
            f"{size}: server CPU, first POST → all Running",
            f"{spread([r['cpu'] / count * 1000 for r in runs], ' ms', 1)} per VM (its disk included); by run: {by_run('cpu')} CPU-s, "
            f"of which while POSTing {by_run('cpu_created')} CPU-s; the measuring clients meanwhile (on the same two cores): "
            f"{clients_cpu(runs)}",
            "—",
            "reported",
        ),
        (
            f"{size}: server memory",
            f"peak RSS (VmHWM) {spread(hwm, ' MiB', 0)}; first run: VmRSS idle with the nodes {f['idle_rss'] / 1024:.0f} MiB, after the POSTs "
            f"{f['created_rss'] / 1024:.0f} MiB, all Running {mem['VmRSS'] / 1024:.0f} MiB",
            *target(f"≤ {TARGET_RSS_MIB / 1024:.1f} GiB", rss <= TARGET_RSS_MIB),
        ),
        (
            f"{size}: GET of one VM every {GET_EVERY * 1000:.0f} ms meanwhile",
            f"p50 {percentile(get, 50):.1f} ms, p99 {percentile(get, 99):.1f} ms, max {max(get):.1f} ms ({len(get):,} GETs{of_runs})"
            + (f"; p99 by run: {get_p99s} ms" if len(runs) > 1 else ""),
            *target(f"p99 ≤ {TARGET_GET_P99_MS:.0f} ms", percentile(get, 99) <= TARGET_GET_P99_MS),
        ),
        (
            f"{size}: LIST of the namespace's VMs every {LIST_EVERY:.0f} s meanwhile",
            f"with all {count:,} there: median {statistics.median(full) * 1000:.0f} ms, max {max(full) * 1000:.0f} ms ({len(full)} LISTs{of_runs}); "
            f"all LISTs p50 {percentile(lists, 50) * 1000:.0f} ms, max {max(lists) * 1000:.0f} ms ({len(lists)})",
            *target(f"≤ {TARGET_LIST_S:.0f} s", max(full) <= TARGET_LIST_S),
        ),
    ]
    restarts = f.get("restarts") or []
    if restarts:
        serving = [r["serving"] for r in restarts]
        rows += [
            (
                f"{size}: restart on the same state → serving (ready line)",
                spread(serving) + "; per time scale " + ", ".join(f"×{r['scale']:g} {r['serving']:.2f} s" for r in restarts),
                *target(f"≤ {TARGET_RESTART_S:.0f} s", max(serving) <= TARGET_RESTART_S),
            ),
            (
                f"{size}: restart → a LIST shows all Running again; → the server is quiet (resync done, < 30% of a core over 1 s)",
                spread([r["running"] for r in restarts]) + "; quiet after " + spread([r["quiet"] for r in restarts]) + f"; RSS after {restarts[-1]['rss'] / 1024:.0f} MiB",
                "—",
                "reported",
            ),
            (
                f"{size}: idle CPU with every VM Running ({IDLE_WINDOW:.0f} s after the restart settled), by time scale",
                ", ".join(f"×{r['scale']:g}: {r['idle']:.1%} of a core" for r in restarts) + f"; ×{BUILD_SCALE:g} right after the build-up: {f['idle_build']:.1%}",
                *target(f"≤ {TARGET_IDLE:.0%} at ×1", restarts[0]["idle"] <= TARGET_IDLE),
            ),
        ]
    return rows


def pooled(runs: list[dict]) -> tuple[list[float], list[float], list[float]]:
    """The side clients' samples of all of a size's runs: GET latencies (ms), LIST latencies (s), LIST latencies with
    every VM there (s; each run's LISTs when none had them all)."""
    get = [ms for r in runs for ms in r["get_ms"]]
    lists = [s for r in runs for s in r["list_s"]]
    full = [s for r in runs for s in (r["list_full_s"] or r["list_s"])]
    return get, lists, full


def chaos_rows(results: list[dict]) -> list[Row]:
    rows: list[Row] = []
    for f in results:
        runs = all_runs(f)

        def by_run(key: str, runs: list[dict] = runs) -> str:
            return " / ".join(f"{r[key]:.1f}" for r in runs)

        rates = " / ".join(f"{r['vms'] / (r['recovered'] - r['fenced']):,.0f}" for r in runs)

        rows.append(
            (
                f"node with {f['vms']:,} AlwaysOn VMs powered off (fencing Watchdog, time scale {CHAOS_SCALE:g}) → every VM Running elsewhere",
                f"{spread([r['recovered'] for r in runs], ' s', 1)}; by run: Node fenced and deleted after {by_run('fenced')} s; the VMs leave it "
                f"(rescheduled) from {by_run('first_away')} s to {by_run('all_away')} s; the first Running elsewhere after {by_run('first')} s, all "
                f"after {by_run('recovered')} s ({rates} VMs a second after the "
                f"fencing); VMs per node after (first run): {f['where']}",
                "—",
                "reported",
            )
        )
    return rows


def method(builds: list[dict], chaos_results: list[dict]) -> str:
    return (
        "Build-up: the VM benchmark's generated topology (16 cores and 64 GiB per node, three CPU kinds, four pools, an RWX "
        f"default StorageClass), `dvp-sim serve --time-scale {BUILD_SCALE:g}` on a fresh state directory, the ModuleConfig "
        f"(virtualMachineCIDRs [{CIDR}]), one ClusterVirtualImage over HTTP, then {vms.CLIENTS} closed-loop aiohttp clients POST a VirtualDisk "
        "from the image and its VirtualMachine (1 core at 10%, 1 GiB, cloud-init) per VM, all in one namespace. Meanwhile two "
        f"side clients, each a process of its own with one keep-alive HTTPS connection: one GETs VM `vm-0000` every {GET_EVERY * 1000:.0f} ms "
        f"(a 404 until it exists), the other LISTs the namespace's VMs every {LIST_EVERY:g} s (no limit, JSON) and counts those "
        "Running with `status.ipAddress` (decoding only those two fields of each item); latencies are measured at these clients, request "
        "sent → whole body read. The clock runs from the first POST to the LIST showing all Running. CPU is the server's utime+stime "
        "from /proc (its disk writer's included), peak RSS its VmHWM; the measuring clients' CPU (the POSTing ones, each side client) "
        "is their processes' own. "
        f"Then the simulator is stopped (SIGTERM) and started on the same state directory once per time scale ({', '.join(f'×{s:g}' for s in IDLE_SCALES)}; "
        f"only those where nodes × scale / 10 s, the Lease renewals per real second, stay within {RENEWALS_PER_S}: 1,000 nodes at ×20 renew 2,000 "
        "Leases a second, about half a core measured without VMs, and their 40-s grace is 2 s of wall time, too short beside a resync of 10,000 VMs): "
        "time to its ready line (serving), to a LIST showing every VM Running again, to the server's resync being done "
        f"(under 30% of a core over a second), and then its CPU over {IDLE_WINDOW:.0f} s idle (Lease renewals, heartbeats, "
        "controllers' periodic work). Repetitions: "
        + ", ".join(f"{len(all_runs(f))} build-ups at {f['vms']:,} VMs" for f in builds)
        + " (the restarts after the first only); a build-up's figures are the median of its runs with their range, the side "
        "clients' samples are pooled over the runs (GET percentiles, LIST latencies), peak RSS is the largest run's, and the "
        "target on the time to all Running is judged on the median. Chaos: five nodes of 256 cores and 2 TiB with fencing (Watchdog), the four targets cordoned "
        f"while N AlwaysOn VMs (an ISO as their only device) start on `{SOURCE}`, then uncordoned; `POST /simulator/v1/nodes/{SOURCE}/fail` "
        "(power); a watch on the namespace's VMs, opened before the failure, follows each VM until every one is Running (with an IP) on "
        "another node, and a GET every 0.1 s sees the Node go (fenced: fencing waits 60 simulated seconds of "
        f"silence, 3 s at ×{CHAOS_SCALE:g}, after the node's last Lease renewal); "
        + ", ".join(f"{len(all_runs(f))} runs with {f['vms']:,} VMs" for f in chaos_results)
        + ", each on a fresh simulator."
    )


def section(builds: list[dict], chaos_results: list[dict], breakdown: list[str] | None = None) -> str:
    largest = max((f["vms"] for f in builds), default=0)
    rows: list[Row] = []
    for f in builds:
        rows += build_rows(f, f["vms"] == largest and largest >= 10000)
    rows += chaos_rows(chaos_results)
    lines = section_lines(HEADING, method(builds, chaos_results), rows)
    if builds:
        lines += ["", "### How it scales", "", "All Running and CPU per VM: the median of a size's build-ups; peak RSS: the largest; GET p99 and the "
                  "LIST median: over every run's samples.", "", "| Nodes / VMs | all Running | CPU per VM | peak RSS | GET p99 | LIST (all VMs) | restart → serving | idle ×1 |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for f in builds:
            restarts = f.get("restarts") or []
            runs = all_runs(f)
            get, _, full = pooled(runs)
            lines.append(
                f"| {f['nodes']:,} / {f['vms']:,} | {statistics.median([r['running'] for r in runs]):.1f} s "
                f"| {statistics.median([r['cpu'] / f['vms'] * 1000 for r in runs]):.1f} ms | {max(r['memory']['VmHWM'] for r in runs) / 1024:.0f} MiB "
                f"| {percentile(get, 99):.1f} ms | {statistics.median(full) * 1000:.0f} ms "
                f"| {statistics.median([r['serving'] for r in restarts]) if restarts else float('nan'):.2f} s | {restarts[0]['idle'] if restarts else float('nan'):.1%} |"
            )
    lines += ["", *breakdown] if breakdown else []
    biggest = max(builds, key=lambda f: f["vms"], default=None)
    lines += ["", *memory_rows(biggest)] if biggest and biggest.get("objects") else []
    lines += ["", *FIXES_TEXT] if FIXES_TEXT else []
    return "\n".join(lines) + "\n"


# The profile-driven fixes and their before/after figures. Where they came from: `python bench/scale.py --profile FILE
# --sizes 100:1000` (cProfile of the server over a build-up), micro-benchmarks of the changed functions (process CPU
# time, the committed code against the changed one in the same minute), and the build-up run back to back on both.
FIXES_TEXT: list[str] = [
    "### Fixes (profile → change → before / after)",
    "",
    "The profile of a 100-node / 1,000-VM build-up (cProfile, 109 profiled seconds): writes through admission "
    "(`_update_from` 43 s, `_admit` 30 s of which jsonschema's walk 7 s and CEL 14 s, managedFields 13 s), `copy.deepcopy` "
    "8 s, SQLite commits 6 s, and the scheduler, whose cost grows with the nodes (`_Affinity` walked every pod of every "
    "node for every placement, also for pods without any affinity term).",
    "",
    "| Fix | Before | After | Measured by |",
    "| --- | --- | --- | --- |",
    "| Scheduler: a pod without pod (anti-)affinity terms of its own no longer walks every pod on every node "
    "(only existing pods' required anti-affinity counts) | 5.6 ms per placement | 4.4 ms | 1,000 nodes × 10 pods, 100 "
    "placements, process CPU |",
    "| Scheduler: kube-scheduler's default percentageOfNodesToScore (≥ 100 nodes: filter from a round-robin start until "
    "50% − nodes/125 (≥ 5%, ≥ 100 nodes) fit, score those; pods with pod (anti-)affinity and clusters where fewer fit "
    "still see every node) | 4.4 ms per placement (1,000 nodes) | 1.85 ms (420 nodes) | same |",
    "| Compiled schema check for VirtualDisk, VirtualImage, ClusterVirtualImage: a `$` inside a character class of the "
    "image URL pattern made fastjsonschema's compile fail, so every write of these kinds took jsonschema's walk | "
    "VirtualDisk create (default + validate) 236 µs | 57 µs | 2,000 objects, process CPU |",
    "| Defaulting and CEL walk only the subtrees whose schema has a default or a rule below; managedFields compares only "
    "the top-level fields a write changed | VM status write (default + validate + managedFields) 481 µs | 494 µs (within "
    "noise for a small status; the walks skipped grow with the object) | same |",
    "| Controllers copy stored objects with `json_copy` instead of `copy.deepcopy` | deepcopy 7% of the profile | — "
    "(json_copy is several times cheaper per object) | profile |",
    "| All of the above, 100 nodes / 1,000 VMs build-up, back to back on the same loaded machine | 45.3 server CPU-s "
    "(128.7 s wall) | 28.1 CPU-s (44.4 s wall) | this script, `--sizes 100:1000 --no-restart` |",
    "| Controller workers yield the event loop after each 5 ms of back-to-back reconciles (a backlog held the loop and "
    "API requests waited behind it; yielding after every reconcile instead cut GET p50 to 45 ms but cost 1.9× the CPU, "
    "as events no longer coalesced per key) | GET p50 234 ms, p99 672 ms; LIST of 1,000 VMs p50 292 ms; 28.8 CPU-s, "
    "33.8 s to all Running | GET p50 84 ms, p99 375 ms; LIST p50 134 ms; 29.0 CPU-s, 31.6 s | this script, 100:1000, "
    "back to back while a test suite ran |",
    "| Writes per VM start counted (every store write logged with the controller frame that made it, 10 nodes / 50 "
    "VMs): about 26 (VM 7, disk 6, VMIP 3, PVC 3, PV 2, lease 2, pod 2, one event), each a distinct phase or "
    "hand-off another controller or a watcher sees; no-op writes were already skipped (`_same`, no resourceVersion "
    "bump). The cost was elsewhere: the VirtualMachineClass controller woke on every write of every VM naming it and "
    "listed all of them (sorted, `namespace/name` each) — N² in a build-up, 17% of the profile. It now wakes only "
    "when a class gains or loses a VM (created, deleted, class renamed) and lists its VMs only while being deleted "
    "(the InUse condition) | 35.9 server CPU-s (range 35.5–36.4, 3 runs) | 29.4 CPU-s (range 23.8–29.4, 3 runs) | "
    "this script, 100:1000 `--no-restart`, the three variants interleaved, while test suites ran |",
    "| CEL verdicts memoised on the fields a rule reads: a rule that reads `self` / `oldSelf` only as `self.<field>` is "
    "keyed on those fields instead of the whole value (a VM's four spec rules read cpu, osType, bootloader, "
    "provisioning, blockDeviceRefs — the whole spec differs per VM, those mostly do not); transition rules and "
    "ratcheting unchanged, an evaluation error always reworded from the whole value; cel-python interprets a rule "
    "at ~1–2 ms | VM create validation 3,553 µs per VM (4 CEL evaluations); build-up 29.4 CPU-s | 1,237 µs (1); "
    "23.2 CPU-s (range 23.2–26.1, 3 runs) | 300 VM specs through the VM schema's validate, process CPU; this script "
    "as above |",
    "| The write path again (profile of a 300-node / 3,000-VM build-up: copies 5%, managedFields 10%, node agents 10%): "
    "copies of bodies and stored objects and the stored JSON through orjson (C) instead of a Python walk and json.dumps; "
    "managedFields compare the old and the new object side by side, skipping equal subtrees after one `==` (a property "
    "test holds it to the leaf-by-leaf definition); label and finalizer name checks memoised (a node carries ~70 "
    "CPU-feature labels, checked on every write); a node's networks memoised by address; the node status posted every "
    "5 simulated minutes when unchanged, the kubelet's nodeStatusReportFrequency (was every minute) | 100 / 1,000 "
    "build-up 18.6 server CPU-s, 19.3 s to all Running; a node status post at 300 nodes 2.0 ms | 15.7 CPU-s, 16.3 s; "
    "1.0 ms | this script, 100:1000 `--no-restart`, back to back on a quiet machine; the node agent's calls in process |",
    "| The watch window (the last 10,000 events per kind, for watches resuming from a resourceVersion) kept every "
    "superseded version's dict alive; it now keeps their JSON bytes (shared with the stored entry) and parses them "
    "again only when a watch replays them | peak RSS with orjson copies 488 MiB | 364 MiB (the committed code before "
    "both changes: 374 MiB) | same |",
    "| Stored entries keep their dict without metadata.managedFields (the field-ownership trees were half of every "
    "object's dicts; the JSON bytes served to clients keep them, and a write parses them from there for its own "
    "bookkeeping); write and delete responses stay whole | 100 / 1,000 build-up 18.6 CPU-s, 20.4 s, peak RSS 352 MiB "
    "| 15.8 CPU-s, 17.3 s, 302 MiB (smaller dicts are also cheaper to copy and compare) | this script, 100:1000 "
    "`--no-restart`, back to back |",
    "| The watch window bounded in bytes as well (8 MiB of JSON per kind, besides 10,000 events), as kube-apiserver's "
    "watch cache is bounded: a build-up filled it with superseded versions | 300 / 3,000 peak RSS 660 MiB | 552–561 "
    "MiB | this script, 300:3000 `--no-restart`, while a test suite ran |",
    "| Build-ups at time scale 1 instead of 4: thousands of VMs boot side by side, so the faster clock barely shortened "
    "the build-up but multiplied every node's Lease renewals | 300 / 3,000 at ×4: 77.0 CPU-s, 89.3 s | at ×1: 71.3 "
    "CPU-s, 91.2 s (1,000 nodes renew 3.3× as many Leases as 300) | this script, 300:3000, back to back while a test "
    "suite ran |",
    "| One writers' turn: controller workers and API writes take one fair lock (asyncio.Lock, first come first "
    "served), a worker holds it for a 5 ms slice and hands it on after yielding, reads never take it, so a pass of the "
    "event loop runs one slice instead of a slice of every busy controller plus every concurrent write; the collector "
    "leaves what lives as long as the process alone (gc.freeze after start-up), runs a full pass after 100 middle "
    "ones instead of 10, and none while loading the state (a 3,000-VM full pass held every request ~400 ms) | 300 / "
    "3,000: GET p99 174 / 154 ms, LIST of 3,000 VMs median 254 / 253 ms, 81.6 / 84.7 s to all Running, 26.6 / 28.1 ms "
    "CPU per VM | 36 / 33 ms, 74 / 67 ms, 77.6 / 74.6 s, 25.4 / 24.9 ms (GET p50 72 → 9 ms at 100 / 1,000) | this "
    "script, 300:3000 `--no-restart`, before and after alternating on a quiet machine |",
    "| Kubelet rounds from one deadline heap in the fleet instead of a task per node: rounds falling due within 0.2 "
    "simulated s of each other go to disk in one transaction, at most 16 (or one 5 ms slice) per step of the event "
    "loop; a round a whole interval late (a clock step) is made with every other late one before anything else runs "
    "(the fencing controller judges the Leases right after). The idle profile at 1,000 nodes was nearly all Lease "
    "renewals, each its own task wake-up, timer and SQLite commit | idle CPU, 1,000 nodes at ×1: 8.4 % and 11.5 % "
    "of a core; at ×20 not measured (excluded as too costly) | 2.4 % and 2.8 %; ×5 11.5 %, ×20 48–51 % (2,000 "
    "renewals a second) | a 1,000-node topology without VMs, two 20-s windows after start-up settled, before and "
    "after back to back |",
    "| Placement at 1,000 nodes (a profile of a 1,000-node / 3,000-VM build-up: placing a VM 16 profiled ms, a fifth "
    "of the VM controller's time): the list of every node's scheduler state is kept between placements and only the "
    "states written since are replaced in it (it was made again from the Node table for every placement), whether a "
    "placed pod has required anti-affinity is a set kept with it (not a walk of every node); scoring adds once what "
    "a plugin gives every node alike (no preferred terms, no PreferNoSchedule taint anywhere) instead of a map over "
    "the nodes per plugin (a property test holds scores to the plugin-by-plugin definition); no per-call closures in "
    "the resource scores | 2.4–3.8 ms per placement; 1,000 / 3,000 build-up 34.4 / 35.0 ms CPU per VM, 104.7 / "
    "106.7 s to all Running | 1.1–1.4 ms; 26.5 / 27.8 ms, 80.5 / 83.6 s (300 / 3,000 was 24.7 ms) | 1,000 placements "
    "on 1,000 nodes, process CPU; this script, 1000:3000 `--no-restart`, before and after alternating on a quiet "
    "machine |",
    "| Long event-loop callbacks at 10,000 VMs (each callback and each reconcile timed through a 1,000-node / "
    "10,000-VM build-up: 2,307 worker slices over 10 ms; the VM class controller ran 1,101 reconciles of 10.6 ms "
    "mean, each checking every node, woken by every VM created, to change nothing; a LIST's 500-item chunks took "
    "~5 ms each and choosing a 10,000-item LIST's items ~20 ms in one step): a class is woken by its VMs only while it "
    "is being deleted (then it reports them); a LIST without selectors takes its page as one slice of the sorted keys; "
    "100-item chunks; a domain's state is looked up by name (was a listing of the node's domains); writer slices of "
    "2 ms instead of 5 | 1,000 / 10,000: 288.8 s to all Running, 27.6 ms CPU per VM, GET p50 10.7, p99 44.6 ms "
    "(the last make bench; 241.5 s, 23.3 ms timed as above) | 5-ms slices: 174.0 s, 16.7 ms, GET p50 9.1, p99 21.7 "
    "ms, LIST median 308 ms; 2-ms slices: 151.1 s, 14.9 ms, GET p50 4.7, p99 12.9 ms, LIST median 188 ms | this "
    "script, 1000:10000 `--no-restart`, back to back on a quiet machine |",
    "| A VM's writes wake its addresses and its disks only when what they report of it changes: the address it names "
    "(spec or status), the devices it lists and the ones it mounts (a phase other than Stopped), or the VM coming or "
    "going — not its conditions, node or IP on the way to Running | 1,000 / 10,000: 53,100 address and 57,902 disk "
    "reconciles, 148.6 / 155.4 CPU-s | 30,914 and 40,001; 139.8 / 144.0 CPU-s (wall time 151–243 s on either side: "
    "the same code swung that much between runs) | reconciles counted per controller; this script, 1000:10000 "
    "`--no-restart`, the two sides alternating |",
    "| The cyclic collector's full passes walk only what survived since the last one: the survivors of each full pass "
    "leave the collector (gc.freeze in a gc callback; they are still freed by reference counting). Each full pass of a "
    "1,000 / 10,000 build-up (timed through gc.callbacks) found nothing to free and walked the whole heap again: the "
    "loop stood still up to 1 s, the LIST maximum of the last make bench | full passes 0.33 / 0.71 / 1.04 s; GET max "
    "1,064 ms, p99 17.4 ms; LIST of 10,000 max 893 ms; 181.1 s, 17.7 ms CPU per VM | 0.34 / 0.50 / 0.58 s; GET max "
    "673 ms, p99 18.2 ms; LIST max 398 ms; 178.8 s, 17.3 ms. Cycles the freezing kept from the collector: after "
    "either run, unfreezing and collecting at exit freed the same 419 objects (none more). Full passes every 10 "
    "middle ones instead of 100: 34 passes of ≤ 165 ms, GET max 297 ms but p99 28.7 ms, 120 objects more at exit; "
    "not taken | this script, 1000:10000 `--no-restart`, the two sides back to back on a quiet machine, the collector "
    "timed by a gc callback |",
    "| The survivors of every middle-generation pass leave the collector too, so the oldest generation stays nearly "
    "empty. With survivors of full passes only frozen, about three full passes a build-up still walked everything made "
    "since the one before: 0.4–1.1 s each (a loop-lag monitor through a build-up), the GET maxima below, and a LIST "
    "that met one took over 1 s; the slow GETs otherwise fall in the VM-start phase, where one start reconcile "
    "(placement, pod, domain, status in one store batch) takes ~8 ms of CPU | 282.4 / 292.9 s to all Running, 27.1 / "
    "28.2 ms CPU per VM; GET p50 7.5 / 7.4 ms, p99 26.7 / 25.7 ms, max 738 / 736 ms; LIST of 10,000 max 1,182 / "
    "1,115 ms | 320.1 / 273.8 s, 29.1 / 26.2 ms; GET p50 8.1 / 7.2 ms, p99 36.1 / 22.5 ms, max 167 / 156 ms; LIST "
    "max 806 / 414 ms. Unfreezing and collecting at exit freed 132 objects after each of the four runs: no cycle more "
    "was kept from the collector | this script, 1000:10000 `--no-restart`, the two sides alternating twice (A B A B) "
    "on a busier machine than the other rows' (the same code took 282–293 s here, 151–181 s there) |",
    "| Placement, the longest part of a VM's start (a start reconcile timed by parts at 1,000 nodes / 3,000 VMs: "
    "placement 2.8 ms, the domain 1.3 ms, the pod's two writes 1.1 ms, 5.6 ms in all): the filters check the common "
    "case inline (a schedulable, Ready, untainted node; no pod-affinity check when the pod-affinity state can refuse "
    "nothing) and only the other nodes go through the filter functions; the resource scores are written out instead "
    "of two calls per node; the class filter skips the pinned-disk check when the VM has no pinned disk. A property "
    "test holds the decision (node, message, feasible nodes, ranking) to filter_reasons on every node | one captured "
    "placement (420 of 1,000 nodes scored) 1.39–1.52 ms; in the server: placement 2.84 ms, start reconcile 5.65 ms | "
    "0.58–0.63 ms; 1.43–1.51 ms, 3.32–3.56 ms | the captured placement replayed 200 times, process time; the start's "
    "parts timed in the server (perf_counter around each), this script, 1000:3000 `--no-restart`, one run each side |",
    "| Workers and kubelet rounds hand on between slices with a timer due at once instead of `asyncio.sleep(0)` "
    "(turn.after_io; the LIST's chunks too): the loop queues it after the I/O callbacks of its next pass, so a request "
    "that arrived during a slice is read and handled before the next slice; with sleep(0) the next slice was queued "
    "ahead of the request's handler and a GET waited behind two slices. A unit test drives it with a socket. Also "
    "tried: 1-ms slices | GET p50 6.4 ms, p99 18.7 ms; loop lag (a 1-ms timer) p50 3.4 ms, p99 14.4 ms; 207 s to all "
    "Running | GET p50 4.4 ms, p99 16.4 ms; loop lag p50 2.4 ms, p99 11.2 ms (a run 25% slower throughout: 265 s). "
    "1-ms slices instead: GET p50 4.6 ms but p99 20.3 ms, and 15% more VM reconciles (less coalescing) | "
    "this script, 1000:10000 `--no-restart`, the server timed from inside (loop lag, reconciles, collector passes); "
    "one run each, placement fix on both sides |",
    "| The store's SQLite work (a 300-node / 3,000-VM build-up with every commit timed in the server: 62,337 "
    "transactions, one per write, 9.6 s of wall time in them, fsync stalls at WAL checkpoints included): the "
    "controllers' writes are committed together (a contextvar marks the workers' tasks) at the end of the worker's "
    "slice — within it: reconciles and their commit together take the 2 ms, the commit's share being the last one's "
    "duration — or at the end of the loop's pass, and before any response or watch event leaves, so a client never "
    "sees what a kill -9 could lose; a client's write still commits before its response, taking the deferred writes "
    "before it along, so the disk always holds a prefix of the writes in resourceVersion order (unit tests drive "
    "both; the egress test switches the end-of-pass commit off); a transaction writes each object's last version "
    "only (a quarter of the rows were an object written again within the same slice). Tried and not taken: WAL "
    "checkpoints every 10,000 pages instead of 1,000 (commits 4.7 s instead of 6.5 s at 3,000 VMs, but each "
    "checkpoint a longer stall: GET p99 36 ms at 10,000 VMs), and the commit after the slice instead of within it "
    "(GET p99 20.3 ms against 15.3 ms) | 62,337 commits, 77,237 rows, 9.58 s wall / 6.90 s CPU in commits; "
    "61.6 / 52.4 s to all Running (60.0 / 53.1 CPU-s) | 21,110 commits, 56,799 rows, 6.48 s / 4.45 s; 48.4 / 51.5 s "
    "(48.6 / 52.5 CPU-s: the machine drifts by more than the change between rounds) | each commit timed in the server "
    "(perf_counter, thread CPU), one run each side; this script, 300:3000 `--no-restart`, the build-ups alternating "
    "A B A B; GET p99 from 1000:10000 `--no-restart` runs, one per variant |",
    "| Placement over numpy columns (scheduler/columns.py): a plain pod (no nodeSelector, no affinity) in a cluster "
    "whose nodes are all plain (Ready, schedulable, untainted) is placed by a few vector operations over every node's "
    "allocatable and requested CPU and memory, kept in step with the cache of node states — the same round-robin "
    "search in chunks and the same scores, the integer and float operations in the same order, so the outcome is "
    "equal, not close (a property test holds node, feasible nodes, every score and the next search's start to the "
    "general path, on random clusters with pods bound between placements and a node cordoned midway). Pods with "
    "affinity, VMs whose disks pin them, and clusters with a cordoned, tainted or NotReady node take the general "
    "path | placement at 1,000 nodes 1.45 ms (thread CPU in the server, 3,000 placements); 1,000 / 10,000: 219.4 s, "
    "212.1 CPU-s; again 150.0 s, 144.9 CPU-s | 0.52 ms; 192.0 s, 183.2 CPU-s; again 144.7 s, 142.4 CPU-s (the "
    "machine got faster between the rounds by more than the change) | the server's place() timed by a probe, "
    "this script, 1000:3000 `--no-restart`, one run each side; 1000:10000 `--no-restart`, A B then B A |",
    "| Controllers' watches as the store's synchronous observers: within each write the watching controllers' mappers "
    "put the event's keys on their queues (an informer's handler), instead of a watch stream and a task per watch "
    "woken for every event (~130 task wake-ups per VM); a mapper that fails is logged, not the write's failure | "
    "event delivery (watch offers, the tasks' wake-ups, mappers) 7.1% of the server's samples | 3.7% (mappers "
    "included); wall and CPU of whole build-ups moved less than the machine's drift (36.5 / 40.3 against 33.2 / 45.5 "
    "CPU-s) | py-spy (200 Hz) over this script, 1000:3000 `--no-restart`, one run each side; then A B A B |",
    "| A write's schema checks ratcheted, as kube-apiserver's CRDValidationRatcheting: on an update, pruning and the "
    "compiled schema check skip the top-level fields equal to the stored object's (the spec of a status write, the "
    "status of a spec edit), and their errors are not reported; the compiled check runs as a shell (the top level's "
    "own keywords) and a check per field, which a property test holds to the whole check. managedFields entries a "
    "write does not touch keep their FieldsV1 tree, neither decoded nor encoded again (a property test holds the "
    "result to decoding every entry). Writes were ~40% of the event loop's samples at 10,000 VMs, a status write "
    "being most of them | a VM's status write 273.5 µs with the whole checks; 283.4 µs with every managedFields entry "
    "decoded | 225.0 µs; 273.6 µs. Build-ups: medians 18.9 s after against 18.4 s before, the runs spreading over "
    "13.3–21.4 s: the machine's drift hides a change of a few per cent | a VM status write through ObjectService.update "
    "in process, 12 blocks of 400 writes per side interleaved, thread CPU, medians; this script, 100:1000 "
    "`--no-restart`, the two sides alternating six times |",
    "| Tried, not taken: the store's SQLite commits on a thread of their own (SQLite releases the GIL while it works): "
    "memory has a write at once, its commit is queued in order, and a response or watch event awaits `durable()` "
    "(every commit queued before it on disk) without blocking the loop; a failed commit stops every later one. Both "
    "row by row (executemany) and 64 rows per INSERT statement (the thread taking the GIL once per statement, not per "
    "row). Also libvirt's domain define and start on a thread | 12,000 puts of a 3.9 KB object with ~250 µs of Python "
    "between them, commits at the end of 2-ms slices: 3.02 s (the loop thread's CPU 2.94 s); with ~100 µs between "
    "them 1.54 s. Build-ups 40.4 / 38.5 s | on a thread, row by row: 3.25 s (3.21 s), 1.25 s; 64 rows per statement: "
    "3.13 s (3.13 s), 1.35 s. Build-ups 38.9 / 45.6 s, the commits' thread ~5 CPU-s and the loop thread's CPU not "
    "lower: while the loop runs Python, every hand-over of the GIL to the thread costs it about what the thread took "
    "off it. Domain calls on a thread: 41.3 / 45.4 s against 41.4 / 40.4 s. Not taken: threads do not add a core "
    "here | the store alone in process, the variants interleaved 7 times, medians; this script, 300:3000 "
    "`--no-restart`, A B A B |",
    "| The store's SQLite commits in a child process instead (store/journal.py, store/disk_writer.py): the loop "
    "pickles a transaction's rows onto a pipe; the writer commits whole transactions in order (several queued ones "
    "at once) and acknowledges them; a response or watch event awaits the acknowledgement of what it shows without "
    "blocking the loop. Writes wait to be sent together until something shown needs them (at most 20 ms or 1,000 "
    "writes), so the per-slice commit is gone. A kill -9 still loses nothing a client saw (a unit test kills a "
    "process mid-stream) | a VM-sized write's store cost on the loop, commit included, 82 µs; a 1,000-VM build-up "
    "6,931 transactions of 2.7 rows; 1,000 / 10,000: 181.4 s, 176.3 CPU-s, VmHWM 1,388 MiB, GET p99 14.8 ms | 61 µs; "
    "2,816 transactions; 174.5 s, 178.1 CPU-s with the writer's, VmHWM 1,451 MiB with the writer's (~18 MiB of its "
    "own), GET p99 14.4 ms. Build-ups 300 / 3,000: 46.4 / 49.4 s against 38.4 / 48.4 s — within the machine's "
    "drift, as a few per cent must be | 6,000 puts in process, 250 µs of Python between them and a response every 20 "
    "(before: a commit per 2-ms slice), 5 rounds interleaved, thread CPU, medians; transactions counted in the "
    "server; this script, 1000:10000 `--no-restart`, one run each side back to back, 300:3000 A B A B |",
    "| The write path once more, measured on the build-up's own writes this time: every ObjectService create and update "
    "of a 200-VM build-up captured (body, options, the stored version before) and replayed in order in process (4,909 "
    "writes, no controllers, every schema check compiled first and the collector's heap frozen, as in the server). Tried: "
    "ratcheting below the top level (pruning and defaulting skip values equal to the stored ones; the compiled check "
    "splits a changed status into a shell and a check per field, skipping the unchanged ones); a write's changed fields "
    "taken from the other managers only, so a controller's new values of fields it already owns leave its FieldsV1 tree "
    "undecoded; a status write copying only its body's status; DVCR's image known from its commit (the lookup right "
    "after a disk's clone read meta.json back: ~2% of the loop). Tuned first on one VM status write changing one "
    "condition's message, which is not the build-up's mix: a VM's status writes change most of its status | that "
    "single write 250 µs; the replay 0.89–1.18 s (each round's median) | that single write "
    "165–185 µs with all of them; the replay within ±5% of before, with the ratcheting and without it (medians of 6 "
    "and 8 alternating runs: +4%, −2%, −6%), so the ratcheting was reverted (complexity for nothing measurable); the "
    "other three kept (no more code, and each takes work away). A 300 / 3,000 build-up: 54.4 / 53.5 s (56.1 / 55.9 "
    "CPU-s) before, 54.5 / 53.6 s (56.0 / 56.6) after. No step of a write is more than about a fifth of it (on that "
    "single write: pruning 44, schema check 43, defaults 17, managedFields 48, indexes 23 µs, the rest copies, "
    "metadata checks and the store's entry), so no single fix of the write path can move a build-up by more than a "
    "few per cent | the captured writes replayed, old and new trees alternating, thread CPU; each step switched off "
    "in turn on the single write; this script, 300:3000 `--no-restart`, A B A B |",
    "| A reconcile's back-to-back writes of one object as one version: a VM's, a VirtualDisk's or a VirtualImage's "
    "finalizers and its status (the VD's cleanup finalizer with its first status, its protection finalizer with "
    "InUse), a claim's binding (volumeName, annotations) and its phase Bound, a PersistentVolume created for its claim "
    "already Bound, a virt-launcher pod created with its Running status — each pair was written within one reconcile, "
    "which does not yield, so no one could see or act on the version between. The controllers' update of the object "
    "and its status together (`WriteOptions.with_status`, which no request can set) records managedFields as the two "
    "writes would have (the manager's main entry and its status entry; a unit test holds it to the two writes) | 25.7 "
    "versions per VM with its disk (a 3-VM build-up read back through watches from its first resourceVersion); 300 / "
    "3,000: 28.3 / 31.3 s, 28.0 / 32.7 CPU-s, VmHWM 575 / 576 MiB | 20.3 versions per VM; 27.3 / 30.3 s, 26.9 / 32.2 "
    "CPU-s, VmHWM 550 / 550 MiB: 3–4% of the time (the versions dropped were the small ones, and the admission of the "
    "combined write is most of the two it replaces), 25 MiB less memory (fewer superseded versions in the watch "
    "window) | watch replay from resourceVersion 1; this script, 300:3000 `--no-restart`, A B A B |",
    "| Where a build-up's server CPU goes, counted instead of sampled: thread CPU of the event loop's thread around "
    "every reconcile (split by whether it wrote), every ObjectService create and update and their steps, through a "
    "300 / 3,000 build-up (a probe loaded by sitecustomize, not committed) | — | 8.6 ms of the loop's CPU per VM with "
    "its disk (the process's whole life: start-up, the 300 nodes' Leases and the side clients' requests included). "
    "The writes (19 per VM through ObjectService, the clients' 2 POSTs included) 4.5 ms: admission 1.35, the store "
    "(indexes, watch fan-out, the controllers' queues) 1.0, managedFields 0.9, body checks and copies 0.5, the rest "
    "reading the stored version and comparing. Reconciles 6.3 ms, their writes included: the VM controller's 3.4 ms "
    "(3 writing reconciles per VM of 1.15 ms each: placement, the virt-launcher pod, libvirt's define and start 0.5 ms, "
    "the status), VirtualDisk 1.4, IP address claims and leases 1.0, volume binding 0.5; the reconciles that wrote "
    "nothing (woken by their own status writes, mostly) 0.45 ms. The writes are half of it and no step of a write is "
    "a sixth of the whole; the VM controller's own work besides its writes is about 2 ms, libvirt a quarter of that: "
    "halving the 8.6 ms takes halving the write path and the controllers' own work both | thread CPU (time.thread_time) in the server; this "
    "script, 300:3000 `--no-restart` |",
    "| Tried, not taken: a disk's DVCR clone (hard link, metadata, rename) on the event loop instead of the executor's "
    "threads. py-spy over a 1,000 / 10,000 build-up (all threads, 100 Hz) put 5% of the samples in the loop's sends of "
    "responses and 4% in its writes to the disk writer's pipe — calls that release the GIL, so perhaps time spent waiting "
    "to take it back from the clone threads; per-thread CPU (/proc/<pid>/task) says otherwise: the loop's thread is on "
    "a CPU ~90% of a build-up's wall time and the clone threads take ~0.7 CPU-ms per disk, mostly in the kernel | 300 / "
    "3,000: 28.4 / 32.4 s to all Running, the loop's thread 25.5 / 28.4 CPU-s | inline: 28.4 / 30.4 s, the loop's "
    "thread 27.6 / 30.1 CPU-s (the clone's system calls now on it): no gain beyond the machine's drift | this script, "
    "300:3000 `--no-restart`, A B A B, per-thread CPU read from /proc at the end |",
    "| Chaos at 1,000 VMs on one node, profiled (py-spy over the rescheduling): the ClusterVirtualImage the VMs boot "
    "from was woken by every write of every VM listing it and listed every VM mounting it each time (a third of the "
    "samples), and a node's scheduler state, made again after each write to one of its pods, read the requests of all "
    "of its ~250 pods again (a sixth). An image is now woken only when a VM starts or stops mounting it; each bound "
    "pod's share of its node (requests, labels, anti-affinity terms) is read once per version of the pod, within its "
    "write, and a node's state is summed from the shares (a property test holds it to the state made from scratch). "
    "The chaos run also follows the VMs through a watch instead of a LIST of every VM ten times a second, which cost "
    "the server a quarter of its loop at 1,000 VMs (both sides measured with the watch) | 300 / 1,000 VMs: every VM "
    "Running elsewhere 4.3, 4.1 / 10.2, 12.3 s after the failure (107–141 VMs a second after the fencing at 1,000), "
    "22.3 / 29.8 CPU-s for the 1,000-VM run | 3.7, 3.6 / 5.5, 5.5 s (384–420 VMs a second), 11.3 / 11.5 CPU-s | this "
    "script, `--sizes '' --chaos 300,1000`, the two sides alternating A B A B |",
    "| The measuring client, not the server: py-spy over a 1,000 / 10,000 build-up (all processes, 50 Hz) found the LIST "
    "side client — a process of its own — parsing each 40 MB LIST of 10,000 VMs with the standard library's json: "
    "3,421 samples there against 5,284 for the whole server, so it kept most of the second core busy, with the disk "
    "writer, the DVCR clone threads and the POSTing clients competing for the rest. It parses with orjson now. "
    "Also tried again on the freer machine, and not taken: libvirt's domain define and start on a thread (they "
    "release the GIL) | side client ~68 CPU-s per 10,000-VM build-up; 1,000 / 10,000: 96.1 / 105.6 s to all Running "
    "(the report before) | a tenth of that; 99.6 s, then 97.7 / 100.5 s in the report after it: the server, bound by its one "
    "event loop (~100 CPU-s per build-up), did not get faster beyond the machine's drift. libvirt on a thread, "
    "300 / 3,000: 29.3 / 32.3 s (32.0 / 36.5 CPU-s) against 28.3 / 29.4 s (28.9 / 31.2) — slower, the GIL's hand-overs "
    "cost more than the calls | py-spy `--subprocesses`; this script, 1000:10000 `--no-restart`; 300:3000 "
    "`--no-restart`, A B A B |",
    "| The LIST side client again: its CPU, now recorded with each build-up, showed the row above's \"a tenth\" wrong — "
    "orjson builds a Python object of every value of a 30–40 MB LIST, 0.2–0.7 CPU-s each (timed in process), once a "
    "second, so the client still kept most of a core busy beside the server on this machine of two. It decodes only each "
    "item's phase and IP now (msgspec with a typed schema skips the rest without making objects; a unit test holds its "
    "count to the whole parse's) | LIST side client 84.9 CPU-s of a 1,000 / 10,000 build-up: 145.7 s to all Running, "
    "146.7 server CPU-s | 10.2 CPU-s: 133.8 s, 141.5 server CPU-s (another run: 11.0 CPU-s, 139.9 s, 146.8 CPU-s). The "
    "server's own CPU per VM is unchanged; the wall time gains what the server no longer loses to the client | this "
    "script, 1000:10000 `--no-restart`, the two sides back to back (whole parse first), the clients' CPU from "
    "their own processes |",
    "| IPAM parses an address's or a CIDR's text once (functools.lru_cache over texts of up to 64 characters; errors "
    "are raised again, not remembered): a VM's start reads its lease's name and address and checks the range several times, and every lease "
    "write indexes the lease by the networks containing its address, ~20 parses per VM, ipaddress's parser ~2% of a "
    "profiled build-up. An index whose values a write lists as before is left alone without making sets (a randomized "
    "test holds every index to a scan) | lease name + lease address + range check 16.9 µs an address; a VM-sized "
    "store put 12.9–13.4 µs | 4.7 µs; 11.5–13.1 µs. Build-ups 300 / 3,000: 28.3 / 26.3 s before, 25.3 / 28.3 s after "
    "(26.4–29.2 CPU-s on both sides): the machine's drift is larger than either | in process, process CPU; this "
    "script, 300:3000 `--no-restart`, A B A B |",
    "| Tried, not taken: a faster interpreter. PyPy runs the write path's pure Python much faster — managedFields of a "
    "VM's five versions (`track_update`, the inputs copied beforehand) 22–28 µs a write under PyPy 7.3.11 once warm "
    "against 49–67 µs under CPython 3.11, JSON copies 2× faster — but the only PyPy this machine's registries carry is "
    "Debian 12's, which implements Python 3.9, and the simulator's pinned libraries (cel-python 0.5, jsonschema 4.26, "
    "fastjsonschema 2.22, aiohttp 3.14) require 3.10 or later; orjson has no PyPy build at all. Older libraries would "
    "change the platform's rules the simulator checks (CEL above all), so this stays a figure for later | — | — | "
    "apply.py's track_update over a VM's captured versions, 1,000 chains a round, 5 rounds, process CPU, the same "
    "file under both interpreters |",
    "| Tried, not taken: native code from the same source. Cython 3.3 (from PyPI, the machine's gcc) compiled the "
    "simulator's 101 modules unchanged (`annotation_typing=False`: the hints stay hints): the managedFields step (the "
    "same track_update replay) ran 42–47 µs a write against 51–52 µs, but whole build-ups did not move — the loop's "
    "time is spread over dict and JSON work in C, the libraries' Python (fastjsonschema's generated checks, "
    "cel-python, aiohttp, ssl) and many small steps of ours, none of which compiling without types makes much "
    "cheaper. Typed native code (mypyc, or Cython with C types) would mean rewriting the write path, with a build step "
    "before every run | track_update 51–52 µs a write (CPython) | 42–47 µs (compiled); build-ups 300 / 3,000: "
    "25.2 / 28.0 CPU-s compiled against 26.3 / 27.3 (A B A B), within the machine's drift | the track_update replay "
    "as above, 1,000 chains, 3 runs each side; this script, 300:3000 `--no-restart`, A B A B |",
    "| Restart at 10,000 VMs (10.14 s to serving in the make bench of 14dd218, over the target; 1,000 and 3,000 VMs "
    "had got faster): py-spy over a restart on the same state found two costs that grow with the cluster. The cyclic "
    "collector, switched off while the store loads and re-enabled over the millions of containers it had just made, "
    "walked them all in its first passes (~0.8 s, charged to the first allocations after the load); the store now "
    "freezes what it loaded (gc.freeze, as the simulator does once serving). And registration wrote every Node's "
    "status (1,000 writes, the Node's ~80 CPU labels making its managedFields large: ~1.5 s) where only its times had "
    "moved; a restart that finds a Node's status as the topology has it but for its times now leaves the post to the "
    "node's first round (within one Lease interval: heartbeat times posted, transition times kept, where the full "
    "write replaced them too), and a status that differs otherwise is written at registration as before. A unit test "
    "for each (both fail on the old code) | restart → serving on one 10,000-VM state: 7.98–10.39 s "
    "(8 restarts) | 4.90–6.71 s (8 restarts); the collector's part alone: 6.18–8.55 s (4) | `dvp-sim serve` on a kept "
    "1,000-node / 10,000-VM state until its ready line, the old and the new code alternating, two restarts per turn |",
    "| Tried, not taken: uvloop (libuv's event loop, TLS and sockets in C) under `dvp-sim serve`. The server's GET path "
    "is mostly its own Python and aiohttp's (py-spy under the 50-client GETs: TLS reads and writes ~10 % of the "
    "server's samples, authentication and RBAC ~10 %, the rest request handling), so the loop's own share was small: "
    "neither the 50-client GET nor a build-up moved beyond the machine's drift, and a compiled dependency for "
    "nothing measured stays out | 50-client GETs (asyncio): p99 18.4–28.5 ms, 3,570–4,312 req/s (6 rounds); "
    "build-ups 100 / 1,000: 16.6, 19.5, 19.5 s | uvloop 0.23: p99 18.9–24.0 ms, 3,571–4,689 req/s (6 rounds); "
    "18.5, 20.5, 19.5 s | the API benchmark's GET phase, 3 rounds per simulator, two simulators per side, "
    "alternating; this script, 100:1000 `--no-restart`, A B A B A B |",
    "| Measured, not changed: the build-up's own LIST probe. Each LIST of the namespace's VMs is encoded and encrypted "
    "whole (~40 MB at 10,000 VMs, ~0.1 server CPU-s), so the side client's LIST every second is about 8% of a "
    "10,000-VM build-up's server CPU. Kept at one a second: it is the figure of LIST latency under load, and the "
    "same probe as in earlier reports | LIST every 1 s: 202.4 / 186.1 s to all Running, 207 / 192 server CPU-s "
    "(168 / 165 LISTs) | LIST every 5 s: 178.6 / 169.0 s, 189 / 180 CPU-s (36 / 34 LISTs) | this script's "
    "build-up at 1,000:10,000, the probe's period 1 s and 5 s alternating (two runs each) |",
    "| Measured, not changed: where a 1,000 / 10,000 build-up's event loop goes after the fixes above. Controllers "
    "79 % of the loop's samples, API requests ~11 %, the rest watch fan-out, node heartbeats and the journal. Writes "
    "(the object service's creates, updates and patches, from controllers and clients) are 51 % of the loop: "
    "managedFields 22 % of them, the store's put (indexes, JSON, watch window) 17 %, schema validation 12 %, "
    "metadata validation 6 %, copies 6 %, uuid4 3 %, webhooks 3 %, pruning 3 %, and a long tail; ~200,000 writes, "
    "~0.25 ms each. The VM controller is half of the loop, 64 % of it in its writes and in libvirt's defineXML and "
    "create (~9 % of the loop; on a thread they were slower, the row above). No part is large enough to halve the "
    "build-up: that needs the second core (the server and the clients used ~132 of the 222 CPU-s two cores gave "
    "this run), i.e. the controllers in a process of their own, and a write path about twice as cheap | 110.8 s to "
    "all Running, 116 server CPU-s (11.6 ms per VM) | — | py-spy on the server process (40 Hz, `--nonblocking`), "
    "this script, 1000:10000 `--no-restart --runs 1` |",
    "",
]


# -- where the time goes (a profiled build-up, generated by every run) ----------------------------------------------
PROFILE_SIZE = (300, 3000)  # big enough for the costs that grow with nodes and time (scheduling, Leases) to show
# (label, file suffix, function): inclusive (cumulative) time of the matching functions, by what the server was doing
ACTIVITIES = [
    ("API requests (the clients' POSTs, the side clients' GETs and LISTs; TLS and JSON included)", "aiohttp/web_protocol.py", "_handle_request"),
    ("controller reconciles (all controllers, their writes included)", "controllers/runtime.py", "_work"),
    ("node agents (Lease renewals every 10 simulated s, node status)", "nodes/fleet.py", "_beats"),
    ("the controllers' writes committed at the end of the loop's pass (most are committed at the end of their worker's slice, in the reconciles above)", "store/store.py", "_flush_pending"),
]
CONTROLLERS = [  # the costliest reconcilers, inside "controller reconciles"
    ("  of which the VM controller (placement, virt-launcher pod, domain, status)", "controllers/vm.py", "reconcile"),
    ("  of which the VirtualDisk controller", "controllers/vd.py", "reconcile"),
    ("  of which IP address claims and leases", "controllers/vmip.py", "reconcile"),
    ("  of which volume binding (PVC → PV)", "controllers/volume_binding.py", "reconcile_with_pools"),
]
WRITE_PATH = [  # across all of the above: what one write costs, by step
    ("every write: admission (defaults, pruning, schema, CEL, webhooks)", "api/service.py", "_admit"),
    ("every write: managedFields bookkeeping", "api/apply.py", "track_update"),
    ("every write: the store (indexes, watch fan-out; a client's write its own commit)", "store/store.py", "put"),
    ("SQLite commits (the controllers' writes at the end of a worker's slice or the loop's pass, or before a response; each client's write with them)", "store/store.py", "_commit"),
    ("every write: its events mapped onto the watching controllers' queues (inside the write)", "controllers/runtime.py", "deliver"),
    ("copies of bodies and stored objects (json_copy)", "api/service.py", "json_copy"),
    ("scheduling (filters and scores over the nodes: numpy columns for a plain pod, else the filter functions)", "controllers/vm.py", "place"),
]


def _inclusive(stats: pstats.Stats, suffix: str, name: str) -> float:
    return sum(v[3] for (file, _, func), v in stats.stats.items() if file.endswith(suffix) and func == name)  # type: ignore[attr-defined]


def profile_breakdown(profile: Path, f: dict) -> list[str]:
    """Markdown: a profiled build-up's server time by activity and by step of the write path."""
    stats = pstats.Stats(str(profile))
    total = stats.total_tt  # type: ignore[attr-defined]
    idle = sum(v[2] for (file, _, func), v in stats.stats.items() if "epoll" in func)  # type: ignore[attr-defined]
    writes = sum(v[0] for (file, _, func), v in stats.stats.items() if file.endswith("store/store.py") and func == "put")  # type: ignore[attr-defined]
    n = f["vms"]
    lines = [
        "### Where the time goes",
        "",
        f"The {f['nodes']:,}-node / {n:,}-VM build-up once more, the server under cProfile (which slows it about twofold, "
        f"so seconds here are profiled seconds: {total:.0f} s in all, {f['running']:.0f} s to all Running, {writes:,} store writes = "
        f"{writes / n:.0f} per VM with its disk, Lease renewals included). Inclusive time: a row contains what it calls, the "
        "indented rows are parts of the row above, and the write-path rows cut across the activities.",
        "",
        "| Activity | profiled s | share | per VM |",
        "| --- | --- | --- | --- |",
    ]

    def row(label: str, seconds: float) -> str:
        return f"| {label} | {seconds:.1f} | {seconds / total:.0%} | {seconds / n * 1000:.1f} ms |"

    for label, suffix, name in ACTIVITIES:
        lines.append(row(label, _inclusive(stats, suffix, name)))
        if name == "_work":
            lines += [row(sub, _inclusive(stats, s2, n2)) for sub, s2, n2 in CONTROLLERS]
    lines.append(row("waiting for I/O (epoll: the server idle)", idle))
    lines += ["", "| Step of the write path | profiled s | share | per VM |", "| --- | --- | --- | --- |"]
    lines += [row(label, _inclusive(stats, suffix, name)) for label, suffix, name in WRITE_PATH]
    return lines + [""]


def profiled(size: tuple[int, int] = PROFILE_SIZE) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="dvp-bench-profile-") as tmp:
        profile = Path(tmp) / "server.prof"
        f = build(*size, Path(tmp), profile=profile)
        return profile_breakdown(profile, f)


def measure(sizes: list[tuple[int, int]], chaos_sizes: list[int], restarts: bool = True, runs: int | None = None) -> tuple[list[dict], list[dict]]:
    """Every size's build-ups and chaos runs (`runs` each, else BUILD_RUNS / CHAOS_RUNS): one dict per size, its first
    run's figures with the later runs' under "repeats" (the report takes medians and ranges over all of them)."""
    builds, chaos_results = [], []
    for nodes, count in sizes:
        done: list[dict] = []
        for i in range(runs or BUILD_RUNS.get(count, 1)):
            with tempfile.TemporaryDirectory(prefix="dvp-bench-scale-") as tmp:
                done.append(build(nodes, count, Path(tmp), restarts=restarts and not i, census=not i))
        builds.append({**done[0], "repeats": done[1:]})
    for count in chaos_sizes:
        done = []
        for _ in range(runs or CHAOS_RUNS.get(count, 1)):
            with tempfile.TemporaryDirectory(prefix="dvp-bench-chaos-") as tmp:
                done.append(chaos(count, Path(tmp)))
        chaos_results.append({**done[0], "repeats": done[1:]})
    return builds, chaos_results


def all_runs(f: dict) -> list[dict]:
    """A size's runs: the first and its repeats."""
    return [f, *f.get("repeats", [])]


def run(sizes: list[tuple[int, int]] | None = None, chaos_sizes: list[int] | None = None) -> str:
    """The markdown section for docs/benchmarks.md."""
    builds, chaos_results = measure(sizes or SIZES, CHAOS_SIZES if chaos_sizes is None else chaos_sizes)
    return section(builds, chaos_results, profiled())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(f"{n}:{v}" for n, v in SIZES), help="NODES:VMS,… (default %(default)s)")
    parser.add_argument("--chaos", default=",".join(str(n) for n in CHAOS_SIZES), help="VMs on the failing node, comma-separated; empty for none")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave docs/benchmarks.md alone")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--no-restart", action="store_true", help="the build-ups only (no restarts, no idle CPU)")
    parser.add_argument("--runs", type=int, help="runs per size (default: BUILD_RUNS and CHAOS_RUNS)")
    parser.add_argument("--profile", type=Path, help="one build-up (the first size) under cProfile; prints its top costs")
    parser.add_argument("--breakdown", action="store_true", help="add the profiled build-up's breakdown (as bench/run.py does)")
    args = parser.parse_args()
    sizes = [(int(a), int(b)) for a, b in (s.split(":") for s in args.sizes.split(",") if s)]
    chaos_sizes = [int(n) for n in args.chaos.split(",") if n]
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="dvp-bench-scale-") as tmp:
            f = build(*sizes[0], Path(tmp), profile=args.profile)
        print(json.dumps({k: v for k, v in f.items() if not isinstance(v, list)}, indent=1))
        print("\n".join(profile_breakdown(args.profile, f)))
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        return 0
    builds, chaos_results = measure(sizes, chaos_sizes, restarts=not args.no_restart, runs=args.runs)
    if args.json:
        args.json.write_text(json.dumps({"builds": builds, "chaos": chaos_results}, indent=1))
    text = section(builds, chaos_results, profiled() if args.breakdown else None)
    print(text)
    if not args.no_write:
        replace_section(HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
