"""VirtualDisks, VirtualImages and storage (BEHAVIOUR.md §2) against a live simulator, through kubectl and the
kubernetes Python client: classes from the topology, disks from images / blank / WaitForFirstConsumer, grow-only
resize, images in DVCR and on PVC, cluster images from disks and PVC images, storage-class resolution (§2.4)."""

import json
import time
import uuid

import pytest
from kubernetes import client, config

from . import storage_cluster
from .storage_cluster import apply, condition, get, wait_phase

storage_sim, images = storage_cluster.storage_sim, storage_cluster.images  # the module's fixtures

GROUP, VERSION = "virtualization.deckhouse.io", "v1alpha2"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def api(storage_sim):
    return config.new_client_from_config(config_file=str(storage_sim.kubeconfig))


@pytest.fixture
def ns(storage_sim, api):
    name = "d-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def disk(name, ns, source=None, size=None, sc=None):
    spec = {}
    if source:
        spec["dataSource"] = source
    pvc = {k: v for k, v in (("size", size), ("storageClassName", sc)) if v}
    if pvc:
        spec["persistentVolumeClaim"] = pvc
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VirtualDisk", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def image(name, ns, source, storage="ContainerRegistry", sc=None):
    spec = {"storage": storage, "dataSource": source}
    if sc:
        spec["persistentVolumeClaim"] = {"storageClassName": sc}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VirtualImage", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def cvi(name, source):
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": source}}


def http(url):
    return {"type": "HTTP", "http": {"url": url}}


def ref(kind, name, namespace=None):
    return {"type": "ObjectRef", "objectRef": {"kind": kind, "name": name, **({"namespace": namespace} if namespace else {})}}


@pytest.fixture(scope="module")
def base(storage_sim, images):
    name = "base-" + uuid.uuid4().hex[:6]
    apply(storage_sim, cvi(name, http(images.url("disk.qcow2"))))
    wait_phase(storage_sim, "cvi", name, None, "Ready")
    return name


def claim_of(sim, obj):
    return get(sim, "pvc", obj["status"]["target"]["persistentVolumeClaimName"], obj["metadata"]["namespace"])


def test_topology_storage_classes_are_served(storage_sim, api):
    classes = {sc.metadata.name: sc for sc in client.StorageV1Api(api).list_storage_class().items}
    assert {"replicated", "local-thin", "tiny", "localpath"} <= set(classes)
    assert classes["replicated"].metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    assert classes["local-thin"].volume_binding_mode == "WaitForFirstConsumer"
    assert classes["replicated"].metadata.annotations["storageprofile.dvp-sim.deckhouse.io/access-modes"] == "ReadWriteMany,ReadWriteOnce"
    assert classes["localpath"].metadata.labels["module"] == "local-path-provisioner"
    assert "(default)" in storage_sim.kubectl("get", "sc", "replicated").stdout


def test_disk_from_cluster_image_is_ready_with_the_image_size(storage_sim, ns, base, images):
    apply(storage_sim, disk("root", ns, ref("ClusterVirtualImage", base)))
    apply(storage_sim, disk("odd", ns, http(images.url("odd.raw"))))
    root = wait_phase(storage_sim, "vd", "root", ns, "Ready")
    assert root["status"]["capacity"] == "100Mi" and root["status"]["progress"] == "100%"
    assert root["status"]["storageClassName"] == "replicated", "the cluster default"
    assert condition(root, "Ready")["status"] == "True" and condition(root, "StorageClassReady")["status"] == "True"
    claim = claim_of(storage_sim, root)
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["volumeMode"] == "Block"
    assert claim["metadata"]["ownerReferences"][0]["uid"] == root["metadata"]["uid"]
    assert set(root["metadata"]["finalizers"]) == {"virtualization.deckhouse.io/vd-cleanup"}
    odd = wait_phase(storage_sim, "vd", "odd", ns, "Ready")
    assert odd["status"]["capacity"] == "101Mi", "unpacked bytes rounded up to a MiB"
    table = storage_sim.kubectl("get", "vd", "-n", ns, "-o", "wide").stdout
    assert "root" in table and "100Mi" in table and "replicated" in table


def test_blank_disk_and_size_rules(storage_sim, api, ns, base, images):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "virtualdisks", disk("blank", ns, size="1Gi"))
    blank = wait_phase(storage_sim, "vd", "blank", ns, "Ready")
    assert blank["status"]["capacity"] == "1Gi"
    no_size = storage_sim.kubectl("apply", "-f", "-", input=json.dumps(disk("nosize", ns)), check=False)
    assert no_size.returncode != 0 and "spec.persistentVolumeClaim.size: required for a blank disk" in no_size.stderr
    apply(storage_sim, disk("small", ns, ref("ClusterVirtualImage", base), size="10Mi"))
    small = wait_phase(storage_sim, "vd", "small", ns, "Failed")
    assert condition(small, "Ready")["reason"] == "ProvisioningFailed" and "pvc size is insufficient" in condition(small, "Ready")["message"]
    apply(storage_sim, disk("small", ns, ref("ClusterVirtualImage", base), size="150Mi"))  # a spec change before Ready restarts
    assert wait_phase(storage_sim, "vd", "small", ns, "Ready")["status"]["capacity"] == "150Mi"
    events = json.loads(storage_sim.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=small", "-o", "json").stdout)["items"]
    assert [(e["type"], e["message"]) for e in events if e["reason"] == "VDSpecHasBeenChanged"] == [
        ("Normal", "Spec changes are detected: import process is restarted by controller.")
    ], events
    apply(storage_sim, disk("iso", ns, http(images.url("cd.iso")), size="1Gi"))
    iso = wait_phase(storage_sim, "vd", "iso", ns, "Failed")
    assert "ISO" in condition(iso, "Ready")["message"]


def test_resize_grows_and_shrink_is_refused(storage_sim, ns):
    apply(storage_sim, disk("grow", ns, size="200Mi"))
    wait_phase(storage_sim, "vd", "grow", ns, "Ready")
    storage_sim.kubectl("patch", "vd", "grow", "-n", ns, "--type", "merge", "-p", '{"spec":{"persistentVolumeClaim":{"size":"1Gi"}}}')
    grown = wait_phase(storage_sim, "vd", "grow", ns, "Ready")
    for _unused in range(50):
        grown = get(storage_sim, "vd", "grow", ns)
        if grown["status"].get("capacity") == "1Gi":
            break
    assert grown["status"]["capacity"] == "1Gi" and claim_of(storage_sim, grown)["status"]["capacity"]["storage"] == "1Gi"
    assert condition(grown, "Resizing")["status"] == "False" and condition(grown, "Resizing")["reason"] == "Resized"
    shrink = storage_sim.kubectl("patch", "vd", "grow", "-n", ns, "--type", "merge", "-p", '{"spec":{"persistentVolumeClaim":{"size":"500Mi"}}}', check=False)
    assert shrink.returncode != 0 and "cannot shrink from 1Gi to 500Mi" in shrink.stderr and "denied the request" in shrink.stderr
    assert get(storage_sim, "vd", "grow", ns)["spec"]["persistentVolumeClaim"]["size"] == "1Gi"


def test_wait_for_first_consumer_follows_the_claim(storage_sim, api, ns):
    apply(storage_sim, disk("local", ns, size="1Gi", sc="local-thin"))
    waiting = wait_phase(storage_sim, "vd", "local", ns, "WaitForFirstConsumer")
    assert condition(waiting, "Ready")["reason"] == "WaitingForFirstConsumer"
    claim = claim_of(storage_sim, waiting)
    assert claim["status"]["phase"] == "Pending" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = {
        "metadata": {"name": "consumer", "namespace": ns},
        "spec": {
            "nodeName": "worker-0",
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}],
        },
    }
    client.CoreV1Api(api).create_namespaced_pod(ns, pod)
    ready = wait_phase(storage_sim, "vd", "local", ns, "Ready")
    volume = get(storage_sim, "pv", claim_of(storage_sim, ready)["spec"]["volumeName"])
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["worker-0"]


def test_images_in_dvcr_and_on_pvc_and_cluster_images_from_them(storage_sim, ns, base, images):
    apply(storage_sim, image("in-dvcr", ns, http(images.url("disk.qcow2"))))
    apply(storage_sim, image("on-pvc", ns, ref("ClusterVirtualImage", base), storage="PersistentVolumeClaim"))
    dvcr = wait_phase(storage_sim, "vi", "in-dvcr", ns, "Ready")
    assert dvcr["status"]["target"]["registryURL"] == f"dvcr.d8-virtualization.svc/vi/{ns}/in-dvcr:{dvcr['metadata']['uid']}"
    assert condition(dvcr, "StorageClassReady") is None, "removed for ContainerRegistry storage"
    pvc = wait_phase(storage_sim, "vi", "on-pvc", ns, "Ready")
    assert pvc["status"]["storageClassName"] == "replicated" and pvc["status"]["size"]["unpackedBytes"] == str(100 * MiB)
    assert claim_of(storage_sim, pvc)["status"]["phase"] == "Bound" and "registryURL" not in pvc["status"]["target"]
    assert set(pvc["metadata"]["finalizers"]) == {"virtualization.deckhouse.io/vi-cleanup"}
    # a disk from each image
    apply(storage_sim, disk("from-vi", ns, ref("VirtualImage", "on-pvc"), size="300Mi"))
    apply(storage_sim, disk("from-dvcr-vi", ns, ref("VirtualImage", "in-dvcr")))
    assert wait_phase(storage_sim, "vd", "from-vi", ns, "Ready")["status"]["capacity"] == "300Mi"
    assert wait_phase(storage_sim, "vd", "from-dvcr-vi", ns, "Ready")["status"]["capacity"] == "100Mi"
    # cluster images from a (grown) disk and from the PVC image
    suffix = uuid.uuid4().hex[:6]
    apply(storage_sim, cvi(f"of-disk-{suffix}", ref("VirtualDisk", "from-vi", ns)))
    apply(storage_sim, cvi(f"of-vi-{suffix}", ref("VirtualImage", "on-pvc", ns)))
    of_disk = wait_phase(storage_sim, "cvi", f"of-disk-{suffix}", None, "Ready")
    of_vi = wait_phase(storage_sim, "cvi", f"of-vi-{suffix}", None, "Ready")
    assert of_disk["status"]["size"]["unpackedBytes"] == str(300 * MiB), "a disk grown beyond its image: its size"
    assert of_disk["status"]["sourceUID"] == get(storage_sim, "vd", "from-vi", ns)["metadata"]["uid"]
    assert of_vi["status"]["size"]["unpackedBytes"] == str(100 * MiB) and of_vi["status"]["format"] == "qcow2"
    # and a disk from that cluster image
    apply(storage_sim, disk("round-trip", ns, ref("ClusterVirtualImage", f"of-disk-{suffix}")))
    assert wait_phase(storage_sim, "vd", "round-trip", ns, "Ready")["status"]["capacity"] == "300Mi"


def test_storage_class_resolution_with_module_settings(storage_sim, ns):
    # no ModuleConfig settings: the cluster default
    apply(storage_sim, disk("default", ns, size="100Mi"))
    assert wait_phase(storage_sim, "vd", "default", ns, "Ready")["status"]["storageClassName"] == "replicated"
    # the deprecated class is refused at admission, a missing one too
    deprecated = storage_sim.kubectl("apply", "-f", "-", input=json.dumps(disk("old", ns, size="1Gi", sc="localpath")), check=False)
    assert deprecated.returncode != 0 and "is deprecated" in deprecated.stderr
    missing = storage_sim.kubectl("apply", "-f", "-", input=json.dumps(disk("nope", ns, size="1Gi", sc="no-such-class")), check=False)
    assert missing.returncode != 0 and "'no-such-class' does not exist" in missing.stderr
    settings = {"virtualDisks": {"defaultStorageClassName": "local-thin", "allowedStorageClassSelector": {"matchNames": ["replicated"]}}}
    _module_config(storage_sim, settings)
    try:
        apply(storage_sim, disk("module-default", ns, size="100Mi"))
        assert wait_phase(storage_sim, "vd", "module-default", ns, "WaitForFirstConsumer")["status"]["storageClassName"] == "local-thin"
        apply(storage_sim, disk("allowed", ns, size="100Mi", sc="replicated"))
        assert wait_phase(storage_sim, "vd", "allowed", ns, "Ready")["status"]["storageClassName"] == "replicated"
        apply(storage_sim, disk("not-allowed", ns, size="100Mi", sc="tiny"))
        refused = wait_phase(storage_sim, "vd", "not-allowed", ns, "Pending")
        for _unused in range(50):
            refused = get(storage_sim, "vd", "not-allowed", ns)
            if condition(refused, "StorageClassReady"):
                break
        cond = condition(refused, "StorageClassReady")
        assert cond["status"] == "False" and "spec.settings.virtualDisks" in cond["message"]
        assert condition(refused, "Ready")["reason"] == "StorageClassIsNotReady"
        # allowing it unblocks the waiting disk
        _module_config(storage_sim, {"virtualDisks": {"allowedStorageClassSelector": {"matchNames": ["replicated", "tiny"]}}})
        assert wait_phase(storage_sim, "vd", "not-allowed", ns, "Ready")["status"]["storageClassName"] == "tiny"
        # the tiny pool (300Mi) has no room for 400Mi more: the claim stays Pending, the disk Provisioning
        apply(storage_sim, disk("too-big", ns, size="400Mi", sc="tiny"))
        big = wait_phase(storage_sim, "vd", "too-big", ns, "Provisioning")
        events = storage_sim.kubectl(
            "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={big['status']['target']['persistentVolumeClaimName']}", "-o", "json"
        ).stdout
        assert any("not enough space" in e["message"] for e in json.loads(events)["items"])
    finally:
        _module_config(storage_sim, {})


def test_image_storage_class_resolution_reads_the_image_settings_not_the_disk_ones(storage_sim, ns, base):
    """BEHAVIOUR.md §2.4 for VirtualImages on claims: spec, then `virtualImages.defaultStorageClassName`, then the
    cluster default, allowed when in `virtualImages.allowedStorageClassSelector.matchNames` or the module default; a
    disk reads `virtualDisks`, never these (nor these the disk ones)."""
    settings = {"virtualImages": {"defaultStorageClassName": "tiny", "allowedStorageClassSelector": {"matchNames": ["replicated"]}},
                "virtualDisks": {"defaultStorageClassName": "replicated"}}  # fmt: skip
    _module_config(storage_sim, settings)
    try:
        source = ref("ClusterVirtualImage", base)
        apply(storage_sim, image("vi-default", ns, source, "PersistentVolumeClaim"))
        assert wait_phase(storage_sim, "vi", "vi-default", ns, "Ready")["status"]["storageClassName"] == "tiny", "the module's image default"
        apply(storage_sim, image("vi-allowed", ns, source, "PersistentVolumeClaim", "replicated"))
        assert wait_phase(storage_sim, "vi", "vi-allowed", ns, "Ready")["status"]["storageClassName"] == "replicated"
        apply(storage_sim, image("vi-refused", ns, source, "PersistentVolumeClaim", "local-thin"))
        refused = wait_phase(storage_sim, "vi", "vi-refused", ns, "Pending")
        for _unused in range(50):
            refused = get(storage_sim, "vi", "vi-refused", ns)
            if condition(refused, "StorageClassReady"):
                break
            time.sleep(0.1)
        cond = condition(refused, "StorageClassReady")
        assert cond["status"] == "False" and "spec.settings.virtualImages" in cond["message"], cond
        # a disk without a class takes the disks' default, not the images'
        apply(storage_sim, disk("vd-default", ns, size="100Mi"))
        assert wait_phase(storage_sim, "vd", "vd-default", ns, "Ready")["status"]["storageClassName"] == "replicated"
    finally:
        _module_config(storage_sim, {})


def _module_config(sim, settings):
    current = get(sim, "moduleconfig", "virtualization")
    base = {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}}
    if current is None:
        doc = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
               "spec": {"enabled": True, "version": 1, "settings": {**base, **settings}}}  # fmt: skip
        apply(sim, doc)
        return
    kept = {k: v for k, v in (current["spec"].get("settings") or {}).items() if k not in ("virtualDisks", "virtualImages")}
    current["spec"]["settings"] = {**base, **kept, **settings}
    sim.kubectl("replace", "-f", "-", input=json.dumps(current))


def test_image_class_checks_at_admission(storage_sim, ns, base):
    bad = storage_sim.kubectl(
        "apply", "-f", "-", input=json.dumps(image("pvc-old", ns, ref("ClusterVirtualImage", base), "PersistentVolumeClaim", "localpath")), check=False
    )
    assert bad.returncode != 0 and "deprecated" in bad.stderr and "vi.virtualization-controller" in bad.stderr
    dotted = storage_sim.kubectl("apply", "-f", "-", input=json.dumps(image("a.b", ns, ref("ClusterVirtualImage", base))), check=False)
    assert dotted.returncode != 0 and "must not contain '.'" in dotted.stderr


def test_delete_removes_disk_claim_and_finalizers(storage_sim, ns):
    apply(storage_sim, disk("gone", ns, size="100Mi"))
    ready = wait_phase(storage_sim, "vd", "gone", ns, "Ready")
    claim = ready["status"]["target"]["persistentVolumeClaimName"]
    storage_sim.kubectl("delete", "vd", "gone", "-n", ns, "--timeout=20s")
    assert get(storage_sim, "vd", "gone", ns) is None
    for _unused in range(50):
        if get(storage_sim, "pvc", claim, ns) is None:
            break
        time.sleep(0.1)
    assert get(storage_sim, "pvc", claim, ns) is None
