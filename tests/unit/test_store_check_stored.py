"""store.CHECK_STORED (on in the test suite's simulators): a stored version changed in place — service.find gives
the stored dict itself — is reported at the object's next write and at close, and an untouched store reports nothing."""

from __future__ import annotations

from dvp_simulator.store import store as store_module
from dvp_simulator.store.store import ADDED, MODIFIED, Store


def test_a_version_changed_in_place_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(store_module, "CHECK_STORED", True)
    store = Store(None)
    store.put("/pods", {"metadata": {"name": "p", "namespace": "d"}, "spec": {}}, ADDED)
    store.put("/pods", {"metadata": {"name": "q", "namespace": "d"}, "spec": {}}, ADDED)
    store.put("/pods", {"metadata": {"name": "p", "namespace": "d"}, "spec": {"x": 1}}, MODIFIED)
    assert capsys.readouterr().err == ""
    store.get("/pods", "d", "p").obj["spec"]["nodeName"] = "n1"  # what the default scheduler did
    store.put("/pods", {"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}}, MODIFIED)
    assert f"{store_module.CHANGED_IN_PLACE}: /pods d/p" in capsys.readouterr().err
    store.get("/pods", "d", "q").obj["status"] = {"phase": "Running"}
    store.close()
    assert f"{store_module.CHANGED_IN_PLACE}: /pods d/q" in capsys.readouterr().err
