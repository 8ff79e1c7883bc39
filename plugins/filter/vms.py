# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `vms` role's plan and results, as filters: `vms_plan`, `vms_batch`, `vms_unchecked`, `vms_results`.

Why Python and not Jinja: the role is a handful of batch tasks, and at 200 VMs the Jinja loops that built its plan and
its results (set/update per key per item) cost more than the two batch tasks themselves. These functions are pure
(plain lists and dicts in, new lists and dicts out, nothing read from anywhere else) and unit-tested directly
(tests/unit/test_vms_filters.py); the documentation of each is in plugins/filter/<name>.yml.

Contracts:
- vms_plan(vms_list, namespace, wait, wait_timeout) -> the plan: `vms` (per VM: name, namespace, state, vm_key) and
  `disks` (per disk: name, namespace, state, vm_key, disk_key), in the order of vms_list, and the batches of the
  role's four steps, each element the modules' options: `delete_vms`, `apply_disks`, `apply_vms`, `delete_disks`.
  A VM's defaults are state present, `namespace`, `wait`, `wait_timeout`; a disk's are its VM's namespace, wait and
  wait_timeout, state present - and state absent, whatever it says, when its VM is absent. Deleting takes only
  name, namespace, state, wait and wait_timeout (the modules refuse the other options with state=absent).
- vms_batch(plan, step, skip) -> the step's batch without the elements whose namespace, or namespace/name, is in skip
  (check mode: what the vm module cannot check yet).
- vms_unchecked(plan, disks_applied, new_namespaces) -> namespace/name of each VM, not absent, whose namespace is in
  new_namespaces or one of whose disks the disks step reported as to be created (changed, no phase): in check mode
  the vm module could not read them.
- vms_results(plan, registered..., unchecked) -> `vms_results`, per VM of the plan in order: name, namespace, state,
  changed, checked, vm, operations, disks (per disk: name, namespace, state, changed, disk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

STEPS = ("delete_vms", "apply_disks", "apply_vms", "delete_disks")
# What deleting takes: the modules refuse their other options with state=absent.
ABSENT_KEYS = ("name", "namespace", "state", "wait", "wait_timeout")


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def _absent(args: Mapping[str, Any]) -> dict:
    return {key: args[key] for key in ABSENT_KEYS if key in args}


def _items(value: Any, where: str) -> Sequence[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise AnsibleFilterError(f"{where} must be a list of dicts, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise AnsibleFilterError(f"{where}[{index}] must be a dict, got {type(item).__name__}")
        if not item.get("name"):
            raise AnsibleFilterError(f"{where}[{index}] has no name")
    return value


def vms_plan(vms_list: Sequence[Mapping[str, Any]], namespace: str = "default", wait: bool = True, wait_timeout: int = 600) -> dict:
    plan: dict[str, list] = {"vms": [], "disks": [], **{step: [] for step in STEPS}}
    for index, vm in enumerate(_items(vms_list, "vms_list")):
        args = {"state": "present", "namespace": namespace, "wait": wait, "wait_timeout": wait_timeout}
        args.update((key, value) for key, value in vm.items() if key != "disks")
        if args["namespace"] is None:  # an item's `namespace: null` (the argument spec's default) means the role's
            args["namespace"] = namespace
        vm_key = _key(args["namespace"], args["name"])
        absent = args["state"] == "absent"
        plan["vms"].append({"name": args["name"], "namespace": args["namespace"], "state": args["state"], "vm_key": vm_key})
        plan["delete_vms" if absent else "apply_vms"].append(_absent(args) if absent else args)
        for disk in _items(vm.get("disks"), f"vms_list[{index}].disks"):
            one = {"namespace": args["namespace"], "state": "present", "wait": args["wait"], "wait_timeout": args["wait_timeout"]}
            one.update(disk)
            if one["namespace"] is None:
                one["namespace"] = args["namespace"]
            if absent:
                one["state"] = "absent"
            gone = one["state"] == "absent"
            plan["disks"].append({"name": one["name"], "namespace": one["namespace"], "state": one["state"], "vm_key": vm_key,
                                  "disk_key": _key(one["namespace"], one["name"])})  # fmt: skip
            plan["delete_disks" if gone else "apply_disks"].append(_absent(one) if gone else one)
    return plan


def vms_batch(plan: Mapping[str, Any], step: str, skip: Iterable[str] = ()) -> list:
    if step not in STEPS:
        raise AnsibleFilterError(f"vms_batch: step must be one of {', '.join(STEPS)}, got {step!r}")
    batch = plan[step]
    skipped = set(skip or ())
    if not skipped:
        return list(batch)
    return [args for args in batch if args["namespace"] not in skipped and _key(args["namespace"], args["name"]) not in skipped]


def _results(registered: Any) -> list:
    """The per-element results of a registered batch task; none for a skipped task or an undefined variable."""
    if not isinstance(registered, Mapping):
        return []
    return [r for r in registered.get("results") or [] if isinstance(r, Mapping) and isinstance(r.get("item"), Mapping)]


def vms_unchecked(plan: Mapping[str, Any], disks_applied: Any = None, new_namespaces: Iterable[str] = ()) -> list:
    namespaces = set(new_namespaces or ())
    new_disks = {
        _key(r["item"]["namespace"], r["item"]["name"]) for r in _results(disks_applied) if r.get("changed") and not (r.get("image") or {}).get("phase")
    }
    waiting = {disk["vm_key"] for disk in plan["disks"] if disk["disk_key"] in new_disks}
    return [vm["vm_key"] for vm in plan["vms"] if vm["state"] != "absent" and (vm["namespace"] in namespaces or vm["vm_key"] in waiting)]


def vms_results(
    plan: Mapping[str, Any],
    vms_deleted: Any = None,
    disks_applied: Any = None,
    vms_applied: Any = None,
    disks_deleted: Any = None,
    unchecked: Iterable[str] = (),
) -> list:
    not_checked = set(unchecked or ())
    disk_results = {}
    for r in _results(disks_applied) + _results(disks_deleted):
        item = r["item"]
        disk_results[_key(item["namespace"], item["name"])] = {
            "name": item["name"], "namespace": item["namespace"], "state": item.get("state", "present"),
            "changed": bool(r.get("changed", False)), "disk": r.get("image") or {},
        }  # fmt: skip
    vm_results = {_key(r["item"]["namespace"], r["item"]["name"]): r for r in _results(vms_deleted) + _results(vms_applied)}
    vm_disks: dict[str, list] = {}
    for disk in plan["disks"]:
        default = {"name": disk["name"], "namespace": disk["namespace"], "state": disk["state"], "changed": True, "disk": {}}
        vm_disks.setdefault(disk["vm_key"], []).append(disk_results.get(disk["disk_key"], default))
    out = []
    for vm in plan["vms"]:
        r = vm_results.get(vm["vm_key"], {})
        out.append({
            "name": vm["name"], "namespace": vm["namespace"], "state": vm["state"],
            "changed": bool(r["changed"]) if "changed" in r else vm["vm_key"] in not_checked,
            "checked": vm["vm_key"] not in not_checked,
            "vm": r.get("vm") or {}, "operations": r.get("operations") or [], "disks": vm_disks.get(vm["vm_key"], []),
        })  # fmt: skip
    return out


class FilterModule:
    def filters(self) -> dict:
        return {"vms_plan": vms_plan, "vms_batch": vms_batch, "vms_unchecked": vms_unchecked, "vms_results": vms_results}
