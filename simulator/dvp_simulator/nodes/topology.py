"""The cluster a simulator serves, from a topology file (format: topologies/README.md)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..images.units import parse_bandwidth

_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti)?$")
_UNITS = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
FENCING_MODES = ("Watchdog", "Notify")
EDITIONS = ("CE", "EE")  # Deckhouse editions the simulator tells apart
DEFAULT_POD_CIDR = "10.111.0.0/16"
DEFAULT_SERVICE_CIDR = "10.222.0.0/16"
DEFAULT_NODE_CIDR = "192.168.0.0/16"
DEFAULT_NODE_POD_PREFIX = 24  # Deckhouse's podSubnetNodeCIDRPrefix default: a /24 of pod addresses per node
FIRST_NODE_ADDRESS = 10  # generated node addresses start at the node network's 10th address (room for gateways)


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
    pod_cidr: str  # this node's share of the cluster pod network (Node spec.podCIDR)


@dataclass(frozen=True)
class StorageClassSpec:
    """A StorageClass of the cluster (topologies/README.md "storageClasses")."""

    name: str
    provisioner: str
    access_modes: tuple[str, ...]
    volume_mode: str
    binding_mode: str
    capacity: str
    capacity_bytes: int
    default: bool = False
    allow_expansion: bool = True
    reclaim_policy: str = "Delete"
    deprecated: bool = False


@dataclass(frozen=True)
class Topology:
    pod_cidr: str
    service_cidr: str
    nodes: list[NodeSpec] = field(default_factory=list)
    node_cidr: str = DEFAULT_NODE_CIDR
    storage_classes: list[StorageClassSpec] = field(default_factory=list)
    edition: str = "EE"  # cluster.edition: the Deckhouse edition, CE or EE (features the CE lacks are refused)
    image_source_bandwidth: int = 0  # cluster.imageSourceBandwidth: bytes/s each image import reads its source at; 0: no limit


def load(path: Path) -> Topology:
    try:
        # libyaml's safe loader: a 1,000-node topology parses in a tenth of the pure-Python loader's time
        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise TopologyError(f"{path}: {exc}") from exc
    return parse(doc, str(path))


def parse(doc: Any, where: str = "topology") -> Topology:
    """Validate a topology document and give every node an InternalIP (explicit, or the next free one of
    cluster.nodeSubnetCIDR) and a distinct podCIDR (the i-th /podSubnetNodeCIDRPrefix of cluster.podSubnetCIDR).
    Raises TopologyError naming the offending field, also when a network is too small for the nodes."""
    if not isinstance(doc, dict):
        raise TopologyError(f"{where}: expected a mapping with 'cluster' and 'nodes'")
    cluster = doc.get("cluster") or {}
    if not isinstance(cluster, dict):
        raise TopologyError(f"{where}: cluster: expected a mapping")
    pod_cidr = _cidr(cluster.get("podSubnetCIDR", DEFAULT_POD_CIDR), f"{where}: cluster.podSubnetCIDR")
    service_cidr = _cidr(cluster.get("serviceSubnetCIDR", DEFAULT_SERVICE_CIDR), f"{where}: cluster.serviceSubnetCIDR")
    node_cidr = _cidr(cluster.get("nodeSubnetCIDR", DEFAULT_NODE_CIDR), f"{where}: cluster.nodeSubnetCIDR")
    raws = doc.get("nodes") or []
    if not isinstance(raws, list):
        raise TopologyError(f"{where}: nodes: expected a list")
    pod_cidrs = _pod_cidrs(pod_cidr, cluster.get("podSubnetNodeCIDRPrefix", DEFAULT_NODE_POD_PREFIX), len(raws), where)
    addresses = _addresses(raws, ipaddress.ip_network(node_cidr), where)
    nodes = []
    seen = set()
    for i, raw in enumerate(raws):
        node = _node(raw, f"{where}: nodes[{i}]", addresses[i], pod_cidrs(i))
        if node.name in seen:
            raise TopologyError(f"{where}: nodes[{i}].name: duplicate node name {node.name!r}")
        seen.add(node.name)
        nodes.append(node)
    edition = cluster.get("edition", "EE")
    if edition not in EDITIONS:
        raise TopologyError(f"{where}: cluster.edition: must be one of {', '.join(EDITIONS)}, not {edition!r}")
    try:
        bandwidth = parse_bandwidth(cluster.get("imageSourceBandwidth", 0), f"{where}: cluster.imageSourceBandwidth")
    except ValueError as exc:
        raise TopologyError(str(exc)) from None
    return Topology(pod_cidr, service_cidr, nodes, node_cidr, _storage_classes(doc.get("storageClasses") or [], where), edition, bandwidth)


ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany")
VOLUME_MODES = ("Block", "Filesystem")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
RECLAIM_POLICIES = ("Delete", "Retain")


def _storage_classes(raws: Any, where: str) -> list[StorageClassSpec]:
    if not isinstance(raws, list):
        raise TopologyError(f"{where}: storageClasses: expected a list")
    out: list[StorageClassSpec] = []
    for i, raw in enumerate(raws):
        at = f"{where}: storageClasses[{i}]"
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("provisioner"):
            raise TopologyError(f"{at}: a storage class needs at least a name and a provisioner")
        modes = tuple(raw.get("accessModes") or ("ReadWriteOnce",))
        bad = [m for m in modes if m not in ACCESS_MODES]
        if bad:
            raise TopologyError(f"{at}.accessModes: {bad[0]!r} is not one of {', '.join(ACCESS_MODES)}")
        choices = {"volumeMode": (VOLUME_MODES, "Filesystem"), "volumeBindingMode": (BINDING_MODES, "Immediate"), "reclaimPolicy": (RECLAIM_POLICIES, "Delete")}
        picked = {}
        for key, (allowed, default) in choices.items():
            picked[key] = str(raw.get(key, default))
            if picked[key] not in allowed:
                raise TopologyError(f"{at}.{key}: must be one of {', '.join(allowed)}")
        capacity = str(raw.get("capacity", "1Ti"))
        m = _QUANTITY.match(capacity)
        if not m:
            raise TopologyError(f"{at}.capacity: {capacity!r} is not a size like 500Gi")
        if any(sc.name == raw["name"] for sc in out):
            raise TopologyError(f"{at}.name: duplicate storage class {raw['name']!r}")
        out.append(
            StorageClassSpec(
                name=str(raw["name"]),
                provisioner=str(raw["provisioner"]),
                access_modes=modes,
                volume_mode=picked["volumeMode"],
                binding_mode=picked["volumeBindingMode"],
                capacity=capacity,
                capacity_bytes=int(m.group(1)) * _UNITS[m.group(2)],
                default=bool(raw.get("default", False)),
                allow_expansion=bool(raw.get("allowVolumeExpansion", True)),
                reclaim_policy=picked["reclaimPolicy"],
                deprecated=bool(raw.get("deprecated", False)),
            )
        )
    return out


def _pod_cidrs(pod_cidr: str, prefix: Any, count: int, where: str):
    """The i-th node's pod subnet, by arithmetic (no enumeration of the network's subnets)."""
    net = ipaddress.ip_network(pod_cidr)
    field_ = f"{where}: cluster.podSubnetNodeCIDRPrefix"
    if isinstance(prefix, str) and prefix.isdigit():
        prefix = int(prefix)  # Deckhouse's ClusterConfiguration writes it as a string
    if not isinstance(prefix, int) or isinstance(prefix, bool) or not net.prefixlen <= prefix <= net.max_prefixlen:
        raise TopologyError(f"{field_}: must be a prefix length between {net.prefixlen} (that of cluster.podSubnetCIDR {pod_cidr}) and {net.max_prefixlen}")
    room = 2 ** (prefix - net.prefixlen)
    if count > room:
        raise TopologyError(
            f"{where}: cluster.podSubnetCIDR: {pod_cidr} has room for {room} node pod subnets of /{prefix}, "
            f"but the topology has {count} nodes; use a larger podSubnetCIDR or a longer podSubnetNodeCIDRPrefix"
        )
    base, size = int(net.network_address), 2 ** (net.max_prefixlen - prefix)
    return lambda i: str(type(net)((base + i * size, prefix)))


def _addresses(raws: list[Any], net: ipaddress.IPv4Network | ipaddress.IPv6Network, where: str) -> list[str]:
    """Each node's InternalIP: its own `address`, or else the next address of the node network not taken by
    an explicit one, from the network's FIRST_NODE_ADDRESS-th on."""
    explicit: dict[str, int] = {}
    for i, raw in enumerate(raws):
        address = raw.get("address") if isinstance(raw, dict) else None
        if not address:
            continue
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError as exc:
            raise TopologyError(f"{where}: nodes[{i}].address: {exc}") from exc
        if address in explicit:
            raise TopologyError(f"{where}: nodes[{i}].address: {address} is already the address of nodes[{explicit[address]}]")
        explicit[address] = i
    ip = type(net.network_address)
    candidate, last = int(net.network_address) + FIRST_NODE_ADDRESS, int(net.broadcast_address) - 1
    out = []
    for i, raw in enumerate(raws):
        address = raw.get("address") if isinstance(raw, dict) else None
        if address:
            out.append(str(ipaddress.ip_address(address)))
            continue
        while candidate <= last and str(ip(candidate)) in explicit:
            candidate += 1
        if candidate > last:
            room = max(0, last - int(net.network_address) - FIRST_NODE_ADDRESS + 1)
            raise TopologyError(
                f"{where}: cluster.nodeSubnetCIDR: {net} has room for {room} generated node addresses, not enough for "
                f"nodes[{i}]; use a larger nodeSubnetCIDR or give the nodes an explicit address"
            )
        out.append(str(ip(candidate)))
        candidate += 1
    return out


def _cidr(value: Any, where: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError as exc:
        raise TopologyError(f"{where}: {exc}") from exc


def _node(raw: Any, where: str, address: str, pod_cidr: str) -> NodeSpec:
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
        pod_cidr=pod_cidr,
    )
