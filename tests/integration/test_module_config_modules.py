"""module_config through ansible-playbook against a started simulator: the ModuleConfigs of other Deckhouse modules
the admin guide's features need (descheduler for rebalancing, log-shipper and runtime-audit-engine for security event
audit) with check mode, diff and idempotence; `raw_settings` passed through as given; and the virtualization module's
client-side refusals of settings the platform would not apply (no dvcr) or refuse (an image class whose StorageProfile
offers no usable claim property set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ansible_runner import run_playbook
from tests.integration.test_vms import wait
from tests.simulator_process import Simulator

TOPOLOGY = Path(__file__).resolve().parents[2] / "simulator" / "dvp_simulator" / "topologies" / "admin-guide.yaml"
DVCR = {"storage": {"persistent_volume_claim": {"size": "5G"}}}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("mc-modules"), "--topology", str(TOPOLOGY), time_scale=20.0)
    yield s
    assert s.stop() == 0


def mc(sim: Simulator, name: str) -> dict:
    out = sim.kubectl("get", "mc", name, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def task(title: str, /, check: bool = False, errors: bool = False, **options) -> dict:
    return {"name": title, "deckhouse.virtualization.module_config": options, "diff": True,
            **({"check_mode": True} if check else {}), **({"ignore_errors": True} if errors else {})}  # fmt: skip


def test_other_modules_are_enabled_with_check_mode_diff_and_idempotence(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            task("check", check=True, name="descheduler", enabled=True),
            task("apply", name="descheduler", enabled=True),
            task("again", name="descheduler", enabled=True),
            task("check again", check=True, name="descheduler", enabled=True),
            {"name": "audit modules", "deckhouse.virtualization.module_config": {"name": "{{ item }}", "enabled": True},
             "loop": ["log-shipper", "runtime-audit-engine"]},  # fmt: skip
            task("audit", name="virtualization", enabled=True, settings={"dvcr": DVCR, "audit": {"enabled": True}}),
        ],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["check"]["changed"] and run["check"]["diff"]["before"] == {} and run["check"]["diff"]["after"]["spec"] == {"enabled": True}
    assert run["apply"]["changed"] and run["apply"]["resource"]["spec"] == {"enabled": True}
    assert run["again"]["changed"] is False and run["check again"]["changed"] is False
    assert run["apply"]["cidrs"] == []
    assert mc(sim, "descheduler")["spec"] == {"enabled": True}
    assert all(mc(sim, m)["spec"]["enabled"] is True for m in ("log-shipper", "runtime-audit-engine"))
    assert mc(sim, "virtualization")["spec"]["settings"]["audit"] == {"enabled": True}, "audit's prerequisites were met through the collection"

    run = run_playbook(tmp_path, sim.kubeconfig, [task("disable check", check=True, name="descheduler", enabled=False),
                                                  task("disable", name="descheduler", enabled=False)])  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["disable check"]["changed"] and run["disable check"]["diff"]["after"]["spec"] == {"enabled": False}
    stored = mc(sim, "descheduler")
    assert stored["spec"]["enabled"] is False
    # Deckhouse removes the confirmation once the module is disabled; the next run finds it disabled and asks for
    # no annotation again (it would be re-added on every run: a change each time)
    wait(lambda: mc(sim, "descheduler"), lambda o: "modules.deckhouse.io/allow-disabling" not in (o["metadata"].get("annotations") or {}))
    run = run_playbook(tmp_path, sim.kubeconfig, [task("disable again", name="descheduler", enabled=False)])
    assert run.returncode == 0 and run["disable again"]["changed"] is False, run.stdout[-3000:]


def test_raw_settings_are_passed_through_as_given(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            task("check", check=True, name="log-shipper", enabled=True, version=1, raw_settings={"debug": True}),
            task("apply", name="log-shipper", enabled=True, version=1, raw_settings={"debug": True}),
            task("again", name="log-shipper", enabled=True, version=1, raw_settings={"debug": True}),
            task("enabled only", name="log-shipper", enabled=True),
            task("replace", name="log-shipper", raw_settings={}),
        ],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["check"]["changed"] and run["check"]["diff"]["after"]["spec"]["settings"] == {"debug": True}
    assert run["apply"]["changed"] and run["again"]["changed"] is False
    assert run["enabled only"]["changed"] is False, "raw_settings left out: the settings stay as they are"
    assert run["replace"]["changed"] and "debug" not in (mc(sim, "log-shipper")["spec"].get("settings") or {}), "set before, no longer given"
    assert mc(sim, "log-shipper")["spec"]["version"] == 1 and mc(sim, "log-shipper")["spec"]["enabled"] is True


def test_option_mixups_are_refused_before_any_request(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            task("settings elsewhere", errors=True, name="descheduler", enabled=True, settings={"dvcr": DVCR}),
            task("raw here", errors=True, name="virtualization", raw_settings={"dvcr": {}}),
        ],
    )
    assert "settings: the settings of the 'virtualization' module; give those of 'descheduler' in raw_settings" in run["settings elsewhere"]["msg"]
    assert "raw_settings: only for a module other than 'virtualization'" in run["raw here"]["msg"]


def test_virtualization_settings_the_platform_would_not_apply_are_refused(sim, tmp_path):
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/rox",
          "metadata": {"name": "rox-only", "annotations": {"storageprofile.dvp-sim.deckhouse.io/access-modes": "ReadOnlyMany",
                                                           "storageprofile.dvp-sim.deckhouse.io/volume-mode": "Filesystem"}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(sc))
    images = {"default_storage_class_name": "rox-only", "allowed_storage_class_names": ["rox-only", "nonexistent-sc"]}
    before = mc(sim, "virtualization").get("metadata", {}).get("resourceVersion")
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            task("unusable check", check=True, errors=True, settings={"dvcr": DVCR, "virtual_images": images}),
            task("unusable", errors=True, settings={"dvcr": DVCR, "virtual_images": images}),
            task("no dvcr", errors=True, settings={"virtual_machine_cidrs": ["10.66.10.0/24"]}),
            task("missing class", check=True, settings={"dvcr": DVCR, "virtual_images": {"default_storage_class_name": "nonexistent-sc"}}),
        ],
    )
    unusable = "the StorageClass 'rox-only' offers no volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany"
    for name in ("unusable check", "unusable"):
        assert run[name].get("failed"), run[name]
        assert f"settings.virtual_images.default_storage_class_name: {unusable}" in run[name]["msg"], run[name]["msg"]
        assert f"settings.virtual_images.allowed_storage_class_selector.match_names: {unusable}" in run[name]["msg"], run[name]["msg"]
        assert "StorageClass nonexistent-sc does not exist" in " ".join(run[name].get("warnings") or []), run[name]
    assert run["no dvcr"].get("failed") and "settings.dvcr: required" in run["no dvcr"]["msg"], run["no dvcr"]
    assert not run["missing class"].get("failed") and run["missing class"]["changed"], run["missing class"]
    assert mc(sim, "virtualization").get("metadata", {}).get("resourceVersion") == before, "nothing written"
