"""VirtualMachineIPAddress (BEHAVIOUR.md §5): allocation and binding through leases, attachment to a VM.

- Static: the lease `ip-a-b-c-d` of spec.staticIP — created, or taken over when Released and its namespace
  reference is this VMIP's namespace (another namespace: LeaseNotReady); held by another VMIP: LeaseAlreadyExists;
  outside virtualMachineCIDRs or a first/last address: IsOutOfTheValidRange.
- Auto: the first address, in CIDR order, that is no first/last address and has no lease of any phase.
- Bound=True once the lease is Bound; phase Pending → Bound → Attached (a VM names the VMIP in
  status.virtualMachineIPAddressName, else spec.virtualMachineIPAddressName, else the owner VM).

Costs: the pool is one ModuleConfig get; the walk tests leases by name with a per-CIDR hint (addresses below it
are known taken), lowered when a lease goes; VMs come from an index by the VMIP they name. Wake-ups: its lease
(by the VMIP-UID label / the ref), the VMs naming it, and the Pending VMIPs when the ModuleConfig changes."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions, json_copy
from ..store.store import DELETED, MODIFIED, OWNER, Event, Store
from . import conditions as cond
from . import ipam
from .runtime import Context, Controller, Key, Requeue

RETRY = 1.0


def _opts(sub: str | None = None) -> WriteOptions:
    return WriteOptions(version=v.DVP_VERSION, manager=ipam.MANAGER, subresource=sub)


def new_lease(address: str, vmip: dict[str, Any]) -> dict[str, Any]:
    meta = vmip["metadata"]
    return {
        "apiVersion": f"{v.DVP_GROUP}/{v.DVP_VERSION}",
        "kind": v.VIRTUAL_MACHINE_IP_ADDRESS_LEASE,
        "metadata": {"name": nr.lease_name(address), "labels": {v.VMIP_UID_LABEL: meta["uid"]}, "finalizers": [v.VMIPL_CLEANUP_FINALIZER]},
        "spec": {"virtualMachineIPAddressRef": {"namespace": meta["namespace"], "name": meta["name"]}},
    }


def controller(store: Store) -> Controller:
    ipam.register_indexes(store)
    hints: dict[str, int] = {}  # CIDR → first address not known to be leased (nr.first_free)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        service = ctx.service
        rt = service.registry.types[ipam.VMIPS]
        vmip = service.find(rt, *key)
        if vmip is None or vmip["metadata"].get("deletionTimestamp"):
            return None
        binding = Binding(ctx, vmip, hints)
        requeue = binding.bind()
        status = binding.status
        _attach(ctx, vmip, status)
        status["observedGeneration"] = vmip["metadata"].get("generation", 1)
        if status != vmip.get("status"):
            service.update(rt, key[0], key[1], {**vmip, "status": status}, _opts("status"))
        return requeue

    def vmip_of_lease(event: Event) -> list[Key]:
        keys = set()
        if event.type == DELETED:
            address = nr.lease_address(event.entry.name)
            if address:
                nr.forget_hint(hints, address)
            # an address came free: the Pending VMIPs (a Static one waiting for it), from the phase index
            keys |= {(e.namespace, e.name) for e in store.by_index(ipam.VMIPS, ipam.PHASE, v.PENDING)}
        for entry in (event.entry, event.prev):
            ref = ((entry.obj.get("spec") or {}).get("virtualMachineIPAddressRef") or {}) if entry else {}
            if ref.get("name"):
                keys.add((ref.get("namespace", ""), ref["name"]))
        return sorted(keys)

    def vmips_of_vm(event: Event) -> list[Key]:
        """The VMIPs a VM names (spec or status) now or before, and those it owns — on its creation and deletion, and
        on a change of the address it names: all a VMIP reports of its VM (_vm_of). Its other writes (a VM's phase,
        conditions, node: ~6 on its way to Running) wake nothing; each cost a VMIP reconcile that changed nothing."""
        if event.type == MODIFIED and event.prev is not None and _named(event.prev.obj) == _named(event.entry.obj):
            return []
        names = set(ipam.vm_vmip_names(event.entry.obj)) | (set(ipam.vm_vmip_names(event.prev.obj)) if event.prev else set())
        keys = {tuple(n.split("/", 1)) for n in names}
        uid = event.entry.obj["metadata"].get("uid")
        if uid:  # the VMIPs it owns (its automatic address), from the owner index
            keys |= {(e.namespace, e.name) for e in store.by_index(ipam.VMIPS, OWNER, uid)}
        return sorted(keys)  # type: ignore[arg-type]

    def pending_vmips(event: Event) -> list[Key]:
        """The settings in effect changed (not merely the ModuleConfig: its settings may not have taken effect)."""
        return [(e.namespace, e.name) for e in store.by_index(ipam.VMIPS, ipam.PHASE, v.PENDING)]

    secondary = {ipam.LEASES: vmip_of_lease, ipam.VMS: vmips_of_vm, ipam.CONFIG_MAPS: ipam.on_settings(pending_vmips)}
    return Controller("vmip", ipam.VMIPS, reconcile, secondary)


class Binding:
    """One VMIP's Bound condition and address for this reconcile."""

    def __init__(self, ctx: Context, vmip: dict[str, Any], hints: dict[str, int]):
        self.ctx, self.vmip, self.hints = ctx, vmip, hints
        self.store = ctx.service.store
        self.status = json_copy(vmip.get("status") or {})
        self.status.setdefault("conditions", [])
        self.meta = vmip["metadata"]
        self.lease_rt = ctx.service.registry.types[ipam.LEASES]

    def condition(self, status: str, reason: str, message: str = "") -> None:
        cond.set_condition(self.status["conditions"], v.COND_BOUND, status, reason, message, self.meta.get("generation", 1), self.ctx.clock.stamp())

    def unbound(self, reason: str, message: str, requeue: Requeue | None = None) -> Requeue | None:
        self.condition("False", reason, message)
        return requeue

    def own_lease(self) -> dict[str, Any] | None:
        found = self.store.select(ipam.LEASES, None, {v.VMIP_UID_LABEL: self.meta["uid"]})
        return found[0].obj if found else None

    def bind(self) -> Requeue | None:
        spec = self.vmip.get("spec") or {}
        cidrs = ipam.configured_cidrs(self.store)
        own = self.own_lease()
        if spec.get("type") == v.VMIP_STATIC:
            try:
                address = str(nr.parse_address(spec.get("staticIP")))
            except ValueError as exc:
                return self.unbound(v.REASON_IP_OUT_OF_RANGE, f"spec.staticIP: {exc}")
        elif own is not None:
            address = nr.lease_address(own["metadata"]["name"]) or ""
        elif self.status.get("address"):
            return self.unbound(v.REASON_LEASE_LOST, f"the lease {nr.lease_name(self.status['address'])} of {self.status['address']} is gone")
        else:
            free = nr.first_free(cidrs, lambda a: self.store.get(ipam.LEASES, "", nr.lease_name(a)) is not None, self.hints)
            if free is None:
                return self.unbound(v.REASON_LEASE_NOT_READY, f"no free address is left in virtualMachineCIDRs {', '.join(cidrs) or '(not configured)'}")
            address = free
        if not nr.in_range(address, cidrs):
            return self.unbound(
                v.REASON_IP_OUT_OF_RANGE,
                f"{address} is out of the valid range: not inside virtualMachineCIDRs {', '.join(cidrs) or '(not configured)'} (or the first or last address of one)",
            )
        lease = self.store.get(ipam.LEASES, "", nr.lease_name(address))
        if lease is None:
            try:
                lease_obj = self.ctx.service.create(self.lease_rt, "", new_lease(address, self.vmip), _opts()).obj
            except APIError as err:
                if err.code == 409:  # taken meanwhile: walk again
                    return self.unbound(v.REASON_LEASE_NOT_READY, f"the lease of {address} was just taken", Requeue(RETRY))
                raise
        else:
            lease_obj = lease.obj
            if not self._take(lease_obj):
                return None  # the Bound condition says why
            lease_obj = self.store.get(ipam.LEASES, "", nr.lease_name(address)).obj  # type: ignore[union-attr]
        self.status["address"] = address
        if (lease_obj.get("status") or {}).get("phase") != v.IP_BOUND:
            self.status["phase"] = v.PENDING
            return self.unbound(v.REASON_LEASE_NOT_READY, f"the lease {lease_obj['metadata']['name']} is not Bound yet")
        self.condition("True", v.REASON_BOUND, "")
        return None

    def _take(self, lease: dict[str, Any]) -> bool:
        """Use an existing lease: ours already, or a Released one of this namespace (a Static VMIP re-taking it).
        False, with the Bound condition saying why, when it cannot."""
        labels = lease["metadata"].get("labels") or {}
        ref = (lease.get("spec") or {}).get("virtualMachineIPAddressRef") or {}
        name = lease["metadata"]["name"]
        if labels.get(v.VMIP_UID_LABEL) == self.meta["uid"]:
            if ref.get("name") == self.meta["name"] and ref.get("namespace") == self.meta["namespace"]:
                return True
        elif labels.get(v.VMIP_UID_LABEL) or ref.get("name"):
            holder = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else "another VirtualMachineIPAddress"
            self.unbound(v.REASON_LEASE_ALREADY_EXISTS, f"the lease {name} is held by VirtualMachineIPAddress {holder}")
            return False
        elif (self.vmip.get("spec") or {}).get("type") != v.VMIP_STATIC:
            self.unbound(v.REASON_LEASE_ALREADY_EXISTS, f"the lease {name} exists")
            return False
        elif ref.get("namespace") != self.meta["namespace"]:
            self.unbound(v.REASON_LEASE_NOT_READY, f"the released lease {name} belongs to a different namespace ({ref.get('namespace')})")
            return False
        body = json_copy(lease)
        body["metadata"]["labels"] = {**labels, v.VMIP_UID_LABEL: self.meta["uid"]}
        body["spec"] = {"virtualMachineIPAddressRef": {"namespace": self.meta["namespace"], "name": self.meta["name"]}}
        self.ctx.service.update(self.lease_rt, "", name, body, _opts())
        return True


def _attach(ctx: Context, vmip: dict[str, Any], status: dict[str, Any]) -> None:
    meta = vmip["metadata"]
    gen = meta.get("generation", 1)
    now = ctx.clock.stamp()
    bound = (cond.get(status["conditions"], v.COND_BOUND) or {}).get("status") == "True"
    vm = _vm_of(ctx, vmip)
    if not bound:
        status["phase"] = v.PENDING
        status.pop("virtualMachineName", None)
        cond.set_condition(status["conditions"], v.COND_ATTACHED, "False", v.REASON_VM_NOT_FOUND, "the address is not bound yet", gen, now)
    elif vm is None:
        status["phase"] = v.IP_BOUND
        status.pop("virtualMachineName", None)
        cond.set_condition(status["conditions"], v.COND_ATTACHED, "False", v.REASON_VM_NOT_FOUND, "no virtual machine uses this address", gen, now)
    else:
        status["phase"] = v.IP_ATTACHED
        status["virtualMachineName"] = vm
        cond.set_condition(status["conditions"], v.COND_ATTACHED, "True", v.REASON_ATTACHED, "", gen, now)


def _named(vm: dict[str, Any]) -> tuple[Any, Any]:
    return (vm.get("spec") or {}).get("virtualMachineIPAddressName"), (vm.get("status") or {}).get("virtualMachineIPAddressName")


def _vm_of(ctx: Context, vmip: dict[str, Any]) -> str | None:
    """The VM whose status names the VMIP, else whose spec names it, else the owner VM (if it exists)."""
    meta = vmip["metadata"]
    store = ctx.service.store
    vms = store.by_index(ipam.VMS, ipam.BY_VMIP, f"{meta['namespace']}/{meta['name']}", meta["namespace"])
    for field in ("status", "spec"):
        for e in vms:
            if (e.obj.get(field) or {}).get("virtualMachineIPAddressName") == meta["name"]:
                return e.name
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == v.VIRTUAL_MACHINE and store.get(ipam.VMS, meta["namespace"], ref["name"]) is not None:
            return ref["name"]
    return None
