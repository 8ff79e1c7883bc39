"""api/apiservices.py: the APIServices and ComponentStatuses a simulator makes at start, refreshed on the next start:
nothing rewritten when nothing changed, a changed one written again, one no longer served deleted."""

from __future__ import annotations

import pytest

from dvp_simulator import app
from dvp_simulator.api import apiservices
from dvp_simulator.api.service import WriteOptions


@pytest.fixture
def sim(tmp_path):
    built = app.build(tmp_path / "state", "unit-test-token", "https://127.0.0.1:0")
    yield built
    built.store.close()


def names(sim, key):
    return sorted(entry.name for entry in sim.store.list(key))


def test_one_apiservice_per_served_group_version_with_upstreams_priorities(sim):
    served = {"v1."} | {f"{v}.{g}" for g, vs in sim.api.discovery.group_versions().items() if g for v in vs}
    assert names(sim, apiservices.APISERVICES) == sorted(served - {"v1.apiregistration.k8s.io"})
    assert apiservices.apiservice("made.up.k8s.io", "v1", custom=False, aggregated=False) is None, "upstream skips a group it has no priority for"
    rt = sim.registry.types[apiservices.APISERVICES]
    core = sim.service.get(rt, "", "v1.")
    assert core["spec"] == {"group": "", "version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1}
    assert sim.service.get(rt, "", "v1alpha2.virtualization.deckhouse.io")["spec"]["groupPriorityMinimum"] == 1000
    assert sim.service.get(rt, "", "v1beta1.metrics.k8s.io")["spec"]["service"]["name"] == "prometheus-metrics-adapter"
    assert names(sim, apiservices.COMPONENT_STATUSES) == ["controller-manager", "etcd-0", "scheduler"]


def test_a_second_start_rewrites_nothing_mends_a_changed_one_and_drops_a_stale_one(sim):
    rt = sim.registry.types[apiservices.APISERVICES]
    before = {e.name: e.rv for e in sim.store.list(rt.key)}
    apiservices.seed(sim.service, sim.api.discovery, set(sim.api.aggregated))
    assert {e.name: e.rv for e in sim.store.list(rt.key)} == before, "nothing changed, nothing written"

    changed = sim.service.get(rt, "", "v1.apps")
    changed["spec"]["versionPriority"] = 3
    sim.service.update(rt, "", "v1.apps", changed, WriteOptions(version="v1", manager="test"))
    stale = apiservices.apiservice("gone.example.com", "v1", custom=True, aggregated=False)
    assert stale is not None
    sim.service.create(rt, "", stale, WriteOptions(version="v1", manager="test", with_status=True))
    apiservices.seed(sim.service, sim.api.discovery, set(sim.api.aggregated))
    assert sim.service.get(rt, "", "v1.apps")["spec"]["versionPriority"] == 15
    assert sim.service.find(rt, "", "v1.gone.example.com") is None
    assert {e.name for e in sim.store.list(rt.key)} == set(before)


def test_the_tables_print_as_upstream():
    from dvp_simulator.api.tables import BUILTIN

    columns, row = BUILTIN[apiservices.APISERVICES]
    assert [c["name"] for c in columns] == ["Name", "Service", "Available", "Age"]
    failing = {"metadata": {"name": "v1beta1.x"}, "spec": {"service": {"namespace": "n", "name": "s"}},
               "status": {"conditions": [{"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck"}]}}  # fmt: skip
    assert row(failing, 0.0)[:3] == ["v1beta1.x", "n/s", "False (FailedDiscoveryCheck)"]
    assert row({"metadata": {"name": "v1."}, "spec": {}}, 0.0)[:3] == ["v1.", "Local", "Unknown"]
    columns, row = BUILTIN[apiservices.COMPONENT_STATUSES]
    assert [c["name"] for c in columns] == ["Name", "Status", "Message", "Error"]
    sick = {"metadata": {"name": "etcd-0"}, "conditions": [{"type": "Healthy", "status": "False", "message": "", "error": "timeout"}]}
    assert row(sick, 0.0) == ["etcd-0", "Unhealthy", "", "timeout"]
