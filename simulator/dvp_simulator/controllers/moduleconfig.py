"""ModuleConfig `virtualization` → DVCR's volume: the PersistentVolumeClaim d8-virtualization/dvcr of
dvcr.storage.persistentVolumeClaim (size, storageClassName; the cluster default class when unset), created
when the settings name it and grown when the size grows; binding is volume_binding's. One get per reconcile."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from ..api.service import WriteOptions
from ..webhooks.moduleconfig import dvcr_pvc
from . import ipam
from .runtime import Context, Controller, Key, Requeue

MANAGER = "deckhouse"


def dvcr_claim(pvc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": [v.RWO], "resources": {"requests": {"storage": pvc["size"]}}, "volumeMode": v.VOLUME_MODE_FILESYSTEM}
    if pvc.get("storageClassName"):
        spec["storageClassName"] = pvc["storageClassName"]
    return {
        "apiVersion": v.CORE_VERSION,
        "kind": v.PERSISTENT_VOLUME_CLAIM,
        "metadata": {"name": v.DVCR_PVC_NAME, "namespace": v.MODULE_NAMESPACE, "labels": {"app": "dvcr", "module": "virtualization"}},
        "spec": spec,
    }


def status_of(mc: dict[str, Any]) -> dict[str, Any]:
    """What Deckhouse reports for any ModuleConfig: the settings schema version in use (the one `spec.version` names,
    else the module's current one, 1 for every module the simulator knows) — `kubectl get mc`'s VERSION column."""
    version = (mc.get("spec") or {}).get("version")
    return {**(mc.get("status") or {}), "version": str(version if isinstance(version, int) and version > 0 else 1), "message": ""}


def _report(ctx: Context, key: Key) -> dict[str, Any] | None:
    rt = ctx.service.registry.types[ipam.MODULE_CONFIGS]
    mc = ctx.service.find(rt, "", key[1])
    if mc is None or mc["metadata"].get("deletionTimestamp"):
        return None
    status = status_of(mc)
    if status != mc.get("status"):
        opts = WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status")
        mc = ctx.service.update(rt, "", key[1], {**mc, "status": status}, opts).obj
    return mc


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    reported = _report(ctx, key)
    if key[1] != v.VIRTUALIZATION_MODULE or reported is None:
        return None
    service = ctx.service
    mc = ipam.module_config(service.store)
    if mc is None or (mc.get("spec") or {}).get("enabled") is False:
        return None
    pvc = dvcr_pvc(ipam.settings_of(mc))
    try:
        if not pvc.get("size") or parse_quantity(pvc["size"]) <= 0:
            return None
    except ValueError:
        return None
    rt = service.registry.types[ipam.CLAIMS]
    opts = WriteOptions(version=v.CORE_VERSION, manager=MANAGER)
    current = service.find(rt, v.MODULE_NAMESPACE, v.DVCR_PVC_NAME)
    if current is None:
        service.create(rt, v.MODULE_NAMESPACE, dvcr_claim(pvc), opts)
        return None
    requests = ((current.get("spec") or {}).get("resources") or {}).get("requests") or {}
    if parse_quantity(pvc["size"]) > parse_quantity(requests.get("storage", "0")):
        spec = {**current["spec"], "resources": {**current["spec"].get("resources", {}), "requests": {**requests, "storage": pvc["size"]}}}
        service.update(rt, v.MODULE_NAMESPACE, v.DVCR_PVC_NAME, {**current, "spec": spec}, opts)
    return None


def controller() -> Controller:
    return Controller("moduleconfig-virtualization", ipam.MODULE_CONFIGS, reconcile)
