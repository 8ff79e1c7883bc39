"""The scheduler's inputs (a pod's request, a node's state) and how they are read from API objects."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

TERMINAL_PHASES = ("Succeeded", "Failed")  # pods that no longer hold their requests (kube-scheduler's cache)


@dataclass(frozen=True)
class PodRequest:
    """What a virt-launcher pod asks for.

    `cpu_milli` is requests.cpu in millicores (cores × coreFraction, as the platform computes); `memory`
    requests.memory in bytes (VM memory + overhead); `node_selector` / `affinity` / `tolerations` as the API
    writes them (`affinity`: nodeAffinity, podAffinity, podAntiAffinity, each with required and preferred
    terms)."""

    namespace: str
    labels: dict[str, str]
    cpu_milli: int
    memory: int
    node_selector: dict[str, str]
    affinity: dict
    tolerations: list[dict]


@dataclass(frozen=True)
class NodeState:
    """One node as the scheduler sees it.

    `requested_*` are the sums over the (non-terminal) pods bound to the node; `pods` their (namespace, labels)
    for pod (anti-)affinity; `pod_anti_affinity` the (namespace, required anti-affinity terms) of those pods
    that have any, so an incoming pod respects existing pods' anti-affinity (kube-scheduler's symmetry)."""

    name: str
    labels: dict[str, str]
    taints: list[dict]
    unschedulable: bool
    ready: bool
    allocatable_cpu_milli: int
    allocatable_memory: int
    requested_cpu_milli: int
    requested_memory: int
    pods: tuple[tuple[str, dict[str, str]], ...]
    pod_anti_affinity: tuple[tuple[str, tuple[dict, ...]], ...] = field(default=())


def _milli(value: Any) -> int:
    return math.ceil(parse_quantity(value) * 1000)


def _bytes(value: Any) -> int:
    return math.ceil(parse_quantity(value))


def pod_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) a pod spec requests, as kube-scheduler sums them: the containers' requests, at least
    the largest init container's, plus the pod overhead."""

    def total(containers: Iterable[Mapping[str, Any]], combine) -> tuple[int, int]:
        cpu = mem = 0
        for c in containers:
            req = (c.get("resources") or {}).get("requests") or {}
            cpu = combine(cpu, _milli(req.get("cpu", 0)))
            mem = combine(mem, _bytes(req.get("memory", 0)))
        return cpu, mem

    cpu, mem = total(spec.get("containers") or [], lambda a, b: a + b)
    init_cpu, init_mem = total(spec.get("initContainers") or [], max)
    overhead = spec.get("overhead") or {}
    return max(cpu, init_cpu) + _milli(overhead.get("cpu", 0)), max(mem, init_mem) + _bytes(overhead.get("memory", 0))


def pod_request_from_pod(pod: Mapping[str, Any]) -> PodRequest:
    """The scheduler's view of a Pod object (requests summed per `pod_requests`)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    cpu, mem = pod_requests(spec)
    return PodRequest(
        namespace=meta.get("namespace") or "default",
        labels=dict(meta.get("labels") or {}),
        cpu_milli=cpu,
        memory=mem,
        node_selector=dict(spec.get("nodeSelector") or {}),
        affinity=dict(spec.get("affinity") or {}),
        tolerations=list(spec.get("tolerations") or []),
    )


def node_state(node: Mapping[str, Any], pods_on_node: Iterable[Mapping[str, Any]]) -> NodeState:
    """The scheduler's view of a Node object and the pods bound to it (terminal pods are skipped: they hold no
    resources). Ready is the node's Ready condition being True."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    allocatable = status.get("allocatable") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    cpu = mem = 0
    pods: list[tuple[str, dict[str, str]]] = []
    anti: list[tuple[str, tuple[dict, ...]]] = []
    for pod in pods_on_node:
        if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            continue
        p_meta, p_spec = pod.get("metadata") or {}, pod.get("spec") or {}
        p_cpu, p_mem = pod_requests(p_spec)
        cpu, mem = cpu + p_cpu, mem + p_mem
        namespace = p_meta.get("namespace") or "default"
        pods.append((namespace, dict(p_meta.get("labels") or {})))
        terms = ((p_spec.get("affinity") or {}).get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
        if terms:
            anti.append((namespace, tuple(terms)))
    return NodeState(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        taints=list(spec.get("taints") or []),
        unschedulable=bool(spec.get("unschedulable")),
        ready=ready,
        allocatable_cpu_milli=_milli(allocatable.get("cpu", 0)),
        allocatable_memory=_bytes(allocatable.get("memory", 0)),
        requested_cpu_milli=cpu,
        requested_memory=mem,
        pods=tuple(pods),
        pod_anti_affinity=tuple(anti),
    )
