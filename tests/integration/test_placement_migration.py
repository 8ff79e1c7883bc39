"""A placement change of a running VM, by edition (BEHAVIOUR.md §3.2, §7.1, §9; admin guide "Placement settings"),
on two simulators of their own (the same three nodes: red-0, red-1 and teal-0), through kubectl:

- EE: a VM whose node no longer satisfies its class's nodeSelector, or its own nodeSelector / affinity, gets a
  system Evict `nodeplacement-update-*` and is live-migrated to a node that does; nothing waits for a restart. With
  no conforming node the operation fails after the 5-minute preparation timeout (§6.5), the VM stays where it runs,
  and the same placement is not tried again.
- CE: the change waits for a restart per `restartApprovalMode`, with `restartAwaitingChanges` naming the nodeSelector
  the VM runs with and the one it would get."""

from __future__ import annotations

import json
import ssl
import urllib.request
import uuid

import pytest
import yaml

from ..image_sources import FileServer, iso_image
from ..simulator_process import Simulator
from .polling import eventually

G = "virtualization.deckhouse.io/v1alpha2"
NODES = ("red-0", "red-1", "teal-0")
MC = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
      "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
                                                           "virtualMachineCIDRs": ["10.66.30.0/24"]}}}  # fmt: skip
PREFIX = "nodeplacement-update-"


def topology(edition):
    node = {"cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"}
    return {
        "cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16", "edition": edition},
        "nodes": [{"name": name, "labels": {"group": name.split("-", maxsplit=1)[0]}, **node} for name in NODES],
        "storageClasses": [{"name": "shared", "provisioner": "replicated.csi.example.com", "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                            "volumeMode": "Block", "capacity": "1Ti", "default": True},
                           {"name": "local", "provisioner": "local.csi.example.com", "accessModes": ["ReadWriteOnce"], "volumeMode": "Block",
                            "volumeBindingMode": "WaitForFirstConsumer", "capacity": "1Ti"}],
    }  # fmt: skip


def start(tmp_path_factory, edition):
    tmp = tmp_path_factory.mktemp(f"placement-{edition}")
    (tmp / "topology.yaml").write_text(yaml.safe_dump(topology(edition)))
    sim = Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=10.0)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    # the settings take effect once the module has checked them: a VMIP (which needs the CIDRs) is then admitted
    probe = json.dumps({"apiVersion": G, "kind": "VirtualMachineIPAddress", "metadata": {"name": "probe"}, "spec": {"type": "Auto"}})
    eventually(lambda: sim.kubectl("create", "--dry-run=server", "-n", "default", "-f", "-", input=probe, check=False).stderr, lambda err: not err)
    return sim


@pytest.fixture(scope="module")
def iso_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("placement-images")
    iso_image(root / "boot.iso")
    server = FileServer(root)
    yield server
    server.stop()


def with_iso(sim, server):
    name = "boot-" + uuid.uuid4().hex[:6]
    source = {"type": "HTTP", "http": {"url": server.url("boot.iso")}}
    create(sim, "", {"kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": source}})
    eventually(lambda: get(sim, "cvi", name), lambda o: phase(o) == "Ready", 60)
    return name


@pytest.fixture(scope="module")
def ee(tmp_path_factory, iso_server):
    sim = start(tmp_path_factory, "EE")
    sim.iso = with_iso(sim, iso_server)
    yield sim
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def ce(tmp_path_factory, iso_server):
    sim = start(tmp_path_factory, "CE")
    sim.iso = with_iso(sim, iso_server)
    yield sim
    assert sim.stop() == 0


# -- helpers --------------------------------------------------------------------------------------------------------

def admin(sim, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}
    req = urllib.request.Request(sim.server + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=60) as resp:
        return json.load(resp)


def where_domain(sim, name):
    return sorted(node for node in NODES if name in {d["name"] for d in admin(sim, "GET", f"/simulator/v1/nodes/{node}")["domains"]})


def get(sim, kind, name, ns=None):
    result = sim.kubectl("get", kind, name, "-o", "json", *(["-n", ns] if ns else []), check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def create(sim, ns, obj):
    sim.kubectl("apply", *(["-n", ns] if ns else []), "-f", "-", input=json.dumps({"apiVersion": G, **obj}))


def phase(obj):
    return (obj.get("status") or {}).get("phase")


def condition(obj, type_):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def namespace(sim):
    name = "pl-" + uuid.uuid4().hex[:8]
    sim.kubectl("create", "namespace", name)
    return name


def vm_class(sim, selector):
    name = "place-" + uuid.uuid4().hex[:6]
    spec = {"cpu": {"type": "Model", "model": "Nehalem"}, "nodeSelector": selector}
    create(sim, "", {"kind": "VirtualMachineClass", "metadata": {"name": name}, "spec": spec})
    eventually(lambda: get(sim, "vmclass", name), lambda o: phase(o) == "Ready")
    return name


def vm(sim, ns, name, **spec):
    body = {"virtualMachineClassName": "generic", "cpu": {"cores": 1}, "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": sim.iso}], **spec}  # fmt: skip
    create(sim, ns, {"kind": "VirtualMachine", "metadata": {"name": name}, "spec": body})
    return eventually(lambda: get(sim, "vm", name, ns), lambda o: phase(o) == "Running")


def patch(sim, kind, name, ns, spec):
    sim.kubectl("patch", kind, name, *(["-n", ns] if ns else []), "--type", "merge", "-p", json.dumps({"spec": spec}))


def operations(sim, ns):
    return json.loads(sim.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"]


def placement_op(sim, ns, vm_name, done=True):
    """The VM's one nodeplacement-update operation (Completed when `done`)."""

    def read():
        return [o for o in operations(sim, ns) if o["spec"]["virtualMachineName"] == vm_name and o["metadata"]["name"].startswith(PREFIX)]

    ops = eventually(read, lambda ops: len(ops) == 1 and (not done or phase(ops[0]) == "Completed"), 60)
    return ops[0]


def need_restart_column(sim, ns, name):
    """The wide table's NEED RESTART cell ("" while the condition is absent: kubectl prints nothing then)."""
    header, row = sim.kubectl("get", "vm", name, "-n", ns, "-o", "wide").stdout.splitlines()[:2]
    start = header.index("NEED RESTART")
    return row[start : start + len("NEED RESTART")].strip()


def migrated(sim, ns, name, before, nodes):
    """Running on one of `nodes`, moved live (the guest did not restart) and nothing waits for a restart."""
    after = eventually(lambda: get(sim, "vm", name, ns), lambda o: phase(o) == "Running" and o["status"].get("nodeName") in nodes, 60)
    assert after["status"]["stats"]["lastStartTime"] == before["status"]["stats"]["lastStartTime"]
    assert after["status"]["migrationState"]["result"] == "Succeeded"
    assert after["status"]["migrationState"]["source"]["node"] == before["status"]["nodeName"]
    assert "restartAwaitingChanges" not in after["status"] and condition(after, "AwaitingRestartToApplyConfiguration") is None
    assert where_domain(sim, f"{ns}_{name}") == [after["status"]["nodeName"]]
    return after


# -- EE: live migration through nodeplacement-update-* ----------------------------------------------------------------
def test_ee_class_node_selector_change_migrates_the_vms_of_the_class(ee):
    ns, cls = namespace(ee), vm_class(ee, {"matchLabels": {"group": "red"}})
    modes = {"man": "Manual", "aut": "Automatic"}
    before = {name: vm(ee, ns, name, virtualMachineClassName=cls, disruptions={"restartApprovalMode": mode}) for name, mode in modes.items()}
    assert all(b["status"]["nodeName"].startswith("red-") for b in before.values())
    patch(ee, "vmclass", cls, "", {"nodeSelector": {"matchLabels": {"group": "teal"}}})
    for name, b in before.items():
        op = placement_op(ee, ns, name)
        assert op["spec"] == {"type": "Evict", "virtualMachineName": name}
        assert op["metadata"]["annotations"]["virtualization.deckhouse.io/workload-update"] == "true"
        assert condition(op, "Completed")["reason"] == "Completed" and op["status"]["progress"] == "100%"
        migrated(ee, ns, name, b, ("teal-0",))
        assert need_restart_column(ee, ns, name) == ""
    events = ee.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    assert "NodePlacementUpdate" in events and "VMChangesApplied" not in events  # moved, never restarted


def test_ee_vm_node_selector_and_affinity_changes_migrate_the_vm(ee):
    ns = namespace(ee)
    pinned = vm(ee, ns, "pinned", nodeSelector={"kubernetes.io/hostname": "red-0"})
    assert pinned["status"]["nodeName"] == "red-0"
    patch(ee, "vm", "pinned", ns, {"nodeSelector": {"kubernetes.io/hostname": "red-1"}})
    placement_op(ee, ns, "pinned")
    migrated(ee, ns, "pinned", pinned, ("red-1",))

    term = {"matchExpressions": [{"key": "group", "operator": "In", "values": ["red"]}]}
    near = vm(ee, ns, "near", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}})
    assert near["status"]["nodeName"].startswith("red-")
    term["matchExpressions"][0]["values"] = ["teal"]
    patch(ee, "vm", "near", ns, {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}})
    placement_op(ee, ns, "near")
    migrated(ee, ns, "near", near, ("teal-0",))


def test_ee_a_placement_no_node_satisfies_fails_once_and_the_vm_stays(ee):
    ns = namespace(ee)
    before = vm(ee, ns, "nowhere")
    node = before["status"]["nodeName"]
    patch(ee, "vm", "nowhere", ns, {"nodeSelector": {"group": "absent"}})
    op = placement_op(ee, ns, "nowhere", done=False)
    op = eventually(lambda: get(ee, "vmop", op["metadata"]["name"], ns), lambda o: (condition(o, "Completed") or {}).get("reason") == "TargetUnschedulable")
    assert phase(op) == "InProgress" and "didn't match" in condition(op, "Completed")["message"]
    vm_now = get(ee, "vm", "nowhere", ns)
    assert phase(vm_now) == "Running" and vm_now["status"]["nodeName"] == node and "restartAwaitingChanges" not in vm_now["status"]
    admin(ee, "POST", "/simulator/v1/clock/advance", {"seconds": 310})  # past the 5-minute preparation timeout (§6.5)
    op = eventually(lambda: get(ee, "vmop", op["metadata"]["name"], ns), lambda o: phase(o) == "Failed")
    assert condition(op, "Completed")["message"].startswith("Timed out preparing the migration target")
    admin(ee, "POST", "/simulator/v1/clock/advance", {"seconds": 60})
    vm_now = eventually(lambda: get(ee, "vm", "nowhere", ns), lambda o: phase(o) == "Running")
    assert vm_now["status"]["nodeName"] == node and where_domain(ee, f"{ns}_nowhere") == [node]
    assert [o["metadata"]["name"] for o in operations(ee, ns)] == [op["metadata"]["name"]]  # the same placement: not again
    # a placement some node satisfies is tried afresh
    target = next(n for n in NODES if n != node)
    patch(ee, "vm", "nowhere", ns, {"nodeSelector": {"group": None, "kubernetes.io/hostname": target}})  # a merge patch: null removes the key
    eventually(lambda: sorted(phase(o) for o in operations(ee, ns)), lambda phases: phases == ["Completed", "Failed"], 60)
    migrated(ee, ns, "nowhere", before, (target,))


def test_ee_a_vm_with_a_local_disk_moves_with_the_disk(ee):
    """A disk on a ReadWriteOnce, node-local volume does not keep an EE VM from live-migrating (§4.7 Migratable True,
    VirtualMachineDisksShouldBeMigrating): the placement change moves the VM, and the disk to a new volume on the
    target node (the storage migration, controllers/volume_migration.py); nothing waits for a restart."""
    ns = namespace(ee)
    create(ee, ns, {"kind": "VirtualDisk", "metadata": {"name": "rwo"}, "spec": {"persistentVolumeClaim": {"size": "1Gi", "storageClassName": "local"}}})
    before = vm(ee, ns, "local", blockDeviceRefs=[{"kind": "ClusterVirtualImage", "name": ee.iso}, {"kind": "VirtualDisk", "name": "rwo"}])
    assert (condition(before, "Migratable")["status"], condition(before, "Migratable")["reason"]) == ("True", "VirtualMachineDisksShouldBeMigrating")
    source = eventually(lambda: get(ee, "vd", "rwo", ns), lambda o: phase(o) == "Ready")["status"]["target"]["persistentVolumeClaimName"]
    other = next(n for n in NODES if n != before["status"]["nodeName"])
    patch(ee, "vm", "local", ns, {"nodeSelector": {"kubernetes.io/hostname": other}})
    placement_op(ee, ns, "local")
    migrated(ee, ns, "local", before, (other,))
    disk = eventually(lambda: get(ee, "vd", "rwo", ns), lambda o: (o["status"].get("migrationState") or {}).get("result") == "Succeeded")
    assert disk["status"]["target"]["persistentVolumeClaimName"] not in ("", source) and disk["status"]["storageClassName"] == "local"


# -- CE: a restart per restartApprovalMode ------------------------------------------------------------------------------
def test_ce_class_node_selector_change_waits_for_a_restart(ce):
    ns, cls = namespace(ce), vm_class(ce, {"matchLabels": {"group": "red"}})
    man = vm(ce, ns, "man", virtualMachineClassName=cls)
    vm(ce, ns, "aut", virtualMachineClassName=cls, disruptions={"restartApprovalMode": "Automatic"})
    patch(ce, "vmclass", cls, "", {"nodeSelector": {"matchLabels": {"group": "teal"}}})
    waiting = eventually(lambda: get(ce, "vm", "man", ns), lambda o: o["status"].get("restartAwaitingChanges"))
    assert waiting["status"]["restartAwaitingChanges"] == [
        {"operation": "replace", "path": "nodeSelector", "currentValue": {"group": "red"}, "desiredValue": {"group": "teal"}}
    ]
    assert waiting["status"]["nodeName"] == man["status"]["nodeName"] and need_restart_column(ce, ns, "man") == "True"
    aut = eventually(lambda: get(ce, "vm", "aut", ns), lambda o: phase(o) == "Running" and o["status"].get("nodeName") == "teal-0")
    assert "migrationState" not in aut["status"] and where_domain(ce, f"{ns}_aut") == ["teal-0"]  # restarted there, not migrated
    assert operations(ce, ns) == []


def test_ce_a_nodeselector_the_vm_had_not_is_an_add(ce):
    ns = namespace(ce)
    node = vm(ce, ns, "free")["status"]["nodeName"]
    other = next(n for n in NODES if n != node)
    patch(ce, "vm", "free", ns, {"nodeSelector": {"kubernetes.io/hostname": other}})
    waiting = eventually(lambda: get(ce, "vm", "free", ns), lambda o: o["status"].get("restartAwaitingChanges"))
    assert waiting["status"]["restartAwaitingChanges"] == [{"operation": "add", "path": "nodeSelector", "desiredValue": {"kubernetes.io/hostname": other}}]
    assert waiting["status"]["nodeName"] == node and operations(ce, ns) == []
