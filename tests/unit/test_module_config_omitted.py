"""module_config leaves the options a task leaves out as they are (moduleconfig_service.keep_omitted): what the
collection applied under them is applied again, so server-side apply removes nothing of them; within a given
`settings`, a setting the collection set and the task no longer gives is still removed. settings_after_apply
predicts spec.settings after the apply, for the checks of clearing and removing CIDRs and of the DVCR volume."""

from __future__ import annotations

import copy

from ansible_collections.deckhouse.virtualization.plugins.module_utils.ensure import unchanged
from ansible_collections.deckhouse.virtualization.plugins.module_utils.moduleconfig_service import (
    desired_config,
    keep_omitted,
    others_paths,
    settings_after_apply,
)

ALLOW = "modules.deckhouse.io/allow-disabling"
SETTINGS = {
    "dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G", "storageClassName": "replicated"}}},
    "virtualMachineCIDRs": ["10.66.10.0/24", "10.66.20.0/24"],
    "logLevel": "debug",
}
MINE = {
    "f:metadata": {"f:labels": {"f:team": {}}},
    "f:spec": {
        "f:enabled": {},
        "f:version": {},
        "f:settings": {
            "f:dvcr": {"f:storage": {"f:persistentVolumeClaim": {"f:size": {}, "f:storageClassName": {}}, "f:type": {}}},
            "f:virtualMachineCIDRs": {},
            "f:logLevel": {},
        },
    },
}


def entry(manager, fields, operation="Apply", subresource=None):
    out = {"manager": manager, "operation": operation, "apiVersion": "deckhouse.io/v1alpha1", "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        out["subresource"] = subresource
    return out


def server(spec=None, labels=None, annotations=None, entries=None):
    """A ModuleConfig as the server holds it after the collection applied enabled, version, settings and a label."""
    meta = {"name": "virtualization", "resourceVersion": "7", "managedFields": entries if entries is not None else [entry("deckhouse.virtualization", MINE)]}
    meta["labels"] = labels if labels is not None else {"team": "a"}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "deckhouse.io/v1alpha1",
        "kind": "ModuleConfig",
        "metadata": meta,
        "spec": spec if spec is not None else {"enabled": True, "version": 1, "settings": copy.deepcopy(SETTINGS)},
        "status": {"version": "1", "message": ""},
    }


def params(**given):
    out = {"name": "virtualization", "state": "present", "enabled": None, "version": None, "settings": None, "labels": None, "annotations": None}
    out.update(given)
    return out


def desired_for(p, actual):
    meta = {"name": "virtualization", **{k: p[k] for k in ("labels", "annotations") if p.get(k)}}
    return keep_omitted(desired_config(p, meta, actual), p, actual)


def test_settings_only_task_keeps_enabled_version_and_labels():
    actual = server()
    new_settings = {**SETTINGS, "virtualImages": {"defaultStorageClassName": "replicated"}}
    p = params(settings={"log_level": "debug"})  # given (its API form, as desired_config makes it, is new_settings)
    desired = keep_omitted({"metadata": {"name": "virtualization"}, "spec": {"settings": new_settings}}, p, actual)
    assert desired["spec"] == {"enabled": True, "version": 1, "settings": new_settings}
    assert desired["metadata"]["labels"] == {"team": "a"}


def test_options_only_tasks_change_nothing():
    actual = server()
    for p in (params(enabled=True), params(version=1), params(labels={"team": "a"})):
        desired = desired_for(p, actual)
        assert desired["spec"] == actual["spec"]
        assert unchanged(desired, actual), p


def test_a_given_option_replaces_what_the_collection_set():
    actual = server()
    p = params(enabled=True, labels={"tier": "b"})
    desired = desired_for(p, actual)
    assert desired["metadata"]["labels"] == {"tier": "b"}, "the dropped label is removed (labels given)"
    # settings: {} is given: every setting the collection set is removed (the apply drops them)
    p = params(settings={})
    desired = desired_for(p, actual)
    assert desired["spec"]["settings"] == {} and desired["spec"]["enabled"] is True
    assert not unchanged(desired, actual)


def test_only_the_collection_s_fields_are_carried():
    kubectl = {"f:spec": {"f:settings": {"f:highAvailability": {}}}, "f:metadata": {"f:labels": {"f:owner": {}}}}
    spec = {"enabled": True, "version": 1, "settings": {**SETTINGS, "highAvailability": True}}
    entries = [entry("deckhouse.virtualization", MINE), entry("kubectl-edit", kubectl, "Update")]
    actual = server(spec=spec, labels={"team": "a", "owner": "ops"}, entries=entries)
    desired = desired_for(params(enabled=True), actual)
    assert "highAvailability" not in desired["spec"]["settings"], "another manager's setting is not taken over"
    assert desired["metadata"]["labels"] == {"team": "a"}


def test_nothing_to_carry_without_an_object_or_before_the_collection_wrote():
    assert desired_for(params(enabled=True), None)["spec"] == {"enabled": True}
    actual = server(entries=[entry("kubectl-client-side-apply", MINE, "Update")])
    assert desired_for(params(labels={"x": "y"}), actual)["spec"] == {}


def test_a_disabled_module_stays_disabled_with_its_annotation():
    mine = copy.deepcopy(MINE)
    mine["f:metadata"]["f:annotations"] = {"f:" + ALLOW: {}}
    spec = {"enabled": False, "version": 1, "settings": copy.deepcopy(SETTINGS)}
    actual = server(spec=spec, annotations={ALLOW: "true"}, entries=[entry("deckhouse.virtualization", mine)])
    desired = desired_for(params(settings={}, annotations={"note": "x"}), actual)
    assert desired["spec"]["enabled"] is False
    assert desired["metadata"]["annotations"] == {"note": "x", ALLOW: "true"}
    # enabled given: the annotation goes with it (desired_config sets it for false only)
    assert ALLOW not in (desired_for(params(enabled=True, annotations={"note": "x"}), actual)["metadata"].get("annotations") or {})


def test_desired_is_not_changed():
    actual = server()
    desired = desired_config(params(enabled=True), {"name": "virtualization"})
    before = copy.deepcopy(desired)
    keep_omitted(desired, params(enabled=True), actual)
    assert desired == before


def test_others_paths_leave_out_the_collection_s_applies_and_status():
    actual = server(
        entries=[
            entry("deckhouse.virtualization", MINE),
            entry("deckhouse", {"f:status": {"f:version": {}}}, "Update", subresource="status"),
            entry("kubectl-client-side-apply", {"f:spec": {"f:settings": {"f:virtualMachineCIDRs": {}}}}, "Update"),
            entry("deckhouse.virtualization", {"f:spec": {"f:settings": {"f:logFormat": {}}}}, "Update"),
        ]
    )
    assert sorted(others_paths(actual)) == [("spec", "settings", "logFormat"), ("spec", "settings", "virtualMachineCIDRs")]


def test_settings_after_apply():
    actual = server()
    # a setting the collection set and the task no longer gives is removed; the others stay
    after = settings_after_apply({"dvcr": SETTINGS["dvcr"], "virtualMachineCIDRs": SETTINGS["virtualMachineCIDRs"]}, actual)
    assert "logLevel" not in after and after["virtualMachineCIDRs"] == SETTINGS["virtualMachineCIDRs"]
    # a map given in part: the part left out goes, emptied maps with it
    after = settings_after_apply({"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "60G"}}}}, actual)
    assert after["dvcr"]["storage"]["persistentVolumeClaim"] == {"size": "60G"} and "virtualMachineCIDRs" not in after
    # the same settings set by kubectl (and the collection never): the apply leaves them
    kubectl = server(entries=[entry("kubectl-client-side-apply", MINE, "Update")])
    images = {"virtualImages": {"defaultStorageClassName": "sc-1"}}
    assert settings_after_apply(images, kubectl) == {**SETTINGS, **images}
    # held by both: the field stays
    cidrs = {"f:spec": {"f:settings": {"f:virtualMachineCIDRs": {}}}}
    both = server(entries=[entry("deckhouse.virtualization", MINE), entry("kubectl-client-side-apply", cidrs, "Update")])
    assert settings_after_apply({}, both) == {"virtualMachineCIDRs": SETTINGS["virtualMachineCIDRs"]}
    # nothing on the server
    assert settings_after_apply({"logLevel": "info"}, None) == {"logLevel": "info"}
