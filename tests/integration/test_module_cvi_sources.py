"""cluster_virtual_image end to end: module → HTTPS → simulator → importer → DVCR, for every source type,
the admin guide's examples, and every failure the issue names (each failing with its cause, nothing else
changing)."""

from __future__ import annotations

import base64
import json
import subprocess
import tarfile

import pytest

from ..ansible_runner import run_playbook
from ..image_sources import MiB, ca_bundle, oci_layout, tar_entry
from ..simulator_process import Simulator
from .test_cvi_import import https, images, pki, registry  # noqa: F401  (shared module fixtures)  # pylint: disable=unused-import


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("cvi-module"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def pull_secret(sim, registry):  # noqa: F811
    data = base64.b64encode(registry.docker_config().encode()).decode()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "dvcr-pull", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": data},
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(secret))
    return {"name": "dvcr-pull", "namespace": "default"}


def cvi(name, source=None, **kw):
    return {"deckhouse.virtualization.cluster_virtual_image": {"name": name, **({"data_source": source} if source else {}), "wait_timeout": 60, **kw}}


def http(url, ca=None, **checksum):
    return {"type": "HTTP", "http": {"url": url, **({"ca_bundle": ca} if ca else {}), **({"checksum": checksum} if checksum else {})}}


def get(sim, name):
    out = sim.kubectl("get", "cvi", name, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_admin_guide_http_example_reaches_ready_and_is_idempotent(sim, https, pki, images, tmp_path):  # noqa: F811
    import hashlib

    (images / "jammy-server-cloudimg-amd64.img").write_bytes((images / "disk.qcow2").read_bytes())
    sha = hashlib.sha256((images / "jammy-server-cloudimg-amd64.img").read_bytes()).hexdigest()
    task = cvi("ubuntu-22-04", http(https.url("jammy-server-cloudimg-amd64.img"), ca_bundle(pki), sha256=sha))
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "create", **task}, {"name": "again", **task}])
    assert run.returncode == 0, run.stdout[-4000:]
    image = run["create"]["image"]
    assert run["create"]["changed"] and image["phase"] == "Ready" and image["progress"] == "100%"
    assert (image["format"], image["cdrom"], image["size"]["unpacked_bytes"]) == ("qcow2", False, str(64 * MiB))
    assert image["registry_url"].startswith("dvcr.d8-virtualization.svc/cvi/ubuntu-22-04:")
    assert run["again"]["changed"] is False
    table = sim.kubectl("get", "cvi", "ubuntu-22-04").stdout.split("\n")[1].split()
    assert table[:4] == ["ubuntu-22-04", "Ready", "false", "100%"], "kubectl shows what the admin guide shows"


def test_registry_example_with_pull_secret(sim, registry, pull_secret, pki, images, tmp_path):  # noqa: F811
    disk = (images / "disk.vdi").read_bytes()
    ref = registry.push(oci_layout(tmp_path / "layout", [tar_entry("disk", kind=tarfile.DIRTYPE), tar_entry("disk/ubuntu.vdi", disk)]), "images/ubuntu:22.04")
    source = {"type": "ContainerImage", "container_image": {"image": ref, "ca_bundle": ca_bundle(pki), "image_pull_secret": pull_secret}}
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "pull", **cvi("ubuntu-registry", source)}])
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["pull"]["image"]["phase"] == "Ready" and run["pull"]["image"]["format"] == "vdi"


def test_upload_flow_streams_a_local_file(sim, images, tmp_path):  # noqa: F811
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "upload iso", **cvi("installer", {"type": "Upload"}, upload_file=str(images / "disc.iso"))},
            {"name": "again", **cvi("installer", {"type": "Upload"}, upload_file=str(images / "disc.iso"))},
            {"name": "in-cluster url", **cvi("upload-incluster", {"type": "Upload"}, upload_file=str(images / "disk.qcow2.xz"), upload_url="in_cluster")},
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["upload iso"]["changed"] and run["upload iso"]["image"]["phase"] == "Ready" and run["upload iso"]["image"]["cdrom"] is True
    assert run["again"]["changed"] is False
    assert run["in-cluster url"]["image"]["format"] == "qcow2"
    assert "/upload/" not in run.stdout or "********" in run.stdout, "the upload token never reaches the log"


def test_the_guides_upload_flow_creates_the_image_for_a_later_upload(sim, images, tmp_path):  # noqa: F811
    """The admin guide's CLI upload: the task only creates the Upload image (no upload_file) and, with wait, returns
    once it waits for the file, its URLs masked unless revealed; the file is uploaded with curl from elsewhere, and
    the task run again then finds the image Ready with nothing to change. The wait says the phase as it goes."""
    first = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "create", **cvi("for-curl", {"type": "Upload"})},
            {"name": "urls", **cvi("for-curl", {"type": "Upload"}, reveal_upload_urls=True)},
        ],
    )
    assert first.returncode == 0, first.stdout[-4000:]
    created, urls = first["create"], first["urls"]
    assert created["changed"] and created["image"]["phase"] == "WaitForUserUpload", created["image"]
    assert "********" in created["image"]["upload_urls"]["external"], "a credential: masked unless revealed"
    assert urls["changed"] is False and urls["image"]["phase"] == "WaitForUserUpload"
    url = urls["image"]["upload_urls"]["external"]
    assert "*" not in url and url == get(sim, "for-curl")["status"]["imageUploadURLs"]["external"]
    assert "ClusterVirtualImage for-curl: phase WaitForUserUpload" in first.stderr, "the wait's progress line"
    done = subprocess.run(["curl", "-sS", "--cacert", str(sim.ca_file), "-T", str(images / "disc.iso"), url], capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    again = run_playbook(tmp_path, sim.kubeconfig, [{"name": "again", **cvi("for-curl", {"type": "Upload"})}])
    assert again.returncode == 0, again.stdout[-4000:]
    assert again["again"]["changed"] is False and again["again"]["image"]["phase"] == "Ready" and again["again"]["image"]["cdrom"] is True


def test_object_ref_from_a_ready_image(sim, https, pki, tmp_path):  # noqa: F811
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "source", **cvi("ref-src", http(https.url("disk.raw"), ca_bundle(pki)))},
            {"name": "copy", **cvi("ref-copy", {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "ref-src"}})},
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["copy"]["image"]["phase"] == "Ready" and run["copy"]["resource"]["status"]["sourceUID"] == run["source"]["resource"]["metadata"]["uid"]


def test_failures_name_their_cause(sim, https, pki, registry, pull_secret, images, tmp_path):  # noqa: F811
    escape = registry.push(oci_layout(tmp_path / "escape", [tar_entry("disk/../../etc/passwd", b"root::0:0::/:/bin/sh\n")]), "images/escape:2")
    cases = {
        "wrong checksum": cvi("f-sum", http(https.url("disk.raw"), ca_bundle(pki), sha256="0" * 64)),
        "unreachable host": cvi("f-host", http("https://127.0.0.1:9/disk.raw")),
        "not an image": cvi("f-html", http(https.url("login.html"), ca_bundle(pki))),
        "traversal layer": cvi(
            "f-escape", {"type": "ContainerImage", "container_image": {"image": escape, "ca_bundle": ca_bundle(pki), "image_pull_secret": pull_secret}}
        ),
        "missing local file": cvi("f-nofile", {"type": "Upload"}, upload_file=str(tmp_path / "nope.iso")),
        "bad scheme": cvi("f-scheme", http("ftp://127.0.0.1/disk.raw")),
    }
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": n, **t, "ignore_errors": True} for n, t in cases.items()])
    msgs = {n: run[n].get("msg", "") for n in cases}
    assert all(run[n].get("failed") for n in cases), msgs
    assert "phase Failed: ProvisioningFailed" in msgs["wrong checksum"] and "checksum" in msgs["wrong checksum"]
    assert "ProvisioningFailed" in msgs["unreachable host"] and "127.0.0.1:9" in msgs["unreachable host"]
    assert "ProvisioningFailed" in msgs["not an image"]
    assert "unsafe layer" in msgs["traversal layer"] and "disk/../../etc/passwd" in msgs["traversal layer"]
    assert "upload_file: no such file on the managed host" in msgs["missing local file"] and get(sim, "f-nofile") is None
    assert "data_source.http.url" in msgs["bad scheme"] and get(sim, "f-scheme") is None


def test_spec_change_on_ready_refused_then_recreated(sim, https, pki, tmp_path):  # noqa: F811
    first = cvi("frozen-module", http(https.url("disk.raw"), ca_bundle(pki)))
    changed = cvi("frozen-module", http(https.url("disk.vdi"), ca_bundle(pki)))
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "create", **first},
            {"name": "change", **changed, "ignore_errors": True},
            {
                "name": "recreate",
                **changed,
                "deckhouse.virtualization.cluster_virtual_image": {**changed["deckhouse.virtualization.cluster_virtual_image"], "recreate": True},
            },
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["change"]["failed"] and "cannot change spec.dataSource.http.url in place; set recreate=true" in run["change"]["msg"]
    assert run["recreate"]["changed"] and run["recreate"]["image"]["format"] == "vdi"
    assert run["recreate"]["resource"]["metadata"]["uid"] != run["create"]["resource"]["metadata"]["uid"]


def test_delete_of_an_image_in_use_reports_its_users(sim, https, pki, tmp_path):  # noqa: F811
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "create", **cvi("in-use-module", http(https.url("disk.raw"), ca_bundle(pki)))}])
    assert run.returncode == 0
    vm = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "VirtualMachine",
        "metadata": {"name": "user-vm", "namespace": "default"},
        "spec": {
            "virtualMachineClassName": "generic",
            "cpu": {"cores": 1},
            "memory": {"size": "1Gi"},
            # a disk first (a disk image is not bootable as a device of its own), the image second
            "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "user-vm-root"}, {"kind": "ClusterVirtualImage", "name": "in-use-module"}],
        },
    }
    # A VM needs the module's virtualMachineCIDRs (its IP address); with no nodes in this cluster it stays Pending,
    # which is not Stopped: it holds the image it lists, as on the platform.
    settings = {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}, "virtualMachineCIDRs": ["10.66.20.0/24"]}
    module_config = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"}}
    sim.kubectl("apply", "-f", "-", input=json.dumps({**module_config, "spec": {"enabled": True, "version": 1, "settings": settings}}))
    sim.kubectl("apply", "-f", "-", input=json.dumps(vm))
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "delete, no wait", "deckhouse.virtualization.cluster_virtual_image": {"name": "in-use-module", "state": "absent", "wait": False}},
            {
                "name": "delete, wait",
                "deckhouse.virtualization.cluster_virtual_image": {"name": "in-use-module", "state": "absent", "wait_timeout": 3},
                "ignore_errors": True,
            },
        ],
    )
    assert run["delete, no wait"]["changed"] and run["delete, no wait"]["users"] == ["default/user-vm"]
    assert run["delete, wait"]["failed"] and "still in use by default/user-vm" in run["delete, wait"]["msg"]
    assert get(sim, "in-use-module")["status"]["phase"] == "Terminating"
    sim.kubectl("delete", "vm", "-n", "default", "user-vm")
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [{"name": "delete", "deckhouse.virtualization.cluster_virtual_image": {"name": "in-use-module", "state": "absent", "wait_timeout": 30}}],
    )
    assert run.returncode == 0 and get(sim, "in-use-module") is None
