"""Storage object in-use protection (controllers/protection.py) in process: the admission plugin's finalizers, the
pvc-protection controller holding a claim while a scheduled pod names it, the pv-protection controller holding a
Bound volume, and the mappers waking a claim only when its pods change while it is being deleted."""

from __future__ import annotations

import asyncio

from dvp_simulator.api.admission import Admission
from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.controllers import protection
from dvp_simulator.controllers.runtime import Context
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Event, Store

OPTS = WriteOptions(version="v1", manager="test")


def _setup():
    registry = build_registry()
    store = Store(None)
    admission = Admission()
    protection.register_admission(admission)
    service = ObjectService(registry, store, Clock(scale=1.0), admission)
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "ns"}}, OPTS)
    claims, pods, volumes = registry.types["/persistentvolumeclaims"], registry.types["/pods"], registry.types["/persistentvolumes"]
    body = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    service.create(claims, "ns", body, OPTS)
    pv = {"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}}
    service.create(volumes, "", pv, OPTS)
    return service, store, claims, pods, volumes


def _pod(service, pods, node):
    spec = {"containers": [{"name": "c", "image": "x"}], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}
    if node:
        spec["nodeName"] = node
    return service.create(pods, "ns", {"metadata": {"name": "user"}, "spec": spec}, OPTS).obj


def test_new_claims_and_volumes_get_their_finalizer():
    service, _store, claims, _pods, volumes = _setup()
    assert service.get(claims, "ns", "data")["metadata"]["finalizers"] == [protection.PVC_PROTECTION]
    assert service.get(volumes, "", "pv1")["metadata"]["finalizers"] == [protection.PV_PROTECTION]


def test_a_claim_is_held_while_a_scheduled_pod_names_it():
    service, store, claims, pods, _volumes = _setup()
    controller = protection.pvc_controller(store)
    ctx = Context(service, service.clock)
    woken = []
    store.observe("/pods", lambda e: woken.extend(controller.secondary["/pods"](e)))
    _pod(service, pods, None)
    assert woken == []  # the claim is not being deleted: a pod's writes wake nothing
    service.delete(claims, "ns", "data", {})
    asyncio.run(controller.reconcile(ctx, ("ns", "data")))
    assert service.find(claims, "ns", "data") is None  # an unscheduled pod does not use it

    service.create(claims, "ns", {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}, OPTS)
    service.delete(pods, "ns", "user", {})
    _pod(service, pods, "node-a")
    service.delete(claims, "ns", "data", {})
    asyncio.run(controller.reconcile(ctx, ("ns", "data")))
    held = service.find(claims, "ns", "data")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == [protection.PVC_PROTECTION]
    woken.clear()
    service.delete(pods, "ns", "user", {})
    assert woken == [("ns", "data")]
    asyncio.run(controller.reconcile(ctx, ("ns", "data")))
    assert service.find(claims, "ns", "data") is None


def test_a_volume_is_held_while_bound_and_old_objects_get_the_finalizer():
    service, store, _claims, _pods, volumes = _setup()
    controller = protection.pv_controller(store)
    ctx = Context(service, service.clock)
    pv = service.get(volumes, "", "pv1")
    status = WriteOptions(version="v1", manager="test", subresource="status")
    service.update(volumes, "", "pv1", {**pv, "status": {"phase": "Bound"}}, status)
    service.delete(volumes, "", "pv1", {})
    asyncio.run(controller.reconcile(ctx, ("", "pv1")))
    pv = service.get(volumes, "", "pv1")
    assert pv["metadata"]["deletionTimestamp"] and pv["metadata"]["finalizers"] == [protection.PV_PROTECTION]
    service.update(volumes, "", "pv1", {**pv, "status": {"phase": "Released"}}, status)
    asyncio.run(controller.reconcile(ctx, ("", "pv1")))
    assert service.find(volumes, "", "pv1") is None

    # a volume stored before protection existed gets the finalizer
    bare = {"metadata": {"name": "pv2"}, "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/y"}}}
    service.admission.mutating.clear()
    service.create(volumes, "", bare, OPTS)
    assert controller.primary_mapper(store_event(store, "/persistentvolumes", "pv2")) == [("", "pv2")]
    asyncio.run(controller.reconcile(ctx, ("", "pv2")))
    assert service.get(volumes, "", "pv2")["metadata"]["finalizers"] == [protection.PV_PROTECTION]


def store_event(store, resource, name):
    return Event("ADDED", store.get(resource, "", name), None)
