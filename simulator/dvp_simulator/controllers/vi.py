"""VirtualImage (BEHAVIOUR.md §2.1): the ClusterVirtualImage import lifecycle for one namespace, stored in DVCR
(`ContainerRegistry`: registry URL `<dvcr>/vi/<ns>/<name>:<uid>`, the CVI `Lifecycle` itself) or in a
PersistentVolumeClaim (`PersistentVolumeClaim`, or its deprecated alias `Kubernetes`: imported into DVCR, then a
claim of the resolved storage class sized to the image; see controllers/volume_lifecycle.py). InUse, the
vi-protection finalizer while a running VM mounts it, vi-cleanup always; PVCLost when its claim disappears.
"""

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import on_pvc, required_size

from ..api.service import json_copy
from ..images.datasource import mounted_by, source_referrers
from ..images.datasource import register_indexes as register_source_indexes
from ..images.dvcr import StoredImage, repository
from ..images.jobs import Importer
from ..images.units import image_size
from ..store.store import Store
from . import ipam
from .cvi import Lifecycle
from .runtime import Context, Controller, Key, Requeue, owner_keys
from .volume_lifecycle import (
    CLAIMS,
    CLASSES,
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

KIND = v.VIRTUAL_IMAGE
RESOURCE = v.resource_key(KIND)
FINALIZERS = (v.VI_CLEANUP_FINALIZER, v.VI_PROTECTION_FINALIZER)


class ImageOnPVC(VolumeLifecycle):
    kind = KIND
    claim_prefix = "vi"
    section = "virtualImages"

    def claim_size(self, image: StoredImage | None) -> tuple[int, str | None]:
        size = required_size(image.unpacked_bytes if image else 0)
        return (size, None) if size > 0 else (0, "the image's unpacked size is zero")

    def record_image(self, image: StoredImage) -> None:
        self.status.update(size=image_size(image.stored_bytes, image.unpacked_bytes), format=image.format, cdrom=image.cdrom)


def controller(importer: Importer, store: Store, address: Callable[[], str]) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        service, (namespace, name) = ctx.service, key
        rt = ctx.rt(v.DVP_GROUP, KIND)
        image = service.find(rt, namespace, name)
        if image is None:
            importer.cancel((RESOURCE, namespace, name))
            return None
        users = mounted_by(service, KIND, name, namespace)
        repo = repository("vi", name, namespace)
        if image["metadata"].get("deletionTimestamp"):
            return delete(service, importer, rt, image, repo, FINALIZERS, users, ctx.clock.stamp())
        finalizers = wanted_finalizers(image, *FINALIZERS, users)
        status = json_copy(image.get("status") or {})
        if on_pvc(image):
            requeue = ImageOnPVC(ctx, importer, address, image, status, resource=RESOURCE, repo=repo).run(users)
        else:
            status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != v.COND_STORAGE_CLASS_READY]
            requeue = Lifecycle(ctx, importer, address, image, status, resource=RESOURCE, repo=repo).run(users)
        status["observedGeneration"] = image["metadata"]["generation"]
        write_object(service, rt, image, finalizers, status)
        return requeue

    register_source_indexes(store, [RESOURCE])
    register_indexes(store, RESOURCE)

    referencing = source_referrers(store, RESOURCE)
    waiting = wake_waiting(store, RESOURCE)
    return Controller(
        "vi",
        RESOURCE,
        reconcile,
        secondary={
            CLAIMS: owner_keys(KIND),
            CLASSES: waiting,
            MODULE_SETTINGS: ipam.on_settings(waiting),
            VMS: wake_block_devices(KIND),
            RESOURCE: referencing,
            v.resource_key(v.CLUSTER_VIRTUAL_IMAGE): referencing,
            v.resource_key(v.VIRTUAL_DISK): referencing,
            v.resource_key(v.SECRET): referencing,
            QUOTAS: wake_quota_refused(store, RESOURCE),
        },
    )
