"""`--check` of a first deployment runs through (references.py): a playbook whose tasks name objects that earlier tasks
create - a namespace, a StorageClass, a Secret and a VirtualMachineIPAddress (kubernetes.core.k8s), a ClusterVirtualImage,
a VirtualMachineClass, VirtualImages and VirtualDisks, a VM and its operations - passes in check mode on an empty cluster,
each task reporting what it would do with a warning naming each reference it could not verify, and nothing is written.
Without check mode, a task naming a missing object still fails, naming the option and the object, before any write."""

import json

import pytest

from ..ansible_runner import run_playbook
from ..simulator_process import Simulator
from .conftest import TOPOLOGIES

NS = "first-deploy"
DVP = "deckhouse.virtualization"
UNVERIFIED = "not verified in check mode"
WARNED = f"{UNVERIFIED} (an earlier task may create it); the task reports what it would do, without the server's dry run"
KINDS = ",".join(("namespaces", "storageclasses", "priorityclasses", "clustervirtualimages", "virtualmachineclasses", "virtualimages", "virtualdisks",
                  "virtualmachines", "virtualmachineoperations", "secrets"))  # fmt: skip


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    """A cluster of its own with nothing deployed: the admin guide's nodes and storage classes only."""
    s = Simulator.start(tmp_path_factory.mktemp("empty"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0


def k8s(kubeconfig, definition):
    return {"kubernetes.core.k8s": {"kubeconfig": str(kubeconfig), "definition": definition}}


def deployment(kubeconfig):
    """The admin guide's flow from nothing: each task names objects that only earlier tasks create."""
    cvi_ref = {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "fd-ubuntu"}}
    http = {"type": "HTTP", "http": {"url": "http://images.example/u.qcow2"}}
    vm_spec = {
        "name": "fd-vm", "namespace": NS, "virtual_machine_class_name": "fd-class", "cpu": {"cores": 2}, "memory": {"size": "2Gi"},
        "block_device_refs": [{"kind": "VirtualDisk", "name": "fd-root"}, {"kind": "VirtualImage", "name": "fd-tools"}],
        "provisioning": {"type": "UserDataRef", "user_data_ref": {"kind": "Secret", "name": "fd-cloud-init"}},
        "virtual_machine_ip_address_name": "fd-ip", "priority_class_name": "fd-priority", "state": "running",
    }  # fmt: skip
    # kubernetes.core.k8s's own check mode is the API server's dry run, which refuses an object in a namespace that does
    # not exist yet: its tasks in the new namespace are left out of check mode, as a playbook has to leave them out.
    unchecked = {"when": "not ansible_check_mode"}
    return [
        {"name": "namespace", **k8s(kubeconfig, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})},
        {"name": "storage class", **k8s(kubeconfig, {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fd-fast"}, "provisioner": "replicated.csi.storage.deckhouse.io"})},
        {"name": "secret", **k8s(kubeconfig, {
            "apiVersion": "v1", "kind": "Secret", "type": "provisioning.virtualization.deckhouse.io/cloud-init",
            "metadata": {"name": "fd-cloud-init", "namespace": NS}, "stringData": {"userData": "#cloud-config\n"}}), **unchecked},
        {"name": "priority class", **k8s(kubeconfig, {
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "fd-priority"}, "value": 1000})},
        {"name": "ip address", **k8s(kubeconfig, {
            "apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineIPAddress", "metadata": {"name": "fd-ip", "namespace": NS},
            "spec": {"type": "Auto"}}), **unchecked},
        {"name": "cvi", f"{DVP}.cluster_virtual_image": {"name": "fd-ubuntu", "data_source": http}},
        {"name": "class", f"{DVP}.vm_class": {"name": "fd-class", "cpu": {"type": "Host"},
                                              "sizing_policies": [{"cores": {"min": 1, "max": 4}, "core_fractions": [10, 20, 50, 100]}]}},
        {"name": "cvi from cvi", f"{DVP}.cluster_virtual_image": {"name": "fd-copy", "data_source": cvi_ref}},
        {"name": "vi", f"{DVP}.virtual_image": {"name": "fd-tools", "namespace": NS, "data_source": cvi_ref}},
        {"name": "vd", f"{DVP}.virtual_disk": {"name": "fd-root", "namespace": NS, "data_source": cvi_ref,
                                               "persistent_volume_claim": {"storage_class_name": "fd-fast"}}},
        {"name": "vd batch", f"{DVP}.virtual_disk": {"namespace": NS, "batch": [
            {"name": "fd-data", "persistent_volume_claim": {"size": "1Gi"}},
            {"name": "fd-from-vi", "data_source": {"type": "ObjectRef", "object_ref": {"kind": "VirtualImage", "name": "fd-tools"}}}]}},
        {"name": "vm", f"{DVP}.vm": vm_spec},
        {"name": "vm restarted", f"{DVP}.vm": {"name": "fd-vm", "namespace": NS, "state": "restarted"}},
        {"name": "vm of the default class", f"{DVP}.vm": {"name": "fd-plain", "namespace": NS, "cpu": {"cores": 1}, "memory": {"size": "1Gi"},
                                                          "block_device_refs": [{"kind": "VirtualDisk", "name": "fd-data"}]}},  # fmt: skip
        {"name": "evict", f"{DVP}.vm_operation": {"namespace": NS, "virtual_machine_name": "fd-vm", "type": "Evict"}},
    ]


def state(sim):
    return sim.kubectl("get", KINDS, "-A", "-o", "name").stdout.split()


def warnings(result):
    return [w for w in result.get("warnings") or [] if UNVERIFIED in w]


def test_check_mode_of_a_first_deployment_runs_through_and_writes_nothing(empty, tmp_path):
    before = state(empty)
    run = run_playbook(tmp_path, empty.kubeconfig, deployment(empty.kubeconfig), ("--check", "--diff"))
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["secret"].get("skipped") and run["ip address"].get("skipped")
    for task in ("namespace", "storage class", "priority class", "cvi", "class", "cvi from cvi", "vi", "vd", "vd batch", "vm", "vm restarted",
                 "vm of the default class", "evict"):  # fmt: skip
        assert run[task]["changed"] is True and not run[task].get("failed"), (task, run[task])
    assert not warnings(run["cvi"]) and not warnings(run["class"]), "nothing they name is missing"

    assert warnings(run["cvi from cvi"]) == [
        f"data_source.object_ref (spec.dataSource.objectRef): ClusterVirtualImage fd-ubuntu does not exist: {WARNED}"
    ]
    assert any("ClusterVirtualImage fd-ubuntu does not exist" in w for w in warnings(run["vi"])), run["vi"].get("warnings")
    vd = warnings(run["vd"])
    assert any("persistent_volume_claim.storage_class_name: StorageClass fd-fast does not exist" in w for w in vd), vd
    assert any("ClusterVirtualImage fd-ubuntu does not exist" in w for w in vd), vd
    assert run["vd"]["diff"]["before"] == {} and run["vd"]["diff"]["after"]["spec"]["dataSource"]["objectRef"]["name"] == "fd-ubuntu"
    assert run["vd"]["resource"]["kind"] == "VirtualDisk" and run["vd"]["image"]["phase"] is None, "the disk as declared, nothing from a server"
    batch = {r["item"]["name"]: r for r in run["vd batch"]["results"]}
    assert all(r["changed"] and not r.get("failed") for r in batch.values()), batch
    assert sorted(warnings(run["vd batch"])) == [
        f"batch[0] ({NS}/fd-data): namespace: Namespace {NS} does not exist: {WARNED}",  # a blank disk: only the dry run tells
        f"batch[1] ({NS}/fd-from-vi): data_source.object_ref (spec.dataSource.objectRef): VirtualImage {NS}/fd-tools does not exist: {WARNED}",
    ], run["vd batch"].get("warnings")
    assert batch["fd-data"]["diff"]["after"]["spec"]["persistentVolumeClaim"]["size"] == "1Gi"

    vm = warnings(run["vm"])
    for missing in ("virtual_machine_class_name: VirtualMachineClass fd-class does not exist", f"block_device_refs[0]: VirtualDisk {NS}/fd-root does not exist",
                    f"block_device_refs[1]: VirtualImage {NS}/fd-tools does not exist", f"provisioning.user_data_ref: Secret {NS}/fd-cloud-init does not exist",
                    f"virtual_machine_ip_address_name: VirtualMachineIPAddress {NS}/fd-ip does not exist",
                    "priority_class_name: PriorityClass fd-priority does not exist"):  # fmt: skip
        assert any(missing in w for w in vm), (missing, vm)
    after = run["vm"]["diff"]["after"]
    assert after["spec"]["virtualMachineClassName"] == "fd-class" and after["spec"]["virtualMachineIPAddressName"] == "fd-ip", after
    assert warnings(run["vm restarted"]) == [f"name/namespace: VirtualMachine {NS}/fd-vm does not exist: {WARNED}"]
    assert "virtual_machine_class_name: not given, and no VirtualMachineClass is marked as the default class: " + WARNED in warnings(
        run["vm of the default class"]), "an earlier task may mark one the default"
    assert warnings(run["evict"]) == [f"virtual_machine_name: VirtualMachine {NS}/fd-vm does not exist: {WARNED}"]
    assert run["evict"]["operation"]["type"] == "Evict" and run["evict"]["operation"]["name"] == "evict-fd-vm-", run["evict"]

    assert state(empty) == before, "check mode wrote nothing"


def test_a_real_run_still_refuses_a_missing_reference_before_writing(empty, tmp_path):
    cvi_ref = {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": "fd-nowhere"}}
    tasks = [
        {"name": "vd", f"{DVP}.virtual_disk": {"name": "real-vd", "namespace": "default", "data_source": cvi_ref}, "ignore_errors": True},
        {"name": "vd class", f"{DVP}.virtual_disk": {"name": "real-vd", "namespace": "default", "persistent_volume_claim": {"size": "1Gi",
                                                     "storage_class_name": "fd-nowhere"}}, "ignore_errors": True},  # fmt: skip
        {"name": "vm", f"{DVP}.vm": {"name": "real-vm", "namespace": "default", "virtual_machine_class_name": "fd-nowhere", "cpu": {"cores": 1},
                                     "memory": {"size": "1Gi"}, "block_device_refs": [{"kind": "VirtualDisk", "name": "fd-nowhere"}]},
         "ignore_errors": True},  # fmt: skip
        {"name": "vm restarted", f"{DVP}.vm": {"name": "real-vm", "namespace": "default", "state": "restarted"}, "ignore_errors": True},
        {"name": "evict", f"{DVP}.vm_operation": {"namespace": "default", "virtual_machine_name": "real-vm", "type": "Evict"}, "ignore_errors": True},
    ]
    before = state(empty)
    run = run_playbook(tmp_path, empty.kubeconfig, tasks)
    assert run.returncode == 0, run.stdout[-4000:]
    expected = {
        "vd": "data_source.object_ref (spec.dataSource.objectRef): ClusterVirtualImage fd-nowhere does not exist",
        "vd class": "persistent_volume_claim.storage_class_name: the StorageClass 'fd-nowhere' does not exist",
        "vm": "virtual_machine_class_name: VirtualMachineClass 'fd-nowhere' does not exist",
        "vm restarted": "name/namespace: VirtualMachine default/real-vm does not exist",
        "evict": "virtual_machine_name: VirtualMachine default/real-vm does not exist",
    }
    for task, message in expected.items():
        result = run[task]
        assert result.get("failed") and result["changed"] is False and message in result["msg"], (task, result)
        assert not warnings(result), (task, result.get("warnings"))
    assert "block_device_refs[0]: VirtualDisk default/fd-nowhere does not exist" in run["vm"]["msg"]
    assert state(empty) == before, "nothing written"


def test_check_mode_verifies_what_exists(empty, tmp_path):
    """References that exist are checked as before in check mode: a real problem with them still fails the task."""
    empty.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "fd-opaque", "namespace": "default"},
        "stringData": {"a": "b"}}))  # fmt: skip
    task = {"name": "plain-vm", "namespace": "default", "virtual_machine_class_name": "fd-nowhere", "cpu": {"cores": 1}, "memory": {"size": "1Gi"},
            "block_device_refs": [{"kind": "VirtualDisk", "name": "fd-nowhere"}],
            "provisioning": {"type": "UserDataRef", "user_data_ref": {"kind": "Secret", "name": "fd-opaque"}}}  # fmt: skip
    run = run_playbook(tmp_path, empty.kubeconfig, [{"name": "vm", f"{DVP}.vm": task, "ignore_errors": True}], ("--check",))
    result = run["vm"]
    assert result.get("failed") and "provisioning.user_data_ref: Secret default/fd-opaque has type 'Opaque'" in result["msg"], result
    assert "fd-nowhere" not in result["msg"], "the missing ones are warnings in check mode"
