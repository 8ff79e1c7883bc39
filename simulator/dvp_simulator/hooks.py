"""The virtualization module's install-time hooks, as the platform runs them once per cluster."""

from __future__ import annotations

import base64

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from .api.service import ObjectService, WriteOptions

MODULE_NAMESPACE = v.MODULE_NAMESPACE
STATE_SECRET = "module-state"
GENERIC_INSTALLED = "vmClassGenericInstallation"


def generic_class() -> dict:
    """`generic`: CPU model Nehalem, the platform's four sizing ranges; not the default class."""
    policies = [
        {"cores": {"min": 1, "max": 4}, "dedicatedCores": [False], "coreFractions": [5, 10, 20, 50, 100]},
        {"cores": {"min": 5, "max": 8}, "dedicatedCores": [False], "coreFractions": [20, 50, 100]},
        {"cores": {"min": 9, "max": 16}, "dedicatedCores": [True, False], "coreFractions": [50, 100]},
        {"cores": {"min": 17, "max": 1024}, "dedicatedCores": [True, False], "coreFractions": [100]},
    ]
    return {
        "apiVersion": f"{v.DVP_GROUP}/{v.V1ALPHA2}",
        "kind": v.VIRTUAL_MACHINE_CLASS,
        "metadata": {"name": "generic", "labels": {"app": "virtualization-controller", "module": "virtualization"}},
        "spec": {"cpu": {"type": "Model", "model": "Nehalem"}, "sizingPolicies": policies},
    }


def install_generic_class(service: ObjectService) -> None:
    """Create `generic` once; afterwards never recreate or revert it (users may edit or delete it).
    Whether it was installed is kept in the module's state Secret, as the platform's hook does."""
    secrets = service.registry.types[v.resource_key(v.SECRET)]
    state = service.find(secrets, MODULE_NAMESPACE, STATE_SECRET)
    if state is not None and GENERIC_INSTALLED in (state.get("data") or {}):
        return
    classes = service.registry.by_kind(v.DVP_GROUP, v.VIRTUAL_MACHINE_CLASS)
    if service.find(classes, "", "generic") is None:
        service.create(classes, "", generic_class(), WriteOptions(version=v.V1ALPHA2, manager="virtualization-module-hook"))
    flag = {GENERIC_INSTALLED: base64.b64encode(b"true").decode()}
    opts = WriteOptions(version=v.CORE_VERSION, manager="virtualization-module-hook")
    if state is None:
        service.create(secrets, MODULE_NAMESPACE, {"metadata": {"name": STATE_SECRET}, "type": v.SECRET_TYPE_OPAQUE, "data": flag}, opts)
    else:
        service.update(secrets, MODULE_NAMESPACE, STATE_SECRET, {**state, "data": {**(state.get("data") or {}), **flag}}, opts)
