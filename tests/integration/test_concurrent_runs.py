"""Under load: 10 `ansible-playbook` runs at once against one simulator (as AWX runs parallel jobs), managing
overlapping objects — the same class and image, labels on the same VMs — with the API fault mode answering 30 %
of the writes 409 Conflict: every run converges, no conflict surfaces as a failure, and every object ends in a state
some run asked for."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..ansible_runner import run_playbook
from ..image_sources import FileServer, MiB, qemu_image
from ..simulator_process import Simulator
from .test_resilience import dvp, faults, setup_cluster

TOPOLOGY = Path(__file__).resolve().parents[2] / "simulator" / "dvp_simulator" / "topologies" / "admin-guide.yaml"
RUNS = 10
VMS = ("web-0", "web-1")
POLICY = [{"cores": {"min": 1, "max": 4}, "memory": {"min": "512Mi", "max": "8Gi"}, "core_fractions": [10, 20, 50, 100]}]


def shared(url):
    """What every run asks for identically."""
    return [
        {"name": "class", **dvp("vm_class", name="shared-class", cpu={"type": "Discovery", "discovery": {}}, sizing_policies=POLICY, wait_timeout=120)},
        {"name": "image", **dvp("cluster_virtual_image", name="shared-image", data_source={"type": "HTTP", "http": {"url": url}}, wait_timeout=120)},
    ]


def vm(ns, name, labels):
    return dvp("vm", name=name, namespace=ns, state="running", wait_timeout=120, virtual_machine_class_name="shared-class", labels=labels,
               cpu={"cores": 1, "core_fraction": "10%"}, memory={"size": "512Mi"},
               block_device_refs=[{"kind": "VirtualDisk", "name": f"{name}-root"}])  # fmt: skip


def labels_of(run):
    return {"tier": "web", "owner": f"run-{run}"}


def run_tasks(ns, url, run):
    """Run `run`: the shared objects, its labels on one of the shared VMs, a class of its own, and reads."""
    target = VMS[run % len(VMS)]
    return [
        *shared(url),
        {"name": "own class", **dvp("vm_class", name=f"own-{run}", cpu={"type": "Discovery", "discovery": {}}, sizing_policies=POLICY)},
        {"name": "label vm", **vm(ns, target, labels_of(run))},
        {"name": "vm info", **dvp("vm_info", namespace=ns, label_selectors=["tier=web"])},
        {"name": "class info", **dvp("vm_class_info", name="shared-class")},
    ]


def test_ten_parallel_runs_on_overlapping_objects_all_converge(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    qemu_image(root / "linux.qcow2", "qcow2", 16 * MiB, b"a bootable disk")
    server = FileServer(root)
    sim = Simulator.start(tmp_path / "sim", "--topology", str(TOPOLOGY), time_scale=20.0)
    try:
        ns = "load-" + uuid.uuid4().hex[:6]
        setup_cluster(sim, ns)
        url = server.url("linux.qcow2")
        setup = [*shared(url)]
        for name in VMS:
            source = {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "shared-image"}}
            setup.append({"name": f"disk {name}", **dvp("virtual_disk", name=f"{name}-root", namespace=ns, wait_timeout=120, data_source=source)})
            setup.append({"name": f"vm {name}", **vm(ns, name, {"tier": "web"})})
        (tmp_path / "setup").mkdir()
        first = run_playbook(tmp_path / "setup", sim.kubeconfig, setup)
        assert first.returncode == 0, first.stdout[-6000:]

        faults(sim, "set", "0.3", "--kinds", "409", "--seed", "3")  # 30 % of the writes meet a conflict
        folders = [tmp_path / f"run-{i}" for i in range(RUNS)]
        for folder in folders:
            folder.mkdir()
        with ThreadPoolExecutor(RUNS) as pool:
            runs = list(pool.map(lambda i: run_playbook(folders[i], sim.kubeconfig, run_tasks(ns, url, i)), range(RUNS)))
        counts = faults(sim, "show")
        faults(sim, "set", "0")
        for i, run in enumerate(runs):
            assert run.returncode == 0, f"run {i} failed:\n{run.stdout[-4000:]}"
            assert not run["class"]["changed"] and not run["image"]["changed"], "identical desired state: nothing to change"
            assert run["own class"]["changed"]
        assert counts["total"] > 0 and counts["injected"]["409"] > 0, counts

        # Every object ends in a state some run asked for.
        for name in VMS:
            obj = json.loads(sim.kubectl("get", "vm", "-n", ns, name, "-o", "json").stdout)
            asked = [labels_of(i) for i in range(RUNS) if VMS[i % len(VMS)] == name]
            assert obj["metadata"].get("labels") in asked, obj["metadata"].get("labels")
            assert obj["status"]["phase"] == "Running"
        classes = json.loads(sim.kubectl("get", "vmclass", "-o", "json").stdout)["items"]
        assert {c["metadata"]["name"] for c in classes} >= {"shared-class", *(f"own-{i}" for i in range(RUNS))}
        shared_class = next(c for c in classes if c["metadata"]["name"] == "shared-class")
        assert shared_class["spec"]["sizingPolicies"][0]["cores"] == {"min": 1, "max": 4}
        images = json.loads(sim.kubectl("get", "cvi", "-o", "json").stdout)["items"]
        assert [i["metadata"]["name"] for i in images] == ["shared-image"] and images[0]["status"]["phase"] == "Ready"

        # Converged: one more run of each kind changes nothing but what another run's labels left behind.
        last = run_playbook(folders[0], sim.kubeconfig, run_tasks(ns, url, 0))
        assert last.returncode == 0
        assert [t for t, r in last.results.items() if r.get("changed")] in ([], ["label vm"])
        again = run_playbook(folders[0], sim.kubeconfig, run_tasks(ns, url, 0))
        assert [t for t, r in again.results.items() if r.get("changed")] == []
    finally:
        server.stop()
        assert sim.stop() == 0
