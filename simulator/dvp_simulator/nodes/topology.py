"""The cluster a simulator serves, from a topology file (format: topologies/README.md)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti)?$")
_UNITS = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
FENCING_MODES = ("Watchdog", "Notify")


class TopologyError(ValueError):
    pass


@dataclass(frozen=True)
class CPU:
    vendor: str
    model: str
    features: tuple[str, ...]
    cores: int


@dataclass(frozen=True)
class NodeSpec:
    name: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    cpu: CPU
    memory: str
    memory_bytes: int
    address: str
    fencing_enabled: bool
    fencing_mode: str


@dataclass(frozen=True)
class Topology:
    pod_cidr: str
    service_cidr: str
    nodes: list[NodeSpec] = field(default_factory=list)


def load(path: Path) -> Topology:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TopologyError(f"{path}: {exc}") from exc
    return parse(doc, str(path))


def parse(doc: Any, where: str = "topology") -> Topology:
    if not isinstance(doc, dict):
        raise TopologyError(f"{where}: expected a mapping with 'cluster' and 'nodes'")
    cluster = doc.get("cluster") or {}
    pod_cidr = _cidr(cluster.get("podSubnetCIDR", "10.111.0.0/16"), f"{where}: cluster.podSubnetCIDR")
    service_cidr = _cidr(cluster.get("serviceSubnetCIDR", "10.222.0.0/16"), f"{where}: cluster.serviceSubnetCIDR")
    nodes = []
    seen = set()
    for i, raw in enumerate(doc.get("nodes") or []):
        node = _node(raw, f"{where}: nodes[{i}]", i)
        if node.name in seen:
            raise TopologyError(f"{where}: nodes[{i}].name: duplicate node name {node.name!r}")
        seen.add(node.name)
        nodes.append(node)
    return Topology(pod_cidr, service_cidr, nodes)


def _cidr(value: Any, where: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError as exc:
        raise TopologyError(f"{where}: {exc}") from exc


def _node(raw: Any, where: str, index: int) -> NodeSpec:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise TopologyError(f"{where}: a node needs at least a name")
    cpu = raw.get("cpu") or {}
    if not cpu.get("model"):
        raise TopologyError(f"{where}.cpu.model: required (a libvirt CPU model name, e.g. Haswell-noTSX)")
    cores = cpu.get("cores", 8)
    if not isinstance(cores, int) or cores < 1:
        raise TopologyError(f"{where}.cpu.cores: must be a positive integer")
    memory = str(raw.get("memory", "32Gi"))
    m = _QUANTITY.match(memory)
    if not m:
        raise TopologyError(f"{where}.memory: {memory!r} is not a size like 64Gi")
    fencing = raw.get("fencing") or {}
    mode = fencing.get("mode", "Watchdog")
    if mode not in FENCING_MODES:
        raise TopologyError(f"{where}.fencing.mode: must be one of {', '.join(FENCING_MODES)}")
    address = raw.get("address") or f"192.168.{10 + index // 250}.{10 + index % 250}"
    try:
        ipaddress.ip_address(address)
    except ValueError as exc:
        raise TopologyError(f"{where}.address: {exc}") from exc
    return NodeSpec(
        name=str(raw["name"]),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        taints=list(raw.get("taints") or []),
        cpu=CPU(str(cpu.get("vendor", "Intel")), str(cpu["model"]), tuple(cpu.get("features") or ()), cores),
        memory=memory,
        memory_bytes=int(m.group(1)) * _UNITS[m.group(2)],
        address=address,
        fencing_enabled=bool(fencing.get("enabled", False)),
        fencing_mode=mode,
    )
