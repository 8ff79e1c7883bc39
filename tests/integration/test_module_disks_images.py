"""virtual_disk / virtual_image (+ _info) through ansible-playbook → HTTPS → simulator: every source, size and
class, grow-only resize, idempotence against server defaults, check mode, diff, re-creation, and bad inputs that
fail naming the option and the rule with nothing written."""

import json
import uuid

import pytest

from ..ansible_runner import run_playbook
from . import storage_cluster
from .storage_cluster import MiB, get, qemu_image, wait_phase

storage_sim, images = storage_cluster.storage_sim, storage_cluster.images  # the module's fixtures


@pytest.fixture
def ns(storage_sim):
    name = "m-" + uuid.uuid4().hex[:8]
    storage_sim.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def base(storage_sim, images):
    name = "mbase-" + uuid.uuid4().hex[:6]
    storage_sim.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": name},
        "spec": {"dataSource": {"type": "HTTP", "http": {"url": images.url("disk.qcow2")}}}}))  # fmt: skip
    wait_phase(storage_sim, "cvi", name, None, "Ready")
    return name


def vd(name, ns, **kw):
    return {"deckhouse.virtualization.virtual_disk": {"name": name, "namespace": ns, "wait_timeout": 60, **kw}}


def vi(name, ns, **kw):
    return {"deckhouse.virtualization.virtual_image": {"name": name, "namespace": ns, "wait_timeout": 60, **kw}}


def cvi_ref(name):
    return {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": name}}


def names(sim, kind, ns):
    return sim.kubectl("get", kind, "-n", ns, "-o", "name").stdout


def test_blank_disk_idempotence_check_mode_diff_and_grow(storage_sim, ns, tmp_path):
    size = {"size": "1Gi"}
    run = run_playbook(
        tmp_path,
        storage_sim.kubeconfig,
        [
            {"name": "check create", **vd("data", ns, persistent_volume_claim=size), "check_mode": True, "diff": True},
            {"name": "create", **vd("data", ns, persistent_volume_claim=size)},
            {"name": "again", **vd("data", ns, persistent_volume_claim=size)},
            {"name": "check grow", **vd("data", ns, persistent_volume_claim={"size": "2Gi"}), "check_mode": True, "diff": True},
            {"name": "grow", **vd("data", ns, persistent_volume_claim={"size": "2Gi"})},
            {"name": "grow again", **vd("data", ns, persistent_volume_claim={"size": "2048Mi"})},
            {"name": "info", "deckhouse.virtualization.virtual_disk_info": {"name": "data", "namespace": ns}},
        ],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["check create"]["changed"] is True and run["check create"]["diff"]["after"]["spec"]["persistentVolumeClaim"]["size"] == "1Gi"
    assert run["create"]["changed"] is True and run["create"]["image"]["phase"] == "Ready" and run["create"]["image"]["capacity"] == "1Gi"
    assert run["create"]["image"]["storage_class_name"] == "replicated"
    assert run["create"]["disk"] == run["create"]["image"], "a disk's summary is `disk`; `image` stays for older playbooks"
    assert run["again"]["changed"] is False
    assert run["check grow"]["changed"] is True and run["check grow"]["diff"]["before"]["spec"]["persistentVolumeClaim"]["size"] == "1Gi"
    assert run["grow"]["changed"] is True
    assert run["grow again"]["changed"] is False, "2048Mi is 2Gi: no change"
    assert run["info"]["summaries"][0]["name"] == "data"
    disk = wait_phase(storage_sim, "vd", "data", ns, "Ready")
    for _unused in range(50):
        if disk["status"].get("capacity") == "2Gi":
            break
        disk = get(storage_sim, "vd", "data", ns)
    assert disk["status"]["capacity"] == "2Gi"


def test_bad_disk_inputs_fail_clearly_and_write_nothing(storage_sim, ns, base, tmp_path):
    run_playbook(tmp_path, storage_sim.kubeconfig, [{"name": "create", **vd("keep", ns, persistent_volume_claim={"size": "1Gi"})}])
    before = names(storage_sim, "vd", ns)
    cases = {
        "no size": vd("blank", ns),
        "bad size": vd("bad", ns, persistent_volume_claim={"size": "lots"}),
        "zero size": vd("zero", ns, persistent_volume_claim={"size": "0"}),
        "dot": vd("a.b", ns, persistent_volume_claim={"size": "1Gi"}),
        "missing class": vd("nc", ns, persistent_volume_claim={"size": "1Gi", "storage_class_name": "no-such"}),
        "deprecated class": vd("dc", ns, persistent_volume_claim={"size": "1Gi", "storage_class_name": "localpath"}),
        "smaller than image": vd("tiny", ns, data_source=cvi_ref(base), persistent_volume_claim={"size": "10Mi"}),
        "shrink": vd("keep", ns, persistent_volume_claim={"size": "512Mi"}),
        "class change": vd("keep", ns, persistent_volume_claim={"size": "1Gi", "storage_class_name": "tiny"}),
        "bad url": vd("url", ns, data_source={"type": "HTTP", "http": {"url": "ftp://x/y"}}),
    }
    run = run_playbook(tmp_path, storage_sim.kubeconfig, [{"name": k, **task, "ignore_errors": True} for k, task in cases.items()])
    msgs = {k: run[k].get("msg", "") for k in cases}
    assert all(run[k].get("failed") for k in cases), msgs
    assert "persistent_volume_claim.size: required for a blank disk" in msgs["no size"]
    assert "persistent_volume_claim.size: 'lots' is not a size" in msgs["bad size"]
    assert "persistent_volume_claim.size: must be greater than 0" in msgs["zero size"]
    assert "must not contain '.'" in msgs["dot"]
    assert "storage_class_name" in msgs["missing class"] and "'no-such' does not exist" in msgs["missing class"]
    assert "deprecated" in msgs["deprecated class"]
    assert "persistent_volume_claim.size: 10Mi is smaller than the ClusterVirtualImage" in msgs["smaller than image"] and "100Mi" in msgs["smaller than image"]
    assert "cannot shrink from 1Gi to 512Mi" in msgs["shrink"]
    assert "persistent_volume_claim.storage_class_name" in msgs["class change"]
    assert "data_source.http.url" in msgs["bad url"]
    assert names(storage_sim, "vd", ns) == before
    assert get(storage_sim, "vd", "keep", ns)["spec"]["persistentVolumeClaim"] == {"size": "1Gi"}


def test_disks_from_every_source(storage_sim, ns, base, images, tmp_path):
    local = qemu_image(tmp_path / "local.qcow2", "qcow2", 64 * MiB, b"uploaded")
    run = run_playbook(
        tmp_path,
        storage_sim.kubeconfig,
        [
            {"name": "from cvi", **vd("root", ns, data_source=cvi_ref(base))},
            {"name": "from cvi again", **vd("root", ns, data_source=cvi_ref(base))},
            {
                "name": "from http",
                **vd("web", ns, data_source={"type": "HTTP", "http": {"url": images.url("disk.qcow2")}}, persistent_volume_claim={"size": "200Mi"}),
            },
            {"name": "upload", **vd("up", ns, data_source={"type": "Upload"}, upload_file=str(local))},
            {"name": "vi", **vi("img", ns, data_source=cvi_ref(base))},
            {"name": "from vi", **vd("from-vi", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualImage", "name": "img"}})},
            {"name": "wffc", **vd("local", ns, persistent_volume_claim={"size": "1Gi", "storage_class_name": "local-thin"})},
            {"name": "wffc again", **vd("local", ns, persistent_volume_claim={"size": "1Gi", "storage_class_name": "local-thin"})},
            {
                "name": "source change",
                **vd("root", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualImage", "name": "img"}}),
                "ignore_errors": True,
            },
            {"name": "recreate", **vd("root", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualImage", "name": "img"}}, recreate=True)},
        ],
    )
    assert not any(run[k].get("failed") for k in ("from cvi", "from http", "upload", "vi", "from vi", "wffc", "recreate")), run.stdout[-4000:]
    assert run["from cvi"]["image"]["capacity"] == "100Mi" and run["from cvi again"]["changed"] is False
    assert run["from http"]["image"]["capacity"] == "200Mi"
    assert run["upload"]["changed"] is True and run["upload"]["image"]["phase"] == "Ready" and run["upload"]["image"]["capacity"] == "64Mi"
    assert "********" in json.dumps(run["upload"]["resource"]) or not run["upload"]["resource"]["status"].get("imageUploadURLs")
    assert run["from vi"]["image"]["capacity"] == "100Mi"
    assert run["wffc"]["image"]["phase"] == "WaitForFirstConsumer" and run["wffc again"]["changed"] is False
    assert run["source change"]["failed"] and "recreate=true" in run["source change"]["msg"]
    old_uid = run["from cvi"]["resource"]["metadata"]["uid"]
    assert run["recreate"]["changed"] is True and run["recreate"]["resource"]["metadata"]["uid"] != old_uid
    assert run["recreate"]["resource"]["spec"]["dataSource"]["objectRef"]["kind"] == "VirtualImage"


def test_images_dvcr_pvc_upload_info_and_absent(storage_sim, ns, base, images, tmp_path):
    local = qemu_image(tmp_path / "img.qcow2", "qcow2", 32 * MiB)
    http = {"type": "HTTP", "http": {"url": images.url("disk.qcow2")}}
    run = run_playbook(
        tmp_path,
        storage_sim.kubeconfig,
        [
            {"name": "check", **vi("web", ns, data_source=http), "check_mode": True, "diff": True},
            {"name": "dvcr", **vi("web", ns, data_source=http)},
            {"name": "dvcr again", **vi("web", ns, data_source=http)},
            {
                "name": "pvc",
                **vi("pvc", ns, storage="PersistentVolumeClaim", persistent_volume_claim={"storage_class_name": "replicated"}, data_source=cvi_ref(base)),
            },
            {
                "name": "pvc again",
                **vi("pvc", ns, storage="PersistentVolumeClaim", persistent_volume_claim={"storage_class_name": "replicated"}, data_source=cvi_ref(base)),
            },
            {"name": "upload", **vi("up", ns, data_source={"type": "Upload"}, upload_file=str(local))},
            {"name": "blank disk", **vd("blank", ns, persistent_volume_claim={"size": "50Mi"})},
            {"name": "of disk", **vi("of-disk", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualDisk", "name": "blank"}})},
            {"name": "bad pvc option", **vi("x", ns, data_source=http, persistent_volume_claim={"storage_class_name": "replicated"}), "ignore_errors": True},
            {
                "name": "bad class",
                **vi("y", ns, data_source=http, storage="PersistentVolumeClaim", persistent_volume_claim={"storage_class_name": "localpath"}),
                "ignore_errors": True,
            },
            {"name": "info", "deckhouse.virtualization.virtual_image_info": {"namespace": ns}},
            {"name": "delete", **vi("web", ns, state="absent")},
            {"name": "delete again", **vi("web", ns, state="absent")},
        ],
    )
    assert run["check"]["changed"] is True and run["check"]["diff"]["after"]["spec"]["storage"] == "ContainerRegistry"
    assert run["dvcr"]["image"]["registry_url"].startswith(f"dvcr.d8-virtualization.svc/vi/{ns}/web:") and run["dvcr again"]["changed"] is False
    assert run["pvc"]["image"]["persistent_volume_claim_name"] and run["pvc"]["image"]["storage_class_name"] == "replicated"
    assert run["pvc again"]["changed"] is False
    assert run["upload"]["image"]["phase"] == "Ready" and run["upload"]["image"]["size"]["unpacked_bytes"] == str(32 * MiB)
    assert run["of disk"]["image"]["phase"] == "Ready" and run["of disk"]["image"]["size"]["unpacked_bytes"] == str(50 * MiB)
    assert run["bad pvc option"]["failed"] and "persistent_volume_claim: only used with storage=PersistentVolumeClaim" in run["bad pvc option"]["msg"]
    assert run["bad class"]["failed"] and "deprecated" in run["bad class"]["msg"]
    assert get(storage_sim, "vi", "x", ns) is None and get(storage_sim, "vi", "y", ns) is None
    assert {s["name"] for s in run["info"]["summaries"]} == {"web", "pvc", "up", "of-disk"}
    assert run["delete"]["changed"] is True and run["delete again"]["changed"] is False
    assert get(storage_sim, "vi", "web", ns) is None


def assert_refused(run, cases, hint):
    """Each case (task, the message's start, the DatasourceReady reason) failed before writing, naming its object."""
    for name, (_unused, words, reason) in cases.items():
        result = run[name]
        assert result.get("failed") and result["changed"] is False, (name, result)
        assert result["msg"].startswith(words) and f"(DatasourceReady=False, {reason})" in result["msg"], (name, result["msg"])
        assert hint in result["msg"], result["msg"]


def test_a_source_that_does_not_exist_is_refused_with_wait_and_awaited_without(storage_sim, ns, images, tmp_path):
    """BEHAVIOUR.md §2.2/§2.3: the platform accepts a disk whose source object does not exist and keeps it Pending
    (DatasourceReady=False, *NotFound) until the object appears. With wait=true the module refuses it before writing
    (the wait could only time out), naming the option, the API field and the object; with wait=false it creates the
    disk with a warning, and the disk is provisioned once the object is created."""
    late = "late-" + uuid.uuid4().hex[:6]
    pulled = {"type": "ContainerImage", "container_image": {"image": "registry.example/disks/root:1", "image_pull_secret": {"name": "no-such-secret"}}}
    cases = {
        "cvi": (vd("from-cvi", ns, data_source=cvi_ref("no-such-cvi")), "data_source.object_ref (spec.dataSource.objectRef): "
                "ClusterVirtualImage no-such-cvi does not exist", "ClusterImageNotFound"),
        "vi": (vd("from-vi", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualImage", "name": "no-such-vi"}}),
               f"data_source.object_ref (spec.dataSource.objectRef): VirtualImage {ns}/no-such-vi does not exist", "ImageNotFound"),
        "snapshot": (vd("from-snap", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualDiskSnapshot", "name": "no-such-snap"}},
                        persistent_volume_claim={"size": "1Gi"}),
                     f"data_source.object_ref (spec.dataSource.objectRef): VirtualDiskSnapshot {ns}/no-such-snap does not exist",
                     "VirtualDiskSnapshotNotReady"),
        "pull secret": (vd("from-registry", ns, data_source=pulled), "data_source.container_image.image_pull_secret.name "
                        f"(spec.dataSource.containerImage.imagePullSecret.name): Secret {ns}/no-such-secret does not exist",
                        "ContainerRegistrySecretNotFound"),
    }  # fmt: skip
    tasks = [{"name": name, **task, "ignore_errors": True} for name, (task, _unused, _reason) in cases.items()]
    batch = {"namespace": ns, "wait_timeout": 60, "batch": [{"name": "batched", "data_source": cvi_ref("no-such-cvi")}]}
    tasks += [
        {"name": "check mode", **vd("from-cvi", ns, data_source=cvi_ref("no-such-cvi")), "check_mode": True},
        {"name": "batch", "deckhouse.virtualization.virtual_disk": batch, "ignore_errors": True},  # applied with wait=false, then waited for
        {"name": "no wait", **vd("later", ns, data_source=cvi_ref(late), wait=False)},
        {"name": "then wait", **vd("later", ns, data_source=cvi_ref(late), wait_timeout=3), "ignore_errors": True},
    ]
    run = run_playbook(tmp_path, storage_sim.kubeconfig, tasks)
    assert_refused(run, cases, "Create it first, or set wait=false")
    checked = run["check mode"]  # an earlier task may create the image: not refused in check mode (test_check_mode_references.py)
    assert checked["changed"] and not checked.get("failed"), checked
    assert any("ClusterVirtualImage no-such-cvi does not exist: not verified in check mode" in w for w in checked.get("warnings") or []), checked
    [element] = run["batch"]["results"]
    assert element.get("failed") and "ClusterVirtualImage no-such-cvi does not exist" in element["msg"] and "wait=false" in element["msg"], element
    assert names(storage_sim, "vd", ns).split() == ["virtualdisk.virtualization.deckhouse.io/later"], "nothing written by the refused tasks"
    created = run["no wait"]
    assert created["changed"] and not created.get("failed") and created["image"]["phase"] in (None, "Pending"), created
    assert any(f"ClusterVirtualImage {late} does not exist" in w and "wait=false" in w for w in created.get("warnings") or []), created.get("warnings")
    waited = run["then wait"]
    assert waited.get("failed") and waited["changed"] is False, waited
    assert waited["msg"].startswith(f"VirtualDisk {ns}/later: timed out after 3s waiting; last seen: phase Pending"), waited["msg"]
    assert "DatasourceReady=False (ClusterImageNotFound" in waited["msg"] and late in waited["msg"], waited["msg"]
    storage_sim.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": late},
        "spec": {"dataSource": {"type": "HTTP", "http": {"url": images.url("disk.qcow2")}}}}))  # fmt: skip
    assert wait_phase(storage_sim, "vd", "later", ns, "Ready", timeout=60)["status"]["capacity"] == "100Mi", "the disk waited for its image"


def test_an_images_missing_source_is_refused_with_wait_and_awaited_without(storage_sim, ns, images, tmp_path):
    """The same rule for images (BEHAVIOUR.md §1.4: a VirtualImage or ClusterVirtualImage whose source object does not
    exist stays Pending, DatasourceReady=False with the NotReady reason): refused with wait=true, created with a
    warning with wait=false, and provisioned once the source appears."""
    cluster_image = "gone-" + uuid.uuid4().hex[:6]
    late = "late-" + uuid.uuid4().hex[:6]
    pulled = {"type": "ContainerImage", "container_image": {"image": "registry.example/images/base:1", "image_pull_secret": {"name": "no-such-secret"}}}
    cvi_from_vi = {"type": "ObjectRef", "object_ref": {"kind": "VirtualImage", "name": "no-such-vi", "namespace": ns}}
    cvi = "deckhouse.virtualization.cluster_virtual_image"
    cases = {
        "vi from cvi": (vi("vi-from-cvi", ns, data_source=cvi_ref("no-such-cvi")),
                        "data_source.object_ref (spec.dataSource.objectRef): ClusterVirtualImage no-such-cvi does not exist", "ClusterImageNotReady"),
        "vi from disk": (vi("vi-from-vd", ns, data_source={"type": "ObjectRef", "object_ref": {"kind": "VirtualDisk", "name": "no-such-vd"}}),
                         f"data_source.object_ref (spec.dataSource.objectRef): VirtualDisk {ns}/no-such-vd does not exist", "VirtualDiskNotReady"),
        "vi pull secret": (vi("vi-pulled", ns, data_source=pulled), "data_source.container_image.image_pull_secret.name "
                           f"(spec.dataSource.containerImage.imagePullSecret.name): Secret {ns}/no-such-secret does not exist",
                           "ContainerRegistrySecretNotFound"),
        "cvi from vi": ({cvi: {"name": cluster_image, "data_source": cvi_from_vi, "wait_timeout": 60}},
                        f"data_source.object_ref (spec.dataSource.objectRef): VirtualImage {ns}/no-such-vi does not exist", "ImageNotReady"),
    }  # fmt: skip
    tasks = [{"name": name, **task, "ignore_errors": True} for name, (task, _unused, _reason) in cases.items()]
    tasks.append({"name": "no wait", cvi: {"name": cluster_image, "data_source": cvi_ref(late), "wait": False}})
    run = run_playbook(tmp_path, storage_sim.kubeconfig, tasks)
    assert_refused(run, cases, "Create it first, or set wait=false to create the image now")
    assert names(storage_sim, "vi", ns).strip() == "", "nothing written by the refused tasks"
    created = run["no wait"]
    assert created["changed"] and not created.get("failed"), created
    assert any(f"ClusterVirtualImage {late} does not exist" in w and "wait=false: the image is created" in w for w in created.get("warnings") or []), created
    assert json.loads(storage_sim.kubectl("get", "cvi", cluster_image, "-o", "json").stdout)["status"].get("phase") in (None, "Pending")
    storage_sim.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": late},
        "spec": {"dataSource": {"type": "HTTP", "http": {"url": images.url("disk.qcow2")}}}}))  # fmt: skip
    again = run_playbook(tmp_path, storage_sim.kubeconfig, [{"name": "waits", cvi: {"name": cluster_image, "data_source": cvi_ref(late), "wait_timeout": 90}}])
    assert again["waits"]["image"]["phase"] == "Ready" and again["waits"]["changed"] is False, again["waits"]
