"""The `batch` option of vm and virtual_disk through ansible-playbook → HTTPS → simulator: many objects in one task,
validated all before anything is written, applied in order, waited for side by side, registered as a loop would."""

import json

from ..ansible_runner import run_playbook
from . import test_module_vm
from .test_module_vm import CLASS, IMAGE, get_vm, in_cidrs

guide = test_module_vm.guide  # the vm tests' fixture (a class, images, a namespace of its own), here too

USER_DATA = "#cloud-config\nssh_pwauth: true\n"


def disk_batch(names, **task):
    elements = [{"name": n, "data_source": {"type": "ObjectRef", "object_ref": {"kind": "ClusterVirtualImage", "name": IMAGE}}} for n in names]
    return {"deckhouse.virtualization.virtual_disk": {"batch": elements, "wait_timeout": 90, **task}}


def vm_element(name, **kw):
    return {
        "name": name,
        "block_device_refs": [{"kind": "VirtualDisk", "name": f"{name}-root"}],
        "provisioning": {"type": "UserData", "user_data": USER_DATA},
        **kw,
    }


def vm_batch(elements, **task):
    common = {"virtual_machine_class_name": CLASS, "cpu": {"cores": 1, "core_fraction": "10%"}, "memory": {"size": "1Gi"}, "wait_timeout": 90}
    return {"deckhouse.virtualization.vm": {"batch": elements, **common, **task}}


def names_in(cluster, kind, ns):
    out = json.loads(cluster.kubectl("get", kind, "-n", ns, "-o", "json").stdout)
    return sorted(o["metadata"]["name"] for o in out["items"])


def test_batch_creates_waits_is_idempotent_and_diffs(cluster, guide, tmp_path):
    ns = guide["namespace"]
    names = ["batch-a", "batch-b", "batch-c"]
    disks = disk_batch([f"{n}-root" for n in names], namespace=ns)
    vms = vm_batch([vm_element(n) for n in names], namespace=ns, state="running")
    grown = vm_batch([vm_element(n, memory={"size": "2Gi"} if n == "batch-b" else {"size": "1Gi"}) for n in names], namespace=ns)
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "disks (check)", **disks, "check_mode": True},
            {"name": "disks", **disks},
            {"name": "vms", **vms},
            {"name": "disks again", **disks},
            {"name": "vms again", **vms},
            {"name": "grow one (check, diff)", **grown, "check_mode": True, "diff": True},
            {"name": "vms as a module process", **vms, "environment": {"DVP_BATCH_TEST": "1"}},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    check = run["disks (check)"]
    assert check["changed"] and [r["changed"] for r in check["results"]] == [True] * 3
    created = run["disks"]
    assert created["changed"] and len(created["results"]) == 3
    for result, name in zip(created["results"], names, strict=True):
        assert result["changed"] and result["item"]["name"] == f"{name}-root", result
        assert result["image"]["phase"] == "Ready" and result["resource"]["metadata"]["namespace"] == ns, "wait: every disk Ready"
    started = run["vms"]
    assert [r["item"]["name"] for r in started["results"]] == names, "results in the order of the batch"
    ips = set()
    for result in started["results"]:
        assert result["changed"] and result["vm"]["phase"] == "Running" and in_cidrs(result["vm"]["ip"], guide["cidrs"]), result
        assert result["resource"]["spec"]["cpu"]["coreFraction"] == "10%" and result["vm"]["virtual_machine_class_name"] == CLASS
        ips.add(result["vm"]["ip"])
    assert len(ips) == 3
    for name in ("disks again", "vms again", "vms as a module process"):
        assert run[name]["changed"] is False and [r["changed"] for r in run[name]["results"]] == [False] * 3, (name, run[name])
    diff = run["grow one (check, diff)"]
    assert diff["changed"] and [r["changed"] for r in diff["results"]] == [False, True, False]
    assert len(diff["diff"]) == 1 and diff["diff"][0]["before_header"] == f"batch[1] ({ns}/batch-b)"
    assert diff["diff"][0]["after"]["spec"]["memory"]["size"] in ("2Gi", "2048Mi")
    assert get_vm(cluster, ns, "batch-b")["spec"]["memory"]["size"] in ("1Gi", "1024Mi"), "check mode writes nothing"


def test_batch_refuses_every_bad_element_before_writing(cluster, guide, tmp_path):
    ns = guide["namespace"]
    before = names_in(cluster, "vm", ns), names_in(cluster, "vd", ns)
    good = vm_element("refused-ok")
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "unknown option", **vm_batch([good, vm_element("refused-x", colour="red")], namespace=ns), "ignore_errors": True},
            {"name": "odd cores", **vm_batch([good, vm_element("refused-y", cpu={"cores": 17})], namespace=ns), "ignore_errors": True},
            {"name": "no namespace", **vm_batch([good]), "ignore_errors": True},
            {"name": "not a dict", **vm_batch([good, "refused-z"], namespace=ns), "ignore_errors": True},
            {"name": "connection in an element", **disk_batch(["refused-d"], namespace=ns, batch=[{"name": "refused-d", "host": "https://x"}]),
             "ignore_errors": True},
            {"name": "name and batch", "deckhouse.virtualization.vm": {"name": "x", "namespace": ns, "batch": [good]}, "ignore_errors": True},
        ],
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:]
    assert run["unknown option"]["failed"] and "batch[1]" in run["unknown option"]["msg"] and "colour" in run["unknown option"]["msg"]
    odd = run["odd cores"]
    assert odd["failed"] and f"batch[1] ({ns}/refused-y)" in odd["msg"] and "cpu.cores" in odd["msg"] and "17" in odd["msg"], odd["msg"]
    assert run["no namespace"]["failed"] and "batch[0]" in run["no namespace"]["msg"] and "namespace" in run["no namespace"]["msg"]
    assert run["not a dict"]["failed"] and "'batch'" in run["not a dict"]["msg"] and "dict" in run["not a dict"]["msg"], run["not a dict"]["msg"]
    assert run["connection in an element"]["failed"] and "host" in run["connection in an element"]["msg"]
    assert run["name and batch"]["failed"] and "mutually exclusive" in run["name and batch"]["msg"]
    assert (names_in(cluster, "vm", ns), names_in(cluster, "vd", ns)) == before, "nothing written for any of them"


def test_batch_goes_on_after_a_failed_element_and_names_it(cluster, guide, tmp_path):
    ns = guide["namespace"]
    elements = [vm_element("partial-a"), vm_element("partial-b", virtual_machine_class_name="no-such-class"), vm_element("partial-c")]
    run = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [
            {"name": "disks", **disk_batch(["partial-a-root", "partial-b-root", "partial-c-root"], namespace=ns, wait=False)},
            {"name": "vms", **vm_batch(elements, namespace=ns, wait=False), "ignore_errors": True},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    vms = run["vms"]
    assert vms["failed"] and vms["changed"], vms
    assert vms["msg"].startswith("1 of 3 failed: ") and f"batch[1] ({ns}/partial-b)" in vms["msg"] and "no-such-class" in vms["msg"], vms["msg"]
    assert [bool(r.get("failed")) for r in vms["results"]] == [False, True, False]
    assert [r["changed"] for r in vms["results"] if not r.get("failed")] == [True, True]
    present = names_in(cluster, "vm", ns)
    assert "partial-a" in present and "partial-c" in present and "partial-b" not in present
