"""module_config leaves the options a task leaves out as they are (the module's documentation): a task giving only
`settings` keeps spec.enabled and spec.version, a task giving only `enabled` or only `labels` neither fails on the
settings nor touches them, the module_config role with its default (empty) settings leaves them alone, and settings
set by kubectl that a task leaves out stay; within a given `settings`, a setting the collection set and the task no
longer gives is removed (the documented way). Each through ansible-playbook against a simulator of its own, the
server's object read back with kubectl, and a second run reporting no change."""

from __future__ import annotations

import json

import pytest
import yaml

from ..ansible_runner import run_playbook
from ..simulator_process import Simulator
from .conftest import TOPOLOGIES

ALLOW = "modules.deckhouse.io/allow-disabling"
CIDRS = ["10.66.10.0/24", "10.66.20.0/24"]
DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistent_volume_claim": {"size": "50G", "storage_class_name": "replicated"}}}
API_DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G", "storageClassName": "replicated"}}}
IMAGES = {"default_storage_class_name": "replicated", "allowed_storage_class_names": ["replicated"]}
API_IMAGES = {"defaultStorageClassName": "replicated", "allowedStorageClassSelector": {"matchNames": ["replicated"]}}


@pytest.fixture
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("mc-omitted"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"))
    yield s
    assert s.stop() == 0


def mc(sim) -> dict:
    return json.loads(sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json").stdout)


def task(name, **options) -> dict:
    extra = {k: options.pop(k) for k in ("diff", "check_mode", "ignore_errors") if k in options}
    return {"name": name, "deckhouse.virtualization.module_config": options, **extra}


def full() -> dict:
    return task("full", enabled=True, version=1, settings={"dvcr": DVCR, "virtual_machine_cidrs": CIDRS, "log_level": "debug"}, labels={"team": "a"})


def test_settings_only_task_keeps_enabled_and_version(sim, tmp_path):
    """The audit's reproduction: enabled, version and settings, then the documentation's second example giving only
    settings. The diff and the server keep enabled and version; log_level, which the collection set and the second
    task no longer gives, is removed (the documented way to remove a setting)."""
    settings = {"dvcr": DVCR, "virtual_machine_cidrs": CIDRS, "virtual_images": IMAGES}
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [full(), task("settings only", settings=settings, diff=True), task("again", settings=settings, diff=True)],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["full"]["changed"] and run["settings only"]["changed"]
    diff = run["settings only"]["diff"]
    for side in ("before", "after"):
        assert diff[side]["spec"]["enabled"] is True and diff[side]["spec"]["version"] == 1, (side, diff[side]["spec"])
        assert diff[side]["metadata"]["labels"] == {"team": "a"}
    assert diff["before"]["spec"]["settings"]["logLevel"] == "debug" and "logLevel" not in diff["after"]["spec"]["settings"]
    assert run["again"]["changed"] is False

    obj = mc(sim)
    assert obj["spec"] == {"enabled": True, "version": 1, "settings": {"dvcr": API_DVCR, "virtualMachineCIDRs": CIDRS, "virtualImages": API_IMAGES}}
    assert obj["metadata"]["labels"] == {"team": "a"}


def test_options_only_tasks_and_the_role_leave_settings_alone(sim, tmp_path):
    """A task with only enabled, only version or only labels succeeds (it failed on 'the list cannot be cleared'),
    changes nothing but what it gives, and is idempotent; so is the module_config role with its default, empty,
    module_config_settings."""
    first = run_playbook(tmp_path, sim.kubeconfig, [full()])
    assert first.returncode == 0, first.stdout[-4000:]
    before = mc(sim)

    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            task("only enabled", enabled=True),
            task("only version", version=1),
            task("only enabled, check", enabled=True, check_mode=True, diff=True),
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    for name in ("only enabled", "only version", "only enabled, check"):
        assert not run[name].get("failed") and run[name]["changed"] is False, (name, run[name])
    assert mc(sim)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "nothing written"

    labels = {"team": "a", "tier": "b"}
    run = run_playbook(tmp_path, sim.kubeconfig, [task("only labels", labels=labels), task("labels again", labels=labels)])
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["only labels"]["changed"] and run["labels again"]["changed"] is False
    after = mc(sim)
    assert after["spec"] == before["spec"] and after["metadata"]["labels"] == {"team": "a", "tier": "b"}

    # the role: module_config_settings empty (its default), module_config_enabled and _version their defaults
    role = [
        {
            "name": "role",
            "ansible.builtin.include_role": {"name": "deckhouse.virtualization.module_config"},
            "vars": {"module_config_connection": {"kubeconfig": str(sim.kubeconfig)}},
        },
        {"name": "facts", "ansible.builtin.debug": {"var": "module_config_result"}},
    ]
    for attempt in ("role", "role again"):
        run = run_playbook(tmp_path, sim.kubeconfig, role)
        assert run.returncode == 0, (attempt, run.stdout[-4000:])
        assert run["facts"]["module_config_result"]["changed"] is False, attempt
    final = mc(sim)
    assert final["spec"] == before["spec"] and final["metadata"]["labels"] == {"team": "a", "tier": "b"}
    assert final["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"], "the role wrote nothing"


GUIDE = {
    "apiVersion": "deckhouse.io/v1alpha1",
    "kind": "ModuleConfig",
    "metadata": {"name": "virtualization"},
    "spec": {"enabled": True, "version": 1, "settings": {"dvcr": API_DVCR, "virtualMachineCIDRs": CIDRS}},
}


def test_settings_kubectl_set_and_the_task_leaves_out_stay(sim, tmp_path):
    """The admin guide's configuration applied with kubectl, then the documentation's second example (DVCR size,
    image and disk storage classes; no CIDRs, no DVCR storage class): the CIDR list and the DVCR storage class stay
    as kubectl set them, so neither 'cannot be cleared' nor 'cannot change the storage class' is reported."""
    sim.kubectl("apply", "-f", "-", input=yaml.safe_dump(GUIDE))
    sim.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/dvcr", "-n", "d8-virtualization", "--timeout=30s", check=False)
    assert sim.kubectl("get", "pvc", "dvcr", "-n", "d8-virtualization", check=False).returncode == 0, "the premise: the DVCR volume exists"
    example = {
        "dvcr": {"storage": {"persistent_volume_claim": {"size": "50G"}}},
        "virtual_images": {"default_storage_class_name": "replicated", "allowed_storage_class_names": ["replicated"]},
        "virtual_disks": {"default_storage_class_name": "replicated", "allowed_storage_class_selector": {"match_names": ["replicated"]}},
    }
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [task("example", settings=example), task("again", settings=example), task("only enabled", enabled=True, ignore_errors=True)],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["example"]["changed"] and run["again"]["changed"] is False
    assert not run["only enabled"].get("failed") and run["only enabled"]["changed"] is False, run["only enabled"]
    spec = mc(sim)["spec"]
    assert spec["enabled"] is True and spec["version"] == 1
    assert spec["settings"]["virtualMachineCIDRs"] == CIDRS and spec["settings"]["dvcr"] == API_DVCR
    assert spec["settings"]["virtualImages"] == API_IMAGES
    assert spec["settings"]["virtualDisks"] == API_IMAGES


def test_a_disabled_module_stays_disabled_when_a_task_leaves_enabled_out(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            task("off", enabled=False, version=1, settings={"dvcr": DVCR, "virtual_machine_cidrs": CIDRS}),
            task("settings only", settings={"dvcr": DVCR, "virtual_machine_cidrs": CIDRS, "log_level": "warn"}),
            task("again", settings={"dvcr": DVCR, "virtual_machine_cidrs": CIDRS, "log_level": "warn"}),
        ],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["settings only"]["changed"] and run["again"]["changed"] is False
    obj = mc(sim)
    assert obj["spec"]["enabled"] is False and obj["spec"]["version"] == 1 and obj["spec"]["settings"]["logLevel"] == "warn"
    assert ALLOW not in (obj["metadata"].get("annotations") or {}), "Deckhouse removed the confirmation once the module was disabled"
