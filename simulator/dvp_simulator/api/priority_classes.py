"""PriorityClasses as kube-apiserver keeps them, so that an admin can give VMs (spec.priorityClassName, passed to their
virt-launcher pods) priorities of their own:

- The scheduling API's validation (pkg/apis/scheduling/validation: ValidatePriorityClass, ValidatePriorityClassUpdate,
  both on an update): a name with the `system-` prefix must be one of the system classes with their value and
  globalDefault; any other class's value is at most 1,000,000,000 (HighestUserDefinablePriority); value and
  preemptionPolicy never change. The preemptionPolicy enum and its default are the schema's (schemas/core.yaml).
- The Priority admission plugin (plugin/pkg/admission/priority): a second globalDefault class is refused (403). A
  pod naming no class gets the global default one (the lowest value if a race left several); pod_defaults resolves it.
- The registry (pkg/registry/scheduling/priorityclass/storage): the two system classes cannot be deleted (403), and
  the API server creates them at start when missing (its post-start hook).

The classes whose globalDefault is true are indexed, so a pod's create finds the default without a listing.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..store.store import Store
from .admission import CREATE, DELETE, UPDATE, Admission, AdmissionRequest
from .errors import cause, forbidden, invalid
from .service import ObjectService, WriteOptions

PRIORITY_CLASSES = v.resource_key(v.PRIORITY_CLASS)
# what kube-apiserver's scheduling post-start hook creates (pkg/apis/scheduling: SystemPriorityClasses)
SYSTEM_PRIORITY_CLASSES = (
    ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
)
SYSTEM_VALUES = {name: value for name, value, _ in SYSTEM_PRIORITY_CLASSES}
SYSTEM_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1000000000
DEFAULT_PREEMPTION = "PreemptLowerPriority"
GLOBAL_DEFAULT_INDEX = "priorityclass-global-default"


def marked_default(obj: dict[str, Any]) -> list[str]:
    """GLOBAL_DEFAULT_INDEX: a class marked globalDefault is found under "true"."""
    return ["true"] if obj.get("globalDefault") is True else []


def default_class(store: Store) -> dict[str, Any] | None:
    """The global default class (the Priority plugin's getDefaultPriorityClass: the lowest value among several)."""
    defaults = [e.obj for e in store.by_index(PRIORITY_CLASSES, GLOBAL_DEFAULT_INDEX, "true")]
    return min(defaults, key=lambda pc: pc.get("value") or 0) if defaults else None


def _known_system_class_error(name: str, value: Any, global_default: bool) -> str | None:
    """IsKnownSystemPriorityClass's error (None: a system class as the API server creates it)."""
    if name not in SYSTEM_VALUES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_VALUES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_VALUES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


def class_causes(pc: dict[str, Any], old: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """ValidatePriorityClass (and, on an update, ValidatePriorityClassUpdate) beyond the schema's types and enum."""
    name = pc["metadata"].get("name", "")
    value = pc.get("value") or 0
    causes = []
    if name.startswith(SYSTEM_PREFIX):
        error = _known_system_class_error(name, value, pc.get("globalDefault") is True)
        if error:
            why = f"Forbidden: priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. error: {error}"
            causes.append(cause("metadata.name", why, "FieldValueForbidden"))
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(cause("value", f"Forbidden: maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}", "FieldValueForbidden"))
    if old is not None:
        if value != (old.get("value") or 0):
            causes.append(cause("value", "Forbidden: may not be changed in an update.", "FieldValueForbidden"))
        if pc.get("preemptionPolicy") != old.get("preemptionPolicy"):
            shown = pc.get("preemptionPolicy")
            causes.append(cause("preemptionPolicy", f'Invalid value: "{shown}": field is immutable', "FieldValueInvalid"))
    return causes


def validate(request: AdmissionRequest) -> None:
    pc = request.obj or {}
    causes = class_causes(pc, request.old if request.operation == UPDATE else None)
    if causes:
        raise invalid(v.SCHEDULING_GROUP, v.PRIORITY_CLASS, pc["metadata"].get("name", ""), causes)
    if pc.get("globalDefault") is True:
        existing = default_class(request.service.store)
        if existing is not None and (request.operation == CREATE or existing["metadata"]["name"] != pc["metadata"].get("name")):
            raise forbidden(request, f"PriorityClass {existing['metadata']['name']} is already marked as default. Only one default can exist")


def refuse_system_delete(request: AdmissionRequest) -> None:
    name = (request.old or {}).get("metadata", {}).get("name", "")
    if name in SYSTEM_VALUES:
        raise forbidden(request, "this is a system priority class and cannot be deleted")


def seed(service: ObjectService) -> None:
    """kube-apiserver's system PriorityClasses, created at start when missing."""
    rt = service.registry.types[PRIORITY_CLASSES]
    for name, value, description in SYSTEM_PRIORITY_CLASSES:
        if service.find(rt, "", name) is None:
            body = {"metadata": {"name": name}, "value": value, "description": description, "preemptionPolicy": DEFAULT_PREEMPTION}
            service.create(rt, "", body, WriteOptions(version="v1", manager="kube-apiserver"))


def register(admission: Admission, store: Store) -> None:
    store.add_index(PRIORITY_CLASSES, GLOBAL_DEFAULT_INDEX, marked_default)
    admission.validate(v.SCHEDULING_GROUP, v.PRIORITY_CLASS, operations=(CREATE, UPDATE))(validate)
    admission.validate(v.SCHEDULING_GROUP, v.PRIORITY_CLASS, operations=(DELETE,))(refuse_system_delete)
