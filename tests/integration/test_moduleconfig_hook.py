"""The virtualization module's `validate-module-config` hook (BEHAVIOUR.md §8), through kubectl against a started
simulator: settings the ModuleConfig webhook would refuse, or without `dvcr`, still reach the cluster on CREATE (the
webhook runs on UPDATE only) or through an UPDATE the webhook lets by; the hook keeps them from taking effect. IPAM
uses only the last valid settings (none before the first), status.message (`kubectl get mc`'s MESSAGE) carries the
hook's error, and a restart of the simulator keeps both. Also the webhook's StorageProfile check of the image
storage classes (§8 table)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.simulator_process import Simulator

TOPOLOGY = Path(__file__).resolve().parents[2] / "simulator" / "dvp_simulator" / "topologies" / "admin-guide.yaml"
DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "5G"}}}
HOOK_ERROR = "HookError: ModuleConfig/virtualization is invalid: "


def start(state_dir: Path) -> Simulator:
    return Simulator.start(state_dir, "--topology", str(TOPOLOGY), time_scale=20.0)


@pytest.fixture
def sim(tmp_path):
    s = start(tmp_path / "sim")
    yield s
    assert s.stop() == 0


def create_config(sim: Simulator, settings: dict) -> None:
    mc = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
          "spec": {"enabled": True, "version": 1, "settings": settings}}  # fmt: skip
    sim.kubectl("create", "-f", "-", input=json.dumps(mc))


def message(sim: Simulator, expect: str | None = None, timeout: float = 10) -> str:
    """status.message of ModuleConfig virtualization, once it contains `expect` ("" : once it is empty)."""
    end = time.time() + timeout
    while True:
        status = json.loads(sim.kubectl("get", "mc", "virtualization", "-o", "json").stdout).get("status") or {}
        text = status.get("message", "")
        if expect is None or (expect in text if expect else "version" in status and text == "") or time.time() > end:
            return text
        time.sleep(0.1)


def vmip(sim: Simulator, namespace: str, name: str, static: str | None = None, check: bool = True):
    spec = {"type": "Static", "staticIP": static} if static else {"type": "Auto"}
    body = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineIPAddress", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}  # fmt: skip
    return sim.kubectl("create", "-f", "-", input=json.dumps(body), check=check)


def address(sim: Simulator, namespace: str, name: str, timeout: float = 10) -> str:
    end = time.time() + timeout
    while True:
        status = json.loads(sim.kubectl("-n", namespace, "get", "vmip", name, "-o", "json").stdout).get("status") or {}
        if status.get("phase") in ("Bound", "Attached") or time.time() > end:
            return status.get("address", "")
        time.sleep(0.1)


def test_settings_created_invalid_never_take_effect_until_fixed(sim):
    """The audit's repro: created overlapping the pod subnet and the nodes' network, the CIDRs are not used; a valid
    update takes effect and clears the message."""
    sim.kubectl("create", "namespace", "q")
    create_config(sim, {"dvcr": DVCR, "virtualMachineCIDRs": ["10.111.0.0/24", "192.168.10.0/24"]})
    text = message(sim, HOOK_ERROR)
    assert text.startswith(HOOK_ERROR), text
    assert "virtualMachineCIDRs[0]: 10.111.0.0/24 overlaps the cluster pod subnet 10.111.0.0/16" in text, text
    assert "virtualMachineCIDRs[1]: 192.168.10.0/24 contains the address 192.168.10.11 of node blue-0" in text, text
    table = sim.kubectl("get", "mc", "virtualization").stdout
    assert "HookError" in table, table  # the MESSAGE column
    refused = vmip(sim, "q", "ip1", check=False)
    assert refused.returncode != 0 and "virtualMachineCIDRs is not configured" in refused.stderr, refused.stderr
    assert sim.kubectl("-n", "d8-virtualization", "get", "pvc", "dvcr", check=False).returncode != 0, "no DVCR volume from invalid settings"

    sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", json.dumps({"spec": {"settings": {"virtualMachineCIDRs": ["10.66.10.0/24"]}}}))
    assert message(sim, "") == ""
    vmip(sim, "q", "ip1")
    assert address(sim, "q", "ip1") == "10.66.10.1"


def test_settings_without_dvcr_are_not_applied(sim):
    sim.kubectl("create", "namespace", "q")
    create_config(sim, {"virtualMachineCIDRs": ["10.66.10.0/24"]})
    assert "dvcr: required" in message(sim, "dvcr: required")
    refused = vmip(sim, "q", "ip3", check=False)
    assert refused.returncode != 0 and "virtualMachineCIDRs is not configured" in refused.stderr, refused.stderr


def test_an_invalid_update_keeps_the_previous_settings_also_after_a_restart(tmp_path):
    """An UPDATE the webhook admits (it does not check dvcr) but the hook refuses: the previous settings stay in
    effect — new addresses still come from the old CIDR, the new one is not used — and so after a restart."""
    state = tmp_path / "sim"
    sim = start(state)
    try:
        sim.kubectl("create", "namespace", "q")
        create_config(sim, {"dvcr": DVCR, "virtualMachineCIDRs": ["10.66.10.0/24"]})
        assert message(sim, "") == ""
        vmip(sim, "q", "a")
        assert address(sim, "q", "a") == "10.66.10.1"
        mc = json.loads(sim.kubectl("get", "mc", "virtualization", "-o", "json").stdout)
        mc["spec"]["settings"] = {"virtualMachineCIDRs": ["10.66.20.0/24", "10.66.10.0/24"]}  # dvcr dropped, a CIDR first
        sim.kubectl("replace", "-f", "-", input=json.dumps(mc))
        assert "dvcr: required" in message(sim, "dvcr: required")
        vmip(sim, "q", "b")
        assert address(sim, "q", "b") == "10.66.10.2", "the settings in effect are the previous ones"
    finally:
        assert sim.stop() == 0

    sim = start(state)
    try:
        assert "dvcr: required" in message(sim, "dvcr: required"), "the hook's error survives a restart"
        vmip(sim, "q", "c")
        assert address(sim, "q", "c") == "10.66.10.3", "so do the settings in effect"
        sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", json.dumps({"spec": {"settings": {"dvcr": DVCR}}}))
        assert message(sim, "") == ""
        vmip(sim, "q", "d")
        assert address(sim, "q", "d") == "10.66.20.1", "fixed: the new list is in effect"
    finally:
        assert sim.stop() == 0


def test_deleting_the_config_drops_the_settings_in_effect(sim):
    sim.kubectl("create", "namespace", "q")
    create_config(sim, {"dvcr": DVCR, "virtualMachineCIDRs": ["10.66.10.0/24"]})
    assert message(sim, "") == ""
    sim.kubectl("annotate", "mc", "virtualization", "modules.deckhouse.io/allow-disabling=true")  # Deckhouse's confirmation
    sim.kubectl("delete", "mc", "virtualization")
    end = time.time() + 10
    while sim.kubectl("-n", "d8-virtualization", "get", "configmap", "module-settings", check=False).returncode == 0 and time.time() < end:
        time.sleep(0.1)
    refused = vmip(sim, "q", "gone", check=False)
    assert refused.returncode != 0 and "virtualMachineCIDRs is not configured" in refused.stderr, refused.stderr


def test_image_storage_classes_need_a_usable_storage_profile(sim):
    """virtualImages.defaultStorageClassName and allowedStorageClassSelector.matchNames: a class whose StorageProfile
    offers no Block/Filesystem volume mode with RWO/RWX is refused on UPDATE; a class that does not exist is not."""
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/rox",
          "metadata": {"name": "rox-only", "annotations": {"storageprofile.dvp-sim.deckhouse.io/access-modes": "ReadOnlyMany",
                                                           "storageprofile.dvp-sim.deckhouse.io/volume-mode": "Filesystem"}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(sc))
    create_config(sim, {"dvcr": DVCR})
    bad = {"virtualImages": {"defaultStorageClassName": "rox-only", "allowedStorageClassSelector": {"matchNames": ["rox-only", "nonexistent-sc"]}}}
    refused = sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", json.dumps({"spec": {"settings": bad}}), check=False)
    assert refused.returncode != 0, refused.stdout
    unusable = "the StorageClass 'rox-only' offers no volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany"
    assert f"virtualImages.defaultStorageClassName: {unusable}" in refused.stderr, refused.stderr
    assert f"virtualImages.allowedStorageClassSelector.matchNames: {unusable}" in refused.stderr, refused.stderr
    assert "nonexistent-sc" not in refused.stderr, refused.stderr
    good = {"virtualImages": {"defaultStorageClassName": "replicated", "allowedStorageClassSelector": {"matchNames": ["replicated", "nonexistent-sc"]}}}
    sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", json.dumps({"spec": {"settings": good}}))
