"""The cost of one Ansible task: our modules vs kubernetes.core's on the same simulator, side by side in one run.

Each playbook runs with ansible-playbook against a fresh `dvp-sim serve` (HTTPS, the simulator's kubeconfig):
20 tasks of `vm_class_info` vs 20 of `kubernetes.core.k8s_info` reading the same VirtualMachineClass; 20 of an
idempotent `vm_class` vs 20 of an idempotent `kubernetes.core.k8s` of the same object; a loop of 50 reads each.
Ours run twice: as they run by default on localhost (the action plugin runs the module's logic in the worker
process, plugins/plugin_utils/in_process.py) and as modules (a task `environment:` makes the action plugin fall back
to an ordinary module process);
`ansible.builtin.ping` (a module that does nothing: the floor of any module) and `ansible.builtin.debug` (an
action plugin with no module process: the floor of a controller-side design). A playbook with no task gives
ansible-playbook's own start-up, which is taken off before dividing by the number of tasks.
Every playbook runs `REPEATS` times, ours and theirs alternating; the fastest run of each counts.
A benchmark, not a test: nothing here fails on a slow figure.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import ratio_text, section_lines  # noqa: E402
from tests.simulator_process import Simulator  # noqa: E402

BIN = ROOT / ".venv" / "bin"
TOPOLOGY = ROOT / "simulator" / "dvp_simulator" / "topologies" / "admin-guide.yaml"  # nodes, so a class gets Ready
REPEATS = 3
TASKS, LOOP = 20, 50
TARGET = 0.5  # ours / kubernetes.core, per task wall time
CLASS = "bench-class"
CPU = {"type": "Discovery", "discovery": {}}
DEFINITION = {
    "apiVersion": "virtualization.deckhouse.io/v1alpha2",
    "kind": "VirtualMachineClass",
    "metadata": {"name": CLASS},
    "spec": {"cpu": {"type": "Discovery", "discovery": {}}},
}
AS_MODULE = {"environment": {"DVP_BENCH": "module"}}  # any task environment: our action plugin runs the module as a module
K8S_READ = {"api_version": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineClass", "name": CLASS}


def log(message: str) -> None:
    print(f"[bench tasks] {message}", file=sys.stderr, flush=True)


def playbook(path: Path, kubeconfig: Path, tasks: list[dict]) -> Path:
    play = {
        "name": "bench",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {
            "group/deckhouse.virtualization.dvp": {"kubeconfig": str(kubeconfig)},
            "group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig)},
        },
        "tasks": tasks,
    }
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def run(book: Path) -> tuple[float, float]:
    """Wall and CPU seconds (ansible-playbook and every process it ran) of one playbook run."""
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(book)], capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or re.search(r"(changed|failed)=[1-9]", proc.stdout):
        raise RuntimeError(f"{book.name} failed or changed something:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cases() -> dict[str, tuple[list[dict], int]]:
    """name -> (tasks, how many module runs they make)."""
    ours_read = {"deckhouse.virtualization.vm_class_info": {"name": CLASS}}
    ours_write = {"deckhouse.virtualization.vm_class": {"name": CLASS, "cpu": CPU}}
    k8s_read = {"kubernetes.core.k8s_info": K8S_READ}
    k8s_write = {"kubernetes.core.k8s": {"definition": DEFINITION}}
    return {
        "empty": ([], 0),
        "ours info": ([ours_read] * TASKS, TASKS),
        "ours info module": ([{**ours_read, **AS_MODULE}] * TASKS, TASKS),
        "k8s_info": ([k8s_read] * TASKS, TASKS),
        "ours apply": ([ours_write] * TASKS, TASKS),
        "ours apply module": ([{**ours_write, **AS_MODULE}] * TASKS, TASKS),
        "k8s apply": ([k8s_write] * TASKS, TASKS),
        "ours loop": ([{**ours_read, "loop": list(range(LOOP))}], LOOP),
        "ours loop module": ([{**ours_read, **AS_MODULE, "loop": list(range(LOOP))}], LOOP),
        "k8s_info loop": ([{**k8s_read, "loop": list(range(LOOP))}], LOOP),
        "ping": ([{"ansible.builtin.ping": {}}] * TASKS, TASKS),
        "debug": ([{"ansible.builtin.debug": {"msg": "x"}}] * TASKS, TASKS),
    }


def measure() -> tuple[dict[str, tuple[float, float, list[float]]], dict[str, int]]:
    """name -> (fastest wall, its CPU, all walls), and the task counts."""
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dvp-bench-tasks-") as tmp:
        sim = Simulator.start(Path(tmp) / "state", "--topology", str(TOPOLOGY))
        try:
            books = {name: playbook(Path(tmp) / f"{name.replace(' ', '-')}.yml", sim.kubeconfig, tasks) for name, (tasks, _) in cases().items()}
            setup = [{"deckhouse.virtualization.vm_class": {"name": CLASS, "cpu": CPU}}]
            subprocess.run([str(BIN / "ansible-playbook"), str(playbook(Path(tmp) / "setup.yml", sim.kubeconfig, setup))], capture_output=True, check=False)
            run(books["k8s apply"])  # untimed warm-up: page cache, bytecode, the class exists and is as k8s writes it
            for repeat in range(REPEATS):
                order = list(books) if repeat % 2 == 0 else list(reversed(books))
                for name in order:
                    results.setdefault(name, []).append(run(books[name]))
                    log(f"run {repeat + 1}/{REPEATS} {name}: {results[name][-1][0]:.2f} s wall, {results[name][-1][1]:.2f} CPU-s")
        finally:
            sim.stop()
    best = {name: (*min(runs), [w for w, _ in runs]) for name, runs in results.items()}
    return best, {name: n for name, (_, n) in cases().items()}


def per_task(best: dict, counts: dict, name: str) -> tuple[float, float]:
    """Per task wall and CPU, ansible-playbook's start-up (the empty playbook) taken off."""
    wall, cpu, _ = best[name]
    empty_wall, empty_cpu, _ = best["empty"]
    return (wall - empty_wall) / counts[name], (cpu - empty_cpu) / counts[name]


def rows_and_method() -> tuple[list[tuple[str, str, str, str]], str]:
    started = time.perf_counter()
    best, counts = measure()
    rows: list[tuple[str, str, str, str]] = []
    ping_wall, ping_cpu = per_task(best, counts, "ping")
    for what, ours, theirs in (
        (f"{TASKS} × `vm_class_info` vs {TASKS} × `kubernetes.core.k8s_info` (one VirtualMachineClass)", "ours info", "k8s_info"),
        (f"{TASKS} × idempotent `vm_class` vs {TASKS} × idempotent `kubernetes.core.k8s` (same object)", "ours apply", "k8s apply"),
        (f"one `vm_class_info` task with a loop of {LOOP} vs `k8s_info` with the same loop", "ours loop", "k8s_info loop"),
    ):
        o_wall, o_cpu = per_task(best, counts, ours)
        m_wall, m_cpu = per_task(best, counts, ours + " module")
        t_wall, t_cpu = per_task(best, counts, theirs)
        ratio = o_wall / t_wall
        rows.append(
            (
                what + " — per task, wall",
                f"**{ratio_text(ratio, TARGET)}×**: ours in-process {o_wall:.3f} s ({o_cpu:.3f} CPU-s) vs kubernetes.core {t_wall:.2f} s ({t_cpu:.2f} CPU-s); "
                f"ours as a module (task `environment:`) {m_wall:.2f} s ({m_cpu:.2f} CPU-s) = {m_wall / t_wall:.2f}×; "
                f"ping floor {ping_wall:.2f} s; "
                f"playbook runs: ours {', '.join(f'{w:.1f}' for w in best[ours][2])} s, as a module "
                f"{', '.join(f'{w:.1f}' for w in best[ours + ' module'][2])} s, theirs {', '.join(f'{w:.1f}' for w in best[theirs][2])} s",
                f"≤ {TARGET}×",
                "met" if ratio <= TARGET else f"**missed** ({ratio_text(ratio, TARGET)}×)",
            )
        )
    debug_wall, debug_cpu = per_task(best, counts, "debug")
    rows.append(
        (
            "Floors, per task: `ansible.builtin.ping` (a module process doing nothing) and `ansible.builtin.debug` (no module process: an action plugin's floor)",
            f"ping {ping_wall:.2f} s ({ping_cpu:.2f} CPU-s); debug {debug_wall:.3f} s ({debug_cpu:.3f} CPU-s); "
            f"an empty playbook (ansible-playbook's start-up, taken off every figure) {best['empty'][0]:.2f} s ({best['empty'][1]:.2f} CPU-s)",
            "—",
            "reported",
        )
    )
    method = (
        "A fresh `dvp-sim serve` with the admin guide's nodes (`admin-guide.yaml`); every figure is a whole `ansible-playbook` run (default "
        "callback, local connection, `ANSIBLE_PYTHON_INTERPRETER` the venv's Python) measured from outside: wall time, "
        "and CPU as utime+stime of ansible-playbook and every process it ran (getrusage of children). The connection "
        "comes from the simulator's kubeconfig through `module_defaults` for both collections. Playbooks: "
        f"{TASKS} tasks of our `vm_class_info` vs {TASKS} of `kubernetes.core.k8s_info` reading the same "
        f"VirtualMachineClass; {TASKS} idempotent `vm_class` vs {TASKS} idempotent `kubernetes.core.k8s` "
        "(`definition:` of the same class, which a set-up play has created; nothing changes, checked from the recap); "
        f"one task looping {LOOP} times over each read. Ours run as they do by default on localhost (the action plugin "
        "runs the module's logic in the worker process: no module process) and again as modules (each task has an "
        "`environment:`, so the action plugin falls back to an ordinary module process); "
        f"{TASKS} × `ansible.builtin.ping` and `ansible.builtin.debug` "
        "as floors; and a play with no task. Per task = (playbook − empty playbook) / tasks. Each playbook runs "
        f"{REPEATS} times, the order reversed every other round; the fastest run counts (all runs are listed). "
        "kubernetes.core and the `kubernetes` client come from the same venv as ours (ansible's bundled "
        "kubernetes.core; our modules do not import `kubernetes` on this path). Ratio = ours / kubernetes.core: "
        f"≤ {TARGET} is the target. Section time: {time.perf_counter() - started:.0f} s."
    )
    return rows, method


def section() -> str:
    """The markdown section of docs/benchmarks.md (bench/run.py puts it before the total)."""
    rows, method = rows_and_method()
    return "\n".join(section_lines("## The cost of one Ansible task", method, rows)) + "\n"


if __name__ == "__main__":
    print(section())
