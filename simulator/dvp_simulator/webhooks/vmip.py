"""VirtualMachineIPAddress admission (BEHAVIOUR.md §5 "VMIP webhook") and VirtualMachineIPAddressLease admission
(CREATE: the name must be a lease name, `ip-a-b-c-d`)."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from ..api.webhook_configs import Denial
from ..controllers import ipam
from ..store.store import Store
from . import registrations


def bound(obj: dict[str, Any] | None) -> bool:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == v.COND_BOUND:
            return c.get("status") == "True"
    return False


def held_by_other(store: Store, address: str, vmip: dict[str, Any]) -> str | None:
    """The holder of a non-Released lease of the address that is not this VMIP, else None."""
    entry = store.get(ipam.LEASES, "", nr.lease_name(address))
    if entry is None:
        return None
    lease = entry.obj
    if (lease.get("status") or {}).get("phase") == v.IP_RELEASED:
        return None
    meta = vmip["metadata"]
    ref = (lease.get("spec") or {}).get("virtualMachineIPAddressRef") or {}
    uid = (lease["metadata"].get("labels") or {}).get(v.VMIP_UID_LABEL)
    if (uid and uid == meta.get("uid")) or (ref.get("name") == meta.get("name") and ref.get("namespace") == meta.get("namespace")):
        return None
    return f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else "another VirtualMachineIPAddress"


def register(admission: Admission, store: Store) -> None:
    ipam.register_indexes(store)

    @registrations.serve(admission, "vmip")
    def validate(request: AdmissionRequest) -> None:
        obj, old = request.obj or {}, request.old
        if request.operation == UPDATE and not request.generation_changed:
            return
        spec = obj.get("spec") or {}
        cidrs = ipam.configured_cidrs(store)
        if not cidrs:
            raise Denial("virtualMachineCIDRs is not configured in ModuleConfig virtualization: VirtualMachineIPAddresses cannot be used")
        kind, static = spec.get("type"), spec.get("staticIP")
        if kind == v.VMIP_AUTO and static:
            raise Denial("spec.staticIP: must not be set with type Auto")
        if kind == v.VMIP_STATIC:
            if not static:
                raise Denial("spec.staticIP: required with type Static")
            try:
                static = str(nr.parse_address(static))
            except ValueError as exc:
                raise Denial(f"spec.staticIP: {exc}") from None
            if not nr.in_range(static, cidrs):
                message = f"spec.staticIP: {static} is out of the valid range: not inside virtualMachineCIDRs {', '.join(cidrs)} (or the first or last address of one)"
                if request.operation == CREATE:
                    raise Denial(message)
                request.warnings.append(message)
            holder = held_by_other(store, static, obj)
            if holder:
                raise Denial(f"spec.staticIP: {static} is already leased by VirtualMachineIPAddress {holder}")
        if request.operation == UPDATE and old is not None and bound(old):
            old_spec = old.get("spec") or {}
            address = (old.get("status") or {}).get("address")
            if old_spec.get("type") != kind:
                if not (old_spec.get("type") == v.VMIP_AUTO and kind == v.VMIP_STATIC and static == address):
                    raise Denial(f"spec.type: once Bound, only Auto → Static with spec.staticIP equal to the bound address {address} is allowed")
            elif kind == v.VMIP_STATIC and old_spec.get("staticIP") != spec.get("staticIP"):
                raise Denial(f"spec.staticIP: immutable once Bound (bound to {address})")

    @registrations.serve(admission, "vmipl", operations=(CREATE,))
    def validate_lease(request: AdmissionRequest) -> None:
        name = (request.obj or {}).get("metadata", {}).get("name", "")
        if nr.lease_address(name) is None:
            raise Denial(f"metadata.name: {name!r} is not a lease name: write ip- and the IPv4 address with dashes, e.g. ip-10-66-10-14")
