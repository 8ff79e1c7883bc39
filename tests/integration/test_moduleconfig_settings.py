"""ModuleConfig `virtualization` spec.settings are checked against the module's settings schema on create and update
(Deckhouse's ModuleConfig webhook): a wrong type, a value outside an enum or an unknown field is refused with every
problem named, and nothing is written; valid settings go through. Before, any shape was accepted and ignored."""

from __future__ import annotations

import json

import pytest

from tests.simulator_process import Simulator

VALID = {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "5G"}}}, "virtualMachineCIDRs": ["10.66.10.0/24"]}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("mc-settings"))
    yield s
    assert s.stop() == 0


def delete_config(sim):
    """Delete ModuleConfig virtualization if it is there, confirmed as Deckhouse asks (an enabled module's)."""
    sim.kubectl("annotate", "moduleconfig", "virtualization", "modules.deckhouse.io/allow-disabling=true", "--overwrite", check=False)
    sim.kubectl("delete", "moduleconfig", "virtualization", "--ignore-not-found")


def config(settings):
    return json.dumps({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
                       "spec": {"enabled": True, "version": 1, "settings": settings}})  # fmt: skip


def test_settings_outside_the_schema_are_refused_and_nothing_is_written(sim):
    delete_config(sim)
    refused = sim.kubectl("create", "-f", "-", input=config({**VALID, "logLevel": "loud"}), check=False)
    assert refused.returncode != 0 and 'Unsupported value: "loud"' in refused.stderr and "settings.logLevel" in refused.stderr, refused.stderr
    assert sim.kubectl("get", "moduleconfig", "virtualization", check=False).returncode != 0, "nothing was created"
    sim.kubectl("create", "-f", "-", input=config({**VALID, "logLevel": "debug"}))
    before = json.loads(sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json").stdout)
    patch = json.dumps({"spec": {"settings": {"highAvailability": "yes", "bogus": 1, "logFormat": "xml"}}})
    refused = sim.kubectl("patch", "moduleconfig", "virtualization", "--type=merge", "-p", patch, check=False)
    assert refused.returncode != 0, refused.stdout
    for expected in ("settings.highAvailability", "must be of type boolean", "settings.bogus: is a forbidden property", "settings.logFormat"):
        assert expected in refused.stderr, (expected, refused.stderr)
    after = json.loads(sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json").stdout)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    fixed = json.dumps({"spec": {"settings": {"highAvailability": True, "logFormat": "json"}}})
    sim.kubectl("patch", "moduleconfig", "virtualization", "--type=merge", "-p", fixed)
    settings = json.loads(sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json").stdout)["spec"]["settings"]
    assert settings["highAvailability"] is True and settings["logFormat"] == "json" and settings["logLevel"] == "debug"


def test_settings_without_dvcr_are_not_refused_at_admission(sim):
    """BEHAVIOUR.md §8: the module's hook marks a config without `dvcr` invalid; the webhook lets it through."""
    delete_config(sim)
    sim.kubectl("create", "-f", "-", input=config({"virtualMachineCIDRs": ["10.66.10.0/24"]}))
    assert "dvcr" not in json.loads(sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json").stdout)["spec"]["settings"]
