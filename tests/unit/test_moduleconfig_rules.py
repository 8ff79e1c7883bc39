"""plugins/module_utils/moduleconfig_rules.py: the ModuleConfig `virtualization` rules the module_config module and the
simulator's webhook and hook share (BEHAVIOUR.md §8)."""

from ansible_collections.deckhouse.virtualization.plugins.module_utils import moduleconfig_rules as mr

DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "5G"}}}
PROFILE = "storageprofile.dvp-sim.deckhouse.io/"


def sc(name: str, modes: str, volume_mode: str = "Filesystem") -> dict:
    return {"metadata": {"name": name, "annotations": {PROFILE + "access-modes": modes, PROFILE + "volume-mode": volume_mode}}}


def test_the_hook_requires_dvcr_and_rechecks_the_cidrs():
    assert mr.hook_problems({"dvcr": DVCR, "virtualMachineCIDRs": ["10.66.10.0/24"]}, "10.111.0.0/16", "10.222.0.0/16", [("n", "192.168.10.11")]) == []
    problems = mr.hook_problems({"virtualMachineCIDRs": ["10.111.0.0/24", "192.168.10.0/24"]}, "10.111.0.0/16", "10.222.0.0/16", [("blue-0", "192.168.10.11")])
    assert problems[0].startswith("dvcr: required"), problems
    assert "virtualMachineCIDRs[0]: 10.111.0.0/24 overlaps the cluster pod subnet 10.111.0.0/16" in problems
    assert "virtualMachineCIDRs[1]: 192.168.10.0/24 contains the address 192.168.10.11 of node blue-0" in problems
    assert mr.hook_problems({"dvcr": DVCR}, None, None, []) == [], "no CIDRs: nothing to check but dvcr"
    assert mr.dvcr_problem({}, "settings.dvcr").startswith("settings.dvcr: required")


def test_image_classes_need_a_usable_profile_and_missing_ones_pass():
    classes = {"rox": sc("rox", "ReadOnlyMany"), "rwo": sc("rwo", "ReadWriteOnce", "Block"), "odd": sc("odd", "ReadWriteMany", "Other")}
    settings = {
        "virtualImages": {"defaultStorageClassName": "rox", "allowedStorageClassSelector": {"matchNames": ["rwo", "odd", "absent"]}},
        "virtualDisks": {"defaultStorageClassName": "rox"},  # no admission check for disks
    }
    problems = mr.image_class_problems(settings, classes.get)
    assert problems == [
        f"virtualImages.defaultStorageClassName: the StorageClass 'rox' {mr.UNUSABLE_CLASS}",
        f"virtualImages.allowedStorageClassSelector.matchNames: the StorageClass 'odd' {mr.UNUSABLE_CLASS}",
    ], problems
    labelled = mr.image_class_problems(settings, classes.get, lambda path: "settings." + path)
    assert labelled[0].startswith("settings.virtualImages.defaultStorageClassName: "), labelled
    assert mr.image_class_problems({}, classes.get) == []


def test_a_disable_needs_confirmation_from_enabled_to_anything_else_or_deleted():
    on, off, unset = {"spec": {"enabled": True}}, {"spec": {"enabled": False}}, {"spec": {}}
    assert mr.disable_needs_confirmation(on, off) and mr.disable_needs_confirmation(on, unset) and mr.disable_needs_confirmation(on, None)
    assert not mr.disable_needs_confirmation(on, on) and not mr.disable_needs_confirmation(off, None)
    assert not mr.disable_needs_confirmation(unset, off), "an unset enabled is not enabled, as Deckhouse reads it"
    assert not mr.disable_needs_confirmation(None, off), "creating a disabled config"
    allowed = {"metadata": {"annotations": {"modules.deckhouse.io/allow-disabling": "false"}}, **off}
    assert mr.disable_confirmed(on, allowed) and mr.disable_confirmed(allowed, None), "any value, on either version"
    assert not mr.disable_confirmed(on, off) and not mr.disable_confirmed(None)
