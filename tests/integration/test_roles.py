"""The roles module_config, images, vm_classes and vms and the playbooks site.yml and rolling_maintenance.yml through
real ansible-playbook → HTTPS → the simulator with the admin guide's nodes: each role converges, a second run reports
no change, check mode changes nothing on the server, absent removes, a bad item fails with the module's error naming
the option and nothing of it is written; a VM with its disk ends Running with an IP; site.yml with the example vars
converges and is idempotent (kubeconfig from KUBECONFIG / K8S_AUTH_KUBECONFIG); rolling_maintenance.yml drains and
uncordons the node of a running VM, and refuses to start without nodes.

The role tests share the session's cluster (unique names; the cluster-wide ModuleConfig is left alone there); the
module_config role and site.yml run against a simulator of their own, where they own the ModuleConfig."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from ..ansible_runner import ROOT, PlaybookRun, run_playbook
from ..image_sources import FileServer, MiB, qemu_image
from ..simulator_process import BIN, Simulator
from . import test_module_vm
from .conftest import TOPOLOGIES
from .test_module_node_maintenance import node, prefer
from .test_module_vm import get_vm, in_cidrs, linux_vm, make_disk

guide = test_module_vm.guide  # the fixture: class vm-guide, image vm-guide-linux, the session's CIDRs, a namespace
EXAMPLE = ROOT / "playbooks" / "vars" / "site.example.yml"


def changed_count(run: PlaybookRun) -> int:
    return json.loads(run.stdout)["stats"]["localhost"]["changed"]


def role(name: str, **variables) -> list[dict]:
    """include_role, then its facts shown in a task named `facts`."""
    facts = {"module_config": "module_config_result", "images": "images_results", "vm_classes": "vm_classes_results", "vms": "vms_results"}[name]
    return [
        {"name": f"role {name}", "ansible.builtin.include_role": {"name": f"deckhouse.virtualization.{name}"}, "vars": variables},
        {"name": "facts", "ansible.builtin.debug": {"var": facts}},
    ]


def in_role(run: PlaybookRun, role_name: str, task: str) -> dict:
    """The result of a task of a role (ansible-playbook names it `deckhouse.virtualization.ROLE : TASK`)."""
    return run[f"deckhouse.virtualization.{role_name} : {task}"]


def failed_items(run: PlaybookRun, role_name: str, task: str) -> list[dict]:
    return [r for r in in_role(run, role_name, task).get("results", []) if r.get("failed")]


def from_image(name: str) -> dict:
    return {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": name}}


def get(sim, kind: str, name: str, namespace: str | None = None) -> dict | None:
    out = sim.kubectl("get", kind, name, "-o", "json", *(["-n", namespace] if namespace else []), check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("role-images")
    qemu_image(root / "disk.qcow2", "qcow2", 64 * MiB, b"a bootable disk")
    server = FileServer(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A simulator of our own with the admin guide's nodes: here the ModuleConfig is ours to set."""
    s = Simulator.start(tmp_path_factory.mktemp("roles-platform"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0


# --- module_config ------------------------------------------------------------------------------------------------


def test_module_config_role(platform, tmp_path):
    kubeconfig = platform.kubeconfig
    settings = {
        "dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistent_volume_claim": {"size": "50G", "storage_class_name": "replicated"}}},
        "virtual_machine_cidrs": ["10.66.10.0/24"],
        "log_level": "warn",
    }
    variables = {"module_config_settings": settings, "module_config_connection": {"kubeconfig": str(kubeconfig)}}

    check = run_playbook(tmp_path, kubeconfig, role("module_config", **variables), extra_args=("--check",))
    assert check.returncode == 0, check.stdout[-4000:]
    before = get(platform, "moduleconfig", "virtualization")
    assert before is None or "logLevel" not in before["spec"].get("settings", {}), "check mode wrote nothing"

    first = run_playbook(tmp_path, kubeconfig, role("module_config", **variables))
    assert first.returncode == 0, first.stdout[-4000:]
    result = first["facts"]["module_config_result"]
    assert result["changed"] and result["state"] == "present"
    assert [c["cidr"] for c in result["cidrs"]] == ["10.66.10.0/24"]
    spec = get(platform, "moduleconfig", "virtualization")["spec"]
    assert spec["enabled"] is True and spec["version"] == 1
    assert spec["settings"]["virtualMachineCIDRs"] == ["10.66.10.0/24"] and spec["settings"]["logLevel"] == "warn"
    assert spec["settings"]["dvcr"]["storage"]["persistentVolumeClaim"] == {"size": "50G", "storageClassName": "replicated"}

    again = run_playbook(tmp_path, kubeconfig, role("module_config", **variables))
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-4000:]
    assert again["facts"]["module_config_result"]["changed"] is False

    # check mode with a change: reported, not written
    louder = {**variables, "module_config_settings": {**settings, "log_level": "debug"}}
    dry = run_playbook(tmp_path, kubeconfig, role("module_config", **louder), extra_args=("--check", "--diff"))
    assert dry.returncode == 0 and dry["facts"]["module_config_result"]["changed"], dry.stdout[-4000:]
    assert get(platform, "moduleconfig", "virtualization")["spec"]["settings"]["logLevel"] == "warn"

    # a bad setting: the module's error names it, nothing is written
    bad = {**variables, "module_config_settings": {**settings, "virtual_machine_cidrs": ["10.66.10.0/24", "10.66.10.128/25"]}}
    refused = run_playbook(tmp_path, kubeconfig, role("module_config", **bad))
    assert refused.returncode != 0
    msg = in_role(refused, "module_config", "Apply the ModuleConfig")["msg"]
    assert "virtual_machine_cidrs" in msg and "10.66.10.128/25" in msg, msg
    assert get(platform, "moduleconfig", "virtualization")["spec"]["settings"]["virtualMachineCIDRs"] == ["10.66.10.0/24"]


def test_module_config_role_enables_another_module(platform, tmp_path):
    """The guide's rebalancing needs the descheduler module: the role writes its ModuleConfig, settings passed through."""
    kubeconfig = platform.kubeconfig
    raw = {"defaultEvictor": {"nodeSelector": {"matchLabels": {"pool": "a"}}}}
    variables = {"module_config_name": "descheduler", "module_config_raw_settings": raw, "module_config_connection": {"kubeconfig": str(kubeconfig)}}
    first = run_playbook(tmp_path, kubeconfig, role("module_config", **variables))
    assert first.returncode == 0 and first["facts"]["module_config_result"]["changed"], first.stdout[-4000:]
    spec = get(platform, "moduleconfig", "descheduler")["spec"]
    assert spec["enabled"] is True and spec["settings"] == raw
    again = run_playbook(tmp_path, kubeconfig, role("module_config", **variables))
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-4000:]


# --- images ---------------------------------------------------------------------------------------------------------


def test_images_role(cluster, files, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    ns = f"roles-img-{suffix}"
    cluster.kubectl("create", "namespace", ns)
    cvis = [f"roles-a-{suffix}", f"roles-b-{suffix}"]
    vi = f"roles-vi-{suffix}"
    http = {"type": "HTTP", "http": {"url": files.url("disk.qcow2")}}
    variables = {
        "images_list": [{"name": cvis[0], "data_source": http}, {"name": cvis[1], "data_source": http, "labels": {"os": "test"}}],
        "images_virtual_images": [{"name": vi, "namespace": ns, "data_source": from_image(cvis[0])}],
        "images_wait_timeout": 120,
    }

    # check mode: dry runs, nothing created
    check = run_playbook(tmp_path, cluster.kubeconfig, role("images", **variables), extra_args=("--check",))
    assert check.returncode == 0, check.stdout[-4000:]
    assert [r["changed"] for r in check["facts"]["images_results"]] == [True, True, True]
    assert all(get(cluster, "cvi", name) is None for name in cvis) and get(cluster, "vi", vi, ns) is None, "check mode created nothing"

    first = run_playbook(tmp_path, cluster.kubeconfig, role("images", **variables))
    assert first.returncode == 0, first.stdout[-6000:]
    results = first["facts"]["images_results"]
    assert [(r["kind"], r["name"], r["namespace"], r["changed"], r["image"]["phase"]) for r in results] == [
        ("ClusterVirtualImage", cvis[0], "", True, "Ready"),
        ("ClusterVirtualImage", cvis[1], "", True, "Ready"),
        ("VirtualImage", vi, ns, True, "Ready"),
    ]
    assert all(get(cluster, "cvi", name)["status"]["phase"] == "Ready" for name in cvis)
    assert get(cluster, "cvi", cvis[1])["metadata"]["labels"]["os"] == "test"
    assert get(cluster, "vi", vi, ns)["status"]["phase"] == "Ready"
    # the second pass waited: both imports were started before either was waited for
    assert in_role(first, "images", "Create, update or delete the cluster images")["changed"]
    assert [r["item"]["name"] for r in in_role(first, "images", "Wait until the cluster images are Ready")["results"]] == cvis

    again = run_playbook(tmp_path, cluster.kubeconfig, role("images", **variables))
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-4000:]
    assert not any(r["changed"] for r in again["facts"]["images_results"])

    # a bad item: the module names the option and the rule; nothing of it is written
    bad = f"roles-bad-{suffix}"
    ftp = {"type": "HTTP", "http": {"url": "ftp://example.com/x.img"}}
    refused = run_playbook(tmp_path, cluster.kubeconfig, role("images", images_list=[{"name": bad, "data_source": ftp}]))
    assert refused.returncode != 0
    [failure] = failed_items(refused, "images", "Create, update or delete the cluster images")
    assert "data_source.http.url" in failure["msg"], failure["msg"]
    assert get(cluster, "cvi", bad) is None
    # an option no module knows: the role's argument spec refuses it before any task runs
    unknown = run_playbook(tmp_path, cluster.kubeconfig, role("images", images_list=[{"name": bad, "data_sorce": http}]))
    assert unknown.returncode != 0 and "data_sorce" in unknown.stdout, unknown.stdout[-3000:]
    assert get(cluster, "cvi", bad) is None

    # absent: the namespaced image, then the cluster images, gone (check mode first: all still there)
    gone = {
        "images_list": [{"name": name, "state": "absent"} for name in cvis],
        "images_virtual_images": [{"name": vi, "namespace": ns, "state": "absent"}],
    }
    dry = run_playbook(tmp_path, cluster.kubeconfig, role("images", **gone), extra_args=("--check",))
    assert dry.returncode == 0 and all(r["changed"] for r in dry["facts"]["images_results"]), dry.stdout[-4000:]
    assert all(get(cluster, "cvi", name) for name in cvis) and get(cluster, "vi", vi, ns)
    removed = run_playbook(tmp_path, cluster.kubeconfig, role("images", **gone))
    assert removed.returncode == 0, removed.stdout[-4000:]
    assert all(get(cluster, "cvi", name) is None for name in cvis) and get(cluster, "vi", vi, ns) is None
    assert changed_count(run_playbook(tmp_path, cluster.kubeconfig, role("images", **gone))) == 0


# --- vm_classes -----------------------------------------------------------------------------------------------------


def test_vm_classes_role(cluster, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    names = [f"roles-universal-{suffix}", f"roles-blue-{suffix}"]
    policies = [{"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi", "step": "512Mi"}, "core_fractions": [5, 10, 20, 50, 100]}]
    blue = {"matchExpressions": [{"key": "group", "operator": "In", "values": ["blue"]}]}
    classes = [
        {"name": names[0], "cpu": {"type": "Discovery", "discovery": {}}, "sizing_policies": policies},
        {"name": names[1], "cpu": {"type": "Discovery", "discovery": {"node_selector": blue}}, "node_selector": blue, "sizing_policies": policies},
    ]

    check = run_playbook(tmp_path, cluster.kubeconfig, role("vm_classes", vm_classes_list=classes), extra_args=("--check",))
    assert check.returncode == 0 and [r["changed"] for r in check["facts"]["vm_classes_results"]] == [True, True], check.stdout[-4000:]
    assert all(get(cluster, "vmclass", n) is None for n in names)

    first = run_playbook(tmp_path, cluster.kubeconfig, role("vm_classes", vm_classes_list=classes))
    assert first.returncode == 0, first.stdout[-4000:]
    results = first["facts"]["vm_classes_results"]
    assert [(r["name"], r["changed"], r["vm_class"]["phase"]) for r in results] == [(names[0], True, "Ready"), (names[1], True, "Ready")]
    assert sorted(results[1]["vm_class"]["available_nodes"]) == ["blue-0", "blue-1"]
    assert get(cluster, "vmclass", names[1])["status"]["phase"] == "Ready"

    again = run_playbook(tmp_path, cluster.kubeconfig, role("vm_classes", vm_classes_list=classes))
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-4000:]

    # check mode with a change: reported, the server keeps the old policy
    wider = [{**classes[0], "sizing_policies": [{**policies[0], "cores": {"min": 1, "max": 8}}]}, classes[1]]
    dry = run_playbook(tmp_path, cluster.kubeconfig, role("vm_classes", vm_classes_list=wider), extra_args=("--check",))
    assert dry.returncode == 0 and [r["changed"] for r in dry["facts"]["vm_classes_results"]] == [True, False], dry.stdout[-4000:]
    assert get(cluster, "vmclass", names[0])["spec"]["sizingPolicies"][0]["cores"]["max"] == 4

    # a bad item: Model without a model name - the module says so, nothing written
    bad = f"roles-bad-{suffix}"
    refused = run_playbook(tmp_path, cluster.kubeconfig, role("vm_classes", vm_classes_list=[{"name": bad, "cpu": {"type": "Model"}}]))
    assert refused.returncode != 0
    [failure] = failed_items(refused, "vm_classes", "Create, update or delete the classes")
    assert "cpu.model" in failure["msg"], failure["msg"]
    assert get(cluster, "vmclass", bad) is None

    removed = run_playbook(tmp_path, cluster.kubeconfig, role("vm_classes", vm_classes_list=[{"name": n, "state": "absent"} for n in names]))
    assert removed.returncode == 0, removed.stdout[-4000:]
    assert all(get(cluster, "vmclass", n) is None for n in names)


# --- vms ------------------------------------------------------------------------------------------------------------

IN_PROCESS = "in-process: the module's logic runs in the worker process, no module process"  # plugin_utils/in_process.py
VMS_TASK = "Manage the virtual machines and their disks"  # the role's one task of deckhouse.virtualization.vms


def test_vms_role_vm_with_its_disk(cluster, guide, tmp_path):
    ns = "roles-vms-" + uuid.uuid4().hex[:6]  # created by the role
    connection = {"kubeconfig": str(cluster.kubeconfig)}

    def vm(memory="1Gi", state="running", **extra):
        return {
            "name": "web",
            "state": state,
            "virtual_machine_class_name": test_module_vm.CLASS,
            "cpu": {"cores": 1, "core_fraction": "10%"},
            "memory": {"size": memory},
            "block_device_refs": [{"kind": "VirtualDisk", "name": "web-root"}],
            "disks": [{"name": "web-root", "data_source": from_image(test_module_vm.IMAGE)}],
            **extra,
        }

    def apply(*vms, check=False):
        return run_playbook(tmp_path, cluster.kubeconfig, role("vms", vms_namespace=ns, vms_list=list(vms), vms_connection=connection, vms_wait_timeout=120),
                            extra_args=("--check",) if check else ())  # fmt: skip

    # check mode on nothing: the namespace and the disk would be created; the VM cannot be checked before they exist
    dry = apply(vm(), check=True)
    assert dry.returncode == 0, dry.stdout[-6000:]
    [result] = dry["facts"]["vms_results"]
    assert result["changed"] and result["checked"] is False and result["disks"][0]["changed"], result
    assert in_role(dry, "vms", VMS_TASK)["unchecked"] == [f"{ns}/web"]
    assert cluster.kubectl("get", "namespace", ns, check=False).returncode != 0, "check mode created nothing"

    first = apply(vm())
    assert first.returncode == 0, first.stdout[-6000:]
    [result] = first["facts"]["vms_results"]
    assert result["changed"] and result["checked"] and result["vm"]["phase"] == "Running", result
    assert in_cidrs(result["vm"]["ip"], guide["cidrs"]), result["vm"]
    [disk] = result["disks"]
    assert disk["name"] == "web-root" and disk["namespace"] == ns and disk["changed"] and disk["disk"]["phase"] == "Ready", disk
    server = get_vm(cluster, ns, "web")
    assert server["status"]["phase"] == "Running" and server["status"]["ipAddress"] == result["vm"]["ip"]
    assert get(cluster, "vd", "web-root", ns)["status"]["phase"] == "Ready"

    again = apply(vm())
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-4000:]

    # check mode with a change: reported, the server keeps 1Gi
    bigger = apply(vm(memory="2Gi"), check=True)
    assert bigger.returncode == 0 and bigger["facts"]["vms_results"][0]["changed"], bigger.stdout[-4000:]
    assert bigger["facts"]["vms_results"][0]["checked"] is True
    assert get_vm(cluster, ns, "web")["spec"]["memory"]["size"] == "1Gi"

    # a bad disk (smaller than its image): the module names the option; neither the disk nor its VM is written
    bad = {**vm(), "name": "bad", "block_device_refs": [{"kind": "VirtualDisk", "name": "bad-root"}],
           "disks": [{"name": "bad-root", "persistent_volume_claim": {"size": "1Mi"},
                      "data_source": from_image(test_module_vm.IMAGE)}]}  # fmt: skip
    refused = apply(vm(), bad)
    assert refused.returncode != 0
    task = in_role(refused, "vms", VMS_TASK)
    assert task["step"] == "apply_disks" and task["msg"].startswith("creating or updating the disks: "), task
    [failure] = [r for r in task["results"] if r.get("failed")]
    assert "persistent_volume_claim.size" in failure["msg"], failure["msg"]
    assert get(cluster, "vd", "bad-root", ns) is None and get_vm(cluster, ns, "bad") is None
    # a bad VM (memory off the class's 512Mi step): the module quotes the policy; the VM is not written
    refused = apply(vm(), {**vm(memory="1100Mi"), "name": "odd", "block_device_refs": [{"kind": "VirtualDisk", "name": "web-root"}], "disks": []})
    assert refused.returncode != 0
    task = in_role(refused, "vms", VMS_TASK)
    assert task["step"] == "apply_vms" and "vms_results" not in task.get("ansible_facts", {}), task
    [failure] = [r for r in task["results"] if r.get("failed")]
    assert "cpu/memory" in failure["msg"], failure["msg"]
    assert get_vm(cluster, ns, "odd") is None

    # a misspelt VM option: the vm module's argument spec refuses it before the first step writes - its disk is not created
    typo = {**vm(), "name": "typo", "memroy": {"size": "1Gi"}, "block_device_refs": [{"kind": "VirtualDisk", "name": "typo-root"}],
            "disks": [{"name": "typo-root", "data_source": from_image(test_module_vm.IMAGE)}]}  # fmt: skip
    refused = apply(vm(), typo)
    assert refused.returncode != 0
    task = in_role(refused, "vms", VMS_TASK)
    assert task["step"] == "apply_vms" and "(" + ns + "/typo): Unsupported parameters: memroy." in task["msg"] and not task["changed"], task
    assert get(cluster, "vd", "typo-root", ns) is None and get_vm(cluster, ns, "typo") is None

    # stopped, then absent: the VM goes, then its disk
    stopped = apply(vm(state="stopped"))
    assert stopped.returncode == 0 and stopped["facts"]["vms_results"][0]["vm"]["phase"] == "Stopped", stopped.stdout[-4000:]
    gone = apply(vm(state="absent"))
    assert gone.returncode == 0, gone.stdout[-4000:]
    [result] = gone["facts"]["vms_results"]
    assert result["changed"] and result["disks"][0]["changed"] and result["disks"][0]["state"] == "absent", result
    assert get_vm(cluster, ns, "web") is None and get(cluster, "vd", "web-root", ns) is None
    assert changed_count(apply(vm(state="absent"))) == 0


@pytest.mark.parametrize("as_modules", [False, True], ids=["in-process", "module-processes"])
def test_vms_module_runs_the_steps(cluster, guide, tmp_path, as_modules):
    """The role's one task used directly: in the worker process on localhost, or (a task `environment:`) running the vm
    and virtual_disk modules as module processes; the connection from the group's module_defaults; malformed input
    refused naming `vms[i]` with nothing written; a second run changes nothing; absent deletes the VM, then its disk."""
    ns = guide["namespace"]
    name = "direct-" + ("mod-" if as_modules else "") + uuid.uuid4().hex[:4]
    item = {"name": name, "virtual_machine_class_name": test_module_vm.CLASS, "cpu": {"cores": 1, "core_fraction": "10%"},
            "memory": {"size": "1Gi"}, "block_device_refs": [{"kind": "VirtualDisk", "name": f"{name}-root"}],
            "disks": [{"name": f"{name}-root", "data_source": from_image(test_module_vm.IMAGE)}]}  # fmt: skip
    env = {"environment": {"DVP_AS_MODULE": "1"}} if as_modules else {}

    def apply(*vms, extra_args=()):
        task = {"name": "vms", "deckhouse.virtualization.vms": {"namespace": ns, "wait": False, "vms": list(vms)}, **env}
        return run_playbook(tmp_path, cluster.kubeconfig, [task, {"name": "facts", "ansible.builtin.debug": {"var": "vms_results"}}], extra_args)

    bad = apply({"name": name, "disks": [{"data_source": {}}]})
    assert bad.returncode != 0 and bad["vms"]["msg"] == "vms[0].disks[0] has no name", bad["vms"]
    assert get(cluster, "vd", f"{name}-root", ns) is None

    # which path ran: the action's -vvv line (plugin_utils/in_process.py), printed only when the modules run in-process
    dry = apply(item, extra_args=("--check", "-vvv"))
    assert dry.returncode == 0 and (dry.stdout + dry.stderr).count(IN_PROCESS) == (0 if as_modules else 1), dry.stdout[-4000:]
    assert get(cluster, "vd", f"{name}-root", ns) is None, "check mode wrote nothing"

    first = apply(item)
    assert first.returncode == 0 and first["vms"]["changed"], first.stdout[-4000:]
    [result] = first["facts"]["vms_results"]
    assert result["name"] == name and result["changed"] and result["disks"][0]["changed"], result
    assert get_vm(cluster, ns, name) is not None and get(cluster, "vd", f"{name}-root", ns) is not None
    again = apply(item)
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-4000:]
    # only the disk changes (grown): the task reports the change, the VM's result does not
    grown = apply({**item, "disks": [{**item["disks"][0], "persistent_volume_claim": {"size": "2Gi"}}]})
    assert grown.returncode == 0 and grown["vms"]["changed"], grown.stdout[-4000:]
    [result] = grown["facts"]["vms_results"]
    assert result["changed"] is False and result["disks"][0]["changed"], result
    assert get(cluster, "vd", f"{name}-root", ns)["spec"]["persistentVolumeClaim"]["size"] == "2Gi"
    gone = apply({**item, "state": "absent"})
    assert gone.returncode == 0 and gone["facts"]["vms_results"][0]["disks"][0]["state"] == "absent", gone.stdout[-4000:]
    assert get_vm(cluster, ns, name) is None and get(cluster, "vd", f"{name}-root", ns) is None


# --- playbooks ------------------------------------------------------------------------------------------------------


def run_book(book: str, env: dict[str, str], *args: str) -> PlaybookRun:
    """ansible-playbook playbooks/<book> as an admin runs it: no module_defaults of ours, the cluster from the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG"}
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / book), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
        env={
            **clean,
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"),
            "ANSIBLE_PYTHON_INTERPRETER": str(BIN / "python"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_NOCOLOR": "1",
            **env,  # HOME among them: no ~/.kube/config of the machine's
        },
    )
    results: dict[str, dict] = {}
    try:
        for play in json.loads(proc.stdout)["plays"]:
            for task in play["tasks"]:
                results[task["task"]["name"]] = next(iter(task["hosts"].values()), {})
    except (ValueError, KeyError):
        pass
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)


def test_site_playbook_with_the_example_vars(platform, files, tmp_path):
    url = f"example_image_url={files.url('disk.qcow2')}"
    first = run_book("site.yml", {"HOME": str(tmp_path), "KUBECONFIG": str(platform.kubeconfig)}, "-e", f"@{EXAMPLE}", "-e", url)
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-2000:]
    vm = get_vm(platform, "vms", "linux-vm")
    assert vm["status"]["phase"] == "Running" and in_cidrs(vm["status"]["ipAddress"], ["10.66.10.0/24"]), vm["status"]
    assert get(platform, "cvi", "ubuntu-22-04")["status"]["phase"] == "Ready"
    assert get(platform, "vd", "linux-vm-root", "vms")["status"]["phase"] == "Ready"
    classes = {n: get(platform, "vmclass", n)["status"] for n in ("universal", "cpux", "cpuy")}
    assert all(status["phase"] == "Ready" for status in classes.values()), classes
    assert sorted(classes["cpux"]["availableNodes"]) == ["blue-0", "blue-1"] and sorted(classes["cpuy"]["availableNodes"]) == ["green-0", "green-1"]
    assert "vms/linux-vm: Running on " in first["Show where the VMs run"]["msg"]

    # again, with the kubeconfig from K8S_AUTH_KUBECONFIG this time: nothing changes; check mode neither
    env = {"HOME": str(tmp_path), "K8S_AUTH_KUBECONFIG": str(platform.kubeconfig)}
    again = run_book("site.yml", env, "-e", f"@{EXAMPLE}", "-e", url)
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-6000:]
    dry = run_book("site.yml", env, "-e", f"@{EXAMPLE}", "-e", url, "--check")
    assert dry.returncode == 0 and changed_count(dry) == 0, dry.stdout[-6000:]

    # no cluster anywhere (no kubeconfig variable, no ~/.kube/config): the first task fails saying so
    lost = run_book("site.yml", {"HOME": str(tmp_path)}, "-e", f"@{EXAMPLE}", "-e", url)
    assert lost.returncode != 0
    assert "kubeconfig" in in_role(lost, "module_config", "Apply the ModuleConfig")["msg"].lower(), lost.stdout[-3000:]


def test_rolling_maintenance_playbook(cluster, guide, tmp_path):
    ns = guide["namespace"]
    target = "green-1"
    name = "roles-roll-" + uuid.uuid4().hex[:5]
    disk = make_disk(cluster, ns, f"{name}-root")
    setup = run_playbook(tmp_path, cluster.kubeconfig, [{"name": "vm", **linux_vm(name, ns, disk, state="running", affinity=prefer(target))}])
    assert setup.returncode == 0, setup.stdout[-4000:]
    assert setup["vm"]["vm"]["node"] == target

    env = {"HOME": str(tmp_path), "KUBECONFIG": str(cluster.kubeconfig)}
    # no nodes: the play stops before touching anything, saying how to name them
    refused = run_book("rolling_maintenance.yml", env)
    assert refused.returncode != 0
    assert "No nodes given" in refused["Check that nodes are given"]["msg"], refused["Check that nodes are given"]
    assert not node(cluster, target)["spec"].get("unschedulable")

    run = run_book("rolling_maintenance.yml", env, "-e", f"nodes={target}", "-e", "node_maintenance_ready_timeout=120")
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    after = get_vm(cluster, ns, name)["status"]
    assert after["phase"] == "Running" and after["nodeName"] != target, after
    assert not node(cluster, target)["spec"].get("unschedulable"), "uncordoned at the end"
    assert f"{name} moved to {after['nodeName']}" in run["Show what moved"]["msg"], run["Show what moved"]["msg"]


def test_example_vars_file_is_what_site_yml_reads():
    """Every variable of the example belongs to a role site.yml applies (or is the example's own image URL)."""
    example = yaml.safe_load(EXAMPLE.read_text())
    prefixes = ("module_config_", "images_", "vm_classes_", "vms_")
    assert sorted(k for k in example if not k.startswith(prefixes)) == ["example_image_url"]
    for key in example:
        if key.startswith(prefixes):
            role_name = next(p for p in prefixes if key.startswith(p)).rstrip("_")
            spec = yaml.safe_load((ROOT / "roles" / role_name / "meta" / "argument_specs.yml").read_text())
            assert key in spec["argument_specs"]["main"]["options"], key
    assert Path(ROOT / "playbooks" / "site.yml").exists()
