"""Benchmark of image imports, as the platform's users meet them: a fresh `dvp-sim serve`, a 1 GiB raw disk image
served over plain HTTP on 127.0.0.1 (uncompressed, .gz and .xz) and uploaded by the `cluster_virtual_image` module,
each timed against curl (with gzip/xz) moving the same bytes on the same machine in the same run.

Figures are ratios, reference time / our time (≥ 1 means as fast as the reference or faster): the machine is
shared and noisy, so only like-for-like comparisons made in the same run mean anything. Each side runs several
times, in alternating order, and the fastest runs are compared (the runs least disturbed by the rest of the machine).
A benchmark, not a test: a missed target is reported, nothing fails.
"""

from __future__ import annotations

import http.client
import json
import lzma
import os
import random
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import proc  # noqa: E402
from tests.ansible_runner import run_playbook  # noqa: E402
from tests.simulator_process import Simulator  # noqa: E402

MiB = 1024 * 1024
IMAGE_MIB = 1024  # the image: 1 GiB, every byte of it data (no holes)
SMALL_MIB = 1  # the upload baseline: the same module task with a 1 MiB file
POOL = 32  # distinct 1 MiB blocks the image is made of: half random bytes, half text-like
ROUNDS = 3
RAW_ROUNDS = 5  # the uncompressed import is short (≈ 1.5 s) and the noisiest: more runs, still cheap
POLL = 0.05  # seconds between GETs of the image while waiting for a phase
RSS_EVERY = 0.05  # seconds between samples of the simulator's VmRSS
TIMEOUT = 600.0
GZIP_LEVEL, XZ_PRESET = 6, 6  # gzip's and xz's defaults

RATIO_TARGET = 0.8
RSS_TARGET_MIB = 200

GROUP = "/apis/virtualization.deckhouse.io/v1alpha2"
CVIS = GROUP + "/clustervirtualimages"
API_VERSION = "virtualization.deckhouse.io/v1alpha2"
MODULE = "deckhouse.virtualization.cluster_virtual_image"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def rate(seconds: float, mib: int = IMAGE_MIB) -> str:
    return f"{mib / seconds:,.0f} MiB/s" if seconds > 0 else "—"


# -- the images -------------------------------------------------------------------------------------------
def _text_block(rng: random.Random, words: list[bytes]) -> bytes:
    """Words from a small vocabulary, the way logs, configuration and code compress (gzip to ~60%)."""
    out = b" ".join(rng.choices(words, k=MiB // 4))
    while len(out) < MiB:
        out += b" " + b" ".join(rng.choices(words, k=MiB // 16))
    return out[:MiB]


def _xz_block(data: bytes) -> tuple[bytes, int]:
    """One xz block holding `data` (its header, compressed data, padding and CRC64), and its unpadded size."""
    stream = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=XZ_PRESET)
    backward = (int.from_bytes(stream[-8:-4], "little") + 1) * 4  # the index's size, from the stream footer
    index = stream[-12 - backward : -12]
    pos, values = 1, []  # index indicator 0x00, then varints: record count, unpadded size, uncompressed size
    for _ in range(3):
        value = shift = 0
        while True:
            byte = index[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        values.append(value)
    count, unpadded, uncompressed = values
    if count != 1 or uncompressed != len(data):
        raise RuntimeError(f"liblzma made {count} blocks of {uncompressed} bytes for {len(data)}")
    return stream[12 : -12 - backward], unpadded


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _xz_stream_header() -> bytes:
    flags = b"\x00\x04"  # CRC64
    return b"\xfd7zXZ\x00" + flags + zlib.crc32(flags).to_bytes(4, "little")


def _xz_stream_tail(records: list[tuple[int, int]]) -> bytes:
    """The index (one record per block) and the stream footer."""
    index = b"\x00" + _varint(len(records)) + b"".join(_varint(u) + _varint(n) for u, n in records)
    index += b"\x00" * (-len(index) % 4)
    index += zlib.crc32(index).to_bytes(4, "little")
    body = (len(index) // 4 - 1).to_bytes(4, "little") + b"\x00\x04"
    return index + zlib.crc32(body).to_bytes(4, "little") + body + b"YZ"


def _deflate(data: bytes) -> bytes:
    """Raw deflate of `data`, ended with a sync flush: pieces made this way concatenate into one deflate stream."""
    engine = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return engine.compress(data) + engine.flush(zlib.Z_SYNC_FLUSH)


@dataclass
class Images:
    raw: Path
    gz: Path
    xz: Path
    small: Path
    seconds: float
    sizes: dict[str, int] = field(default_factory=dict)  # file name -> bytes (the files are gone when the report is written)

    def size(self, path: Path) -> str:
        size = self.sizes[path.name]
        return f"{size / MiB:,.0f} MiB ({size / self.sizes[self.raw.name]:.0%})"


def make_images(folder: Path) -> Images:
    """The 1 GiB raw image, and its .gz (one gzip member) and .xz (one xz stream of 1 MiB blocks), written in one pass.

    Compressing a whole gibibyte with gzip -6 and xz -6 takes minutes on this machine, so each distinct block is
    compressed once and the pieces are assembled the way pigz (independent deflate blocks in one member) and
    xz -T (independent LZMA2 blocks in one stream) assemble theirs: files any gzip/xz reader takes as one member
    or stream, decompressing as fast per byte as the single-threaded tools' output.
    """
    started = time.perf_counter()
    rng = random.Random(20240501)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz_./0123456789", k=rng.randint(2, 12))) for _ in range(4000)]
    pool = [rng.randbytes(MiB) if i % 2 == 0 else _text_block(rng, words) for i in range(POOL)]
    boot = bytearray(rng.randbytes(MiB))  # the first MiB: random bytes with an MBR boot signature, as a disk starts
    boot[510:512] = b"\x55\xaa"
    pool.append(bytes(boot))
    order = [POOL] + [rng.randrange(POOL) for _ in range(IMAGE_MIB - 1)]
    with ThreadPoolExecutor(2) as pool_threads:  # zlib and liblzma release the GIL
        deflated = list(pool_threads.map(_deflate, pool))
        xz_blocks = list(pool_threads.map(_xz_block, pool))

    raw, gz, xz = folder / "disk.raw", folder / "disk.raw.gz", folder / "disk.raw.xz"
    crc = 0
    with open(raw, "wb") as r, open(gz, "wb") as g, open(xz, "wb") as x:
        g.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")  # gzip header: deflate, no name, no mtime, Unix
        x.write(_xz_stream_header())
        for i in order:
            r.write(pool[i])
            crc = zlib.crc32(pool[i], crc)
            g.write(deflated[i])
            x.write(xz_blocks[i][0])
        g.write(b"\x03\x00")  # an empty final deflate block
        g.write(crc.to_bytes(4, "little") + (IMAGE_MIB * MiB % 2**32).to_bytes(4, "little"))
        x.write(_xz_stream_tail([(xz_blocks[i][1], MiB) for i in order]))
    small = folder / "small.raw"
    small.write_bytes(bytes(boot[: SMALL_MIB * MiB]))
    return Images(raw, gz, xz, small, time.perf_counter() - started, {p.name: p.stat().st_size for p in (raw, gz, xz, small)})


# -- the simulator, seen from outside ---------------------------------------------------------------------
class Api:
    """One keep-alive HTTPS connection to the API server (one per thread)."""

    def __init__(self, sim: Simulator):
        url = urlsplit(sim.server)
        context = ssl.create_default_context(cafile=str(sim.ca_file))
        self.conn = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=60)
        self.headers = {"Authorization": f"Bearer {sim.token}", "Accept": "application/json", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}

    def create(self, obj: dict) -> dict:
        status, out = self.call("POST", CVIS, obj)
        if status != 201:
            raise RuntimeError(f"POST {obj['metadata']['name']}: {status} {out}")
        return out

    def delete(self, name: str) -> None:
        """Delete the image and wait until it is gone (its DVCR data goes with it)."""
        self.call("DELETE", f"{CVIS}/{name}")
        end = time.monotonic() + 60
        while self.call("GET", f"{CVIS}/{name}")[0] != 404:
            if time.monotonic() > end:
                raise RuntimeError(f"{name} was not deleted within 60 s")
            time.sleep(POLL)

    def close(self) -> None:
        self.conn.close()


def http_image(name: str, url: str) -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterVirtualImage",
        "metadata": {"name": name},
        "spec": {"dataSource": {"type": "HTTP", "http": {"url": url}}},
    }


def upload_image(name: str) -> dict:
    return {"apiVersion": API_VERSION, "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": {"type": "Upload"}}}


class Phases(threading.Thread):
    """GETs one image every POLL seconds (404 while it does not exist yet) and notes when each phase was first seen."""

    def __init__(self, sim: Simulator, name: str):
        super().__init__(daemon=True)
        self.sim, self.name = sim, name
        self.seen: dict[str, float] = {}  # phase -> perf_counter() when first seen
        self.last: dict = {}
        self.changed = threading.Condition()
        self.stopping = False
        self.error: BaseException | None = None

    def run(self) -> None:
        api = Api(self.sim)
        try:
            while not self.stopping:
                tick = time.perf_counter()
                status, obj = api.call("GET", f"{CVIS}/{self.name}")
                now = time.perf_counter()
                if status == 200:
                    phase = obj.get("status", {}).get("phase") or "<none>"
                    with self.changed:
                        self.last = obj
                        if phase not in self.seen:
                            self.seen[phase] = now
                            self.changed.notify_all()
                    if phase in ("Ready", "Failed"):
                        return
                time.sleep(max(0.0, POLL - (time.perf_counter() - tick)))
        except BaseException as exc:  # reported by wait()
            self.error = exc
            with self.changed:
                self.changed.notify_all()
        finally:
            api.close()

    def wait(self, *phases: str, timeout: float = TIMEOUT) -> float:
        """When the first of `phases` was seen; raises if the image failed or the time ran out."""
        with self.changed:
            ok = self.changed.wait_for(lambda: self.error or "Failed" in self.seen or any(p in self.seen for p in phases), timeout)
        if self.error:
            raise RuntimeError(f"polling {self.name}: {self.error}") from self.error
        if not ok or "Failed" in self.seen:
            raise RuntimeError(f"{self.name}: phase {self.last.get('status', {}).get('phase')}: {json.dumps(self.last.get('status', {}))[:800]}")
        return min(self.seen[p] for p in phases if p in self.seen)

    def stop(self) -> None:
        self.stopping = True
        self.join(5)


class Process:
    """CPU seconds (utime + stime) and memory of a process and its live children (bench/proc.py)."""

    def __init__(self, pid: int):
        self.pid = pid

    def cpu(self) -> float:
        return proc.cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        """In bytes."""
        return {key: kb * 1024 for key, kb in proc.memory(self.pid).items()}


class RSSSampler(threading.Thread):
    """The simulator's VmRSS every RSS_EVERY seconds; the peak per labelled stretch of the run."""

    def __init__(self, process: Process):
        super().__init__(daemon=True)
        self.process = process
        self.label = "idle"
        self.peaks: dict[str, int] = {}
        self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                rss = self.process.memory()["VmRSS"]
            except (OSError, KeyError):
                return
            self.samples += 1
            self.peaks[self.label] = max(self.peaks.get(self.label, 0), rss)
            self.stopping.wait(RSS_EVERY)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


class FileServerProcess:
    """The tests' `FileServer`, in a process of its own: its threads do not compete for this process's GIL with the
    pollers, and its CPU is nobody's in the figures."""

    CODE = "import sys; from pathlib import Path; from tests.image_sources import FileServer; s = FileServer(Path(sys.argv[1])); print(s.url(''), flush=True); sys.stdin.read()"

    def __init__(self, root: Path):
        self.process = subprocess.Popen([sys.executable, "-c", self.CODE, str(root)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base = self.process.stdout.readline().strip()
        if not self.base.startswith("http://"):
            self.process.kill()
            raise RuntimeError(f"the file server did not start: {self.base!r}")

    def url(self, name: str) -> str:
        return self.base + name

    def stop(self) -> None:
        self.process.stdin.close()  # it exits at the end of its stdin
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    """One timed run: wall seconds, and CPU seconds of the side doing the work (simulator, or curl & co)."""

    seconds: float
    cpu: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds if self.seconds else 0.0


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def shell(command: str) -> None:
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command}: exit {result.returncode}: {result.stderr[-800:]}")


def settle() -> None:
    """Between runs: the last run's written and deleted gibibyte on disk (a journal commit, and with ext4's `discard`
    the freed blocks trimmed), so that work does not land in the next run's time."""
    os.sync()
    time.sleep(0.5)


# -- the measurements -------------------------------------------------------------------------------------
class ImageBench:
    def __init__(self, sim: Simulator, images: Images, scratch: Path, work: Path):
        self.sim, self.images, self.scratch, self.work = sim, images, scratch, work
        self.api = Api(sim)
        self.server = Process(sim.process.pid)
        self.files = FileServerProcess(images.raw.parent)
        self.rss = RSSSampler(self.server)
        self.imports: dict[str, dict[str, list[Run]]] = {}  # variant -> {"import": runs, "curl": runs}
        self.uploads: dict[str, list[Run]] = {"module": [], "curl": []}
        self.counter = 0
        self.small: list[Run] = []  # HTTP imports of the 1 MiB file: the fixed cost of an import

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def run(self) -> None:
        self.rss.start()
        try:
            time.sleep(0.5)  # a few samples of the idle server
            self.rss.label = "warm-up and 1 MiB imports"
            # Warm-up, untimed: the first write of a gibibyte into fresh disk blocks, and the simulator's first import
            # (lazily imported code, the first aiohttp client session), are slower than every later one.
            self.curl_download(self.images.raw, "cat")
            self.small = [self.http_import(self.images.small, SMALL_MIB) for _ in range(ROUNDS + 1)][1:]
            log(f"HTTP import of {SMALL_MIB} MiB: {', '.join(f'{r.seconds:.2f}' for r in self.small)} s")
            settle()
            variants = {"raw": (self.images.raw, "cat"), "gz": (self.images.gz, "gzip -dc"), "xz": (self.images.xz, "xz -dc")}
            for variant, (path, decompress) in variants.items():
                self.rss.label = f"HTTP import, {variant}"
                runs = self.imports[variant] = {"import": [], "curl": []}
                for round_ in range(RAW_ROUNDS if variant == "raw" else ROUNDS):
                    order = ("import", "curl") if round_ % 2 == 0 else ("curl", "import")
                    for side in order:
                        if side == "import":
                            runs[side].append(self.http_import(path))
                        else:
                            runs[side].append(self.curl_download(path, decompress))
                        settle()
                imp, ref = best(runs["import"]), best(runs["curl"])
                log(
                    f"HTTP {variant}: import {imp.seconds:.2f} s ({rate(imp.seconds)}), curl {ref.seconds:.2f} s ({rate(ref.seconds)}): ratio {ref.seconds / imp.seconds:.2f}"
                )
            self.rss.label = "upload"
            self.module_upload(timed=False)  # warm-up: the first playbook pays for cold caches (AnsiballZ, .pyc)
            for round_ in range(ROUNDS):
                for side in (self.module_upload, self.curl_upload)[:: 1 if round_ % 2 == 0 else -1]:
                    side()
        finally:
            self.rss.stop()
            self.files.stop()
            self.api.close()

    # 1. HTTP import vs curl ------------------------------------------------------------------------------
    def http_import(self, path: Path, mib: int = IMAGE_MIB) -> Run:
        name = self.name("bench-http")
        phases = Phases(self.sim, name)
        cpu = self.server.cpu()
        started = time.perf_counter()
        self.api.create(http_image(name, self.files.url(path.name)))
        phases.start()
        ready = phases.wait("Ready")
        cpu = self.server.cpu() - cpu
        phases.stop()
        size = phases.last["status"]["size"]
        if int(size["unpackedBytes"]) != mib * MiB or phases.last["status"].get("format") != "raw":
            raise RuntimeError(f"{name}: imported as {phases.last['status'].get('format')} of {size}")
        self.api.delete(name)
        return Run(ready - started, cpu)

    def curl_download(self, path: Path, decompress: str) -> Run:
        out = self.scratch / "download"
        cpu = children_cpu()
        started = time.perf_counter()
        shell(
            f"curl -sS --fail {self.files.url(path.name)} | {decompress} > {out}"
            if decompress != "cat"
            else f"curl -sS --fail {self.files.url(path.name)} > {out}"
        )
        seconds = time.perf_counter() - started
        cpu = children_cpu() - cpu
        if out.stat().st_size != IMAGE_MIB * MiB:
            raise RuntimeError(f"curl of {path.name} wrote {out.stat().st_size} bytes")
        out.unlink()
        return Run(seconds, cpu)

    # 2. upload: the module vs curl -T --------------------------------------------------------------------
    def module_upload(self, timed: bool = True) -> None:
        """One playbook: the module uploads the 1 MiB file (the baseline: everything but moving the bytes), then the
        1 GiB file; task times from the json callback, upload phase (Provisioning → Ready) from polling the big image.
        Untimed: the 1 MiB task alone."""
        small, big = self.name("bench-module-small"), self.name("bench-module-big")
        tasks = [
            {"name": "small", MODULE: {"name": small, "data_source": {"type": "Upload"}, "upload_file": str(self.images.small), "wait_timeout": 300}},
            {"name": "big", MODULE: {"name": big, "data_source": {"type": "Upload"}, "upload_file": str(self.images.raw), "wait_timeout": 300}},
        ]
        if not timed:
            run = run_playbook(self.work, self.sim.kubeconfig, tasks[:1])
            if run.returncode != 0:
                raise RuntimeError(f"ansible-playbook failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
            self.api.delete(small)
            return
        phases = Phases(self.sim, big)
        phases.start()
        cpu = self.server.cpu()
        run = run_playbook(self.work, self.sim.kubeconfig, tasks)
        cpu = self.server.cpu() - cpu
        if run.returncode != 0:
            raise RuntimeError(f"ansible-playbook failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
        phases.wait("Ready", timeout=10)
        phases.stop()
        durations = task_durations(run.stdout)
        upload = phases.seen["Ready"] - phases.seen["Provisioning"]
        self.uploads["module"].append(Run(durations["big"], cpu, {"small": durations["small"], "upload": upload}))
        log(f"module upload: task {durations['big']:.2f} s, small-file task {durations['small']:.2f} s, Provisioning → Ready {upload:.2f} s")
        for name in (small, big):
            self.api.delete(name)
        settle()

    def curl_upload(self) -> None:
        """The same flow scripted with curl: create the image, wait for its upload URL, `curl -T`, wait for Ready;
        for the 1 MiB file, then for the 1 GiB file."""
        times: dict[str, Run] = {}
        for size, path in (("small", self.images.small), ("big", self.images.raw)):
            name = self.name(f"bench-curl-{size}")
            phases = Phases(self.sim, name)
            cpu = self.server.cpu()
            started = time.perf_counter()
            self.api.create(upload_image(name))
            phases.start()
            phases.wait("WaitForUserUpload")
            with phases.changed:
                url = phases.last["status"]["imageUploadURLs"]["external"]
            began = time.perf_counter()
            shell(f"curl -sS --fail -o /dev/null --cacert {self.sim.ca_file} -T {path} {url}")
            put = time.perf_counter() - began
            ready = phases.wait("Ready")
            cpu = self.server.cpu() - cpu
            phases.stop()
            upload = ready - phases.seen.get("Provisioning", float("nan"))  # a 1 MiB upload may pass unseen
            times[size] = Run(ready - started, cpu, {"put": put, "upload": upload})
            self.api.delete(name)
        big = times["big"]
        big.extra["small"] = times["small"].seconds
        big.extra["small_put"] = times["small"].extra["put"]
        self.uploads["curl"].append(big)
        log(
            f"curl upload: flow {big.seconds:.2f} s, curl -T {big.extra['put']:.2f} s, Provisioning → Ready {big.extra['upload']:.2f} s; small-file flow {big.extra['small']:.2f} s"
        )
        settle()


def task_durations(stdout: str) -> dict[str, float]:
    """Task name -> seconds, from ansible's json callback."""
    out = {}
    for play in json.loads(stdout)["plays"]:
        for task in play["tasks"]:
            d = task["task"]["duration"]
            start, end = (datetime.fromisoformat(d[k].replace("Z", "+00:00")) for k in ("start", "end"))
            out[task["task"]["name"]] = (end - start).total_seconds()
    return out


# -- report -----------------------------------------------------------------------------------------------
def verdict(met: bool, figure: str) -> str:
    return "met" if met else f"**missed** ({figure})"


def listing(seconds: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in seconds)


def ratio_row(what: str, ours: list[Run], ref: list[Run], names: tuple[str, str], cpu: tuple[str, str], note: str = "") -> tuple[str, str, str, str]:
    """`names`: what each side is called; `cpu`: whose CPU each side's Run counted."""
    o, r = best(ours), best(ref)
    ratio = r.seconds / o.seconds
    figure = (
        f"**{ratio:.2f}×**: {names[0]} {o.seconds:.2f} s ({rate(o.seconds)}; CPU of {cpu[0]} {o.cores:.0%}) "
        f"vs {names[1]} {r.seconds:.2f} s ({rate(r.seconds)}; CPU of {cpu[1]} {r.cores:.0%}); "
        f"all runs: {', '.join(f'{x.seconds:.2f}' for x in ours)} s vs {', '.join(f'{x.seconds:.2f}' for x in ref)} s" + note
    )
    return what, figure, f"≥ {RATIO_TARGET}×", verdict(ratio >= RATIO_TARGET, f"{ratio:.2f}×")


def table(bench: ImageBench, memory: dict[str, int], idle: int) -> list[tuple[str, str, str, str]]:
    rows = []
    names = {"raw": ("uncompressed", "`curl -s URL > f`"), "gz": (".gz", "`curl -s URL \\| gzip -dc > f`"), "xz": (".xz", "`curl -s URL \\| xz -dc > f`")}
    for variant, runs in bench.imports.items():
        label, ref = names[variant]
        path = getattr(bench.images, variant)
        rows.append(
            ratio_row(
                f"HTTP import of the 1 GiB raw image, {label}{'' if variant == 'raw' else f' ({bench.images.size(path)})'}, POST → phase Ready, vs {ref}",
                runs["import"],
                runs["curl"],
                ("import", "curl"),
                ("the simulator", "curl" + {"raw": "", "gz": " and gzip", "xz": " and xz"}[variant]),
            )
        )
    small = best(bench.small)
    rows.append(
        (
            f"HTTP import of a {SMALL_MIB} MiB raw image, POST → phase Ready (the fixed cost inside the figures above: "
            "the controller starting the import, `qemu-img info` and `file`, status writes, polling)",
            f"{small.seconds:.2f} s (runs: {', '.join(f'{x.seconds:.2f}' for x in bench.small)} s)",
            "—",
            "reported",
        )
    )
    module, curl = bench.uploads["module"], bench.uploads["curl"]
    m, c = best(module), min(curl, key=lambda r: r.extra["put"])
    put_ratio = c.extra["put"] / m.seconds
    rows.append(
        ratio_row(
            "Upload of the 1 GiB image with the module (one task: create, wait for the upload URL, PUT, wait for Ready) "
            "vs the same flow scripted (POST, poll for the URL, `curl -T`, poll for Ready)",
            module,
            curl,
            ("task", "script"),
            ("the simulator", "the simulator"),
            f"; against `curl -T` alone ({c.extra['put']:.2f} s, {rate(c.extra['put'])}): {put_ratio:.2f}× "
            f"({'met' if put_ratio >= RATIO_TARGET else 'missed'})",
        )
    )
    # The module's own upload phase, two ways. From task times: its fastest 1 GiB task minus its fastest 1 MiB task
    # (fixed costs cancel out; fastest against fastest, as everywhere, since a per-round difference of two noisy
    # times is noisier still). From the server: phase Provisioning (the PUT has arrived) → Ready, polled.
    small_m, small_c = min(r.extra["small"] for r in module), min(r.extra["small"] for r in curl)
    pm, pc = best(module).seconds - small_m, best(curl).seconds - small_c
    ratio = pc / pm
    rows.append(
        (
            f"Upload phase of the module, from task times: fastest task with the 1 GiB file − fastest task with a {SMALL_MIB} MiB "
            "file, vs the same difference for the scripted `curl -T` flow",
            f"**{ratio:.2f}×**: module {pm:.2f} s ({rate(pm, IMAGE_MIB - SMALL_MIB)}) vs curl {pc:.2f} s ({rate(pc, IMAGE_MIB - SMALL_MIB)}); "
            f"1 MiB task runs {listing([r.extra['small'] for r in module])} s, 1 MiB script runs {listing([r.extra['small'] for r in curl])} s",
            f"≥ {RATIO_TARGET}×",
            verdict(ratio >= RATIO_TARGET, f"{ratio:.2f}×"),
        )
    )
    seen_m, seen_c = [Run(r.extra["upload"], 0.0) for r in module], [Run(r.extra["upload"], 0.0) for r in curl]
    ratio = best(seen_c).seconds / best(seen_m).seconds
    rows.append(
        (
            "Upload phase as the server saw it: the 1 GiB image's phase Provisioning (the PUT has arrived) → Ready, polled every "
            "50 ms, the module's PUT vs `curl -T`",
            f"**{ratio:.2f}×**: module {best(seen_m).seconds:.2f} s ({rate(best(seen_m).seconds)}) vs curl {best(seen_c).seconds:.2f} s "
            f"({rate(best(seen_c).seconds)}); all runs: {', '.join(f'{x.seconds:.2f}' for x in seen_m)} s vs "
            f"{', '.join(f'{x.seconds:.2f}' for x in seen_c)} s",
            f"≥ {RATIO_TARGET}×",
            verdict(ratio >= RATIO_TARGET, f"{ratio:.2f}×"),
        )
    )
    peak = max(bench.rss.peaks.values())
    hwm = memory.get("VmHWM", 0)
    worst = max(peak, hwm)
    rows.append(
        (
            "Simulator peak RSS during the imports and uploads (fresh simulator; VmRSS sampled every 50 ms, and VmHWM)",
            f"peak VmRSS {peak / MiB:.0f} MiB, VmHWM {hwm / MiB:.0f} MiB (idle at start {idle / MiB:.0f} MiB); peak per stretch: "
            + ", ".join(f"{label} {size / MiB:.0f} MiB" for label, size in bench.rss.peaks.items())
            + f"; {bench.rss.samples:,} samples",
            f"< {RSS_TARGET_MIB} MiB",
            verdict(worst < RSS_TARGET_MIB * MiB, f"{worst / MiB:.0f} MiB"),
        )
    )
    return rows


def method(images: Images) -> str:
    return (
        f"A fresh `dvp-sim serve` (its own state directory, so the API benchmark's objects do not count in its memory) and a "
        f"{IMAGE_MIB / 1024:.0f} GiB raw disk image with no holes: {IMAGE_MIB} blocks of 1 MiB drawn at random (seeded) from {POOL} "
        "distinct blocks, half random bytes (the already-compressed content of a real disk: packages, media) and half "
        "words from a small vocabulary (text, configuration, code), the first block an MBR-signed one; `qemu-img info` "
        "calls it raw, as the importer does. gzip compresses it to "
        f"{images.size(images.gz)}, xz to {images.size(images.xz)}. Compressing a whole gibibyte with gzip -6 and xz -6 takes "
        "minutes on this machine, so each distinct block is compressed once (gzip level 6, xz preset 6) and the pieces are "
        "assembled as pigz and xz -T assemble theirs: one gzip member of independently deflated 1 MiB pieces, one xz stream "
        f"of 1 MiB LZMA2 blocks — ordinary files to any gzip/xz reader (making all three took {images.seconds:.0f} s). "
        "The files are served by the tests' threaded `FileServer` (in a process of its own) over plain HTTP on 127.0.0.1 from the page cache; the "
        "image, DVCR and curl's output share one disk. Import: POST of a ClusterVirtualImage with an HTTP source, then a "
        f"GET every {POLL * 1000:.0f} ms until phase Ready (the size and format in status are checked), then the image is "
        "deleted. Reference: the same URL through curl, piped into `gzip -dc` or `xz -dc` for the compressed files, into a "
        "file in a temporary folder (its size is checked). Upload: one ansible-playbook run with the collection's "
        "`cluster_virtual_image` module, a task uploading a 1 MiB file, then one uploading the 1 GiB raw file (`upload_file`, "
        "external URL); task times are the json callback's. Reference: a Python script doing what the module does — POST "
        "an Upload image, poll for its `status.imageUploadURLs.external`, `curl -T file URL --cacert <the simulator's CA>`, "
        "poll for Ready — for the same two files; the module's upload phase is its 1 GiB task minus its 1 MiB task, so "
        "Ansible's and the module's fixed costs (≈ 1 s per task) cancel out, and, from the server's side, the 1 GiB image's "
        "time from phase Provisioning to Ready. An untimed playbook (the 1 MiB task) and an untimed curl download and "
        "1 MiB import come first, to warm caches. "
        f"Every measurement is made {ROUNDS} times ({RAW_ROUNDS} for the uncompressed import), the order of ours and the reference alternating, with `sync` between "
        "runs (the last run's writes and deletions reach the disk before the next run starts: the disk is ext4 mounted with "
        "`discard`, so even deleting a gibibyte is disk work); the figure compares the faster run of each side (all runs are listed). Ratio = reference time / our time: "
        "≥ 1 means as fast as curl or faster. CPU is utime+stime over the run (the simulator's; for curl, curl's and the "
        "decompressor's), 100% = one core of the two. "
        "Fixes: the previous run had the uncompressed import at 0.61× and the upload at 0.60×, with the simulator's event "
        "loop at ~1 CPU-s per GiB. Per-thread CPU (/proc/<pid>/task) of a 1 GiB raw import showed half of it in the kernel: "
        "every 256 KiB network read is a fresh bytes object, which glibc's malloc mmap'ed or carved from a heap top it trimmed "
        "again at once, so each read was new pages to fault in and zero. `dvp-sim serve` now sets mallopt's mmap threshold "
        "to 16 MiB and its trim threshold to 64 MiB (event-loop CPU per GiB ~1.0 → ~0.55 s; the imports and uploads the "
        "previous run timed at 1.9–3.0 s now take 0.9–1.7 s); the image writer no longer joins the network chunks on the "
        "event loop (two copies of every byte) and finds holes without slicing (event-loop user CPU 0.61–0.82 → 0.30–0.55 s); "
        "the module's upload reads the file into one reused buffer. Each measured with a script timing 3–5 imports and "
        "uploads per variant on this machine, back to back. "
        "Then the upload again (0.70–0.77× in the runs since): a profile of the server during a 1 GiB `curl -T` put a third "
        "to a half of its samples in the image file's write(), and that share moved from run to run. Writing 1 GiB into "
        "a new file here costs 0.25 s of kernel CPU when the pages come straight from the last file freed, and 2.0–2.5 s "
        "when the freed memory has had a few seconds to go back to the hypervisor, as it has before any run that waits "
        "(a playbook starting up waits longer than a curl): the module's upload paid it more often than the script's. "
        "The image file is now written past the page cache (O_DIRECT, from one aligned 4 MiB buffer, zero 64 KiB "
        "blocks left as holes; ordinary writes where the filesystem refuses it): writing 1 GiB costs ~0.07 CPU-s and "
        "~0.7 s of the device's time, overlapped with receiving. `curl -T` of 1 GiB, buffered vs direct alternating on "
        "one simulator: Provisioning → Ready 2.55–4.55 s (server 2.8–5.7 CPU-s) vs 1.71–1.82 s (1.6–1.7 CPU-s); the "
        "module's upload and the script's now take the same time."
    )


def run() -> tuple[list[tuple[str, str, str, str]], str]:
    """Make the images, measure, clean up; the table's rows and the method text."""
    with tempfile.TemporaryDirectory(prefix="dvp-bench-images-") as tmp:
        folder = Path(tmp)
        (folder / "files").mkdir()
        (folder / "scratch").mkdir()
        (folder / "work").mkdir()
        log("making the 1 GiB image and its .gz and .xz")
        images = make_images(folder / "files")
        log(f"made in {images.seconds:.1f} s: .gz {images.size(images.gz)}, .xz {images.size(images.xz)}")
        settle()
        sim = Simulator.start(folder / "state")
        try:
            log(f"fresh simulator pid {sim.process.pid} at {sim.server}")
            bench = ImageBench(sim, images, folder / "scratch", folder / "work")
            idle = bench.server.memory()["VmRSS"]
            bench.run()
            memory = bench.server.memory()
        except BaseException:
            log(f"simulator {'running' if sim.process.poll() is None else f'exited with {sim.process.poll()}'}; its log ends:")
            print((folder / "state" / "server.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            code = sim.stop()
        if code != 0:
            log(f"simulator exited with {code}")
        shutil.rmtree(folder / "files", ignore_errors=True)
    return table(bench, memory, idle), method(images)


if __name__ == "__main__":  # the image benchmark alone, printed, docs/benchmarks.md untouched
    rows, text = run()
    print(text)
    for row in rows:
        print(" | ".join(row))
