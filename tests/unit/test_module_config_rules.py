"""module_config's pure pieces (plugins/module_utils/moduleconfig_service.py): options → spec.settings with the
API's acronym spellings and the admin guide's allowedStorageClassNames alias; option checks before any request."""

from ansible_collections.deckhouse.virtualization.plugins.module_utils.moduleconfig_service import desired_config, option_problems, settings_to_api


def test_settings_to_api_spellings_and_alias():
    out = settings_to_api(
        {
            "virtual_machine_cidrs": ["10.66.10.0/24"],
            "gateway_api_gateway": {"name": "main", "namespace": "d8-alb"},
            "virtual_disks": {"default_storage_class_name": "sc-1", "allowed_storage_class_names": ["sc-1", "sc-2"], "allowed_storage_class_selector": None},
            "dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistent_volume_claim": {"size": "50G", "storage_class_name": None}}},
            "audit": None,
        }
    )
    assert out == {
        "virtualMachineCIDRs": ["10.66.10.0/24"],
        "gatewayAPIGateway": {"name": "main", "namespace": "d8-alb"},
        "virtualDisks": {"defaultStorageClassName": "sc-1", "allowedStorageClassSelector": {"matchNames": ["sc-1", "sc-2"]}},
        "dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
    }


def test_disabling_an_enabled_module_sets_the_allow_disabling_annotation_and_only_then():
    """Deckhouse asks for the annotation on the change from enabled to disabled, and removes it once the module is
    disabled: asked for on every run, it would be re-added each time (never idempotent)."""
    p = {"enabled": False, "version": 1, "settings": None}
    enabled = {"metadata": {"name": "virtualization"}, "spec": {"enabled": True}}
    desired = desired_config(p, {"name": "virtualization"}, enabled)
    assert desired["spec"] == {"enabled": False, "version": 1}
    assert desired["metadata"]["annotations"] == {"modules.deckhouse.io/allow-disabling": "true"}
    for actual in (None, {"metadata": {"name": "virtualization"}, "spec": {"enabled": False}}, {"metadata": {"name": "virtualization"}, "spec": {}}):
        assert "annotations" not in desired_config(p, {"name": "virtualization"}, actual)["metadata"], actual
    assert "annotations" not in desired_config({**p, "enabled": True}, {"name": "virtualization"}, enabled)["metadata"]


def test_option_problems_name_the_option():
    params = {
        "name": "virtualization",
        "state": "present",
        "settings": {
            "virtual_machine_cidrs": ["10.66.10.1/24"],
            "virtual_images": {"allowed_storage_class_names": [""], "allowed_storage_class_selector": {"match_names": ["a"]}},
            "dvcr": {"storage": {"persistent_volume_claim": {"size": "lots"}}},
        },
    }
    text = "\n".join(option_problems(params))
    assert "name:" not in text
    other = option_problems({**params, "name": "descheduler"})
    assert other == ["settings: the settings of the 'virtualization' module; give those of 'descheduler' in raw_settings"], other
    assert option_problems({"name": "descheduler", "state": "present", "settings": None, "raw_settings": {"x": 1}}) == []
    assert option_problems({**params, "settings": None, "raw_settings": {}}) == [
        "raw_settings: only for a module other than 'virtualization'; give its settings in settings"
    ]
    assert "settings.virtual_machine_cidrs[0]: '10.66.10.1/24' has host bits set" in text
    assert "settings.virtual_images: give allowed_storage_class_names or allowed_storage_class_selector.match_names, not both" in text
    assert "settings.virtual_images.allowed_storage_class_names: at least one non-empty storage class name" in text
    assert "settings.dvcr.storage.persistent_volume_claim.size: not a quantity: 'lots'" in text
