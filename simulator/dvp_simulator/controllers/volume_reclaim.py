"""A PersistentVolume whose claim is gone is reclaimed per its persistentVolumeReclaimPolicy: `Delete` deletes
the volume, `Retain` (and the deprecated `Recycle`) leaves it `Released` for an administrator."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import WriteOptions
from ..store.store import Event
from .runtime import Context, Controller, Key, Requeue

VOLUMES = v.resource_key(v.PERSISTENT_VOLUME)
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
MANAGER = "persistentvolume-reclaimer"


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    service = ctx.service
    pv_rt = service.registry.types[VOLUMES]
    pv = service.find(pv_rt, "", key[1])
    if pv is None or pv["metadata"].get("deletionTimestamp"):
        return None
    ref = pv.get("spec", {}).get("claimRef")
    if not ref or pv.get("status", {}).get("phase") != "Bound":
        return None
    claim = service.store.get(CLAIMS, ref.get("namespace", ""), ref.get("name", ""))
    if claim is not None and claim.obj["metadata"].get("uid") == ref.get("uid"):
        return None
    if pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
        service.delete(pv_rt, "", key[1], {})
    else:
        service.update(pv_rt, "", key[1], {**pv, "status": {"phase": "Released"}}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
    return None


def controller() -> Controller:
    def volume_of_claim(event: Event) -> list[Key]:
        name = event.entry.obj.get("spec", {}).get("volumeName")
        return [("", name)] if name else []

    return Controller("volume-reclaim", VOLUMES, reconcile, {CLAIMS: volume_of_claim})
