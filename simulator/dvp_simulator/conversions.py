"""Conversion between served versions of a kind (the conversion webhook of the real platform).

VirtualMachineClass: v1alpha2 (storage) writes core fractions as integers 1–100, v1alpha3 as "NN%" strings.
"""

from __future__ import annotations

from typing import Any

from .resources import Registry


def _to_percent(value: Any) -> Any:
    return f"{value}%" if isinstance(value, int) and not isinstance(value, bool) else value


def _from_percent(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return int(value[:-1])
    return value


def convert_vmclass(obj: dict[str, Any], to_version: str) -> dict[str, Any]:
    convert = _to_percent if to_version == "v1alpha3" else _from_percent
    for policy in obj.get("spec", {}).get("sizingPolicies") or []:
        if "coreFractions" in policy and isinstance(policy["coreFractions"], list):
            policy["coreFractions"] = [convert(v) for v in policy["coreFractions"]]
        if "defaultCoreFraction" in policy:
            policy["defaultCoreFraction"] = convert(policy["defaultCoreFraction"])
    return obj


def register(registry: Registry) -> None:
    rt = registry.by_kind("virtualization.deckhouse.io", "VirtualMachineClass")
    if rt is not None and len(rt.versions) > 1:
        rt.convert = convert_vmclass
