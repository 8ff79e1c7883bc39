# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_class modules' flow over the shared ensure/wait pieces."""

from __future__ import annotations

from typing import Any

from . import vocabulary as v
from .client import DVPClient
from .ensure import Ensurer
from .errors import DVPError
from .kinds import NODE, VIRTUAL_MACHINE, VIRTUAL_MACHINE_CLASS
from .naming import snake_spelled
from .vmclass_rules import policies_to_api
from .waiter import Outcome as WaitOutcome
from .waiter import condition

DEFAULT_ANNOTATION = v.DEFAULT_CLASS_ANNOTATION
MODEL_LABEL = v.CPU_MODEL_LABEL_PREFIX
FEATURE_LABEL = v.CPU_FEATURE_LABEL_PREFIX


def spelling_problems(params: dict[str, Any]) -> list[str]:
    """The Kubernetes types the class passes through (selectors, tolerations) with snake_case keys the API spells
    in camelCase (naming.snake_spelled)."""
    discovery = (params.get("cpu") or {}).get("discovery") or {}
    return (snake_spelled(params.get("node_selector"), "node_selector") + snake_spelled(discovery.get("node_selector"), "cpu.discovery.node_selector")
            + snake_spelled(params.get("tolerations"), "tolerations"))  # fmt: skip


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


# Ready=False reasons with which the platform leaves a class Pending until nodes change: nothing to wait for.
UNPLACEABLE = (v.REASON_NO_SUITABLE_NODES_FOUND, v.REASON_NO_CPU_FEATURES_ENABLED)


def class_ready(obj: dict[str, Any] | None) -> WaitOutcome:
    """Done in phase Ready; failed at once when the platform reports, for the current generation, that no node
    can run the class (an unknown CPU model or feature, a node selector nothing matches), with its reason."""
    if obj is None:
        return WaitOutcome(failed=True, message="the object was deleted while waiting")
    status = obj.get("status") or {}
    if status.get("phase") == v.READY:
        return WaitOutcome(done=True)
    ready = condition(obj, v.COND_READY) or {}
    current = ready.get("observedGeneration", 0) >= obj.get("metadata", {}).get("generation", 1)
    if status.get("phase") != v.PENDING or ready.get("status") != "False" or ready.get("reason") not in UNPLACEABLE or not current:
        return WaitOutcome()
    discovered = condition(obj, "Discovered") or {}
    why = [f"{ready['reason']}: {ready.get('message') or ''}".rstrip(": ")]
    if discovered.get("reason") == "DiscoveryFailed" and discovered.get("message"):
        why.append(f"DiscoveryFailed: {discovered['message']}")
    cpu = (obj.get("spec") or {}).get("cpu") or {}
    if cpu.get("type") == "Model":
        why.append(f"no node offers CPU model {cpu.get('model')!r} (vm_class_info returns the models each node offers)")
    elif cpu.get("type") == "Features":
        why.append(f"no node offers all of the CPU features {', '.join(cpu.get('features') or [])} (vm_class_info returns each node's features)")
    return WaitOutcome(failed=True, message="phase Pending: " + "; ".join(why))


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
        wait=class_ready if p["wait"] else None,
        wait_timeout=p["wait_timeout"],
        force_conflicts=p["force_conflicts"],
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
                "cpu_models": sorted(k[len(MODEL_LABEL) :] for k, value in labels.items() if k.startswith(MODEL_LABEL) and value == "true"),
                "cpu_features": sorted(k[len(FEATURE_LABEL) :] for k, value in labels.items() if k.startswith(FEATURE_LABEL) and value == "true"),
            }
        )
    common = sorted(set.intersection(*(set(n["cpu_models"]) for n in nodes))) if nodes else []
    return {"nodes": nodes, "common_cpu_models": common}
