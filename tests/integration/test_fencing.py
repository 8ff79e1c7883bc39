"""Node faults, fencing and ColdStandby (BEHAVIOUR.md §4.6, §7.6, §7.7; the admin guide's ColdStandby walk-through):
`dvp-sim node fail|recover` against a live simulator, the clock stepped with `dvp-sim clock advance`, and the
invariant of tests/invariants.py checked at every step and, by a sampler, continuously in between (but for the Notify
split brain, which is the violation itself). The guide's workerA / workerB are worker-a / worker-b (Node names
are lowercase RFC 1123)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
import yaml

from ..image_sources import FileServer, iso_image
from ..invariants import InvariantSampler, InvariantViolation, check_invariant
from ..simulator_process import BIN, Simulator
from .polling import eventually

G = "virtualization.deckhouse.io/v1alpha2"
NODES = ["master", "worker-a", "worker-b"]
MODE_LABEL = "node-manager.deckhouse.io/fencing-mode"
MC = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
      "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
                                                           "virtualMachineCIDRs": ["10.66.30.0/24"]}}}  # fmt: skip


def topology(fencing: dict | None, group: str | None = None) -> dict:
    worker = {"cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi", **({"fencing": fencing} if fencing else {})}
    if group:  # the workers form a NodeGroup (node-manager's label), made by the simulator at start
        worker["labels"] = {"node.deckhouse.io/group": group}
    master = {"name": "master", "cpu": {"model": "Nehalem", "cores": 4}, "memory": "8Gi",
              "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}  # fmt: skip
    return {"nodes": [master, {"name": "worker-a", **worker}, {"name": "worker-b", **worker}]}


def start(tmp_path_factory, fencing, group=None):
    tmp = tmp_path_factory.mktemp("fencing")
    (tmp / "topology.yaml").write_text(yaml.safe_dump(topology(fencing, group)))
    # the clock barely moves by itself (1 simulated s per 20 real s): the test steps it, so a slow run cannot
    # push a Lease past a threshold between two steps
    sim = Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=0.05)
    root = tmp / "images"
    root.mkdir()
    iso_image(root / "boot.iso")
    server = FileServer(root)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    cvi = {
        "apiVersion": G,
        "kind": "ClusterVirtualImage",
        "metadata": {"name": "boot"},
        "spec": {"dataSource": {"type": "HTTP", "http": {"url": server.url("boot.iso")}}},
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(cvi))
    eventually(lambda: get(sim, "cvi", "boot"), lambda o: (o.get("status") or {}).get("phase") == "Ready", 60)
    return sim, server


@pytest.fixture(scope="module")
def watchdog(tmp_path_factory):
    sim, server = start(tmp_path_factory, {"enabled": True, "mode": "Watchdog"})
    yield sim
    server.stop()
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def notify(tmp_path_factory):
    sim, server = start(tmp_path_factory, {"enabled": True, "mode": "Notify"})
    yield sim
    server.stop()
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def unfenced(tmp_path_factory):
    sim, server = start(tmp_path_factory, None)
    yield sim
    server.stop()
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """The workers in a NodeGroup `worker` without fencing: the admin turns it on in the NodeGroup."""
    sim, server = start(tmp_path_factory, None, group="worker")
    yield sim
    server.stop()
    assert sim.stop() == 0


# -- helpers --------------------------------------------------------------------------------------------------------

def dvp_sim(sim, *args, check=True):
    result = subprocess.run([str(BIN / "dvp-sim"), *args, "--kubeconfig", str(sim.kubeconfig)], capture_output=True, text=True, timeout=60, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def advance(sim, seconds):
    assert "the clock advanced" in dvp_sim(sim, "clock", "advance", str(seconds)).stdout


def get(sim, kind, name, ns=None):
    result = sim.kubectl("get", kind, name, "-o", "json", *(["-n", ns] if ns else []), check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def vm_status(sim, ns, name):
    return get(sim, "vm", name, ns).get("status") or {}


def ready(node_obj):
    return next((c["status"] for c in (node_obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def invariant(sim):
    return check_invariant(sim, NODES)


def namespace(sim):
    name = "fence-" + uuid.uuid4().hex[:6]
    sim.kubectl("create", "namespace", name)
    return name


def place_on_worker_a(sim, ns, name, policy):
    """linux-vm on worker-a: worker-b cordoned while it starts (master is tainted), then uncordoned."""
    sim.kubectl("cordon", "worker-b")
    spec = {"virtualMachineClassName": "generic", "runPolicy": policy, "cpu": {"cores": 1}, "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "boot"}]}  # fmt: skip
    sim.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": G, "kind": "VirtualMachine", "metadata": {"name": name}, "spec": spec}))
    if policy == "Manual":
        op = {"apiVersion": G, "kind": "VirtualMachineOperation", "metadata": {"name": f"start-{name}"}, "spec": {"virtualMachineName": name, "type": "Start"}}
        sim.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(op))
    running_on(sim, ns, name, "worker-a")
    sim.kubectl("uncordon", "worker-b")
    invariant(sim)


def running_on(sim, ns, name, node, timeout=30.0):
    def read():
        advance(sim, 2)  # step over the boot
        return vm_status(sim, ns, name)

    return eventually(read, lambda s: s.get("phase") == "Running" and s.get("nodeName") == node, timeout)


def fail(sim, node, mode):
    assert f"{mode} fault injected" in dvp_sim(sim, "node", "fail", node, "--mode", mode).stdout


def recover(sim, node):
    assert "recovered" in dvp_sim(sim, "node", "recover", node).stdout
    eventually(lambda: get(sim, "node", node), lambda o: ready(o) == "True" and not (o.get("spec") or {}).get("taints"))
    eventually(lambda: get(sim, "pod", f"virt-handler-{node}", "d8-virtualization"), bool)
    invariant(sim)


def domain_of(ns, name):
    return f"{ns}_{name}"


def lease_renewed(sim, node):
    return get(sim, "lease", node, "kube-node-lease")["spec"]["renewTime"]


# -- the admin guide's ColdStandby walk-through ---------------------------------------------------------------------------
def test_power_loss_is_fenced_and_linux_vm_restarts_on_worker_b(watchdog):
    sim, ns = watchdog, namespace(watchdog)
    with InvariantSampler(sim, NODES):  # the invariant at every sample, not only at the steps
        node = get(sim, "node", "worker-a")
        assert node["metadata"]["labels"]["node-manager.deckhouse.io/fencing-enabled"] == ""
        assert node["metadata"]["labels"]["node-manager.deckhouse.io/fencing-mode"] == "Watchdog"
        assert "node-manager.deckhouse.io/fencing-enabled" not in get(sim, "node", "master")["metadata"]["labels"]
        place_on_worker_a(sim, ns, "linux-vm", "AlwaysOn")
        first_pod = vm_status(sim, ns, "linux-vm")["virtualMachinePods"][0]["name"]
        fail(sim, "worker-a", "power")
        seen, _unused = invariant(sim)
        assert seen["worker-a"] == {"state": "PoweredOff", "domains": []}
        advance(sim, 41)  # past the 40 s grace: the node lifecycle controller marks it Unknown
        node = eventually(lambda: get(sim, "node", "worker-a"), lambda o: ready(o) == "Unknown")
        assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["reason"] == "NodeStatusUnknown"
        assert {t["key"] for t in node["spec"]["taints"]} == {"node.kubernetes.io/unreachable"}
        assert vm_status(sim, ns, "linux-vm")["nodeName"] == "worker-a", "not fenced yet: still bound"
        invariant(sim)
        advance(sim, 20)  # past 60 s: fenced, the Node deleted, its pods force-deleted
        eventually(lambda: sim.kubectl("get", "node", "worker-a", check=False).returncode, lambda rc: rc != 0)
        status = running_on(sim, ns, "linux-vm", "worker-b")
        assert status["virtualMachinePods"][0]["name"] != first_pod, "a cold restart: a new pod"
        assert not get(sim, "pod", "virt-handler-worker-a", "d8-virtualization")
        seen, _unused = invariant(sim)
        assert seen["worker-b"]["domains"] == [domain_of(ns, "linux-vm")] and seen["worker-a"]["state"] == "Fenced"
        recover(sim, "worker-a")
        assert vm_status(sim, ns, "linux-vm")["nodeName"] == "worker-b", "the VM stays where it restarted"


def test_fencing_is_turned_on_in_the_nodegroup_as_the_admin_guide_says(grouped):
    """The guide's requirement, "the Fencing mechanism must be enabled on nodes running the virtual machines", met the
    way an admin meets it: spec.fencing of the nodes' NodeGroup. The group's nodes get the fencing-agent's labels, and a
    power loss is fenced: linux-vm restarts on worker-b; the node is Static, so its Node is kept. Fencing off again takes
    the labels away."""
    sim, ns = grouped, namespace(grouped)
    group = get(sim, "nodegroup", "worker")
    assert group["spec"] == {"nodeType": "Static"} and "fencing-enabled" not in json.dumps(get(sim, "node", "worker-a")["metadata"]["labels"])
    eventually(lambda: get(sim, "node", "worker-a")["metadata"]["labels"], lambda ls: ls.get("node.deckhouse.io/type") == "Static")
    refused = sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", '{"spec": {"nodeType": "CloudEphemeral"}}', check=False)
    assert refused.returncode != 0 and (
        'admission webhook "vnodegroup.deckhouse.io" denied the request: spec.nodeType: Forbidden: nodeType is immutable' in refused.stderr
    ), refused.stderr
    assert eventually(lambda: get(sim, "ng", "worker").get("status") or {}, lambda st: st.get("nodes") == 2)["ready"] == 2
    assert sim.kubectl("get", "ng").stdout.split("\n")[0].split() == ["NAME", "TYPE", "READY", "NODES", "UPTODATE", "AGE", "SYNCED"]
    sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", json.dumps({"spec": {"fencing": {"mode": "Watchdog"}}}))
    for name in ("worker-a", "worker-b"):
        labels = eventually(lambda name=name: get(sim, "node", name)["metadata"]["labels"], lambda ls: ls.get(MODE_LABEL) == "Watchdog")
        assert labels["node-manager.deckhouse.io/fencing-enabled"] == ""
    assert "node-manager.deckhouse.io/fencing-enabled" not in get(sim, "node", "master")["metadata"]["labels"], "master is in no group"
    refused = sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", '{"spec": {"fencing": {"mode": "Reboot"}}}', check=False)
    assert refused.returncode != 0 and 'spec.fencing.mode: Unsupported value: "Reboot"' in refused.stderr, refused.stderr
    with InvariantSampler(sim, NODES):
        place_on_worker_a(sim, ns, "linux-vm", "AlwaysOn")
        fail(sim, "worker-a", "power")
        advance(sim, 61)
        running_on(sim, ns, "linux-vm", "worker-b")
        # a Static node (its group's nodeType): fenced, its pods force-deleted, but its Node kept (BEHAVIOUR.md §7.7)
        node = get(sim, "node", "worker-a")
        assert node and ready(node) == "Unknown", "the Static node's Node is kept, NotReady"
        assert {t["key"] for t in node["spec"]["taints"]} == {"node.kubernetes.io/unreachable"}
        assert not get(sim, "pod", "virt-handler-worker-a", "d8-virtualization"), "its pods are force-deleted"
        fenced = json.loads(sim.kubectl("get", "events", "-A", "--field-selector", "reason=NodeFenced,involvedObject.name=worker-a", "-o", "json").stdout)
        assert [e["message"].endswith("(fencing mode Watchdog); the Node is kept.") for e in fenced["items"]] == [True]
        seen, _unused = invariant(sim)
        assert seen["worker-a"]["state"] == "Fenced", "the watchdog fired all the same"
        recover(sim, "worker-a")
    # the recovered node registers again and is put back in its group's fencing; then the group's fencing is turned off
    eventually(lambda: get(sim, "node", "worker-a")["metadata"]["labels"], lambda ls: ls.get(MODE_LABEL) == "Watchdog")
    sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", '{"spec": {"fencing": null}}')
    for name in ("worker-a", "worker-b"):
        eventually(lambda name=name: get(sim, "node", name)["metadata"]["labels"], lambda ls: "node-manager.deckhouse.io/fencing-enabled" not in ls)


def test_without_fencing_the_vm_stays_bound_to_the_dead_node(unfenced):
    sim, ns = unfenced, namespace(unfenced)
    with InvariantSampler(sim, NODES):  # the invariant at every sample, not only at the steps
        assert "node-manager.deckhouse.io/fencing-enabled" not in get(sim, "node", "worker-a")["metadata"]["labels"]
        place_on_worker_a(sim, ns, "linux-vm", "AlwaysOn")
        fail(sim, "worker-a", "power")
        for _unused in range(3):
            advance(sim, 60)
            invariant(sim)
        assert ready(get(sim, "node", "worker-a")) == "Unknown", "the Node stays, NotReady"
        status = vm_status(sim, ns, "linux-vm")
        assert (status["phase"], status["nodeName"]) == ("Running", "worker-a"), "bound to the dead node, as the platform shows it"
        assert get(sim, "pod", status["virtualMachinePods"][0]["name"], ns), "its pod is not deleted"
        # the node comes back: its virt-launcher pod's container is gone (a crash, §4.6): AlwaysOn restarts it
        recover(sim, "worker-a")
        eventually(lambda: (advance(sim, 2), vm_status(sim, ns, "linux-vm"))[1], lambda s: s.get("phase") == "Running" and s.get("nodeName"))
        invariant(sim)


def test_network_partition_in_watchdog_mode_never_runs_the_vm_twice(watchdog):
    sim, ns = watchdog, namespace(watchdog)
    with InvariantSampler(sim, NODES):  # the invariant at every sample, not only at the steps
        place_on_worker_a(sim, ns, "net-vm", "AlwaysOnUnlessStoppedManually")
        fail(sim, "worker-a", "network")
        seen, _unused = invariant(sim)
        assert seen["worker-a"] == {"state": "NetworkPartitioned", "domains": [domain_of(ns, "net-vm")]}, "partitioned: the guest keeps running"
        before = lease_renewed(sim, "worker-a")
        advance(sim, 30)
        assert lease_renewed(sim, "worker-a") == before, "the Lease is not renewed"
        invariant(sim)
        advance(sim, 35)
        running_on(sim, ns, "net-vm", "worker-b")
        seen, _unused = invariant(sim)
        assert seen["worker-a"]["domains"] == [] and seen["worker-a"]["state"] == "Fenced", "the watchdog destroyed the old domain"
        recover(sim, "worker-a")


def test_kubelet_failure_in_watchdog_mode_and_a_manual_vm_stays_stopped(watchdog):
    sim, ns = watchdog, namespace(watchdog)
    with InvariantSampler(sim, NODES):  # the invariant at every sample, not only at the steps
        place_on_worker_a(sim, ns, "auto", "AlwaysOn")
        place_on_worker_a(sim, ns, "manual", "Manual")
        fail(sim, "worker-a", "kubelet")
        seen, _unused = invariant(sim)
        assert seen["worker-a"]["state"] == "KubeletStopped" and set(seen["worker-a"]["domains"]) == {domain_of(ns, "auto"), domain_of(ns, "manual")}
        advance(sim, 65)
        running_on(sim, ns, "auto", "worker-b")
        eventually(lambda: vm_status(sim, ns, "manual"), lambda s: s.get("phase") == "Stopped" and not s.get("nodeName"))
        seen, _unused = invariant(sim)
        assert seen["worker-a"]["domains"] == []
        recover(sim, "worker-a")
        advance(sim, 120)
        assert vm_status(sim, ns, "manual")["phase"] == "Stopped", "Manual stays down after the node is back"
        invariant(sim)


def test_maintenance_annotation_suspends_fencing(watchdog):
    sim, ns = watchdog, namespace(watchdog)
    with InvariantSampler(sim, NODES):  # the invariant at every sample, not only at the steps
        place_on_worker_a(sim, ns, "kept", "AlwaysOn")
        sim.kubectl("annotate", "node", "worker-a", "node-manager.deckhouse.io/fencing-disable=")
        fail(sim, "worker-a", "network")
        advance(sim, 120)
        time.sleep(0.5)
        assert get(sim, "node", "worker-a"), "the Node is kept"
        assert vm_status(sim, ns, "kept")["nodeName"] == "worker-a"
        invariant(sim)
        sim.kubectl("annotate", "node", "worker-a", "node-manager.deckhouse.io/fencing-disable-")
        advance(sim, 61)
        running_on(sim, ns, "kept", "worker-b")
        invariant(sim)
        recover(sim, "worker-a")


def test_notify_mode_keeps_the_node_and_does_not_touch_its_domains(notify):
    sim, ns = notify, namespace(notify)
    with InvariantSampler(sim, NODES):  # the invariant at every sample, not only at the steps
        assert get(sim, "node", "worker-a")["metadata"]["labels"]["node-manager.deckhouse.io/fencing-mode"] == "Notify"
        place_on_worker_a(sim, ns, "linux-vm", "AlwaysOn")
        fail(sim, "worker-a", "power")
        advance(sim, 65)
        running_on(sim, ns, "linux-vm", "worker-b")
        assert ready(get(sim, "node", "worker-a")) == "Unknown", "Notify keeps the Node"
        assert not get(sim, "pod", "virt-handler-worker-a", "d8-virtualization"), "its pods are force-deleted"
        invariant(sim)
        recover(sim, "worker-a")
        assert vm_status(sim, ns, "linux-vm")["nodeName"] == "worker-b"


def test_notify_mode_on_a_node_merely_cut_off_runs_the_guest_twice_until_recovery(notify):
    """What Notify implies: nothing happens on the node, so a kubelet failure leaves the old domain running while the
    VM restarts elsewhere — the split brain the invariant catches; the recovered node's virt-handler ends it."""
    sim, ns = notify, namespace(notify)
    place_on_worker_a(sim, ns, "twice", "AlwaysOn")
    fail(sim, "worker-a", "kubelet")
    advance(sim, 65)
    running_on(sim, ns, "twice", "worker-b")
    with pytest.raises(InvariantViolation, match=f"domain {domain_of(ns, 'twice')} runs on"):
        invariant(sim)
    recover(sim, "worker-a")  # checks the invariant holds again: the orphan is destroyed
    assert vm_status(sim, ns, "twice")["nodeName"] == "worker-b"


def test_fault_endpoint_refuses_bad_input(watchdog):
    sim = watchdog
    result = dvp_sim(sim, "node", "fail", "nowhere", "--mode", "power", check=False)
    assert result.returncode == 1 and "404" in result.stderr and sim.token not in result.stderr
    assert dvp_sim(sim, "node", "recover", "nowhere", check=False).returncode == 1
    import ssl
    import urllib.error
    import urllib.request

    def post(path, body):
        req = urllib.request.Request(sim.server + path, data=body, method="POST", headers={"Authorization": f"Bearer {sim.token}"})
        try:
            with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    assert post("/simulator/v1/nodes/worker-a/fail", b'{"mode": "flood"}') == 400
    assert post("/simulator/v1/nodes/worker-a/fail", b"[1]") == 400
    assert post("/simulator/v1/nodes/worker-a/fail", b"{") == 400
    assert post("/simulator/v1/nodes/ghost/fail", b'{"mode": "power"}') == 404
    assert "nothing to recover" in dvp_sim(sim, "node", "recover", "worker-b").stdout
    invariant(sim)


def test_a_nodegroups_node_template_reaches_its_nodes(grouped):
    """Deckhouse's nodeTemplate, as an admin dedicates a group's nodes: labels and taints on every node of the group
    (kubectl shows the group as the nodes' role), put back when taken off a node, taken away with the template."""
    sim = grouped
    template = {"labels": {"dedicated": "vms"}, "annotations": {"owner": "team-a"}, "taints": [{"key": "dedicated", "value": "vms", "effect": "NoSchedule"}]}
    for bad in ({"labels": "tier=vm"}, {"taints": [1]}, {"taints": [{"key": "k", "effect": "Sometimes"}]}):  # refused, nothing reaches a node
        refused = sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", json.dumps({"spec": {"nodeTemplate": bad}}), check=False)
        assert refused.returncode != 0 and "spec.nodeTemplate" in refused.stderr, refused.stderr
    sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", json.dumps({"spec": {"nodeTemplate": template}}))

    def templated(node: dict) -> bool:
        meta = node["metadata"]
        return (
            meta["labels"].get("dedicated") == "vms"
            and meta.get("annotations", {}).get("owner") == "team-a"
            and {"key": "dedicated", "value": "vms", "effect": "NoSchedule"} in (node["spec"].get("taints") or [])
        )

    for name in ("worker-a", "worker-b"):
        eventually(lambda name=name: get(sim, "node", name), templated)
    rows = {line.split()[0]: line.split()[2] for line in sim.kubectl("get", "nodes").stdout.splitlines()[1:]}
    assert rows == {"master": "<none>", "worker-a": "worker", "worker-b": "worker"}, rows
    sim.kubectl("label", "node", "worker-a", "dedicated-")
    eventually(lambda: get(sim, "node", "worker-a"), templated)  # put back
    sim.kubectl("patch", "nodegroup", "worker", "--type", "merge", "-p", '{"spec": {"nodeTemplate": null}}')
    for name in ("worker-a", "worker-b"):
        node = eventually(lambda name=name: get(sim, "node", name), lambda n: "dedicated" not in n["metadata"]["labels"])
        assert "owner" not in node["metadata"].get("annotations", {}) and not [t for t in node["spec"].get("taints") or [] if t["key"] == "dedicated"]
