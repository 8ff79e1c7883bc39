"""The storage rules shared by the disk/image modules and the simulator (BEHAVIOUR.md §2.1-2.4)."""

from ansible_collections.deckhouse.virtualization.plugins.module_utils import storage_rules as r
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

MiB = r.MiB


def sc(name, created="2025-01-01T00:00:00Z", default=False, deprecated=False, modes="ReadWriteOnce", mode="Filesystem", deleting=False):
    meta = {
        "name": name,
        "creationTimestamp": created,
        "annotations": {v.STORAGE_PROFILE_ACCESS_MODES_ANNOTATION: modes, v.STORAGE_PROFILE_VOLUME_MODE_ANNOTATION: mode},
    }
    if default:
        meta["annotations"][v.DEFAULT_STORAGE_CLASS_ANNOTATION] = "true"
    if deprecated:
        meta["labels"] = {"module": "local-path-provisioner"}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-02T00:00:00Z"
    return {"metadata": meta}


CLASSES = {c["metadata"]["name"]: c for c in (sc("fast"), sc("slow"), sc("old", deprecated=True), sc("going", deleting=True), sc("def", default=True))}


def resolve(spec=None, settings=None, pvc=None, defaults=None):
    settings = settings or r.ClassSettings("virtualDisks")
    return r.resolve_storage_class(spec, settings, CLASSES.get, [c for c in CLASSES.values() if r.is_default(c)] if defaults is None else defaults, pvc)


def test_order_pvc_then_spec_then_module_default_then_cluster_default():
    assert resolve(spec="fast", pvc="slow").name == "slow"
    assert resolve(spec="fast").name == "fast"
    assert resolve(settings=r.ClassSettings("virtualDisks", default="slow")).name == "slow"
    res = resolve()
    assert res.name == "def" and res.source == "cluster default" and res.ready
    nothing = resolve(defaults=[])
    assert not nothing.ready and "spec.settings.virtualDisks.defaultStorageClassName" in nothing.problem


def test_spec_class_must_be_allowed_existing_not_terminating_not_deprecated():
    allowed = r.ClassSettings("virtualDisks", allowed=("fast",))
    refused = resolve(spec="slow", settings=allowed)
    assert not refused.ready and "not allowed" in refused.problem and "spec.settings.virtualDisks" in refused.problem
    assert "does not exist" in resolve(spec="nope").problem
    assert "terminating" in resolve(spec="going").problem
    assert "deprecated" in resolve(spec="old").problem
    assert "terminating" in resolve(pvc="going").problem


def test_module_default_missing_falls_back_to_cluster_default():
    assert resolve(settings=r.ClassSettings("virtualDisks", default="missing")).name == "def"


def test_allowed_test():
    assert r.ClassSettings("virtualDisks").allows("anything")
    s = r.ClassSettings("virtualDisks", default="a", allowed=("b",))
    assert s.allows("a") and s.allows("b") and not s.allows("c")


def test_newest_default_wins_ties_by_name():
    older, newer_b, newer_a = sc("x", "2024-01-01T00:00:00Z", True), sc("b", "2025-06-01T00:00:00Z", True), sc("a", "2025-06-01T00:00:00Z", True)
    assert r.cluster_default([older, newer_b, newer_a])["metadata"]["name"] == "a"
    assert r.cluster_default([sc("plain")]) is None


def test_settings_from_module_config_and_the_deprecated_vi_setting():
    mc = {
        "spec": {
            "settings": {
                "virtualDisks": {"defaultStorageClassName": "d", "allowedStorageClassSelector": {"matchNames": ["x", "y"]}},
                "virtualImages": {"storageClassName": "legacy"},
            }
        }
    }
    disks = r.settings_of(mc, "virtualDisks")
    assert disks.default == "d" and disks.allowed == ("x", "y")
    images = r.settings_of(mc, "virtualImages")
    assert images.default == "legacy" and images.allowed == ("legacy",)
    mc["spec"]["settings"]["virtualImages"]["defaultStorageClassName"] = "new"
    assert r.settings_of(mc, "virtualImages") == r.ClassSettings("virtualImages", default="new")
    assert not r.settings_of(None, "virtualDisks").configured


def test_profile_access_modes():
    rwx = r.profile(sc("r", modes="ReadWriteMany,ReadWriteOnce", mode="Block"))
    assert rwx.access_mode == v.RWX and rwx.volume_mode == "Block" and rwx.usable
    assert r.profile(sc("o")).access_mode == v.RWO
    assert not r.profile(sc("ro", modes="ReadOnlyMany")).usable
    assert r.profile({"metadata": {"name": "bare"}}) == r.Profile((v.RWO,), v.VOLUME_MODE_FILESYSTEM)


def test_sizes():
    assert r.required_size(100 * MiB + 1) == 101 * MiB and r.required_size(100 * MiB) == 100 * MiB
    assert r.disk_size(None, 100 * MiB + 1) == (101 * MiB, None)
    assert r.disk_size("1Gi", 100 * MiB) == (1024 * MiB, None)
    size, problem = r.disk_size("10Mi", 100 * MiB)
    assert "pvc size is insufficient" in problem and "100Mi" in problem
    assert r.disk_size(None, 0)[1] == "the image's unpacked size is zero"
    assert r.mib_quantity(2048 * MiB) == "2Gi" and r.mib_quantity(101 * MiB) == "101Mi"
    assert r.to_bytes("lots") is None and r.to_bytes("1Gi") == 1024 * MiB


def disk(size=None, source=None, sc_name=None, phase=None, ready=False, name="d"):
    spec = {}
    if source:
        spec["dataSource"] = source
    pvc = {k: val for k, val in (("size", size), ("storageClassName", sc_name)) if val}
    if pvc:
        spec["persistentVolumeClaim"] = pvc
    status = {"phase": phase} if phase else {}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    return {"metadata": {"name": name}, "spec": spec, "status": status}


SRC = {"type": "HTTP", "http": {"url": "https://x/y"}}


def test_disk_webhook_rules():
    assert r.disk_problems(disk(), None)[0] == ["spec.persistentVolumeClaim.size: required for a blank disk (no spec.dataSource)"]
    assert "greater than 0" in r.disk_problems(disk("0"), None)[0][0]
    assert "must not contain '.'" in r.disk_problems(disk("1Gi", name="a.b"), None)[0][0]
    assert r.disk_problems(disk("1Gi", name="a.b"), disk("1Gi"))[1], "only a warning on update"
    ready = disk("2Gi", SRC, "a", "Ready")
    assert "cannot shrink" in r.disk_problems(disk("1Gi", SRC, "a"), ready)[0][0]
    assert r.disk_problems(disk("3Gi", SRC, "a"), ready) == ([], [])
    assert "cannot be removed" in r.disk_problems(disk(None, SRC, "a"), ready)[0][0]
    assert any("spec.dataSource" in p for p in r.disk_problems(disk("2Gi", {"type": "Upload"}, "a"), ready)[0])
    assert any("storageClassName" in p for p in r.disk_problems(disk("2Gi", SRC, "b"), ready)[0])
    pending = disk("2Gi", SRC, "a", "Pending")
    assert r.disk_problems(disk("1Gi", {"type": "Upload"}, "b"), pending) == ([], []), "anything goes before provisioning"
    assert "Terminating" in r.disk_problems(disk("3Gi", SRC, "a"), disk("2Gi", SRC, "a", "Terminating"))[0][0]
    assert r.disk_problems(disk("1Gi", SRC, "a"), ready, generation_changed=False) == ([], [])


def test_image_webhook_rules():
    img = {"metadata": {"name": "i"}, "spec": {"storage": "Kubernetes", "dataSource": SRC}}
    assert "deprecated" in r.image_problems(img, None)[1][0]
    ready = {**img, "status": {"phase": "Ready"}}
    changed = {**img, "spec": {**img["spec"], "dataSource": {"type": "Upload"}}}
    assert "spec.dataSource: cannot change once the image is Ready" in r.image_problems(changed, ready)[0]
    assert r.image_problems(changed, {**img, "status": {"phase": "Failed"}}) == ([], [])
    assert r.on_pvc(img) and not r.on_pvc({"spec": {}})
