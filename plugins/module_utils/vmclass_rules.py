# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VirtualMachineClass rules as the admin guide states them, checked before anything is written. They are
stricter than the platform's webhook (which misses nested ranges and never checks memory): the module refuses
what the guide forbids, naming the policy index and the field. Pure Python, except CPU names (libvirt)."""

from __future__ import annotations

import re
from typing import Any

from .quantity import parse_quantity

CPU_TYPES = ("Host", "HostPassthrough", "Discovery", "Model", "Features")
FRACTION = re.compile(r"^(100|[1-9][0-9]?)%$")


def fraction_percent(value: Any) -> int | None:
    """5, "5" or "5%" → 5; None when it is not a core fraction (1–100)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 100 else None
    text = str(value).strip()
    if FRACTION.match(text):
        return int(text[:-1])
    if text.isdigit() and 1 <= int(text) <= 100:
        return int(text)
    return None


def check_cpu(cpu: dict[str, Any], cpu_map: Any | None) -> list[str]:
    """Type and its companions; model and feature names against libvirt's CPU map (with did-you-mean)."""
    problems: list[str] = []
    kind = cpu.get("type")
    given = {k for k in ("model", "features", "discovery") if cpu.get(k)}
    allowed = {"Host": set(), "HostPassthrough": set(), "Discovery": {"discovery"}, "Model": {"model"}, "Features": {"features"}}[kind]
    for extra in sorted(given - allowed):
        problems.append(f"cpu.{extra} is not allowed with cpu.type={kind}")
    if kind == "Model" and not cpu.get("model"):
        problems.append("cpu.model is required with cpu.type=Model")
    if kind == "Features" and not cpu.get("features"):
        problems.append("cpu.features needs at least one feature with cpu.type=Features")
    if cpu_map is not None:
        if kind == "Model" and cpu.get("model"):
            problem = cpu_map.check_model(cpu["model"])
            if problem:
                problems.append(f"cpu.model: {problem}")
        if kind == "Features":
            for i, feature in enumerate(cpu.get("features") or []):
                problem = cpu_map.check_feature(feature)
                if problem:
                    problems.append(f"cpu.features[{i}]: {problem}")
    return problems


def check_sizing_policies(policies: list[dict[str, Any]]) -> list[str]:
    """The admin guide's sizing rules; each problem names `sizing_policies[i].<field>`."""
    problems: list[str] = []
    previous_max: int | None = None
    for i, policy in enumerate(policies):
        where = f"sizing_policies[{i}]"
        cores = policy.get("cores") or {}
        lo, hi = cores.get("min"), cores.get("max")
        if lo is None or hi is None:
            problems.append(f"{where}.cores: min and max are required")
            continue
        if lo < 1:
            problems.append(f"{where}.cores.min: must be at least 1, got {lo}")
        if hi > 1024:
            problems.append(f"{where}.cores.max: must be at most 1024, got {hi}")
        if hi <= lo:
            problems.append(f"{where}.cores: max ({hi}) must be greater than min ({lo})")
        step = cores.get("step")
        if step is not None and (step < 1 or step >= hi):
            problems.append(f"{where}.cores.step: must be at least 1 and less than max ({hi}), got {step}")
        if previous_max is not None:
            if lo <= previous_max:
                problems.append(
                    f"{where}.cores: range [{lo}, {hi}] overlaps the previous range, which ends at {previous_max}; ranges must not overlap or touch"
                )
            elif lo != previous_max + 1:
                problems.append(f"{where}.cores.min: must be {previous_max + 1} (the previous range ends at {previous_max}; ranges are strictly sequential)")
        previous_max = hi if previous_max is None else max(previous_max, hi)
        memory = policy.get("memory") or {}
        fractions = policy.get("core_fractions") or []
        if not _has_memory(memory) and not fractions:
            problems.append(f"{where}: give memory (or memory.per_core), core_fractions, or both for every range")
        problems += _check_memory(memory, where)
        percents = []
        for j, fraction in enumerate(fractions):
            value = fraction_percent(fraction)
            if value is None:
                problems.append(f"{where}.core_fractions[{j}]: {fraction!r} is not a core fraction (1 to 100, optionally with %)")
            else:
                percents.append(value)
        if len(set(percents)) != len(percents):
            problems.append(f"{where}.core_fractions: values must be unique")
        default = policy.get("default_core_fraction")
        if default is not None and str(default) != "Auto":
            value = fraction_percent(default)
            if value is None:
                problems.append(f"{where}.default_core_fraction: {default!r} must be a core fraction (1 to 100, optionally with %) or Auto")
            elif percents and value not in percents:
                problems.append(f"{where}.default_core_fraction: {value}% must be one of core_fractions {[f'{p}%' for p in percents]}")
    return problems


def _has_memory(memory: dict[str, Any]) -> bool:
    per_core = memory.get("per_core") or {}
    return any(memory.get(k) is not None for k in ("min", "max")) or any(per_core.get(k) is not None for k in ("min", "max"))


def _check_memory(memory: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    per_core = memory.get("per_core") or {}
    total = {k: memory.get(k) for k in ("min", "max") if memory.get(k) is not None}
    if total and any(per_core.get(k) is not None for k in ("min", "max")):
        problems.append(f"{where}.memory: give either min/max or per_core, not both")
    values: dict[str, Any] = {}
    for name, raw in [
        ("min", memory.get("min")),
        ("max", memory.get("max")),
        ("step", memory.get("step")),
        ("per_core.min", per_core.get("min")),
        ("per_core.max", per_core.get("max")),
    ]:
        if raw is None:
            continue
        try:
            values[name] = parse_quantity(raw)
        except ValueError:
            problems.append(f"{where}.memory.{name}: {raw!r} is not a quantity such as 512Mi or 8Gi")
            continue
        if values[name] <= 0:
            problems.append(f"{where}.memory.{name}: must be greater than zero")
    for lo, hi in (("min", "max"), ("per_core.min", "per_core.max")):
        if lo in values and hi in values and values[lo] > values[hi]:
            problems.append(f"{where}.memory: {lo} ({_raw(memory, lo)}) must not be greater than {hi} ({_raw(memory, hi)})")
    step = values.get("step")
    if step is not None and step > 0:
        lo, hi = ("min", "max") if "min" in values else ("per_core.min", "per_core.max")
        if lo in values and hi in values:
            span = values[hi] - values[lo]
            if step > span and span > 0:
                problems.append(f"{where}.memory.step: {memory['step']} is larger than the range {_raw(memory, lo)}–{_raw(memory, hi)}")
            elif span > 0 and span % step != 0:
                problems.append(f"{where}.memory.step: the range {_raw(memory, lo)}–{_raw(memory, hi)} is not a whole number of {memory['step']} steps")
    return problems


def _raw(memory: dict[str, Any], name: str) -> Any:
    if name.startswith("per_core."):
        return (memory.get("per_core") or {}).get(name.split(".", 1)[1])
    return memory.get(name)


def policies_to_api(policies: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Module sizing policies → v1alpha3 API fields (core fractions as "NN%")."""
    if policies is None:
        return None
    out = []
    for policy in policies:
        item: dict[str, Any] = {"cores": {k: v for k, v in (policy.get("cores") or {}).items() if v is not None}}
        memory = policy.get("memory") or {}
        if memory:
            mem = {k: memory[k] for k in ("min", "max", "step") if memory.get(k) is not None}
            per_core = {k: v for k, v in (memory.get("per_core") or {}).items() if v is not None}
            if per_core:
                mem["perCore"] = per_core
            if mem:
                item["memory"] = mem
        if policy.get("core_fractions") is not None:
            item["coreFractions"] = [f"{fraction_percent(f)}%" for f in policy["core_fractions"]]
        if policy.get("dedicated_cores") is not None:
            item["dedicatedCores"] = list(policy["dedicated_cores"])
        default = policy.get("default_core_fraction")
        if default is not None:
            item["defaultCoreFraction"] = "Auto" if str(default) == "Auto" else f"{fraction_percent(default)}%"
        out.append(item)
    return out
