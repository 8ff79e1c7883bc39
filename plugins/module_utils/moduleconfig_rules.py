# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the ModuleConfig `virtualization` settings (platform spec BEHAVIOUR.md §8) that both the module_config
module (client-side, before writing) and the simulator (the ModuleConfig webhook and the module's
`validate-module-config` hook) apply. Pure Python; settings are in the API's form (spec.settings).

- `dvcr` is required: without it the hook marks the config invalid and its settings never take effect.
- The hook re-runs the `virtualMachineCIDRs` checks of the webhook on every change (network_rules.cidr_problems):
  on failure the new settings are not applied and the previous valid ones stay in effect.
- `virtualImages.defaultStorageClassName` and every `virtualImages.allowedStorageClassSelector.matchNames` entry: the
  class's StorageProfile must offer volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany
  (storage_rules.Profile.usable, the rule the VirtualImage webhook applies to an explicit class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import network_rules as nr
from .storage_rules import profile
from .vocabulary import ALLOW_DISABLING_ANNOTATION as ALLOW_DISABLING

INVALID_PREFIX = "ModuleConfig/virtualization is invalid: "  # how the platform's hook words its error
UNUSABLE_CLASS = "offers no volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany"


def dvcr_problem(settings: dict[str, Any], field: str = "dvcr") -> str | None:
    """The one problem of a config without DVCR storage (None when `dvcr` is set)."""
    if (settings or {}).get("dvcr") is not None:
        return None
    return f"{field}: required: without the DVCR settings the platform marks the ModuleConfig invalid and does not apply its settings"


def hook_problems(settings: dict[str, Any], pod_subnet: str | None, service_subnet: str | None, node_addresses: Iterable[tuple[str, str]]) -> list[str]:
    """What the module's `validate-module-config` hook finds wrong in spec.settings ([] when they may take effect):
    `dvcr` missing, and the virtualMachineCIDRs checks (syntax, alignment, overlaps, the pod and service subnets, the
    nodes' addresses, (node name, address) pairs)."""
    problem = dvcr_problem(settings)
    problems = [problem] if problem else []
    return problems + nr.cidr_problems(settings.get("virtualMachineCIDRs"), "virtualMachineCIDRs", pod_subnet, service_subnet, node_addresses)


def image_class_names(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(API path, class name) of every StorageClass the image settings name: the default and each allowed name."""
    images = (settings or {}).get("virtualImages") or {}
    out = []
    if images.get("defaultStorageClassName"):
        out.append(("virtualImages.defaultStorageClassName", images["defaultStorageClassName"]))
    for name in (images.get("allowedStorageClassSelector") or {}).get("matchNames") or []:
        out.append(("virtualImages.allowedStorageClassSelector.matchNames", name))
    return out


def image_class_problems(settings: dict[str, Any], find: Callable[[str], dict[str, Any] | None], label: Callable[[str], str] = str) -> list[str]:
    """The image storage classes whose StorageProfile offers no usable claim property set, each named under
    `label(API path)`. `find(name)` returns the StorageClass or None; a class that does not exist is not a problem
    here (the platform accepts it; images on it are not provisioned)."""
    problems = []
    for path, name in image_class_names(settings):
        sc = find(name)
        if sc is not None and not profile(sc).usable:
            problems.append(f"{label(path)}: the StorageClass {name!r} {UNUSABLE_CLASS}")
    return problems


def disable_needs_confirmation(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """Whether Deckhouse asks the change of a ModuleConfig from `old` to `new` (None: its deletion) to be confirmed
    with the allow-disabling annotation: the module was enabled (`spec.enabled: true`) and no longer is. An unset
    `enabled` is not "enabled" here, as Deckhouse reads it."""
    was = ((old or {}).get("spec") or {}).get("enabled") is True
    stays = new is not None and ((new.get("spec") or {}).get("enabled") is True)
    return was and not stays


def disable_confirmed(*configs: dict[str, Any] | None) -> bool:
    """Whether any of the configs (an update's old and new) carries the allow-disabling annotation (any value)."""
    return any(ALLOW_DISABLING in (((c or {}).get("metadata") or {}).get("annotations") or {}) for c in configs)
