"""DVP's evacuation controller (BEHAVIOUR.md §7.1 steps 5–7, §6.4): a VM whose `EvictionRequired` is True (and whose
pod still carries the evacuation request), that is not Migrating and has no unfinished Migrate/Evict operation,
gets `VirtualMachineOperation{generateName: evacuation-, type: Evict}` with the annotation
`virtualization.deckhouse.io/evacuation: "true"` and the finalizer `vmop-protection-by-evacuation-controller`.
After a failed evacuation operation the next one waits 2 s (the platform's backoff, stepped once, §7.1).

The finalizer: an evacuation operation that finished loses it; one deleted first cancels the evacuation (the
request is removed from the VM's pod, so `EvictionRequired` goes and no new operation is created; the next
eviction asks again), then loses it. Costs: a reconcile reads one VM, its pods (owner index) and its operations
(by-VM index); an operation's event wakes only its VM, a VM's event only while it must be evicted."""

from __future__ import annotations

import logging
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions, json_copy
from ..clock import Clock
from ..store.store import DELETED, OWNER, Event, Store
from ..webhooks import vmop as vmop_hooks
from . import conditions as cond
from .runtime import Context, Controller, Key, Requeue

VMS = v.resource_key(v.VIRTUAL_MACHINE)
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
PODS = v.resource_key(v.POD)
MANAGER = "virtualization-controller"
BACKOFF = 2.0  # simulated seconds after a failed evacuation operation
MIGRATION_TYPES = (v.VMOP_MIGRATE, v.VMOP_EVICT)
log = logging.getLogger("dvp_simulator.controllers.evacuation")


def is_evacuation(op: dict[str, Any]) -> bool:
    return (op["metadata"].get("annotations") or {}).get(v.EVACUATION_ANNOTATION) == "true"


def controller(store: Store) -> Controller:
    vmop_hooks.register_indexes(store)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        ops = [json_copy(e.obj) for e in store.by_index(VMOPS, vmop_hooks.BY_VM, f"{key[0]}/{key[1]}")]
        vm_entry = store.get(VMS, *key)
        pod = _pod(store, vm_entry.obj) if vm_entry else None
        cancelling = False
        for op in ops:
            if v.EVACUATION_FINALIZER not in (op["metadata"].get("finalizers") or []):
                continue
            if op["metadata"].get("deletionTimestamp"):
                cancelling = True
                if pod is not None and not any(is_evacuation(o) and _unfinished(o) and not o["metadata"].get("deletionTimestamp") for o in ops):
                    pod = _cancel_evacuation(ctx, pod)
                _unprotect(ctx, op)
            elif not _unfinished(op):
                _unprotect(ctx, op)
        if vm_entry is None or cancelling or pod is None:
            return None
        vm = vm_entry.obj
        required = (cond.get((vm.get("status") or {}).get("conditions") or [], v.COND_EVICTION_REQUIRED) or {}).get("status") == "True"
        asked = (pod["metadata"].get("annotations") or {}).get(v.VM_EVACUATION_NODE_ANNOTATION) == (pod.get("spec") or {}).get("nodeName")
        if not (required and asked) or (vm.get("status") or {}).get("phase") == v.VM_MIGRATING:
            return None
        if any(_unfinished(o) and o["spec"].get("type") in MIGRATION_TYPES for o in ops):
            return None
        failed = [o for o in ops if is_evacuation(o) and (o.get("status") or {}).get("phase") == v.FAILED]
        if failed:
            last = max(
                Clock.parse((cond.get(o["status"].get("conditions") or [], v.COND_COMPLETED) or {}).get("lastTransitionTime") or "1970-01-01T00:00:00Z")
                for o in failed
            )
            wait = BACKOFF - (ctx.clock.time() - last)
            if wait > 0:
                return Requeue(wait)
        body = {
            "apiVersion": f"{v.DVP_GROUP}/{v.DVP_VERSION}",
            "kind": v.VIRTUAL_MACHINE_OPERATION,
            "metadata": {
                "generateName": v.EVACUATION_GENERATE_NAME,
                "namespace": key[0],
                "annotations": {v.EVACUATION_ANNOTATION: "true"},
                "finalizers": [v.EVACUATION_FINALIZER],
            },
            "spec": {"type": v.VMOP_EVICT, "virtualMachineName": key[1]},
        }
        rt = ctx.service.registry.types[VMOPS]
        try:
            created = ctx.service.create(rt, key[0], body, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj
        except APIError as exc:  # an unfinished operation that cannot be superseded: try again later
            log.info("evacuation of %s/%s: %s", key[0], key[1], exc)
            return Requeue(BACKOFF)
        ctx.service.record_event(vm, "Normal", "EvacuationStarted", f"The evacuation operation {created['metadata']['name']} was created.", MANAGER)
        return None

    def of_vmop(event: Event) -> list[Key]:
        name = (event.entry.obj.get("spec") or {}).get("virtualMachineName")
        return [(event.entry.namespace, name)] if name else []

    def of_vm(event: Event) -> list[Key]:
        """A VM's event matters only while its EvictionRequired is True (what starts an evacuation) or when the VM is
        gone; what ends an evacuation (an operation finished or deleted) is the operation's event. Every write of every VM woke this controller
        before (4 per VM on its way to Running), for nothing."""
        conditions = (event.entry.obj.get("status") or {}).get("conditions") or []
        required = (cond.get(conditions, v.COND_EVICTION_REQUIRED) or {}).get("status") == "True"
        return [(event.entry.namespace, event.entry.name)] if required or event.type == DELETED else []

    return Controller("evacuation", VMS, reconcile, {VMOPS: of_vmop}, primary_mapper=of_vm)


def _unfinished(op: dict[str, Any]) -> bool:
    return ((op.get("status") or {}).get("phase") or "") in ("", v.PENDING, v.VMOP_IN_PROGRESS)


def _pod(store: Store, vm: dict[str, Any]) -> dict[str, Any] | None:
    """The VM's running pod (not a migration's target, not terminating)."""
    for e in store.by_index(PODS, OWNER, vm["metadata"]["uid"]):
        annotations = e.obj["metadata"].get("annotations") or {}
        if not e.obj["metadata"].get("deletionTimestamp") and v.VM_MIGRATION_TARGET_ANNOTATION not in annotations:
            return e.obj
    return None


def _cancel_evacuation(ctx: Context, pod: dict[str, Any]) -> dict[str, Any]:
    annotations = dict(pod["metadata"].get("annotations") or {})
    if annotations.pop(v.VM_EVACUATION_NODE_ANNOTATION, None) is None:
        return pod
    rt = ctx.service.registry.types[PODS]
    body = {**pod, "metadata": {**pod["metadata"], "annotations": annotations}}
    return ctx.service.update(rt, pod["metadata"]["namespace"], pod["metadata"]["name"], body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj


def _unprotect(ctx: Context, op: dict[str, Any]) -> None:
    rt = ctx.service.registry.types[VMOPS]
    finalizers = [f for f in op["metadata"].get("finalizers") or [] if f != v.EVACUATION_FINALIZER]
    body = {**op, "metadata": {**op["metadata"], "finalizers": finalizers}}
    try:
        ctx.service.update(rt, op["metadata"]["namespace"], op["metadata"]["name"], body, WriteOptions(version=rt.storage_version, manager=MANAGER))
    except APIError as exc:
        if exc.code not in (404, 409):
            raise
