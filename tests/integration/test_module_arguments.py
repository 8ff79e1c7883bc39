"""Every option of every module given values of the wrong type: the task fails with a message, never a traceback.

Each module's own main() runs with the arguments as a module process receives them (AnsibleModule reads them from
_ANSIBLE_ARGS), in check mode, against the simulator over HTTPS with its kubeconfig: the module process's code path
without a process per run (a playbook per argument set would cost a second each, and there are hundreds;
test_action_plugin.py runs both paths through ansible-playbook). ansible-core's own validation used to raise a
TypeError on a dict option given a number (ansible/ansible#81631), and vm_class crashed on `cpu: null`."""

from __future__ import annotations

import contextlib
import importlib
import io
import json

import pytest
from ansible.module_utils import basic

from ..mutations import paths, with_value

MODULES = "ansible_collections.deckhouse.virtualization.plugins.modules."
ARGS = {
    "vm": {
        "name": "arg-vm",
        "namespace": "default",
        "virtual_machine_class_name": "generic",
        "cpu": {"cores": 1, "core_fraction": 10},
        "memory": {"size": "1Gi"},
        "block_device_refs": [{"kind": "VirtualDisk", "name": "root"}],
        "provisioning": {"type": "UserData", "user_data": "#cloud-config\n"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "wait": False,
    },
    "virtual_disk": {
        "name": "arg-vd",
        "namespace": "default",
        "data_source": {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "img"}},
        "persistent_volume_claim": {"size": "2Gi"},
        "wait": False,
    },
    "virtual_image": {"name": "arg-vi", "namespace": "default", "data_source": {"type": "HTTP", "http": {"url": "http://127.0.0.1:9/x.img"}}, "wait": False},
    "cluster_virtual_image": {
        "name": "arg-cvi",
        "data_source": {"type": "HTTP", "http": {"url": "http://127.0.0.1:9/x.img", "checksum": {"sha256": "0" * 64}}},
    },
    "vm_class": {
        "name": "arg-class",
        "cpu": {"type": "Discovery", "discovery": {"node_selector": {"match_labels": {"a": "b"}}}},
        "sizing_policies": [{"cores": {"min": 1, "max": 4}, "core_fractions": [10, 100], "memory": {"min": "1Gi", "max": "8Gi"}}],
    },
    "vm_operation": {"generate_name": "arg-op-", "namespace": "default", "type": "Restart", "virtual_machine_name": "vm", "wait": False},
    "module_config": {"enabled": True, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistent_volume_claim": {"size": "50G"}}}}},
    "node_maintenance": {"name": "arg-node", "state": "cordoned", "wait": False},
    "vm_info": {"namespace": "default", "name": "vm", "wait_condition": {"type": "Running"}, "wait": True, "wait_timeout": 0},
    "vm_class_info": {"name": "generic", "wait": True, "wait_timeout": 0, "wait_condition": {"type": "Ready"}},
}
WRONG = (7, [1], None, "s")


def run_module(module, args: dict) -> dict:
    """The module's result for these arguments, in check mode; a traceback fails the test."""
    basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": True}}).encode(), "legacy"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    finally:
        basic._ANSIBLE_ARGS = None
    return json.loads(out.getvalue())


@pytest.mark.parametrize("name", sorted(ARGS))
def test_wrong_types_fail_the_task_with_a_message(sim, monkeypatch, name):
    monkeypatch.setenv("KUBECONFIG", str(sim.kubeconfig))
    module = importlib.import_module(MODULES + name)
    runs = failed = 0
    for path in paths(ARGS[name]):
        for wrong in WRONG:
            result = run_module(module, with_value(ARGS[name], path, wrong))
            runs += 1
            if result.get("failed"):
                failed += 1
                assert result.get("msg") and "Traceback" not in json.dumps(result), (path, wrong, result)
                assert "MODULE FAILURE" not in result["msg"] and "not iterable" not in result["msg"], (path, wrong, result)
    assert runs and failed, (runs, failed)
