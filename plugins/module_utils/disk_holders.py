# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether another VirtualMachine holds a VM's disks (BEHAVIOUR.md §4.8): the vm module checks it before a task that
leaves the VM running, vm_operation before a Start. Small on purpose: both modules load it."""

from __future__ import annotations

from typing import Any

from . import vocabulary as v
from .client import APIStatusError, DVPClient
from .kinds import VIRTUAL_DISK, VIRTUAL_MACHINE


def _status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def disk_holder_problem(client: DVPClient, namespace: str, vm_name: str, index: int, disk: dict[str, Any], starting: bool = False) -> str | None:
    """The VirtualDisk `disk` (block_device_refs[index]) mounted by another VM, which keeps this one from starting
    (§4.8: every disk must be free or attached to this VM, else BlockDevicesReady=False and the VM waits in Pending;
    no webhook refuses it). "Mounted" is the disk's status.attachedToVirtualMachines[].mounted: the other VM lists the
    disk in its status.blockDeviceRefs and is not Stopped (§1.8) — checked on the VM itself, since the disk's status
    follows a VM that just stopped with a delay. A stopped holder does not count (the platform allows it).
    `starting`: the task starts the VM (vm_operation Start), so keeping it stopped is no way out."""
    name = disk["metadata"]["name"]
    for entry in _status(disk).get("attachedToVirtualMachines") or []:
        holder = entry.get("name")
        if not entry.get("mounted") or not holder or holder == vm_name:
            continue
        try:
            other = client.get(VIRTUAL_MACHINE, holder, namespace)
        except APIStatusError as err:
            if err.status != 403:
                raise
            phase = "not readable by this user"  # the disk's status is all there is to go by
        else:
            status = _status(other)
            listed = any(r.get("kind") == v.VIRTUAL_DISK and r.get("name") == name for r in status.get("blockDeviceRefs") or [])
            if other is None or status.get("phase") in (None, "", v.VM_STOPPED) or not listed:
                continue  # deleted, stopped or detached since the disk's status was written
            phase = status["phase"]
        return (
            f"block_device_refs[{index}] (spec.blockDeviceRefs[{index}]): VirtualDisk {namespace}/{name} is in use by VirtualMachine "
            f"{namespace}/{holder} (phase {phase}; mounted in the disk's status.attachedToVirtualMachines). The platform starts a "
            "VM only when each of its disks is free or attached to it alone: this VM would wait in Pending with BlockDevicesReady=False. "
            f"Stop {holder} or remove the disk from its block devices first"
            + ("" if starting else ", or keep this VM stopped (state=stopped or run_policy=AlwaysOff)")
        )
    return None


def held_disk_problems(client: DVPClient, namespace: str, vm: dict[str, Any], starting: bool = False) -> list[str]:
    """disk_holder_problem for each VirtualDisk of an existing VM about to be started (a missing disk is left to the
    platform's condition: the task does not name it)."""
    problems = []
    for i, ref in enumerate((vm.get("spec") or {}).get("blockDeviceRefs") or []):
        if ref.get("kind") != v.VIRTUAL_DISK:
            continue
        disk = client.get(VIRTUAL_DISK, ref["name"], namespace)
        problem = disk_holder_problem(client, namespace, vm["metadata"]["name"], i, disk, starting) if disk is not None else None
        if problem:
            problems.append(problem)
    return problems
