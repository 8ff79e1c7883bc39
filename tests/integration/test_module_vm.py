"""vm and vm_info through ansible-playbook → HTTPS → simulator with the admin guide's nodes: the admin guide's
linux-vm from a ClusterVirtualImage served by a local HTTP server and a VirtualDisk made from it."""

import ipaddress
import json
import time
import uuid

import pytest

from ..ansible_runner import run_playbook
from ..image_sources import FileServer, MiB, iso_image, qemu_image

CIDR = "10.66.10.0/24"  # the admin guide's addresses (linux-vm gets 10.66.10.14 there)
DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}  # without it the module's hook ignores the settings
GUIDE_POLICIES = [
    {"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi", "step": "512Mi"}, "core_fractions": [5, 10, 20, 50, 100]},
    {"cores": {"min": 5, "max": 8}, "memory": {"min": "5Gi", "max": "16Gi", "step": "1Gi"}, "core_fractions": [20, 50, 100]},
    {"cores": {"min": 9, "max": 16}, "memory": {"min": "9Gi", "max": "32Gi", "step": "1Gi"}, "core_fractions": [50, 100]},
    {"cores": {"min": 17, "max": 248}, "memory": {"per_core": {"min": "1Gi", "max": "2Gi"}}, "core_fractions": [100]},
]
CLASS = "vm-guide"
IMAGE = "vm-guide-linux"
ISO = "vm-guide-iso"


def vm(name, namespace, **kw):
    return {"deckhouse.virtualization.vm": {"name": name, "namespace": namespace, "wait_timeout": 90, **kw}}


def linux_vm(name, namespace, disk, **kw):
    """The admin guide's linux-vm: 1 core at 10%, 1Gi, the root disk, cloud-init user data."""
    spec = {
        "virtual_machine_class_name": CLASS,
        "cpu": {"cores": 1, "core_fraction": "10%"},
        "memory": {"size": "1Gi"},
        "block_device_refs": [{"kind": "VirtualDisk", "name": disk}],
        "provisioning": {"type": "UserData", "user_data": "#cloud-config\nssh_pwauth: true\n"},
        **kw,
    }
    return vm(name, namespace, **spec)


def get_vm(sim, namespace, name):
    out = sim.kubectl("get", "vm", "-n", namespace, name, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def configured_cidrs(sim):
    out = sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json", check=False)
    if out.returncode != 0:
        return None, []
    mc = json.loads(out.stdout)
    return mc, ((mc.get("spec") or {}).get("settings") or {}).get("virtualMachineCIDRs") or []


def ensure_cidrs(sim):
    """The VM network of the admin guide in ModuleConfig virtualization (kept when another test configured one)."""
    mc, cidrs = configured_cidrs(sim)
    if cidrs:
        return cidrs
    if mc is None:
        sim.kubectl(
            "create", "-f", "-",
            input=json.dumps({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
                              "spec": {"enabled": True, "version": 1, "settings": {"dvcr": DVCR, "virtualMachineCIDRs": [CIDR]}}}),
        )  # fmt: skip
    else:
        sim.kubectl("patch", "moduleconfig", "virtualization", "--type", "merge", "-p", json.dumps({"spec": {"settings": {"virtualMachineCIDRs": [CIDR]}}}))
    return configured_cidrs(sim)[1]


def make_disk(sim, namespace, name):
    """A VirtualDisk from the guide's image (kubectl: the virtual_disk module is another helper's)."""
    body = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "VirtualDisk",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"dataSource": {"type": "ObjectRef", "objectRef": {"kind": "ClusterVirtualImage", "name": IMAGE}}},
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(body))
    return name


@pytest.fixture(scope="module")
def guide(cluster, tmp_path_factory):
    """CIDRs, a class with the guide's sizing policies, a bootable image and an ISO from the HTTP server, a namespace."""
    root = tmp_path_factory.mktemp("vm-images")
    qemu_image(root / "linux.qcow2", "qcow2", 64 * MiB, b"a bootable disk")
    iso_image(root / "install.iso")
    server = FileServer(root)
    cidrs = ensure_cidrs(cluster)
    namespace = "vm-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", namespace)
    # The cluster is shared by the session: an image another module made (from its own, now stopped, file server) is
    # reused as it is — asking for it from this server's URL would be a spec change the platform refuses once Ready.
    tasks = [
        {
            "name": "class",
            "deckhouse.virtualization.vm_class": {"name": CLASS, "cpu": {"type": "Discovery", "discovery": {}}, "sizing_policies": GUIDE_POLICIES},
        }
    ]
    for task, name, file in (("image", IMAGE, "linux.qcow2"), ("iso", ISO, "install.iso")):
        if cluster.kubectl("get", "cvi", name, check=False).returncode != 0:
            tasks.append(
                {
                    "name": task,
                    "deckhouse.virtualization.cluster_virtual_image": {"name": name, "data_source": {"type": "HTTP", "http": {"url": server.url(file)}}},
                }
            )
    setup = run_playbook(tmp_path_factory.mktemp("vm-setup"), cluster.kubeconfig, tasks)
    assert setup.returncode == 0, setup.stdout[-4000:]
    cdrom = {name: json.loads(cluster.kubectl("get", "cvi", name, "-o", "json").stdout)["status"]["cdrom"] for name in (IMAGE, ISO)}
    assert cdrom == {IMAGE: False, ISO: True}
    yield {"namespace": namespace, "cidrs": cidrs}
    server.stop()


def in_cidrs(ip, cidrs):
    address = ipaddress.ip_address(ip)
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        if address in net and address not in (net.network_address, net.broadcast_address):
            return True
    return False


def test_linux_vm_runs_idempotent_with_check_mode_and_diff(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "linux-vm-root")
    task = linux_vm("linux-vm", ns, disk, state="running")
    bigger = linux_vm("linux-vm", ns, disk, memory={"size": "2048Mi"})
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "check", **task, "check_mode": True},
            {"name": "create", **task},
            {"name": "again", **task},
            {"name": "again as present", **linux_vm("linux-vm", ns, disk)},
            {"name": "same memory in Mi", **linux_vm("linux-vm", ns, disk, memory={"size": "1024Mi"})},
            {"name": "grow (check, diff)", **bigger, "check_mode": True, "diff": True},
            {"name": "info", "deckhouse.virtualization.vm_info": {"name": "linux-vm", "namespace": ns, "wait": True}},
            {"name": "info by label", "deckhouse.virtualization.vm_info": {"namespace": ns, "label_selectors": ["guide=linux"]}},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["check"]["changed"] and run["check"]["vm"]["phase"] is None
    created = run["create"]
    assert created["changed"] and created["vm"]["phase"] == "Running"
    assert created["vm"]["node"] in ("blue-0", "blue-1", "green-0", "green-1", "master-0")
    assert in_cidrs(created["vm"]["ip"], guide["cidrs"]), created["vm"]
    assert created["vm"]["core_fraction"] == "10%" and created["vm"]["virtual_machine_class_name"] == CLASS
    assert created["resource"]["spec"]["runPolicy"] == "AlwaysOnUnlessStoppedManually", "the CRD default"
    for name in ("again", "again as present", "same memory in Mi"):
        assert run[name]["changed"] is False, (name, run[name].get("diff"), run[name].get("msg"))
        assert run[name]["vm"]["ip"] == created["vm"]["ip"] and run[name]["operations"] == []
    grow = run["grow (check, diff)"]
    assert grow["changed"]
    assert grow["diff"]["before"]["spec"]["memory"]["size"] in ("1Gi", "1024Mi") and grow["diff"]["after"]["spec"]["memory"]["size"] in ("2Gi", "2048Mi")
    assert get_vm(cluster, ns, "linux-vm")["spec"]["memory"]["size"] in ("1Gi", "1024Mi"), "check mode changes nothing"
    info = run["info"]["summaries"][0]
    assert info["phase"] == "Running" and info["ip"] == created["vm"]["ip"] and info["node"] == created["vm"]["node"]
    assert info["cores"] == 1 and info["memory"] in ("1Gi", "1024Mi") and info["namespace"] == ns
    assert run["info by label"]["resources"] == []
    table = cluster.kubectl("get", "vm", "-n", ns, "linux-vm").stdout
    assert "Running" in table and created["vm"]["ip"] in table and created["vm"]["node"] in table


def test_power_states_through_operations(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "power-root")
    base = {"labels": {"guide": "linux"}}
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "create", **linux_vm("power", ns, disk, state="running", **base)},
            {"name": "stop (check)", **vm("power", ns, state="stopped"), "check_mode": True, "diff": True},
            {"name": "stop", **vm("power", ns, state="stopped")},
            {"name": "stop again", **vm("power", ns, state="stopped")},
            {"name": "start", **vm("power", ns, state="running")},
            {"name": "start again", **vm("power", ns, state="running")},
            {"name": "restart", **vm("power", ns, state="restarted", force=True)},
            {"name": "info", "deckhouse.virtualization.vm_info": {"namespace": ns, "label_selectors": ["guide=linux"]}},
            {"name": "stop AlwaysOn", **linux_vm("power", ns, disk, run_policy="AlwaysOn", state="stopped", **base), "ignore_errors": True},
            {"name": "run AlwaysOff", **vm("power", ns, state="running", run_policy="AlwaysOff"), "ignore_errors": True},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["create"]["vm"]["phase"] == "Running"
    check = run["stop (check)"]
    assert check["changed"] and check["operations"][0]["type"] == "Stop"
    assert check["diff"]["before"]["status"]["phase"] == "Running" and check["diff"]["after"]["status"]["phase"] == "Stopped"
    assert run["stop"]["changed"] and run["stop"]["vm"]["phase"] == "Stopped" and run["stop"]["vm"]["node"] is None
    assert [op["type"] for op in run["stop"]["operations"]] == ["Stop"] and run["stop"]["operations"][0]["phase"] == "Completed"
    assert run["stop"]["operations"][0]["name"].startswith("power-")
    assert run["stop again"]["changed"] is False and run["stop again"]["operations"] == []
    assert run["start"]["changed"] and run["start"]["vm"]["phase"] == "Running" and run["start"]["vm"]["ip"]
    assert [op["type"] for op in run["start"]["operations"]] == ["Start"]
    assert run["start again"]["changed"] is False
    assert run["restart"]["changed"] and [op["type"] for op in run["restart"]["operations"]] == ["Restart"]
    assert run["restart"]["vm"]["phase"] == "Running" and run["restart"]["vm"]["ip"] == run["start"]["vm"]["ip"]
    assert [s["name"] for s in run["info"]["summaries"]] == ["power"]
    refused = run["stop AlwaysOn"]
    assert refused["failed"] and "state=stopped" in refused["msg"] and "AlwaysOn" in refused["msg"] and "not applicable" in refused["msg"]
    assert run["run AlwaysOff"]["failed"] and "AlwaysOff" in run["run AlwaysOff"]["msg"]
    stored = get_vm(cluster, ns, "power")
    assert stored["spec"]["runPolicy"] == "AlwaysOnUnlessStoppedManually" and stored["status"]["phase"] == "Running", "nothing written"
    ops = json.loads(cluster.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"]
    assert sorted(op["spec"]["type"] for op in ops if op["spec"]["virtualMachineName"] == "power") == ["Restart", "Start", "Stop"], (
        "check mode sent no operation"
    )


def test_spec_change_awaits_restart_then_is_applied(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "grow-root")
    two = linux_vm("grow", ns, disk, cpu={"cores": 2, "core_fraction": 10}, memory={"size": "2Gi"})
    apply = linux_vm("grow", ns, disk, cpu={"cores": 2, "core_fraction": 10}, memory={"size": "2Gi"}, apply_pending_changes="restart")
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "create", **linux_vm("grow", ns, disk)},
            {"name": "apply (check)", **apply, "check_mode": True},
            {"name": "grow (check)", **two, "check_mode": True},
            {"name": "grow", **two},
            {"name": "apply", **apply},
            {"name": "again", **apply},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["create"]["vm"]["phase"] == "Running"
    predicted = run["apply (check)"]
    assert predicted["changed"] and [op["type"] for op in predicted["operations"]] == ["Restart"], "check mode names the restart it would make"
    assert any("would run with its previous configuration" in w and "cpu.cores" in w for w in run["grow (check)"].get("warnings", []))
    assert run["grow (check)"]["operations"] == []
    grow = run["grow"]
    assert grow["changed"] and grow["operations"] == [] and grow["vm"]["phase"] == "Running"
    paths = {c["path"] for c in grow["vm"]["restart_awaiting_changes"]}
    assert "cpu.cores" in paths, grow["vm"]["restart_awaiting_changes"]
    assert any("until it is restarted" in w for w in grow.get("warnings", [])), grow.get("warnings")
    applied = run["apply"]
    assert applied["changed"] and [op["type"] for op in applied["operations"]] == ["Restart"]
    assert applied["vm"]["restart_awaiting_changes"] == [] and applied["vm"]["phase"] == "Running"
    assert applied["resource"]["status"]["resources"]["cpu"]["cores"] == 2
    assert run["again"]["changed"] is False and run["again"]["operations"] == []


def test_options_left_out_of_an_update_are_removed_and_said_so(cluster, guide, tmp_path):
    """The apply is declarative: what an earlier task set and this one leaves out is removed. The task warns which
    options it removes, and a class left out is checked as on a create (the platform would default it or refuse)."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "drop-root")
    full = linux_vm("drop", ns, disk)
    no_user_data = {k: val for k, val in full["deckhouse.virtualization.vm"].items() if k != "provisioning"}
    no_class = {k: val for k, val in full["deckhouse.virtualization.vm"].items() if k != "virtual_machine_class_name"}
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "create", **full},
            {"name": "no class", "deckhouse.virtualization.vm": no_class, "ignore_errors": True},
            {"name": "no provisioning (check)", "deckhouse.virtualization.vm": no_user_data, "check_mode": True},
            {"name": "no provisioning", "deckhouse.virtualization.vm": no_user_data},
        ],
    )
    assert run["create"]["changed"], run.stdout[-4000:]
    classes = json.loads(cluster.kubectl("get", "vmclass", "-o", "json").stdout)["items"]
    default = [c for c in classes if (c["metadata"].get("annotations") or {}).get("virtualmachineclass.virtualization.deckhouse.io/is-default-class") == "true"]
    if not default:
        refused = run["no class"]
        assert refused["failed"] and refused["changed"] is False, refused
        assert f"the VM's class '{CLASS}', set by an earlier task, is removed when the task leaves it out" in refused["msg"], refused["msg"]
    else:  # another test left a default class: the platform defaults the class to it, and the task says it removed ours
        defaulted = run["no class"]
        assert defaulted["changed"] and defaulted["resource"]["spec"]["virtualMachineClassName"] == default[0]["metadata"]["name"], defaulted
        assert any(": removes virtual_machine_class_name, which an earlier task set" in w for w in defaulted.get("warnings", [])), defaulted
    check, done = run["no provisioning (check)"], run["no provisioning"]
    assert any("would remove provisioning" in w and "give an option again to keep it" in w for w in check.get("warnings", [])), check
    assert done["changed"] and any("removes provisioning" in w for w in done.get("warnings", [])), done
    assert "provisioning" not in get_vm(cluster, ns, "drop")["spec"]
    cluster.kubectl("delete", "vm", "-n", ns, "drop", "--wait=false")


def test_bad_inputs_each_named_and_nothing_written(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "bad-root")
    cases = {
        "0 cores": linux_vm("bad-zero", ns, disk, cpu={"cores": 0}),
        "17 cores": linux_vm("bad-odd", ns, disk, cpu={"cores": 17}, memory={"size": "17Gi"}),
        "core fraction": linux_vm("bad-fraction", ns, disk, cpu={"cores": 1, "core_fraction": 15}),
        "memory step": linux_vm("bad-memory", ns, disk, memory={"size": "1300Mi"}),
        "missing disk": linux_vm("bad-disk", ns, "no-such-disk"),
        "missing image": linux_vm(
            "bad-image", ns, disk, block_device_refs=[{"kind": "VirtualDisk", "name": disk}, {"kind": "ClusterVirtualImage", "name": "no-such-image"}]
        ),
        "unknown class": linux_vm("bad-class", ns, disk, virtual_machine_class_name="no-such-class"),
        "duplicate device": linux_vm("bad-dup", ns, disk, block_device_refs=[{"kind": "VirtualDisk", "name": disk}] * 2),
        "image first": linux_vm("bad-first", ns, disk, block_device_refs=[{"kind": "ClusterVirtualImage", "name": IMAGE}]),
        "user data type": linux_vm("bad-prov", ns, disk, provisioning={"type": "UserDataRef", "user_data": "#cloud-config\n"}),
    }
    as_module = {"unknown class": {"environment": {"DVP_AS_MODULE": "1"}}}  # in a module process, not in-process
    run = run_playbook(tmp_path, cluster.kubeconfig, [{"name": name, **task, **as_module.get(name, {}), "ignore_errors": True} for name, task in cases.items()])
    msgs = {name: run[name].get("msg", "") for name in cases}
    assert all(run[name].get("failed") for name in cases), msgs
    assert "cpu.cores" in msgs["0 cores"] and "at least 1" in msgs["0 cores"]
    assert "cpu.cores" in msgs["17 cores"] and "must be a multiple of 2" in msgs["17 cores"]
    fraction = msgs["core fraction"]
    assert 'does not match the sizing policy of VirtualMachineClass "vm-guide"' in fraction and '"15%" is not allowed' in fraction
    assert "5%, 10%, 20%, 50%, 100%" in fraction and "cores 1-4" in fraction, fraction
    memory = msgs["memory step"]
    assert "memory size (1300Mi) does not match the sizing policy step" in memory and "1Gi or 1536Mi" in memory and "step 512Mi" in memory, memory
    assert f"block_device_refs[0]: VirtualDisk {ns}/no-such-disk does not exist" in msgs["missing disk"]
    assert "block_device_refs[1]: ClusterVirtualImage no-such-image does not exist" in msgs["missing image"]
    assert "virtual_machine_class_name: VirtualMachineClass 'no-such-class' does not exist" in msgs["unknown class"]
    assert "block_device_refs" in msgs["duplicate device"] and "listed more than once" in msgs["duplicate device"]
    assert "block_device_refs[0]" in msgs["image first"] and "not an ISO image" in msgs["image first"]
    assert "provisioning.user_data_ref: required with provisioning.type=UserDataRef" in msgs["user data type"]
    assert "provisioning.user_data: not allowed with provisioning.type=UserDataRef" in msgs["user data type"]
    written = cluster.kubectl("get", "vm", "-n", ns, "-o", "name").stdout
    assert "bad-" not in written, written


def test_iso_first_is_accepted_and_absent_deletes(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "installer-root")
    task = linux_vm(
        "installer", ns, disk, run_policy="Manual",
        block_device_refs=[{"kind": "ClusterVirtualImage", "name": ISO}, {"kind": "VirtualDisk", "name": disk}],
    )  # fmt: skip
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "create", **task},
            {"name": "absent (check)", **vm("installer", ns, state="absent"), "check_mode": True},
            {"name": "absent", **vm("installer", ns, state="absent")},
            {"name": "absent again", **vm("installer", ns, state="absent")},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["create"]["changed"] and run["create"]["vm"]["phase"] == "Stopped", "Manual: created stopped"
    assert run["absent (check)"]["changed"]
    assert run["absent"]["changed"] and get_vm(cluster, ns, "installer") is None
    assert run["absent again"]["changed"] is False


def vmops_of(sim, namespace, name):
    items = json.loads(sim.kubectl("get", "vmop", "-n", namespace, "-o", "json").stdout)["items"]
    return sorted(op["spec"]["type"] for op in items if op["spec"]["virtualMachineName"] == name)


def test_a_power_state_of_a_vm_that_does_not_exist_says_so(cluster, guide, tmp_path):
    ns = guide["namespace"]
    cases = {
        "running": vm("ghost", ns, state="running"),
        "stopped": vm("ghost", ns, state="stopped"),
        "restarted": vm("ghost", ns, state="restarted"),
        "present": vm("ghost", ns),
        "running with cpu only": vm("ghost", ns, state="running", cpu={"cores": 1}),
    }
    run = run_playbook(tmp_path, cluster.kubeconfig, [{"name": name, **task, "ignore_errors": True} for name, task in cases.items()])
    msgs = {name: run[name].get("msg", "") for name in cases}
    assert all(run[name].get("failed") and run[name]["changed"] is False for name in cases), msgs
    for name in cases:
        assert msgs[name].startswith(f"name/namespace: VirtualMachine {ns}/ghost does not exist"), msgs[name]
    for state in ("running", "stopped", "restarted"):
        assert f"state={state} without spec options only changes the power state of an existing VirtualMachine" in msgs[state], msgs[state]
        assert "To create it, give cpu, memory, block_device_refs (spec.cpu, spec.memory, spec.blockDeviceRefs;" in msgs[state], msgs[state]
    assert "power state" not in msgs["present"] and "give cpu, memory, block_device_refs" in msgs["present"]
    partial = msgs["running with cpu only"]
    assert "To create it, give memory, block_device_refs (spec.memory, spec.blockDeviceRefs;" in partial and "power state" not in partial, partial
    assert get_vm(cluster, ns, "ghost") is None and vmops_of(cluster, ns, "ghost") == [], "nothing written"


def test_cores_outside_every_sizing_policy_are_named_before_the_core_fraction(cluster, guide, tmp_path):
    """A class whose only policy covers 1-4 cores and allows no 100%: 8 cores without a core fraction are refused for the
    cores (not for the core fraction the task did not set); 2 cores without one for the core fraction the class cannot default."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "narrow-root")
    narrow = [{"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi"}, "core_fractions": [5, 10, 20]}]
    cls = {"virtual_machine_class_name": "vm-narrow"}
    cases = {
        "8 cores": linux_vm("narrow-8", ns, disk, cpu={"cores": 8}, memory={"size": "8Gi"}, **cls),
        "8 cores at 10%": linux_vm("narrow-8f", ns, disk, cpu={"cores": 8, "core_fraction": 10}, memory={"size": "8Gi"}, **cls),
        "2 cores": linux_vm("narrow-2", ns, disk, cpu={"cores": 2}, memory={"size": "2Gi"}, **cls),
    }
    narrow_class = {"name": "vm-narrow", "cpu": {"type": "Discovery", "discovery": {}}, "sizing_policies": narrow}
    tasks = [{"name": "class", "deckhouse.virtualization.vm_class": narrow_class}]
    run = run_playbook(tmp_path, cluster.kubeconfig, tasks + [{"name": name, **task, "ignore_errors": True} for name, task in cases.items()])
    assert not run["class"].get("failed"), run["class"]
    msgs = {name: run[name].get("msg", "") for name in cases}
    assert all(run[name].get("failed") for name in cases), msgs
    for name in ("8 cores", "8 cores at 10%"):
        cores = msgs[name]
        assert cores.startswith('cpu.cores: the VirtualMachine does not match any sizing policy of VirtualMachineClass "vm-narrow"'), cores
        assert "its 8 CPU core(s) fall outside the allowed ranges (1-4)" in cores and "spec.cpu.cores" in cores and "cores 1-4" in cores, cores
        assert "core fraction" not in cores and "core_fraction" not in cores, cores
    fraction = msgs["2 cores"]
    assert fraction.startswith("cpu.core_fraction: unable to set the default core fraction"), fraction
    assert "defines no defaultCoreFraction and does not allow 100%" in fraction, fraction
    written = cluster.kubectl("get", "vm", "-n", ns, "-o", "name").stdout
    assert "narrow-" not in written, written


def disk_mounted_by(sim, namespace, disk, vm_name, timeout=30.0):
    """The disk once its status.attachedToVirtualMachines shows `vm_name` mounted (the disk controller follows the VM)."""
    end = time.monotonic() + timeout
    while True:
        obj = json.loads(sim.kubectl("get", "vd", "-n", namespace, disk, "-o", "json").stdout)
        attached = (obj.get("status") or {}).get("attachedToVirtualMachines") or []
        if {"name": vm_name, "mounted": True} in attached:
            return obj
        assert time.monotonic() < end, f"VirtualDisk {namespace}/{disk} never showed {vm_name} mounted: {attached}"
        time.sleep(0.2)


def test_a_disk_another_running_vm_holds_is_refused_unless_this_vm_stays_stopped(cluster, guide, tmp_path):
    """BEHAVIOUR.md §4.8: a VM starts only when each of its disks is free or attached to it; no webhook refuses the
    reference (a stopped VM may list the disk). The module refuses, before writing, a task that would leave a VM
    waiting in Pending for a disk another VM holds, and allows it once the holder is stopped."""
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "shared-root")
    first = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "holder", **linux_vm("holder", ns, disk, state="running")},
            {"name": "taker runs", **linux_vm("taker", ns, disk, state="running"), "ignore_errors": True},
            {"name": "taker present", **linux_vm("taker", ns, disk), "ignore_errors": True},
            {"name": "taker as Manual", **linux_vm("taker", ns, disk, run_policy="Manual")},
            {"name": "taker starts", **vm("taker", ns, state="running"), "ignore_errors": True},
            {
                "name": "taker Start operation",
                "deckhouse.virtualization.vm_operation": {"namespace": ns, "virtual_machine_name": "taker", "type": "Start"},
                "ignore_errors": True,
            },
        ],
    )
    assert first["holder"]["vm"]["phase"] == "Running", first["holder"]
    for name in ("taker runs", "taker present"):
        refused = first[name]
        assert refused.get("failed") and refused["changed"] is False, refused
        assert refused["msg"].startswith(
            f"block_device_refs[0] (spec.blockDeviceRefs[0]): VirtualDisk {ns}/{disk} is in use by VirtualMachine {ns}/holder (phase Running"
        ), refused["msg"]
        assert "BlockDevicesReady=False" in refused["msg"] and "Stop holder" in refused["msg"], refused["msg"]
    assert first["taker as Manual"]["changed"] and first["taker as Manual"]["vm"]["phase"] == "Stopped", "a stopped VM may list the disk"
    start = first["taker starts"]
    assert start.get("failed") and f"VirtualDisk {ns}/{disk} is in use by VirtualMachine {ns}/holder" in start["msg"], start
    operation = first["taker Start operation"]
    assert operation.get("failed") and operation["changed"] is False, operation
    assert operation["msg"].startswith(f"type: Start of VirtualMachine {ns}/taker: block_device_refs[0] (spec.blockDeviceRefs[0]): VirtualDisk {ns}/{disk} "
                                       f"is in use by VirtualMachine {ns}/holder (phase Running"), operation["msg"]  # fmt: skip
    assert "keep this VM stopped" not in operation["msg"], operation["msg"]
    assert vmops_of(cluster, ns, "taker") == [], "no Start sent"

    second = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [{"name": "stop holder", **vm("holder", ns, state="stopped")}, {"name": "taker starts", **vm("taker", ns, state="running")}],
    )
    assert second.returncode == 0, second.stdout[-6000:]
    assert second["taker starts"]["vm"]["phase"] == "Running", "the holder stopped: the disk is free"
    disk_mounted_by(cluster, ns, disk, "taker")
    third = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "holder starts", **vm("holder", ns, state="running"), "ignore_errors": True}])
    back = third["holder starts"]
    assert back.get("failed") and f"VirtualDisk {ns}/{disk} is in use by VirtualMachine {ns}/taker (phase Running" in back["msg"], back
    assert get_vm(cluster, ns, "holder")["status"]["phase"] == "Stopped" and vmops_of(cluster, ns, "holder") == ["Stop"], "no Start sent"
    assert vmops_of(cluster, ns, "taker") == ["Start"]


def test_a_missing_disk_is_refused_with_wait_and_awaited_without(cluster, guide, tmp_path):
    """The platform accepts a VM whose disk does not exist yet and keeps it Pending (BlockDevicesReady=False, §4.8)
    until the disk appears. With wait (the default) the module refuses it before writing - the wait could only time
    out; with wait=false it creates the VM and warns, so a playbook may create the disk after the VM."""
    ns = guide["namespace"]
    first = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "waits", **linux_vm("early", ns, "later-root"), "ignore_errors": True},
            {"name": "does not wait", **linux_vm("early", ns, "later-root", wait=False)},
        ],
    )
    refused = first["waits"]
    assert refused.get("failed") and refused["changed"] is False, refused
    assert refused["msg"].startswith(f"block_device_refs[0]: VirtualDisk {ns}/later-root does not exist; create it first, or set wait=false"), refused["msg"]
    created = first["does not wait"]
    assert created["changed"] and not created.get("failed"), created
    warned = f"VirtualDisk {ns}/later-root does not exist: the VirtualMachine is created and waits in Pending"
    assert any(warned in w for w in created.get("warnings", [])), created
    assert get_vm(cluster, ns, "early")["status"]["phase"] == "Pending"
    make_disk(cluster, ns, "later-root")
    second = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "runs", **linux_vm("early", ns, "later-root")}])
    assert second.returncode == 0, second.stdout[-4000:]
    assert second["runs"]["changed"] is False and second["runs"]["vm"]["phase"] == "Running", second["runs"]


def test_a_missing_priority_class_is_refused_with_wait_and_an_admins_class_reaches_the_pod(cluster, guide, tmp_path):
    """A VM naming a PriorityClass that does not exist would stay Pending (the Priority plugin refuses its pod): with
    wait the module refuses it before writing. Once an admin has created the class, the VM runs and its virt-launcher
    pod carries the class's priority."""
    ns = guide["namespace"]
    klass = "vms-" + uuid.uuid4().hex[:6]
    make_disk(cluster, ns, "prio-root")
    task = linux_vm("prio", ns, "prio-root", priority_class_name=klass)
    first = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "waits", **task, "ignore_errors": True}])
    refused = first["waits"]
    assert refused.get("failed") and refused["changed"] is False, refused
    assert refused["msg"].startswith(f"priority_class_name: PriorityClass {klass} does not exist; create it first, or set wait=false"), refused["msg"]
    assert get_vm(cluster, ns, "prio") is None, "nothing written"
    cluster.kubectl("create", "priorityclass", klass, "--value=1000")
    try:
        second = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "runs", **task}])
        assert second.returncode == 0, second.stdout[-4000:]
        assert second["runs"]["vm"]["phase"] == "Running", second["runs"]
        pods = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-l", "vm.kubevirt.internal.virtualization.deckhouse.io/name=prio", "-o", "json").stdout)
        assert [(p["spec"]["priorityClassName"], p["spec"]["priority"]) for p in pods["items"]] == [(klass, 1000)]
    finally:
        cluster.kubectl("delete", "vm", "-n", ns, "prio", "--wait=false", check=False)
        cluster.kubectl("delete", "priorityclass", klass, check=False)
