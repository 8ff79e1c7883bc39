"""DVP's workload updater: VMs live-migrated because the platform changed under them, with one Evict operation each.

Firmware (BEHAVIOUR.md §4.7, §7.1; every edition; controllers/firmware.py): a VM whose instance runs an older
virt-launcher image than the module's release (`FirmwareUpToDate=False`) gets one `firmware-update-*` Evict
annotated `workload-update: "true"`, once the module's virt-controller has rolled the release out — once per image:
its instance (the virt-launcher pod) records the image tried (`workload-update-image`), whatever the operation ends
with. Not while an Evict or Migrate the user asked for is unfinished (its end wakes the VM here); not a second one
while an earlier workload update of the VM is unfinished (the image is recorded all the same). No Running or
Migratable check, as the platform: an operation on a VM that cannot migrate fails (or, on CE with a disk not on a
ReadWriteMany volume, is refused: a Warning Event on the VM), and the VM stays out of date until it restarts.

Node placement (BEHAVIOUR.md §3.2, §7.1, §9), EE only: a VM whose
node no longer satisfies its placement — the VM's nodeSelector / affinity or its class's nodeSelector changed — is
live-migrated to a node that does, instead of waiting for a restart (CE's way, see controllers/vm.py `changes`).

The VM must be Running (not Migrating) and Migratable; a VM that cannot live-migrate keeps the change as
restart-awaiting. Such a VM gets one `VirtualMachineOperation{generateName: nodeplacement-update-, type: Evict}`
annotated `workload-update: "true"` and with the placement's checksum (`workload-update-node-placement-sum`: md5
of the pod's nodeSelector and affinity the VM would get now). The operation is the ordinary Evict: the migration
machinery (controllers/migration.py) chooses a target the new placement, the class's available nodes, CPU
compatibility and the slots allow. One operation per placement: whatever it ends with, the same placement is not
tried again — so when no node conforms, the operation waits in TargetUnschedulable, fails after the 5-minute
preparation timeout (§6.5) and the VM keeps running where it is; the next placement change tries again. While
another operation of the VM is unfinished, none is created (its end wakes the VM here).

Costs: a reconcile reads one VM, its class, its pod (owner index), its node and its operations (by-VM index), all
by key. A VM's event wakes it only when it may newly need moving (created, spec changed, became Running or
Migratable, became out of date); a class's spec change the VMs of that class (index); an operation's event its VM."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..store.store import OWNER, Event, Store
from ..webhooks import vmop as vmop_hooks
from . import conditions as cond
from . import firmware
from .runtime import Context, Controller, Key, Requeue
from .vm import node_matches, placement
from .vmclass import BY_CLASS, vm_class_name

VMS = v.resource_key(v.VIRTUAL_MACHINE)
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
CLASSES = v.resource_key(v.VIRTUAL_MACHINE_CLASS)
PODS = v.resource_key(v.POD)
NODES = v.resource_key(v.NODE)
MANAGER = "virtualization-controller"
GENERATE_NAME = "nodeplacement-update-"  # §7.1's system Evict prefix for a placement change
WORKLOAD_UPDATE_ANNOTATION, PLACEMENT_SUM_ANNOTATION = v.WORKLOAD_UPDATE_ANNOTATION, v.PLACEMENT_SUM_ANNOTATION
RETRY = 2.0  # simulated seconds before creating again after a refused create
ROLLOUT_WAIT = 60.0  # simulated seconds between looks at a release virt-controller has not rolled out yet (the platform's)
log = logging.getLogger("dvp_simulator.controllers.workload_updater")


def placement_sum(vm: dict[str, Any], vmclass: dict[str, Any]) -> str:
    """md5 of the nodeSelector and affinity the VM's pod would get now (the platform sums the instance's)."""
    selector, affinity, _ = placement(vm, vmclass)
    text = json.dumps({"nodeSelector": selector or None, "affinity": affinity or None}, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - a checksum, as the platform's, not a security measure


def _migratable(vm: dict[str, Any]) -> bool:
    return (cond.get((vm.get("status") or {}).get("conditions") or [], v.COND_MIGRATABLE) or {}).get("status") == "True"


def _running(vm: dict[str, Any]) -> bool:
    return (vm.get("status") or {}).get("phase") == v.VM_RUNNING


def _out_of_date(vm: dict[str, Any]) -> bool:
    return (cond.get((vm.get("status") or {}).get("conditions") or [], v.COND_FIRMWARE_UP_TO_DATE) or {}).get("status") == "False"


def _instance(store: Store, vm: dict[str, Any]) -> dict[str, Any] | None:
    """The VM's virt-launcher pod (not a migration's target, not being deleted)."""
    for e in store.by_index(PODS, OWNER, vm["metadata"]["uid"]):
        meta = e.obj["metadata"]
        if not meta.get("deletionTimestamp") and v.VM_MIGRATION_TARGET_ANNOTATION not in (meta.get("annotations") or {}):
            return e.obj
    return None


def controller(store: Store, node_placement: bool = True) -> Controller:
    """`node_placement`: also move VMs whose placement changed (EE); firmware updates always."""
    vmop_hooks.register_indexes(store)
    store.add_index(VMS, BY_CLASS, vm_class_name)

    def update_firmware(ctx: Context, key: Key, vm: dict[str, Any]) -> Requeue | None:
        """The platform's firmware handler and its one-shot migration: see the module's docstring."""
        if not _out_of_date(vm):
            return None
        release = store.get(firmware.DEPLOYMENTS, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER)
        if release is None or not firmware.rolled_out(release.obj):
            return Requeue(ROLLOUT_WAIT)  # the platform waits for virt-controller to run the release first
        image = firmware.launcher_image_of(release.obj)
        pod = _instance(store, vm)
        if pod is None or (pod["metadata"].get("annotations") or {}).get(v.WORKLOAD_UPDATE_IMAGE_ANNOTATION) == image:
            return None  # no instance, or this image was tried on it already
        unfinished = [
            e.obj for e in store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{key[0]}/{key[1]}")
            if (e.obj.get("spec") or {}).get("type") in (v.VMOP_EVICT, v.VMOP_MIGRATE)
        ]  # fmt: skip
        if any(WORKLOAD_UPDATE_ANNOTATION not in (op["metadata"].get("annotations") or {}) for op in unfinished):
            return None  # the user's migration first; its end wakes the VM
        if not unfinished:
            body = {
                "apiVersion": f"{v.DVP_GROUP}/{v.DVP_VERSION}",
                "kind": v.VIRTUAL_MACHINE_OPERATION,
                "metadata": {"generateName": v.FIRMWARE_UPDATE_GENERATE_NAME, "namespace": key[0], "annotations": {WORKLOAD_UPDATE_ANNOTATION: "true"}},
                "spec": {"type": v.VMOP_EVICT, "virtualMachineName": key[1]},
            }
            rt = ctx.service.registry.types[VMOPS]
            # Refused (CE's webhook: a disk not on a ReadWriteMany volume; an unfinished operation an Evict cannot
            # supersede): the runtime reports it as a Warning Event on the VM, and the image is not recorded, so the
            # VM's next change or operation tries again (the platform retries with backoff, refused the same way).
            ctx.service.create(rt, key[0], body, WriteOptions(version=rt.storage_version, manager=MANAGER))
        pod_rt = ctx.service.registry.types[PODS]
        meta = pod["metadata"]
        annotations = {**(meta.get("annotations") or {}), v.WORKLOAD_UPDATE_IMAGE_ANNOTATION: image}
        ctx.service.update(pod_rt, meta["namespace"], meta["name"], {**pod, "metadata": {**meta, "annotations": annotations}}, WriteOptions(version="v1", manager=MANAGER))
        return None

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(VMS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return None
        requeue = update_firmware(ctx, key, entry.obj)
        if not node_placement:
            return requeue
        vm = store.get(VMS, *key).obj  # (the firmware update may have written)
        if not _running(vm) or not _migratable(vm):
            return None  # Migrating: a migration runs; not migratable: the change waits for a restart (vm.py)
        vmclass = store.get(CLASSES, "", (vm.get("spec") or {}).get("virtualMachineClassName") or "")
        pod = _instance(store, vm)
        node = store.get(NODES, "", ((pod or {}).get("spec") or {}).get("nodeName") or "") if pod else None
        if vmclass is None or node is None or node_matches(node.obj, vm, vmclass.obj):
            return None
        checksum = placement_sum(vm, vmclass.obj)
        ops = [e.obj for e in store.by_index(VMOPS, vmop_hooks.BY_VM, f"{key[0]}/{key[1]}")]
        if any((op["metadata"].get("annotations") or {}).get(PLACEMENT_SUM_ANNOTATION) == checksum for op in ops):
            return None  # this placement had its operation, whatever became of it
        if store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{key[0]}/{key[1]}"):
            return None  # another operation first (it could not be superseded by an Evict)
        body = {
            "apiVersion": f"{v.DVP_GROUP}/{v.DVP_VERSION}",
            "kind": v.VIRTUAL_MACHINE_OPERATION,
            "metadata": {
                "generateName": GENERATE_NAME,
                "namespace": key[0],
                "annotations": {WORKLOAD_UPDATE_ANNOTATION: "true", PLACEMENT_SUM_ANNOTATION: checksum},
            },
            "spec": {"type": v.VMOP_EVICT, "virtualMachineName": key[1]},
        }
        rt = ctx.service.registry.types[VMOPS]
        try:
            created = ctx.service.create(rt, key[0], body, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj
        except APIError as exc:  # an operation created meanwhile that an Evict cannot supersede: after it
            log.info("node placement update of %s/%s: %s", key[0], key[1], exc)
            return Requeue(RETRY)
        ctx.service.record_event(
            vm,
            "Normal",
            "NodePlacementUpdate",
            f"The node {node.name} no longer satisfies the placement of the virtual machine: the operation {created['metadata']['name']} migrates it.",
            MANAGER,
        )
        return None

    def of_vm(event: Event) -> list[Key]:
        """A VM may newly need moving when it became out of date, or (placement) when it is created or its spec
        changed, or when it became Running or Migratable; its other writes (status churn, a migration's progress)
        cannot change the verdict."""
        obj, prev = event.entry.obj, event.prev.obj if event.prev is not None else None
        if _out_of_date(obj) and (prev is None or not _out_of_date(prev)):
            return [(event.entry.namespace, event.entry.name)]
        if not node_placement or not _running(obj) or not _migratable(obj):
            return []
        if prev is not None and _running(prev) and _migratable(prev) and prev["metadata"].get("generation") == obj["metadata"].get("generation"):
            return []
        return [(event.entry.namespace, event.entry.name)]

    def of_class(event: Event) -> list[Key]:
        """A class's placement changed: its VMs (a status write, such as availableNodes, changes no placement)."""
        if not node_placement:
            return []
        prev = event.prev.obj if event.prev is not None else None
        if prev is not None and (prev.get("spec") or {}).get("nodeSelector") == (event.entry.obj.get("spec") or {}).get("nodeSelector"):
            return []
        return [(e.namespace, e.name) for e in store.by_index(VMS, BY_CLASS, event.entry.name)]

    def of_vmop(event: Event) -> list[Key]:
        name = (event.entry.obj.get("spec") or {}).get("virtualMachineName")
        return [(event.entry.namespace, name)] if name else []

    return Controller("workload-updater", VMS, reconcile, {CLASSES: of_class, VMOPS: of_vmop}, primary_mapper=of_vm)
