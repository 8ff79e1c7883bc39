# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired state against what the server holds. Pure Python.

`desired` is what the user asked for, in API form; `actual` is the object after server defaulting. The object
is up to date when every field the user gave has the same value on the server; fields the user did not give
(server defaults, status) never count as a difference. Quantities compare by value.
"""

from __future__ import annotations

import copy
from typing import Any

from .quantity import is_quantity, same_quantity


def differences(desired: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where actual does not carry the desired value ([] when up to date)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return [path or "."]
        out = []
        for key, value in desired.items():
            out += differences(value, actual.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return [path]
        out = []
        for i, (d, a) in enumerate(zip(desired, actual, strict=True)):
            out += differences(d, a, f"{path}[{i}]")
        return out
    if desired == actual:
        return []
    if isinstance(desired, (str, int)) and isinstance(actual, (str, int)) and not isinstance(desired, bool):
        if is_quantity(desired) and is_quantity(actual) and same_quantity(desired, actual):
            return []
    return [path]


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the modules return it and the inventory keeps it, as `kubectl get` shows it: without
    metadata.managedFields, the API server's bookkeeping of who set which field (a third of a running VM's values;
    Ansible's cost per task grows with the size of what the task returns). The object given is not changed; one
    without managedFields is returned as it is."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def strip_server_fields(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """An object as a diff should show it: no managedFields, no resourceVersion churn."""
    if obj is None:
        return None
    out = dict(obj)
    meta = dict(out.get("metadata", {}))
    for key in ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"):
        meta.pop(key, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != "kubectl.kubernetes.io/last-applied-configuration"}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def overlay(base: Any, over: Any) -> Any:
    """`over` laid on `base`: mappings merged key by key, anything else (lists among them) taken from `over` (a copy)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = overlay(base.get(key), value)
        return out
    return copy.deepcopy(over)
