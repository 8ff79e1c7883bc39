"""Conversion between served versions of a kind (the conversion webhook of the real platform).

VirtualMachineClass: v1alpha2 (storage) writes core fractions as integers 1–100, v1alpha3 as "NN%" strings.
events.k8s.io/v1 Event: a view of the core/v1 Events (stored as such), with the fields renamed as kube-apiserver's
conversion renames them; eventTime, series, related, action, reason, type and reportingInstance keep their names.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from .resources import Registry, View

# events.k8s.io/v1 field ← core/v1 field
EVENT_FIELDS = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}


def _to_percent(value: Any) -> Any:
    return f"{value}%" if isinstance(value, int) and not isinstance(value, bool) else value


def _from_percent(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return int(value[:-1])
    return value


def convert_vmclass(obj: dict[str, Any], to_version: str) -> dict[str, Any]:
    convert = _to_percent if to_version == v.V1ALPHA3 else _from_percent
    for policy in obj.get("spec", {}).get("sizingPolicies") or []:
        if "coreFractions" in policy and isinstance(policy["coreFractions"], list):
            policy["coreFractions"] = [convert(fraction) for fraction in policy["coreFractions"]]
        if "defaultCoreFraction" in policy:
            policy["defaultCoreFraction"] = convert(policy["defaultCoreFraction"])
    return obj


def _rename(obj: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """obj with each field `old` of `names` moved to `names[old]` (the other group's fields dropped first: a
    body may not set a field of the other group's form)."""
    for new in names.values():
        obj.pop(new, None)
    for old, new in names.items():
        if old in obj:
            obj[new] = obj.pop(old)
    return obj


def core_event_to_events_v1(obj: dict[str, Any]) -> dict[str, Any]:
    return _rename(obj, {core: events for events, core in EVENT_FIELDS.items()})


def events_v1_to_core_event(obj: dict[str, Any]) -> dict[str, Any]:
    return _rename(obj, EVENT_FIELDS)


def register(registry: Registry) -> None:
    rt = registry.by_kind(v.DVP_GROUP, v.VIRTUAL_MACHINE_CLASS)
    if rt is not None and len(rt.versions) > 1:
        rt.convert = convert_vmclass
    core_events, events_v1 = registry.by_kind(v.CORE_GROUP, v.EVENT), registry.by_kind(v.EVENTS_GROUP, v.EVENT)
    if core_events is not None and events_v1 is not None:
        events_v1.view = View(core_events, core_event_to_events_v1, events_v1_to_core_event)
