"""VirtualDisk (BEHAVIOUR.md §2.2-2.4): a blank disk of spec.persistentVolumeClaim.size, or one filled from a
ClusterVirtualImage, a VirtualImage, an HTTP / ContainerImage / Upload source (imported into DVCR first, as the
platform does), backed by a PersistentVolumeClaim whose binding it follows (controllers/volume_lifecycle.py).

- size: the spec's, or the image's unpacked size rounded up to a MiB; a smaller spec size → Failed
  ("pvc size is insufficient"); an ISO source → Failed.
- grow-only resize: a larger spec size is written to the claim; Resizing until the claim's capacity reaches it
  (controllers/storage.py expands volumes), then Ready with the new capacity.
- attachedToVirtualMachines from the VMs listing the disk in status.blockDeviceRefs (an index of VMs), mounted
  when the VM is not Stopped; InUse and the vd-protection finalizer while mounted.
- phase Migrating while its `Migrating` condition is True: an EE storage migration (controllers/volume_migration.py,
  which writes migrationState, the condition and, at its end, the claim the disk is on) moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import disk_size, to_bytes

from ..api.service import WriteOptions, json_copy
from ..images.datasource import Readiness, mounted_by, object_value, source_referrers
from ..images.datasource import register_indexes as register_source_indexes
from ..images.dvcr import StoredImage, repository
from ..images.jobs import Importer
from ..store.store import Store
from . import conditions, ipam
from .runtime import Context, Controller, Key, Requeue, owner_keys
from .volume_lifecycle import (
    ATTACHED_INDEX,
    CLAIMS,
    CLASSES,
    MANAGER,
    MODULE_SETTINGS,
    QUOTAS,
    VMS,
    VolumeLifecycle,
    delete,
    register_indexes,
    wake_block_devices,
    wake_quota_refused,
    wake_waiting,
    wanted_finalizers,
    write_object,
)

KIND = v.VIRTUAL_DISK
RESOURCE = v.resource_key(KIND)
FINALIZERS = (v.VD_CLEANUP_FINALIZER, v.VD_PROTECTION_FINALIZER)
NOT_FOUND = {v.REASON_CLUSTER_IMAGE_NOT_READY: v.REASON_CLUSTER_IMAGE_NOT_FOUND, v.REASON_IMAGE_NOT_READY: v.REASON_IMAGE_NOT_FOUND}


class DiskLifecycle(VolumeLifecycle):
    kind = KIND
    claim_prefix = "vd"
    section = "virtualDisks"
    class_not_ready_reason = v.REASON_STORAGE_CLASS_IS_NOT_READY

    def source_readiness(self) -> Readiness:
        readiness = super().source_readiness()
        if readiness.ready:
            return readiness
        missing = readiness.message.endswith("not found.")
        reason = NOT_FOUND.get(readiness.reason, readiness.reason) if missing else readiness.reason
        self.condition(v.COND_DATASOURCE_READY, "False", reason, readiness.message)
        ready_reason = v.REASON_DATASOURCE_IS_NOT_FOUND if missing else v.REASON_DATASOURCE_IS_NOT_READY
        self.condition(v.COND_READY, "False", ready_reason, readiness.message)
        return readiness

    def claim_size(self, image: StoredImage | None) -> tuple[int, str | None]:
        size = (self.spec.get("persistentVolumeClaim") or {}).get("size")
        if image is None:
            return to_bytes(size) or 0, None
        if image.cdrom:
            return 0, "cannot create a disk from an ISO image (the source's format is iso): use it as a CD-ROM of the virtual machine instead"
        return disk_size(size, image.unpacked_bytes)

    def bound(self, claim: dict[str, Any]) -> Requeue | None:
        want = to_bytes((self.spec.get("persistentVolumeClaim") or {}).get("size"))
        requests = (claim["spec"].get("resources") or {}).get("requests") or {}
        capacity = (claim.get("status", {}).get("capacity") or {}).get("storage")
        if want is not None and want > (to_bytes(requests.get("storage")) or 0):
            size = self.spec["persistentVolumeClaim"]["size"]
            body = {**claim, "spec": {**claim["spec"], "resources": {**claim["spec"].get("resources", {}), "requests": {**requests, "storage": size}}}}
            claim = self.service.update(self.claim_rt, self.namespace, claim["metadata"]["name"], body, _claim_options()).obj
            requests = claim["spec"]["resources"]["requests"]
        if (to_bytes(requests.get("storage")) or 0) > (to_bytes(capacity) or 0):
            self.status["phase"] = v.RESIZING
            self.condition(v.COND_RESIZING, "True", v.REASON_RESIZING, f"Resizing the PersistentVolumeClaim from {capacity} to {requests.get('storage')}.")
            return None
        if (conditions.get(self.conditions, v.COND_RESIZING) or {}).get("status") == "True":
            self.condition(v.COND_RESIZING, "False", v.REASON_RESIZED, f"The disk was resized to {capacity}.")
        self.status["capacity"] = capacity
        result = super().bound(claim)
        if (conditions.get(self.conditions, v.COND_VD_MIGRATING) or {}).get("status") == "True":
            self.status["phase"] = v.MIGRATING  # a storage migration moves the disk (§2.2, controllers/volume_migration.py)
        return result


    def restart(self) -> Requeue:
        self.service.record_event(self.cvi, "Normal", v.EVENT_VD_SPEC_CHANGED, "Spec changes are detected: import process is restarted by controller.", MANAGER)
        return super().restart()


def _claim_options() -> WriteOptions:
    return WriteOptions(version=v.CORE_VERSION, manager="virtualization-controller")


def controller(importer: Importer, store: Store, address: Callable[[], str]) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        service, (namespace, name) = ctx.service, key
        rt = ctx.rt(v.DVP_GROUP, KIND)
        disk = service.find(rt, namespace, name)
        if disk is None:
            importer.cancel((RESOURCE, namespace, name))
            return None
        users = mounted_by(service, KIND, name, namespace)
        repo = repository("vd", name, namespace)
        if disk["metadata"].get("deletionTimestamp"):
            return delete(service, importer, rt, disk, repo, FINALIZERS, users, ctx.clock.stamp())
        finalizers = wanted_finalizers(disk, *FINALIZERS, users)
        status = json_copy(disk.get("status") or {})
        requeue = DiskLifecycle(ctx, importer, address, disk, status, resource=RESOURCE, repo=repo).run(users)
        attached = store.by_index(VMS, ATTACHED_INDEX, object_value(KIND, namespace, name))
        status["attachedToVirtualMachines"] = [{"name": e.name, "mounted": f"{e.namespace}/{e.name}" in users} for e in attached]
        if not status["attachedToVirtualMachines"]:
            status.pop("attachedToVirtualMachines")
        status["observedGeneration"] = disk["metadata"]["generation"]
        write_object(service, rt, disk, finalizers, status)
        return requeue

    register_source_indexes(store, [RESOURCE])
    register_indexes(store, RESOURCE)

    referencing = source_referrers(store, RESOURCE)
    waiting = wake_waiting(store, RESOURCE)
    return Controller(
        "vd",
        RESOURCE,
        reconcile,
        secondary={
            CLAIMS: owner_keys(KIND),
            CLASSES: waiting,
            MODULE_SETTINGS: ipam.on_settings(waiting),
            VMS: wake_block_devices(KIND),
            v.resource_key(v.CLUSTER_VIRTUAL_IMAGE): referencing,
            v.resource_key(v.VIRTUAL_IMAGE): referencing,
            v.resource_key(v.SECRET): referencing,
            QUOTAS: wake_quota_refused(store, RESOURCE),
        },
    )
