"""A workload asking for more pods than one reconcile makes (controllers/replicaset.py BURST, upstream's burstReplicas
and the Job controller's MaxBatchSize) gets all of them, reconcile after reconcile, with the API served in between.
Its own simulator (the admin guide's nodes): the pods here are many, and unschedulable on purpose (a node selector no
node has), so they stay Pending and hold nothing, but they would crowd the session's cluster."""

from __future__ import annotations

import json

import pytest

from dvp_simulator.controllers.replicaset import BURST

from .polling import eventually

MANY = BURST + 100
NOWHERE = {"nodeSelector": {"burst-test": "nowhere"}}


@pytest.fixture(scope="module")
def sim(own_cluster):
    own_cluster.kubectl("create", "namespace", "burst")
    return own_cluster


def count(sim, selector: str) -> int:
    listed = sim.kubectl("get", "pods", "-n", "burst", "-l", selector, "-o", "name", timeout=120)
    return len([line for line in listed.stdout.split("\n") if line])


def manifest(kind: str, api_version: str, name: str, spec: dict, restart: str = "Always") -> str:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "i"}], **NOWHERE}}
    body = {**spec, "template": template}
    if kind != "Job":
        body["selector"] = {"matchLabels": {"app": name}}
    return json.dumps({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "burst"}, "spec": body})


@pytest.mark.parametrize(
    ("kind", "api_version", "spec", "restart"),
    [
        ("ReplicaSet", "apps/v1", {"replicas": MANY}, "Always"),
        ("Job", "batch/v1", {"parallelism": MANY, "completions": MANY}, "Never"),
        ("StatefulSet", "apps/v1", {"replicas": MANY, "podManagementPolicy": "Parallel"}, "Always"),
    ],
)
def test_more_pods_than_a_burst_are_all_made(sim, kind, api_version, spec, restart):
    name = kind.lower()
    sim.kubectl("apply", "-f", "-", input=manifest(kind, api_version, name, spec, restart))
    eventually(lambda: count(sim, f"app={name}"), lambda n: n == MANY, timeout=120, interval=1.0)
    assert sim.kubectl("get", "--raw", "/readyz").stdout == "ok"
    sim.kubectl("delete", name, name, "-n", "burst", "--wait=false")
    eventually(lambda: count(sim, f"app={name}"), lambda n: n == 0, timeout=120, interval=1.0)
