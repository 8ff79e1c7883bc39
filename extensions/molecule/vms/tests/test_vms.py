"""Verify of the `vms` scenario: web-0 runs - Running with an address from the ModuleConfig's subnet, its disk
(made from the cluster image) Ready and attached, its libvirt domain on exactly the node the API names, cloud-init
user data as declared; batch-0, declared absent by the side effect, is gone with its disk."""

from __future__ import annotations

import ipaddress

NAMESPACE = "vms"


def test_web_0_runs_from_its_disk(platform):
    vm = platform.get("vm", "web-0", NAMESPACE)
    status = vm["status"]
    assert status["phase"] == "Running", (status.get("phase"), status.get("conditions"))
    assert ipaddress.ip_address(status["ipAddress"]) in ipaddress.ip_network("10.66.10.0/24"), status["ipAddress"]
    assert vm["spec"]["virtualMachineClassName"] == "generic" and vm["spec"]["cpu"] == {"cores": 1, "coreFraction": "10%"}, vm["spec"]
    assert vm["spec"]["provisioning"] == {"type": "UserData", "userData": "#cloud-config\nssh_pwauth: true\n"}, vm["spec"]["provisioning"]
    assert [(d["name"], d["attached"]) for d in status["blockDeviceRefs"]] == [("web-0-root", True)], status["blockDeviceRefs"]
    disk = platform.get("vd", "web-0-root", NAMESPACE)
    assert disk["status"]["phase"] == "Ready", disk["status"].get("phase")
    assert disk["spec"]["dataSource"]["objectRef"] == {"kind": "ClusterVirtualImage", "name": "molecule-linux"}, disk["spec"]


def test_web_0_runs_once_where_the_api_says(platform):
    where = [node for node, names in platform.domains().items() if f"{NAMESPACE}_web-0" in names]
    assert where == [platform.get("vm", "web-0", NAMESPACE)["status"]["nodeName"]], where


def test_batch_0_and_its_disk_are_gone(platform):
    assert not platform.exists("vm", "batch-0", NAMESPACE)
    assert not platform.exists("vd", "batch-0-data", NAMESPACE)
    assert not any(f"{NAMESPACE}_batch-0" in names for names in platform.domains().values())
