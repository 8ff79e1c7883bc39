"""Disabling the virtualization module (the admin guide's `.spec.enabled: false`; BEHAVIOUR.md §8): Deckhouse refuses
to disable it, by an update or by deleting its ModuleConfig, unless the config carries the annotation
`modules.deckhouse.io/allow-disabling`, and removes the annotation once the module is disabled. With kubectl, and
through module_config, which confirms the disable it is asked for (and only then: idempotent runs)."""

from __future__ import annotations

import json

import pytest

from tests.ansible_runner import run_playbook
from tests.integration.conftest import TOPOLOGIES
from tests.integration.test_vms import wait
from tests.simulator_process import Simulator

ALLOW = "modules.deckhouse.io/allow-disabling"
CONFIG = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
          "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim",
                                                                                    "persistentVolumeClaim": {"size": "5G"}}}}}}  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("mc-disable"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0


def mc(sim):
    out = sim.kubectl("get", "mc", "virtualization", "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def annotations(obj):
    return obj.get("metadata", {}).get("annotations") or {}


def test_an_unconfirmed_disable_is_refused_and_a_confirmed_one_loses_its_confirmation(sim):
    sim.kubectl("apply", "-f", "-", input=json.dumps(CONFIG))
    for args in (("patch", "mc", "virtualization", "--type=merge", "-p", '{"spec":{"enabled":false}}'), ("delete", "mc", "virtualization")):
        refused = sim.kubectl(*args, check=False)
        assert refused.returncode != 0, args
        assert "Disabling this module will stop all services responsible for creating and running virtual machines" in refused.stderr
        assert "Please annotate ModuleConfig with `modules.deckhouse.io/allow-disabling=true`" in refused.stderr
        assert "module-configs.deckhouse-webhook.deckhouse.io" in refused.stderr
        assert mc(sim)["spec"]["enabled"] is True, args
    # a dry run is refused alike (admission runs), and changes nothing
    assert sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", '{"spec":{"enabled":false}}', "--dry-run=server", check=False).returncode != 0

    sim.kubectl("annotate", "mc", "virtualization", f"{ALLOW}=true")
    sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", '{"spec":{"enabled":false}}')
    disabled = wait(lambda: mc(sim), lambda o: ALLOW not in annotations(o))
    assert disabled["spec"]["enabled"] is False, "the confirmation served and went; the module stays disabled"
    # enabling asks for nothing; disabling again asks again
    sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", '{"spec":{"enabled":true}}')
    assert sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", '{"spec":{"enabled":false}}', check=False).returncode != 0
    # the annotation given with the change itself confirms it
    sim.kubectl("patch", "mc", "virtualization", "--type=merge", "-p", json.dumps({"metadata": {"annotations": {ALLOW: "true"}}, "spec": {"enabled": False}}))
    wait(lambda: mc(sim), lambda o: o["spec"]["enabled"] is False and ALLOW not in annotations(o))
    # a disabled module's config is deleted without a confirmation
    sim.kubectl("delete", "mc", "virtualization")
    assert mc(sim) == {}


def task(title, /, check=False, **options):
    return {"name": title, "deckhouse.virtualization.module_config": {"name": "virtualization", **options}, "diff": True,
            **({"check_mode": True} if check else {})}  # fmt: skip


def test_module_config_confirms_the_disable_it_is_asked_for(sim, tmp_path):
    dvcr = {"storage": {"persistent_volume_claim": {"size": "5G"}}}
    run = run_playbook(tmp_path, sim.kubeconfig, [
        task("enable", enabled=True, version=1, settings={"dvcr": dvcr}),
        task("disable check", check=True, enabled=False),
        task("disable", enabled=False),
    ])  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["disable check"]["changed"] and run["disable"]["changed"]
    wait(lambda: mc(sim), lambda o: o["spec"]["enabled"] is False and ALLOW not in annotations(o))
    run = run_playbook(tmp_path, sim.kubeconfig, [task("disable again", enabled=False), task("disable again, check", check=True, enabled=False)])
    assert run.returncode == 0 and not run["disable again"]["changed"] and not run["disable again, check"]["changed"], run.stdout[-3000:]

    # deleting the config of an enabled module: confirmed first, as a disable
    run = run_playbook(tmp_path, sim.kubeconfig, [
        task("enable", enabled=True),
        task("delete check", check=True, state="absent"),
    ])  # fmt: skip
    assert run.returncode == 0 and run["delete check"]["changed"], run.stdout[-3000:]
    assert mc(sim)["spec"]["enabled"] is True and ALLOW not in annotations(mc(sim)), "check mode wrote nothing"
    run = run_playbook(tmp_path, sim.kubeconfig, [task("delete", state="absent"), task("delete again", state="absent")])
    assert run.returncode == 0 and run["delete"]["changed"] and not run["delete again"]["changed"], run.stdout[-3000:]
    assert mc(sim) == {}
