"""What IPAM, the ModuleConfig webhook and the VirtualMachineIPAddress webhook read, without scans: the
`virtualization` ModuleConfig's settings (one get), leases and node addresses inside a CIDR (an index keyed by
every network containing the address, so "which leases lie in 10.66.10.0/24" is one dict lookup), VMIPs by the
leases' VMIP-UID label, VMs by the VMIP they name, Pending VMIPs."""

from __future__ import annotations

import functools
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..store.store import Entry, Store

VMIPS = v.resource_key(v.VIRTUAL_MACHINE_IP_ADDRESS)
LEASES = v.resource_key(v.VIRTUAL_MACHINE_IP_ADDRESS_LEASE)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
NODES = v.resource_key(v.NODE)
MODULE_CONFIGS = v.resource_key(v.MODULE_CONFIG)
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
IN_NETWORK = "inNetwork"  # leases and nodes: every network (prefix 0…32) containing their address(es)
BY_VMIP = "vmipName"  # VMs: "<namespace>/<vmip>" for spec.virtualMachineIPAddressName and status.virtualMachineIPAddressName
PHASE = "phase"  # VMIPs: status.phase ("" before the first reconcile)
NODE_ADDRESS_TYPES = ("InternalIP", "ExternalIP")
RETENTION = 600.0  # simulated seconds a Released lease is kept (VIRTUAL_MACHINE_IP_LEASES_RETENTION_DURATION=10m)
MANAGER = "virtualization-controller"


def lease_networks(lease: dict[str, Any]) -> list[str]:
    address = nr.lease_address(lease["metadata"]["name"])
    return nr.containing_networks(address) if address else []


def node_addresses(node: dict[str, Any]) -> list[tuple[str, str]]:
    name = node["metadata"]["name"]
    return [(name, a.get("address", "")) for a in (node.get("status") or {}).get("addresses") or [] if a.get("type") in NODE_ADDRESS_TYPES]


def node_networks(node: dict[str, Any]) -> list[str]:
    return sorted({net for _, address in node_addresses(node) for net in _containing_networks(address)})


@functools.lru_cache(maxsize=4096)
def _containing_networks(address: str) -> tuple[str, ...]:
    """The networks an address belongs to: re-indexed on every Node write (each heartbeat), the answer only
    changes with the address, so it is parsed once per address."""
    return tuple(nr.containing_networks(address))


def vm_vmip_names(vm: dict[str, Any]) -> list[str]:
    ns = vm["metadata"].get("namespace", "")
    names = {(vm.get("spec") or {}).get("virtualMachineIPAddressName"), (vm.get("status") or {}).get("virtualMachineIPAddressName")}
    return [f"{ns}/{n}" for n in names if n]


def vmip_phase(vmip: dict[str, Any]) -> list[str]:
    return [(vmip.get("status") or {}).get("phase") or v.PENDING]


def register_indexes(store: Store) -> None:
    """Idempotent: the webhooks and the controllers each call it."""
    store.add_index(LEASES, IN_NETWORK, lease_networks)
    store.add_index(NODES, IN_NETWORK, node_networks)
    store.add_index(VMS, BY_VMIP, vm_vmip_names)
    store.add_index(VMIPS, PHASE, vmip_phase)


def module_config(store: Store, name: str = v.VIRTUALIZATION_MODULE) -> dict[str, Any] | None:
    entry = store.get(MODULE_CONFIGS, "", name)
    return entry.obj if entry is not None else None


def settings_of(mc: dict[str, Any] | None) -> dict[str, Any]:
    return ((mc or {}).get("spec") or {}).get("settings") or {}


def configured_cidrs(store: Store) -> list[str]:
    """The pool: `virtualMachineCIDRs` of ModuleConfig virtualization, in order ([] when not configured)."""
    cidrs = settings_of(module_config(store)).get("virtualMachineCIDRs")
    return [c for c in cidrs if isinstance(c, str)] if isinstance(cidrs, list) else []


def leases_in(store: Store, cidr: str) -> list[Entry]:
    return store.by_index(LEASES, IN_NETWORK, cidr)


def nodes_in(store: Store, cidr: str) -> list[Entry]:
    return store.by_index(NODES, IN_NETWORK, cidr)


def module_enabled(store: Store, name: str) -> bool:
    return ((module_config(store, name) or {}).get("spec") or {}).get("enabled") is True
