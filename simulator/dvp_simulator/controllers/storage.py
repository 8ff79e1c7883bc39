"""The cluster's storage: the topology's StorageClasses (created at start), each class's pool capacity, and
volume expansion.

A class carries what the platform learns from CDI's StorageProfile — the access modes and the volume mode a claim
of the class can have — as annotations on the StorageClass (`storageprofile.dvp-sim.deckhouse.io/access-modes`,
`…/volume-mode`), and the size of its simulated pool as `storage.dvp-sim.deckhouse.io/capacity` (no annotation:
unlimited). The provisioner (controllers/volume_binding.py) refuses a claim whose access modes the class does not
offer, or that does not fit in what is left of the pool; the `Ledger` counts what the class's volumes hold, fed by
PersistentVolume events (never by listing the volumes).

Expansion, as the CSI external-resizer and kubelet do it together: a Bound claim whose request grows beyond its
capacity gets its volume and `status.capacity` grown at once when the class has `allowVolumeExpansion` and the pool
has room; otherwise a Warning Event says why and the claim keeps its size.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import to_bytes

from ..api.service import ObjectService, WriteOptions
from ..nodes.topology import StorageClassSpec
from ..store.store import DELETED, Event
from .runtime import Context, Controller, Key, Requeue

CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
VOLUMES = v.resource_key(v.PERSISTENT_VOLUME)
CLASSES = v.resource_key(v.STORAGE_CLASS)
RESIZER = "external-resizer"


def storage_class(spec: StorageClassSpec) -> dict[str, Any]:
    """The StorageClass object of a topology class (pure)."""
    annotations = {
        v.STORAGE_PROFILE_ACCESS_MODES_ANNOTATION: ",".join(spec.access_modes),
        v.STORAGE_PROFILE_VOLUME_MODE_ANNOTATION: spec.volume_mode,
        v.STORAGE_CAPACITY_ANNOTATION: spec.capacity,
    }
    if spec.default:
        annotations[v.DEFAULT_STORAGE_CLASS_ANNOTATION] = "true"
    meta: dict[str, Any] = {"name": spec.name, "annotations": annotations}
    if spec.deprecated:
        meta["labels"] = {v.DEPRECATED_SC_LABEL: v.DEPRECATED_SC_VALUE}
    return {
        "apiVersion": f"{v.STORAGE_GROUP}/{v.CORE_VERSION}",
        "kind": v.STORAGE_CLASS,
        "metadata": meta,
        "provisioner": spec.provisioner,
        "reclaimPolicy": spec.reclaim_policy,
        "volumeBindingMode": spec.binding_mode,
        "allowVolumeExpansion": spec.allow_expansion,
    }


def seed_classes(service: ObjectService, specs: list[StorageClassSpec]) -> None:
    """Create the topology's classes that do not exist yet (an administrator's later edits are kept)."""
    rt = service.registry.types[CLASSES]
    for spec in specs:
        if service.find(rt, "", spec.name) is None:
            service.create(rt, "", storage_class(spec), WriteOptions(version=v.CORE_VERSION, manager="dvp-sim"))


def pool_size(sc: dict[str, Any] | None) -> int | None:
    """The class's pool in bytes; None when unlimited."""
    return to_bytes(((sc or {}).get("metadata") or {}).get("annotations", {}).get(v.STORAGE_CAPACITY_ANNOTATION))


def volume_bytes(pv: dict[str, Any]) -> int:
    return to_bytes((pv.get("spec", {}).get("capacity") or {}).get("storage")) or 0


class Ledger:
    """Bytes held by each class's volumes, kept in step with PersistentVolume events."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}
        self.seen: dict[str, tuple[str, int]] = {}  # volume name -> (class, bytes) as last counted

    def observe(self, event: Event) -> list[Key]:
        pv = event.entry.obj
        name = pv["metadata"]["name"]
        old = self.seen.pop(name, None)
        if old is not None:
            self.used[old[0]] = self.used.get(old[0], 0) - old[1]
        if event.type != DELETED:
            now = (pv.get("spec", {}).get("storageClassName") or "", volume_bytes(pv))
            self.seen[name] = now
            self.used[now[0]] = self.used.get(now[0], 0) + now[1]
        return []

    def room(self, sc: dict[str, Any]) -> int | None:
        """Bytes left in the class's pool; None when unlimited."""
        size = pool_size(sc)
        return None if size is None else size - self.used.get(sc["metadata"]["name"], 0)

    def controller(self) -> Controller:
        return Controller("storage-ledger", "", _nothing, {VOLUMES: self.observe})


async def _nothing(ctx: Context, key: Key) -> None:
    return None


def expansion_controller(ledger: Ledger) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        service = ctx.service
        claim_rt, pv_rt = service.registry.types[CLAIMS], service.registry.types[VOLUMES]
        claim = service.find(claim_rt, *key)
        if claim is None or claim.get("status", {}).get("phase") != v.PVC_BOUND or claim["metadata"].get("deletionTimestamp"):
            return None
        wanted = to_bytes((claim.get("spec", {}).get("resources", {}).get("requests") or {}).get("storage")) or 0
        have = to_bytes((claim["status"].get("capacity") or {}).get("storage")) or 0
        if wanted <= have:
            return None
        pv = service.find(pv_rt, "", claim["spec"].get("volumeName", ""))
        if pv is None:
            return None
        sc = service.find(service.registry.types[CLASSES], "", pv["spec"].get("storageClassName", ""))
        if sc is None or not sc.get("allowVolumeExpansion"):
            service.record_event(
                claim, "Warning", "ExternalExpanding", f"the StorageClass of volume {pv['metadata']['name']} does not allow volume expansion", RESIZER
            )
            return None
        room = ledger.room(sc)
        if room is not None and wanted - volume_bytes(pv) > room:
            service.record_event(claim, "Warning", "VolumeResizeFailed", f"not enough space in the pool of StorageClass {sc['metadata']['name']}", RESIZER)
            return None
        size = claim["spec"]["resources"]["requests"]["storage"]
        opts = WriteOptions(version=v.CORE_VERSION, manager=RESIZER)
        service.update(pv_rt, "", pv["metadata"]["name"], {**pv, "spec": {**pv["spec"], "capacity": {**pv["spec"].get("capacity", {}), "storage": size}}}, opts)
        status = {**claim["status"], "capacity": {**(claim["status"].get("capacity") or {}), "storage": size}}
        service.update(claim_rt, *key, {**claim, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=RESIZER, subresource="status"))
        service.record_event(claim, "Normal", "VolumeResizeSuccessful", f"resize volume {pv['metadata']['name']} to {size} succeeded", RESIZER)
        return None

    return Controller("volume-expansion", CLAIMS, reconcile)
