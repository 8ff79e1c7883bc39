"""Verify of the `module_config` scenario: ModuleConfig `virtualization` on the cluster is what the role was given -
enabled, settings version 1, DVCR on a 50G PVC of `replicated`, the two VM subnets, the storage classes of images and
disks - in the API's camelCase form; and the platform acted on it: DVCR's claim d8-virtualization/dvcr is Bound."""

from __future__ import annotations


def test_the_module_config_is_applied(platform):
    config = platform.get("moduleconfig", "virtualization")
    spec = config["spec"]
    assert spec["enabled"] is True and spec["version"] == 1, spec
    settings = spec["settings"]
    assert settings["virtualMachineCIDRs"] == ["10.66.10.0/24", "10.66.20.0/24"]
    assert settings["dvcr"]["storage"] == {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G", "storageClassName": "replicated"}}
    for kind in ("virtualImages", "virtualDisks"):
        # the guide's allowedStorageClassNames, written in the API's current form
        expected = {"defaultStorageClassName": "replicated", "allowedStorageClassSelector": {"matchNames": ["replicated"]}}
        assert settings[kind] == expected, (kind, settings[kind])


def test_the_platform_made_dvcr_its_volume(platform):
    claim = platform.get("pvc", "dvcr", "d8-virtualization")
    assert claim["spec"]["storageClassName"] == "replicated", claim["spec"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50G", claim["spec"]
    assert claim["status"]["phase"] == "Bound", claim["status"]
