# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_class modules' flow over the shared ensure/wait pieces."""

from __future__ import annotations

from typing import Any

from .client import DVPClient
from .ensure import Ensurer
from .errors import DVPError
from .kinds import NODE, VIRTUAL_MACHINE, VIRTUAL_MACHINE_CLASS
from .vmclass_rules import policies_to_api
from .waiter import phase_in

DEFAULT_ANNOTATION = "virtualmachineclass.virtualization.deckhouse.io/is-default-class"
MODEL_LABEL = "cpu-model.node.virtualization.deckhouse.io/"
FEATURE_LABEL = "cpu-feature.node.virtualization.deckhouse.io/"


def desired_class(params: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    cpu = params["cpu"]
    spec_cpu: dict[str, Any] = {"type": cpu["type"]}
    if cpu.get("model"):
        spec_cpu["model"] = cpu["model"]
    if cpu.get("features"):
        spec_cpu["features"] = list(cpu["features"])
    if cpu.get("discovery") is not None:
        spec_cpu["discovery"] = {"nodeSelector": cpu["discovery"]["node_selector"]} if cpu["discovery"].get("node_selector") is not None else {}
    spec: dict[str, Any] = {"cpu": spec_cpu}
    if params.get("node_selector") is not None:
        spec["nodeSelector"] = params["node_selector"]
    if params.get("tolerations") is not None:
        spec["tolerations"] = params["tolerations"]
    policies = policies_to_api(params.get("sizing_policies"))
    if policies is not None:
        spec["sizingPolicies"] = policies
    if params.get("default"):
        metadata = {**metadata, "annotations": {**(metadata.get("annotations") or {}), DEFAULT_ANNOTATION: "true"}}
    return {"metadata": metadata, "spec": spec}


def cpu_guard(client: DVPClient, name: str):
    """spec.cpu is immutable: a change needs re-creation, allowed only while no VM uses the class."""

    def guard(actual: dict[str, Any], desired: dict[str, Any], changed: list[str]) -> str | None:
        if not any(path.startswith("spec.cpu") for path in changed):
            return None
        users = class_users(client, name)
        if users:
            raise DVPError(
                f"VirtualMachineClass {name}: spec.cpu cannot change, and the class cannot be re-created while virtual machines use it: {', '.join(users)}",
                users=users,
            )
        return "recreate"

    return guard


def class_users(client: DVPClient, name: str) -> list[str]:
    items = client.list(VIRTUAL_MACHINE)["items"]
    return sorted(f"{vm['metadata']['namespace']}/{vm['metadata']['name']}" for vm in items if vm.get("spec", {}).get("virtualMachineClassName") == name)


def summary(obj: dict[str, Any] | None) -> dict[str, Any]:
    status = (obj or {}).get("status") or {}
    features = status.get("cpuFeatures") or {}
    return {
        "phase": status.get("phase"),
        "available_nodes": status.get("availableNodes") or [],
        "cpu_features": {"enabled": features.get("enabled") or [], "not_enabled_common": features.get("notEnabledCommon") or []},
        "max_allocatable_resources": status.get("maxAllocatableResources") or {},
        "conditions": status.get("conditions") or [],
        "default": ((obj or {}).get("metadata", {}).get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true",
    }


def ensure_class(module: Any, client: DVPClient, ensurer: Ensurer, metadata: dict[str, Any]) -> dict[str, Any]:
    p = module.params
    if p["state"] == "absent":
        outcome = ensurer.absent(VIRTUAL_MACHINE_CLASS, p["name"], None, wait=p["wait"], wait_timeout=p["wait_timeout"])
        return outcome.result(module._diff)
    desired = desired_class(p, metadata)
    outcome = ensurer.present(
        VIRTUAL_MACHINE_CLASS,
        desired,
        guard=cpu_guard(client, p["name"]),
        recreate=p["recreate"],
        wait=phase_in(("Ready",), ()) if p["wait"] else None,
        wait_timeout=p["wait_timeout"],
    )
    result = outcome.result(module._diff)
    result["vm_class"] = summary(outcome.resource)
    return result


def node_cpu_models(client: DVPClient) -> dict[str, Any]:
    """Per node, the CPU models and features its labels advertise; and the models every node can run."""
    nodes = []
    for node in client.list(NODE)["items"]:
        labels = node["metadata"].get("labels") or {}
        nodes.append(
            {
                "name": node["metadata"]["name"],
                "cpu_models": sorted(k[len(MODEL_LABEL) :] for k, v in labels.items() if k.startswith(MODEL_LABEL) and v == "true"),
                "cpu_features": sorted(k[len(FEATURE_LABEL) :] for k, v in labels.items() if k.startswith(FEATURE_LABEL) and v == "true"),
            }
        )
    common = sorted(set.intersection(*(set(n["cpu_models"]) for n in nodes))) if nodes else []
    return {"nodes": nodes, "common_cpu_models": common}
