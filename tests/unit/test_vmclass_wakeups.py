"""The VirtualMachineClass controller's event mappers wake only the classes an event concerns, and read VMs and
virt-handler pods through store indexes (a real in-memory Store; events as the store publishes them)."""

from __future__ import annotations

import copy

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from dvp_simulator.controllers import vmclass
from dvp_simulator.store.store import ADDED, DELETED, MODIFIED, Store

ALL = [("", "a"), ("", "b")]


def make_store():
    store = Store(None)
    controller = vmclass.controller(store)
    for name in ("a", "b"):
        store.put(vmclass.CLASSES, {"metadata": {"name": name}}, ADDED)
    return store, controller.secondary


def pod(name, node="n1", handler=True, deleting=False, phase="Pending"):
    meta = {"name": name, "namespace": v.MODULE_NAMESPACE, "labels": {v.VIRT_HANDLER_LABEL: v.VIRT_HANDLER} if handler else {}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase}}


def write(store, res, obj, kind=MODIFIED):
    """Put obj and return the event the store published for it."""
    watcher = store.watch(res, None, lambda e: True, bounded=False)
    if kind == DELETED:
        store.remove(res, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    else:
        store.put(res, copy.deepcopy(obj), kind)
    store.unwatch(watcher)
    return watcher.queue.get_nowait()


def test_virt_handler_events_wake_every_class_only_when_the_candidate_node_changes():
    store, mappers = make_store()
    wake = mappers[vmclass.PODS]
    assert wake(write(store, vmclass.PODS, pod("virt-handler-n1"), ADDED)) == ALL
    assert wake(write(store, vmclass.PODS, pod("virt-handler-n1", phase="Running"))) == [], "status churn wakes nothing"
    assert wake(write(store, vmclass.PODS, pod("virt-handler-n1", deleting=True))) == ALL
    assert wake(write(store, vmclass.PODS, pod("virt-handler-n1", deleting=True), DELETED)) == [], "already counted out"
    assert wake(write(store, vmclass.PODS, pod("virt-handler-n2", node="n2"), ADDED)) == ALL
    assert wake(write(store, vmclass.PODS, pod("virt-handler-n2", node="n2"), DELETED)) == ALL, "deleted at once"
    assert wake(write(store, vmclass.PODS, pod("web", handler=False), ADDED)) == []


def test_a_vm_wakes_the_class_it_names_and_the_one_it_left_only_while_the_class_is_deleted_and_is_indexed_by_class():
    store, mappers = make_store()
    wake = mappers[vmclass.VMS]
    vm = {"metadata": {"name": "vm1", "namespace": "ns"}, "spec": {"virtualMachineClassName": "a"}}
    assert wake(write(store, vmclass.VMS, vm, ADDED)) == [], "a live class reports nothing about its VMs"
    for name in ("a", "b"):
        store.put(vmclass.CLASSES, {"metadata": {"name": name, "deletionTimestamp": "2025-01-01T00:00:00Z"}}, MODIFIED)
    assert wake(write(store, vmclass.VMS, {**vm, "metadata": {**vm["metadata"], "labels": {"x": "y"}}})) == [], "same class"
    moved = {**vm, "spec": {"virtualMachineClassName": "b"}}
    assert wake(write(store, vmclass.VMS, moved)) == [("", "a"), ("", "b")]
    assert [e.name for e in store.by_index(vmclass.VMS, vmclass.BY_CLASS, "b")] == ["vm1"]
    assert store.by_index(vmclass.VMS, vmclass.BY_CLASS, "a") == []
    assert wake(write(store, vmclass.VMS, moved, DELETED)) == [("", "b")]
    store.remove(vmclass.CLASSES, "", "b")
    assert wake(write(store, vmclass.VMS, moved, ADDED)) == [], "a class already gone"
