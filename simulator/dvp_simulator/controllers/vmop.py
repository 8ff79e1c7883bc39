"""VirtualMachineOperation controller (BEHAVIOUR.md §6.3–6.5): Pending → InProgress → Completed, or Failed /
Superseded, with the `Completed` and `SignalSent` conditions. Applicability (run policy, then VM phase) is
`vm_rules.vmop_not_applicable`; older unfinished operations of the VM are superseded or make the new one fail.

Start, Stop, Restart: the "signal" is the operation itself turning InProgress: the VM controller reads a VM's
in-progress operations (an index) and acts on the newest.

Migrate, Evict (§6.5, §7.4): the force × liveMigrationPolicy matrix (`NotApplicableForLiveMigrationPolicy`; a
system policy on the ModuleConfig overrides the VM's and ignores `force`), the VM must be Migratable, no other
migration of the VM may run (`OtherMigrationInProgress`); the operation waits (Pending,
`WaitingForVirtualMachineToBeReadyToMigrate`, 10 s requeues, Failed after 5 min) for the VM's `Migrating` condition
to read ReadyToMigrate, then creates the migration (controllers/migration.py: the VM controller drives it; AutoConverge
per migration_rules.auto_converge) and
follows it: phase Pending for MigrationPending / WaitingForSyncSlot, else InProgress, the state as the `Completed`
reason, `progress` 0–100 %; stuck over 5 min in a target-preparation state → the migration is cancelled and the
operation Failed. Succeeded → Completed (`Completed=True/Completed`, 100 %); Failed → Failed with its reason; gone
(the simulator restarted) → what the VM's migrationState says: Completed if the switch had happened, else Failed
(the migration was lost with the restart).

Finalizer `vmop-cleanup` (§6.4): put on an operation when it is signalled (InProgress; Migrate/Evict when
accepted); on deletion Start/Stop/Restart lose it at once (phase Terminating meanwhile) and what was sent is not
reverted; a Migrate/Evict first cancels its migration and waits until it is gone (the VM stays on its node). An
operation deleted while Pending has none and goes at once.

Garbage collection (§6.4): a daily sweep at 00:00 of the simulated clock deletes finished operations (Completed,
Failed, Superseded) created more than 24 h ago and, of the younger ones, all but the 10 newest of each VM.

Costs: a reconcile reads its VM and the unfinished operations of that VM (index); a VM's change wakes only
its unfinished operations; the sweep reads the finished operations (index), once a day."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import migration_rules, vm_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import ObjectService, WriteOptions, json_copy
from ..clock import Clock
from ..store.store import OWNER, Event, Store
from ..webhooks import vmop as vmop_hooks
from . import conditions as cond
from . import migration as migration_ctl
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


def controller(store: Store, migrations: migration_ctl.Migrations | None = None) -> Controller:
    vmop_hooks.register_indexes(store)
    sweeper = Sweeper(store)
    migrations = migrations if migrations is not None else migration_ctl.Migrations()

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        sweeper.arm(ctx.service, ctx.clock)
        entry = store.get(VMOPS, *key)
        if entry is None:
            return None
        op = json_copy(entry.obj)
        rt = ctx.service.registry.types[VMOPS]
        if op["metadata"].get("deletionTimestamp"):
            return _release(ctx, op, migrations, store)
        status = json_copy(op.get("status") or {})
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
        force = bool(spec.get("force"))
        vm_key = (key[0], vm_name)
        migration = migrations.of(vm_key, key[1]) if kind in MIGRATION_TYPES else None
        signalled = (cond.get(conds, v.COND_SIGNAL_SENT) or {}).get("status") == "True"
        if kind in MIGRATION_TYPES and migration is None and signalled:
            return _vanished(vm, (cond.get(conds, v.COND_SIGNAL_SENT) or {}).get("lastTransitionTime") or now, status, condition, write, fail)
        if kind in MIGRATION_TYPES and migration is None:
            older = [e.obj for e in store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{key[0]}/{vm_name}") if e.name != key[1] and _order(e.obj) < _order(op)]
            blocking = next((o for o in older if not vm_rules.can_supersede(o["spec"].get("type", ""), bool(o["spec"].get("force")), kind, force)), None)
            if blocking is not None:
                fail(
                    v.REASON_NOT_READY_TO_BE_EXECUTED, f'The VirtualMachineOperation "{blocking["metadata"]["name"]}" of the virtual machine must finish first.'
                )
                return None
            policy = (vm.get("spec") or {}).get("runPolicy") or v.RUN_ALWAYS_ON_UNLESS_STOPPED
            why = vm_rules.vmop_not_applicable(kind, force, policy, (vm.get("status") or {}).get("phase") or v.VM_PENDING)
            if why is not None:
                reason = v.REASON_NOT_APPLICABLE_RUN_POLICY if why[0] == "runPolicy" else v.REASON_NOT_APPLICABLE_PHASE
                fail(reason, why[1][0].upper() + why[1][1:] + ".")
                return None
            system = migration_ctl.system_policy(store)
            refusal = migration_rules.force_problem((vm.get("spec") or {}).get("liveMigrationPolicy"), spec.get("force"), system)
            if refusal:
                fail(v.REASON_NOT_APPLICABLE_MIGRATION_POLICY, refusal[0].upper() + refusal[1:] + ".")
                return None
            vm_conds = (vm.get("status") or {}).get("conditions") or []
            migratable = cond.get(vm_conds, v.COND_MIGRATABLE) or {}
            if migratable.get("status") != "True":
                fail(v.REASON_VM_NOT_MIGRATABLE, f"The virtual machine is not migratable: {migratable.get('message') or 'no Migratable condition'}")
                return None
            other = migrations.by_vm.get(vm_key)
            if other is not None and not other.result:
                fail(v.REASON_OTHER_MIGRATION_IN_PROGRESS, f'The migration of the VirtualMachineOperation "{other.vmop}" is in progress.')
                return None
            op = _hold(ctx, op)
            if (cond.get(vm_conds, v.COND_MIGRATING) or {}).get("reason") != v.REASON_READY_TO_MIGRATE:
                waited = ctx.clock.time() - Clock.parse(op["metadata"].get("creationTimestamp") or now)
                if waited >= migration_ctl.READY_WAIT:
                    fail(v.REASON_OPERATION_FAILED, "Timed out waiting for the virtual machine to be ready to migrate.")
                    return None
                condition(v.COND_COMPLETED, "False", v.REASON_WAITING_READY_TO_MIGRATE, "Waiting for the virtual machine to be ready to migrate.")
                write()
                return Requeue(min(migration_ctl.RETRY, migration_ctl.READY_WAIT - waited))
            for old in older:
                _supersede(ctx, old, op["metadata"]["name"], migrations)
            auto_converge = migration_rules.auto_converge((vm.get("spec") or {}).get("liveMigrationPolicy"), spec.get("force"), system)
            migration = migrations.create(vm_key, key[1], (spec.get("migrate") or {}).get("nodeSelector") or {}, ctx.clock.time(), auto_converge)
            condition(v.COND_SIGNAL_SENT, "True", v.REASON_SIGNAL_SENT_SUCCESS)
        if migration is not None:
            clock_now = ctx.clock.time()
            if migration.result == v.MIGRATION_SUCCEEDED:
                status["phase"], status["progress"] = v.VMOP_COMPLETED, "100%"
                condition(
                    v.COND_COMPLETED,
                    "True",
                    v.REASON_MIGRATION_COMPLETED,
                    f"The virtual machine migrated from {migration.source_node} to {migration.target_node}.",
                )
                write()
                migrations.drop(vm_key, key[1])
                return None
            if migration.result:
                fail(migration.failure_reason or v.MIGRATION_FAILED, migration.message)
                migrations.drop(vm_key, key[1])
                return None
            if migration.state in migration_ctl.PREPARING and clock_now - migration.prepare_since >= migration_ctl.PREPARE_TIMEOUT:
                migrations.cancel(vm_key, key[1])
                fail(migration.state, f"Timed out preparing the migration target: {migration.message}")
                return None
            status["phase"] = v.PENDING if migration.state in migration_ctl.PENDING_STATES else v.VMOP_IN_PROGRESS
            status["progress"] = f"{migration.progress(clock_now)}%"
            condition(v.COND_COMPLETED, "False", migration.state, migration.message)
            write()
            return Requeue(5.0 if migration.state in (v.SYNCING, v.NOT_CONVERGING) else migration_ctl.RETRY)
        if kind not in vm_rules.POWER_TYPES:
            fail(v.REASON_OPERATION_FAILED, f"The {kind} operation is not supported by the simulator.")
            return None
        if phase == v.PENDING:
            older = [e.obj for e in store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{key[0]}/{vm_name}") if e.name != key[1] and _order(e.obj) < _order(op)]
            if not all(vm_rules.can_supersede(o["spec"].get("type", ""), bool(o["spec"].get("force")), kind, force) for o in older):
                blocking = next(o for o in older if not vm_rules.can_supersede(o["spec"].get("type", ""), bool(o["spec"].get("force")), kind, force))
                fail(
                    v.REASON_NOT_READY_TO_BE_EXECUTED, f'The VirtualMachineOperation "{blocking["metadata"]["name"]}" of the virtual machine must finish first.'
                )
                return None
            for old in older:
                _supersede(ctx, old, op["metadata"]["name"], migrations)
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


def _vanished(vm: dict[str, Any], signalled_at: str, status: dict[str, Any], condition: Any, write: Any, fail: Any) -> None:
    """The operation was signalled but its migration record is gone: the simulator restarted (records live in
    memory) or the VM is being deleted. The VM's migrationState, written in the same transaction as the switch,
    tells whether the migration this operation started had completed."""
    if vm["metadata"].get("deletionTimestamp"):
        fail(v.REASON_OPERATION_FAILED, "The virtual machine is being deleted: its migration ended.")
        return None
    state = (vm.get("status") or {}).get("migrationState") or {}
    ours = bool(state.get("startTimestamp")) and Clock.parse(state["startTimestamp"]) >= Clock.parse(signalled_at)
    source, target = (state.get("source") or {}).get("node"), (state.get("target") or {}).get("node")
    if ours and state.get("result") == v.MIGRATION_SUCCEEDED:
        status["phase"], status["progress"] = v.VMOP_COMPLETED, "100%"
        condition(v.COND_COMPLETED, "True", v.REASON_MIGRATION_COMPLETED, f"The virtual machine migrated from {source} to {target}.")
        write()
        return None
    stays = f" The virtual machine stays on {source}." if ours and source else ""
    fail(v.MIGRATION_FAILED, migration_ctl.LOST_ON_RESTART + stays)
    return None


def _hold(ctx: Context, op: dict[str, Any]) -> dict[str, Any]:
    """Put the cleanup finalizer on the operation (once)."""
    finalizers = op["metadata"].get("finalizers") or []
    if FINALIZER in finalizers:
        return op
    rt = ctx.service.registry.types[VMOPS]
    body = {**op, "metadata": {**op["metadata"], "finalizers": [*finalizers, FINALIZER]}}
    return ctx.service.update(rt, op["metadata"]["namespace"], op["metadata"]["name"], body, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj


def _release(ctx: Context, op: dict[str, Any], migrations: migration_ctl.Migrations, store: Store) -> Requeue | None:
    """A deleted operation: phase Terminating, then the cleanup finalizer goes (nothing a power operation sent is
    reverted; a Migrate/Evict first cancels its migration and waits until the VM controller rolled it back)."""
    finalizers = op["metadata"].get("finalizers") or []
    if FINALIZER not in finalizers:
        return None
    rt = ctx.service.registry.types[VMOPS]
    ns, name = op["metadata"]["namespace"], op["metadata"]["name"]
    opts = WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status")
    if (op.get("status") or {}).get("phase") != v.TERMINATING:
        op = ctx.service.update(rt, ns, name, {**op, "status": {**(op.get("status") or {}), "phase": v.TERMINATING}}, opts).obj
    vm_key = (ns, (op.get("spec") or {}).get("virtualMachineName") or "")
    if migrations.of(vm_key, name) is not None:
        if store.get(VMS, *vm_key) is None:
            migrations.forget(vm_key)
        else:
            migrations.cancel(vm_key, name)
            if migrations.of(vm_key, name) is not None:
                return Requeue(0.5)  # the VM controller rolls the migration back
    body = {**op, "metadata": {**op["metadata"], "finalizers": [f for f in finalizers if f != FINALIZER]}}
    ctx.service.update(rt, ns, name, body, WriteOptions(version=rt.storage_version, manager=MANAGER))
    return None


def _supersede(ctx: Context, old: dict[str, Any], by: str, migrations: migration_ctl.Migrations) -> None:
    """The old operation is Superseded; a Migrate/Evict's migration is cancelled."""
    if old["spec"].get("type") in MIGRATION_TYPES:
        migrations.cancel((old["metadata"]["namespace"], old["spec"].get("virtualMachineName", "")), old["metadata"]["name"])
    rt = ctx.service.registry.types[VMOPS]
    status = json_copy(old.get("status") or {})
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
