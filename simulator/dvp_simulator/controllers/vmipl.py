"""VirtualMachineIPAddressLease (BEHAVIOUR.md §5): Bound while the VirtualMachineIPAddress it names exists and
holds its address; otherwise Released — the reference's name and the VMIP-UID label cleared, the namespace kept (a
Static VMIP of that namespace may re-take it) — and deleted 10 simulated minutes after the Released transition.
The `vmipl-cleanup` finalizer holds a lease until it is Released.

Wake-ups: a VMIP's events wake the lease of its address and the lease carrying its UID label (label index)."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import WriteOptions, json_copy
from ..clock import Clock
from ..store.store import Event, Store
from . import conditions as cond
from . import ipam
from .runtime import Context, Controller, Key, Requeue

FINALIZER = v.VMIPL_CLEANUP_FINALIZER


def _opts(sub: str | None = None) -> WriteOptions:
    return WriteOptions(version=v.DVP_VERSION, manager=ipam.MANAGER, subresource=sub)


def holds(vmip: dict[str, Any] | None, lease: dict[str, Any]) -> bool:
    """The VMIP exists, is not being deleted, and holds the lease's address (by UID label or status.address)."""
    if vmip is None or vmip["metadata"].get("deletionTimestamp"):
        return False
    uid = (lease["metadata"].get("labels") or {}).get(v.VMIP_UID_LABEL)
    address = nr.lease_address(lease["metadata"]["name"])
    return uid == vmip["metadata"].get("uid") or (vmip.get("status") or {}).get("address") == address


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    service = ctx.service
    rt = service.registry.types[ipam.LEASES]
    lease = service.find(rt, *key)
    if lease is None:
        return None
    ref = (lease.get("spec") or {}).get("virtualMachineIPAddressRef") or {}
    vmip = service.find(service.registry.types[ipam.VMIPS], ref.get("namespace", ""), ref["name"]) if ref.get("name") else None
    gen = lease["metadata"].get("generation", 1)
    status = json_copy(lease.get("status") or {})
    status.setdefault("conditions", [])
    if holds(vmip, lease):
        finalizers = list(lease["metadata"].get("finalizers") or [])
        if FINALIZER not in finalizers and not lease["metadata"].get("deletionTimestamp"):
            lease = service.update(rt, "", key[1], {**lease, "metadata": {**lease["metadata"], "finalizers": finalizers + [FINALIZER]}}, _opts()).obj
        status["phase"] = v.IP_BOUND
        cond.set_condition(status["conditions"], v.COND_BOUND, "True", v.REASON_BOUND, "", gen, ctx.clock.stamp())
        status["observedGeneration"] = gen
        if status != lease.get("status"):
            service.update(rt, "", key[1], {**lease, "status": status}, _opts("status"))
        return None
    return _release(ctx, lease, status)


def _release(ctx: Context, lease: dict[str, Any], status: dict[str, Any]) -> Requeue | None:
    service = ctx.service
    rt = service.registry.types[ipam.LEASES]
    name = lease["metadata"]["name"]
    meta = json_copy(lease["metadata"])
    ref = (lease.get("spec") or {}).get("virtualMachineIPAddressRef") or {}
    labels = {k: val for k, val in (meta.get("labels") or {}).items() if k != v.VMIP_UID_LABEL}
    finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
    if labels != (meta.get("labels") or {}) or finalizers != (meta.get("finalizers") or []) or ref.get("name"):
        meta["labels"], meta["finalizers"] = labels, finalizers
        spec = {"virtualMachineIPAddressRef": {"namespace": ref.get("namespace", ""), "name": ""}}
        result = service.update(rt, "", name, {**lease, "metadata": meta, "spec": spec}, _opts()).obj
        if result is None or service.find(rt, "", name) is None:
            return None  # it was being deleted: the finalizer was the last thing holding it
        lease = result
    status["phase"] = v.IP_RELEASED
    cond.set_condition(status["conditions"], v.COND_BOUND, "False", v.REASON_LEASE_RELEASED, "the VirtualMachineIPAddress no longer holds the address", lease["metadata"].get("generation", 1), ctx.clock.stamp())
    status["observedGeneration"] = lease["metadata"].get("generation", 1)
    if status != lease.get("status"):
        lease = service.update(rt, "", name, {**lease, "status": status}, _opts("status")).obj
    left = _retention_left(ctx.clock, status)
    if left > 0:
        return Requeue(after=left)
    service.delete(rt, "", name, None)
    return None


def _retention_left(clock: Clock, status: dict[str, Any]) -> float:
    released = cond.get(status.get("conditions") or [], v.COND_BOUND) or {}
    since = Clock.parse(released["lastTransitionTime"]) if released.get("lastTransitionTime") else clock.time()
    return ipam.RETENTION - (clock.time() - since)


def controller(store: Store) -> Controller:
    ipam.register_indexes(store)

    def leases_of_vmip(event: Event) -> list[Key]:
        keys = set()
        for entry in (event.entry, event.prev):
            if entry is None:
                continue
            address = (entry.obj.get("status") or {}).get("address")
            if address:
                try:
                    keys.add(("", nr.lease_name(address)))
                except ValueError:
                    pass
            uid = entry.obj["metadata"].get("uid")
            if uid:
                keys |= {("", e.name) for e in store.select(ipam.LEASES, None, {v.VMIP_UID_LABEL: uid})}
        return sorted(keys)

    return Controller("vmip-lease", ipam.LEASES, reconcile, {ipam.VMIPS: leases_of_vmip})
