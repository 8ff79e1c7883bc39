"""The vm module as a project user who holds only the platform's use role in their namespace (RBAC.md §3, §6): such
a user may not read cluster-scoped VirtualMachineClasses or ClusterVirtualImages, so the module's client-side class
and image checks step aside with a warning and the platform's admission decides; the VM is created and runs."""

from __future__ import annotations

import subprocess
import uuid

from ..ansible_runner import run_playbook
from ..simulator_process import BIN
from . import test_vms
from .test_vms import get, phase, wait

env, images = test_vms.env, test_vms.images  # test_vms' fixtures (over the session's `cluster`, which has nodes)


def test_vm_module_as_project_manager(cluster, env, tmp_path):
    user, ns = "pm-" + uuid.uuid4().hex[:6], "p-" + uuid.uuid4().hex[:6]
    kc = tmp_path / "user.kubeconfig"
    cluster.add_user(user, kc, namespace=ns)
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "rolebinding", "vm-manager", "--clusterrole", "d8:use:role:manager:virtualization", "--user", user, "-n", ns)
    denied = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kc), "get", "vmclass", "generic"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert "forbidden" in denied.stderr, "the premise: this user may not read VM classes"
    klass = "pm-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "priorityclass", klass, "--value=100")  # an admin's class the user may not read either

    vm = {
        "name": "mine",
        "namespace": ns,
        "virtual_machine_class_name": "generic",
        "run_policy": "AlwaysOn",
        "cpu": {"cores": 1},
        "memory": {"size": "1Gi"},
        "block_device_refs": [{"kind": "ClusterVirtualImage", "name": env["iso"]}],
        "priority_class_name": klass,
    }
    missing = dict(vm, name="nope", virtual_machine_class_name="no-such-class")
    tasks = [
        {"name": "vm", "deckhouse.virtualization.vm": dict(vm, state="running", wait_timeout=120)},
        {"name": "again", "deckhouse.virtualization.vm": dict(vm, state="running")},
        {"name": "missing", "ignore_errors": True, "deckhouse.virtualization.vm": dict(missing, wait=False)},
    ]
    run = run_playbook(tmp_path, kc, tasks)
    assert not run["vm"].get("failed"), run["vm"]
    assert run["vm"]["changed"] and run["vm"]["resource"]["status"]["phase"] == "Running"
    warnings = " ".join(run["vm"].get("warnings") or [])
    assert "may not read VirtualMachineClasses" in warnings and "admission" in warnings, warnings
    assert f"priority_class_name: PriorityClass {klass} was not checked before the request: this user may not read PriorityClasses" in warnings, warnings
    assert not run["again"]["changed"], "the re-run changes nothing"
    # the class check the module could not make is made by the platform: a clear refusal, nothing written
    assert run["missing"]["failed"] and "no-such-class" in run["missing"]["msg"], run["missing"]
    assert not get(cluster, "vm", "nope", ns)
    assert phase(wait(lambda: get(cluster, "vm", "mine", ns), lambda o: phase(o) == "Running")) == "Running"
    cluster.kubectl("delete", "vm", "mine", "-n", ns, "--wait=false")
    cluster.kubectl("delete", "priorityclass", klass)


def test_module_config_as_platform_manager(cluster, env, tmp_path):
    """d8:manage:virtualization:manager configures the module, yet may not read kube-system's Secrets: the module says
    which checks it could not make and leaves them to the platform, instead of failing the user."""
    user = "mm-" + uuid.uuid4().hex[:6]
    kc = tmp_path / "manager.kubeconfig"
    cluster.add_user(user, kc)
    cluster.kubectl("create", "clusterrolebinding", user, "--clusterrole", "d8:manage:virtualization:manager", "--user", user)
    secret = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kc), "get", "secret", "-n", "kube-system", "d8-cluster-configuration"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert "forbidden" in secret.stderr, "the premise: this user may not read the cluster configuration"
    current = get(cluster, "mc", "virtualization")["spec"]["settings"]
    cidrs = current["virtualMachineCIDRs"]
    tasks = [
        {"name": "info", "deckhouse.virtualization.module_config_info": {}},
        {"name": "same", "check_mode": True, "deckhouse.virtualization.module_config": {"settings": {"virtual_machine_cidrs": cidrs}}},
    ]
    run = run_playbook(tmp_path, kc, tasks)
    assert not run["info"].get("failed") and run["info"]["pod_subnet"] is None, run["info"]
    assert not run["same"].get("failed"), run["same"]
    warnings = " ".join(run["same"].get("warnings") or [])
    assert "not checked against the pod and service subnets" in warnings, warnings
    assert get(cluster, "mc", "virtualization")["spec"]["settings"]["virtualMachineCIDRs"] == cidrs


def test_an_idempotent_rerun_reads_only_the_object(cluster, env, tmp_path):
    """A re-run that changes nothing reads the declared object alone: a user who may only `get` that VM and that disk
    (no class, image, or list rights) re-runs the tasks cleanly — any other read would be refused with a 403."""
    ns, user = "p-" + uuid.uuid4().hex[:6], "ro-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", ns)
    disk = {"name": "root", "namespace": ns, "data_source": {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": env["disk"]}},
            "persistent_volume_claim": {"size": "1Gi"}}  # fmt: skip
    vm = {
        "name": "steady",
        "namespace": ns,
        "virtual_machine_class_name": "generic",
        "run_policy": "AlwaysOn",
        "cpu": {"cores": 1},
        "memory": {"size": "1Gi"},
        "block_device_refs": [{"kind": "VirtualDisk", "name": "root"}, {"kind": "ClusterVirtualImage", "name": env["iso"]}],
    }
    tasks = [{"name": "disk", "deckhouse.virtualization.virtual_disk": disk}, {"name": "vm", "deckhouse.virtualization.vm": vm}]
    first = run_playbook(tmp_path, cluster.kubeconfig, tasks)
    assert not first["vm"].get("failed") and first["vm"]["changed"], first["vm"]

    kc = tmp_path / "reader.kubeconfig"
    cluster.add_user(user, kc, namespace=ns)
    cluster.kubectl("create", "role", "only-these", "-n", ns, "--verb=get", "--resource=virtualmachines.virtualization.deckhouse.io",
                    "--resource-name=steady")  # fmt: skip
    cluster.kubectl("create", "role", "only-this-disk", "-n", ns, "--verb=get", "--resource=virtualdisks.virtualization.deckhouse.io",
                    "--resource-name=root")  # fmt: skip
    for role in ("only-these", "only-this-disk"):
        cluster.kubectl("create", "rolebinding", role, "-n", ns, "--role", role, "--user", user)
    again = run_playbook(tmp_path, kc, tasks)
    for task in ("disk", "vm"):
        assert not again[task].get("failed") and not again[task]["changed"], again[task]
        assert not again[task].get("warnings"), again[task]["warnings"]
    cluster.kubectl("delete", "vm", "steady", "-n", ns, "--wait=false")
