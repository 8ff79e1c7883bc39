"""VirtualMachineClass admission, exactly as the platform's webhook (BEHAVIOUR.md §3.4) — laxer than the admin
guide, blind spots included: the modules enforce the guide's stricter rules client-side."""

from __future__ import annotations

import copy
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from ..api.webhook_configs import Denial
from ..conversions import convert_vmclass
from ..store.store import Store
from . import registrations

GROUP = v.DVP_GROUP
CLASSES = v.resource_key(v.VIRTUAL_MACHINE_CLASS)
DEFAULT_ANNOTATION = v.DEFAULT_CLASS_ANNOTATION
DEFAULT_INDEX = "defaultClass"  # classes annotated as the default: answers "is there another default?" at once


def default_value(obj: dict[str, Any]) -> list[str]:
    return ["true"] if (obj["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true" else []


def _reject(request: AdmissionRequest, message: str) -> Denial:
    return Denial(message)


def _v1alpha2(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """Both versions are validated in v1alpha2 terms (integer core fractions), as the platform does."""
    return None if obj is None else convert_vmclass(copy.deepcopy(obj), v.V1ALPHA2)


def overlapping_policy(policies: list[dict[str, Any]]) -> tuple[int, int] | None:
    """The platform's overlap check, literally: only the earlier policy's endpoints are tested against the
    later one, so a later range strictly inside an earlier one is missed. Returns the offending pair."""
    seen: set[tuple[int, int]] = set()
    for i, p in enumerate(policies):
        for j, q in enumerate(policies):
            if i == j or (i, j) in seen or not p.get("cores") or not q.get("cores"):
                continue
            pc, qc = p["cores"], q["cores"]
            if qc["min"] <= pc["min"] <= qc["max"] or qc["min"] <= pc["max"] <= qc["max"]:
                return i, j
            seen.add((i, j))
            seen.add((j, i))
    return None


def register(admission: Admission, store: Store) -> None:
    store.add_index(CLASSES, DEFAULT_INDEX, default_value)

    @registrations.serve(admission, "vmclass-v1alpha3")
    @registrations.serve(admission, "vmclass-v1alpha2")
    def validate(request: AdmissionRequest) -> None:
        obj = _v1alpha2(request.obj)
        old = _v1alpha2(request.old)
        policies = obj.get("spec", {}).get("sizingPolicies") or []
        if request.operation == CREATE and any("cores" not in p for p in policies):
            raise _reject(request, "sizing policies must have cores")
        clash = overlapping_policy(policies)
        if clash is not None:
            i, j = clash
            raise _reject(
                request,
                f"sizing policy {i} cores range [{policies[i]['cores']['min']}, {policies[i]['cores']['max']}] overlaps with policy {j} [{policies[j]['cores']['min']}, {policies[j]['cores']['max']}]",
            )
        if request.operation == UPDATE and old is not None and (old.get("spec", {}).get("sizingPolicies") or []) != policies:
            if not request.dry_run:
                request.service.record_event(
                    obj, "Normal", "VMClassSizingPoliciesWereChanged", "Sizing policies of the class were changed", "virtualization-controller"
                )
        _check_default_annotation(request, obj)
        _check_default_core_fraction(request, policies, old)

    def _check_default_annotation(request: AdmissionRequest, obj: dict[str, Any]) -> None:
        value = (obj["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION)
        if value is None:
            return
        if value != "true":
            raise _reject(request, f'the annotation {DEFAULT_ANNOTATION} must be "true", not {value!r}')
        for entry in store.by_index(CLASSES, DEFAULT_INDEX, "true"):
            if entry.name != obj["metadata"]["name"]:
                raise _reject(request, f"the default VirtualMachineClass is already set: {entry.name}")

    def _check_default_core_fraction(request: AdmissionRequest, policies: list[dict[str, Any]], old: dict[str, Any] | None) -> None:
        had_auto = any(p.get("defaultCoreFraction") == "Auto" for p in (old or {}).get("spec", {}).get("sizingPolicies") or [])
        for i, policy in enumerate(policies):
            if "defaultCoreFraction" not in policy:
                continue
            value = policy["defaultCoreFraction"]
            fractions = policy.get("coreFractions") or []
            if isinstance(value, int):
                if fractions and value not in fractions:
                    raise _reject(request, f"sizing policy {i}: defaultCoreFraction {value} is not one of coreFractions {fractions}")
            elif value != "Auto":
                raise _reject(request, f"sizing policy {i}: defaultCoreFraction must be a number from 1 to 100 or Auto, not {value!r}")
            elif not had_auto:
                raise _reject(
                    request,
                    f"sizing policy {i}: defaultCoreFraction Auto needs the VerticalVirtualMachineAutoscaler and HotplugCPUAndMemoryWithInPlaceResize feature gates, which this edition does not have",
                )
