"""Virtual machines against the simulator as a subprocess (the admin guide's topology), through kubectl:
admission, the VM controller (scheduling, virt-launcher pod, a libvirt domain on exactly one node), run
policies and VirtualMachineOperations (BEHAVIOUR.md §4, §5 VM side, §6)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
import uuid

import pytest

from ..image_sources import FileServer, iso_image, qemu_image

MC = """apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata: {name: virtualization}
spec:
  enabled: true
  version: 1
  settings:
    dvcr: {storage: {type: PersistentVolumeClaim, persistentVolumeClaim: {size: 50G}}}
    virtualMachineCIDRs: [10.66.10.0/24]
"""
STORAGE_CLASS = """apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: vm-tests-wffc}
provisioner: local.csi.example.com
volumeBindingMode: WaitForFirstConsumer
"""
# kubectl reads and patches VirtualMachineClasses in the group's preferred version, v1alpha3 (coreFractions as "NN%"
# strings); these tests write the v1alpha2 form (integers), so they name that version, as an admin would
V1ALPHA2_VMCLASS = "virtualmachineclasses.v1alpha2.virtualization.deckhouse.io"
WORKERS = ("blue-0", "blue-1", "green-0", "green-1", "master-0")


def wait(what, check, timeout=40.0, every=0.2):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = what()
        if check(last):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out; last: {json.dumps(last, indent=1)[:3000] if not isinstance(last, str) else last}")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("vm-images")
    qemu_image(root / "disk.qcow2", "qcow2", 64 * 1024 * 1024)
    iso_image(root / "boot.iso")
    server = FileServer(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(cluster, images):
    """The module configured with a CIDR, a WFFC storage class, a CVI from a disk image and an ISO CVI."""
    # The session's cluster is shared: CIDRs another module configured stay (removing one that still has leases is
    # refused, rightly); ours goes first, so this module's VMs get their addresses from it.
    current = json.loads(cluster.kubectl("get", "mc", "virtualization", "-o", "json", check=False).stdout or "{}")
    others = [c for c in ((current.get("spec") or {}).get("settings") or {}).get("virtualMachineCIDRs") or [] if c != "10.66.10.0/24"]
    cluster.kubectl("apply", "-f", "-", input=MC.replace("[10.66.10.0/24]", json.dumps(["10.66.10.0/24", *others])))
    cluster.kubectl("apply", "-f", "-", input=STORAGE_CLASS)
    suffix = uuid.uuid4().hex[:6]
    cvis = {"disk": f"ubuntu-{suffix}", "iso": f"boot-iso-{suffix}"}
    for kind, name in cvis.items():
        url = images.url("disk.qcow2" if kind == "disk" else "boot.iso")
        cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": name},
            "spec": {"dataSource": {"type": "HTTP", "http": {"url": url}}},
        }))  # fmt: skip
    for name in cvis.values():
        wait(lambda n=name: get(cluster, "cvi", n), lambda o: o.get("status", {}).get("phase") == "Ready")
    return cvis


@pytest.fixture
def ns(cluster):
    """A namespace whose VMs are deleted afterwards: the cluster is the session's, and a VM left running holds its node's
    resources (and blocks a drain it cannot leave) for every later file on the same worker."""
    name = "vm-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "vm", "--all", "-n", name, "--wait=false", check=False)


def get(cluster, kind, name, ns=None):
    args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
    result = cluster.kubectl(*args, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def apply(cluster, ns, obj, check=True):
    return cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj), check=check)


def vm_body(name, iso, cores=1, memory="1Gi", **spec):
    body = {"virtualMachineClassName": "generic", "cpu": {"cores": cores}, "memory": {"size": memory},
            "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": iso}]}  # fmt: skip
    body.update(spec)
    labels = body.pop("labels", None)
    meta = {"name": name, **({"labels": labels} if labels else {})}
    return {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachine", "metadata": meta, "spec": body}


def vmop(cluster, ns, vm, kind, force=None, check=True, **extra):
    spec = {"virtualMachineName": vm, "type": kind, **({"force": force} if force is not None else {}), **extra}
    name = f"{kind.lower()}-{vm}-{uuid.uuid4().hex[:5]}"
    result = apply(
        cluster, ns, {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineOperation", "metadata": {"name": name}, "spec": spec}, check
    )
    return name, result


def condition(obj, type_):
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == type_), None)


def phase(obj):
    return obj.get("status", {}).get("phase")


def running(cluster, ns, name, timeout=40.0):
    return wait(lambda: get(cluster, "vm", name, ns), lambda o: phase(o) == "Running", timeout)


def domains(cluster, node):
    ctx = ssl.create_default_context(cafile=str(cluster.ca_file))
    req = urllib.request.Request(f"{cluster.server}/simulator/v1/nodes/{node}", headers={"Authorization": f"Bearer {cluster.token}"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        return {d["name"]: d["state"] for d in json.load(resp)["domains"]}


def where_domain(cluster, name):
    return sorted(node for node in WORKERS if name in domains(cluster, node))


# -- the admin guide's linux-vm -------------------------------------------------------------------------------------
def test_linux_vm_runs_with_node_ip_and_one_domain(cluster, env, ns):
    apply(cluster, ns, {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualDisk", "metadata": {"name": "linux-vm-root"},
                        "spec": {"persistentVolumeClaim": {"size": "10Gi", "storageClassName": "vm-tests-wffc"},
                                 "dataSource": {"type": "ObjectRef", "objectRef": {"kind": "ClusterVirtualImage", "name": env["disk"]}}}})  # fmt: skip
    apply(cluster, ns, vm_body("linux-vm", env["iso"], cores=1, memory="1Gi", blockDeviceRefs=[{"kind": "VirtualDisk", "name": "linux-vm-root"}],
                               runPolicy="AlwaysOnUnlessStoppedManually"))  # fmt: skip
    vm = running(cluster, ns, "linux-vm", 60)
    status = vm["status"]
    node, ip = status["nodeName"], status["ipAddress"]
    assert node in WORKERS and node != "master-0"  # the control-plane taint keeps VMs off it
    assert ip.startswith("10.66.10.") and ip not in ("10.66.10.0", "10.66.10.255")
    assert status["resources"]["cpu"] == {
        "cores": 1,
        "coreFraction": "100%",
        "requestedCores": "1000m",
        "runtimeOverhead": "0",
        "topology": {"sockets": 1, "coresPerSocket": 1},
    }
    assert [p["phase"] for p in status["stats"]["phasesTransitions"]][-2:] == ["Starting", "Running"] and status["stats"]["lastStartTime"]
    assert status["blockDeviceRefs"][0]["attached"] is True and status["blockDeviceRefs"][0]["target"] == "vda"
    table = cluster.kubectl("get", "vm", "linux-vm", "-n", ns).stdout.split()
    assert table[:5] == ["NAME", "PHASE", "UPTIME", "NODE", "IPADDRESS"] and "Running" in table and node in table and ip in table
    assert where_domain(cluster, f"{ns}_linux-vm") == [node]
    assert domains(cluster, node)[f"{ns}_linux-vm"] == "Running"
    pod_name = status["virtualMachinePods"][0]["name"]
    assert pod_name.startswith("virt-launcher-linux-vm-") and len(pod_name) == len("virt-launcher-linux-vm-") + 5
    pod = get(cluster, "pod", pod_name, ns)
    assert pod["spec"]["nodeName"] == node
    assert pod["metadata"]["labels"]["vm.kubevirt.internal.virtualization.deckhouse.io/name"] == "linux-vm"
    assert pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1", "1000m as the API server writes a quantity back"
    vmip = get(cluster, "vmip", status["virtualMachineIPAddressName"], ns)
    assert vmip["metadata"]["ownerReferences"][0]["name"] == "linux-vm" and vmip["status"]["address"] == ip
    # the disk's claim was bound on the VM's node (WaitForFirstConsumer)
    vd = wait(lambda: get(cluster, "vd", "linux-vm-root", ns), lambda o: o.get("status", {}).get("phase") == "Ready")
    claim = vd["status"]["target"]["persistentVolumeClaimName"]
    pvc = get(cluster, "pvc", claim, ns)
    assert pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    # an RWO claim: on EE the disk moves with a live migration (on CE it keeps the VM from migrating)
    assert condition(get(cluster, "vm", "linux-vm", ns), "Migratable")["reason"] == "VirtualMachineDisksShouldBeMigrating"

    # deletion: Terminating, pod and domain gone, the auto VMIP collected; the disk stays
    cluster.kubectl("delete", "vm", "linux-vm", "-n", ns, "--wait=false")
    wait(lambda: get(cluster, "vm", "linux-vm", ns), lambda o: o == {})
    assert where_domain(cluster, f"{ns}_linux-vm") == []
    wait(lambda: cluster.kubectl("get", "pods,vmip", "-n", ns, "-o", "name").stdout, lambda out: out.strip() == "")
    assert get(cluster, "vd", "linux-vm-root", ns)


# -- admission -------------------------------------------------------------------------------------------------------
def test_sizing_policy_admission_and_narrowed_class(cluster, env, ns):
    cls = f"narrow-{ns}"
    policy = {"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi"}, "coreFractions": [20, 50, 100]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineClass",
                    "metadata": {"name": cls}, "spec": {"cpu": {"type": "Host"}, "sizingPolicies": [policy]}}))  # fmt: skip
    wait(lambda: get(cluster, "vmclass", cls), lambda o: phase(o) == "Ready")
    refused = apply(cluster, ns, vm_body("big", env["iso"], cores=2, memory="16Gi", virtualMachineClassName=cls), check=False)
    assert refused.returncode != 0
    assert (
        f'the VirtualMachine does not match the sizing policy of VirtualMachineClass "{cls}": the memory size (16Gi) is out of the range '
        "allowed by the sizing policy; set the memory size (spec.memory.size) between 1Gi and 8Gi"
    ) in refused.stderr
    fraction = apply(cluster, ns, vm_body("frac", env["iso"], cores=2, cpu={"cores": 2, "coreFraction": "30%"}, virtualMachineClassName=cls), check=False)
    assert 'the CPU core fraction "30%" is not allowed' in fraction.stderr
    topo = apply(cluster, ns, vm_body("odd", env["iso"], cores=17), check=False)
    assert "the requested number of cores (17) must be a multiple of 2" in topo.stderr
    meta = apply(cluster, ns, vm_body("meta", env["iso"], labels={"virtualization.deckhouse.io/x": "y"}), check=False)
    assert "reserved for the platform" in meta.stderr
    first = apply(cluster, ns, vm_body("first", env["iso"], blockDeviceRefs=[{"kind": "ClusterVirtualImage", "name": env["disk"]}]), check=False)
    assert "which is not an ISO image" in first.stderr
    # defaulting: coreFraction from the class (100% allowed → 100%)
    apply(cluster, ns, vm_body("fits", env["iso"], cores=2, memory="4Gi", virtualMachineClassName=cls))
    vm = running(cluster, ns, "fits")
    assert vm["spec"]["cpu"]["coreFraction"] == "100%" and condition(vm, "SizingPolicyMatched") is None
    # the class narrows under the running VM: marked, still running, updates refused until it conforms
    narrowed = {**policy, "memory": {"min": "1Gi", "max": "2Gi"}}
    cluster.kubectl("patch", V1ALPHA2_VMCLASS, cls, "--type", "merge", "-p", json.dumps({"spec": {"sizingPolicies": [narrowed]}}))
    vm = wait(lambda: get(cluster, "vm", "fits", ns), lambda o: (condition(o, "SizingPolicyMatched") or {}).get("status") == "False")
    sized = condition(vm, "SizingPolicyMatched")
    assert sized["reason"] == "SizingPolicyNotMatched"
    assert sized["message"].startswith(f'The VirtualMachine does not match the sizing policy of VirtualMachineClass "{cls}": the memory size (4Gi)')
    assert phase(vm) == "Running" and where_domain(cluster, f"{ns}_fits") == [vm["status"]["nodeName"]]
    blocked = cluster.kubectl("label", "vm", "fits", "-n", ns, "team=a", check=False)
    assert blocked.returncode != 0 and "does not match the sizing policy" in blocked.stderr
    cluster.kubectl("patch", "vm", "fits", "-n", ns, "--type", "merge", "-p", '{"spec": {"memory": {"size": "2Gi"}}}')
    vm = wait(lambda: get(cluster, "vm", "fits", ns), lambda o: condition(o, "SizingPolicyMatched") is None)
    changes = vm["status"]["restartAwaitingChanges"]
    assert {"operation": "replace", "path": "memory.size", "currentValue": "4Gi", "desiredValue": "2Gi"} in changes
    assert condition(vm, "AwaitingRestartToApplyConfiguration")["status"] == "True"
    cluster.kubectl("delete", "vm", "fits", "-n", ns)


def test_a_vm_its_class_forbids_does_not_start_until_it_fits(cluster, env, ns):
    """A VM admitted before its class (explicit coreFraction: a warning only) whose class then forbids its size gets
    SizingPolicyMatched=False and is not started; once the class allows it, it starts."""
    cls = f"later-{ns}"
    body = vm_body("early", env["iso"], cores=2, memory="4Gi", cpu={"cores": 2, "coreFraction": "50%"}, virtualMachineClassName=cls)
    admitted = apply(cluster, ns, body)
    assert f'VirtualMachineClass "{cls}" not found: the VirtualMachine will remain in a pending status' in admitted.stderr, admitted.stderr
    vm = wait(lambda: get(cluster, "vm", "early", ns), lambda o: (condition(o, "VirtualMachineClassReady") or {}).get("status") == "False")
    assert phase(vm) == "Pending"
    policy = {"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "2Gi"}, "coreFractions": [50, 100]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineClass",
                    "metadata": {"name": cls}, "spec": {"cpu": {"type": "Host"}, "sizingPolicies": [policy]}}))  # fmt: skip
    vm = wait(lambda: get(cluster, "vm", "early", ns), lambda o: (condition(o, "SizingPolicyMatched") or {}).get("status") == "False")
    assert condition(vm, "SizingPolicyMatched")["reason"] == "SizingPolicyNotMatched"
    time.sleep(1.0)
    vm = get(cluster, "vm", "early", ns)
    assert phase(vm) == "Pending" and not vm["status"].get("nodeName")
    assert cluster.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip() == "", "no virt-launcher pod for a VM that does not fit"
    cluster.kubectl(
        "patch", V1ALPHA2_VMCLASS, cls, "--type", "merge", "-p", json.dumps({"spec": {"sizingPolicies": [{**policy, "memory": {"min": "1Gi", "max": "8Gi"}}]}})
    )
    vm = running(cluster, ns, "early")
    assert condition(vm, "SizingPolicyMatched") is None
    cluster.kubectl("delete", "vm", "early", "-n", ns)


# -- scheduling ------------------------------------------------------------------------------------------------------
def test_a_vm_that_fits_nowhere_stays_pending_with_the_reason(cluster, env, ns):
    apply(cluster, ns, vm_body("huge", env["iso"], cores=16, memory="200Gi"))
    vm = wait(lambda: get(cluster, "vm", "huge", ns), lambda o: (condition(o, "Running") or {}).get("reason") == "PodNotStarted")
    assert phase(vm) == "Pending" and not vm["status"].get("nodeName")
    assert "Insufficient memory" in condition(vm, "Running")["message"] and condition(vm, "Running")["message"].startswith("0/5 nodes are available")
    assert cluster.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip() == ""


def test_cordon_keeps_new_vms_off_a_node(cluster, env, ns):
    cluster.kubectl("cordon", "blue-0")
    try:
        for i in range(3):
            apply(cluster, ns, vm_body(f"c{i}", env["iso"], nodeSelector={"group": "blue"}))
        nodes = {running(cluster, ns, f"c{i}")["status"]["nodeName"] for i in range(3)}
        assert nodes == {"blue-1"}
    finally:
        cluster.kubectl("uncordon", "blue-0")


def test_anti_affinity_spreads_two_vms(cluster, env, ns):
    anti = {"virtualMachineAndPodAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}]}}  # fmt: skip
    for name in ("s1", "s2"):
        apply(cluster, ns, vm_body(name, env["iso"], labels={"app": "spread"}, nodeSelector={"group": "green"}, affinity=anti))
    nodes = sorted(running(cluster, ns, n)["status"]["nodeName"] for n in ("s1", "s2"))
    assert nodes == ["green-0", "green-1"]
    apply(cluster, ns, vm_body("s3", env["iso"], labels={"app": "spread"}, nodeSelector={"group": "green"}, affinity=anti))
    vm = wait(lambda: get(cluster, "vm", "s3", ns), lambda o: (condition(o, "Running") or {}).get("reason") == "PodNotStarted")
    assert "anti-affinity" in condition(vm, "Running")["message"]


# -- operations and run policies -------------------------------------------------------------------------------------
def op_phase(cluster, ns, name, want, timeout=40.0):
    return wait(lambda: get(cluster, "vmop", name, ns), lambda o: phase(o) == want, timeout)


def test_stop_start_restart_operations(cluster, env, ns):
    apply(cluster, ns, vm_body("ops", env["iso"]))
    vm = running(cluster, ns, "ops")
    first_pod = vm["status"]["virtualMachinePods"][0]["name"]
    stop, _unused = vmop(cluster, ns, "ops", "Stop")
    done = op_phase(cluster, ns, stop, "Completed")
    assert condition(done, "Completed")["reason"] == "OperationCompleted" and condition(done, "SignalSent")["status"] == "True"
    vm = get(cluster, "vm", "ops", ns)
    assert phase(vm) == "Stopped" and not vm["status"].get("nodeName") and where_domain(cluster, f"{ns}_ops") == []
    assert "Stopping" in [p["phase"] for p in vm["status"]["stats"]["phasesTransitions"]]  # graceful: Stopping first
    # stays stopped (AlwaysOnUnlessStoppedManually): a Stop now is not applicable in phase Stopped
    again, _unused = vmop(cluster, ns, "ops", "Stop")
    assert condition(op_phase(cluster, ns, again, "Failed"), "Completed")["reason"] == "NotApplicableForVirtualMachinePhase"
    start, _unused = vmop(cluster, ns, "ops", "Start")
    op_phase(cluster, ns, start, "Completed")
    vm = running(cluster, ns, "ops")
    assert where_domain(cluster, f"{ns}_ops") == [vm["status"]["nodeName"]]
    before = vm["status"]["virtualMachinePods"][0]["name"]
    assert before != first_pod
    restart, _unused = vmop(cluster, ns, "ops", "Restart")
    op_phase(cluster, ns, restart, "Completed")
    vm = running(cluster, ns, "ops")
    assert vm["status"]["virtualMachinePods"][0]["name"] != before
    forced, _unused = vmop(cluster, ns, "ops", "Stop", force=True)
    op_phase(cluster, ns, forced, "Completed")
    assert "Stopping" not in [p["phase"] for p in get(cluster, "vm", "ops", ns)["status"]["stats"]["phasesTransitions"][-2:]]


def test_a_migration_is_superseded_by_stop_and_refuses_start(cluster, env, ns):
    apply(cluster, ns, vm_body("mig", env["iso"], memory="32Gi"))
    running(cluster, ns, "mig")
    evict, _unused = vmop(cluster, ns, "mig", "Evict")
    op = wait(lambda: get(cluster, "vmop", evict, ns), lambda o: condition(o, "Completed") and condition(o, "Completed")["reason"] == "Syncing")
    assert phase(op) == "InProgress"
    node = get(cluster, "vm", "mig", ns)["status"]["migrationState"]["source"]["node"]
    refused = vmop(cluster, ns, "mig", "Start", check=False)[1]
    assert refused.returncode != 0 and "should finish first" in refused.stderr
    # Stop may supersede a migration (§6.2): the migration is cancelled; the Stop itself meets a Migrating VM, a
    # phase it does not apply to (§6.3 checks the supersede first, then the phase)
    stop, _unused = vmop(cluster, ns, "mig", "Stop", force=True)
    assert condition(op_phase(cluster, ns, stop, "Failed"), "Completed")["reason"] == "NotApplicableForVirtualMachinePhase"
    assert phase(get(cluster, "vmop", evict, ns)) == "Superseded"
    vm = running(cluster, ns, "mig")
    assert vm["status"]["nodeName"] == node and vm["status"]["migrationState"]["result"] == "Failed"
    stop, _unused = vmop(cluster, ns, "mig", "Stop", force=True)
    op_phase(cluster, ns, stop, "Completed")


def test_run_policies(cluster, env, ns):
    apply(cluster, ns, vm_body("manual", env["iso"], runPolicy="Manual"))
    apply(cluster, ns, vm_body("off", env["iso"], runPolicy="AlwaysOff"))
    apply(cluster, ns, vm_body("on", env["iso"], runPolicy="AlwaysOn"))
    for name in ("manual", "off"):
        wait(lambda n=name: get(cluster, "vm", n, ns), lambda o: phase(o) == "Stopped")
    running(cluster, ns, "on")
    start, _unused = vmop(cluster, ns, "on", "Start")
    assert condition(op_phase(cluster, ns, start, "Failed"), "Completed")["reason"] == "NotApplicableForVirtualMachineRunPolicy"
    off_start, _unused = vmop(cluster, ns, "off", "Start")
    assert condition(op_phase(cluster, ns, off_start, "Failed"), "Completed")["reason"] == "NotApplicableForVirtualMachineRunPolicy"
    manual_start, _unused = vmop(cluster, ns, "manual", "Start")
    op_phase(cluster, ns, manual_start, "Completed")
    running(cluster, ns, "manual")
    # a restart of an AlwaysOn VM is allowed; AlwaysOff turns a running VM off
    restart, _unused = vmop(cluster, ns, "on", "Restart")
    op_phase(cluster, ns, restart, "Completed")
    cluster.kubectl("patch", "vm", "manual", "-n", ns, "--type", "merge", "-p", '{"spec": {"runPolicy": "AlwaysOff"}}')
    vm = wait(lambda: get(cluster, "vm", "manual", ns), lambda o: phase(o) == "Stopped")
    assert where_domain(cluster, f"{ns}_manual") == [] and "restartAwaitingChanges" not in vm["status"]


def test_restart_awaiting_changes_manual_and_automatic(cluster, env, ns):
    apply(cluster, ns, vm_body("await", env["iso"]))
    apply(cluster, ns, vm_body("auto", env["iso"], disruptions={"restartApprovalMode": "Automatic"}))
    running(cluster, ns, "await")
    pod_before = running(cluster, ns, "auto")["status"]["virtualMachinePods"][0]["name"]
    for name in ("await", "auto"):
        cluster.kubectl("patch", "vm", name, "-n", ns, "--type", "merge", "-p", '{"spec": {"cpu": {"cores": 2}}}')
    vm = wait(lambda: get(cluster, "vm", "await", ns), lambda o: o["status"].get("restartAwaitingChanges"))
    assert vm["status"]["restartAwaitingChanges"] == [{"operation": "replace", "path": "cpu.cores", "currentValue": 1, "desiredValue": 2}]
    assert vm["status"]["resources"]["cpu"]["cores"] == 1 and phase(vm) == "Running"
    table = cluster.kubectl("get", "vm", "await", "-n", ns, "-o", "wide").stdout
    assert "NEED RESTART" in table and "True" in table
    auto = wait(lambda: get(cluster, "vm", "auto", ns), lambda o: o["status"].get("resources", {}).get("cpu", {}).get("cores") == 2 and phase(o) == "Running")
    assert auto["status"]["virtualMachinePods"][0]["name"] != pod_before and "restartAwaitingChanges" not in auto["status"]
    events = cluster.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=auto", "-o", "json").stdout
    assert "VMChangesApplied" in events
    restart, _unused = vmop(cluster, ns, "await", "Restart")
    op_phase(cluster, ns, restart, "Completed")
    vm = running(cluster, ns, "await")
    assert vm["status"]["resources"]["cpu"]["cores"] == 2 and "restartAwaitingChanges" not in vm["status"]
    assert condition(vm, "AwaitingRestartToApplyConfiguration") is None


def test_class_node_selector_change_migrates_the_vms_on_ee(cluster, env, ns):
    """§3.2, §7.1, §9 on the admin guide's (EE) cluster: a VM whose node no longer satisfies its class's nodeSelector
    is live-migrated by a system Evict `nodeplacement-update-*`, whatever its restartApprovalMode, and waits for no
    restart (CE's restart: test_placement_migration.py, with the cases of the VM's own placement)."""
    cls = f"place-{ns}"
    spec = {"cpu": {"type": "Model", "model": "Nehalem"}, "nodeSelector": {"matchLabels": {"group": "blue"}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineClass",
                    "metadata": {"name": cls}, "spec": spec}))  # fmt: skip
    wait(lambda: get(cluster, "vmclass", cls), lambda o: phase(o) == "Ready")
    apply(cluster, ns, vm_body("man", env["iso"], virtualMachineClassName=cls))
    apply(cluster, ns, vm_body("aut", env["iso"], virtualMachineClassName=cls, disruptions={"restartApprovalMode": "Automatic"}))
    before = {name: running(cluster, ns, name) for name in ("man", "aut")}
    assert all(b["status"]["nodeName"].startswith("blue-") for b in before.values())
    cluster.kubectl("patch", "vmclass", cls, "--type", "merge", "-p", '{"spec": {"nodeSelector": {"matchLabels": {"group": "green"}}}}')
    ops = wait(lambda: json.loads(cluster.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"],
               lambda items: len(items) == 2 and all(phase(o) == "Completed" for o in items), 60)  # fmt: skip
    assert sorted(o["spec"]["virtualMachineName"] for o in ops) == ["aut", "man"]
    assert all(o["metadata"]["name"].startswith("nodeplacement-update-") and o["spec"]["type"] == "Evict" for o in ops)
    for name, b in before.items():
        vm = wait(lambda n=name: get(cluster, "vm", n, ns), lambda o: phase(o) == "Running" and o["status"].get("nodeName", "").startswith("green-"))
        assert vm["status"]["migrationState"]["source"]["node"] == b["status"]["nodeName"] and vm["status"]["migrationState"]["result"] == "Succeeded"
        assert vm["status"]["stats"]["lastStartTime"] == b["status"]["stats"]["lastStartTime"]  # moved live, not restarted
        assert "restartAwaitingChanges" not in vm["status"] and condition(vm, "AwaitingRestartToApplyConfiguration") is None
        assert where_domain(cluster, f"{ns}_{name}") == [vm["status"]["nodeName"]]


def test_ee_edition_accepts_targeted_migration(cluster, ns):
    """§6.2: migrate.nodeSelector is refused only on CE (test_vm_lifecycle.py runs a CE cluster); this one is EE."""
    name, result = vmop(cluster, ns, "absent", "Migrate", migrate={"nodeSelector": {"kubernetes.io/hostname": "blue-0"}})
    assert result.returncode == 0 and get(cluster, "vmop", name, ns)["spec"]["migrate"]["nodeSelector"] == {"kubernetes.io/hostname": "blue-0"}
