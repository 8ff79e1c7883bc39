"""Storage object in-use protection around a running VM (controllers/protection.py), on the VM lifecycle's simulator of
its own: the claim of a running VM's disk deleted with kubectl stays Terminating under `kubernetes.io/pvc-protection`
(the disk stays Ready) until the VM stops; a bound volume deleted stays Terminating under `kubernetes.io/pv-protection`
until it is Released; a disk deleted with its VM still running goes once the VM stops, claim and volume with it; and
the VM's virt-launcher pod cannot be moved to another node by a patch (kube-apiserver's ValidatePodUpdate)."""

from __future__ import annotations

import json

from . import test_vm_lifecycle as lifecycle
from .test_vm_lifecycle import advance, create, eventually, get, phase, running, vm, vm_phase, vmop

sim, iso, ns = lifecycle.sim, lifecycle.iso, lifecycle.ns  # its fixtures: a CE cluster of two nodes, a Ready ISO image

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def finalizers(obj):
    return obj.get("metadata", {}).get("finalizers") or []


def disk_with_vm(sim, ns, iso, disk, machine):
    """A blank 1Gi disk mounted by a Running VM; returns the disk's claim and volume names and the VM."""
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": disk}, "spec": {"persistentVolumeClaim": {"size": "1Gi"}}})
    ready = eventually(lambda: get(sim, "vd", disk, ns), lambda o: phase(o) == "Ready", 60)
    claim = ready["status"]["target"]["persistentVolumeClaimName"]
    assert vm(sim, ns, machine, [{"kind": "ClusterVirtualImage", "name": iso["name"]}, {"kind": "VirtualDisk", "name": disk}]).returncode == 0
    obj = running(sim, ns, machine)
    volume = get(sim, "pvc", claim, ns)["spec"]["volumeName"]
    return claim, volume, obj


def test_new_claims_and_volumes_are_protected(sim, iso, ns):
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": "plain"}, "spec": {"persistentVolumeClaim": {"size": "1Gi"}}})
    disk = eventually(lambda: get(sim, "vd", "plain", ns), lambda o: phase(o) == "Ready", 60)
    claim = get(sim, "pvc", disk["status"]["target"]["persistentVolumeClaimName"], ns)
    assert finalizers(claim) == [PVC_PROTECTION]
    assert finalizers(get(sim, "pv", claim["spec"]["volumeName"])) == [PV_PROTECTION]
    # unused: deleting the claim takes it at once, and its volume (reclaim policy Delete) after it
    sim.kubectl("delete", "pvc", claim["metadata"]["name"], "-n", ns)
    eventually(lambda: get(sim, "pv", claim["spec"]["volumeName"]), lambda o: o == {})
    eventually(lambda: get(sim, "vd", "plain", ns), lambda o: phase(o) == "PVCLost")


def test_the_claim_of_a_running_vms_disk_is_held_until_the_vm_stops(sim, iso, ns):
    claim, volume, machine = disk_with_vm(sim, ns, iso, "root", "web")

    pod = machine["status"]["virtualMachinePods"][0]["name"]
    other = "teal-0" if machine["status"]["nodeName"] == "red-0" else "red-0"
    moved = sim.kubectl("patch", "pod", pod, "-n", ns, "-p", json.dumps({"spec": {"nodeName": other}}), check=False)
    assert moved.returncode != 0 and f'The Pod "{pod}" is invalid: spec: Forbidden: pod updates may not change fields other than' in moved.stderr
    assert get(sim, "vm", "web", ns)["status"]["nodeName"] == machine["status"]["nodeName"]

    sim.kubectl("delete", "pvc", claim, "-n", ns, "--wait=false")
    sim.kubectl("delete", "pv", volume, "--wait=false")
    advance(sim, 30)
    held = get(sim, "pvc", claim, ns)
    assert held["metadata"].get("deletionTimestamp") and finalizers(held) == [PVC_PROTECTION] and phase(held) == "Bound"
    pv = get(sim, "pv", volume)
    assert pv["metadata"].get("deletionTimestamp") and finalizers(pv) == [PV_PROTECTION] and phase(pv) == "Bound"
    assert phase(get(sim, "vd", "root", ns)) == "Ready" and phase(get(sim, "vm", "web", ns)) == "Running"
    shown = sim.kubectl("get", "pvc", claim, "-n", ns, "--no-headers").stdout.split()
    assert shown[1] == "Terminating", shown  # kubectl's STATUS column, as upstream's printer shows a claim being deleted
    assert sim.kubectl("get", "pv", volume, "--no-headers").stdout.split()[4] == "Terminating"

    vmop(sim, ns, "web", "Stop")
    advance(sim, 21)
    vm_phase(sim, ns, "web", "Stopped")
    eventually(lambda: get(sim, "pvc", claim, ns), lambda o: o == {})
    eventually(lambda: get(sim, "pv", volume), lambda o: o == {})
    eventually(lambda: get(sim, "vd", "root", ns), lambda o: phase(o) == "PVCLost")


def test_a_disk_deleted_under_a_running_vm_goes_with_its_claim_once_the_vm_stops(sim, iso, ns):
    claim, volume, _vm = disk_with_vm(sim, ns, iso, "data", "db")
    sim.kubectl("delete", "vd", "data", "-n", ns, "--wait=false")
    eventually(lambda: get(sim, "vd", "data", ns), lambda o: phase(o) == "Terminating")
    advance(sim, 30)
    assert not get(sim, "pvc", claim, ns)["metadata"].get("deletionTimestamp")  # the disk waits for the VM first
    sim.kubectl("delete", "vm", "db", "-n", ns, "--wait=false")
    eventually(lambda: get(sim, "vd", "data", ns), lambda o: o == {})
    eventually(lambda: get(sim, "pvc", claim, ns), lambda o: o == {})
    eventually(lambda: get(sim, "pv", volume), lambda o: o == {})
