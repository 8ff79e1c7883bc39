"""ModuleConfig `virtualization` admission (BEHAVIOUR.md §8): UPDATE only, and only when the generation changes.

- virtualMachineCIDRs: aligned networks, no overlaps, none over a node InternalIP/ExternalIP, the pod subnet or
  the service subnet; an entry cannot be removed (rewriting it differently counts) while a lease of any phase —
  Released ones within their 10 minutes too — holds an address inside; once set, the list cannot be cleared;
- DVCR: once PVC d8-virtualization/dvcr exists, its size never decreases and its storageClassName never changes;
- virtualImages.defaultStorageClassName and each allowedStorageClassSelector.matchNames entry: the class's
  StorageProfile offers volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany (a class that does not
  exist is accepted);
- featureGates newly added: none on CE; HotplugCPUAndMemoryWithInPlaceResize needs Kubernetes 1.33, GPU 1.34;
- audit.enabled: true needs the log-shipper and runtime-audit-engine modules enabled and an edition other than CE
  (the admin guide's rule);
- and, on CREATE and UPDATE, Deckhouse's own check of spec.settings against the module's settings schema (types,
  enums, patterns, no unknown field): before it, a setting of any shape was accepted and silently ignored.
- and Deckhouse's confirmation of a disable (§8; the module's `disable.confirmation`): an UPDATE from
  `enabled: true` to `false`, or a DELETE of a config with `enabled: true`, is refused unless the config carries the
  annotation `modules.deckhouse.io/allow-disabling` (the old or the new one, on an UPDATE), with the module's own
  warning; Deckhouse removes the annotation once the module is disabled (controllers/moduleconfig.py).

Node addresses and leases inside a CIDR come from indexes (controllers/ipam.py): the cost is what is found.
A ModuleConfig created with settings these checks would refuse is admitted, as on the platform: the module's hook
(controllers/moduleconfig.py) then keeps them from taking effect."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import moduleconfig_rules as mr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from ..api.admission import CREATE, DELETE, UPDATE, Admission, AdmissionRequest
from ..api.discovery import SERVER_VERSION
from ..api.errors import webhook_denied
from ..api.service import json_copy
from ..api.validation import SchemaOps
from ..api.webhook_configs import Denial
from ..controllers import ipam
from ..nodes.topology import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, Topology
from ..schemas.dsl import module_settings_schema
from ..store.store import Store
from . import registrations

SETTINGS_WEBHOOK = "module-configs.deckhouse-webhook.deckhouse.io"  # Deckhouse's own check of every module's settings
CLASSES = v.resource_key(v.STORAGE_CLASS)
GATE_MIN_MINOR = {"HotplugCPUAndMemoryWithInPlaceResize": 33, "GPU": 34}


def dvcr_pvc(settings: dict[str, Any]) -> dict[str, Any]:
    return (((settings.get("dvcr") or {}).get("storage") or {}).get("persistentVolumeClaim")) or {}


def cidr_denials(store: Store, old: dict[str, Any], new: dict[str, Any], pod_cidr: str, service_cidr: str) -> list[str]:
    old_cidrs, new_cidrs = old.get("virtualMachineCIDRs") or [], new.get("virtualMachineCIDRs")
    if old_cidrs and not new_cidrs:
        return ["virtualMachineCIDRs: once configured, the list cannot be cleared"]
    problems = nr.cidr_problems(new_cidrs, "virtualMachineCIDRs", pod_cidr, service_cidr, ipam.node_addresses_in(store, new_cidrs))
    for cidr in nr.removed_cidrs(old_cidrs, new_cidrs or []):
        leases = ipam.leases_in(store, cidr)
        if leases:
            held = ", ".join(_holder(e.obj) for e in leases[:5]) + (f" and {len(leases) - 5} more" if len(leases) > 5 else "")
            problems.append(f"virtualMachineCIDRs: {cidr} cannot be removed: addresses in it are leased ({held})")
    return problems


def _holder(lease: dict[str, Any]) -> str:
    ref = (lease.get("spec") or {}).get("virtualMachineIPAddressRef") or {}
    phase = (lease.get("status") or {}).get("phase") or v.PENDING
    who = f"{ref.get('namespace')}/{ref['name']}" if ref.get("name") else f"released in namespace {ref.get('namespace')}"
    return f"{lease['metadata']['name']} ({phase}, {who})"


def dvcr_denials(store: Store, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if store.get(ipam.CLAIMS, v.MODULE_NAMESPACE, v.DVCR_PVC_NAME) is None:
        return []
    before, after = dvcr_pvc(old), dvcr_pvc(new)
    problems = []
    try:
        if before.get("size") and after.get("size") and parse_quantity(after["size"]) < parse_quantity(before["size"]):
            problems.append(f"dvcr.storage.persistentVolumeClaim.size: cannot decrease from {before['size']} to {after['size']}")
    except ValueError as exc:
        problems.append(f"dvcr.storage.persistentVolumeClaim.size: {exc}")
    if before.get("storageClassName") != after.get("storageClassName"):
        problems.append(
            f"dvcr.storage.persistentVolumeClaim.storageClassName: cannot change from {before.get('storageClassName') or '(cluster default)'} "
            f"to {after.get('storageClassName') or '(cluster default)'} once the DVCR volume {v.MODULE_NAMESPACE}/{v.DVCR_PVC_NAME} exists"
        )
    return problems


def image_class_denials(store: Store, new: dict[str, Any]) -> list[str]:
    def find(name: str) -> dict[str, Any] | None:
        entry = store.get(CLASSES, "", name)
        return entry.obj if entry is not None else None

    return mr.image_class_problems(new, find)


def gate_denials(old: dict[str, Any], new: dict[str, Any], edition: str) -> list[str]:
    added = [g for g in new.get("featureGates") or [] if g not in (old.get("featureGates") or [])]
    problems = []
    minor = int(SERVER_VERSION["minor"])
    for gate in added:
        if edition == v.EDITION_CE:
            problems.append(f"featureGates: {gate} is not available in the CE edition")
        elif GATE_MIN_MINOR.get(gate, 0) > minor:
            problems.append(f"featureGates: {gate} requires Kubernetes 1.{GATE_MIN_MINOR[gate]} or newer, the cluster runs {SERVER_VERSION['gitVersion']}")
    return problems


def audit_denials(store: Store, new: dict[str, Any], edition: str) -> list[str]:
    if (new.get("audit") or {}).get("enabled") is not True:
        return []
    problems = []
    if edition == v.EDITION_CE:
        problems.append("audit.enabled: security event audit is not available in the CE edition")
    missing = [m for m in (v.LOG_SHIPPER_MODULE, v.RUNTIME_AUDIT_ENGINE_MODULE) if not ipam.module_enabled(store, m)]
    if missing:
        problems.append(f"audit.enabled: needs the modules {', '.join(missing)} enabled (ModuleConfig spec.enabled: true)")
    return problems


@lru_cache(maxsize=1)
def _settings_ops() -> SchemaOps:
    return SchemaOps(module_settings_schema(v.VIRTUALIZATION_MODULE))


def settings_denials(settings: Any) -> list[str]:
    """spec.settings against the module's settings schema (schemas/settings-virtualization.yaml, held to the
    platform's by the conformance tests), as Deckhouse's ModuleConfig webhook checks them: types, enums, patterns,
    required fields, and no field the schema does not have. But a missing `dvcr`: the module's hook marks such a
    config invalid rather than the webhook refusing it (BEHAVIOUR.md §8)."""
    if settings is None:
        return []
    if not isinstance(settings, dict):
        return ["settings: must be an object"]
    ops = _settings_ops()
    unknown = ops.prune(json_copy(settings))
    problems = [f"settings.{path}: is a forbidden property (the module's settings have no such field)" for path in unknown]
    causes = [c for c in ops.validate(settings) if not (c.get("field") == "dvcr" and c.get("reason") == "FieldValueRequired")]
    problems += [f"settings.{c['field']}: {c['message']}" if c.get("field") else f"settings: {c['message']}" for c in causes]
    return problems


# The module's `disable` block (the virtualization module's module.yaml), and Deckhouse's suffix to it
DISABLE_MESSAGE = (
    "Attention!\n\nDisabling this module will stop all services responsible for creating and running virtual machines.\n"
    "Before disabling the module, be sure to do the following:\n\n"
    "- Make sure that all resources created using the module (virtual machines, disks, images, etc.) are deleted.\n"
    "- Check for active resources using the command: `kubectl get virtualization`. If there are objects left in the command output, "
    "remove them before deactivating the module.\n\nFailure to do so may result in data loss or incorrect system operation."
)
DISABLE_SUFFIX = f"Please annotate ModuleConfig with `{v.ALLOW_DISABLING_ANNOTATION}=true` if you're sure that you want to disable the module."


def disable_denial(operation: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """Deckhouse's refusal of an unconfirmed disable of the module, or None: an UPDATE from enabled to not enabled
    without the annotation on either version, a DELETE of an enabled config without it (moduleconfig_rules)."""
    after = new if operation == UPDATE else None
    if mr.disable_needs_confirmation(old, after) and not mr.disable_confirmed(old, after):
        return DISABLE_MESSAGE + DISABLE_SUFFIX
    return None


def register(admission: Admission, store: Store, topology: Topology | None) -> None:
    """The cluster's pod and service subnets and edition come from the topology (the defaults without one)."""
    ipam.register_indexes(store)
    pod_cidr = topology.pod_cidr if topology else DEFAULT_POD_CIDR
    service_cidr = topology.service_cidr if topology else DEFAULT_SERVICE_CIDR
    edition = topology.edition if topology else v.EDITION_EE

    @admission.validate(v.DECKHOUSE_GROUP, v.MODULE_CONFIG, operations=(CREATE, UPDATE))
    def validate_settings(request: AdmissionRequest) -> None:
        if request.obj is None or request.obj["metadata"]["name"] != v.VIRTUALIZATION_MODULE:
            return
        problems = settings_denials((request.obj.get("spec") or {}).get("settings"))
        if problems:
            raise webhook_denied(SETTINGS_WEBHOOK, "; ".join(problems))

    @admission.validate(v.DECKHOUSE_GROUP, v.MODULE_CONFIG, operations=(UPDATE, DELETE))
    def confirm_disable(request: AdmissionRequest) -> None:
        config = request.obj if request.obj is not None else request.old
        if config is None or config["metadata"]["name"] != v.VIRTUALIZATION_MODULE:
            return
        denial = disable_denial(request.operation, request.old, request.obj)
        if denial:
            raise webhook_denied(SETTINGS_WEBHOOK, denial)

    @registrations.serve(admission, "moduleconfig", operations=(UPDATE,))
    def validate(request: AdmissionRequest) -> None:
        if request.obj is None or request.obj["metadata"]["name"] != v.VIRTUALIZATION_MODULE or not request.generation_changed:
            return
        old, new = ipam.settings_of(request.old), ipam.settings_of(request.obj)
        problems = cidr_denials(store, old, new, pod_cidr, service_cidr) + dvcr_denials(store, old, new) + image_class_denials(store, new)
        problems += gate_denials(old, new, edition) + audit_denials(store, new, edition)
        if problems:
            raise Denial("; ".join(problems))
