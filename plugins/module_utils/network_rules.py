# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IP address rules of DVP (platform spec BEHAVIOUR.md §5 and §8), once for the module_config module
(client-side checks) and the simulator (ModuleConfig and VirtualMachineIPAddress admission, IPAM). Pure Python.

- `virtualMachineCIDRs` entries: IPv4 networks written with the network address aligned to the mask; no two
  overlap; none overlaps the cluster pod or service subnet; none contains a node address.
- Entries are compared by exact address and prefix length: re-writing an entry differently counts as removal.
- The first and last address of every CIDR are never assigned; `Auto` takes the first free address in CIDR order.
- A lease is named `ip-a-b-c-d` after its address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional

Network = ipaddress.IPv4Network
LEASE_PREFIX = "ip-"
# Texts up to this length are parsed once and remembered; a longer one (a client's padded value) is parsed each time,
# so what the caches hold stays small whatever clients send.
TEXT_CACHED = 64


def parse_cidr(value: Any) -> Network:
    """One `virtualMachineCIDRs` entry; ValueError says what is wrong, with the aligned form for host bits."""
    return _parse_cidr_text(value) if isinstance(value, str) and len(value) <= TEXT_CACHED else _parse_cidr(value)


@functools.lru_cache(maxsize=256)
def _parse_cidr_text(value: str) -> Network:
    """parse_cidr of a text, remembered: the ModuleConfig's few CIDRs are parsed for every address IPAM checks."""
    return _parse_cidr(value)


def _parse_cidr(value: Any) -> Network:
    text = str(value).strip() if isinstance(value, str) else None
    if not text or "/" not in text:
        raise ValueError(f"{value!r} is not a CIDR (write it as address/prefix, for example 10.66.10.0/24)")
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR: {exc}") from None
    if not isinstance(loose, ipaddress.IPv4Network):
        raise ValueError(f"{value!r}: only IPv4 networks are supported")
    if ipaddress.ip_address(text.split("/", maxsplit=1)[0]) != loose.network_address:
        raise ValueError(f"{value!r} has host bits set: write the network address aligned to the mask, {loose}")
    return loose


def dotted_quad(text: str) -> Optional[int]:
    """The address of a canonical dotted quad ("10.66.10.14": four decimal octets 0-255, no leading zeros) as an integer,
    else None (the caller asks ipaddress, which accepts the same texts and explains the others). The lease index reads
    an address from every lease's name on each lease write and for every lease when the simulator starts: ipaddress's
    parser was ~100 µs of a profiled restart per lease."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) or (part[0] == "0" and len(part) > 1):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def parse_address(value: Any) -> ipaddress.IPv4Address:
    if isinstance(value, str) and len(value) <= TEXT_CACHED:
        return _parse_address_text(value)
    return _parse_address(value)


@functools.lru_cache(maxsize=4096)
def _parse_address_text(value: str) -> ipaddress.IPv4Address:
    """parse_address of a text, remembered: IPAM reads the same few addresses again and again within a VM's start
    (its lease's name and address, range checks, the lease index of every lease write), and ipaddress's parser was
    ~2% of a build-up's event loop. IPv4Address objects are immutable; errors are raised again, not remembered."""
    return _parse_address(value)


def _parse_address(value: Any) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    if not isinstance(address, ipaddress.IPv4Address):
        raise ValueError(f"{value!r}: only IPv4 addresses are supported")
    return address


def _networks(cidrs: Iterable[Any]) -> list[Network]:
    """The entries that parse (the others are reported by cidr_problems)."""
    out = []
    for cidr in cidrs or ():
        try:
            out.append(parse_cidr(cidr))
        except ValueError:
            continue
    return out


def cidr_problems(cidrs: Any, field: str = "virtualMachineCIDRs", pod_subnet: str | None = None, service_subnet: str | None = None,
                  node_addresses: Iterable[tuple[str, str]] = ()) -> list[str]:  # fmt: skip
    """Every problem of a CIDR list, each naming the entry and the rule ([] when fine). `node_addresses` are
    (node name, address) pairs (InternalIP and ExternalIP)."""
    if cidrs is None:
        return []
    if not isinstance(cidrs, list):
        return [f"{field}: must be a list of CIDRs"]
    problems: list[str] = []
    parsed: list[tuple[int, Network]] = []
    for i, cidr in enumerate(cidrs):
        try:
            parsed.append((i, parse_cidr(cidr)))
        except ValueError as exc:
            problems.append(f"{field}[{i}]: {exc}")
    for a in range(len(parsed)):
        for b in range(a + 1, len(parsed)):
            (i, x), (j, y) = parsed[a], parsed[b]
            if x.overlaps(y):
                problems.append(f"{field}[{j}]: {y} overlaps {field}[{i}] {x}: no overlaps allowed")
    for label, subnet in (("pod subnet", pod_subnet), ("service subnet", service_subnet)):
        if not subnet:
            continue
        net = ipaddress.ip_network(subnet, strict=False)
        for i, x in parsed:
            if net.version == x.version and x.overlaps(net):
                problems.append(f"{field}[{i}]: {x} overlaps the cluster {label} {net}")
    for node, address in node_addresses:
        try:
            ip = parse_address(address)
        except ValueError:
            continue
        for i, x in parsed:
            if ip in x:
                problems.append(f"{field}[{i}]: {x} contains the address {ip} of node {node}")
    return problems


def same_entries(old: Iterable[Any], new: Iterable[Any]) -> bool:
    return [str(n) for n in _networks(old)] == [str(n) for n in _networks(new)]


def removed_cidrs(old: Iterable[Any] | None, new: Iterable[Any] | None) -> list[str]:
    """Entries of `old` not in `new`, compared by exact address and prefix length (a rewrite counts as removal)."""
    kept = {str(n) for n in _networks(new or ())}
    return [str(n) for n in _networks(old or ()) if str(n) not in kept]


def lease_name(address: Any) -> str:
    """`10.66.10.14` → `ip-10-66-10-14`."""
    return LEASE_PREFIX + str(parse_address(address)).replace(".", "-")


def lease_address(name: str) -> str | None:
    """`ip-10-66-10-14` → `10.66.10.14`; None for a name that is not a lease name."""
    if not isinstance(name, str) or not name.startswith(LEASE_PREFIX):
        return None
    text = name[len(LEASE_PREFIX) :].replace("-", ".")
    if dotted_quad(text) is not None:
        return text  # already the address's canonical text
    try:
        return str(parse_address(text))
    except ValueError:
        return None


def containing_networks(address: Any) -> list[str]:
    """Every network (prefix 0…32) containing the address: an index function under which a store answers "which
    leases or nodes lie inside this CIDR" with one lookup by the CIDR's text."""
    ip = dotted_quad(address) if isinstance(address, str) else None
    if ip is None:
        try:
            ip = int(parse_address(address))
        except ValueError:
            return []
    # Written as the CIDRs' text directly: 33 IPv4Network objects cost ~250 µs an address (node indexes, per address).
    return [network_text(ip, p) for p in range(33)]


def network_text(ip: int, prefix: int) -> str:
    """The text of the network of `prefix` bits containing the address `ip` (an integer), as ipaddress prints it."""
    net = ip >> (32 - prefix) << (32 - prefix)
    return f"{net >> 24}.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}/{prefix}"


def reserved(address: ipaddress.IPv4Address, net: Network) -> bool:
    """The first and the last address of a CIDR are never assigned."""
    return address in (net.network_address, net.broadcast_address)


def in_range(address: Any, cidrs: Iterable[Any]) -> bool:
    """The range check: inside some CIDR and not its first or last address (so a /32 never passes)."""
    try:
        ip = parse_address(address)
    except ValueError:
        return False
    return any(ip in net and not reserved(ip, net) for net in _networks(cidrs))


def cidr_of(address: Any, cidrs: Iterable[Any]) -> Optional[str]:
    try:
        ip = parse_address(address)
    except ValueError:
        return None
    return next((str(net) for net in _networks(cidrs) if ip in net), None)


def walk(net: Network, start: int | None = None) -> Iterator[str]:
    """Candidate addresses of one CIDR in order, from `start` (an integer address, a hint) or its first address,
    skipping the first and last."""
    first, last = int(net.network_address), int(net.broadcast_address)
    ip = max(first, start) if start is not None else first
    while ip <= last:
        if not (net.prefixlen < 32 and ip in (first, last)):
            yield str(ipaddress.IPv4Address(ip))
        ip += 1


def first_free(cidrs: Iterable[Any], taken: Callable[[str], bool], hints: dict[str, int] | None = None) -> str | None:
    """The Auto allocation walk: the first address, in CIDR order, that is not a first/last address and for which
    `taken` (a lease of any phase exists) is false; None when the pool is exhausted. A /32 offers its only
    address here but fails the range check, as on the platform. `hints` (CIDR → integer address below which
    everything is known taken) is read and advanced, so repeated walks do not re-test the same addresses."""
    for net in _networks(cidrs):
        key = str(net)
        for address in walk(net, hints.get(key) if hints is not None else None):
            if not taken(address):
                if hints is not None:
                    hints[key] = int(ipaddress.IPv4Address(address))
                return address
        if hints is not None:
            hints[key] = int(net.broadcast_address) + 1
    return None


def forget_hint(hints: dict[str, int], address: Any) -> None:
    """An address became free: walks start at it again (the hint only ever moves down here)."""
    try:
        ip = parse_address(address)
    except ValueError:
        return
    for key, start in list(hints.items()):
        net = ipaddress.IPv4Network(key)
        if ip in net and int(ip) < start:
            hints[key] = int(ip)
