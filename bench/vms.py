"""Scale sanity of running virtual machines: a generated 100-node topology with a storage class, the ModuleConfig
`virtualization` with a /20 of VM addresses, one ClusterVirtualImage (HTTP), then 1,000 VirtualMachines, each with
its own VirtualDisk from that image, created by concurrent aiohttp clients over HTTPS; reports the time until a LIST
shows all 1,000 Running with an IP, the create rate, the server's CPU and peak RSS (VmHWM), and how the VMs spread
over the nodes. `python bench/vms.py` runs this section alone and rewrites it in docs/benchmarks.md;
`python bench/vms.py --profile FILE` runs the simulator under cProfile and prints its top costs (docs untouched);
`bench/run.py` runs it with the others. A benchmark, not a test: nothing fails on a slow figure.
"""

from __future__ import annotations

import asyncio
import json
import pstats
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import msgspec
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.proc import cpu_seconds, memory  # noqa: E402,F401  (the benchmarks' figures of the simulator)
from bench.report import replace_section, section_lines  # noqa: E402
from tests.image_sources import FileServer  # noqa: E402
from tests.simulator_process import BIN, Simulator  # noqa: E402

NODES, VMS, CLIENTS = 100, 1000, 20
TIME_SCALE = 4.0  # simulated seconds per real second: the 3 s boot is 0.75 s, a node's 10 s Lease renewal 2.5 s
CIDR = "10.66.0.0/20"  # 4,094 usable addresses
NAMESPACE = "bench"
TIMEOUT = 900.0
HEADING = "## Virtual machines at scale"
V2 = "/apis/virtualization.deckhouse.io/v1alpha2"
MODULE_CONFIGS = "/apis/deckhouse.io/v1alpha1/moduleconfigs"
API = "virtualization.deckhouse.io/v1alpha2"
MODELS = [("Intel", "Haswell-noTSX", ["vme"]), ("Intel", "Skylake-Client-noTSX-IBRS", ["vme", "f16c"]), ("AMD", "EPYC", [])]

Row = tuple[str, str, str, str]


def log(message: str) -> None:
    print(f"[bench vms] {message}", file=sys.stderr, flush=True)


def topology(count: int) -> dict:
    nodes = []
    for i in range(count):
        vendor, model, features = MODELS[i % len(MODELS)]
        nodes.append({"name": f"worker-{i:03d}", "labels": {"pool": f"pool-{i % 4}"}, "cpu": {"vendor": vendor, "model": model, "features": features, "cores": 16}, "memory": "64Gi"})
    return {
        "cluster": {"podSubnetCIDR": "10.96.0.0/12", "serviceSubnetCIDR": "10.222.0.0/16", "nodeSubnetCIDR": "192.168.0.0/16"},
        "nodes": nodes,
        "storageClasses": [
            {"name": "replicated", "provisioner": "replicated.csi.storage.deckhouse.io", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "volumeMode": "Block", "capacity": "100Ti", "default": True}
        ],
    }


def disk(i: int) -> dict:
    return {
        "apiVersion": API,
        "kind": "VirtualDisk",
        "metadata": {"name": f"vm-{i:04d}-root", "namespace": NAMESPACE},
        "spec": {"dataSource": {"type": "ObjectRef", "objectRef": {"kind": "ClusterVirtualImage", "name": "ubuntu"}}},
    }


def machine(i: int) -> dict:
    return {
        "apiVersion": API,
        "kind": "VirtualMachine",
        "metadata": {"name": f"vm-{i:04d}", "namespace": NAMESPACE},
        "spec": {
            "virtualMachineClassName": "generic",
            "cpu": {"cores": 1, "coreFraction": "10%"},
            "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "VirtualDisk", "name": f"vm-{i:04d}-root"}],
            "provisioning": {"type": "UserData", "userData": "#cloud-config\nssh_pwauth: true\n"},
        },
    }


def _up(phase: str | None, ip: str | None) -> bool:
    """A VM the benchmarks count as Running: phase Running with an IP address."""
    return phase == "Running" and bool(ip)


def running(vm: dict) -> bool:
    status = vm.get("status") or {}
    return _up(status.get("phase"), status.get("ipAddress"))


class _Status(msgspec.Struct):
    phase: str | None = None
    ipAddress: str | None = None


class _VM(msgspec.Struct):
    status: _Status | None = None


class _VMList(msgspec.Struct):
    items: list[_VM] = []


# Decodes a LIST's body into the two status fields of each item and skips the rest without making a Python object of
# it: 30-40 MB of 10,000 VMs in ~0.05 CPU-s, where a whole parse (orjson) takes 0.2-0.7 s. A measuring client
# LISTing once a second with a whole parse kept ~70% of a core busy on a machine of two, beside the server it measures.
_VM_LIST = msgspec.json.Decoder(_VMList)


def count_running(body: bytes) -> tuple[int, int]:
    """(items, items Running with an IP) of a LIST of VirtualMachines, as its JSON bytes."""
    items = _VM_LIST.decode(body).items
    return len(items), sum(1 for vm in items if vm.status is not None and _up(vm.status.phase, vm.status.ipAddress))


class Client:
    def __init__(self, server: str, token: str, ca_file: Path):
        self.base = server
        self.tls = ssl.create_default_context(cafile=str(ca_file))
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.tls, limit=CLIENTS), headers=self.headers, timeout=aiohttp.ClientTimeout(total=None, sock_read=120))

    async def running(self, session: aiohttp.ClientSession) -> tuple[int, int]:
        """(VMs, VMs Running with an IP) in the namespace, by one LIST (count_running: no whole parse)."""
        async with session.get(f"{self.base}{V2}/namespaces/{NAMESPACE}/virtualmachines") as resp:
            data = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"LIST of the VMs: {resp.status} {data[:300]!r}")
            return count_running(data)

    async def request(self, session: aiohttp.ClientSession, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200, 201)) -> tuple[int, dict]:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with session.request(method, self.base + path, data=json.dumps(body) if body is not None else None, headers=headers) as resp:
            data = await resp.read()
            if resp.status not in ok:
                raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
            return resp.status, json.loads(data) if data else {}

    async def wait(self, session: aiohttp.ClientSession, path: str, done, what: str, timeout: float = 120.0) -> dict:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            status, obj = await self.request(session, "GET", path, ok=(200, 404))
            if status == 200 and done(obj):
                return obj
            await asyncio.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    async def prepare(self, image_url: str, cidr: str = CIDR) -> None:
        """Namespace, ModuleConfig (CIDR, disk storage class), the ClusterVirtualImage Ready, the generic class Ready."""
        async with self.session() as s:
            await self.request(s, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            settings = {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}, "virtualMachineCIDRs": [cidr], "virtualDisks": {"defaultStorageClassName": "replicated"}}
            status, _ = await self.request(s, "GET", f"{MODULE_CONFIGS}/virtualization", ok=(200, 404))
            if status == 200:
                await self.request(s, "PATCH", f"{MODULE_CONFIGS}/virtualization", {"spec": {"enabled": True, "version": 1, "settings": settings}})
            else:
                config = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"}, "spec": {"enabled": True, "version": 1, "settings": settings}}
                await self.request(s, "POST", MODULE_CONFIGS, config)
            image = {"apiVersion": API, "kind": "ClusterVirtualImage", "metadata": {"name": "ubuntu"}, "spec": {"dataSource": {"type": "HTTP", "http": {"url": image_url}}}}
            await self.request(s, "POST", f"{V2}/clustervirtualimages", image)
            await self.wait(s, f"{V2}/clustervirtualimages/ubuntu", lambda o: (o.get("status") or {}).get("phase") == "Ready", "the image")
            await self.wait(s, f"{V2}/virtualmachineclasses/generic", lambda o: (o.get("status") or {}).get("phase") == "Ready", "class generic")

    async def create(self, count: int, with_disks: bool = True, vm=machine) -> list[float]:
        """CLIENTS closed-loop clients, each POSTing a disk (unless not `with_disks`) then its VM (`vm(i)`): the
        completion time of each VM's POST."""
        done: list[float] = []
        numbers = iter(range(count))
        every = max(200, count // 10)
        async with self.session() as s:

            async def client() -> None:
                for i in numbers:
                    if with_disks:
                        await self.request(s, "POST", f"{V2}/namespaces/{NAMESPACE}/virtualdisks", disk(i))
                    await self.request(s, "POST", f"{V2}/namespaces/{NAMESPACE}/virtualmachines", vm(i))
                    done.append(time.perf_counter())
                    if len(done) % every == 0:
                        log(f"{len(done)} VMs created")

            await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return done

    async def until_running(self, count: int, started: float) -> tuple[list[dict], list[tuple[float, int]]]:
        """LIST the VMs every 0.5 s until all `count` are Running with an IP: the last LIST and (time, running) samples."""
        samples: list[tuple[float, int]] = []
        async with self.session() as s:
            while time.perf_counter() - started < TIMEOUT:
                there, up = await self.running(s)
                samples.append((time.perf_counter() - started, up))
                if there == count and up == count:
                    _, body = await self.request(s, "GET", f"{V2}/namespaces/{NAMESPACE}/virtualmachines")  # whole, once
                    return body["items"], samples
                if len(samples) % 10 == 0:
                    log(f"{up} of {count} Running")
                await asyncio.sleep(0.5)
        raise RuntimeError(f"not all VMs Running after {TIMEOUT:.0f} s: {samples[-1]}")


def start_profiled(state: Path, profile: Path, *extra: str, time_scale: float = TIME_SCALE) -> Simulator:
    """`dvp-sim serve` under cProfile, ready as Simulator.start is (the profile is written when it stops on SIGTERM)."""
    state.mkdir(parents=True, exist_ok=True)
    kubeconfig = state / "kubeconfig"
    argv = [str(BIN / "python"), "-m", "cProfile", "-o", str(profile), str(BIN / "dvp-sim"), "serve", "--port", "0"]
    argv += ["--state-dir", str(state), "--kubeconfig", str(kubeconfig), "--time-scale", str(time_scale), *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(state / "server.log", "ab"), text=True)
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    sim = Simulator(state, kubeconfig, proc)
    cfg = yaml.safe_load(kubeconfig.read_text())
    sim.server, sim.token = cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"]
    sim.ca_file = state / "pki" / "ca.crt"
    return sim


def measure(profile: Path | None = None) -> dict:
    f: dict = {}
    with tempfile.TemporaryDirectory(prefix="dvp-bench-vms-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "topology.yaml").write_text(yaml.safe_dump(topology(NODES)))
        www = tmp_path / "www"
        www.mkdir()
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(www / "ubuntu.qcow2"), "64M"], check=True)
        files = FileServer(www)
        extra = ("--topology", str(tmp_path / "topology.yaml"))
        t = time.perf_counter()
        sim = start_profiled(tmp_path / "state", profile, *extra) if profile else Simulator.start(tmp_path / "state", *extra, time_scale=TIME_SCALE)
        try:
            f["ready"] = time.perf_counter() - t
            pid = sim.process.pid
            client = Client(sim.server, sim.token, sim.ca_file)
            asyncio.run(client.prepare(files.url("ubuntu.qcow2")))
            f["idle_rss"] = memory(pid)["VmRSS"]
            cpu0, started = cpu_seconds(pid), time.perf_counter()
            created: dict = {}

            async def create() -> list[float]:
                done = await client.create(VMS)
                created.update(cpu=cpu_seconds(pid) - cpu0, rss=memory(pid)["VmRSS"])
                log(f"{VMS} disks and VMs created in {done[-1] - started:.1f} s")
                return done

            async def both() -> tuple[list[float], tuple[list[dict], list[tuple[float, int]]]]:
                return await asyncio.gather(create(), client.until_running(VMS, started))

            done, (items, samples) = asyncio.run(both())
            f["created"], f["cpu_created"], f["created_rss"] = done[-1] - started, created["cpu"], created["rss"]
            f["running"], f["cpu"] = samples[-1][0], cpu_seconds(pid) - cpu0
            f["half"] = next(at for at, up in samples if up >= VMS // 2)
            f["lists"] = len(samples)
            f["memory"] = memory(pid)
            per_node = Counter((vm.get("status") or {}).get("nodeName", "") for vm in items)
            f["per_node"] = [per_node.get(f"worker-{i:03d}", 0) for i in range(NODES)]
            f["ips"] = len({vm["status"]["ipAddress"] for vm in items})
        finally:
            code = sim.stop()
            files.stop()
            if code:
                log(f"simulator exited with {code}; log ends:\n{(tmp_path / 'state' / 'server.log').read_text()[-3000:]}")
    return f


def rows(f: dict) -> list[Row]:
    counts = f["per_node"]
    spread = Counter(counts)
    mem = f["memory"]
    return [
        (
            f"{VMS:,} VirtualDisks + {VMS:,} VirtualMachines POSTed by {CLIENTS} clients",
            f"{f['created']:.1f} s = {VMS / f['created']:.0f} VMs/s ({2 * VMS / f['created']:.0f} objects/s); server CPU meanwhile {f['cpu_created']:.1f} s",
            "—",
            "reported",
        ),
        (
            f"first POST → a LIST shows all {VMS:,} Running with an IP",
            f"{f['running']:.1f} s, {f['running'] - f['created']:.1f} s after the last POST (half Running after {f['half']:.1f} s; {f['lists']} LISTs meanwhile); {f['ips']:,} distinct IPs",
            "—",
            "reported",
        ),
        ("server CPU from the first POST to all Running", f"{f['cpu']:.1f} CPU-s = {f['cpu'] / VMS * 1000:.1f} ms per VM (its disk included)", "—", "reported"),
        (
            "server memory",
            f"peak RSS (VmHWM) {mem['VmHWM'] / 1024:.0f} MiB; VmRSS idle with {NODES} nodes and the image {f['idle_rss'] / 1024:.0f} MiB, "
            f"after the POSTs {f['created_rss'] / 1024:.0f} MiB, all Running {mem['VmRSS'] / 1024:.0f} MiB",
            "—",
            "reported",
        ),
        (
            f"VMs per node ({NODES} nodes)",
            f"min {min(counts)}, median {statistics.median(counts):g}, max {max(counts)}; nodes by VM count: "
            + ", ".join(f"{n} VMs × {spread[n]}" for n in sorted(spread)),
            "—",
            "reported",
        ),
    ]


def section(f: dict) -> list[str]:
    method = (
        f"The benchmark writes a {NODES}-node topology (16 cores and 64 GiB each, three CPU kinds, one default "
        "StorageClass `replicated` offering RWX with a 100 TiB pool), starts `dvp-sim serve --topology FILE "
        f"--time-scale {TIME_SCALE:g}` with a fresh state directory (so a VM's simulated 3 s boot takes 0.75 s), sets "
        f"the ModuleConfig `virtualization` (virtualMachineCIDRs [{CIDR}], disks' default class `replicated`), imports "
        "one ClusterVirtualImage over HTTP (an empty 64 MiB qcow2 from a loopback file server) and waits for it and the "
        f"`generic` class to be Ready. Then {CLIENTS} closed-loop aiohttp clients (HTTPS, bearer token) each POST a "
        f"VirtualDisk from the image (ObjectRef, sized by the simulator to the image) and then its VirtualMachine "
        "(class `generic`, 1 core at 10%, 1 GiB, cloud-init user data, default run policy) until "
        f"{VMS:,} of each exist; the clients do not wait for anything between POSTs. Meanwhile a LIST of the VMs every 0.5 s from "
        "the first POST counts those in phase Running with `status.ipAddress`; the clock runs from the first POST to the LIST "
        "showing all of them. Each VM there has been through admission, the disk's claim and volume, the scheduler, "
        "an IP lease, a virt-launcher Pod and a libvirt domain defined and started on its node's own test-driver "
        "connection. Server CPU is utime+stime from /proc; peak RSS is VmHWM at the end. The last LIST gives the VMs "
        "per node (the scheduler scores by free CPU and memory)."
    )
    return [*section_lines(HEADING, method, rows(f)), ""]


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    return "\n".join(section(measure()))


def profile(path: Path) -> None:
    measure(path)
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(30)


def main() -> int:
    """Run this section alone and put it into docs/benchmarks.md in place of the previous one (or before the total)."""
    if sys.argv[1:2] == ["--profile"]:
        profile(Path(sys.argv[2]))
        return 0
    text = run()
    print(text)
    replace_section(HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
