"""A VM's events wake its addresses and block devices only when what they report of it can change: the VM created or
deleted, the address it names, the devices it lists or mounts — not its other status churn (a real in-memory Store;
events as the store publishes them)."""

from __future__ import annotations

import copy

from dvp_simulator.controllers import ipam, vmip
from dvp_simulator.controllers.volume_lifecycle import wake_block_devices
from dvp_simulator.store.store import ADDED, DELETED, MODIFIED, Store


def write(store, res, obj, kind=MODIFIED):
    """Put obj and return the event the store published for it."""
    watcher = store.watch(res, None, lambda e: True, bounded=False)
    if kind == DELETED:
        store.remove(res, obj["metadata"]["namespace"], obj["metadata"]["name"])
    else:
        store.put(res, copy.deepcopy(obj), kind)
    store.unwatch(watcher)
    return watcher.queue.get_nowait()


def test_a_vm_wakes_its_addresses_on_creation_deletion_and_a_changed_address_only():
    store = Store(None)
    wake = vmip.controller(store).secondary[ipam.VMS]
    owned = {"metadata": {"name": "vm1-auto", "namespace": "ns", "ownerReferences": [{"kind": "VirtualMachine", "name": "vm1", "uid": "u1"}]}}
    store.put(ipam.VMIPS, owned, ADDED)
    vm = {"metadata": {"name": "vm1", "namespace": "ns", "uid": "u1"}, "spec": {}, "status": {"phase": "Pending"}}
    assert wake(write(store, ipam.VMS, vm, ADDED)) == [("ns", "vm1-auto")], "created: the address it owns"
    named = {**vm, "status": {"phase": "Pending", "virtualMachineIPAddressName": "vm1-auto"}}
    assert wake(write(store, ipam.VMS, named)) == [("ns", "vm1-auto")], "status now names it"
    for phase in ("Starting", "Running"):
        churn = {**named, "status": {**named["status"], "phase": phase, "nodeName": "n1"}}
        assert wake(write(store, ipam.VMS, churn)) == [], f"phase {phase}: nothing an address reports changed"
    static = {**churn, "spec": {"virtualMachineIPAddressName": "fixed"}}
    assert wake(write(store, ipam.VMS, static)) == [("ns", "fixed"), ("ns", "vm1-auto")], "spec names another address"
    assert wake(write(store, ipam.VMS, static, DELETED)) == [("ns", "fixed"), ("ns", "vm1-auto")], "deleted"


def test_a_vm_wakes_its_disks_when_it_lists_or_mounts_them_differently_only():
    store = Store(None)
    wake = wake_block_devices("VirtualDisk")
    refs = [{"kind": "VirtualDisk", "name": "root"}, {"kind": "ClusterVirtualImage", "name": "iso"}]
    vm = {"metadata": {"name": "vm1", "namespace": "ns"}, "spec": {}, "status": {}}
    assert wake(write(store, ipam.VMS, vm, ADDED)) == []
    listed = {**vm, "status": {"blockDeviceRefs": refs}}
    assert wake(write(store, ipam.VMS, listed)) == [("ns", "root")], "now lists it"
    pending = {**vm, "status": {"phase": "Pending", "blockDeviceRefs": refs}}
    assert wake(write(store, ipam.VMS, pending)) == [("ns", "root")], "a phase: now mounts it"
    starting = {**vm, "status": {"phase": "Starting", "blockDeviceRefs": refs, "nodeName": "n1"}}
    assert wake(write(store, ipam.VMS, starting)) == [], "still lists and mounts it"
    stopped = {**vm, "status": {"phase": "Stopped", "blockDeviceRefs": refs}}
    assert wake(write(store, ipam.VMS, stopped)) == [("ns", "root")], "Stopped: no longer mounts it"
    more = {**vm, "status": {"phase": "Stopped", "blockDeviceRefs": [*refs, {"kind": "VirtualDisk", "name": "data"}]}}
    assert wake(write(store, ipam.VMS, more)) == [("ns", "data"), ("ns", "root")], "lists another"
    assert wake(write(store, ipam.VMS, more, DELETED)) == [("ns", "data"), ("ns", "root")]


def test_a_vm_wakes_a_cluster_image_when_it_starts_or_stops_mounting_it_only():
    """A ClusterVirtualImage reads of its VMs which of them mount it (InUse, the protection finalizer): 1,000 VMs
    booting one ISO each woke it on every write, and each wake listed all of them."""
    from dvp_simulator.controllers import cvi

    store = Store(None)
    wake = cvi.controller(None, store, lambda: "").secondary[ipam.VMS]
    refs = [{"kind": "VirtualDisk", "name": "root"}, {"kind": "ClusterVirtualImage", "name": "iso"}]
    vm = {"metadata": {"name": "vm1", "namespace": "ns"}, "spec": {}, "status": {}}
    assert wake(write(store, ipam.VMS, vm, ADDED)) == []
    listed = {**vm, "status": {"blockDeviceRefs": refs}}
    assert wake(write(store, ipam.VMS, listed)) == [], "listed without a phase: mounts nothing yet"
    pending = {**vm, "status": {"phase": "Pending", "blockDeviceRefs": refs}}
    assert wake(write(store, ipam.VMS, pending)) == [("", "iso")], "mounts it"
    for phase in ("Starting", "Running"):
        churn = {**vm, "status": {"phase": phase, "blockDeviceRefs": refs, "nodeName": "n1", "ipAddress": "10.0.0.1"}}
        assert wake(write(store, ipam.VMS, churn)) == [], f"{phase}: still mounts it"
    other = {**vm, "status": {"phase": "Running", "blockDeviceRefs": [*refs, {"kind": "ClusterVirtualImage", "name": "tools"}]}}
    assert wake(write(store, ipam.VMS, other)) == [("", "tools")], "mounts another one too"
    stopped = {**vm, "status": {"phase": "Stopped", "blockDeviceRefs": refs}}
    assert wake(write(store, ipam.VMS, stopped)) == [("", "iso"), ("", "tools")], "Stopped: mounts neither"
    running = {**vm, "status": {"phase": "Running", "blockDeviceRefs": refs}}
    write(store, ipam.VMS, running)
    assert wake(write(store, ipam.VMS, running, DELETED)) == [("", "iso")], "deleted while mounting it"
