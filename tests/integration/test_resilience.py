"""Playbook-level resilience: the modules against the API fault mode (10 % of requests answered 429, 500, 503,
409 or delayed past the client's timeout), with no secret in their output even at -vvv; and the simulator killed
with `kill -9` in the middle of a playbook run, restarted on the same state dir: nothing lost, running VMs back
where they were, the re-run converges."""

import base64
import json
import re
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from ..ansible_runner import BIN, run_playbook
from ..image_sources import FileServer, MiB, iso_image, qemu_image
from ..simulator_process import Simulator

TOPOLOGY = Path(__file__).resolve().parents[2] / "simulator" / "dvp_simulator" / "topologies" / "admin-guide.yaml"
CIDR = "10.66.20.0/24"
DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}  # without it the module's hook ignores the settings
REGISTRY_PASSWORD = "pull-secret-" + uuid.uuid4().hex  # must never appear in any output
FAST = {"DVP_REQUEST_TIMEOUT": "2"}  # the client's per-request timeout; the fault mode delays 3 s


def dvp(module, **params):
    return {f"deckhouse.virtualization.{module}": params}


def faults(sim, *args):
    out = subprocess.run([str(BIN / "dvp-sim"), "faults", *args, "--kubeconfig", str(sim.kubeconfig)], capture_output=True, check=False, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def setup_cluster(sim, namespace):
    sim.kubectl("create", "namespace", namespace)
    mc = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
          "spec": {"enabled": True, "version": 1, "settings": {"dvcr": DVCR, "virtualMachineCIDRs": [CIDR]}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(mc))


def tasks(namespace, server, root, vm_state="running"):
    """Every module of the brief: class, images (HTTP, Upload, a registry with a pull secret), disk, VM, their _info."""
    return [
        {"name": "class", **dvp("vm_class", name="res-class", cpu={"type": "Discovery", "discovery": {}}, wait_timeout=120)},
        {
            "name": "image",
            **dvp("cluster_virtual_image", name="res-linux", data_source={"type": "HTTP", "http": {"url": server.url("linux.qcow2")}}, wait_timeout=120),
        },
        {
            "name": "upload",
            **dvp("cluster_virtual_image", name="res-upload", data_source={"type": "Upload"}, upload_file=str(root / "disc.iso"), wait_timeout=120),
        },
        {
            "name": "pulled",
            **dvp(
                "cluster_virtual_image",
                name="res-pulled",
                wait=False,
                data_source={
                    "type": "ContainerImage",
                    "container_image": {"image": "127.0.0.1:1/images/none:1", "image_pull_secret": {"name": "regcred", "namespace": namespace}},
                },
            ),
        },  # fmt: skip
        {
            "name": "disk",
            **dvp(
                "virtual_disk",
                name="res-root",
                namespace=namespace,
                wait_timeout=120,
                data_source={"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "res-linux"}},
            ),
        },  # fmt: skip
        {
            "name": "vm",
            **dvp(
                "vm",
                name="res-vm",
                namespace=namespace,
                state=vm_state,
                wait_timeout=120,
                virtual_machine_class_name="res-class",
                cpu={"cores": 1, "core_fraction": "10%"},
                memory={"size": "1Gi"},
                labels={"tier": "web"},
                block_device_refs=[{"kind": "VirtualDisk", "name": "res-root"}],
            ),
        },  # fmt: skip
        {"name": "class info", **dvp("vm_class_info", name="res-class")},
        {"name": "image info", **dvp("cluster_virtual_image_info", name="res-linux")},
        {"name": "disk info", **dvp("virtual_disk_info", name="res-root", namespace=namespace)},
        {"name": "vm info", **dvp("vm_info", name="res-vm", namespace=namespace)},
    ]


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    qemu_image(root / "linux.qcow2", "qcow2", 16 * MiB, b"a bootable disk")
    iso_image(root / "disc.iso")
    server = FileServer(root)
    yield server, root
    server.stop()


def pull_secret(sim, namespace):
    auth = base64.b64encode(f"robot:{REGISTRY_PASSWORD}".encode()).decode()
    config = json.dumps({"auths": {"127.0.0.1:1": {"username": "robot", "password": REGISTRY_PASSWORD, "auth": auth}}})
    sim.kubectl("create", "secret", "docker-registry", "regcred", "-n", namespace, "--docker-server=127.0.0.1:1",
                "--docker-username=robot", f"--docker-password={REGISTRY_PASSWORD}")  # fmt: skip
    return [REGISTRY_PASSWORD, auth, base64.b64encode(config.encode()).decode()[:40]]


def upload_tokens(sim):
    """The secret path parts of every upload URL the simulator handed out."""
    cvis = json.loads(sim.kubectl("get", "cvi", "-o", "json").stdout)["items"]
    urls = [u for c in cvis for u in ((c.get("status") or {}).get("imageUploadURLs") or {}).values()]
    return [part for url in urls for part in re.split(r"[/?=&]", url.split("://", 1)[-1]) if len(part) >= 16]


def verbose(tmp_path, kubeconfig, task_list):
    """run_playbook at -vvv: the json callback's report follows the verbose preamble on stdout."""
    run = run_playbook(tmp_path, kubeconfig, task_list, ("-vvv",), FAST)
    start = run.stdout.find("\n{\n")
    if start >= 0:
        try:
            report = json.JSONDecoder().raw_decode(run.stdout[start + 1 :])[0]
            for play in report["plays"]:
                for task in play["tasks"]:
                    run.results[task["task"]["name"]] = next(iter(task["hosts"].values()), {})
        except (ValueError, KeyError):
            pass
    return run


def assert_no_secrets(run, secrets):
    text = run.stdout + run.stderr
    for secret in secrets:
        assert secret and secret not in text, "a credential reached the playbook output"


def test_modules_succeed_against_10_percent_api_faults_and_print_no_secret(tmp_path, images):
    server, root = images
    sim = Simulator.start(tmp_path / "sim", "--topology", str(TOPOLOGY), "--api-faults-seed", "7", time_scale=20.0)
    try:
        ns = "res-" + uuid.uuid4().hex[:6]
        setup_cluster(sim, ns)
        secrets = [sim.token, *pull_secret(sim, ns)]
        set_to = faults(sim, "set", "0.1", "--seed", "11", "--delay", "3")
        assert set_to["rate"] == 0.1 and set_to["total"] == 0
        first = verbose(tmp_path, sim.kubeconfig, tasks(ns, server, root))
        assert first.returncode == 0, first.stdout[-6000:]
        assert [t for t in ("class", "image", "upload", "pulled", "disk", "vm") if not first[t]["changed"]] == []
        assert first["vm"]["vm"]["phase"] == "Running"
        again = verbose(tmp_path, sim.kubeconfig, tasks(ns, server, root))
        assert again.returncode == 0, again.stdout[-6000:]
        assert [t for t, r in again.results.items() if r.get("changed")] == [], "the re-run under faults changes nothing"
        counts = faults(sim, "show")
        assert counts["total"] >= 10 and all(counts["injected"][k] > 0 for k in ("429", "500", "503", "delay")), counts
        # Conflicts on writes, often: the apply that meets one re-reads and decides again.
        faults(sim, "set", "0.5", "--kinds", "409", "--seed", "1")  # its first draw faults
        relabel = tasks(ns, server, root)
        relabel[5]["deckhouse.virtualization.vm"]["labels"] = {"tier": "db"}
        third = verbose(tmp_path, sim.kubeconfig, relabel)
        assert third.returncode == 0, third.stdout[-6000:]
        assert [t for t, r in third.results.items() if r.get("changed")] == ["vm"]
        assert faults(sim, "show")["injected"]["409"] > 0
        assert json.loads(sim.kubectl("get", "vm", "-n", ns, "res-vm", "-o", "json").stdout)["metadata"]["labels"]["tier"] == "db"
        faults(sim, "set", "0")
        for run in (first, again, third):
            assert_no_secrets(run, [*secrets, *upload_tokens(sim)])
        log = (tmp_path / "sim" / "server.log").read_text()
        assert "internal error serving" not in log, "no 500 but the injected ones"
    finally:
        assert sim.stop() == 0


def poll(fn, timeout=60.0, step=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def vm_status(sim, ns, name):
    out = sim.kubectl("get", "vm", "-n", ns, name, "-o", "json", check=False)
    return (json.loads(out.stdout).get("status") or {}) if out.returncode == 0 else None


def test_kill_9_mid_playbook_loses_nothing_and_the_rerun_converges(tmp_path, images):
    server, root = images
    state = tmp_path / "sim"
    sim = Simulator.start(state, "--topology", str(TOPOLOGY), time_scale=20.0)
    ns = "kill-" + uuid.uuid4().hex[:6]
    setup_cluster(sim, ns)
    pull_secret(sim, ns)
    base = tasks(ns, server, root)
    first = run_playbook(tmp_path, sim.kubeconfig, base)
    assert first.returncode == 0, first.stdout[-6000:]
    node = vm_status(sim, ns, "res-vm")["nodeName"]
    more = [
        {
            "name": "disk 2",
            **dvp(
                "virtual_disk",
                name="res-root-2",
                namespace=ns,
                wait_timeout=120,
                data_source={"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "res-linux"}},
            ),
        },  # fmt: skip
        {
            "name": "vm 2",
            **dvp(
                "vm",
                name="res-vm-2",
                namespace=ns,
                state="running",
                wait_timeout=120,
                virtual_machine_class_name="res-class",
                cpu={"cores": 1, "core_fraction": "10%"},
                memory={"size": "1Gi"},
                run_policy="AlwaysOn",
                block_device_refs=[{"kind": "VirtualDisk", "name": "res-root-2"}],
            ),
        },  # fmt: skip
    ]
    done = {}
    # the run the kill interrupts keeps trying to reach its API server until its wait_timeout: a short one ends it sooner
    cut_short = [{**task, **{key: {**module, "wait_timeout": 15} for key, module in task.items() if key.startswith("deckhouse.")}} for task in more]
    runner = threading.Thread(target=lambda: done.update(run=run_playbook(tmp_path, sim.kubeconfig, base + cut_short)))
    # Kill the simulator as soon as vm 2 exists (written, acknowledged) while the playbook is still waiting on it: a
    # watch opened before the playbook starts sees its ADDED event at once (polling with kubectl, ~0.3 s a call under
    # load, could miss the playbook's last half second: its VM boots in 0.15 s at this time scale).
    tls = ssl.create_default_context(cafile=str(sim.ca_file))
    watch = urllib.request.Request(
        f"{sim.server}/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{ns}/virtualmachines?watch=1&timeoutSeconds=120",
        headers={"Authorization": f"Bearer {sim.token}"},
    )
    with urllib.request.urlopen(watch, context=tls, timeout=130) as events:
        runner.start()
        for line in events:
            if json.loads(line)["object"].get("metadata", {}).get("name") == "res-vm-2":
                break
    sim.process.send_signal(signal.SIGKILL)
    sim.process.wait()
    runner.join(300)
    assert done["run"].returncode != 0, "the playbook lost its API server"

    sim = Simulator.start(state, "--topology", str(TOPOLOGY), time_scale=20.0)
    try:
        for kind, name, namespace in (("vmclass", "res-class", None), ("cvi", "res-linux", None), ("cvi", "res-upload", None), ("cvi", "res-pulled", None),
                                      ("vd", "res-root", ns), ("vd", "res-root-2", ns), ("vm", "res-vm", ns), ("vm", "res-vm-2", ns)):  # fmt: skip
            args = ["get", kind, name] + (["-n", namespace] if namespace else [])
            assert sim.kubectl(*args, check=False).returncode == 0, f"{kind} {name} lost by kill -9"
        back = poll(lambda: (s := vm_status(sim, ns, "res-vm")) and s.get("phase") == "Running" and s)
        assert back["nodeName"] == node, "a running VM comes back on its node"
        rerun = run_playbook(tmp_path, sim.kubeconfig, base + more)
        assert rerun.returncode == 0, rerun.stdout[-6000:]
        changed = sorted(t for t, r in rerun.results.items() if r.get("changed"))
        assert changed == [], "everything was written before the kill: the re-run finds it all in place"
        assert rerun["vm 2"]["vm"]["phase"] == "Running" and rerun["vm"]["vm"]["node"] == node
        final = run_playbook(tmp_path, sim.kubeconfig, base + more)
        assert final.returncode == 0 and [t for t, r in final.results.items() if r.get("changed")] == []
    finally:
        assert sim.stop() == 0
