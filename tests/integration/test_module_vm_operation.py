"""vm_operation through ansible-playbook → HTTPS → the simulator with the admin guide's nodes: the admin guide's Evict
of linux-vm (Running → Migrating → Running on another node), an abort by deletion while the migration runs, the
refusals made before anything is written, explicit idempotence and check mode."""

import json
import uuid

import pytest

from ..ansible_runner import run_playbook
from ..image_sources import FileServer, MiB, qemu_image
from .test_module_vm import CLASS, GUIDE_POLICIES, IMAGE, ensure_cidrs, get_vm, linux_vm, make_disk


@pytest.fixture(scope="module")
def guide(cluster, tmp_path_factory):
    """test_module_vm's set-up (CIDRs, the guide's class, a bootable image, a namespace), reusing the image when an
    earlier module of the session made it (its URL was another test server's)."""
    server = None
    tasks = [
        {
            "name": "class",
            "deckhouse.virtualization.vm_class": {"name": CLASS, "cpu": {"type": "Discovery", "discovery": {}}, "sizing_policies": GUIDE_POLICIES},
        }
    ]
    if cluster.kubectl("get", "cvi", IMAGE, check=False).returncode != 0:
        root = tmp_path_factory.mktemp("vmop-images")
        qemu_image(root / "linux.qcow2", "qcow2", 64 * MiB, b"a bootable disk")
        server = FileServer(root)
        tasks.append(
            {
                "name": "image",
                "deckhouse.virtualization.cluster_virtual_image": {"name": IMAGE, "data_source": {"type": "HTTP", "http": {"url": server.url("linux.qcow2")}}},
            }
        )
    cidrs = ensure_cidrs(cluster)
    namespace = "vm-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", namespace)
    setup = run_playbook(tmp_path_factory.mktemp("vmop-setup"), cluster.kubeconfig, tasks)
    assert setup.returncode == 0, setup.stdout[-4000:]
    yield {"namespace": namespace, "cidrs": cidrs}
    if server is not None:
        server.stop()


OP = "deckhouse.virtualization.vm_operation"


def op(ns, vm, type_, **kw):
    return {OP: {"namespace": ns, "virtual_machine_name": vm, "type": type_, "wait_timeout": 120, **kw}}


def vmops(cluster, ns, vm):
    items = json.loads(cluster.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"]
    return [o for o in items if o["spec"]["virtualMachineName"] == vm]


def test_evict_moves_linux_vm_with_refusals_idempotence_and_check_mode(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "evict-root")
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "vm", **linux_vm("evict-vm", ns, disk, state="running", live_migration_policy="AlwaysSafe")},
            {"name": "evict (check)", **op(ns, "evict-vm", "Evict"), "check_mode": True},
            {"name": "evict", **op(ns, "evict-vm", "Evict"), "register": "evict"},
            {"name": "start a running VM", **op(ns, "evict-vm", "Start"), "ignore_errors": True},
            {"name": "forced evict of AlwaysSafe", **op(ns, "evict-vm", "Evict", force=True), "ignore_errors": True},
            {"name": "start unless done", **op(ns, "evict-vm", "Start", unless_done=True)},
            {"name": "evict unless done", **op(ns, "evict-vm", "Evict", unless_done=True), "ignore_errors": True},
            {"name": "migrate back", **op(ns, "evict-vm", "Migrate", migrate={"node_selector": {"kubernetes.io/hostname": "{{ evict.node_before }}"}},
                                          unless_done=True)},  # fmt: skip
            {"name": "migrate back again", **op(ns, "evict-vm", "Migrate", migrate={"node_selector": {"kubernetes.io/hostname": "{{ evict.node_before }}"}},
                                                unless_done=True)},  # fmt: skip
            {"name": "migrate nowhere", **op(ns, "evict-vm", "Migrate", migrate={"node_selector": {"kubernetes.io/hostname": "master-0"}}),
             "ignore_errors": True},  # fmt: skip
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    before = run["vm"]["vm"]["node"]
    check = run["evict (check)"]
    assert check["changed"] and check["node_before"] == before and check["node_after"] not in (None, before), check
    assert "Evict" in check["would"] and check["preflight"]["target"] == check["node_after"]
    evict = run["evict"]
    assert evict["changed"] and evict["operation"]["phase"] == "Completed" and evict["operation"]["name"].startswith("evict-evict-vm-")
    assert evict["node_before"] == before and evict["node_after"] not in (None, before) and evict["vm_phase_after"] == "Running"
    assert evict["migration_duration"] is not None and evict["migration_duration"] > 0 and evict["migration"]["result"] == "Succeeded"
    assert any(c["type"] == "Completed" and c["status"] == "True" for c in evict["operation"]["conditions"])
    resource = evict["resource"]  # the object itself, as every module returns it, without managedFields
    assert resource["kind"] == "VirtualMachineOperation" and resource["metadata"]["name"] == evict["operation"]["name"]
    assert resource["status"]["phase"] == "Completed" and resource["spec"]["type"] == "Evict" and "managedFields" not in resource["metadata"]
    dry = check["resource"]["spec"]  # the dry run's object: nothing was created (the evict below is the first operation)
    assert check["resource"]["kind"] == "VirtualMachineOperation" and (dry["type"], dry["virtualMachineName"]) == ("Evict", "evict-vm"), check["resource"]
    assert run["start unless done"]["resource"] == {}
    refused = run["start a running VM"]
    assert refused["failed"] and "type: the operation Start is not applicable for a VirtualMachine in the phase Running" in refused["msg"]
    forced = run["forced evict of AlwaysSafe"]
    assert forced["failed"] and forced["msg"].startswith("force: ") and "AlwaysSafe" in forced["msg"]
    assert run["start unless done"]["changed"] is False and "already Running" in run["start unless done"]["skipped_reason"]
    assert run["evict unless done"]["failed"] and "unless_done" in run["evict unless done"]["msg"]
    back = run["migrate back"]
    assert back["changed"] and back["node_after"] == before and back["operation"]["phase"] == "Completed"
    assert run["migrate back again"]["changed"] is False, "unless_done: already on a node matching the selector"
    nowhere = run["migrate nowhere"]
    assert nowhere["failed"] and "no node can take it" in nowhere["msg"] and "evict-vm" in nowhere["msg"], nowhere["msg"]
    types = sorted(o["spec"]["type"] for o in vmops(cluster, ns, "evict-vm"))
    assert types == ["Evict", "Migrate"], "nothing written by the check run, the refusals or the skipped runs"
    assert get_vm(cluster, ns, "evict-vm")["status"]["nodeName"] == before


def test_abort_by_absent_cancels_the_migration(cluster, guide, tmp_path):
    """A big VM (18 cores, 36Gi: about a minute of simulated transfer at 640 MiB/s) so the abort lands mid-way."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "abort-root")
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "vm", **linux_vm("abort-vm", ns, disk, state="running", cpu={"cores": 18, "core_fraction": "100%"}, memory={"size": "36Gi"})},
            {"name": "evict", **op(ns, "abort-vm", "Evict", wait=False), "register": "evict"},
            {"name": "abort", OP: {"namespace": ns, "name": "{{ evict.operation.name }}", "state": "absent", "wait_timeout": 60}},
            {"name": "abort again", OP: {"namespace": ns, "name": "{{ evict.operation.name }}", "state": "absent"}},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    before = run["vm"]["vm"]["node"]
    assert run["evict"]["operation"]["phase"] in (None, "Pending", "InProgress")
    abort = run["abort"]
    assert abort["changed"] and abort["migration_cancelled"] is True, abort
    [entry] = abort["aborted"]
    assert entry["was_unfinished"] and entry["node_before"] == before and entry["node_after"] == before
    assert run["abort again"]["changed"] is False and run["abort again"]["aborted"] == []
    vm = get_vm(cluster, ns, "abort-vm")
    assert vm["status"]["phase"] == "Running" and vm["status"]["nodeName"] == before
    assert vmops(cluster, ns, "abort-vm") == []
    cluster.kubectl("delete", "vm", "-n", ns, "abort-vm", "--wait=false")


def test_a_forbidden_operation_names_the_attempt_and_quotes_the_server(cluster, guide, tmp_path):
    """A user who may read and watch VMs and operations but not create operations: the 403 of a create with
    generateName names no object, so the message names the attempt (verb, kind, type, the VM, the namespace, the name
    prefix) and quotes the server's Status message; vm's power states create operations the same way."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "rbac-root")
    setup = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "vm", **linux_vm("rbac-vm", ns, disk, state="running")}])
    assert setup.returncode == 0, setup.stdout[-4000:]
    user = "watcher-" + uuid.uuid4().hex[:6]
    kc = tmp_path / "watcher.kubeconfig"
    cluster.add_user(user, kc, namespace=ns)
    cluster.kubectl("create", "role", "watch-vms", "-n", ns, "--verb=get,list,watch",
                    "--resource=virtualmachines.virtualization.deckhouse.io", "--resource=virtualmachineoperations.virtualization.deckhouse.io")  # fmt: skip
    cluster.kubectl("create", "rolebinding", "watch-vms", "-n", ns, "--role", "watch-vms", "--user", user)
    run = run_playbook(
        tmp_path,
        kc,
        [
            {"name": "stop", **op(ns, "rbac-vm", "Stop"), "ignore_errors": True},
            {"name": "stop as vm", "deckhouse.virtualization.vm": {"name": "rbac-vm", "namespace": ns, "state": "stopped", "wait_timeout": 60},
             "ignore_errors": True},  # fmt: skip
        ],
    )
    for task, prefix in (("stop", "stop-rbac-vm-"), ("stop as vm", "rbac-vm-")):
        result = run[task]
        msg = result.get("msg", "")
        assert result.get("failed") and result["changed"] is False, result
        assert msg.startswith(
            f"create VirtualMachineOperation Stop of VirtualMachine {ns}/rbac-vm in namespace {ns} (name generated from '{prefix}'): Forbidden (403): "
            "permission denied: "
        ), msg
        assert f'User "{user}" cannot create resource "virtualmachineoperations"' in msg and f"{ns}/:" not in msg, msg
    assert vmops(cluster, ns, "rbac-vm") == [] and get_vm(cluster, ns, "rbac-vm")["status"]["phase"] == "Running", "nothing written"
    cluster.kubectl("delete", "vm", "-n", ns, "rbac-vm", "--wait=false")


def test_a_project_user_evicts_without_reading_nodes(cluster, guide, tmp_path):
    """d8:use:role:user may create VirtualMachineOperations in its project (RBAC.md) but not read the cluster's Nodes:
    the Evict is made, the node preflight left out with a warning instead of failing the task on a 403."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "user-evict-root")
    setup = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "vm", **linux_vm("user-evict-vm", ns, disk, state="running")}])
    assert setup.returncode == 0, setup.stdout[-4000:]
    before = get_vm(cluster, ns, "user-evict-vm")["status"]["nodeName"]
    user = "project-user-" + uuid.uuid4().hex[:6]
    kc = tmp_path / "user.kubeconfig"
    cluster.add_user(user, kc, namespace=ns)
    cluster.kubectl("create", "rolebinding", f"{user}-use", "-n", ns, "--clusterrole", "d8:use:role:user:virtualization", "--user", user)
    assert cluster.kubectl("auth", "can-i", "list", "nodes", "--as", user, check=False).stdout.strip() == "no"
    run = run_playbook(tmp_path, kc, [{"name": "evict", **op(ns, "user-evict-vm", "Evict")}])
    assert run.returncode == 0, run.stdout[-4000:]
    evict = run["evict"]
    assert evict["changed"] and evict["operation"]["phase"] == "Completed" and evict["preflight"] is None, evict
    assert any("may not read the cluster's Nodes" in w for w in evict.get("warnings", [])), evict.get("warnings")
    assert evict["node_after"] not in (None, before)
    cluster.kubectl("delete", "vm", "-n", ns, "user-evict-vm", "--wait=false")


def test_an_image_of_a_disk_a_running_vm_mounts_is_refused_before_the_wait(cluster, guide, tmp_path):
    """The platform keeps such an image Pending (DatasourceReady=False, VirtualDiskAttachedToVirtualMachine) until the
    VM stops: with wait the task could only time out, so it refuses before writing, naming the VM; without wait the
    image is created and a warning says why it waits."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "mounted-root")
    setup = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "vm", **linux_vm("mounted-vm", ns, disk, state="running")}])
    assert setup.returncode == 0, setup.stdout[-4000:]
    source = {"type": "ObjectRef", "object_ref": {"kind": "VirtualDisk", "name": disk, "namespace": ns}}
    name = "of-mounted-" + uuid.uuid4().hex[:6]
    cvi = "deckhouse.virtualization.cluster_virtual_image"
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "waits", cvi: {"name": name, "data_source": source, "wait_timeout": 60}, "ignore_errors": True},
            {"name": "no wait", cvi: {"name": name, "data_source": source, "wait": False}},
        ],
    )
    refused, created = run["waits"], run["no wait"]
    assert refused["failed"] and refused["changed"] is False, refused
    assert f"VirtualDisk {ns}/{disk} is mounted by the running virtual machine {ns}/mounted-vm" in refused["msg"], refused["msg"]
    assert "VirtualDiskAttachedToVirtualMachine" in refused["msg"] and "Stop the VM first" in refused["msg"]
    assert created["changed"] and any("mounted-vm" in w and "wait=false" in w for w in created.get("warnings", [])), created
    cluster.kubectl("delete", "cvi", name, "--wait=false")
    cluster.kubectl("delete", "vm", "-n", ns, "mounted-vm", "--wait=false")
