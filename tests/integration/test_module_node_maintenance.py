"""node_maintenance through ansible-playbook → HTTPS → the simulator with the admin guide's nodes: a drain of a node
with two VMs (both Running elsewhere afterwards, per-VM report), uncordon, idempotence, check mode and
preflight_only, and the preflight refusing a HostPassthrough VM with no identical CPU elsewhere (nothing cordoned)."""

import json

import pytest

from ..ansible_runner import run_playbook
from . import test_module_vm_operation
from .test_module_vm import get_vm, linux_vm, make_disk

guide = test_module_vm_operation.guide  # the fixture: the guide's class and image, CIDRs, a namespace


@pytest.fixture(scope="module")
def cluster(own_cluster):
    """This file's own cluster: it drains nodes (conftest.py own_cluster)."""
    return own_cluster


NM = "deckhouse.virtualization.node_maintenance"
HOST = "kubernetes.io/hostname"


def prefer(node):
    """Land on `node` when it can (a preference, so the VM may still live-migrate anywhere)."""
    term = {"matchExpressions": [{"key": HOST, "operator": "In", "values": [node]}]}
    return {"node_affinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": term}]}}


def node(cluster, name):
    return json.loads(cluster.kubectl("get", "node", name, "-o", "json").stdout)


def test_drain_moves_both_vms_then_uncordon(cluster, guide, tmp_path):
    ns = guide["namespace"]
    vms = ("drain-a", "drain-b")
    tasks = [{"name": f"vm {n}", **linux_vm(n, ns, make_disk(cluster, ns, f"{n}-root"), state="running", affinity=prefer("blue-1"))} for n in vms]
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            *tasks,
            {"name": "preflight", NM: {"name": "blue-1", "preflight_only": True}},
            {"name": "drain (check)", NM: {"name": "blue-1"}, "check_mode": True, "diff": True},
            {"name": "drain", NM: {"name": "blue-1", "max_concurrent": 1, "wait_timeout": 300}},
            {"name": "drain again", NM: {"name": "blue-1"}},
            {"name": "uncordon", NM: {"name": "blue-1", "state": "uncordoned"}},
            {"name": "uncordon again", NM: {"name": "blue-1", "state": "uncordoned"}},
            {"name": "bad option", NM: {"name": "blue-1", "state": "uncordoned", "preflight_only": True}, "ignore_errors": True},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert all(run[f"vm {n}"]["vm"]["node"] == "blue-1" for n in vms)
    pre = run["preflight"]
    assert pre["changed"] is False and pre["preflight"]["ok"] and {(m["name"], m["source"]) for m in pre["preflight"]["vms"]} >= {(n, "blue-1") for n in vms}
    assert all(m["target"] not in (None, "blue-1") for m in pre["preflight"]["vms"])
    check = run["drain (check)"]
    assert check["changed"] and check["diff"]["after"]["spec"]["unschedulable"] is True
    assert {v["name"] for v in check["vms"] if v["result"] == "would move"} >= set(vms)
    drain = run["drain"]
    assert drain["changed"] and drain["node"]["unschedulable"] is True
    moved = {v["name"]: v for v in drain["vms"]}
    for n in vms:
        report = moved[n]
        assert report["result"] == "moved" and report["source"] == "blue-1" and report["target"] not in (None, "blue-1"), report
        assert report["duration"] is not None and report["operation"].startswith("evacuation-"), report
        assert get_vm(cluster, ns, n)["status"]["phase"] == "Running" and get_vm(cluster, ns, n)["status"]["nodeName"] == report["target"]
    assert any("cordoned" in e for e in drain["events"]) and any("drain-a: left blue-1" in e for e in drain["events"])
    assert "drain-a: left blue-1 for" in run.stderr, "progress is printed while the task runs (on stderr: the JSON callback's stdout stays parseable)"
    assert run["drain again"]["changed"] is False and run["drain again"]["vms"] == []
    assert run["uncordon"]["changed"] and run["uncordon again"]["changed"] is False
    assert not node(cluster, "blue-1")["spec"].get("unschedulable")
    assert run["bad option"]["failed"] and "preflight_only" in run["bad option"]["msg"] and "state=drained" in run["bad option"]["msg"]


def test_preflight_refuses_a_host_passthrough_vm_with_no_identical_cpu(cluster, guide, tmp_path):
    ns = guide["namespace"]
    disk = make_disk(cluster, ns, "pt-root")
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "class", "deckhouse.virtualization.vm_class": {"name": "passthrough", "cpu": {"type": "HostPassthrough"}}},
            {"name": "cordon blue-1", NM: {"name": "blue-1", "state": "cordoned"}},
            {"name": "vm", **linux_vm("pt-vm", ns, disk, state="running", virtual_machine_class_name="passthrough", affinity=prefer("blue-0"))},
            {"name": "drain", NM: {"name": "blue-0"}, "ignore_errors": True},
            {"name": "check mode too", NM: {"name": "blue-0"}, "check_mode": True, "ignore_errors": True},
            {"name": "uncordon blue-1", NM: {"name": "blue-1", "state": "uncordoned"}},
            {"name": "now it can", NM: {"name": "blue-0", "preflight_only": True}},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["cordon blue-1"]["changed"] and run["vm"]["vm"]["node"] == "blue-0"
    refused = run["drain"]
    assert refused["failed"] and "nothing was changed" in refused["msg"] and f"{ns}/pt-vm" in refused["msg"], refused["msg"]
    assert "host-passthrough needs an identical CPU" in refused["msg"] and "blue-1: node(s) were unschedulable" in refused["msg"]
    assert refused["preflight"]["ok"] is False
    assert run["check mode too"]["failed"] and f"{ns}/pt-vm" in run["check mode too"]["msg"]
    assert not node(cluster, "blue-0")["spec"].get("unschedulable"), "the refused drain cordoned nothing"
    [pt] = [m for m in run["now it can"]["preflight"]["vms"] if m["name"] == "pt-vm"]
    assert pt["target"] == "blue-1" and run["now it can"]["changed"] is False
    cluster.kubectl("delete", "vm", "-n", ns, "pt-vm", "--wait=false")


def test_a_full_drain_evicts_the_other_pods_as_kubectl_drain_and_leaves_virt_handler(cluster, guide, tmp_path):
    """The admin guide's `d8 k drain <node> --ignore-daemonsets --delete-emptydir-data` through the module (scope=all):
    a pod with emptyDir data and no controller blocks the preflight until delete_emptydir_data and force allow it
    (nothing is cordoned meanwhile); then the VM moves, the pod is evicted, the virt-handler DaemonSet pod stays."""
    ns = guide["namespace"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "scratch", "namespace": ns},
           "spec": {"nodeName": "green-1", "containers": [{"name": "app", "image": "busybox"}],
                    "volumes": [{"name": "tmp", "emptyDir": {}}]}}  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "vm", **linux_vm("full-drain", ns, make_disk(cluster, ns, "full-drain-root"), state="running", affinity=prefer("green-1"))},
            {"name": "refused", NM: {"name": "green-1", "scope": "all"}, "ignore_errors": True, "timeout": 60},
            {"name": "drain", NM: {"name": "green-1", "scope": "all", "delete_emptydir_data": True, "force": True, "wait_timeout": 120}, "timeout": 200},
            {"name": "uncordon", NM: {"name": "green-1", "state": "uncordoned"}},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["vm"]["vm"]["node"] == "green-1"
    refused = run["refused"]
    assert refused["failed"] and "scratch" in refused["msg"], refused
    assert "emptyDir" in refused["msg"] or "emptydir" in refused["msg"].lower(), refused["msg"]
    drain = run["drain"]
    assert drain["changed"] and drain["node"]["unschedulable"] is True
    assert {(v["name"], v["result"]) for v in drain["vms"]} >= {("full-drain", "moved")}
    assert [(p["namespace"], p["name"], p["result"]) for p in drain["pods"] if p["name"] == "scratch"] == [(ns, "scratch", "evicted")], drain["pods"]
    skipped = {p["name"]: p for p in drain["skipped_pods"]}
    handler = [name for name in skipped if name.startswith("virt-handler")]
    assert len(handler) == 1 and skipped[handler[0]]["reason"] == "DaemonSet-managed", drain["skipped_pods"]
    assert skipped[handler[0]]["pod"] == f"d8-virtualization/{handler[0]}" and skipped[handler[0]]["namespace"] == "d8-virtualization"
    assert cluster.kubectl("get", "pod", "scratch", "-n", ns, check=False).returncode != 0, "evicted: gone"
    assert get_vm(cluster, ns, "full-drain")["status"]["nodeName"] != "green-1"
    assert cluster.kubectl("get", "pod", handler[0], "-n", "d8-virtualization", check=False).returncode == 0, "virt-handler stays"
