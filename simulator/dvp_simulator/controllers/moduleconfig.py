"""ModuleConfig reconciler: what Deckhouse and the virtualization module do with a ModuleConfig once it is stored.

- Every ModuleConfig: status.version (the settings schema version in use) and status.message, as `kubectl get mc`
  shows them (VERSION, MESSAGE); once its module is disabled (`enabled: false`), the annotation
  `modules.deckhouse.io/allow-disabling` that confirmed it is removed, as Deckhouse's module controller does.
- `virtualization`, the module's `validate-module-config` hook (BEHAVIOUR.md §8): on every change of the
  ModuleConfig, and of a node's addresses, it checks spec.settings (`dvcr` present; virtualMachineCIDRs aligned, not
  overlapping each other, the pod or service subnet, or a node address: moduleconfig_rules.hook_problems). Valid
  settings are copied into the settings in effect (ipam.effective_settings: ConfigMap d8-virtualization/
  module-settings), which IPAM, storage-class resolution and DVCR read. Invalid ones are not copied: the previous
  valid settings stay in effect (none on a config never valid), and status.message carries the hook's error
  (`HookError: ModuleConfig/virtualization is invalid: …`, as Deckhouse reports a module's last hook error) until a
  change makes the settings valid again. The webhook refuses most of these on UPDATE; a CREATE, and a node that
  comes to lie inside a CIDR, reach only the hook. A disabled module's hook does not run; deleting the ModuleConfig
  drops the settings in effect.
- `virtualization`, DVCR's volume: the PersistentVolumeClaim d8-virtualization/dvcr of the effective
  dvcr.storage.persistentVolumeClaim (size, storageClassName; the cluster default class when unset), created when the
  settings name it and grown when the size grows; binding is volume_binding's."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from ansible_collections.deckhouse.virtualization.plugins.module_utils import moduleconfig_rules as mr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from ..api.service import WriteOptions
from ..store.store import DELETED, Event, Store
from ..webhooks.moduleconfig import dvcr_pvc
from . import ipam
from .runtime import Context, Controller, Key, Requeue

MANAGER = "deckhouse"
SECRETS = v.resource_key(v.SECRET)
HOOK_ERROR = "HookError: "  # Deckhouse's prefix of a module's last hook error in the ModuleConfig's status.message
VIRTUALIZATION_KEY = ("", v.VIRTUALIZATION_MODULE)


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


def status_of(mc: dict[str, Any], message: str = "") -> dict[str, Any]:
    """What Deckhouse reports for any ModuleConfig: the settings schema version in use (the one `spec.version` names,
    else the module's current one, 1 for every module the simulator knows) — `kubectl get mc`'s VERSION column —
    and `message`, the MESSAGE column ("" when there is nothing to report)."""
    version = (mc.get("spec") or {}).get("version")
    return {**(mc.get("status") or {}), "version": str(version if isinstance(version, int) and version > 0 else 1), "message": message}


def cluster_subnets(store: Store) -> tuple[str | None, str | None]:
    """The pod and service subnets of Deckhouse's global values, which it reads from Secret
    kube-system/d8-cluster-configuration (None, None while it is missing or unreadable)."""
    entry = store.get(SECRETS, v.CLUSTER_CONFIGURATION_NAMESPACE, v.CLUSTER_CONFIGURATION_SECRET)
    raw = (entry.obj.get("data") or {}).get(v.CLUSTER_CONFIGURATION_KEY) if entry is not None else None
    if not raw:
        return None, None
    try:
        doc = yaml.safe_load(base64.b64decode(raw))
    except (ValueError, yaml.YAMLError):
        return None, None
    return (doc.get("podSubnetCIDR"), doc.get("serviceSubnetCIDR")) if isinstance(doc, dict) else (None, None)


def hook_problems(store: Store, settings: dict[str, Any]) -> list[str]:
    """The `validate-module-config` hook's verdict on spec.settings ([] when they may take effect)."""
    pod, service = cluster_subnets(store)
    return mr.hook_problems(settings, pod, service, ipam.node_addresses_in(store, settings.get("virtualMachineCIDRs")))


def _settings_text(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def _apply_settings(ctx: Context, settings: dict[str, Any] | None) -> None:
    """Make `settings` the settings in effect (ConfigMap d8-virtualization/module-settings); None: none in effect."""
    service = ctx.service
    rt = service.registry.types[ipam.CONFIG_MAPS]
    current = service.find(rt, v.MODULE_NAMESPACE, ipam.SETTINGS_CONFIG_MAP)
    opts = WriteOptions(version=v.CORE_VERSION, manager=MANAGER)
    if settings is None:
        if current is not None:
            service.delete(rt, v.MODULE_NAMESPACE, ipam.SETTINGS_CONFIG_MAP, None)
        return
    data = {ipam.SETTINGS_KEY: _settings_text(settings)}
    if current is None:
        meta = {"name": ipam.SETTINGS_CONFIG_MAP, "namespace": v.MODULE_NAMESPACE, "labels": {"heritage": "deckhouse", "module": v.VIRTUALIZATION_MODULE}}
        service.create(rt, v.MODULE_NAMESPACE, {"apiVersion": v.CORE_VERSION, "kind": v.CONFIG_MAP, "metadata": meta, "data": data}, opts)
    elif current.get("data") != data:
        service.update(rt, v.MODULE_NAMESPACE, ipam.SETTINGS_CONFIG_MAP, {**current, "data": data}, opts)


def _run_hook(ctx: Context, mc: dict[str, Any]) -> str:
    """The hook over ModuleConfig virtualization: valid settings take effect; the status message it leaves."""
    if (mc.get("spec") or {}).get("enabled") is False:
        return ""
    settings = ipam.settings_of(mc)
    problems = hook_problems(ctx.service.store, settings)
    if problems:
        return HOOK_ERROR + mr.INVALID_PREFIX + "; ".join(problems)
    _apply_settings(ctx, settings)
    return ""


def _report(ctx: Context, key: Key) -> dict[str, Any] | None:
    rt = ctx.service.registry.types[ipam.MODULE_CONFIGS]
    mc = ctx.service.find(rt, "", key[1])
    if mc is None or mc["metadata"].get("deletionTimestamp"):
        if key == VIRTUALIZATION_KEY:
            _apply_settings(ctx, None)
        return None
    message = _run_hook(ctx, mc) if key == VIRTUALIZATION_KEY else ""
    status = status_of(mc, message)
    if status != mc.get("status"):
        opts = WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status")
        mc = ctx.service.update(rt, "", key[1], {**mc, "status": status}, opts).obj
    annotations = mc["metadata"].get("annotations") or {}
    if (mc.get("spec") or {}).get("enabled") is False and v.ALLOW_DISABLING_ANNOTATION in annotations:
        # the module is disabled: its confirmation has served (a later disable asks for it again)
        rest = {name: value for name, value in annotations.items() if name != v.ALLOW_DISABLING_ANNOTATION}
        meta = {k: value for k, value in mc["metadata"].items() if k != "annotations"} | ({"annotations": rest} if rest else {})
        mc = ctx.service.update(rt, "", key[1], {**mc, "metadata": meta}, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj
    return mc


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    reported = _report(ctx, key)
    if key != VIRTUALIZATION_KEY or reported is None or (reported.get("spec") or {}).get("enabled") is False:
        return None
    service = ctx.service
    pvc = dvcr_pvc(ipam.effective_settings(service.store))
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
    if (current.get("status") or {}).get("phase") != v.PVC_BOUND:
        return None  # the API grows a bound claim only (as upstream's): a Pending one grows once bound (its binding wakes this)
    if parse_quantity(pvc["size"]) > parse_quantity(requests.get("storage", "0")):
        spec = {**current["spec"], "resources": {**current["spec"].get("resources", {}), "requests": {**requests, "storage": pvc["size"]}}}
        service.update(rt, v.MODULE_NAMESPACE, v.DVCR_PVC_NAME, {**current, "spec": spec}, opts)
    return None


def dvcr_capacity(store: Store) -> int | None:
    """The bytes DVCR's volume holds: its claim's capacity once bound; None (no limit) before there is one, as the
    simulator imports images without a ModuleConfig too."""
    entry = store.get(ipam.CLAIMS, v.MODULE_NAMESPACE, v.DVCR_PVC_NAME)
    status = (entry.obj.get("status") or {}) if entry is not None else {}
    if status.get("phase") != v.PVC_BOUND:
        return None
    try:
        return int(parse_quantity((status.get("capacity") or {}).get("storage") or "0")) or None
    except ValueError:
        return None


def node_addresses_changed(event: Event) -> list[Key]:
    """The hook watches Nodes too: a node's addresses came, went or changed (heartbeats change none of them)."""
    if event.type == DELETED:
        before, after = ipam.node_addresses(event.entry.obj), []
    else:
        before, after = (ipam.node_addresses(event.prev.obj) if event.prev is not None else []), ipam.node_addresses(event.entry.obj)
    return [VIRTUALIZATION_KEY] if before != after else []


def dvcr_claim_changed(event: Event) -> list[Key]:
    """DVCR's claim bound (or changed): a size the settings ask for may now be applied."""
    return [VIRTUALIZATION_KEY] if (event.entry.namespace, event.entry.name) == (v.MODULE_NAMESPACE, v.DVCR_PVC_NAME) else []


def controller() -> Controller:
    secondary = {
        ipam.NODES: node_addresses_changed,
        ipam.CONFIG_MAPS: ipam.on_settings(lambda event: [VIRTUALIZATION_KEY]),
        ipam.CLAIMS: dvcr_claim_changed,
    }
    return Controller("moduleconfig-virtualization", ipam.MODULE_CONFIGS, reconcile, secondary)
