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
    assert r.disk_problems(disk("2Gi", SRC, "b"), ready) == ([], []), "a class change is a storage migration, judged with its context"
    on_a = {**ready, "status": {**ready["status"], "storageClassName": "a"}}
    assert "only the Enterprise Edition" in r.disk_problems(disk("2Gi", SRC, "b"), on_a, migration=r.MigrationContext(edition=v.EDITION_CE))[0][0]
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


# -- storage migration (§2.2) ---------------------------------------------------------------------------------------
def mounted(sc_name="a", on="a", vm="app", migration=None, phase="Ready"):
    """A provisioned disk asking for `sc_name`, on the class `on`, mounted by `vm` ("" none)."""
    obj = disk("2Gi", SRC, sc_name, phase)
    obj["status"].update(storageClassName=on, attachedToVirtualMachines=[{"name": vm, "mounted": True}] if vm else [])
    if migration:
        obj["status"]["migrationState"] = migration
    return obj


BLOCK_A, BLOCK_B, FILES = sc("a", mode="Block"), sc("b", mode="Block"), sc("files", mode="Filesystem")
RUNNING = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Running", source_class=BLOCK_A, target_class=BLOCK_B)
FIELD = "spec.persistentVolumeClaim.storageClassName: changing the class of a provisioned disk (from 'a' to 'b') is a storage migration"


def test_a_class_change_of_a_provisioned_disk_is_a_migration_ee_only_with_a_running_vm():
    old, new = mounted(), mounted("b")
    assert r.migration_problems(new, old, RUNNING) == []
    assert r.migration_problems(new, old, r.MigrationContext(vm_phase="Migrating", source_class=BLOCK_A, target_class=BLOCK_B)) == [], "edition not known"
    ce = r.MigrationContext(edition=v.EDITION_CE, vm_phase="Running", source_class=BLOCK_A, target_class=BLOCK_B)
    assert r.migration_problems(new, old, ce) == [f"{FIELD}, which only the Enterprise Edition offers (this cluster runs CE)"]
    alone = r.migration_problems(mounted("b", vm=""), mounted(vm=""), RUNNING)
    assert alone == [f"{FIELD}, which needs the disk mounted by a running virtual machine (no virtual machine mounts it)"]
    stopped = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Stopped", source_class=BLOCK_A, target_class=BLOCK_B)
    assert r.migration_problems(new, old, stopped) == [
        f"{FIELD}, which needs the disk mounted by a running virtual machine (the virtual machine app is Stopped)"
    ]
    gone = r.MigrationContext(edition=v.EDITION_EE, vm_phase=None, source_class=BLOCK_A, target_class=BLOCK_B)
    assert "(the virtual machine app is not found)" in r.migration_problems(new, old, gone)[0]


def test_a_migration_needs_an_existing_class_of_the_same_volume_mode():
    old = mounted()
    missing = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Running", source_class=BLOCK_A, target_class=None)
    assert r.migration_problems(mounted("b"), old, missing) == [f"{FIELD}, and the StorageClass 'b' does not exist"]
    unknown = r.MigrationContext(vm_phase="Running", source_class=BLOCK_A, target_class=None, target_known=False)
    assert r.migration_problems(mounted("b"), old, unknown) == [], "check mode: not judged"
    to_files = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Running", source_class=BLOCK_A, target_class=FILES)
    assert r.migration_problems(mounted("files"), old, to_files) == [
        "spec.persistentVolumeClaim.storageClassName: changing the class of a provisioned disk (from 'a' to 'files') is a storage migration, which keeps "
        "the volume mode: 'files' has volume mode Filesystem, 'a' Block (a disk moves from Block to Block or from Filesystem to Filesystem)"
    ]
    no_source = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Running", source_class=None, target_class=BLOCK_B)
    assert r.migration_problems(mounted("b"), old, no_source) == [f"{FIELD}, and the disk's StorageClass 'a' does not exist any more"]


def test_no_migration_is_asked_by_the_class_the_disk_is_on_or_by_none():
    """A spec naming the class the disk is on (after a failed migration, say), or no class: nothing moves, nothing to judge."""
    ce = r.MigrationContext(edition=v.EDITION_CE)
    assert r.migration_problems(mounted("a", on="a"), mounted("b", on="a"), ce) == []
    assert r.migration_problems({**mounted(), "spec": {"dataSource": SRC}}, mounted("b", on="a"), ce) == []
    assert r.migration_problems(mounted("a"), mounted("a"), ce) == []


def test_while_migrating_only_the_rollback_to_the_source_claims_class():
    state = {"sourcePVC": "vd-x", "targetPVC": "d8v-vd-x-abcde", "startTimestamp": "2025-01-01T00:00:00Z"}
    old = mounted("b", on="a", migration=state, phase="Migrating")
    ctx = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Running", source_class=BLOCK_A, target_class=BLOCK_B, rollback_class="a")
    assert r.migration_problems(mounted("a", on="a"), old, ctx) == []
    third = r.migration_problems(mounted("c", on="a"), old, ctx)
    assert third == [
        "spec.persistentVolumeClaim.storageClassName: the disk is Migrating; until the migration ends its class may only be set back to 'a' (a rollback)"
    ]
    assert "the class of its source claim" in r.migration_problems(mounted("a"), old, r.MigrationContext())[0], "the source claim's class not known"
    stopped = r.MigrationContext(edition=v.EDITION_EE, vm_phase="Stopped", rollback_class="a")
    assert r.migration_problems(mounted("a", on="a"), old, stopped) == [], "a rollback needs nothing more"
    assert r.disk_problems(mounted("a", on="a"), old, migration=ctx)[0] == []
    assert "cannot change while the disk is Migrating" in r.disk_problems({**mounted("b"), "spec": {**mounted("b")["spec"], "persistentVolumeClaim": {
        "size": "3Gi", "storageClassName": "b"}}}, old, migration=ctx)[0][0]  # fmt: skip


def test_migration_state_helpers_and_backoff():
    assert r.mounted_vm(mounted()) == "app" and r.mounted_vm(mounted(vm="")) == "" and r.mounted_vm(None) == ""
    assert r.storage_class_changed(mounted("b", on="a")) and not r.storage_class_changed(mounted("a", on="a"))
    assert not r.storage_class_changed(mounted("b", on="")), "a disk on no class yet does not move"
    running = mounted(migration={"startTimestamp": "2025-01-01T00:00:00Z", "targetPVC": "t"})
    ended = mounted(migration={"startTimestamp": "2025-01-01T00:00:00Z", "endTimestamp": "2025-01-01T00:01:00Z", "targetPVC": "t", "result": "Failed"})
    assert r.migration_unfinished(running) and not r.migration_unfinished(ended) and not r.migration_unfinished(mounted())
    assert r.migration_round(ended) == ("2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "t", "Failed") and r.migration_round(None) == ("", "", "", "")
    assert [r.migration_backoff(n) for n in range(0, 9)] == [0.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert r.migration_backoff(10_000) == 300.0
