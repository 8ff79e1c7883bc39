"""A node drain at scale: a node with 10, 50 and 100 running VMs drained with the collection's `node_maintenance`
module (ansible-playbook) and with the admin guide's real `kubectl drain --pod-selector
vm.kubevirt.internal.virtualization.deckhouse.io/name --delete-emptydir-data --ignore-daemonsets`, each against its own
fresh `dvp-sim serve` with the same topology, time scale and VMs; wall time of each command until it returns with every
VM Running on another node, the ratio, and each against the simulated bound: the platform migrates one VM out of a
node at a time (one outbound migration slot per node), so N VMs of M GiB take at least N × M / 640 MiB/s simulated
seconds, divided by the time scale. `python bench/drain.py` runs this section alone and rewrites it in
docs/benchmarks.md; `bench/run.py` runs it with the others. A benchmark, not a test: nothing fails on a slow figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import ratio_text, replace_section, section_lines  # noqa: E402
from tests.image_sources import FileServer, iso_image  # noqa: E402
from tests.simulator_process import BIN, Simulator  # noqa: E402

SIZES = (10, 50, 100)
REPEATS = {10: 3, 50: 3, 100: 2}  # per size and side: the section stays within about six minutes
SOURCE, TARGETS = "drain-0", ["target-0", "target-1", "target-2"]
TIME_SCALE = 10.0  # simulated seconds per real second, as `make demo`
MEMORY = "1Gi"  # a 1 GiB VM migrates in 1.6 simulated seconds at the platform's 640 MiB/s
MIGRATION_SECONDS = 1024 / 640  # simulated seconds per VM: its memory at the platform's 640 MiB/s (§7.2)
SLOTS_PER_NODE = 1  # outbound migrations at a time per source node (§7.2): the limit of a drain
NAMESPACE = "bench"
SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"
KUBECTL_ARGS = ["--pod-selector", SELECTOR, "--delete-emptydir-data", "--ignore-daemonsets"]
TIMEOUT = 900
HEADING = "## Node drain: node_maintenance vs kubectl drain"
API = "virtualization.deckhouse.io/v1alpha2"


def log(message: str) -> None:
    print(f"[bench drain] {message}", file=sys.stderr, flush=True)


def topology() -> dict:
    """Four identical nodes (the same CPU, so every VM can go to any of them) and an RWX default storage class."""
    cpu = {"vendor": "Intel", "model": "Broadwell-noTSX", "features": ["vme", "f16c", "rdrand"], "cores": 64}
    nodes = [{"name": name, "labels": {"group": "bench"}, "cpu": cpu, "memory": "256Gi"} for name in [SOURCE, *TARGETS]]
    return {
        "cluster": {"podSubnetCIDR": "10.96.0.0/12", "serviceSubnetCIDR": "10.222.0.0/16", "nodeSubnetCIDR": "192.168.0.0/16"},
        "nodes": nodes,
        "storageClasses": [
            {"name": "replicated", "provisioner": "replicated.csi.storage.deckhouse.io", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "volumeMode": "Block", "capacity": "100Ti", "default": True}
        ],
    }


def vm(i: int) -> dict:
    """Class generic, 1 core at 10%, 1 GiB, an ISO as its only device (so it is migratable)."""
    spec = {
        "virtualMachineClassName": "generic",
        "cpu": {"cores": 1, "coreFraction": "10%"},
        "memory": {"size": MEMORY},
        "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "boot-iso"}],
    }
    return {"apiVersion": API, "kind": "VirtualMachine", "metadata": {"name": f"vm-{i:03d}", "namespace": NAMESPACE}, "spec": spec}


def wait(what, check, timeout: float, every: float = 0.5):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        last = what()
        if check(last):
            return last
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s")


def vms(sim: Simulator) -> list[dict]:
    return json.loads(sim.kubectl("get", "vm", "-n", NAMESPACE, "-o", "json").stdout)["items"]


def running_on(items: list[dict]) -> Counter:
    return Counter(o["status"]["nodeName"] for o in items if (o.get("status") or {}).get("phase") == "Running")


def bound(count: int) -> float:
    """Real seconds the platform needs at least to migrate `count` VMs out of one node: one at a time per slot."""
    return count * MIGRATION_SECONDS / SLOTS_PER_NODE / TIME_SCALE


def prepare(sim: Simulator, iso_url: str, count: int) -> None:
    """The ModuleConfig, the ISO image, and `count` VMs Running on SOURCE (the other nodes cordoned meanwhile, then uncordoned)."""
    config = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
              "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}, "virtualMachineCIDRs": ["10.66.0.0/22"]}}}  # fmt: skip
    image = {"apiVersion": API, "kind": "ClusterVirtualImage", "metadata": {"name": "boot-iso"}, "spec": {"dataSource": {"type": "HTTP", "http": {"url": iso_url}}}}
    sim.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([config, image]))
    sim.kubectl("create", "namespace", NAMESPACE)
    wait(lambda: json.loads(sim.kubectl("get", "cvi", "boot-iso", "-o", "json").stdout), lambda o: (o.get("status") or {}).get("phase") == "Ready", 120)
    for node in TARGETS:
        sim.kubectl("cordon", node)
    sim.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([vm(i) for i in range(count)]), timeout=120)
    wait(lambda: vms(sim), lambda items: running_on(items).get(SOURCE, 0) == count, 300)
    for node in TARGETS:
        sim.kubectl("uncordon", node)


def drain_with_module(sim: Simulator, work: Path) -> tuple[float, dict]:
    play = [{"name": "drain", "hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/deckhouse.virtualization.dvp": {"kubeconfig": str(sim.kubeconfig)}},
             "tasks": [{"name": "drain", "deckhouse.virtualization.node_maintenance": {"name": SOURCE, "wait_timeout": TIMEOUT}}]}]  # fmt: skip
    book = work / "drain.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"), "ANSIBLE_PYTHON_INTERPRETER": str(BIN / "python"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(book)], capture_output=True, text=True, env=env, timeout=TIMEOUT + 60)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    result = next(iter(json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"].values()))
    durations = sorted(v["duration"] for v in result["vms"] if v.get("duration") is not None)
    moved = sum(1 for v in result["vms"] if v["result"] == "moved")
    return wall, {"moved": moved, "task": result.get("events", [""])[-1], "median_vm": durations[len(durations) // 2] if durations else None}


def drain_with_kubectl(sim: Simulator, work: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = sim.kubectl("drain", SOURCE, *KUBECTL_ARGS, f"--timeout={TIMEOUT}s", timeout=TIMEOUT + 60, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl drain failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, {"retries": proc.stderr.count("Eviction triggered evacuation")}


def one(method, name: str, count: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"dvp-bench-drain-{name}-") as tmp:
        work = Path(tmp)
        (work / "topology.yaml").write_text(yaml.safe_dump(topology()))
        www = work / "www"
        www.mkdir()
        iso_image(www / "boot.iso")
        files = FileServer(www)
        sim = Simulator.start(work / "state", "--topology", str(work / "topology.yaml"), time_scale=TIME_SCALE)
        try:
            t = time.perf_counter()
            prepare(sim, files.url("boot.iso"), count)
            log(f"{name}: {count} VMs Running on {SOURCE} after {time.perf_counter() - t:.1f} s")
            wall, extra = method(sim, work)
            items = vms(sim)
            where = running_on(items)
            if sum(where.values()) != count or where.get(SOURCE):
                raise RuntimeError(f"{name}: after the drain {dict(where)}")
            unschedulable = json.loads(sim.kubectl("get", "node", SOURCE, "-o", "json").stdout)["spec"].get("unschedulable")
            log(f"{name}, {count} VMs: drained in {wall:.1f} s (bound {bound(count):.1f} s); VMs per node {dict(sorted(where.items()))}")
            return {"wall": wall, "where": dict(sorted(where.items())), "cordoned": unschedulable is True, **extra}
        finally:
            code = sim.stop()
            files.stop()
            if code:
                log(f"simulator exited with {code}; log ends:\n{(work / 'state' / 'server.log').read_text()[-3000:]}")


def measure(sizes: tuple[int, ...] = SIZES, repeats: dict[int, int] | None = None) -> dict:
    """size -> {"kubectl": [runs], "module": [runs]}, the sides alternating which goes first."""
    repeats = repeats or REPEATS
    started = time.perf_counter()
    out: dict = {}
    for size in sizes:
        runs: dict[str, list[dict]] = {"kubectl": [], "module": []}
        for repeat in range(repeats[size]):
            sides = (("kubectl", drain_with_kubectl), ("module", drain_with_module))
            for name, method in sides if repeat % 2 == 0 else tuple(reversed(sides)):
                runs[name].append(one(method, name, size))
        out[size] = runs
    return {"sizes": out, "repeats": repeats, "seconds": time.perf_counter() - started}


def spread(values: list[float]) -> str:
    median = statistics.median(values)
    return f"{median:.1f} s" + (f" (range {min(values):.1f}–{max(values):.1f})" if len(values) > 1 else "")


def section(f: dict) -> list[str]:
    reps = ", ".join(f"{n} at {size}" for size, n in f["repeats"].items() if size in f["sizes"])
    method = (
        f"Each run gets its own fresh `dvp-sim serve --time-scale {TIME_SCALE:g}` with the same generated topology (four "
        f"identical nodes, 64 cores and 256 GiB each, an RWX default storage class), the ModuleConfig's VM CIDR and an ISO "
        f"ClusterVirtualImage over HTTP; N VMs (class `generic`, 1 core at 10%, {MEMORY}, the ISO as their only device, "
        f"so migratable) are started on `{SOURCE}` (the other nodes cordoned meanwhile, then uncordoned) and waited for until "
        "Running. Then the clock runs around one command until it returns: real `kubectl drain "
        f"{SOURCE} {' '.join(KUBECTL_ARGS)}` (kubectl {kubectl_version()}: it evicts every VM pod, gets the platform's 429 "
        "`Eviction triggered evacuation`, and retries every 5 s until each old pod is gone), or `ansible-playbook` with one task "
        f"`deckhouse.virtualization.node_maintenance: {{name: {SOURCE}}}` (defaults: `scope: vms`, `max_concurrent: 2`; "
        "preflight, cordon, evictions, following the node's pods with a watch), the whole process including Ansible's start. "
        "Both end with the node cordoned and all N VMs Running on the other nodes (checked). The bound: the platform "
        f"migrates {SLOTS_PER_NODE} VM out of a node at a time (one outbound migration slot per node, §7.2), each {MEMORY} at "
        f"640 MiB/s = {MIGRATION_SECONDS:.1f} simulated seconds, so no drain of N VMs can take less than "
        f"N × {MIGRATION_SECONDS:.1f} s / {TIME_SCALE:g} real seconds; wall / bound shows what the rest costs (target "
        "pods, the switch, polling or watching, process start). Repetitions per side: "
        f"{reps}, the side going first alternating; medians with ranges, ratio median against median. "
        f"Section time: {f['seconds']:.0f} s."
    )
    rows = []
    for size, runs in f["sizes"].items():
        k, m = runs["kubectl"], runs["module"]
        kw, mw = [r["wall"] for r in k], [r["wall"] for r in m]
        ratio = statistics.median(mw) / statistics.median(kw)
        b = bound(size)
        medians = [r["median_vm"] for r in m if r["median_vm"] is not None]
        rows += [
            (
                f"`kubectl drain` of a node with {size} VMs",
                f"{spread(kw)}; {statistics.median(kw) / b:.2f}× the bound; 429 answers printed: {', '.join(str(r['retries']) for r in k)}; "
                f"VMs per node after (last run): {k[-1]['where']}",
                "—",
                "reported",
            ),
            (
                f"`node_maintenance` (ansible-playbook, one task) of a node with {size} VMs",
                f"{spread(mw)}; {statistics.median(mw) / b:.2f}× the bound; {m[-1]['moved']} VMs reported moved, median per VM "
                f"{statistics.median(medians) if medians else float('nan'):.1f} s from evacuation start; VMs per node after (last run): {m[-1]['where']}",
                "—",
                "reported",
            ),
            (f"{size} VMs: bound ({size} × {MIGRATION_SECONDS:.1f} s / {TIME_SCALE:g})", f"{b:.1f} s", "—", "reported"),
            (f"{size} VMs: ratio node_maintenance / kubectl drain", f"**{ratio_text(ratio, 1.0)}×**", "≤ 1.00×", "met" if ratio <= 1.0 else f"**missed** ({ratio_text(ratio, 1.0)}×)"),
        ]
    return [*section_lines(HEADING, method, rows), ""]


def kubectl_version() -> str:
    out = subprocess.run([str(BIN / "kubectl"), "version", "--client", "-o", "json"], capture_output=True, text=True, check=False).stdout
    try:
        return json.loads(out)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError):
        return "?"


def run(sizes: tuple[int, ...] = SIZES, repeats: dict[int, int] | None = None) -> str:
    """The markdown section for docs/benchmarks.md."""
    return "\n".join(section(measure(sizes, repeats)))


def main() -> int:
    """Run this section alone and put it into docs/benchmarks.md in place of the previous one (or before the total);
    `--sizes 10 --repeats 1 --no-report` for a quick look."""
    parser = argparse.ArgumentParser(description="node_maintenance vs kubectl drain")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    text = run(sizes, {size: args.repeats or REPEATS.get(size, 1) for size in sizes})
    print(text)
    if not args.no_report:
        replace_section(HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
