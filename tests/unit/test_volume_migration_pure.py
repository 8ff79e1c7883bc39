"""The storage-migration controller's pure parts (controllers/volume_migration.py): the VM's failed migration operations
in a row that the retry backoff counts, an operation's failure as the reverted round tells it, and which VM writes
wake the VM's disks."""

from __future__ import annotations

import copy

from dvp_simulator.clock import Clock
from dvp_simulator.controllers.volume_migration import DISKS, VMS, controller, disk_names, failed_in_a_row, op_failure, vm_signature, vm_waits_for_disks
from dvp_simulator.store.store import ADDED, MODIFIED, Store


def op(name: str, created: str, phase: str, kind: str = "Evict", ended: str | None = None, reason: str = "Failed", message: str = "") -> dict:
    status = {"phase": phase}
    if ended:
        status["conditions"] = [{"type": "Completed", "status": "False", "reason": reason, "message": message, "lastTransitionTime": ended}]
    return {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"type": kind, "virtualMachineName": "vm"}, "status": status}


def test_the_backoff_counts_the_newest_failed_migrations_in_a_row():
    ops = [
        op("a", "2025-01-01T00:00:00Z", "Failed", ended="2025-01-01T00:05:00Z"),
        op("b", "2025-01-01T00:10:00Z", "Completed", ended="2025-01-01T00:10:30Z"),
        op("c", "2025-01-01T00:20:00Z", "Failed", ended="2025-01-01T00:25:00Z"),
        op("d", "2025-01-01T00:30:00Z", "Failed", ended="2025-01-01T00:35:00Z"),
        op("stop", "2025-01-01T00:40:00Z", "Completed", kind="Stop"),  # not a migration: does not break the row
        op("e", "2025-01-01T00:45:00Z", "InProgress"),  # unfinished: not counted
    ]
    assert failed_in_a_row(ops, "2024-12-31T00:00:00Z") == (2, Clock.parse("2025-01-01T00:35:00Z"))
    assert failed_in_a_row(ops, "2025-01-01T00:30:00Z") == (1, Clock.parse("2025-01-01T00:35:00Z")), "not those older than the VM"
    assert failed_in_a_row(ops[:2], "2024-12-31T00:00:00Z") == (0, 0.0), "the newest succeeded"
    assert failed_in_a_row([], "") == (0, 0.0)


def test_an_operations_failure_in_a_sentence():
    failed = op("volume-migration-x", "2025-01-01T00:00:00Z", "Failed", ended="2025-01-01T00:05:00Z", reason="OperationFailed", message="Timed out.")
    assert op_failure(failed) == "the VirtualMachineOperation volume-migration-x (Evict) is Failed (OperationFailed: Timed out.)"
    assert op_failure(None) == "the live migration of the virtual machine did not start"


def test_only_what_the_reconcile_reads_of_a_vm_wakes_its_disks():
    vm = {
        "metadata": {"name": "vm"},
        "spec": {"blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "iso"}, {"kind": "VirtualDisk", "name": "root"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Migratable", "status": "True", "reason": "VirtualMachineMigratable"}]},
    }
    assert disk_names(vm) == ["root"] and disk_names(None) == []
    churn = {**vm, "status": {**vm["status"], "ipAddress": "10.0.0.1"}}
    assert vm_signature(churn) == vm_signature(vm)
    pending = {**vm, "status": {**vm["status"], "conditions": vm["status"]["conditions"] + [{"type": "Migrating", "status": "False", "reason": "Pending"}]}}
    assert vm_signature(pending) != vm_signature(vm)
    moved = {**vm, "status": {**vm["status"], "migrationState": {"startTimestamp": "2025-01-01T00:00:00Z", "result": "Succeeded"}}}
    assert vm_signature(moved) != vm_signature(vm)


def _write(store, res, obj, kind):
    """Put obj and return the event the store published for it."""
    watcher = store.watch(res, None, lambda e: True, bounded=False)
    store.put(res, copy.deepcopy(obj), kind)
    store.unwatch(watcher)
    return watcher.queue.get_nowait()


def test_a_vm_wakes_only_the_disks_that_have_something_to_do():
    """A VM's start and status writes wake none of its idle disks (at 10,000 VMs, ~5 reconciles and a status write per
    disk for nothing); a VM waiting for its disks wakes all of them; a disk whose class changed or that migrates is
    woken by any change of what the reconcile reads."""
    store = Store(None)
    ns = "ns"

    def disk(name, spec_class=None, migrating=False):
        status = {"storageClassName": "a", **({"migrationState": {"startTimestamp": "2025-01-01T00:00:00Z"}} if migrating else {})}
        spec = {"persistentVolumeClaim": {"storageClassName": spec_class}} if spec_class else {}
        store.put(DISKS, {"metadata": {"name": name, "namespace": ns}, "spec": spec, "status": status}, ADDED)

    disk("idle")
    disk("moved", spec_class="b")
    disk("moving", migrating=True)
    mapper = controller(store).secondary[VMS]
    refs = [{"kind": "VirtualDisk", "name": n} for n in ("idle", "moved", "moving")]
    vm = {"metadata": {"name": "vm", "namespace": ns}, "spec": {"blockDeviceRefs": refs}, "status": {"phase": "Starting"}}
    assert sorted(k[1] for k in mapper(_write(store, VMS, vm, ADDED))) == ["moved", "moving"]
    running = {**vm, "status": {"phase": "Running"}}
    assert sorted(k[1] for k in mapper(_write(store, VMS, running, MODIFIED))) == ["moved", "moving"]
    waiting = {**vm, "status": {"phase": "Running", "conditions": [{"type": "Migrating", "status": "False", "reason": "Pending"}]}}
    assert sorted(k[1] for k in mapper(_write(store, VMS, waiting, MODIFIED))) == ["idle", "moved", "moving"]
    assert vm_waits_for_disks(waiting) and not vm_waits_for_disks(vm) and not vm_waits_for_disks(None)
