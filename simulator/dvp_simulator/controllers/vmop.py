"""VirtualMachineOperation controller (BEHAVIOUR.md §6.3) for Start, Stop and Restart: Pending → InProgress →
Completed, or Failed / Superseded, with the `Completed` and `SignalSent` conditions. The "signal" is the
operation itself turning InProgress: the VM controller reads a VM's in-progress operations (an index) and acts
on the newest. Migrate and Evict are accepted and stay Pending with a condition saying that live migration
comes with a later release. Applicability (run policy, then VM phase) is `vm_rules.vmop_not_applicable`.

Finalizer `vmop-cleanup` (§6.4): put on an operation when it is signalled (InProgress; Migrate/Evict when
accepted); on deletion it is removed at once (phase Terminating meanwhile) and what was sent is not reverted.
An operation deleted while Pending has none and goes at once.

Garbage collection (§6.4): a daily sweep at 00:00 of the simulated clock deletes finished operations (Completed,
Failed, Superseded) created more than 24 h ago and, of the younger ones, all but the 10 newest of each VM.

Costs: a reconcile reads its VM and the unfinished operations of that VM (index); a VM's change wakes only
its unfinished operations; the sweep reads the finished operations (index), once a day."""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vm_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import ObjectService, WriteOptions
from ..clock import Clock
from ..store.store import OWNER, Event, Store
from ..webhooks import vmop as vmop_hooks
from . import conditions as cond
from .runtime import Context, Controller, Key, Requeue

VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
PODS = v.resource_key(v.POD)
MANAGER = "virtualization-controller"
FINISHED = (v.VMOP_COMPLETED, v.FAILED, v.VMOP_SUPERSEDED)
IN_PROGRESS_REASON = {v.VMOP_START: v.REASON_START_IN_PROGRESS, v.VMOP_STOP: v.REASON_STOP_IN_PROGRESS, v.VMOP_RESTART: v.REASON_RESTART_IN_PROGRESS}
MIGRATION_TYPES = (v.VMOP_MIGRATE, v.VMOP_EVICT)
FINALIZER = v.VMOP_CLEANUP_FINALIZER
GC_TTL = 24 * 3600.0  # finished operations older than this are deleted by the sweep
GC_KEEP = 10  # younger finished operations kept per VM
DAY = 86400.0
log = logging.getLogger("dvp_simulator.controllers.vmop")


def _order(op: dict[str, Any]) -> tuple[str, str]:
    return op["metadata"].get("creationTimestamp", ""), op["metadata"]["name"]


def done(op: dict[str, Any], vm: dict[str, Any], store: Store) -> bool:
    """Has the VM reached what the in-progress operation asked for?"""
    kind, phase = op["spec"]["type"], (vm.get("status") or {}).get("phase")
    if kind == v.VMOP_START:
        return phase == v.VM_RUNNING
    if kind == v.VMOP_STOP:
        return phase == v.VM_STOPPED
    if kind == v.VMOP_RESTART:
        if phase != v.VM_RUNNING:
            return False
        pods = [e.obj for e in store.by_index(PODS, OWNER, vm["metadata"]["uid"]) if not e.obj["metadata"].get("deletionTimestamp")]
        return any((p["metadata"].get("annotations") or {}).get(v.VM_RESTART_OPERATION_ANNOTATION) == op["metadata"]["name"] for p in pods)
    return False


def sweep_victims(finished: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """The finished operations the daily sweep deletes (pure): older than GC_TTL, and beyond the GC_KEEP newest
    of each VM among the younger ones."""
    victims, young = [], defaultdict(list)
    for op in finished:
        if op["metadata"].get("deletionTimestamp"):
            continue
        if now - Clock.parse(op["metadata"].get("creationTimestamp") or "1970-01-01T00:00:00Z") > GC_TTL:
            victims.append(op)
        else:
            young[(op["metadata"].get("namespace", ""), (op.get("spec") or {}).get("virtualMachineName", ""))].append(op)
    for ops in young.values():
        victims += sorted(ops, key=_order, reverse=True)[GC_KEEP:]
    return victims


class Sweeper:
    """The daily garbage collection of finished operations, on the simulated clock (armed at the first reconcile)."""

    def __init__(self, store: Store):
        self.store = store
        self.timer: Any = None

    def arm(self, service: ObjectService, clock: Clock) -> None:
        if self.timer is None:
            self.timer = clock.call_at((clock.time() // DAY + 1) * DAY, self.sweep, service, clock)

    def sweep(self, service: ObjectService, clock: Clock) -> None:
        self.timer = None
        rt = service.registry.types[VMOPS]
        finished = [e.obj for e in self.store.by_index(VMOPS, vmop_hooks.FINISHED, "true")]
        for op in sweep_victims(finished, clock.time()):
            try:
                service.delete(rt, op["metadata"]["namespace"], op["metadata"]["name"], {})
            except APIError as exc:
                if exc.code != 404:
                    log.warning("vmop gc: %s", exc)
        self.arm(service, clock)


def controller(store: Store) -> Controller:
    vmop_hooks.register_indexes(store)
    sweeper = Sweeper(store)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        sweeper.arm(ctx.service, ctx.clock)
        entry = store.get(VMOPS, *key)
        if entry is None:
            return None
        op = copy.deepcopy(entry.obj)
        rt = ctx.service.registry.types[VMOPS]
        if op["metadata"].get("deletionTimestamp"):
            _release(ctx, op)
            return None
        status = copy.deepcopy(op.get("status") or {})
        phase = status.get("phase") or ""
        if phase in FINISHED:
            return None
        gen, now = op["metadata"].get("generation", 1), ctx.clock.stamp()
        conds = status.setdefault("conditions", [])

        def condition(type_: str, value: str, reason: str, message: str = "") -> None:
            cond.set_condition(conds, type_, value, reason, message, gen, now)

        def write() -> None:
            if status != (op.get("status") or {}):
                ctx.service.update(
                    rt, key[0], key[1], {**op, "status": status}, WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status")
                )

        def fail(reason: str, message: str) -> None:
            status["phase"] = v.FAILED
            condition(v.COND_COMPLETED, "False", reason, message)
            write()

        spec = op.get("spec") or {}
        kind, vm_name = spec.get("type", ""), spec.get("virtualMachineName", "")
        if not phase:
            status["phase"] = phase = v.PENDING
            condition(v.COND_COMPLETED, "Unknown", v.REASON_UNKNOWN)
            if kind in MIGRATION_TYPES:
                condition(v.COND_SIGNAL_SENT, "Unknown", v.REASON_UNKNOWN)
            ctx.service.record_event(op, "Normal", "VMOPStarted", f"The {kind} operation of the virtual machine {vm_name} started.", MANAGER)
        vm_entry = store.get(VMS, key[0], vm_name)
        if vm_entry is None:
            fail(v.REASON_VM_NOT_FOUND, f'VirtualMachine "{vm_name}" not found.')
            return None
        vm = vm_entry.obj
        labels = op["metadata"].get("labels") or {}
        if labels.get(v.VM_UID_LABEL) != vm["metadata"]["uid"]:
            body = {**op, "metadata": {**op["metadata"], "labels": {**labels, v.VM_UID_LABEL: vm["metadata"]["uid"]}}}
            op = ctx.service.update(rt, key[0], key[1], body, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj
        if kind in MIGRATION_TYPES:
            op = _hold(ctx, op)
            condition(
                v.COND_COMPLETED,
                "False",
                v.REASON_MIGRATION_NOT_SUPPORTED,
                f"The {kind} operation needs live migration, which comes with a later release of the simulator; the operation stays Pending.",
            )
            write()
            return None
        if kind not in vm_rules.POWER_TYPES:
            fail(v.REASON_OPERATION_FAILED, f"The {kind} operation is not supported by the simulator.")
            return None
        if phase == v.PENDING:
            older = [e.obj for e in store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{key[0]}/{vm_name}") if e.name != key[1] and _order(e.obj) < _order(op)]
            force = bool(spec.get("force"))
            if not all(vm_rules.can_supersede(o["spec"].get("type", ""), bool(o["spec"].get("force")), kind, force) for o in older):
                blocking = next(o for o in older if not vm_rules.can_supersede(o["spec"].get("type", ""), bool(o["spec"].get("force")), kind, force))
                fail(
                    v.REASON_NOT_READY_TO_BE_EXECUTED, f'The VirtualMachineOperation "{blocking["metadata"]["name"]}" of the virtual machine must finish first.'
                )
                return None
            for old in older:
                _supersede(ctx, old, op["metadata"]["name"])
            policy = (vm.get("spec") or {}).get("runPolicy") or v.RUN_ALWAYS_ON_UNLESS_STOPPED
            why = vm_rules.vmop_not_applicable(kind, force, policy, (vm.get("status") or {}).get("phase") or v.VM_PENDING)
            if why is not None:
                reason = v.REASON_NOT_APPLICABLE_RUN_POLICY if why[0] == "runPolicy" else v.REASON_NOT_APPLICABLE_PHASE
                fail(reason, why[1][0].upper() + why[1][1:] + ".")
                return None
            op = _hold(ctx, op)
            status["phase"] = v.VMOP_IN_PROGRESS
            condition(v.COND_SIGNAL_SENT, "True", v.REASON_SIGNAL_SENT_SUCCESS)
            condition(v.COND_COMPLETED, "False", IN_PROGRESS_REASON[kind], f"The {kind} signal was sent to the virtual machine.")
            write()
            return None
        if done(op, vm, store):
            status["phase"] = v.VMOP_COMPLETED
            condition(v.COND_COMPLETED, "True", v.REASON_OPERATION_COMPLETED)
            write()
        return None

    def of_vm(event: Event) -> list[Key]:
        e = event.entry
        return [(x.namespace, x.name) for x in store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{e.namespace}/{e.name}")]

    return Controller("vmop", VMOPS, reconcile, {VMS: of_vm})


def _hold(ctx: Context, op: dict[str, Any]) -> dict[str, Any]:
    """Put the cleanup finalizer on the operation (once)."""
    finalizers = op["metadata"].get("finalizers") or []
    if FINALIZER in finalizers:
        return op
    rt = ctx.service.registry.types[VMOPS]
    body = {**op, "metadata": {**op["metadata"], "finalizers": [*finalizers, FINALIZER]}}
    return ctx.service.update(rt, op["metadata"]["namespace"], op["metadata"]["name"], body, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj


def _release(ctx: Context, op: dict[str, Any]) -> None:
    """A deleted operation: phase Terminating, then the cleanup finalizer goes (nothing sent is reverted; a
    Migrate/Evict has no migration object to cancel in the simulator)."""
    finalizers = op["metadata"].get("finalizers") or []
    if FINALIZER not in finalizers:
        return
    rt = ctx.service.registry.types[VMOPS]
    ns, name = op["metadata"]["namespace"], op["metadata"]["name"]
    opts = WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status")
    if (op.get("status") or {}).get("phase") != v.TERMINATING:
        op = ctx.service.update(rt, ns, name, {**op, "status": {**(op.get("status") or {}), "phase": v.TERMINATING}}, opts).obj
    body = {**op, "metadata": {**op["metadata"], "finalizers": [f for f in finalizers if f != FINALIZER]}}
    ctx.service.update(rt, ns, name, body, WriteOptions(version=rt.storage_version, manager=MANAGER))


def _supersede(ctx: Context, old: dict[str, Any], by: str) -> None:
    rt = ctx.service.registry.types[VMOPS]
    status = copy.deepcopy(old.get("status") or {})
    status["phase"] = v.VMOP_SUPERSEDED
    cond.set_condition(
        status.setdefault("conditions", []),
        v.COND_COMPLETED,
        "True",
        v.REASON_SUPERSEDED,
        f'Superseded by the VirtualMachineOperation "{by}".',
        old["metadata"].get("generation", 1),
        ctx.clock.stamp(),
    )
    ctx.service.update(
        rt,
        old["metadata"]["namespace"],
        old["metadata"]["name"],
        {**old, "status": status},
        WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status"),
    )
