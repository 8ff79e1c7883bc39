"""VirtualMachineOperation admission (BEHAVIOUR.md §6.2), CREATE only, in the platform's order: on the CE
edition (the topology's `cluster.edition`) `migrate.nodeSelector` is refused, and a Migrate/Evict needs every
VirtualDisk of the VM on a ReadWriteMany claim; then a new operation is refused while an unfinished one of the
same VM cannot be superseded by it (the table is `vm_rules.can_supersede`). The unfinished operations of a VM
come from an index (`<namespace>/<vm>` of unfinished VMOPs), never a scan; the VM, disks and claims by key."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vm_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, Admission, AdmissionRequest
from ..api.webhook_configs import Denial
from ..store.store import Store
from . import registrations

GROUP = v.DVP_GROUP
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
UNFINISHED = "unfinishedByVM"  # VMOPs in phase "", Pending or InProgress: "<namespace>/<vm>"
BY_VM = "byVM"  # every VMOP: "<namespace>/<vm>"
FINISHED = "finished"  # VMOPs in phase Completed, Failed or Superseded: "true" (the daily GC reads them)
FINISHED_PHASES = (v.VMOP_COMPLETED, v.FAILED, v.VMOP_SUPERSEDED)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
DISKS = v.resource_key(v.VIRTUAL_DISK)
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)


def vm_key(op: dict[str, Any]) -> list[str]:
    name = (op.get("spec") or {}).get("virtualMachineName")
    return [f"{op['metadata'].get('namespace', '')}/{name}"] if name else []


def unfinished_vm_key(op: dict[str, Any]) -> list[str]:
    return vm_key(op) if ((op.get("status") or {}).get("phase") or "") in vm_rules.UNFINISHED_PHASES else []


def finished(op: dict[str, Any]) -> list[str]:
    return ["true"] if (op.get("status") or {}).get("phase") in FINISHED_PHASES else []


def register_indexes(store: Store) -> None:
    store.add_index(VMOPS, UNFINISHED, unfinished_vm_key)
    store.add_index(VMOPS, BY_VM, vm_key)
    store.add_index(VMOPS, FINISHED, finished)


def non_rwx_disks(store: Store, namespace: str, vm_name: str) -> list[str]:
    """The VM's VirtualDisks whose claim is not ReadWriteMany (a disk without a claim yet counts as not RWX)."""
    vm = store.get(VMS, namespace, vm_name)
    out = []
    for ref in ((vm.obj.get("spec") or {}).get("blockDeviceRefs") or []) if vm else []:
        if ref.get("kind") != v.VIRTUAL_DISK:
            continue
        disk = store.get(DISKS, namespace, ref.get("name") or "")
        claim_name = (((disk.obj.get("status") or {}).get("target") or {}).get("persistentVolumeClaimName") if disk else None) or ""
        claim = store.get(CLAIMS, namespace, claim_name) if claim_name else None
        if claim is None or v.RWX not in ((claim.obj.get("spec") or {}).get("accessModes") or []):
            out.append(ref.get("name") or "")
    return out


def register(admission: Admission, store: Store, edition: str | None = None) -> None:
    """`edition`: the cluster's Deckhouse edition (EE when not given)."""
    register_indexes(store)
    ce = edition == v.EDITION_CE

    @registrations.serve(admission, "vmop", operations=(CREATE,))
    def validate(request: AdmissionRequest) -> None:
        op = request.obj
        if op is None:
            return
        spec = op.get("spec") or {}
        selector = (spec.get("migrate") or {}).get("nodeSelector")
        if selector and ce:
            raise Denial("spec.migrate.nodeSelector (migration to chosen nodes) is not available in the CE edition")
        new_type, new_force = spec.get("type", ""), bool(spec.get("force"))
        if ce and new_type in (v.VMOP_MIGRATE, v.VMOP_EVICT) and isinstance(spec.get("virtualMachineName"), str):
            rwo = non_rwx_disks(store, op["metadata"].get("namespace", ""), spec["virtualMachineName"])
            if rwo:
                raise Denial(
                    f"the CE edition migrates only virtual machines whose disks are on ReadWriteMany volumes; not ReadWriteMany: {', '.join(rwo)}",
                )
        for key in vm_key(op):
            for entry in store.by_index(VMOPS, UNFINISHED, key):
                old = entry.obj.get("spec") or {}
                if not vm_rules.can_supersede(old.get("type", ""), bool(old.get("force")), new_type, new_force):
                    raise Denial(
                        f'the VirtualMachineOperation "{entry.name}" ({old.get("type")}{", force" if old.get("force") else ""}) of the virtual machine '
                        f'"{spec.get("virtualMachineName")}" is not finished and cannot be superseded by a {new_type}{" with force" if new_force else ""} operation: '
                        "it should finish first",
                    )
