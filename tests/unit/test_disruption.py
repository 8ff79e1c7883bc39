"""Pure rules of the built-in controllers: a PodDisruptionBudget's status and a provisioned PersistentVolume."""

from __future__ import annotations

import pytest

from dvp_simulator.controllers.disruption import compute_status, desired_healthy
from dvp_simulator.controllers.volume_binding import new_volume, pod_claims

NOW = 1_700_000_000.0


def pod(name: str, ready: bool = True, phase: str = "Running", deleting: bool = False, app: str = "w") -> dict:
    meta = {"name": name, "namespace": "n", "labels": {"app": app}} | ({"deletionTimestamp": "2023-11-14T22:13:20Z"} if deleting else {})
    return {"metadata": meta, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def budget(spec: dict, disrupted: dict | None = None) -> dict:
    status = {"disruptedPods": disrupted} if disrupted else {}
    return {"metadata": {"name": "b", "namespace": "n", "generation": 3}, "spec": {"selector": {"matchLabels": {"app": "w"}}} | spec, "status": status}


@pytest.mark.parametrize(
    ("spec", "expected", "desired"),
    [({"minAvailable": 2}, 5, 2), ({"minAvailable": "50%"}, 5, 3), ({"maxUnavailable": 1}, 5, 4), ({"maxUnavailable": "30%"}, 5, 3), ({}, 5, 0)],
)
def test_desired_healthy_rounds_percentages_up(spec, expected, desired):
    assert desired_healthy(spec, expected) == desired


def test_status_counts_ready_selected_pods_only():
    pods = [pod("a"), pod("b"), pod("c", ready=False), pod("d", deleting=True), pod("e", phase="Succeeded"), pod("x", app="other")]
    status = compute_status(budget({"minAvailable": 1}), pods, NOW)
    assert {k: status[k] for k in ("expectedPods", "currentHealthy", "desiredHealthy", "disruptionsAllowed", "observedGeneration")} == {
        "expectedPods": 4,
        "currentHealthy": 2,
        "desiredHealthy": 1,
        "disruptionsAllowed": 1,
        "observedGeneration": 3,
    }
    assert status["conditions"][0] | {"lastTransitionTime": ""} == {
        "type": "DisruptionAllowed",
        "status": "True",
        "reason": "SufficientPods",
        "message": "",
        "observedGeneration": 3,
        "lastTransitionTime": "",
    }


def test_recently_evicted_pods_do_not_count_until_their_grace_ends():
    fresh = {"a": "2023-11-14T22:12:50Z"}  # 30 s before NOW
    stale = {"a": "2023-11-14T22:00:00Z"}  # 800 s before NOW
    pods = [pod("a"), pod("b")]
    held = compute_status(budget({"minAvailable": 1}, fresh), pods, NOW)
    assert (held["currentHealthy"], held["disruptionsAllowed"], held["disruptedPods"]) == (1, 0, fresh)
    released = compute_status(budget({"minAvailable": 1}, stale), pods, NOW)
    assert (released["currentHealthy"], released["disruptionsAllowed"], "disruptedPods" in released) == (2, 1, False)


def test_a_budget_without_selector_selects_nothing():
    pdb = budget({"minAvailable": 1})
    del pdb["spec"]["selector"]
    assert compute_status(pdb, [pod("a")], NOW)["expectedPods"] == 0


def test_provisioned_volume_mirrors_the_claim_and_pins_the_node():
    claim = {
        "metadata": {"name": "c", "namespace": "n", "uid": "u-1"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "3Gi"}}, "volumeMode": "Block"},
    }
    sc = {"metadata": {"name": "fast"}, "provisioner": "p", "reclaimPolicy": "Retain"}
    pv = new_volume(claim, sc, "node-a")
    assert pv["metadata"]["name"] == "pvc-u-1"
    spec = pv["spec"]
    assert (spec["capacity"], spec["accessModes"], spec["persistentVolumeReclaimPolicy"], spec["storageClassName"], spec["volumeMode"]) == (
        {"storage": "3Gi"},
        ["ReadWriteMany"],
        "Retain",
        "fast",
        "Block",
    )
    assert spec["claimRef"] | {} == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "n", "name": "c", "uid": "u-1"}
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["node-a"]
    assert "nodeAffinity" not in new_volume(claim, sc, None)["spec"]


def test_pod_claims_index_values():
    p = {"metadata": {"namespace": "n"}, "spec": {"volumes": [{"name": "a", "persistentVolumeClaim": {"claimName": "c1"}}, {"name": "b", "emptyDir": {}}]}}
    assert pod_claims(p) == ["n/c1"]
