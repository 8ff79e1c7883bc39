"""`dvp-sim`: run the simulator."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from . import user_cli
from .api import faults as api_faults
from .app import build
from .certs import ensure_pki, write_kubeconfig
from .images.units import parse_bandwidth
from .nodes.topology import TopologyError
from .nodes.topology import load as load_topology
from .store.journal import JournalFailed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dvp-sim", description="A simulated Deckhouse Virtualization Platform cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Kubernetes API over HTTPS on 127.0.0.1")
    serve.add_argument("--port", type=int, default=6443, help="port on 127.0.0.1 (0 picks a free one)")
    serve.add_argument("--state-dir", type=Path, required=True, help="where objects, certificates and images live")
    serve.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig file to write for clients")
    serve.add_argument("--topology", type=Path, help="cluster topology (nodes, CIDRs) file")
    serve.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    serve.add_argument("--crd-dir", type=Path, help="serve the CustomResourceDefinitions in this folder verbatim")
    serve.add_argument("--watch-window", type=int, default=10000, help="events kept per resource for watch resumption")
    serve.add_argument("--api-faults", type=float, default=0.0, metavar="RATE", help="fault this fraction of API requests (429, 500, 503, 409, delay)")
    serve.add_argument("--api-faults-seed", type=int, help="seed of the API fault mode's draws (deterministic faults)")
    serve.add_argument(
        "--image-bandwidth", metavar="RATE",
        help="read each image import's source (HTTP, ContainerImage, Upload) at most at RATE bytes per second, a quantity like 20Mi; "
        "0: no limit (default: the topology's cluster.imageSourceBandwidth, else no limit)",
    )  # fmt: skip
    add_faults_parser(sub)
    serve.add_argument("--log-level", default="WARNING")
    bandwidth = sub.add_parser("image-bandwidth", help="read or set a running simulator's image-source bandwidth (its admin API)")
    bandwidth_sub = bandwidth.add_subparsers(dest="bandwidth_command", required=True)
    bandwidth_set = bandwidth_sub.add_parser("set", help="read image sources at most at RATE bytes per second from now on, running imports included")
    bandwidth_set.add_argument("rate", help="a quantity of bytes per second like 20Mi or 512Ki; 0: no limit")
    bandwidth_show = bandwidth_sub.add_parser("show", help="print the image-source bandwidth")
    for p in (bandwidth_set, bandwidth_show):
        p.add_argument("--kubeconfig", type=Path, required=True, help="the kubeconfig `dvp-sim serve` wrote")
    clock = sub.add_parser("clock", help="read or step a running simulator's clock (its admin API)")
    clock_sub = clock.add_subparsers(dest="clock_command", required=True)
    advance = clock_sub.add_parser("advance", help="step the simulated clock forward, firing every timer that falls due")
    advance.add_argument("seconds", type=float, help="simulated seconds to advance (>= 0)")
    show = clock_sub.add_parser("show", help="print the simulated clock's reading")
    for p in (advance, show):
        p.add_argument("--kubeconfig", type=Path, required=True, help="the kubeconfig `dvp-sim serve` wrote")
    user_cli.add_parser(sub)
    node = sub.add_parser("node", help="inject a node fault into a running simulator, or recover the node (its admin API)")
    node_sub = node.add_subparsers(dest="node_command", required=True)
    fail = node_sub.add_parser("fail", help="fail a node: power (agent and domains gone), network (Lease not renewed), kubelet (agent stops)")
    fail.add_argument("name", help="the node's name")
    fail.add_argument("--mode", required=True, choices=("power", "network", "kubelet"), help="what fails")
    recover = node_sub.add_parser("recover", help="bring a failed or fenced node back (Lease renewed, Node re-registered)")
    recover.add_argument("name", help="the node's name")
    for p in (fail, recover):
        p.add_argument("--kubeconfig", type=Path, required=True, help="the kubeconfig `dvp-sim serve` wrote")
    args = parser.parse_args(argv)
    if args.command == "node":
        return node_command(args)
    if args.command == "user":
        return user_cli.run(args)
    if args.command == "clock":
        return clock_command(args)
    if args.command == "faults":
        return faults_command(args)
    if args.command == "image-bandwidth":
        return bandwidth_command(args)
    if not 0 <= args.api_faults <= 1:
        parser.error("--api-faults must be between 0 and 1")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.topology is not None and not args.topology.is_file():
        parser.error(f"--topology: no such file: {args.topology}")
    if args.crd_dir is not None and not args.crd_dir.is_dir():
        parser.error(f"--crd-dir: no such folder: {args.crd_dir}")
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    if args.image_bandwidth is not None:
        try:
            args.image_bandwidth = parse_bandwidth(args.image_bandwidth, "--image-bandwidth")
        except ValueError as exc:
            parser.error(str(exc))
    return asyncio.run(serve_forever(args))


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)
MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse the memory of freed large blocks instead of handing it back to the kernel at once.

    Every network read of an image import or upload (256 KiB) and every long response is a fresh bytes object; by
    default such a block is mmap'ed, or carved from the top of the heap that is trimmed as soon as 2x its size lies
    free there, so each one came back as new pages the kernel had to fault in and zero: measured on a 1 GiB import,
    half of the event loop's system time and a third of its user time. Blocks below 16 MiB now come from the heap, and
    up to 64 MiB of free heap top is kept for the next ones. False where the C library has no mallopt (not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


def _freeze_survivors(phase: str, info: dict) -> None:
    if phase == "stop" and info["generation"] >= 1:
        gc.freeze()


def short_full_passes() -> None:
    """Keep the cyclic collector's full passes short however large the cluster grows (called once serving).

    A full pass walks every tracked container of the oldest generation, and the event loop stands still meanwhile: at
    10,000 VMs up to 1 s per pass (timed with gc.callbacks through a build-up), every GET and LIST waiting
    behind it, and those passes found nothing to free (0 objects collected in each): the stored objects are acyclic
    JSON, and the short-lived cycles (exceptions, requests) die in the youngest generation. So what has survived a pass
    of the middle generation leaves the collector (gc.freeze) — what lives as long as the process, right now, and after
    every middle or full pass the objects that survived it — and the oldest generation stays nearly empty: a full pass
    walks only what survived one middle pass since the last one. (Freezing after full passes only, they still took
    0.3-1 s each at 10,000 VMs, walking everything made since the one before.) Frozen objects are still freed by
    reference counting when they are dropped (a replaced stored object, a closed connection's buffers); what they can
    no longer do is be freed as part of a garbage cycle, so a cycle formed by objects alive across a middle pass stays
    until the process ends: after a 10,000-VM build-up, unfreezing and collecting at exit found the same 132 objects
    whether survivors of full passes only or of middle passes too were frozen (bench/scale.py's fixes). A full pass
    still waits for 100 passes of the middle generation instead of 10 (ten times as many passes, each a tenth as long,
    delayed more requests in all)."""
    gc.freeze()
    gc.set_threshold(700, 10, 100)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


async def serve_forever(args: argparse.Namespace) -> int:
    keep_freed_memory()
    state_dir: Path = args.state_dir.resolve()
    # Everything the simulator writes (database, DVCR images, keys, token) is its owner's alone.
    os.umask(0o077)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir.chmod(0o700)
    pki = ensure_pki(state_dir)
    token = pki["token"].read_text().strip()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki["server.crt"], pki["server.key"])

    try:
        topology = load_topology(args.topology) if args.topology else None
        sim = build(state_dir, token, "127.0.0.1", args.time_scale, args.crd_dir, args.watch_window, topology)
        api_faults.register(sim.api, args.api_faults, args.api_faults_seed)
        if args.image_bandwidth is not None:  # the option wins over the topology's setting
            sim.importer.bandwidth = args.image_bandwidth
    except (TopologyError, ValueError) as exc:
        print(f"dvp-sim: {exc}", file=sys.stderr, flush=True)
        return 2

    async def end_watches(app: web.Application) -> None:
        sim.store.close_watchers()

    sim.api.app.on_shutdown.append(end_watches)
    runner = web.AppRunner(sim.api.app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=tls, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    server = f"https://127.0.0.1:{port}"
    sim.api.address = f"127.0.0.1:{port}"
    write_kubeconfig(args.kubeconfig.resolve(), server, pki["ca.crt"], token)
    await sim.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    failed: list[str] = []

    def disk_failed(why: str) -> None:
        # Crash-only: what a client was shown is on disk, what was not cannot be saved any more; a simulator that ran
        # on would fail every response. A restart on the same state directory resumes from the disk.
        print(f"dvp-sim: {why}; stopping (start it again on the same state directory to resume)", file=sys.stderr, flush=True)
        failed.append(why)
        stop.set()

    sim.store.watch_disk(disk_failed)
    short_full_passes()
    print(f"dvp-sim ready: {server} kubeconfig={args.kubeconfig.resolve()}", flush=True)
    await stop.wait()
    await runner.cleanup()
    try:
        await sim.stop()
    except JournalFailed as exc:
        if not failed:
            print(f"dvp-sim: {exc}", file=sys.stderr, flush=True)
        return 1
    print("dvp-sim stopped", flush=True)
    return 1 if failed else 0


def admin_call(command: str, kubeconfig: Path, method: str, path: str, body: dict | None = None) -> int:
    """One authenticated request to a running simulator's admin API (/simulator/v1/<path>, api/admin.py): prints the
    answer's message, or `dvp-sim <command>: <error>` (never the token) and returns 1."""
    from .admin_client import AdminClient, AdminError

    try:
        message = AdminClient.from_kubeconfig(kubeconfig).call(method, path, body)
    except AdminError as exc:
        print(f"dvp-sim {command}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(message, flush=True)
    return 0


def clock_command(args: argparse.Namespace) -> int:
    """`dvp-sim clock advance|show`."""
    if args.clock_command == "advance":
        return admin_call("clock", args.kubeconfig, "POST", "clock/advance", {"seconds": args.seconds})
    return admin_call("clock", args.kubeconfig, "GET", "clock")


def add_faults_parser(sub: argparse._SubParsersAction) -> None:
    faults = sub.add_parser("faults", help="read or set a running simulator's API fault mode (its admin API)")
    faults_sub = faults.add_subparsers(dest="faults_command", required=True)
    put = faults_sub.add_parser("set", help="fault this fraction of API requests from now on (0 turns the mode off)")
    put.add_argument("rate", type=float, help="fraction of requests to fault, 0..1")
    put.add_argument("--kinds", nargs="+", choices=api_faults.KINDS, help="faults to draw from (default: all)")
    put.add_argument("--seed", type=int, help="seed of the draws")
    put.add_argument("--delay", type=float, help="seconds a delayed request waits (default 35: past a 30 s client timeout)")
    show = faults_sub.add_parser("show", help="print the fault mode's settings and counts")
    for p in (put, show):
        p.add_argument("--kubeconfig", type=Path, required=True, help="the kubeconfig `dvp-sim serve` wrote")


def faults_command(args: argparse.Namespace) -> int:
    """`dvp-sim faults set|show`: the settings and counts as JSON."""
    if args.faults_command == "set":
        body = {"rate": args.rate, "kinds": args.kinds, "seed": args.seed, "delay": args.delay}
        return admin_call("faults", args.kubeconfig, "POST", "faults", {k: v for k, v in body.items() if v is not None})
    return admin_call("faults", args.kubeconfig, "GET", "faults")


def bandwidth_command(args: argparse.Namespace) -> int:
    """`dvp-sim image-bandwidth set RATE|show`."""
    if args.bandwidth_command == "set":
        return admin_call("image-bandwidth", args.kubeconfig, "POST", "images/bandwidth", {"bandwidth": args.rate})
    return admin_call("image-bandwidth", args.kubeconfig, "GET", "images/bandwidth")


def node_command(args: argparse.Namespace) -> int:
    """`dvp-sim node fail|recover NAME`: POST /simulator/v1/nodes/<name>/fail|recover."""
    from urllib.parse import quote

    path = f"nodes/{quote(args.name, safe='')}/{args.node_command}"
    return admin_call("node", args.kubeconfig, "POST", path, {"mode": args.mode} if args.node_command == "fail" else None)


if __name__ == "__main__":
    sys.exit(main())
