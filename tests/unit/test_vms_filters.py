"""The vms role's filters (plugins/filter/vms.py), pure functions: the plan's defaults and steps, a step's batch
without the skipped objects, the VMs check mode cannot check, and the results joined per VM."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.deckhouse.virtualization.plugins.filter.vms import FilterModule, vms_batch, vms_plan, vms_results, vms_unchecked

SOURCE = {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "ubuntu"}}


def web(name="web", **options):
    return {"name": name, "cpu": {"cores": 1}, "disks": [{"name": f"{name}-root", "data_source": SOURCE}], **options}


def test_defaults_fill_what_an_item_leaves_out_and_the_item_wins():
    plan = vms_plan([web(), web("db", namespace="data", wait=False, state="running")], "prod", True, 300)
    assert plan["apply_vms"] == [
        {"state": "present", "namespace": "prod", "wait": True, "wait_timeout": 300, "name": "web", "cpu": {"cores": 1}},
        {"state": "running", "namespace": "data", "wait": False, "wait_timeout": 300, "name": "db", "cpu": {"cores": 1}},
    ]
    # a disk takes its VM's namespace, wait and wait_timeout
    assert plan["apply_disks"] == [
        {"namespace": "prod", "state": "present", "wait": True, "wait_timeout": 300, "name": "web-root", "data_source": SOURCE},
        {"namespace": "data", "state": "present", "wait": False, "wait_timeout": 300, "name": "db-root", "data_source": SOURCE},
    ]
    assert plan["vms"] == [
        {"name": "web", "namespace": "prod", "state": "present", "vm_key": "prod/web"},
        {"name": "db", "namespace": "data", "state": "running", "vm_key": "data/db"},
    ]
    assert plan["disks"] == [
        {"name": "web-root", "namespace": "prod", "state": "present", "vm_key": "prod/web", "disk_key": "prod/web-root"},
        {"name": "db-root", "namespace": "data", "state": "present", "vm_key": "data/db", "disk_key": "data/db-root"},
    ]
    assert plan["delete_vms"] == plan["delete_disks"] == []


def test_a_disk_namespace_of_its_own_and_null_namespaces_mean_the_default():
    vm = {"name": "a", "namespace": None, "disks": [{"name": "d", "namespace": "other"}, {"name": "e", "namespace": None}]}
    plan = vms_plan([vm], "prod")
    assert [d["namespace"] for d in plan["apply_disks"]] == ["other", "prod"]
    assert plan["apply_vms"][0]["namespace"] == "prod" and "disks" not in plan["apply_vms"][0]


def test_an_absent_vm_deletes_its_disks_with_only_the_options_deleting_takes():
    plan = vms_plan([web(state="absent", wait_timeout=30, disks=[{"name": "r", "data_source": SOURCE, "state": "present"}])], "prod")
    assert plan["apply_vms"] == plan["apply_disks"] == []
    assert plan["delete_vms"] == [{"name": "web", "namespace": "prod", "state": "absent", "wait": True, "wait_timeout": 30}]
    assert plan["delete_disks"] == [{"name": "r", "namespace": "prod", "state": "absent", "wait": True, "wait_timeout": 30}]
    assert plan["disks"][0]["state"] == "absent"


def test_a_disk_marked_absent_of_a_kept_vm_is_deleted_after_the_vm_step():
    plan = vms_plan([web(disks=[{"name": "keep"}, {"name": "gone", "state": "absent", "persistent_volume_claim": {"size": "1Gi"}}])])
    assert [d["name"] for d in plan["apply_disks"]] == ["keep"]
    assert plan["delete_disks"] == [{"name": "gone", "namespace": "default", "state": "absent", "wait": True, "wait_timeout": 600}]


def test_the_input_is_not_changed():
    vms = [web()]
    before = repr(vms)
    vms_plan(vms, "prod")
    assert repr(vms) == before


@pytest.mark.parametrize(
    ("vms", "message"),
    [
        ("web", "vms_list must be a list of dicts, got str"),
        ([["web"]], "vms_list[0] must be a dict, got list"),
        ([{"cpu": {}}], "vms_list[0] has no name"),
        ([{"name": "a", "disks": [{"size": 1}]}], "vms_list[0].disks[0] has no name"),
        ([{"name": "a", "disks": {"name": "d"}}], "vms_list[0].disks must be a list of dicts, got dict"),
    ],
)
def test_malformed_lists_are_refused_naming_the_item(vms, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        vms_plan(vms)


def test_a_step_batch_leaves_out_skipped_namespaces_and_keys():
    plan = vms_plan([web("a"), web("b", namespace="new"), web("c")], "prod")
    assert [e["name"] for e in vms_batch(plan, "apply_vms")] == ["a", "b", "c"]
    assert [e["name"] for e in vms_batch(plan, "apply_vms", ["new", "prod/c"])] == ["a"]
    assert [e["name"] for e in vms_batch(plan, "apply_disks", ["new"])] == ["a-root", "c-root"]
    assert vms_batch(plan, "delete_vms", None) == []
    with pytest.raises(AnsibleFilterError, match="step must be one of"):
        vms_batch(plan, "apply_everything")


def registered(*results, skipped=False):
    return {"skipped": True, "changed": False} if skipped else {"changed": any(r.get("changed") for r in results), "results": list(results)}


def disk_result(name, namespace="prod", changed=False, phase="Ready", state="present"):
    return {"changed": changed, "image": {"phase": phase} if phase else {}, "item": {"name": name, "namespace": namespace, "state": state}}


def test_unchecked_are_the_vms_in_new_namespaces_or_with_a_disk_to_be_created():
    plan = vms_plan([web("a"), web("b"), web("c", namespace="new"), web("d", state="absent")], "prod")
    disks = registered(disk_result("a-root"), disk_result("b-root", changed=True, phase=None), disk_result("c-root", "new", changed=True, phase=None))
    assert vms_unchecked(plan, disks, ["new"]) == ["prod/b", "new/c"]
    # a disk being changed (grown) but existing has a phase: its VM can be checked
    assert vms_unchecked(plan, registered(disk_result("a-root", changed=True)), []) == []
    assert vms_unchecked(plan, registered(skipped=True), None) == []
    assert vms_unchecked(plan, None, ["new"]) == ["new/c"]


def test_results_join_each_vm_with_its_disks_in_the_plan_order():
    plan = vms_plan([web("a"), web("b", state="absent"), web("c")], "prod")
    vm_a = {"changed": True, "vm": {"phase": "Running"}, "operations": [{"name": "op"}], "item": {"name": "a", "namespace": "prod"}}
    vm_c = {"changed": False, "vm": {"phase": "Stopped"}, "item": {"name": "c", "namespace": "prod"}}
    vm_b = {"changed": True, "vm": {}, "item": {"name": "b", "namespace": "prod", "state": "absent"}}
    out = vms_results(
        plan,
        registered(vm_b),
        registered(disk_result("a-root", changed=True), disk_result("c-root")),
        registered(vm_a, vm_c),
        registered(disk_result("b-root", changed=True, phase=None, state="absent")),
        [],
    )
    summary = [(r["name"], r["state"], r["changed"], r["checked"]) for r in out]
    assert summary == [("a", "present", True, True), ("b", "absent", True, True), ("c", "present", False, True)]
    assert out[0]["vm"] == {"phase": "Running"} and out[0]["operations"] == [{"name": "op"}]
    assert out[0]["disks"] == [{"name": "a-root", "namespace": "prod", "state": "present", "changed": True, "disk": {"phase": "Ready"}}]
    assert out[1]["disks"] == [{"name": "b-root", "namespace": "prod", "state": "absent", "changed": True, "disk": {}}]
    assert out[2]["operations"] == [] and out[2]["disks"][0]["changed"] is False


def test_results_of_a_dry_run_count_unchecked_vms_and_disks_without_results_as_to_be_created():
    plan = vms_plan([web("a", namespace="new")], "prod")
    out = vms_results(plan, registered(skipped=True), registered(skipped=True), registered(skipped=True), None, ["new/a"])
    assert out == [{"name": "a", "namespace": "new", "state": "present", "changed": True, "checked": False, "vm": {}, "operations": [],
                    "disks": [{"name": "a-root", "namespace": "new", "state": "present", "changed": True, "disk": {}}]}]  # fmt: skip


def test_the_filters_are_registered_under_their_names():
    assert FilterModule().filters() == {"vms_plan": vms_plan, "vms_batch": vms_batch, "vms_unchecked": vms_unchecked, "vms_results": vms_results}
