"""Storage (volume) migration, EE only (BEHAVIOUR.md §2.2, §7.1; upstream CTL/volumemigration and the VirtualDisk's
migration handler, CTL/vd/internal/migration.go, as one reconcile of a disk): a disk moves to another volume with
the live migration of the VM that mounts it. Registered on EE clusters only (app.py); the webhook admits a class
change of a provisioned disk only there (webhooks/disks.py, `storage_rules.migration_problems`).

Two reasons to move a disk:

- its class changed (`storage_rules.storage_class_changed`: spec.persistentVolumeClaim.storageClassName differs from
  status.storageClassName). A Ready disk mounted by a Running VM with no unfinished Migrate/Evict gets one
  `VirtualMachineOperation{generateName: volume-migration-, type: Evict}` annotated `volume-migration: "true"`, after
  the retry backoff when the VM's last migration operations failed (`storage_rules.migration_backoff`: 5 s, 10 s,
  doubling, at most 300 s, from the end of the newest failed one). A target class the ModuleConfig does not allow, or
  a deprecated or terminating one, ends the request at once: migrationState Failed with why (no operation); one that
  is gone: `Migrating` False/StorageClassNotFound until it is back;
- on EE a ReadWriteOnce disk moves with any live migration of its VM (the VM is Migratable=True,
  VirtualMachineDisksShouldBeMigrating): a drain, an Evict, a placement change. Its target is on the same class,
  prepared while the operation waits for the VM (`WaitingForVirtualMachineToBeReadyToMigrate`).

The round, while a Migrate/Evict of the VM waits (VM `Migrating=False/Pending`): the target claim
`d8v-vd-<disk uid>-*` (owned by the disk, the source's size and data, the target class's access and volume mode),
`status.migrationState {sourcePVC, targetPVC, startTimestamp}`, condition `Migrating` False/WaitForTargetReady until the
claim is Bound or waits for its first consumer (WaitForFirstConsumer), then True/InProgress - the disk's phase
`Migrating` (controllers/vd.py), its target ready for the VM (controllers/migration.py then reports ReadyToMigrate,
the target pod mounts the target claim, which binds on the target node). A target claim the API refuses (a
ResourceQuota) leaves the condition False with why; the operation then fails after its 5 minutes. When the VM's live
migration that started after the round did:

- succeed: once no pod of the VM uses the source claim (Migrating True/WaitForSourceVolumeRelease meanwhile) the
  source claim is deleted (its volume goes by its reclaim policy), the disk switches to the target claim
  (status.target.persistentVolumeClaimName, status.storageClassName), migrationState Succeeded "Migration completed.",
  the condition goes;
- fail, or the VM stopped running, or no Migrate/Evict of it is left before the live migration started (it failed
  waiting, or was deleted): the round is reverted - once no pod uses the target claim (WaitForTargetVolumeRelease) it
  is deleted, migrationState Failed "Migration reverted: <why>" (the operation's failure), the disk stays where it
  was. A disk whose class still differs is tried again after the backoff.

Rollback: while a disk migrates the webhook lets its class change only back to the source claim's; then the
volume-migration operation of the VM is deleted, which cancels the live migration (controllers/vmop.py) and the round
is reverted as above.

Costs: a reconcile reads the disk, its VM, the VM's operations (by-VM indexes), the claims by key and the pods of a
claim (the `claims` index of volume_binding.py). A disk's event wakes it only while its class differs or it migrates;
a VM's event (phase, Migratable, Migrating, migrationState changed) its disks; a Migrate/Evict operation's event the
disks of its VM; a target claim's event its disk; a pod that goes, the disks owning its claims."""

from __future__ import annotations

import logging
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import (
    class_problem,
    migration_backoff,
    migration_unfinished,
    mounted_vm,
    profile,
    settings_of,
    storage_class_changed,
)

from ..api.errors import APIError
from ..api.service import WriteOptions, json_copy
from ..clock import Clock
from ..store.store import DELETED, Event, Store
from ..webhooks import vmop as vmop_hooks
from . import conditions as cond
from .runtime import Context, Controller, Key, Requeue, controller_ref
from .volume_binding import POD_CLAIMS, pod_claims
from .volume_lifecycle import module_config

DISKS = v.resource_key(v.VIRTUAL_DISK)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
CLASSES = v.resource_key(v.STORAGE_CLASS)
PODS = v.resource_key(v.POD)
MANAGER = "virtualization-controller"
MIGRATION_TYPES = (v.VMOP_MIGRATE, v.VMOP_EVICT)
RELEASE_RETRY = 5.0  # simulated seconds between looks at a claim a pod still uses (upstream finalizeMigrationRequeueAfter)
CLASS_RETRY = 10.0  # ... at a target class that does not exist (any more), or a target claim the API refused
RETRY = 2.0  # ... after a refused create of the operation
log = logging.getLogger("dvp_simulator.controllers.volume_migration")


# -- pure helpers ------------------------------------------------------------------------------------------------------
def migration_ops(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op for op in ops if (op.get("spec") or {}).get("type") in MIGRATION_TYPES]


def failed_in_a_row(ops: list[dict[str, Any]], since: str) -> tuple[int, float]:
    """(how many of the VM's newest finished Migrate/Evict operations failed in a row, when the newest of them ended):
    operations created before `since` (the VM's creation) do not count (upstream calculateBackoff)."""
    finished = sorted(
        (op for op in migration_ops(ops) if ((op.get("status") or {}).get("phase") or "") in vmop_hooks.FINISHED_PHASES),
        key=lambda op: (op["metadata"].get("creationTimestamp") or "", op["metadata"]["name"]),
        reverse=True,
    )
    count, ended = 0, 0.0
    for op in finished:
        if op["status"].get("phase") != v.FAILED or (op["metadata"].get("creationTimestamp") or "") < since:
            break
        if count == 0:
            done = cond.get(op["status"].get("conditions") or [], v.COND_COMPLETED) or {}
            ended = Clock.parse(done.get("lastTransitionTime") or op["metadata"].get("creationTimestamp") or "1970-01-01T00:00:00Z")
        count += 1
    return count, ended


def op_failure(op: dict[str, Any] | None) -> str:
    """Why an operation failed, in a sentence."""
    if op is None:
        return "the live migration of the virtual machine did not start"
    done = cond.get((op.get("status") or {}).get("conditions") or [], v.COND_COMPLETED) or {}
    why = f"{done.get('reason')}: {done.get('message')}" if done.get("message") else (done.get("reason") or "no reason given")
    return f"the VirtualMachineOperation {op['metadata']['name']} ({op['spec'].get('type')}) is {(op.get('status') or {}).get('phase') or 'gone'} ({why})"


def vm_signature(vm: dict[str, Any] | None) -> tuple[Any, ...]:
    """What the reconcile reads of the VM: a VM's other writes wake no disk."""
    status = (vm or {}).get("status") or {}
    conds = status.get("conditions") or []
    migrating, migratable = cond.get(conds, v.COND_MIGRATING) or {}, cond.get(conds, v.COND_MIGRATABLE) or {}
    state = status.get("migrationState") or {}
    return (status.get("phase"), migrating.get("reason"), migrating.get("status"), migratable.get("reason"), state.get("startTimestamp"), state.get("result"))


def vm_waits_for_disks(vm: dict[str, Any] | None) -> bool:
    """The VM runs and its migration waits (Migrating reason Pending): what Round.idle reads before preparing targets."""
    status = (vm or {}).get("status") or {}
    migrating = cond.get(status.get("conditions") or [], v.COND_MIGRATING) or {}
    return status.get("phase") == v.VM_RUNNING and migrating.get("reason") == v.REASON_MIGRATING_PENDING


def disk_names(vm: dict[str, Any] | None) -> list[str]:
    refs = ((vm or {}).get("spec") or {}).get("blockDeviceRefs") or []
    return [r["name"] for r in refs if r.get("kind") == v.VIRTUAL_DISK and isinstance(r.get("name"), str)]


# -- the controller ----------------------------------------------------------------------------------------------------
class Round:
    """One reconcile of one disk: reads what it needs by key, changes `status` in place, writes it once at the end."""

    def __init__(self, ctx: Context, store: Store, disk: dict[str, Any]):
        self.ctx, self.store, self.service, self.disk = ctx, store, ctx.service, disk
        meta = disk["metadata"]
        self.ns, self.name, self.uid, self.gen = meta.get("namespace", ""), meta["name"], meta["uid"], meta.get("generation", 1)
        self.status = json_copy(disk.get("status") or {})
        self.had_conditions = "conditions" in self.status
        self.conds: list[dict[str, Any]] = self.status.setdefault("conditions", [])
        self.state: dict[str, Any] = self.status.get("migrationState") or {}
        self.now = ctx.clock.stamp()
        vm_name = mounted_vm(disk)
        entry = store.get(VMS, self.ns, vm_name) if vm_name else None
        self.vm = entry.obj if entry is not None else None
        self.vm_key = f"{self.ns}/{vm_name}"

    # -- reads ------------------------------------------------------------------------------------------------------
    def find(self, res: str, ns: str, name: str) -> dict[str, Any] | None:
        entry = self.store.get(res, ns, name) if name else None
        return entry.obj if entry is not None else None

    def claim(self, name: str) -> dict[str, Any] | None:
        return self.find(CLAIMS, self.ns, name or "")

    def vm_cond(self, type_: str) -> dict[str, Any]:
        return cond.get(((self.vm or {}).get("status") or {}).get("conditions") or [], type_) or {}

    def vm_phase(self) -> str:
        return ((self.vm or {}).get("status") or {}).get("phase") or ""

    def unfinished_ops(self) -> list[dict[str, Any]]:
        return migration_ops([e.obj for e in self.store.by_index(VMOPS, vmop_hooks.UNFINISHED, self.vm_key)])

    def newest_op(self) -> dict[str, Any] | None:
        ops = migration_ops([e.obj for e in self.store.by_index(VMOPS, vmop_hooks.BY_VM, self.vm_key)])
        return max(ops, key=lambda op: (op["metadata"].get("creationTimestamp") or "", op["metadata"]["name"]), default=None)

    def in_use(self, claim: str) -> bool:
        """A pod (not finished, not going) mounts the claim."""
        for entry in self.store.by_index(PODS, POD_CLAIMS, f"{self.ns}/{claim}", self.ns):
            pod = entry.obj
            if not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (v.POD_SUCCEEDED, v.POD_FAILED):
                return True
        return False

    def rwo(self) -> bool:
        claim = self.claim((self.status.get("target") or {}).get("persistentVolumeClaimName") or "")
        return claim is not None and v.RWX not in ((claim.get("spec") or {}).get("accessModes") or [])

    # -- writes -----------------------------------------------------------------------------------------------------
    def condition(self, status: str, reason: str, message: str) -> None:
        cond.set_condition(self.conds, v.COND_VD_MIGRATING, status, reason, message, self.gen, self.now)

    def write(self) -> None:
        if self.state:
            self.status["migrationState"] = self.state
        if not self.conds and not self.had_conditions:
            del self.status["conditions"]  # a disk the VD controller has not reported on yet: nothing of ours to add
        if self.status != (self.disk.get("status") or {}):
            rt = self.service.registry.types[DISKS]
            body = {**self.disk, "status": self.status}
            self.service.update(rt, self.ns, self.name, body, WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status"))

    def delete_claim(self, name: str) -> None:
        claim = self.claim(name)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return
        try:
            self.service.delete(self.service.registry.types[CLAIMS], self.ns, name, {})
        except APIError as exc:
            if exc.code != 404:
                raise

    def end(self, result: str, message: str, on: str) -> None:
        """The round is over: the disk on the claim `on`, the condition gone, its phase back to what its claim says."""
        self.state.update(endTimestamp=self.now, result=result, message=message)
        self.status.setdefault("target", {})["persistentVolumeClaimName"] = on
        cond.remove(self.conds, v.COND_VD_MIGRATING)
        if self.status.get("phase") == v.MIGRATING:
            self.status["phase"] = v.READY

    # -- a round under way ----------------------------------------------------------------------------------------------
    def under_way(self) -> Requeue | None:
        """upstream getActionIfMigrationInProgress: the live migration that started after the round decides it."""
        if self.vm is None:
            return self.revert("the disk is no longer mounted by a virtual machine")
        rollback = self.rollback_to()
        if rollback:
            self.cancel()
        vm_state = (self.vm.get("status") or {}).get("migrationState") or {}
        start = vm_state.get("startTimestamp")
        if start and Clock.parse(start) >= Clock.parse(self.state["startTimestamp"]):
            if vm_state.get("result") == v.MIGRATION_SUCCEEDED:
                return self.complete()
            if vm_state.get("result") != v.MIGRATION_FAILED:
                return self.sync()
            why = self.failure(rollback)
            return self.revert(why) if why else self.sync()
        if self.vm_phase() not in (v.VM_RUNNING, v.VM_MIGRATING):
            return self.revert(f"the virtual machine {self.vm['metadata']['name']} is {self.vm_phase() or v.VM_PENDING}")
        if not self.unfinished_ops():
            return self.revert(self.failure(rollback) or op_failure(None))
        return self.sync()

    def rollback_to(self) -> str:
        """The source claim's class when the disk's class was set back to it while the round moves the disk to
        another ("" otherwise)."""
        source, target = self.claim(self.state.get("sourcePVC") or ""), self.claim(self.state.get("targetPVC") or "")
        source_class = ((source or {}).get("spec") or {}).get("storageClassName") or ""
        target_class = ((target or {}).get("spec") or {}).get("storageClassName")
        wanted = ((self.disk.get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName")
        return source_class if source_class and wanted == source_class and target_class != source_class else ""

    def failure(self, rollback: str) -> str | None:
        """Why the round failed: the rollback, or the failure of the VM's newest Migrate/Evict operation - None while
        that operation has not told yet (its end wakes us)."""
        if rollback:
            return f"the storage class was set back to {rollback!r}"
        op = self.newest_op()
        if op is not None and ((op.get("status") or {}).get("phase") or "") not in vmop_hooks.FINISHED_PHASES and not op["metadata"].get("deletionTimestamp"):
            return None
        return op_failure(op)

    def cancel(self) -> None:
        """Delete the VM's volume-migration operation (upstream CancelHandler): its live migration is cancelled."""
        rt = self.service.registry.types[VMOPS]
        for op in self.unfinished_ops():
            if (op["metadata"].get("annotations") or {}).get(v.VOLUME_MIGRATION_ANNOTATION) == "true" and not op["metadata"].get("deletionTimestamp"):
                try:
                    self.service.delete(rt, self.ns, op["metadata"]["name"], {})
                except APIError as exc:
                    if exc.code != 404:
                        raise
                self.service.record_event(
                    self.disk, "Normal", v.EVENT_VOLUME_MIGRATION_REVERTED, f"The storage class was set back: the operation {op['metadata']['name']} is deleted.", MANAGER
                )

    def sync(self) -> None:
        """upstream handleMigrateSync: the target is ready once Bound, or waiting for its first consumer."""
        claim = self.claim(self.state.get("targetPVC") or "")
        if claim is None:
            self.condition("False", v.REASON_WAIT_FOR_TARGET_READY, "The target PersistentVolumeClaim is not found.")
            return None
        phase = (claim.get("status") or {}).get("phase")
        if phase == v.PVC_BOUND:
            self.condition("True", v.REASON_VD_MIGRATION_IN_PROGRESS, "The target PersistentVolumeClaim is Bound.")
            return None
        sc = self.find(CLASSES, "", (claim.get("spec") or {}).get("storageClassName") or "")
        if phase in (None, v.PVC_PENDING) and sc is not None and sc.get("volumeBindingMode") == v.BINDING_WFFC:
            self.condition("True", v.REASON_VD_MIGRATION_IN_PROGRESS, "The target PersistentVolumeClaim is waiting for the first consumer.")
            return None
        self.condition("False", v.REASON_WAIT_FOR_TARGET_READY, "Waiting for the target PersistentVolumeClaim to be provisioned.")
        return None

    def complete(self) -> Requeue | None:
        """upstream handleComplete: the guest runs on the target claim; the disk switches to it, the source goes."""
        source, target_name = self.state.get("sourcePVC") or "", self.state.get("targetPVC") or ""
        target = self.claim(target_name)
        if target is None or (target.get("status") or {}).get("phase") != v.PVC_BOUND:
            if target is not None:
                self.delete_claim(target_name)
            self.end(v.MIGRATION_FAILED, f"Migration failed: target PVC is not {'found' if target is None else 'bound'}.", source)
            return None
        if self.in_use(source):
            self.condition(
                "True",
                v.REASON_WAIT_FOR_SOURCE_VOLUME_RELEASE,
                f"Cannot complete the migration. The source PersistentVolumeClaim {source!r} is still in use by the running VirtualMachine "
                f"{mounted_vm(self.disk)!r}.",
            )
            return Requeue(RELEASE_RETRY)
        self.delete_claim(source)
        before = self.status.get("storageClassName")
        self.status["storageClassName"] = (target.get("spec") or {}).get("storageClassName") or before
        self.status["capacity"] = ((target.get("status") or {}).get("capacity") or {}).get("storage") or self.status.get("capacity")
        self.end(v.MIGRATION_SUCCEEDED, "Migration completed.", target_name)
        self.service.record_event(
            self.disk,
            "Normal",
            v.EVENT_VOLUME_MIGRATION_COMPLETED,
            f"The disk moved from the PersistentVolumeClaim {source} ({before}) to {target_name} ({self.status['storageClassName']}).",
            MANAGER,
        )
        return None

    def revert(self, why: str) -> Requeue | None:
        """upstream handleRevert: the guest stays on the source claim; the target goes once no pod uses it."""
        target = self.state.get("targetPVC") or ""
        if target and self.in_use(target):
            self.condition(
                "True",
                v.REASON_WAIT_FOR_TARGET_VOLUME_RELEASE,
                f"Cannot revert the migration. The target PersistentVolumeClaim {target!r} is still in use by the VirtualMachine {mounted_vm(self.disk)!r}.",
            )
            return Requeue(RELEASE_RETRY)
        if target:
            self.delete_claim(target)
        self.end(v.MIGRATION_FAILED, f"Migration reverted: {why}.", self.state.get("sourcePVC") or (self.status.get("target") or {}).get("persistentVolumeClaimName", ""))
        self.service.record_event(self.disk, "Warning", v.EVENT_VOLUME_MIGRATION_REVERTED, f"The storage migration was reverted: {why}.", MANAGER)
        return None

    # -- no round under way --------------------------------------------------------------------------------------------
    def idle(self) -> Requeue | None:
        waiting = vm_waits_for_disks(self.vm)
        if storage_class_changed(self.disk):
            return self.changed(waiting)
        cond.remove(self.conds, v.COND_VD_MIGRATING)  # no round, none asked: nothing waits (upstream handleNone)
        if (
            waiting
            and self.vm_cond(v.COND_MIGRATABLE).get("reason") == v.REASON_DISKS_SHOULD_BE_MIGRATING
            and self.rwo()
            and any(self.waits_for_disks(op) for op in self.unfinished_ops())
        ):
            return self.prepare(self.status.get("storageClassName") or "")
        return None

    @staticmethod
    def waits_for_disks(op: dict[str, Any]) -> bool:
        done = cond.get((op.get("status") or {}).get("conditions") or [], v.COND_COMPLETED) or {}
        return done.get("reason") == v.REASON_WAITING_READY_TO_MIGRATE

    def changed(self, waiting: bool) -> Requeue | None:
        """The class changed: an operation for the VM (after the backoff), the target once it waits."""
        if (cond.get(self.conds, v.COND_READY) or {}).get("status") != "True":
            return None  # a disk not Ready cannot move now; its Ready event brings us back
        if self.vm is None or self.vm_phase() != v.VM_RUNNING:
            return None  # the VM running (again: a live migration of it ended) brings us back
        name = ((self.disk.get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName") or ""
        sc = self.find(CLASSES, "", name)
        if sc is None:
            self.condition("False", v.REASON_STORAGE_CLASS_NOT_FOUND, "StorageClass not found, waiting for creation.")
            return Requeue(CLASS_RETRY)
        problem = class_problem(name, sc, settings_of(module_config(self.service), "virtualDisks"))
        if problem:
            message = f"The storage migration cannot start: {problem}."
            if self.state.get("result") != v.MIGRATION_FAILED or self.state.get("message") != message or self.state.get("targetPVC"):
                self.state = {"result": v.MIGRATION_FAILED, "message": message, "startTimestamp": self.now, "endTimestamp": self.now}
                self.service.record_event(self.disk, "Warning", v.EVENT_VOLUME_MIGRATION_CANNOT_BE_PROCESSED, message, MANAGER)
            return None
        unfinished = self.unfinished_ops()
        if unfinished:
            return self.prepare(name) if waiting and self.vm_cond(v.COND_MIGRATABLE).get("status") == "True" else None
        since = self.vm["metadata"].get("creationTimestamp") or ""
        failures, ended = failed_in_a_row([e.obj for e in self.store.by_index(VMOPS, vmop_hooks.BY_VM, self.vm_key)], since)
        due = ended + migration_backoff(failures) - self.ctx.clock.time()
        if failures and due > 0:
            return Requeue(due)
        return self.start_operation()

    def start_operation(self) -> Requeue | None:
        vm_name = self.vm["metadata"]["name"]  # type: ignore[index]
        body = {
            "apiVersion": f"{v.DVP_GROUP}/{v.DVP_VERSION}",
            "kind": v.VIRTUAL_MACHINE_OPERATION,
            "metadata": {"generateName": v.VOLUME_MIGRATION_GENERATE_NAME, "namespace": self.ns, "annotations": {v.VOLUME_MIGRATION_ANNOTATION: "true"}},
            "spec": {"type": v.VMOP_EVICT, "virtualMachineName": vm_name},
        }
        rt = self.service.registry.types[VMOPS]
        try:
            created = self.service.create(rt, self.ns, body, WriteOptions(version=rt.storage_version, manager=MANAGER)).obj
        except APIError as exc:  # an operation created meanwhile that an Evict cannot supersede: after it
            log.info("volume migration of %s/%s: %s", self.ns, self.name, exc)
            return Requeue(RETRY)
        self.service.record_event(
            self.disk,
            "Normal",
            v.EVENT_VMOP_STARTED,
            f'Volume migration is started. vmop.name: "{created["metadata"]["name"]}", vmop.namespace: "{self.ns}"',
            MANAGER,
        )
        return None

    def prepare(self, class_name: str) -> Requeue | None:
        """upstream handleMigratePrepareTarget: the target claim on `class_name`, the round's start."""
        if (cond.get(self.conds, v.COND_RESIZING) or {}).get("status") == "True":
            self.condition("False", v.REASON_RESIZING_IN_PROGRESS, "Migration is not allowed while the disk is being resized.")
            return None
        sc = self.find(CLASSES, "", class_name)
        source_name = (self.status.get("target") or {}).get("persistentVolumeClaimName") or ""
        source = self.claim(source_name)
        if sc is None or source is None:
            missing = f"StorageClass {class_name!r}" if sc is None else f"PersistentVolumeClaim {source_name!r}"
            self.state = {"result": v.MIGRATION_FAILED, "message": f"The {missing} is not found.", "startTimestamp": self.now, "endTimestamp": self.now}
            return None
        size = ((source.get("status") or {}).get("capacity") or {}).get("storage") or (((source.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        offered = profile(sc)
        data = (source["metadata"].get("annotations") or {}).get(v.VOLUME_DATA_ANNOTATION)
        body = {
            "apiVersion": v.CORE_VERSION,
            "kind": v.PERSISTENT_VOLUME_CLAIM,
            "metadata": {
                "generateName": f"{v.VOLUME_MIGRATION_CLAIM_PREFIX}{self.uid}-",
                "namespace": self.ns,
                "annotations": {v.VOLUME_DATA_ANNOTATION: data} if data else {},  # the data moves with the disk
                "ownerReferences": [controller_ref(f"{v.DVP_GROUP}/{v.DVP_VERSION}", v.VIRTUAL_DISK, self.name, self.uid)],
            },
            "spec": {
                "accessModes": [offered.access_mode],
                "volumeMode": offered.volume_mode,
                "storageClassName": class_name,
                "resources": {"requests": {"storage": size}},
            },
        }
        rt = self.service.registry.types[CLAIMS]
        try:
            created = self.service.create(rt, self.ns, body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
        except APIError as exc:  # refused (a ResourceQuota, say): the operation waits, and fails after its 5 minutes
            self.condition("False", v.REASON_WAIT_FOR_TARGET_READY, f"The target PersistentVolumeClaim cannot be created: {exc.message}")
            return Requeue(CLASS_RETRY)
        self.state = {"sourcePVC": source_name, "targetPVC": created["metadata"]["name"], "startTimestamp": self.now}
        self.condition("False", v.REASON_WAIT_FOR_TARGET_READY, "Migration started.")
        return self.sync()


def controller(store: Store) -> Controller:
    vmop_hooks.register_indexes(store)
    store.add_index(PODS, POD_CLAIMS, pod_claims)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(DISKS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return None  # a deleted disk's claims go with it (owner references)
        r = Round(ctx, store, entry.obj)
        result = r.under_way() if migration_unfinished(entry.obj) else r.idle()
        r.write()
        return result

    def of_disk(event: Event) -> list[Key]:
        """Only a disk whose class differs, or that migrates (or did before this event)."""
        objs = [event.entry.obj] + ([event.prev.obj] if event.prev is not None else [])
        if any(storage_class_changed(o) or migration_unfinished(o) for o in objs):
            return [(event.entry.namespace, event.entry.name)]
        return []

    def of_vm(event: Event) -> list[Key]:
        """The VM's disks a reconcile has something to do for: all of them while the VM waits for its disks to be
        ready to migrate (idle's RWO targets), else those whose class changed or that migrate (a VM's start, its
        ordinary status writes, wake no disk: ~5 reconciles per disk at nothing to do, a tenth of a build-up's writes)."""
        vm = event.entry.obj
        if event.prev is not None and event.type != DELETED and vm_signature(event.prev.obj) == vm_signature(vm):
            return []
        ns = event.entry.namespace
        if event.type != DELETED and vm_waits_for_disks(vm):
            return [(ns, name) for name in disk_names(vm)]
        keys = []
        for name in disk_names(vm):
            disk = store.get(DISKS, ns, name)
            if disk is not None and (storage_class_changed(disk.obj) or migration_unfinished(disk.obj)):
                keys.append((ns, name))
        return keys

    def of_vmop(event: Event) -> list[Key]:
        spec = event.entry.obj.get("spec") or {}
        if spec.get("type") not in MIGRATION_TYPES or not isinstance(spec.get("virtualMachineName"), str):
            return []
        vm = store.get(VMS, event.entry.namespace, spec["virtualMachineName"])
        return [(event.entry.namespace, name) for name in disk_names(vm.obj if vm else None)]

    def of_claim(event: Event) -> list[Key]:
        """A target claim's binding (or its going) wakes its disk."""
        meta = event.entry.obj["metadata"]
        if not meta["name"].startswith(v.VOLUME_MIGRATION_CLAIM_PREFIX):
            return []
        return [(meta.get("namespace", ""), ref["name"]) for ref in meta.get("ownerReferences") or [] if ref.get("kind") == v.VIRTUAL_DISK]

    def of_pod(event: Event) -> list[Key]:
        """A pod that went (or finished) releases its claims: the disks owning them look again."""
        pod = event.entry.obj
        gone = event.type == DELETED or pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in (v.POD_SUCCEEDED, v.POD_FAILED)
        if not gone:
            return []
        keys = []
        for ref in pod_claims(pod):
            ns, name = ref.split("/", 1)
            claim = store.get(CLAIMS, ns, name)
            for owner in (claim.obj["metadata"].get("ownerReferences") or []) if claim else []:
                disk = store.get(DISKS, ns, owner["name"]) if owner.get("kind") == v.VIRTUAL_DISK else None
                if disk is not None and migration_unfinished(disk.obj):
                    keys.append((ns, owner["name"]))
        return keys

    secondary = {VMS: of_vm, VMOPS: of_vmop, CLAIMS: of_claim, PODS: of_pod}
    return Controller("volume-migration", DISKS, reconcile, secondary, primary_mapper=of_disk)
