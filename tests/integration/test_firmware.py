"""Firmware upgrade through live migration (the admin guide's "Upgrading a virtual machine firmware"; BEHAVIOUR.md
§4.7 FirmwareUpToDate, §7.1 `firmware-update-*`): a module release with a new virt-launcher image leaves the running
VMs out of date, and the workload updater live-migrates each once onto the new image — on CE too. A VM that cannot
migrate stays out of date until it restarts. Its own simulator: a release moves every running VM of the cluster."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request

import pytest

from ..image_sources import FileServer, iso_image
from .test_vms import apply, condition, get, phase, running, vm_body, vmop, wait
from .test_volume_migration import NODES, start

G = "virtualization.deckhouse.io/v1alpha2"
OLD, NEW = "dvp-sim/virt-launcher:v1.0.0", "dvp-sim/virt-launcher:v1.1.0"
NS = "default"


@pytest.fixture(scope="module")
def ce(tmp_path_factory):
    root = tmp_path_factory.mktemp("firmware-images")
    iso_image(root / "boot.iso")
    server = FileServer(root)
    sim = start(tmp_path_factory, "CE", server)
    yield sim
    server.stop()
    assert sim.stop() == 0


def admin(sim, method, path, body=None):
    """The simulator's admin API: (status, JSON answer)."""
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    req = urllib.request.Request(f"{sim.server}/simulator/v1/{path}", data=data, method=method, headers={"Authorization": f"Bearer {sim.token}"})
    try:
        with urllib.request.urlopen(req, context=ctx) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def pod_of(sim, name):
    pods = json.loads(sim.kubectl("get", "pods", "-n", NS, "-l", f"vm.kubevirt.internal.virtualization.deckhouse.io/name={name}", "-o", "json").stdout)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == 1, [p["metadata"]["name"] for p in live]
    return live[0]


def image_of(pod):
    return next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "compute")


def firmware_ops(sim, name):
    ops = json.loads(sim.kubectl("get", "vmop", "-n", NS, "-o", "json").stdout)["items"]
    return [o for o in ops if o["spec"]["virtualMachineName"] == name and o["metadata"]["name"].startswith("firmware-update-")]


def test_a_release_migrates_each_running_vm_once_onto_its_launcher_image(ce):
    status, release = admin(ce, "GET", "module")
    assert status == 200 and release["launcherImage"] == OLD
    deploy = json.loads(ce.kubectl("get", "deploy", "virt-controller", "-n", "d8-virtualization", "-o", "json").stdout)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["args"] == [f"--launcher-image={OLD}"]
    assert "1/1" in ce.kubectl("get", "deploy", "virt-controller", "-n", "d8-virtualization").stdout

    # one VM that can live-migrate, one that cannot (CE: a disk on a ReadWriteOnce claim keeps it in place), one that
    # may run on one node only (its migration finds no target)
    apply(ce, NS, vm_body("mover", ce.iso))
    apply(ce, NS, {"apiVersion": G, "kind": "VirtualDisk", "metadata": {"name": "stuck-local"},
                   "spec": {"persistentVolumeClaim": {"size": "1Gi", "storageClassName": "local"}}})  # fmt: skip
    apply(ce, NS, vm_body("stuck", ce.iso, blockDeviceRefs=[{"kind": "ClusterVirtualImage", "name": ce.iso}, {"kind": "VirtualDisk", "name": "stuck-local"}]))
    apply(ce, NS, vm_body("pinned", ce.iso, nodeSelector={"kubernetes.io/hostname": NODES[0]}))
    mover, stuck, pinned = running(ce, NS, "mover", 60), running(ce, NS, "stuck", 60), running(ce, NS, "pinned", 60)
    assert condition(stuck, "Migratable")["status"] == "False" and pinned["status"]["nodeName"] == NODES[0]
    for vm in (mover, stuck, pinned):
        assert condition(vm, "FirmwareUpToDate") is None, "present only while out of date"
        assert image_of(pod_of(ce, vm["metadata"]["name"])) == OLD
    source = mover["status"]["nodeName"]

    # bad releases change nothing
    for body in ({}, {"launcherImage": ""}, {"launcherImage": 7}, {"launcherImage": "a b"}, {"launcherImage": NEW, "x": 1}, b"{", b"null"):
        code, answer = admin(ce, "POST", "module/upgrade", body)
        assert code == 400 and answer["kind"] == "Status" and answer["reason"] == "BadRequest", (body, answer)
    assert admin(ce, "GET", "module/upgrade")[0] == 405
    assert admin(ce, "GET", "module")[1]["launcherImage"] == OLD

    code, answer = admin(ce, "POST", "module/upgrade", {"launcherImage": NEW})
    assert code == 200 and NEW in answer["message"], answer
    assert admin(ce, "GET", "module")[1]["launcherImage"] == NEW
    deploy = json.loads(ce.kubectl("get", "deploy", "virt-controller", "-n", "d8-virtualization", "-o", "json").stdout)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["args"] == [f"--launcher-image={NEW}"] and deploy["metadata"]["generation"] == 2

    # the migratable VM: out of date, one firmware-update Evict, then Running elsewhere on the new image
    seen = wait(lambda: get(ce, "vm", "mover", NS), lambda o: condition(o, "FirmwareUpToDate") is not None or firmware_ops(ce, "mover"))
    out = condition(seen, "FirmwareUpToDate")
    if out is not None:  # (the migration may already have begun)
        assert (out["status"], out["reason"]) == ("False", "FirmwareOutOfDate") and "please migrate or reboot the VM" in out["message"]
    ops = wait(lambda: firmware_ops(ce, "mover"), lambda o: o)
    assert len(ops) == 1 and ops[0]["spec"]["type"] == "Evict"
    assert ops[0]["metadata"]["annotations"]["virtualization.deckhouse.io/workload-update"] == "true"
    done = wait(lambda: get(ce, "vmop", ops[0]["metadata"]["name"], NS), lambda o: phase(o) in ("Completed", "Failed"), 60)
    assert phase(done) == "Completed", done
    moved = wait(lambda: get(ce, "vm", "mover", NS), lambda o: phase(o) == "Running" and condition(o, "FirmwareUpToDate") is None)
    assert moved["status"]["nodeName"] != source and image_of(pod_of(ce, "mover")) == NEW

    # the VM with nowhere to go: its one Evict waits for a target, fails after the 5-minute preparation timeout, and
    # the VM is not tried again for this image
    pinned = wait(lambda: get(ce, "vm", "pinned", NS), lambda o: condition(o, "FirmwareUpToDate") is not None)
    assert condition(pinned, "FirmwareUpToDate")["reason"] == "FirmwareOutOfDate"
    ops = wait(lambda: firmware_ops(ce, "pinned"), lambda o: o)
    wait(lambda: get(ce, "vmop", ops[0]["metadata"]["name"], NS), lambda o: (condition(o, "Completed") or {}).get("reason") == "TargetUnschedulable")
    assert admin(ce, "POST", "clock/advance", {"seconds": 310})[0] == 200
    failed = wait(lambda: get(ce, "vmop", ops[0]["metadata"]["name"], NS), lambda o: phase(o) in ("Completed", "Failed"), 60)
    assert phase(failed) == "Failed", failed
    assert pod_of(ce, "pinned")["metadata"]["annotations"]["virtualization.deckhouse.io/workload-update-image"] == NEW
    # CE refuses an Evict of a VM with a disk off ReadWriteMany at admission: no operation, a Warning Event on the VM
    stuck = wait(lambda: get(ce, "vm", "stuck", NS), lambda o: condition(o, "FirmwareUpToDate") is not None)
    assert condition(stuck, "FirmwareUpToDate")["reason"] == "FirmwareOutOfDate"
    events = wait(
        lambda: json.loads(ce.kubectl("get", "events", "-n", NS, "--field-selector", "involvedObject.name=stuck,type=Warning", "-o", "json").stdout)["items"],
        lambda items: any("ReadWriteMany" in e["message"] for e in items),
    )
    refusal = next(e for e in events if "ReadWriteMany" in e["message"])
    assert refusal["involvedObject"]["kind"] == "VirtualMachine" and "stuck-local" in refusal["message"], refusal
    time.sleep(2.0)  # 20 simulated seconds
    assert not firmware_ops(ce, "stuck") and len(firmware_ops(ce, "pinned")) == 1 and len(firmware_ops(ce, "mover")) == 1
    assert "virtualization.deckhouse.io/workload-update-image" not in (pod_of(ce, "stuck")["metadata"].get("annotations") or {})
    for name in ("stuck", "pinned"):
        assert condition(get(ce, "vm", name, NS), "FirmwareUpToDate")["status"] == "False"
    # ... until it restarts: its new instance runs the new image
    name, _unused = vmop(ce, NS, "stuck", "Restart")
    wait(lambda: get(ce, "vmop", name, NS), lambda o: phase(o) == "Completed", 60)
    wait(lambda: get(ce, "vm", "stuck", NS), lambda o: phase(o) == "Running" and condition(o, "FirmwareUpToDate") is None, 60)
    assert image_of(pod_of(ce, "stuck")) == NEW

    # a VM started after the release runs it: nothing to update
    apply(ce, NS, vm_body("fresh", ce.iso))
    fresh = running(ce, NS, "fresh", 60)
    assert condition(fresh, "FirmwareUpToDate") is None and image_of(pod_of(ce, "fresh")) == NEW and not firmware_ops(ce, "fresh")

    # the same release again changes nothing
    code, answer = admin(ce, "POST", "module/upgrade", {"launcherImage": NEW})
    assert code == 200 and "already" in answer["message"]
    assert json.loads(ce.kubectl("get", "deploy", "virt-controller", "-n", "d8-virtualization", "-o", "json").stdout)["metadata"]["generation"] == 2
