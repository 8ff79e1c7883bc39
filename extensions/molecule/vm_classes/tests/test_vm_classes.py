"""Verify of the `vm_classes` scenario: both classes are Ready on the cluster; the Discovery class found its vCPU on
the three workers its discovery selector names (a CPU model every one of them runs) and places VMs on them, with the
guide's sizing policies; the Model class has the fixed model, available on every worker."""

from __future__ import annotations

WORKERS = ["worker-0", "worker-1", "worker-2"]


def test_the_discovery_class(platform):
    vmclass = platform.get("vmclass", "molecule-discovery")
    status = vmclass["status"]
    assert status["phase"] == "Ready", status
    assert sorted(status["availableNodes"]) == WORKERS, status["availableNodes"]
    assert vmclass["spec"]["cpu"]["type"] == "Discovery"
    assert status["cpuFeatures"]["enabled"], status["cpuFeatures"]
    policies = vmclass["spec"]["sizingPolicies"]
    assert [(p["cores"]["min"], p["cores"]["max"]) for p in policies] == [(1, 4), (5, 8)], policies
    assert policies[0]["memory"] == {"min": "1Gi", "max": "8Gi", "step": "512Mi"}, policies[0]
    # kubectl reads classes in the group's preferred version, v1alpha3: core fractions as "NN%" strings
    assert policies[0]["coreFractions"] == ["5%", "10%", "20%", "50%", "100%"], policies[0]


def test_the_model_class(platform):
    vmclass = platform.get("vmclass", "molecule-model")
    assert vmclass["spec"]["cpu"] == {"type": "Model", "model": "Broadwell-noTSX"}, vmclass["spec"]["cpu"]
    assert vmclass["status"]["phase"] == "Ready", vmclass["status"]
    assert sorted(vmclass["status"]["availableNodes"]) == WORKERS, vmclass["status"]["availableNodes"]
