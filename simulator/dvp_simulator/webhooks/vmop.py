"""VirtualMachineOperation admission (BEHAVIOUR.md §6.2), CREATE only: a new operation is refused while an
unfinished one of the same VM cannot be superseded by it (the table is `vm_rules.can_supersede`). The unfinished
operations of a VM come from an index (`<namespace>/<vm>` of unfinished VMOPs), never a scan."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vm_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, Admission, AdmissionRequest
from ..api.errors import webhook_denied
from ..store.store import Store

GROUP = v.DVP_GROUP
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
WEBHOOK = "vmop.virtualization-controller.validate.d8-virtualization"
UNFINISHED = "unfinishedByVM"  # VMOPs in phase "", Pending or InProgress: "<namespace>/<vm>"
BY_VM = "byVM"  # every VMOP: "<namespace>/<vm>"


def vm_key(op: dict[str, Any]) -> list[str]:
    name = (op.get("spec") or {}).get("virtualMachineName")
    return [f"{op['metadata'].get('namespace', '')}/{name}"] if name else []


def unfinished_vm_key(op: dict[str, Any]) -> list[str]:
    return vm_key(op) if ((op.get("status") or {}).get("phase") or "") in vm_rules.UNFINISHED_PHASES else []


def register_indexes(store: Store) -> None:
    store.add_index(VMOPS, UNFINISHED, unfinished_vm_key)
    store.add_index(VMOPS, BY_VM, vm_key)


def register(admission: Admission, store: Store) -> None:
    register_indexes(store)

    @admission.validate(GROUP, v.VIRTUAL_MACHINE_OPERATION, operations=(CREATE,))
    def validate(request: AdmissionRequest) -> None:
        op = request.obj
        if op is None:
            return
        spec = op.get("spec") or {}
        selector = (spec.get("migrate") or {}).get("nodeSelector")
        if selector:
            raise webhook_denied(WEBHOOK, "spec.migrate.nodeSelector (migration to chosen nodes) is not available in this edition")
        new_type, new_force = spec.get("type", ""), bool(spec.get("force"))
        for key in vm_key(op):
            for entry in store.by_index(VMOPS, UNFINISHED, key):
                old = entry.obj.get("spec") or {}
                if not vm_rules.can_supersede(old.get("type", ""), bool(old.get("force")), new_type, new_force):
                    raise webhook_denied(
                        WEBHOOK,
                        f'the VirtualMachineOperation "{entry.name}" ({old.get("type")}{", force" if old.get("force") else ""}) of the virtual machine '
                        f'"{spec.get("virtualMachineName")}" is not finished and cannot be superseded by a {new_type}{" with force" if new_force else ""} operation: '
                        "it should finish first",
                    )
