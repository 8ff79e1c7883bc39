"""Issue 7 §5, module gaps, through ansible-playbook → HTTPS → simulator: field-manager conflicts and
force_conflicts, waits that survive an API server restart, contradictory options refused before any write,
upload URLs kept secret at -vvv, vm_class without libvirt-python, and the _info modules' selectors and waits."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from ..ansible_runner import run_playbook
from ..image_sources import FileServer, MiB, qemu_image
from ..simulator_process import Simulator

HTTP = {"type": "HTTP", "http": {"url": "https://images.example.com/ubuntu.qcow2"}}
CVI = "deckhouse.virtualization.cluster_virtual_image"
CVI_INFO = "deckhouse.virtualization.cluster_virtual_image_info"


def cvi(name, **kw):
    return {CVI: {"name": name, "wait": False, "data_source": HTTP, **kw}}


def get(sim, kind, name):
    out = sim.kubectl("get", kind, name, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def verbose_results(stdout):
    """Task results from a -vvv run, whose log lines precede the json callback's report."""
    report, _unused = json.JSONDecoder().raw_decode(stdout[stdout.index("\n{\n") + 1 :])
    return {task["task"]["name"]: next(iter(task["hosts"].values()), {}) for play in report["plays"] for task in play["tasks"]}


def upload_cvi(sim, name):
    """An Upload image created with kubectl: it waits for its upload, with URLs in its status."""
    body = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "ClusterVirtualImage",
        "metadata": {"name": name},
        "spec": {"dataSource": {"type": "Upload"}},
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(body))
    deadline = time.time() + 30
    while time.time() < deadline:
        obj = get(sim, "cvi", name)
        if (obj.get("status") or {}).get("phase") == "WaitForUserUpload":
            return obj
        time.sleep(0.2)
    raise AssertionError(f"{name} never waited for its upload: {obj.get('status')}")


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    root = tmp_path_factory.mktemp("gaps-images")
    qemu_image(root / "disk.qcow2", "qcow2", 4 * MiB, b"gaps")
    return root


# -- 1. force_conflicts --------------------------------------------------------------------------------------
def test_fields_of_other_managers_are_not_taken_without_force_conflicts(sim, tmp_path):
    first = run_playbook(tmp_path, sim.kubeconfig, [{"name": "create", **cvi("gaps-conflict", labels={"os": "ubuntu"})}])
    assert first.returncode == 0, first.stdout[-3000:]
    # another manager ("ops") takes a label with a patch and the URL with its own server-side apply
    sim.kubectl("patch", "cvi", "gaps-conflict", "--type", "merge", "-p", '{"metadata":{"labels":{"os":"debian"}}}', "--field-manager=ops")
    ops_intent = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "ClusterVirtualImage",
        "metadata": {"name": "gaps-conflict"},
        "spec": {"dataSource": {"type": "HTTP", "http": {"url": "https://mirror.example.com/ubuntu.qcow2"}}},
    }
    sim.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=ops", "-f", "-", input=json.dumps(ops_intent))
    before = get(sim, "cvi", "gaps-conflict")

    task = cvi("gaps-conflict", labels={"os": "ubuntu"})
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "without force", **task, "ignore_errors": True},
            {"name": "check without force", **task, "check_mode": True, "ignore_errors": True},
            {"name": "check with force", **{CVI: {**task[CVI], "force_conflicts": True}}, "check_mode": True},
        ],
    )
    failed = run["without force"]
    assert failed["failed"], failed
    assert "'ops'" in failed["msg"] and ".metadata.labels.os" in failed["msg"] and ".spec.dataSource.http.url" in failed["msg"], failed["msg"]
    assert "force_conflicts=true" in failed["msg"]
    assert {"manager": "ops", "field": ".metadata.labels.os"} in failed["conflicts"]
    assert run["check without force"]["failed"] and "'ops'" in run["check without force"]["msg"], "check mode reports the conflict too"
    assert run["check with force"]["changed"]
    after_failures = get(sim, "cvi", "gaps-conflict")
    assert after_failures["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "nothing was written"

    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [{"name": "with force", **{CVI: {**task[CVI], "force_conflicts": True}}}, {"name": "again", **task}],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["with force"]["changed"] and run["again"]["changed"] is False
    obj = get(sim, "cvi", "gaps-conflict")
    assert obj["metadata"]["labels"]["os"] == "ubuntu" and obj["spec"]["dataSource"]["http"]["url"] == HTTP["http"]["url"]


# -- 2. a wait survives an API server restart ----------------------------------------------------------------
class GatedFiles:
    """Serves a folder over HTTP, but holds every GET until open() — so an import stays Provisioning."""

    def __init__(self, root):
        self.gate = threading.Event()
        self.requests = 0
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests += 1
                while not outer.gate.wait(0.2):
                    pass
                super().do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name):
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_wait_survives_an_api_server_restart(tmp_path, disk):
    state = tmp_path / "state"
    sim = Simulator.start(state)
    port = urlparse(sim.server).port
    files = GatedFiles(disk)
    task = {CVI: {"name": "gaps-restart", "data_source": {"type": "HTTP", "http": {"url": files.url("disk.qcow2")}}, "wait_timeout": 120}}
    try:
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(run_playbook, tmp_path, sim.kubeconfig, [{"name": "create and wait", **task}])
            deadline = time.time() + 60
            while files.requests == 0 and time.time() < deadline:
                time.sleep(0.1)
            assert files.requests, "the importer never asked for the image"
            time.sleep(1.5)  # the module is watching the image by now
            assert get(sim, "cvi", "gaps-restart")["status"]["phase"] == "Provisioning"
            assert sim.stop() == 0
            time.sleep(2)  # the module's watch broke, and re-reading fails while the server is down
            sim = Simulator.start(state, "--port", str(port))
            files.gate.set()
            run = future.result(timeout=180)
        result = run["create and wait"]
        assert run.returncode == 0, run.stdout[-4000:]
        assert result["changed"] and result["image"]["phase"] == "Ready", result
        assert "Traceback" not in run.stdout + run.stderr
    finally:
        files.stop()
        sim.stop()


# -- 3. contradictory options are refused before any write ---------------------------------------------------
def test_contradictory_options_are_refused_naming_them(sim, tmp_path):
    assert run_playbook(tmp_path, sim.kubeconfig, [{"name": "keep", **cvi("gaps-keep")}]).returncode == 0
    before = sim.kubectl("get", "cvi,vmclass", "-o", "name").stdout
    vmclass = "deckhouse.virtualization.vm_class"
    cases = {
        "negative wait_timeout": cvi("gaps-neg", wait_timeout=-1),
        "absent with spec options": {CVI: {"name": "gaps-keep", "state": "absent", "data_source": HTTP, "labels": {"a": "b"}, "force_conflicts": True}},
        "upload_url without Upload": cvi("gaps-url", upload_url="in_cluster"),
        "vm_class absent with cpu": {vmclass: {"name": "generic", "state": "absent", "cpu": {"type": "Host"}, "recreate": True}},
        "vm_class negative wait_timeout": {vmclass: {"name": "gaps-class", "cpu": {"type": "Host"}, "wait_timeout": -5}},
        "info wait_condition without wait": {CVI_INFO: {"name": "gaps-keep", "wait_condition": {"type": "Ready"}}},
        "info negative wait_timeout": {CVI_INFO: {"name": "gaps-keep", "wait": True, "wait_timeout": -1}},
    }
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": name, **task, "ignore_errors": True} for name, task in cases.items()])
    msgs = {name: run[name].get("msg", "") for name in cases}
    assert all(run[name]["failed"] for name in cases), msgs
    assert "wait_timeout: must be 0 or more seconds, got -1" in msgs["negative wait_timeout"]
    assert "labels, force_conflicts, data_source: only used with state=present" in msgs["absent with spec options"]
    assert "upload_url is only used with data_source.type=Upload" in msgs["upload_url without Upload"]
    assert "cpu, recreate: only used with state=present" in msgs["vm_class absent with cpu"]
    assert "wait_timeout: must be 0 or more seconds, got -5" in msgs["vm_class negative wait_timeout"]
    assert "wait_condition: only used with wait=true" in msgs["info wait_condition without wait"]
    assert "wait_timeout: must be 0 or more seconds, got -1" in msgs["info negative wait_timeout"]
    assert sim.kubectl("get", "cvi,vmclass", "-o", "name").stdout == before, "nothing was written or deleted"


# -- 4. upload URLs are credentials --------------------------------------------------------------------------
def test_upload_urls_never_printed_unless_revealed(sim, tmp_path, disk):
    obj = upload_cvi(sim, "gaps-upload")
    urls = obj["status"]["imageUploadURLs"]
    secrets = [urlparse(urls["external"]).path.rsplit("/", 1)[-1], urlparse(urls["inCluster"]).path.split("/")[2]]
    assert all(len(s) >= 8 for s in secrets) and secrets[0] == secrets[1]
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "info", CVI_INFO: {"name": "gaps-upload"}},
            {
                "name": "info waiting for the upload",
                CVI_INFO: {"name": "gaps-upload", "wait": True, "wait_condition": {"type": "Ready", "status": "False", "reason": "WaitForUserUpload"}},
            },
            {
                "name": "upload in cluster",
                CVI: {"name": "gaps-upload", "data_source": {"type": "Upload"}, "upload_file": str(disk / "disk.qcow2"), "upload_url": "in_cluster"},
            },
        ],
        extra_args=("-vvv",),
    )
    assert run.returncode == 0, run.stdout[-4000:]
    everything = run.stdout + run.stderr
    assert "<ESTABLISH LOCAL CONNECTION" in everything or "EXEC" in everything or "in-process:" in everything, "this is the -vvv output"
    assert secrets[0] not in everything, "the upload token reached the output"
    run = verbose_results(run.stdout)
    masked = run["info"]["summaries"][0]["upload_urls"]
    assert masked["external"].endswith("/upload/********") and masked["in_cluster"].endswith("/in-cluster/********/upload"), masked
    assert run["info"]["resources"][0]["status"]["imageUploadURLs"]["inCluster"] == masked["in_cluster"]
    assert run["info waiting for the upload"]["resources"][0]["status"]["phase"] == "WaitForUserUpload"
    assert run["upload in cluster"]["changed"] and run["upload in cluster"]["image"]["phase"] == "Ready"

    upload_cvi(sim, "gaps-reveal")
    revealed = run_playbook(tmp_path, sim.kubeconfig, [{"name": "reveal", CVI_INFO: {"name": "gaps-reveal", "reveal_upload_urls": True}}])
    urls = get(sim, "cvi", "gaps-reveal")["status"]["imageUploadURLs"]
    assert revealed["reveal"]["summaries"][0]["upload_urls"] == {"external": urls["external"], "in_cluster": urls["inCluster"]}


# -- 5. vm_class without libvirt-python ----------------------------------------------------------------------
@pytest.fixture
def no_libvirt(tmp_path):
    """A PYTHONPATH entry whose `libvirt` fails to import, as on a controller without libvirt-python."""
    shim = tmp_path / "no-libvirt"
    shim.mkdir()
    (shim / "libvirt.py").write_text("raise ImportError(\"No module named 'libvirt' (test shim)\")\n")
    return {"PYTHONPATH": str(shim)}


def test_vm_class_without_libvirt_warns_and_fails_fast_on_the_platforms_verdict(cluster, tmp_path, no_libvirt):
    vmclass = "deckhouse.virtualization.vm_class"
    started = time.monotonic()
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "host class", vmclass: {"name": "gaps-nolibvirt-host", "cpu": {"type": "Host"}}, "environment": no_libvirt},
            {
                "name": "unknown model",
                vmclass: {"name": "gaps-nolibvirt-model", "cpu": {"type": "Model", "model": "NoSuchModel"}, "wait_timeout": 300},
                "environment": no_libvirt,
                "ignore_errors": True,
            },
            {"name": "info waits, fails fast", "deckhouse.virtualization.vm_class_info": {"name": "gaps-nolibvirt-model", "wait": True}, "ignore_errors": True},
        ],
    )
    elapsed = time.monotonic() - started
    host, model, info = run["host class"], run["unknown model"], run["info waits, fails fast"]
    assert host.get("failed") is not True and host["vm_class"]["phase"] == "Ready", host
    assert any("libvirt-python is not installed" in w for w in host.get("warnings", [])), host.get("warnings")
    assert any("libvirt-python is not installed" in w for w in model.get("warnings", [])), model.get("warnings")
    assert model["failed"] and "NoSuitableNodesFound" in model["msg"] and "NoSuchModel" in model["msg"], model["msg"]
    assert info["failed"] and "NoSuitableNodesFound" in info["msg"], info
    assert elapsed < 60, f"failed fast, not after wait_timeout: {elapsed:.1f}s"


# -- 6. _info: field selectors and waiting -------------------------------------------------------------------
def test_info_field_selectors_and_wait(sim, tmp_path, disk):
    files = FileServer(disk)
    try:
        source = {"type": "HTTP", "http": {"url": files.url("disk.qcow2")}}
        run = run_playbook(
            tmp_path,
            sim.kubeconfig,
            [
                {"name": "a", **cvi("gaps-info-a", data_source=source, labels={"set": "gaps-info"})},
                {"name": "b", **cvi("gaps-info-b", data_source=source, labels={"set": "gaps-info"})},
                {"name": "by field", CVI_INFO: {"field_selectors": ["metadata.name=gaps-info-b"]}},
                {"name": "by label and field", CVI_INFO: {"label_selectors": ["set=gaps-info"], "field_selectors": ["metadata.name!=gaps-info-b"]}},
                {"name": "wait for all", CVI_INFO: {"label_selectors": ["set=gaps-info"], "wait": True, "wait_timeout": 60}},
                {"name": "wait by condition", CVI_INFO: {"name": "gaps-info-a", "wait": True, "wait_condition": {"type": "Ready"}}},
            ],
        )
    finally:
        files.stop()
    assert run["a"].get("failed") is not True, run.stdout[-3000:]
    assert [o["metadata"]["name"] for o in run["by field"]["resources"]] == ["gaps-info-b"]
    assert [o["metadata"]["name"] for o in run["by label and field"]["resources"]] == ["gaps-info-a"]
    assert [s["phase"] for s in run["wait for all"]["summaries"]] == ["Ready", "Ready"]
    assert run["wait by condition"]["summaries"][0]["phase"] == "Ready"


def test_info_wait_for_an_image_not_yet_there_and_timeout(sim, tmp_path, disk):
    timeout = run_playbook(
        tmp_path, sim.kubeconfig, [{"name": "times out", CVI_INFO: {"name": "gaps-later", "wait": True, "wait_timeout": 2}, "ignore_errors": True}]
    )
    assert timeout["times out"].get("failed") and "timed out after 2s" in timeout["times out"]["msg"], timeout["times out"]
    assert "the object does not exist" in timeout["times out"]["msg"]
    files = GatedFiles(disk)
    try:
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                run_playbook, tmp_path, sim.kubeconfig, [{"name": "waits", CVI_INFO: {"name": "gaps-later", "wait": True, "wait_timeout": 90}}]
            )
            time.sleep(3)  # the task waits for an image that does not exist yet
            body = {
                "apiVersion": "virtualization.deckhouse.io/v1alpha2",
                "kind": "ClusterVirtualImage",
                "metadata": {"name": "gaps-later"},
                "spec": {"dataSource": {"type": "HTTP", "http": {"url": files.url("disk.qcow2")}}},
            }
            sim.kubectl("apply", "-f", "-", input=json.dumps(body))
            time.sleep(1)
            assert not future.done(), "the task waits while the image is provisioning"
            files.gate.set()
            run = future.result(timeout=120)
    finally:
        files.stop()
    assert run["waits"]["summaries"][0]["phase"] == "Ready", run.stdout[-3000:]
