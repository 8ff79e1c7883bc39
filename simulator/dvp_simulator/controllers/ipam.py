"""What IPAM, the ModuleConfig webhook and the VirtualMachineIPAddress webhook read, without scans: the
`virtualization` ModuleConfig's settings in effect (one get, see below), leases and node addresses inside a CIDR (an index keyed by
every network containing the address, so "which leases lie in 10.66.10.0/24" is one dict lookup), VMIPs by the
leases' VMIP-UID label, VMs by the VMIP they name, Pending VMIPs.

The settings in effect are not spec.settings as written: the module's `validate-module-config` hook
(controllers/moduleconfig.py) copies spec.settings into the module's internal values only when they pass its
checks, and the module's components (IPAM, storage-class resolution, DVCR) read that copy, so settings that fail
keep the last valid ones in effect (none before the first). Deckhouse keeps the copy in memory; the simulator keeps
it in ConfigMap d8-virtualization/module-settings (key settings.json) so that a restart keeps it too. Controllers
that act on the settings watch that ConfigMap (`on_settings`), not the ModuleConfig."""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..store.store import Entry, Event, Store

VMIPS = v.resource_key(v.VIRTUAL_MACHINE_IP_ADDRESS)
LEASES = v.resource_key(v.VIRTUAL_MACHINE_IP_ADDRESS_LEASE)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
NODES = v.resource_key(v.NODE)
MODULE_CONFIGS = v.resource_key(v.MODULE_CONFIG)
CONFIG_MAPS = v.resource_key(v.CONFIG_MAP)
SETTINGS_CONFIG_MAP = "module-settings"  # d8-virtualization/module-settings: the settings in effect (see above)
SETTINGS_KEY = "settings.json"
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
IN_NETWORK = "inNetwork"  # leases and nodes: every network (prefix 0…32) containing their address(es)
BY_VMIP = "vmipName"  # VMs: "<namespace>/<vmip>" for spec.virtualMachineIPAddressName and status.virtualMachineIPAddressName
PHASE = "phase"  # VMIPs: status.phase ("" before the first reconcile)
NODE_ADDRESS_TYPES = ("InternalIP", "ExternalIP")
RETENTION = 600.0  # simulated seconds a Released lease is kept (VIRTUAL_MACHINE_IP_LEASES_RETENTION_DURATION=10m)
MANAGER = "virtualization-controller"


LEASE_BUCKETS = (24, 16, 8)  # the networks a lease is indexed under (IN_NETWORK): its /24, /16 and /8


def _lease_ip(name: str) -> int | None:
    address = nr.lease_address(name)
    return nr.dotted_quad(address) if address else None


def lease_networks(lease: dict[str, Any]) -> list[str]:
    """The lease's /24, /16 and /8: three values per lease write, where every network containing its address took 33 -
    ~100 µs per lease when the simulator starts (10,000 leases: 1 s of a 10,000-VM restart) and on every lease write,
    for a question asked only when a ModuleConfig edit removes a CIDR (`leases_in`)."""
    ip = _lease_ip(lease["metadata"]["name"])
    return [nr.network_text(ip, p) for p in LEASE_BUCKETS] if ip is not None else []


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


def effective_settings(store: Store) -> dict[str, Any]:
    """The settings of ModuleConfig virtualization in effect: the hook's last valid copy ({} before any). Shared
    with other callers: read it, never change it."""
    entry = store.get(CONFIG_MAPS, v.MODULE_NAMESPACE, SETTINGS_CONFIG_MAP)
    return _parsed(((entry.obj.get("data") or {}).get(SETTINGS_KEY) or "{}") if entry is not None else "{}")


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> dict[str, Any]:
    """IPAM reads the settings on every reconcile; they change rarely, so each text is parsed once."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def effective_config(store: Store) -> dict[str, Any] | None:
    """ModuleConfig virtualization as the module's components see it: spec.settings replaced by the settings in
    effect (None when there is no ModuleConfig)."""
    mc = module_config(store)
    if mc is None:
        return None
    return {**mc, "spec": {**(mc.get("spec") or {}), "settings": effective_settings(store)}}


def on_settings(mapper: Callable[[Event], list[tuple[str, str]]]) -> Callable[[Event], list[tuple[str, str]]]:
    """A ConfigMap watch's mapper that calls `mapper` only when the settings in effect were written."""

    def mapped(event: Event) -> list[tuple[str, str]]:
        entry = event.entry
        if entry.namespace != v.MODULE_NAMESPACE or entry.name != SETTINGS_CONFIG_MAP:
            return []
        return mapper(event)

    return mapped


def configured_cidrs(store: Store) -> list[str]:
    """The pool: `virtualMachineCIDRs` of the settings in effect, in order ([] when not configured)."""
    cidrs = effective_settings(store).get("virtualMachineCIDRs")
    return [c for c in cidrs if isinstance(c, str)] if isinstance(cidrs, list) else []


def leases_in(store: Store, cidr: str) -> list[Entry]:
    """The leases whose address lies in `cidr` (a CIDR that does not parse: none), in key order: read from the smallest
    indexed network holding the whole CIDR (every lease for a prefix shorter than /8) and filtered by address."""
    try:
        network = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return []
    low, high = int(network.network_address), int(network.broadcast_address)
    level = next((p for p in LEASE_BUCKETS if p <= network.prefixlen), None)
    candidates = store.by_index(LEASES, IN_NETWORK, nr.network_text(low, level)) if level is not None else store.list(LEASES)
    inside = []
    for entry in candidates:
        ip = _lease_ip(entry.name)
        if ip is not None and low <= ip <= high:
            inside.append(entry)
    return inside


def nodes_in(store: Store, cidr: str) -> list[Entry]:
    return store.by_index(NODES, IN_NETWORK, cidr)


def node_addresses_in(store: Store, cidrs: Any) -> list[tuple[str, str]]:
    """(node, address) of every node address inside one of `cidrs` (entries that do not parse are skipped: the
    CIDR checks report them)."""
    pairs = []
    for cidr in cidrs if isinstance(cidrs, list) else []:
        try:
            net = str(nr.parse_cidr(cidr))
        except ValueError:
            continue
        pairs += [pair for entry in nodes_in(store, net) for pair in node_addresses(entry.obj)]
    return sorted(set(pairs))


def module_enabled(store: Store, name: str) -> bool:
    return ((module_config(store, name) or {}).get("spec") or {}).get("enabled") is True
