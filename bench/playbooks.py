"""Playbook cost per resource: N VMs with their disks created, then the same playbook run again (nothing to change),
through the collection's modules (`virtual_disk` + `vm`), through the `vms` role, and through `kubernetes.core.k8s`
run by PyPI `ansible` in a venv of its own, against one `dvp-sim serve` per size; N = 10, 50, 200.

Every figure is a whole `ansible-playbook` run, wall time from outside, plus the CPU seconds of ansible-playbook and
every process it ran. "Done" is the same for both sides in the compared figures: every object written (a create, or
a read that finds nothing to change) and the task returned, nobody waiting for a VM to run; our modules with
`wait: true` (every VM Running with an IP when the task returns) are a separate figure. After each create the benchmark
waits, untimed, until every VM of the run is Running, so no run pays for the previous one's boots; a round's re-runs
run back to back, so each round's ratio compares runs made within seconds of each other.
`python bench/playbooks.py` runs this section alone and rewrites it in docs/benchmarks.md (`--sizes 10,50` and
`--repeats 1` for a quick look); `bench/run.py` runs it with the others. A benchmark, not a test: nothing here fails
on a slow figure.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import ratio_text, replace_section, section_lines  # noqa: E402
from tests.image_sources import FileServer, qemu_image  # noqa: E402
from tests.simulator_process import BIN, Simulator  # noqa: E402

SIZES = (10, 50, 200)
# Repetitions per size, so that the whole section stays within about three quarters of an hour on this machine (the peer's
# loop costs ≈ 0.8 s per object: at 200 VMs one create and one re-run of theirs take ≈ 6 minutes together, so it runs
# up to PEER_LOOP_MAX only). Seven at 10 VMs, where Ansible's own start-up (the same on both sides, ±0.1 s from run to
# run) is most of every figure: the medians of three moved the 10-VM ratios by several hundredths between runs of the
# same code, and the rounds' ratios are paired (a round costs ~40 s at 10 VMs, most of it the peer's loop). Three at
# 50 and 200: the median of two is their mean, which one slow run drags along, and one run alone gives no range (the
# role's 200-VM re-run ratio was 0.47 and 0.51 in single runs of two benches of the same code, 0.46–0.49 in three
# rounds run on their own).
REPEATS = {10: 7, 50: 3, 200: 3}
PEER_LOOP_MAX = 50  # the peer's loop runs up to this size: at 200 VMs its create and re-run alone would take ≈ 11 minutes
NODES = 16  # 64 cores, 256 GiB and 110 pods each: room for every VM of a round at once (at 200: 6 sides × 200 VMs)
TIME_SCALE = 20.0  # simulated seconds per real second: a VM's 3 s boot takes 0.15 s
API = "virtualization.deckhouse.io/v1alpha2"
HEADING = "## Playbook cost per resource: our modules and role vs kubernetes.core.k8s"
PEER_VERSION = "12.3.0"  # PyPI `ansible`, the same release as the dev venv's
STATE = ROOT / ".bench"  # the benchmarks' own state (the peer's venv), kept between runs
PEER_VENV = STATE / "peer-venv"
TARGET_RERUN, TARGET_CREATE = 0.5, 0.7  # ours / peer, wall time
TIMEOUT = 1800

Row = tuple[str, str, str, str]


def log(message: str) -> None:
    print(f"[bench playbooks] {message}", file=sys.stderr, flush=True)


# -- the peer's venv --------------------------------------------------------------------------------------------
def peer_venv() -> Path:
    """PyPI `ansible` (with its bundled kubernetes.core) and `kubernetes` in a venv of their own, made once."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / f".ansible-{PEER_VERSION}"
    if not stamp.exists():
        log(f"making {PEER_VENV} (pip install ansible=={PEER_VERSION} kubernetes)")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"ansible=={PEER_VERSION}", "kubernetes"], check=True)
        stamp.write_text("")
    return PEER_VENV / "bin"


def versions(bin_dir: Path) -> str:
    code = "import ansible, kubernetes; from importlib.metadata import version; print(version('ansible'), ansible.__version__, kubernetes.__version__)"
    out = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return f"ansible {out[0]} (ansible-core {out[1]}), kubernetes {out[2]}"


def kubernetes_core_version(bin_dir: Path) -> str:
    manifest = next(bin_dir.parent.glob("lib/python*/site-packages/ansible_collections/kubernetes/core/MANIFEST.json"))
    return json.loads(manifest.read_text())["collection_info"]["version"]


# -- the cluster ------------------------------------------------------------------------------------------------
def topology() -> dict:
    cpu = {"vendor": "Intel", "model": "Broadwell-noTSX", "features": ["vme", "f16c", "rdrand"], "cores": 64}
    nodes = [{"name": f"worker-{i:02d}", "labels": {"group": "bench"}, "cpu": cpu, "memory": "256Gi"} for i in range(NODES)]
    return {
        "cluster": {"podSubnetCIDR": "10.96.0.0/12", "serviceSubnetCIDR": "10.222.0.0/16", "nodeSubnetCIDR": "192.168.0.0/16"},
        "nodes": nodes,
        "storageClasses": [
            {"name": "replicated", "provisioner": "replicated.csi.storage.deckhouse.io", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "volumeMode": "Block", "capacity": "100Ti", "default": True}
        ],
    }


def wait(what: str, read, check, timeout: float = 600, every: float = 0.5):
    end = time.perf_counter() + timeout
    while True:
        last = read()
        if check(last):
            return last
        if time.perf_counter() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every)


def prepare(sim: Simulator, image_url: str) -> None:
    """The ModuleConfig (VM addresses, the disks' storage class), a ClusterVirtualImage Ready, the class generic Ready."""
    settings = {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}, "virtualMachineCIDRs": ["10.64.0.0/14"], "virtualDisks": {"defaultStorageClassName": "replicated"}}
    config = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"}, "spec": {"enabled": True, "version": 1, "settings": settings}}
    image = {"apiVersion": API, "kind": "ClusterVirtualImage", "metadata": {"name": "ubuntu"}, "spec": {"dataSource": {"type": "HTTP", "http": {"url": image_url}}}}
    sim.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([config, image]))
    for kind, name in (("cvi", "ubuntu"), ("vmclass", "generic")):
        wait(f"{kind} {name}", lambda k=kind, n=name: json.loads(sim.kubectl("get", k, n, "-o", "json").stdout), lambda o: (o.get("status") or {}).get("phase") == "Ready", 120)


def running_count(sim: Simulator, namespace: str) -> int:
    items = json.loads(sim.kubectl("get", "vm", "-n", namespace, "-o", "json", timeout=120).stdout)["items"]
    return sum(1 for o in items if (o.get("status") or {}).get("phase") == "Running" and (o.get("status") or {}).get("ipAddress"))


# -- the manifests and the playbooks ------------------------------------------------------------------------------
def disk_manifest(i: int, namespace: str) -> dict:
    return {
        "apiVersion": API,
        "kind": "VirtualDisk",
        "metadata": {"name": f"vm-{i:03d}-root", "namespace": namespace},
        "spec": {"dataSource": {"type": "ObjectRef", "objectRef": {"kind": "ClusterVirtualImage", "name": "ubuntu"}}},
    }


def vm_manifest(i: int, namespace: str) -> dict:
    return {
        "apiVersion": API,
        "kind": "VirtualMachine",
        "metadata": {"name": f"vm-{i:03d}", "namespace": namespace},
        "spec": {
            "virtualMachineClassName": "generic",
            "cpu": {"cores": 1, "coreFraction": "10%"},
            "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "VirtualDisk", "name": f"vm-{i:03d}-root"}],
            "provisioning": {"type": "UserData", "userData": "#cloud-config\nssh_pwauth: true\n"},
        },
    }


def disk_options(i: int) -> dict:
    """The disk as our module's options (snake_case forms of the same fields)."""
    return {"name": f"vm-{i:03d}-root", "data_source": {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "ubuntu"}}}


def vm_options(i: int) -> dict:
    return {
        "name": f"vm-{i:03d}",
        "virtual_machine_class_name": "generic",
        "cpu": {"cores": 1, "core_fraction": "10%"},
        "memory": {"size": "1Gi"},
        "block_device_refs": [{"kind": "VirtualDisk", "name": f"vm-{i:03d}-root"}],
        "provisioning": {"type": "UserData", "user_data": "#cloud-config\nssh_pwauth: true\n"},
    }


def play(kubeconfig: Path, tasks: list[dict] | None = None, roles: list[dict] | None = None, variables: dict | None = None, ours: bool = True,
         vars_file: Path | None = None) -> list[dict]:  # fmt: skip
    """One play on localhost, the kubeconfig through module_defaults (the peer's venv has no group of ours)."""
    defaults = {"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig)}}
    if ours:
        defaults["group/deckhouse.virtualization.dvp"] = {"kubeconfig": str(kubeconfig)}
    out = {"name": "bench", "hosts": "localhost", "gather_facts": False, "module_defaults": defaults}
    if vars_file:
        out["vars_files"] = [str(vars_file)]
    if variables:
        out["vars"] = variables
    if roles:
        out["roles"] = roles
    if tasks:
        out["tasks"] = tasks
    return [out]


def books(work: Path, kubeconfig: Path, size: int, namespace: str) -> dict[str, Path]:
    """side -> its playbook for `size` VMs in `namespace`. The items are play vars, so every side templates its loop
    the same way."""
    disks = [{**disk_options(i), "namespace": namespace} for i in range(size)]
    machines = [{**vm_options(i), "namespace": namespace} for i in range(size)]
    role_vms = [{**vm_options(i), "disks": [disk_options(i)]} for i in range(size)]
    # Every side of ours reads its objects from a vars file of the play, as the peer's one task reads its manifests from
    # a file; JSON, which Ansible reads with its JSON decoder (YAML of 2N objects in the playbook costs its loader ~0.4 s
    # at N = 200); each side's file holds only what that side reads. The role parameter names the file's variable
    # (a list written inline as the role parameter is templated again for every task of the role; through
    # include_vars, a task of its own, 10 VMs cost 0.1-0.3 s more than through vars_files).
    data = work / f"{namespace}-vars.json"
    data.write_text(json.dumps({"bench_disks": disks, "bench_vms": machines}))
    role_data = work / f"{namespace}-role-vars.json"
    role_data.write_text(json.dumps({"bench_role_vms": role_vms}))
    manifests = [disk_manifest(i, namespace) for i in range(size)] + [vm_manifest(i, namespace) for i in range(size)]
    (work / f"{namespace}.yaml").write_text(yaml.safe_dump_all(manifests))
    batches = [
        {"name": "disks", "deckhouse.virtualization.virtual_disk": {"wait": False, "batch": "{{ bench_disks }}"}},
        {"name": "vms", "deckhouse.virtualization.vm": {"wait": "{{ bench_wait }}", "batch": "{{ bench_vms }}"}},
    ]
    loops = [
        {"name": "disks", "deckhouse.virtualization.virtual_disk": {"wait": False, **{k: f"{{{{ item.{k} }}}}" for k in ("name", "namespace", "data_source")}},
         "loop": "{{ bench_disks }}", "loop_control": {"label": "{{ item.name }}"}},
        {"name": "vms", "deckhouse.virtualization.vm": {"wait": "{{ bench_wait }}", **{k: f"{{{{ item.{k} }}}}" for k in vm_options(0)}, "namespace": "{{ item.namespace }}"},
         "loop": "{{ bench_vms }}", "loop_control": {"label": "{{ item.name }}"}},
    ]  # fmt: skip
    k8s_loop = [{"name": "apply", "kubernetes.core.k8s": {"definition": "{{ item }}"}, "loop": "{{ bench_manifests }}", "loop_control": {"label": "{{ item.metadata.name }}"}}]
    k8s_src = [{"name": "apply", "kubernetes.core.k8s": {"src": str(work / f"{namespace}.yaml")}}]
    plays = {
        "ours": play(kubeconfig, batches, variables={"bench_wait": False}, vars_file=data),
        "ours, loop": play(kubeconfig, loops, variables={"bench_wait": False}, vars_file=data),
        "ours, wait": play(kubeconfig, batches, variables={"bench_wait": True}, vars_file=data),
        "vms module": play(kubeconfig, [{"name": "vms", "deckhouse.virtualization.vms": {"vms": "{{ bench_role_vms }}", "namespace": namespace, "wait": False,
                                                                                         "create_namespaces": False}}], vars_file=role_data),
        "role": play(kubeconfig, roles=[{"role": "deckhouse.virtualization.vms", "vms_namespace": namespace, "vms_list": "{{ bench_role_vms }}",
                                         "vms_wait": False, "vms_create_namespace": False}], vars_file=role_data),
        "peer, loop": play(kubeconfig, k8s_loop, variables={"bench_manifests": manifests}, ours=False),
        "peer, one task": play(kubeconfig, k8s_src, ours=False),
    }
    out = {}
    for side, content in plays.items():
        path = work / f"{namespace}-{side.replace(', ', '-')}.yml"
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        out[side] = path
    return out


SIDES = ("ours", "ours, loop", "ours, wait", "vms module", "role", "peer, loop", "peer, one task")
PEER_SIDES = ("peer, loop", "peer, one task")


def run_book(book: Path, peer: Path | None, expect_changed: bool | None) -> tuple[float, float]:
    """Wall and CPU seconds (ansible-playbook and every process it ran) of one run; raises on a failure, on a
    create that changed nothing, or a re-run that changed something (None: a play without tasks, no recap)."""
    bin_dir = peer or BIN
    env = {
        **os.environ,
        "ANSIBLE_PYTHON_INTERPRETER": str(bin_dir / "python"),
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_COLLECTIONS_PATH": str(STATE / "no-collections") if peer else str(ROOT / ".venv" / "collections"),
    }
    (STATE / "no-collections").mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(bin_dir / "ansible-playbook"), str(book)], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    if expect_changed is None and proc.returncode == 0:
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or not recap or int(recap.group(4)):
        raise RuntimeError(f"{book.name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    if bool(int(recap.group(2))) != expect_changed:
        raise RuntimeError(f"{book.name}: changed={recap.group(2)}, expected {'some' if expect_changed else 'none'}:\n{proc.stdout[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# -- measuring ------------------------------------------------------------------------------------------------------
def rerun_order(sides: tuple[str, ...], repeat: int) -> tuple[str, ...]:
    """The order of a round's re-runs: the peer's one task amid the sides judged against it (the two batch tasks,
    the vms module, the role), one after the other within a few seconds, so that this machine's drift (15-40% within
    minutes) moves both terms of a round's ratio alike; the sides for context (loops, wait) after them. Reversed
    every other round."""
    judged = [side for side in ("ours", "vms module", "peer, one task", "role") if side in sides]
    rest = [side for side in sides if side not in judged]
    return tuple(judged[::-1] if repeat % 2 else judged) + tuple(rest)


def measure_size(
    size: int, repeats: int, peer: Path, work: Path, image_url: str, sides: tuple[str, ...] = SIDES
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """side -> {"create": [(wall, cpu)], "rerun": [...]} for one size, on a simulator of its own; entry i of every
    side's list is from round i (ratio() pairs them). A round creates each side's objects in a namespace of its own
    (waiting, untimed, until its VMs run before the next side's create), then re-runs every side's playbook back to
    back (rerun_order), then deletes the round's VMs and disks."""
    results: dict[str, dict[str, list[tuple[float, float]]]] = {side: {"create": [], "rerun": []} for side in SIDES}
    sim = Simulator.start(work / f"state-{size}", "--topology", str(work / "topology.yaml"), time_scale=TIME_SCALE)
    try:
        prepare(sim, image_url)
        for repeat in range(repeats):
            order = tuple(side for side in sides if not (side == "peer, loop" and size > PEER_LOOP_MAX))
            order = order if repeat % 2 == 0 else order[::-1]
            round_books: dict[str, tuple[Path, Path | None, str]] = {}
            for side in order:
                namespace = f"{re.sub(r'[^a-z]+', '-', side)}-{size}-{repeat}"
                sim.kubectl("create", "namespace", namespace)
                book = books(work, sim.kubeconfig, size, namespace)[side]
                peer_bin = peer if side in PEER_SIDES else None
                round_books[side] = (book, peer_bin, namespace)
                results[side]["create"].append(run_book(book, peer_bin, True))
                wait(f"{size} VMs Running in {namespace}", lambda ns=namespace: running_count(sim, ns), lambda n: n == size, 600, 1.0)
            for side in rerun_order(order, repeat):
                book, peer_bin, _ = round_books[side]
                results[side]["rerun"].append(run_book(book, peer_bin, False))
            for side in order:
                c, r = results[side]["create"][-1], results[side]["rerun"][-1]
                log(f"{size} VMs, {side}, run {repeat + 1}/{repeats}: create {c[0]:.2f} s ({c[1]:.2f} CPU-s), re-run {r[0]:.2f} s ({r[1]:.2f} CPU-s)")
                sim.kubectl("delete", "vm,vd", "--all", "-n", round_books[side][2], "--wait=true", timeout=600)
    finally:
        code = sim.stop()
        if code:
            log(f"simulator exited with {code}; log ends:\n{(work / f'state-{size}' / 'server.log').read_text()[-3000:]}")
    return results


def empty_playbook(work: Path, peer: Path) -> dict[str, float]:
    """ansible-playbook's own start-up with no task, ours and the peer's (for the reader; nothing is taken off)."""
    book = work / "empty.yml"
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": []}]))
    out = {}
    for name, bin_dir in (("ours", None), ("peer", peer)):
        out[name] = min(run_book(book, bin_dir, None)[0] for _ in range(3))
    return out


def compile_collection() -> None:
    """The collection's bytecode, written before the runs as pip writes a package's at install. The action plugins
    import the collection's code with Python's source loader, which reads it from `__pycache__` and would write it on
    the first run (plugins/plugin_utils/bytecode.py), but this machine's environment sets PYTHONDONTWRITEBYTECODE,
    which a user's usually does not."""
    compileall.compile_dir(str(ROOT / "plugins"), quiet=1)


def measure(sizes: tuple[int, ...], repeats: dict[int, int], sides: tuple[str, ...] = SIDES) -> dict:
    peer = peer_venv()
    compile_collection()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dvp-bench-playbooks-") as tmp:
        work = Path(tmp)
        (work / "topology.yaml").write_text(yaml.safe_dump(topology()))
        www = work / "www"
        www.mkdir()
        qemu_image(www / "ubuntu.qcow2", "qcow2", 64 * 1024 * 1024)
        files = FileServer(www)
        try:
            empty = empty_playbook(work, peer)
            figures = {size: measure_size(size, repeats[size], peer, work, files.url("ubuntu.qcow2"), sides) for size in sizes}
        finally:
            files.stop()
    return {
        "figures": figures,
        "empty": empty,
        "repeats": repeats,
        "seconds": time.perf_counter() - started,
        "ours_versions": versions(BIN),
        "peer_versions": versions(peer) + f", kubernetes.core {kubernetes_core_version(peer)}",
    }


# -- the report ------------------------------------------------------------------------------------------------------
def summary(runs: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """Median wall, min wall, max wall, median CPU."""
    walls = [w for w, _ in runs]
    return statistics.median(walls), min(walls), max(walls), statistics.median(c for _, c in runs)


def figure(runs: list[tuple[float, float]], size: int) -> str:
    median, low, high, cpu = summary(runs)
    spread = f" (range {low:.1f}–{high:.1f})" if len(runs) > 1 else ""
    return f"{median:.1f} s{spread}, {median / size * 1000:.0f} ms/VM, {cpu:.1f} CPU-s"


def ratio(f: dict, size: int, phase: str, ours: str, peer: str) -> float | None:
    """ours / peer: the median of the rounds' ratios (entry i of each side's runs is from round i, the re-runs of a
    round back to back), or median against median where the two were not run in the same rounds."""
    a, b = f[size][ours][phase], f[size][peer][phase]
    if not b:
        return None  # not run at this size (PEER_LOOP_MAX)
    if len(a) == len(b):
        return statistics.median(x[0] / y[0] for x, y in zip(a, b, strict=True))
    return summary(a)[0] / summary(b)[0]


def judged(r: float | None, target: float, name: str) -> tuple[str, str]:
    if r is None:
        return f"not run at this size (the peer's loop runs up to {PEER_LOOP_MAX} VMs)", f"vs {name} not run"
    shown = ratio_text(r, target)
    return f"**{shown}×** of the peer's {name}", f"vs {name} {'met' if r <= target else f'**missed** ({shown}×)'}"


def rows(m: dict) -> list[Row]:
    out: list[Row] = []
    f = m["figures"]
    for size in f:
        for phase, target, label in (("create", TARGET_CREATE, "create"), ("rerun", TARGET_RERUN, "idempotent re-run")):
            sides = "; ".join(f"{side} {figure(f[size][side][phase], size)}" for side in SIDES if side != "ours, wait" and f[size][side][phase])
            out.append((f"{size} VMs + {size} disks, {label}: wall (median{', range' if m['repeats'][size] > 1 else ''}), per VM, CPU", sides, "—", "reported"))
            for ours, name in (("ours", "our modules (two batch tasks)"), ("vms module", "the vms module (one task)"), ("role", "the vms role")):
                if not f[size].get(ours, {}).get(phase):
                    continue
                r_loop, r_one = ratio(f, size, phase, ours, "peer, loop"), ratio(f, size, phase, ours, "peer, one task")
                (loop_text, loop_verdict), (one_text, one_verdict) = judged(r_loop, target, "loop"), judged(r_one, target, "one task")
                out.append(
                    (
                        f"{size} VMs, {label}: {name} / kubernetes.core.k8s",
                        f"{loop_text}, {one_text}",
                        f"≤ {target}×",
                        f"{loop_verdict}; {one_verdict}",
                    )
                )
        for phase, label in (("create", "create"), ("rerun", "idempotent re-run")):
            r_loop = ratio(f, size, phase, "ours, loop", "peer, one task") if f[size]["ours, loop"][phase] else None
            if r_loop is not None:
                out.append((f"{size} VMs, {label}: our modules as a loop of tasks (one task execution per object) / the peer's one task, for context",
                            f"{r_loop:.2f}×", "—", "reported"))  # fmt: skip
        w = f[size]["ours, wait"]
        out.append(
            (
                f"{size} VMs, our modules with `wait: true` (every VM Running with an IP when the task returns), for context",
                f"create {figure(w['create'], size)}; re-run {figure(w['rerun'], size)}",
                "—",
                "reported",
            )
        )
    out.append(
        (
            "ansible-playbook with no task (start-up, for context; not taken off)",
            f"ours {m['empty']['ours']:.2f} s, peer's venv {m['empty']['peer']:.2f} s",
            "—",
            "reported",
        )
    )
    return out


def method(m: dict) -> str:
    reps = ", ".join(f"{n} at {size}" for size, n in m["repeats"].items() if size in m["figures"])
    return (
        f"One fresh `dvp-sim serve --time-scale {TIME_SCALE:g}` per size with {NODES} identical nodes (64 cores, 256 GiB) and an RWX "
        "default storage class; the ModuleConfig's VM CIDR and disks' storage class, a ClusterVirtualImage (a 64 MiB qcow2 over "
        "HTTP) and the class `generic` Ready before anything is timed. Each run gets a namespace of its own, created "
        "beforehand; N VirtualDisks from the image and N VirtualMachines (class `generic`, 1 core at 10%, 1 GiB, the disk, "
        "cloud-init user data) are the same objects on every side. Sides: **ours** — one play, a `virtual_disk` task with "
        "the N disks as its `batch` (`wait: false`), then a `vm` task with the N VMs as its `batch` (`wait: false`), the "
        "objects read from a JSON vars file, the collection's action plugins running the modules in the worker process (the "
        "default on localhost); **ours, loop** — the same two tasks as loops over the objects, one task execution per "
        "object (for context: the form the batch replaces); **vms module** — one task of the `vms` module with the same VMs, each with "
        "its disk (`vms` as the role's list below, `wait: false`, `create_namespaces: false`): our one-task form, as the peer's "
        "one task is theirs; it runs the disks' and the VMs' batches inside that task; **role** — the `vms` role with `vms_list` of the same VMs with "
        "their disks (the role parameter names a variable of the play's JSON vars file: a role's inline parameters are "
        "templated again by each of its tasks), `vms_wait: false`, `vms_create_namespace: false` (creating the namespace "
        "would add one kubernetes.core.k8s process); the role is its argument-spec validation and one task of the `vms` "
        "module, which runs the disks' and the VMs' batches; **peer, loop** — `kubernetes.core.k8s` with `definition: \"{{ item }}\"` "
        "looping over the same 2N manifests (disks first), run by PyPI "
        f"{m['peer_versions']} in a venv of its own (`{PEER_VENV.relative_to(ROOT)}`, made once by the benchmark), its own "
        "Python as the interpreter; **peer, one task** — one `kubernetes.core.k8s` task with `src:` a file holding all 2N "
        "manifests (the cheapest way to apply them with kubernetes.core: one module process). Ours run with "
        f"{m['ours_versions']} (the dev venv), the collection's bytecode compiled before the runs (`compileall`, as pip does at "
        "install; this machine's environment sets PYTHONDONTWRITEBYTECODE, so no run would write it). Both sides get the kubeconfig through `module_defaults`. What \"done\" means: "
        "`kubernetes.core.k8s` returns when each object is written (no `wait`), and ours with `wait: false` return when each "
        "object is written (or read and found as desired) — the compared figures; **ours, wait** is the modules' default "
        "`wait: true` for the VMs (each task returns when its VM is Running with an IP), for context. A **create** is the "
        "first run into the empty namespace (it must report changes); the **re-run** is the same playbook again once every VM "
        "is Running (it must report none). A round creates each side's objects in turn, waiting (untimed) after each create "
        "until every VM of it is Running, so no create pays for another's boots; then it re-runs every side's playbook back to "
        "back — the peer's one task amid the three sides judged against it (the two batch tasks, the vms module, the role; "
        "their order reversed every other round), the sides for context after them — so that the two terms of a round's "
        "re-run ratio are measured within seconds of each other (this machine's speed drifts by 15–40% within minutes: "
        "a side's re-runs spread across minutes ranged over a third of their median); then it deletes the "
        "round's VMs and disks. Wall time is measured around "
        "the whole `ansible-playbook` process (its start-up included: see the empty playbook), CPU is utime+stime of "
        "ansible-playbook and every process it ran (getrusage of children). Repetitions: "
        f"{reps} (chosen so this section stays within about three quarters of an hour: the peer's loop costs ≈ 0.8 s per object, so it "
        f"runs up to {PEER_LOOP_MAX} VMs only — at 200 it alone would take ≈ 11 minutes; its cost per object is flat), the "
        "order of the sides reversed every other round; medians with ranges. Ratio = ours / peer, the median of the rounds' "
        "ratios (each round's ours over the same round's peer): "
        f"≤ {TARGET_CREATE} on create and ≤ {TARGET_RERUN} on the re-run are the targets, against both forms of the peer. "
        f"Section time: {m['seconds']:.0f} s."
    )


FIXES = (
    "Fixes and attempts for this section. (1) An idempotent re-run read, per VM, the VM twice (the module's checks and "
    "then the apply's comparison), its class and each of its disks and images, about six requests per VM; the vm, "
    "virtual_disk and virtual_image modules now compare the declared object with the one just read first and make "
    "the checks against other objects only when there is something to write, and the apply reuses that read: one "
    "request per object on a re-run (figures below are after it). (2) Tried and reverted: a worker profile showed the "
    "vms role's loops compiling Jinja for every templated option of every item (ansible-core 2.19: about 30 compiles "
    "per VM); passing each item's options as one `args:` template cut the role's CPU by about 30 %, but ansible-core "
    "then warns on every run that a templated `args:` is unsafe (argsplat-unsafe), so the role keeps one template "
    "per option. (3) The per-item cost was Ansible's: a loop item is a task execution of its own (templating, result "
    "processing, callbacks: ~10–15 ms of the controller per item), so 200 VMs with their disks were 400 of them. The vm "
    "and virtual_disk modules now take `batch` (one task, many objects: each validated and checked before any is "
    "written, applied over one connection, waits after all applies) and the `vms` role runs one batch task per "
    "step, its plan (each VM and disk with its defaults) one set_fact instead of block variables every task templated "
    "again. Then the requests: a created object was read twice (`known=None` meant \"not read\"), a VM not waited for "
    "was read again after its apply, and a batch now shares its reads (one LIST per namespace of the module's kind, "
    "bounded by the batch's size, instead of a GET per object; a class or image read once): a batch create of 200 VMs "
    "makes 200 PATCHes and 3 reads, a re-run 1 LIST per kind. On the server, which a create waits on: apply bodies "
    "that are JSON are decoded as JSON (PyYAML's pure-Python loader was ~10% of the event loop during a batch create), "
    "client writes and controller workers alternate on the writers' turn, and CEL verdicts are memoised on the fields "
    "an evaluation actually read (a VM's `Legacy` rule reads its disks only for a Legacy VM). In-process results skip "
    "remove_values' walk when no no_log value occurs in them (0.4 s of a 200-VM re-run). Measured one run each at 200 "
    "VMs, ours vs the peer's one task in the same run: the loop of tasks 12.0 / 8.0 s (create / re-run) vs 8.6 / 6.5 s; "
    "the first batch 9.6 / 3.2 s vs 8.6 / 6.5 s; with shared reads 6.7 / 2.8 s vs 8.1 / 6.8 s; with the server's "
    "changes 4.3 / 2.1 s vs 5.5 / 4.1 s; the role's loops 16.5 / 13.5 s vs 7.0 / 5.5 s, its batches 8.3 / 5.7 s vs "
    "5.1 / 4.1 s. (4) The role's Jinja and Ansible's cost per byte of task data. Task times of a 200-VM re-run (json "
    "callback): argument-spec validation 1.0 s, the plan's set_fact 1.1 s, disks 0.6 s, VMs 1.1 s, the results' "
    "set_fact 0.8 s, 9.6 s in all against 2.1 s for the two batch tasks alone. The plan and the results are now Python "
    "filters (`vms_plan`, `vms_batch`, `vms_unchecked`, `vms_results`) — but a filter alone saved little: ansible-core "
    "2.19 walks every value a task passes or returns (lazy templating on the way in, finalizing on the way out, a "
    "pickle to the controller and a walk into native types for the callback: py-spy put a quarter of the run there), so "
    "what counts is how often the 200 VMs cross a task boundary. The plan is a block variable (made again by each task "
    "that reads it, ~80 ms, instead of a fact that crosses twice), the check-mode notes are variables instead of "
    "set_fact tasks, and the benchmark gives the role its list through `include_vars` (inline role parameters are "
    "templated again for every task of the role: 5.1 s against 3.6 s for the same run). 200-VM re-run: 5.5 s → 3.6 s, "
    "the two batch tasks alone 2.1 s (five runs each, one simulator). (5) A batch applies its elements side by side, 4 "
    "threads each with a keep-alive connection of its own, so the module's work on one element overlaps the server's "
    "on another: 200-VM create (median of three, alternating, one simulator) 4.84 s with 1 thread, 3.93 s with 2, "
    "3.36–3.62 s with 4, 3.51 s with 8; the re-run (one LIST per kind, nothing to write) unchanged. What keeps the role "
    "above half the peer's re-run: besides the two batch tasks (as the batch side), the argument-spec validation "
    "(~0.3–0.4 s: the 200 items cross the task boundary), the `vms_results` set_fact (~0.5–0.7 s: 22,000 values — each "
    "VM's and disk's summary with its conditions — finalized, pickled and walked again for the callback), the "
    "`include_vars` (~0.2 s) and four small or skipped tasks (~0.1 s each, each making the plan again). (6) So the "
    "role is now two tasks: the namespaces (an empty loop when `vms_create_namespace` is false) and one task of the new "
    "`vms` module, whose action plugin makes the plan, runs each step with something to do as the vm or virtual_disk "
    "module's batch in the worker process and returns `vms_results` as its fact (only the results leave the worker). "
    "200-VM re-run, the same list through the same `include_vars`, two rounds of three runs alternating: the step tasks "
    "3.98 / 4.16 s, the one task 2.70 / 2.75 s (medians). The namespaces are that task's too (`create_namespaces`, "
    "kubernetes.core.k8s run as a module per namespace), so the role is its argument-spec validation and one task. "
    "And each side's vars file now holds only what it reads (the role's `include_vars` of a file with all three "
    "sides' lists took 0.62 s, of its own list 0.21 s), and the role reads it as the batch side does, through the "
    "play's `vars_files` (10-VM re-run, two rounds of five runs: 1.21 / 1.56 s through include_vars, 1.13 / 1.27 s). "
    "(7) At 10 VMs a re-run is mostly ansible-playbook's own start-up; of the rest, two costs were ours. Ansible's "
    "collection loader compiles a collection's source on every run and keeps no bytecode: the ~25 files the two "
    "tasks import took 75 ms of their own import time per run (`-X importtime`), 16 ms now that the action plugins "
    "import the collection's code with Python's source loader, which keeps its bytecode in `__pycache__` "
    "(plugins/plugin_utils/bytecode.py). And Ansible walks every value a task returns several times (finalizing, "
    "the pickle to the controller, native types for the callback): the modules now return their objects without "
    "`metadata.managedFields`, as `kubectl get` shows them (a third of a running VM's values). 10-VM re-run of ours, "
    "alternating pairs against one simulator: bytecode vs none −40 ms (medians of 12), managedFields left out −35 ms "
    "(16), both against the tree before −25 ms median, −38 ms mean of 30 paired differences (this machine's drift "
    "over those minutes was larger than either). (8) The role's meta/argument_specs.yml copied the vm and "
    "virtual_disk modules' options for its items, which Ansible loaded (YAML, then a deep copy per load) and checked "
    "every item against on each run; the spec now describes the items and the vms task checks every step's elements "
    "with the modules' own argument specs before the first step writes (a misspelt VM option no longer lets its disks "
    "be created first). That is a rule written once, not a speed-up: the role minus the vms module's task, paired runs "
    "against one simulator, 0.056 s with the new spec and 0.058 s with the copy at 10 VMs (30 pairs), 0.51 and 0.52 s "
    "at 200 (10 pairs); a 4-side run of 5 rounds after: role / peer 0.49 at 10 VMs, 0.43 at 200. (9) The role's 200-VM "
    "re-run was 0.51× in the last report. py-spy over one (every process of the run, 200 Hz) put 0.3 s of the vms "
    "task's worker in `copy.deepcopy`, nearly all of it in copy's slow path (`_reconstruct`): the vms action validated "
    "the task's arguments as Ansible hands them over, and a value read from a vars file is one of ansible-core 2.19's "
    "tagged types, which a deep copy rebuilds through `__reduce_ex__`; ArgumentSpecValidator copies what it validates, "
    "and the action checked every VM and disk against its module's spec (a copy each, and a second one of ours). The "
    "action now validates plain values (a JSON round trip, as a module process receives them; the in-process modules "
    "already did) and the batch check leaves the copy to the validator. 200-VM re-runs against one simulator, the old "
    "and the new collection alternating, 8 runs each (while a test suite ran): role 2.07 → 1.81 s, vms module 1.63 → "
    "1.35 s (medians; paired differences 0.26 and 0.27 s). The rest of the role's extra over the vms module (~0.45 s "
    "at 200 VMs) is Ansible's per role and per task: its argument-spec validation task, and the play's vars file parsed "
    "again for every variable lookup of a task or of the role's loading (vars_files are cached only when vaulted), "
    "three more times than for the one task."
)


def section(m: dict) -> str:
    return "\n".join(section_lines(HEADING, method(m), rows(m), FIXES)) + "\n"


def run(sizes: tuple[int, ...] = SIZES, repeats: dict[int, int] | None = None) -> str:
    """The markdown section for docs/benchmarks.md."""
    return section(measure(sizes, repeats or REPEATS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated VM counts")
    parser.add_argument("--repeats", type=int, help="repetitions at every size (default: per size, see REPEATS)")
    parser.add_argument("--no-report", action="store_true", help="print the section, leave docs/benchmarks.md alone")
    parser.add_argument("--sides", help=f"sides to time, separated by semicolons (of: {', '.join(SIDES)}); prints their figures, no report")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    repeats = {size: args.repeats or REPEATS.get(size, 1) for size in sizes}
    if args.sides:
        sides = tuple(side.strip() for side in args.sides.split(";"))
        unknown = [side for side in sides if side not in SIDES]
        if unknown:
            parser.error(f"unknown sides: {', '.join(unknown)}")
        figures = measure(sizes, repeats, sides)["figures"]
        for size, by_side in figures.items():
            for side in sides:
                print(f"{size} VMs, {side}: " + "; ".join(f"{phase} {figure(runs, size)}" for phase, runs in by_side[side].items() if runs))
                if side not in PEER_SIDES and "peer, one task" in sides:
                    paired = (f"{phase} {ratio(figures, size, phase, side, 'peer, one task'):.2f}×" for phase in ("create", "rerun"))
                    print("  / peer, one task (rounds' median): " + ", ".join(paired))
        return 0
    text = run(sizes, repeats)
    print(text)
    if not args.no_report:
        replace_section(HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
