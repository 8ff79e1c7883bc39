"""vm's virtual_machine_ip_address_name is written as the CRD spells it, spec.virtualMachineIPAddressName (the generic
snake → camel conversion made it virtualMachineIpAddressName, which the API server's strict field validation
refuses): the VM runs with the address of the VirtualMachineIPAddress it names, and a second run changes nothing."""

import json

import pytest

from ..ansible_runner import run_playbook
from . import test_module_vm
from .test_module_vm import CIDR, configured_cidrs, get_vm, in_cidrs, linux_vm, make_disk

guide = test_module_vm.guide  # the fixture: class vm-guide, image vm-guide-linux, the session's CIDRs, a namespace


@pytest.fixture(scope="module", autouse=True)
def module_config(cluster):
    """The ModuleConfig with the guide's VM network, made before `guide` when the session has none yet: the settings
    schema requires dvcr, which guide's own fallback (test_module_vm.ensure_cidrs) does not give."""
    mc, _cidrs = configured_cidrs(cluster)
    if mc is None:
        settings = {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "10Gi"}}}, "virtualMachineCIDRs": [CIDR]}
        body = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"}}
        cluster.kubectl("create", "-f", "-", input=json.dumps({**body, "spec": {"enabled": True, "version": 1, "settings": settings}}))


def test_vm_uses_the_ip_address_it_names(cluster, guide, tmp_path):
    ns = guide["namespace"]
    vmip = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "VirtualMachineIPAddress",
        "metadata": {"name": "named-ip", "namespace": ns},
        "spec": {"type": "Auto"},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(vmip))
    disk = make_disk(cluster, ns, "named-ip-root")
    task = linux_vm("named-ip", ns, disk, virtual_machine_ip_address_name="named-ip", state="running")
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [{"name": "create", **task}, {"name": "again", **task}, {"name": "again, check", **task, "check_mode": True}],
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert run["create"]["changed"] is True
    assert run["again"]["changed"] is False and run["again, check"]["changed"] is False

    vm = get_vm(cluster, ns, "named-ip")
    assert vm["spec"]["virtualMachineIPAddressName"] == "named-ip"
    assert "virtualMachineIpAddressName" not in vm["spec"]
    address = json.loads(cluster.kubectl("get", "vmip", "named-ip", "-n", ns, "-o", "json").stdout)["status"]
    assert address["virtualMachineName"] == "named-ip"
    assert vm["status"]["ipAddress"] == address["address"] == run["create"]["vm"]["ip"]
    assert in_cidrs(address["address"], guide["cidrs"])
