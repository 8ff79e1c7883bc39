"""WriteOptions.with_status: a controller's metadata-or-spec write and its status write as one version, recorded in
managedFields as the two writes would have been; without it the main resource never changes status."""

from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Store

MANAGER = "some-controller"


def _setup():
    registry = build_registry()
    store = Store(None)
    service = ObjectService(registry, store, Clock(scale=1.0))
    service.create(registry.types["/namespaces"], "", {"metadata": {"name": "default"}}, WriteOptions(version="v1"))
    claims = registry.types["/persistentvolumeclaims"]
    for name in ("one", "two"):
        body = {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
        service.create(claims, "default", body, WriteOptions(version="v1", manager="kubectl"))
    return service, store, claims


def _entries(obj):
    return {(e["manager"], e.get("subresource")): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


def test_one_version_with_both_and_the_managed_fields_of_two_writes():
    service, store, claims = _setup()
    status = {"phase": "Bound", "capacity": {"storage": "1Gi"}}

    one = service.get(claims, "default", "one")
    events = []
    store.observe("/persistentvolumeclaims", events.append)
    body = {**one, "metadata": {**one["metadata"], "finalizers": ["example.com/keep"]}, "status": status}
    written = service.update(claims, "default", "one", body, WriteOptions(version="v1", manager=MANAGER, with_status=True)).obj
    assert written["metadata"]["finalizers"] == ["example.com/keep"] and written["status"] == status
    assert [(e.type, e.entry.name) for e in events] == [("MODIFIED", "one")]  # one version, not two

    two = service.get(claims, "default", "two")
    main, status_write = WriteOptions(version="v1", manager=MANAGER), WriteOptions(version="v1", manager=MANAGER, subresource="status")
    two = service.update(claims, "default", "two", {**two, "metadata": {**two["metadata"], "finalizers": ["example.com/keep"]}}, main).obj
    two = service.update(claims, "default", "two", {**two, "status": status}, status_write).obj

    assert _entries(written) == _entries(two)
    assert list(_entries(written)[(MANAGER, None)]) == ["f:metadata"]  # the finalizer: the main entry's
    assert list(_entries(written)[(MANAGER, "status")]) == ["f:status"]  # the status: the status entry's


def test_without_it_the_main_resource_keeps_the_stored_status():
    service, _store, claims = _setup()
    one = service.get(claims, "default", "one")
    body = {**one, "metadata": {**one["metadata"], "labels": {"a": "b"}}, "status": {"phase": "Bound"}}
    written = service.update(claims, "default", "one", body, WriteOptions(version="v1", manager=MANAGER)).obj
    assert written["metadata"]["labels"] == {"a": "b"}
    assert "status" not in one and (written.get("status") or {}).get("phase") != "Bound"


def test_a_body_without_status_keeps_the_stored_one():
    service, _store, claims = _setup()
    one = service.get(claims, "default", "one")
    status_write = WriteOptions(version="v1", manager=MANAGER, subresource="status")
    one = service.update(claims, "default", "one", {**one, "status": {"phase": "Pending"}}, status_write).obj
    body = {k: v for k, v in one.items() if k != "status"}
    body["metadata"] = {**one["metadata"], "labels": {"a": "b"}}
    written = service.update(claims, "default", "one", body, WriteOptions(version="v1", manager=MANAGER, with_status=True)).obj
    assert written["status"] == {"phase": "Pending"} and written["metadata"]["labels"] == {"a": "b"}


def test_a_create_with_its_status_records_the_create_and_the_status_write():
    """A controller's create of a built-in object with the status its next write would give it (the virt-handler and
    virt-launcher pods, created Running): one version, managedFields as the create and the status write."""
    service, _store, claims = _setup()
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    status = {"phase": "Bound", "capacity": {"storage": "1Gi"}}
    together = service.create(
        claims, "default", {"metadata": {"name": "together"}, "spec": spec, "status": status}, WriteOptions(version="v1", manager=MANAGER, with_status=True)
    ).obj
    apart = service.create(claims, "default", {"metadata": {"name": "apart"}, "spec": spec}, WriteOptions(version="v1", manager=MANAGER)).obj
    apart = service.update(claims, "default", "apart", {**apart, "status": status}, WriteOptions(version="v1", manager=MANAGER, subresource="status")).obj
    assert together["status"] == apart["status"] == status
    assert _entries(together) == _entries(apart)
    assert list(_entries(together)[(MANAGER, "status")]) == ["f:status"]
    assert "f:status" not in _entries(together)[(MANAGER, None)]
