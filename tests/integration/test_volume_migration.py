"""Storage (volume) migration, by edition (BEHAVIOUR.md §2.2 "storageClassName change after provisioning", §4.7
Migratable, §7.1 `volume-migration-*`), on two simulators of their own (three nodes each), through kubectl and
ansible-playbook over HTTPS:

- EE: a class change of a disk a Running VM mounts is carried out by a system Evict `volume-migration-*`: a target
  claim on the new class, the live migration of the VM with the disk (phase Migrating), then the disk on the target
  claim and the new class, the source claim and its volume gone; a disk on a ReadWriteOnce (local) claim moves with
  a drain (Migratable True/VirtualMachineDisksShouldBeMigrating); a failed round is reverted (the disk stays where it
  was, migrationState Failed with why) and tried again after the backoff; setting the class back cancels a round; the
  webhook's rules (mounted by a running VM, same volume mode, an existing class, only the rollback while migrating).
- CE: the class change is refused; a ReadWriteOnce disk keeps its VM from migrating.
- the virtual_disk module: check mode and diff, the migration waited for, its failure reported with the reason, and
  the rules refused before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from ..ansible_runner import run_playbook
from ..image_sources import FileServer, iso_image
from ..simulator_process import BIN, Simulator
from .polling import eventually
from .test_placement_migration import admin, condition, create, get, phase, where_domain  # the same three nodes' helpers

G = "virtualization.deckhouse.io/v1alpha2"
NODES = ("red-0", "red-1", "teal-0")
MC = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
      "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
                                                           "virtualMachineCIDRs": ["10.66.40.0/24"]}}}  # fmt: skip
PREFIX = "volume-migration-"
SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"


def topology(edition):
    node = {"cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"}
    block = {"accessModes": ["ReadWriteMany", "ReadWriteOnce"], "volumeMode": "Block", "capacity": "1Ti"}
    return {
        "cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16", "edition": edition},
        "nodes": [{"name": name, **node} for name in NODES],
        "storageClasses": [
            {"name": "shared", "provisioner": "replicated.csi.example.com", **block, "default": True},
            {"name": "fast", "provisioner": "fast.csi.example.com", **block},
            {"name": "local", "provisioner": "local.csi.example.com", "accessModes": ["ReadWriteOnce"], "volumeMode": "Block",
             "volumeBindingMode": "WaitForFirstConsumer", "capacity": "1Ti"},
            {"name": "files", "provisioner": "nfs.csi.example.com", "accessModes": ["ReadWriteMany"], "volumeMode": "Filesystem", "capacity": "1Ti"},
            {"name": "small", "provisioner": "small.csi.example.com", "accessModes": ["ReadWriteMany"], "volumeMode": "Block", "capacity": "1Gi"},
        ],
    }  # fmt: skip


def start(tmp_path_factory, edition, server):
    tmp = tmp_path_factory.mktemp(f"volmig-{edition}")
    (tmp / "topology.yaml").write_text(yaml.safe_dump(topology(edition)))
    sim = Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=10.0)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    probe = json.dumps({"apiVersion": G, "kind": "VirtualMachineIPAddress", "metadata": {"name": "probe"}, "spec": {"type": "Auto"}})
    eventually(lambda: sim.kubectl("create", "--dry-run=server", "-n", "default", "-f", "-", input=probe, check=False).stderr, lambda err: not err)
    sim.iso = "boot-" + uuid.uuid4().hex[:6]
    source = {"type": "HTTP", "http": {"url": server.url("boot.iso")}}
    create(sim, "", {"kind": "ClusterVirtualImage", "metadata": {"name": sim.iso}, "spec": {"dataSource": source}})
    eventually(lambda: get(sim, "cvi", sim.iso), lambda o: phase(o) == "Ready", 60)
    return sim


@pytest.fixture(scope="module")
def iso_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("volmig-images")
    iso_image(root / "boot.iso")
    server = FileServer(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ee(tmp_path_factory, iso_server):
    sim = start(tmp_path_factory, "EE", iso_server)
    yield sim
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def ce(tmp_path_factory, iso_server):
    sim = start(tmp_path_factory, "CE", iso_server)
    yield sim
    assert sim.stop() == 0


# -- helpers --------------------------------------------------------------------------------------------------------
def namespace(sim):
    name = "vm-" + uuid.uuid4().hex[:8]
    sim.kubectl("create", "namespace", name)
    return name


def disk(sim, ns, name, sc, size="1Gi"):
    create(sim, ns, {"kind": "VirtualDisk", "metadata": {"name": name}, "spec": {"persistentVolumeClaim": {"size": size, "storageClassName": sc}}})


def vm(sim, ns, name, disks, memory="1Gi", **spec):
    refs = [{"kind": "ClusterVirtualImage", "name": sim.iso}] + [{"kind": "VirtualDisk", "name": d} for d in disks]
    body = {"virtualMachineClassName": "generic", "cpu": {"cores": 1}, "memory": {"size": memory}, "blockDeviceRefs": refs, **spec}
    create(sim, ns, {"kind": "VirtualMachine", "metadata": {"name": name}, "spec": body})
    return eventually(lambda: get(sim, "vm", name, ns), lambda o: phase(o) == "Running", 60)


def ready_disk(sim, ns, name):
    return eventually(lambda: get(sim, "vd", name, ns), lambda o: phase(o) == "Ready" and condition(o, "InUse")["reason"] == "AttachedToVirtualMachine")


def patch_class(sim, ns, name, sc, check=True):
    body = json.dumps({"spec": {"persistentVolumeClaim": {"storageClassName": sc}}})
    return sim.kubectl("patch", "vd", name, "-n", ns, "--type", "merge", "-p", body, check=check)


def operations(sim, ns, prefix=PREFIX):
    items = json.loads(sim.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"]
    return sorted((o for o in items if o["metadata"]["name"].startswith(prefix)), key=lambda o: o["metadata"]["creationTimestamp"])


def claims(sim, ns):
    return {c["metadata"]["name"]: c for c in json.loads(sim.kubectl("get", "pvc", "-n", ns, "-o", "json").stdout)["items"]}


def pod_claims(sim, ns, vm_name):
    pods = json.loads(sim.kubectl("get", "pods", "-n", ns, "-l", f"{SELECTOR}={vm_name}", "-o", "json").stdout)["items"]
    return sorted(v["persistentVolumeClaim"]["claimName"] for p in pods if not p["metadata"].get("deletionTimestamp")
                  for v in p["spec"].get("volumes") or [] if v.get("persistentVolumeClaim"))  # fmt: skip


def advance(sim, seconds):
    admin(sim, "POST", "/simulator/v1/clock/advance", {"seconds": seconds})


class Watch:
    """`kubectl get vd <name> -w -o json`, every version of the disk read in the background."""

    def __init__(self, sim, ns, name):
        env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig)}
        cmd = [str(BIN / "kubectl"), "get", "vd", name, "-n", ns, "-w", "-o", "json"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self.versions: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        decoder, text = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            text += line
            try:
                obj, end = decoder.raw_decode(text.lstrip())
            except ValueError:
                continue
            self.versions.append(obj)
            text = text.lstrip()[end:]

    def seen(self, predicate, timeout=60.0):
        """The first version the predicate holds for, waiting for it."""
        return eventually(lambda: next((o for o in list(self.versions) if predicate(o)), None), lambda o: o is not None, timeout)

    def phases(self):
        return [phase(o) for i, o in enumerate(self.versions) if i == 0 or phase(o) != phase(self.versions[i - 1])]

    def stop(self):
        time.sleep(0.5)
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(5)
        return self.phases()


def migrated_disk(sim, ns, name, source_claim, sc):
    """The disk on a new claim of class `sc` after a successful round from `source_claim`."""
    done = eventually(lambda: get(sim, "vd", name, ns),
                      lambda o: (o["status"].get("migrationState") or {}).get("result") == "Succeeded" and phase(o) == "Ready", 60)  # fmt: skip
    status = done["status"]
    target = status["target"]["persistentVolumeClaimName"]
    assert target != source_claim and target.startswith(f"d8v-vd-{done['metadata']['uid']}-")
    state = status["migrationState"]
    assert (state["sourcePVC"], state["targetPVC"], state["message"]) == (source_claim, target, "Migration completed.")
    assert state["startTimestamp"] <= state["endTimestamp"]
    assert status["storageClassName"] == sc and condition(done, "Migrating") is None and condition(done, "Ready")["status"] == "True"
    eventually(lambda: claims(sim, ns), lambda c: source_claim not in c and c.get(target, {}).get("status", {}).get("phase") == "Bound")
    assert claims(sim, ns)[target]["spec"]["storageClassName"] == sc
    return done


# -- EE ---------------------------------------------------------------------------------------------------------------
def test_ee_a_class_change_live_migrates_the_vm_onto_a_claim_of_the_new_class(ee):
    ns = namespace(ee)
    disk(ee, ns, "data", "shared")
    before = vm(ee, ns, "app", ["data"])
    assert (condition(before, "Migratable")["status"], condition(before, "Migratable")["reason"]) == ("True", "VirtualMachineMigratable")
    source = ready_disk(ee, ns, "data")["status"]["target"]["persistentVolumeClaimName"]
    old_volume = claims(ee, ns)[source]["spec"]["volumeName"]
    watch = Watch(ee, ns, "data")
    watch.seen(lambda o: True)  # watching before the change
    patch_class(ee, ns, "data", "fast")
    ops = eventually(lambda: operations(ee, ns), lambda ops: len(ops) == 1 and phase(ops[0]) == "Completed", 60)
    op = ops[0]
    assert op["spec"] == {"type": "Evict", "virtualMachineName": "app"}
    assert op["metadata"]["annotations"]["virtualization.deckhouse.io/volume-migration"] == "true"
    done = migrated_disk(ee, ns, "data", source, "fast")
    assert "Migrating" in watch.stop()  # the disk's phase while its VM moved it
    after = eventually(lambda: get(ee, "vm", "app", ns), lambda o: phase(o) == "Running" and o["status"]["nodeName"] != before["status"]["nodeName"])
    assert after["status"]["stats"]["lastStartTime"] == before["status"]["stats"]["lastStartTime"], "moved live, not restarted"
    assert after["status"]["migrationState"]["result"] == "Succeeded" and where_domain(ee, f"{ns}_app") == [after["status"]["nodeName"]]
    assert pod_claims(ee, ns, "app") == [done["status"]["target"]["persistentVolumeClaimName"]]
    eventually(lambda: get(ee, "pv", old_volume), lambda pv: pv == {})  # the source volume went with its claim (Delete)
    events = ee.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    assert "VirtualMachineOperationStarted" in events and "VolumeMigrationCompleted" in events
    time.sleep(1)
    assert len(operations(ee, ns)) == 1, "a disk on its class asks for nothing more"


def test_ee_a_drain_moves_a_vm_with_its_local_disk(ee):
    """A disk on a ReadWriteOnce, node-local claim: the VM is Migratable (VirtualMachineDisksShouldBeMigrating), and
    the drain's evacuation moves the disk with it - a new claim on the same class, bound on the VM's new node."""
    ns = namespace(ee)
    disk(ee, ns, "scratch", "local")
    before = vm(ee, ns, "pinned", ["scratch"])
    node = before["status"]["nodeName"]
    migratable = condition(before, "Migratable")
    assert (migratable["status"], migratable["reason"]) == ("True", "VirtualMachineDisksShouldBeMigrating") and "scratch" in migratable["message"]
    source = ready_disk(ee, ns, "scratch")["status"]["target"]["persistentVolumeClaimName"]
    source_volume = get(ee, "pv", claims(ee, ns)[source]["spec"]["volumeName"])
    assert source_volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [node]
    try:
        drained = ee.kubectl("drain", node, "--pod-selector", SELECTOR, "--delete-emptydir-data", "--ignore-daemonsets", "--timeout=120s", timeout=150)
        assert f"node/{node} drained" in drained.stdout
        after = eventually(lambda: get(ee, "vm", "pinned", ns), lambda o: phase(o) == "Running" and o["status"]["nodeName"] != node)
        assert after["status"]["stats"]["lastStartTime"] == before["status"]["stats"]["lastStartTime"], "moved live, not restarted"
        done = migrated_disk(ee, ns, "scratch", source, "local")
        target = done["status"]["target"]["persistentVolumeClaimName"]
        volume = get(ee, "pv", claims(ee, ns)[target]["spec"]["volumeName"])
        assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [after["status"]["nodeName"]]
        assert pod_claims(ee, ns, "pinned") == [target]
        assert [o["metadata"]["name"].startswith("evacuation-") for o in operations(ee, ns, "")] == [True]  # the drain's one operation
    finally:
        ee.kubectl("uncordon", node)


def test_ee_a_failed_round_is_reverted_retried_after_the_backoff_and_cancelled_by_the_rollback(ee):
    """The new class has no room for the disk: its target claim is never provisioned, the operation waits for the VM
    to be ready to migrate and fails after 5 minutes (§6.5); the round is reverted with the operation's reason and
    the disk stays on its claim. The next operation comes 5 s after (the backoff); setting the class back deletes it."""
    ns = namespace(ee)
    disk(ee, ns, "big", "shared", size="2Gi")
    before = vm(ee, ns, "stay", ["big"])
    source = ready_disk(ee, ns, "big")["status"]["target"]["persistentVolumeClaimName"]
    watch = Watch(ee, ns, "big")
    watch.seen(lambda o: True)
    patch_class(ee, ns, "big", "small")
    waiting = eventually(lambda: get(ee, "vd", "big", ns), lambda o: (condition(o, "Migrating") or {}).get("reason") == "WaitForTargetReady")
    state = waiting["status"]["migrationState"]
    assert state["sourcePVC"] == source and state["targetPVC"].startswith("d8v-vd-") and "result" not in state
    assert phase(waiting) == "Ready" and condition(waiting, "Migrating")["status"] == "False"
    assert claims(ee, ns)[state["targetPVC"]]["status"]["phase"] == "Pending"  # 2Gi do not fit the class's 1Gi
    first = eventually(lambda: operations(ee, ns), lambda ops: len(ops) == 1 and (condition(ops[0], "Completed") or {}).get("reason")
                       == "WaitingForVirtualMachineToBeReadyToMigrate")[0]  # fmt: skip
    pending = condition(get(ee, "vm", "stay", ns), "Migrating")
    assert (pending["reason"], pending["message"]) == ("Pending", "Migration is awaiting virtual disks to be ready to migrate [big].")
    advance(ee, 310)
    reverted = watch.seen(lambda o: (o["status"].get("migrationState") or {}).get("result") == "Failed")
    state = reverted["status"]["migrationState"]
    assert state["message"].startswith(f"Migration reverted: the VirtualMachineOperation {first['metadata']['name']} (Evict) is Failed")
    assert "Timed out waiting for the virtual machine to be ready to migrate" in state["message"]
    assert reverted["status"]["target"]["persistentVolumeClaimName"] == source and reverted["status"]["storageClassName"] == "shared"
    assert condition(reverted, "Migrating") is None and phase(reverted) == "Ready"
    eventually(lambda: claims(ee, ns), lambda c: state["targetPVC"] not in c)
    assert get(ee, "vm", "stay", ns)["status"]["nodeName"] == before["status"]["nodeName"]
    # retried after the backoff (5 s after the first failed operation)
    ops = eventually(lambda: operations(ee, ns), lambda ops: len(ops) == 2)
    failed_at = condition(get(ee, "vmop", first["metadata"]["name"], ns), "Completed")["lastTransitionTime"]
    second = ops[1]["metadata"]["name"]
    assert ops[1]["metadata"]["creationTimestamp"] >= failed_at
    from datetime import datetime

    gap = datetime.fromisoformat(ops[1]["metadata"]["creationTimestamp"].replace("Z", "+00:00")) - datetime.fromisoformat(failed_at.replace("Z", "+00:00"))
    assert gap.total_seconds() >= 5
    eventually(lambda: get(ee, "vd", "big", ns), lambda o: (condition(o, "Migrating") or {}).get("reason") == "WaitForTargetReady")
    # only the rollback while it migrates
    refused = patch_class(ee, ns, "big", "fast", check=False)
    assert refused.returncode != 0
    assert "the disk is Migrating; until the migration ends its class may only be set back to 'shared' (a rollback)" in refused.stderr
    patch_class(ee, ns, "big", "shared")
    back = watch.seen(lambda o: (o["status"].get("migrationState") or {}).get("message") == "Migration reverted: the storage class was set back to 'shared'.")
    assert back["status"]["target"]["persistentVolumeClaimName"] == source and phase(back) == "Ready"
    watch.stop()
    eventually(lambda: get(ee, "vmop", second, ns), lambda o: o == {})  # the round's operation was deleted
    advance(ee, 30)
    time.sleep(1)
    assert [o["metadata"]["name"] for o in operations(ee, ns)] == [first["metadata"]["name"]], "nothing more to do"


def test_ee_setting_the_class_back_cancels_a_live_migration_in_flight(ee):
    """The guest dirties its memory faster than it is copied: the live migration runs (NotConverging) until the class is
    set back - the operation is deleted, the VM stays where it runs, the target claim goes, the disk stays."""
    ns = namespace(ee)
    disk(ee, ns, "busy", "shared")
    before = vm(ee, ns, "hot", ["busy"])
    source = ready_disk(ee, ns, "busy")["status"]["target"]["persistentVolumeClaimName"]
    admin(ee, "POST", f"/simulator/v1/vms/{ns}/hot/guest", {"action": "dirty-memory", "mibPerSecond": 4096})
    try:
        roll_back_in_flight(ee, ns, before, source)
    finally:  # a guest that never converges would hold up the other tests' drains
        ee.kubectl("delete", "vm", "hot", "-n", ns, "--wait=false")


def roll_back_in_flight(ee, ns, before, source):
    patch_class(ee, ns, "busy", "fast")
    op = eventually(lambda: operations(ee, ns), lambda ops: len(ops) == 1 and phase(ops[0]) == "InProgress"
                    and condition(ops[0], "Completed")["reason"] in ("Syncing", "NotConverging"), 60)[0]  # fmt: skip
    moving = get(ee, "vd", "busy", ns)
    assert phase(moving) == "Migrating" and (condition(moving, "Migrating")["status"], condition(moving, "Migrating")["reason"]) == ("True", "InProgress")
    target = moving["status"]["migrationState"]["targetPVC"]
    assert target in pod_claims(ee, ns, "hot") and source in pod_claims(ee, ns, "hot")  # the target pod mounts the target claim
    patch_class(ee, ns, "busy", "shared")
    back = eventually(lambda: get(ee, "vd", "busy", ns), lambda o: (o["status"].get("migrationState") or {}).get("result") == "Failed", 60)
    assert back["status"]["migrationState"]["message"] == "Migration reverted: the storage class was set back to 'shared'."
    assert back["status"]["target"]["persistentVolumeClaimName"] == source and back["status"]["storageClassName"] == "shared" and phase(back) == "Ready"
    eventually(lambda: get(ee, "vmop", op["metadata"]["name"], ns), lambda o: o == {})
    eventually(lambda: claims(ee, ns), lambda c: target not in c)
    after = get(ee, "vm", "hot", ns)
    assert phase(after) == "Running" and after["status"]["nodeName"] == before["status"]["nodeName"] and pod_claims(ee, ns, "hot") == [source]
    assert where_domain(ee, f"{ns}_hot") == [before["status"]["nodeName"]]


def test_ee_the_webhook_admits_a_migration_only_as_the_platform_does(ee):
    """Refused, naming the field and the rule: a disk no running VM mounts, another volume mode, a class that does not
    exist. Setting the class the disk is on asks for no migration and is admitted."""
    ns = namespace(ee)
    disk(ee, ns, "loose", "shared")
    eventually(lambda: get(ee, "vd", "loose", ns), lambda o: phase(o) == "Ready")
    field = "spec.persistentVolumeClaim.storageClassName: changing the class of a provisioned disk (from 'shared' to 'fast') is a storage migration"
    refused = patch_class(ee, ns, "loose", "fast", check=False)
    assert refused.returncode != 0 and f"{field}, which needs the disk mounted by a running virtual machine (no virtual machine mounts it)" in refused.stderr
    disk(ee, ns, "used", "shared")
    vm(ee, ns, "user", ["used"])
    ready_disk(ee, ns, "used")
    mode = patch_class(ee, ns, "used", "files", check=False)
    assert mode.returncode != 0 and "which keeps the volume mode: 'files' has volume mode Filesystem, 'shared' Block" in mode.stderr
    missing = patch_class(ee, ns, "used", "nowhere", check=False)
    assert missing.returncode != 0 and "and the StorageClass 'nowhere' does not exist" in missing.stderr
    patch_class(ee, ns, "used", "shared")  # the class it is on: no migration
    op = {"kind": "VirtualMachineOperation", "metadata": {"name": "stop"}, "spec": {"type": "Stop", "virtualMachineName": "user"}}
    create(ee, ns, op)
    eventually(lambda: get(ee, "vm", "user", ns), lambda o: phase(o) == "Stopped")
    stopped = patch_class(ee, ns, "used", "fast", check=False)
    assert stopped.returncode != 0 and "needs the disk mounted by a running virtual machine" in stopped.stderr
    assert get(ee, "vd", "used", ns)["spec"]["persistentVolumeClaim"]["storageClassName"] == "shared" and operations(ee, ns) == []


# -- CE ---------------------------------------------------------------------------------------------------------------
def test_ce_refuses_the_class_change_and_a_local_disk_keeps_the_vm_in_place(ce):
    ns = namespace(ce)
    disk(ce, ns, "data", "shared")
    disk(ce, ns, "scratch", "local")
    running = vm(ce, ns, "app", ["data", "scratch"])
    migratable = condition(running, "Migratable")
    assert (migratable["status"], migratable["reason"]) == ("False", "VirtualMachineDisksNotMigratable") and "scratch" in migratable["message"]
    ready_disk(ce, ns, "data")
    refused = patch_class(ce, ns, "data", "fast", check=False)
    assert refused.returncode != 0
    assert ("spec.persistentVolumeClaim.storageClassName: changing the class of a provisioned disk (from 'shared' to 'fast') is a storage migration, "
            "which only the Enterprise Edition offers (this cluster runs CE)") in refused.stderr  # fmt: skip
    assert get(ce, "vd", "data", ns)["status"]["storageClassName"] == "shared" and operations(ce, ns, "") == []


# -- the virtual_disk module --------------------------------------------------------------------------------------------
def vd_task(name, ns, sc, size="1Gi", **kw):
    return {"deckhouse.virtualization.virtual_disk": {"name": name, "namespace": ns, "persistent_volume_claim": {"size": size, "storage_class_name": sc},
                                                      "wait_timeout": 120, **kw}}  # fmt: skip


def module_disks(sim, tmp_path, ns, *disks):
    """The disks (name, class, size) created by the module: it owns their fields (server-side apply)."""
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": f"create {name}", **vd_task(name, ns, sc, size)} for name, sc, size in disks])
    assert run.returncode == 0, run.stdout


def test_module_moves_a_disk_waits_for_the_migration_and_refuses_the_rules(ee, tmp_path):
    ns = namespace(ee)
    module_disks(ee, tmp_path, ns, ("data", "shared", "1Gi"), ("idle", "shared", "1Gi"))
    vm(ee, ns, "app", ["data"])
    source = ready_disk(ee, ns, "data")["status"]["target"]["persistentVolumeClaimName"]
    eventually(lambda: get(ee, "vd", "idle", ns), lambda o: phase(o) == "Ready")
    check = run_playbook(tmp_path, ee.kubeconfig, [{"name": "check move", **vd_task("data", ns, "fast"), "check_mode": True, "diff": True}])
    assert check.returncode == 0, check.stdout
    result = check["check move"]
    assert result["changed"] is True
    assert result["diff"]["before"]["spec"]["persistentVolumeClaim"]["storageClassName"] == "shared"
    assert result["diff"]["after"]["spec"]["persistentVolumeClaim"]["storageClassName"] == "fast"
    assert get(ee, "vd", "data", ns)["spec"]["persistentVolumeClaim"]["storageClassName"] == "shared" and operations(ee, ns) == []
    run = run_playbook(
        tmp_path,
        ee.kubeconfig,
        [
            {"name": "move", **vd_task("data", ns, "fast")},
            {"name": "again", **vd_task("data", ns, "fast")},
            {"name": "not mounted", **vd_task("idle", ns, "fast"), "ignore_errors": True},
            {"name": "other volume mode", **vd_task("data", ns, "files"), "ignore_errors": True},
        ],
    )
    assert run.returncode == 0, run.stdout
    moved = run["move"]
    assert moved["changed"] is True and moved["image"]["phase"] == "Ready" and moved["image"]["storage_class_name"] == "fast"
    assert moved["image"]["migration_state"]["result"] == "Succeeded" and moved["image"]["migration_state"]["sourcePVC"] == source
    assert moved["image"]["persistent_volume_claim_name"] == moved["image"]["migration_state"]["targetPVC"] != source
    assert run["again"]["changed"] is False
    assert run["not mounted"]["failed"] and "persistent_volume_claim.storage_class_name: changing the class of a provisioned disk (from 'shared' to 'fast') " \
        "is a storage migration, which needs the disk mounted by a running virtual machine (no virtual machine mounts it)" in run["not mounted"]["msg"]
    assert run["other volume mode"]["failed"] and "keeps the volume mode" in run["other volume mode"]["msg"]
    assert get(ee, "vd", "idle", ns)["spec"]["persistentVolumeClaim"]["storageClassName"] == "shared", "nothing was written"
    assert len(operations(ee, ns)) == 1


def test_module_reports_a_failed_migration_with_the_platforms_reason(ee, tmp_path):
    ns = namespace(ee)
    module_disks(ee, tmp_path, ns, ("big", "shared", "2Gi"))
    vm(ee, ns, "app", ["big"])
    ready_disk(ee, ns, "big")
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(run_playbook(tmp_path, ee.kubeconfig, [{"name": "move", **vd_task("big", ns, "small", "2Gi")}])))
    thread.start()
    try:
        eventually(lambda: operations(ee, ns), lambda ops: len(ops) == 1 and (condition(ops[0], "Completed") or {}).get("reason")
                   == "WaitingForVirtualMachineToBeReadyToMigrate", 60)  # fmt: skip
        eventually(lambda: get(ee, "vd", "big", ns), lambda o: (condition(o, "Migrating") or {}).get("reason") == "WaitForTargetReady")
        advance(ee, 310)
        thread.join(120)
        assert outcome, "the play ended"
        result = outcome[0]["move"]
        assert result["failed"]
        assert "the storage migration to the class 'small' failed: Migration reverted: the VirtualMachineOperation volume-migration-" in result["msg"]
        assert "Timed out waiting for the virtual machine to be ready to migrate" in result["msg"]
        assert "set persistent_volume_claim.storage_class_name back to 'shared' to stop it" in result["msg"]
    finally:
        thread.join(120)
        patch_class(ee, ns, "big", "shared", check=False)


def test_module_on_ce_fails_naming_the_option_and_the_edition(ce, tmp_path):
    ns = namespace(ce)
    module_disks(ce, tmp_path, ns, ("data", "shared", "1Gi"))
    vm(ce, ns, "app", ["data"])
    ready_disk(ce, ns, "data")
    run = run_playbook(tmp_path, ce.kubeconfig, [{"name": "move", **vd_task("data", ns, "fast")}])
    assert run.returncode != 0
    msg = run["move"]["msg"]
    assert "persistent_volume_claim.storage_class_name: changing the class of a provisioned disk (from 'shared' to 'fast') is a storage migration, " \
        "which only the Enterprise Edition offers (this cluster runs CE)" in msg and "nothing was changed" in msg
    assert get(ce, "vd", "data", ns)["spec"]["persistentVolumeClaim"]["storageClassName"] == "shared"


def test_node_maintenance_drains_a_node_whose_vm_has_a_local_disk(ee, tmp_path):
    """The module's preflight knows that an EE VM's ReadWriteOnce disk moves with it: its volume's node does not pin the
    VM; the drain moves the VM and the disk gets a claim on the new node."""
    ns = namespace(ee)
    disk(ee, ns, "local-root", "local")
    before = vm(ee, ns, "moved", ["local-root"])
    node = before["status"]["nodeName"]
    source = ready_disk(ee, ns, "local-root")["status"]["target"]["persistentVolumeClaimName"]
    nm = "deckhouse.virtualization.node_maintenance"
    run = run_playbook(
        tmp_path,
        ee.kubeconfig,
        [
            {"name": "preflight", nm: {"name": node, "preflight_only": True}},
            {"name": "drain", nm: {"name": node, "wait_timeout": 300}},
            {"name": "uncordon", nm: {"name": node, "state": "uncordoned"}},
        ],
    )
    assert run.returncode == 0, run.stdout[-6000:]
    planned = next(m for m in run["preflight"]["preflight"]["vms"] if m["name"] == "moved")
    assert planned["problems"] == [] and planned["target"] not in (None, node), planned
    report = next(m for m in run["drain"]["vms"] if m["name"] == "moved")
    assert report["result"] == "moved" and report["target"] not in (None, node), report
    migrated_disk(ee, ns, "local-root", source, "local")
