"""A PersistentVolume whose claim is gone is reclaimed per its persistentVolumeReclaimPolicy, as the PV controller
does it: the volume is marked `Released` first (so the pv-protection controller lets it go,
controllers/protection.py), then `Delete` deletes it; `Retain` (and the deprecated `Recycle`) leaves it `Released`
for an administrator. A volume deleted by hand while Bound stays Terminating until its claim is gone."""

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
    if pv is None:
        return None
    ref = pv.get("spec", {}).get("claimRef")
    if not ref or pv.get("status", {}).get("phase") != "Bound":
        return None
    claim = service.store.get(CLAIMS, ref.get("namespace", ""), ref.get("name", ""))
    if claim is not None and claim.obj["metadata"].get("uid") == ref.get("uid"):
        return None
    opts = WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status")
    pv = service.update(pv_rt, "", key[1], {**pv, "status": {"phase": "Released"}}, opts).obj
    if pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete" and not pv["metadata"].get("deletionTimestamp"):
        service.delete(pv_rt, "", key[1], {})
    return None


def controller() -> Controller:
    def volume_of_claim(event: Event) -> list[Key]:
        name = event.entry.obj.get("spec", {}).get("volumeName")
        return [("", name)] if name else []

    return Controller("volume-reclaim", VOLUMES, reconcile, {CLAIMS: volume_of_claim})
