"""ResourceQuota, LimitRange and NetworkPolicy through the real kubectl (which sends their bodies as protobuf), on a
simulator of their own: `kubectl create quota` / `get quota` / `describe quota`, pods and claims refused with
kube-apiserver's exact words, status.used following the namespace, `get limits` / `describe limits` and the
LimitRanger's defaults, `get netpol`; and what the platform makes of a quota: a VirtualDisk whose claim it refuses
(Ready=False QuotaExceeded until the quota is raised), a VirtualMachine whose virt-launcher pod it refuses (Pending,
a FailedCreate event), a VM count limit, the virtual_disk module's wait ending on QuotaExceeded, and who may edit
quotas (RBAC.md: manage_quotas / manage_limits at the admin level, view at every level)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
import yaml

from ..ansible_runner import run_playbook
from ..simulator_process import BIN, Simulator
from .polling import eventually

G = "virtualization.deckhouse.io/v1alpha2"
TOPOLOGY = {
    "cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16"},
    "nodes": [{"name": "node-0", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
              {"name": "node-1", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"}],
    "storageClasses": [
        {"name": "shared", "provisioner": "replicated.csi.example.com", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "volumeMode": "Block",
         "capacity": "1Ti", "default": True},
    ],
}  # fmt: skip
MC = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
      "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}},
                                                           "virtualMachineCIDRs": ["10.66.30.0/24"]}}}  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quota")
    topology = tmp / "topology.yaml"
    topology.write_text(yaml.safe_dump(TOPOLOGY))
    s = Simulator.start(tmp / "state", "--topology", str(topology), time_scale=20.0)
    s.kubectl("apply", "-f", "-", input=json.dumps(MC))
    yield s
    assert s.stop() == 0


@pytest.fixture
def ns(sim):
    name = "q-" + uuid.uuid4().hex[:8]
    sim.kubectl("create", "namespace", name)
    return name


def get(sim, kind, name, ns):
    result = sim.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def ready(obj):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def running(obj):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Running"), {})


def run_pod(sim, ns, name, cpu=None, check=True):
    container = {"name": name, "image": "nginx", **({"resources": {"limits": {"cpu": cpu}}} if cpu else {})}
    return sim.kubectl("run", name, "--image=nginx", "-n", ns, "--overrides", json.dumps({"spec": {"containers": [container]}}), check=check)


def test_kubectl_creates_lists_and_describes_quotas_and_pods_beyond_them_are_refused(sim, ns):
    assert sim.kubectl("create", "quota", "q", "--hard=pods=2,requests.storage=10Gi,limits.cpu=2", "-n", ns).stdout.strip() == "resourcequota/q created"
    table = eventually(lambda: sim.kubectl("get", "quota", "-n", ns).stdout, lambda out: "pods: 0/2" in out)
    assert table.splitlines()[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert table.splitlines()[1].split()[0] == "q" and "pods: 0/2, requests.storage: 0/10Gi   limits.cpu: 0/2" in table
    run_pod(sim, ns, "p1", cpu="500m")
    run_pod(sim, ns, "p2", cpu="700m")
    refused = run_pod(sim, ns, "p3", cpu="500m", check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'
    )
    unstated = run_pod(sim, ns, "p4", check=False)
    assert unstated.stderr.strip() == 'Error from server (Forbidden): pods "p4" is forbidden: failed quota: q: must specify limits.cpu for: p4'
    status = eventually(lambda: get(sim, "resourcequota", "q", ns).get("status") or {}, lambda s: (s.get("used") or {}).get("pods") == "2")
    assert status == {
        "hard": {"pods": "2", "requests.storage": "10Gi", "limits.cpu": "2"},
        "used": {"pods": "2", "requests.storage": "0", "limits.cpu": "1200m"},
    }
    described = sim.kubectl("describe", "quota", "q", "-n", ns).stdout
    assert [line.split() for line in described.splitlines()[2:]] == [
        ["Resource", "Used", "Hard"], ["--------", "----", "----"], ["limits.cpu", "1200m", "2"], ["pods", "2", "2"], ["requests.storage", "0", "10Gi"]
    ]
    sim.kubectl("delete", "pod", "p1", "-n", ns, "--grace-period=0", "--force")
    eventually(lambda: sim.kubectl("get", "quota", "q", "-n", ns).stdout, lambda out: "pods: 1/2" in out and "limits.cpu: 700m/2" in out)
    run_pod(sim, ns, "p3", cpu="500m")  # room again


def test_claims_meet_the_quota_and_the_limit_range(sim, ns):
    sim.kubectl("create", "quota", "storage", "--hard=requests.storage=10Gi,shared.storageclass.storage.k8s.io/persistentvolumeclaims=1", "-n", ns)
    limits = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "claims"},
              "spec": {"limits": [{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "8Gi"}}]}}  # fmt: skip
    sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(limits))

    def claim(name, size):
        body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "shared", "resources": {"requests": {"storage": size}}}}  # fmt: skip
        return sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body), check=False)

    too_big = claim("big", "9Gi")
    assert too_big.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims "big" is forbidden: '
        "maximum storage usage per PersistentVolumeClaim is 8Gi, but request is 9Gi"
    )
    assert claim("first", "6Gi").returncode == 0
    second = claim("second", "5Gi")
    assert second.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims "second" is forbidden: exceeded quota: storage, requested: '
        "requests.storage=5Gi,shared.storageclass.storage.k8s.io/persistentvolumeclaims=1, used: requests.storage=6Gi,"
        "shared.storageclass.storage.k8s.io/persistentvolumeclaims=1, limited: requests.storage=10Gi,"
        "shared.storageclass.storage.k8s.io/persistentvolumeclaims=1"
    )
    used = eventually(lambda: (get(sim, "quota", "storage", ns).get("status") or {}).get("used"), lambda u: u and u.get("requests.storage") == "6Gi")
    assert used == {"requests.storage": "6Gi", "shared.storageclass.storage.k8s.io/persistentvolumeclaims": "1"}


def test_limit_ranges_default_and_bound_containers(sim, ns):
    limits = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "containers"},
              "spec": {"limits": [{"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}, "defaultRequest": {"cpu": "100m"}}]}}  # fmt: skip
    assert sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(limits)).stdout.strip() == "limitrange/containers created"
    listed = sim.kubectl("get", "limits", "-n", ns).stdout.splitlines()
    assert listed[0].split() == ["NAME", "CREATED", "AT"] and listed[1].split()[0] == "containers"
    described = sim.kubectl("describe", "limits", "containers", "-n", ns).stdout
    assert ["Container", "cpu", "-", "1", "100m", "1", "-"] in [line.split() for line in described.splitlines()]
    assert ["Container", "memory", "-", "1Gi", "1Gi", "1Gi", "-"] in [line.split() for line in described.splitlines()]
    run_pod(sim, ns, "web")
    pod = get(sim, "pod", "web", ns)
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web"
    )
    assert pod["status"]["qosClass"] == "Burstable"
    greedy = run_pod(sim, ns, "greedy", cpu="2", check=False)
    assert greedy.stderr.strip() == 'Error from server (Forbidden): pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    bad = {**limits, "metadata": {"name": "bad"}, "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}
    invalid = sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert invalid.stderr.startswith('The LimitRange "bad" is invalid: \n')
    assert (
        '* spec.limits[0].min[cpu]: Invalid value: resource.Quantity{i:resource.int64Amount{value:2, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, '
        's:"2", Format:"DecimalSI"}: min value 2 is greater than max value 1\n'
    ) in invalid.stderr


def test_network_policies_are_served(sim, ns):
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web"},
              "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 443}]}]}}  # fmt: skip
    assert sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(policy)).stdout.strip() == "networkpolicy.networking.k8s.io/web created"
    listed = sim.kubectl("get", "netpol", "-n", ns).stdout.splitlines()
    assert listed[0].split() == ["NAME", "POD-SELECTOR", "AGE"] and listed[1].split()[:2] == ["web", "app=web"]
    stored = get(sim, "networkpolicy", "web", ns)
    ports = [{"port": 443, "protocol": "TCP"}]
    assert stored["spec"] == {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": ports}], "policyTypes": ["Ingress"]}
    assert stored["metadata"]["generation"] == 1
    bad = {**policy, "metadata": {"name": "bad"}, "spec": {"podSelector": {}, "ingress": [{"from": [{}]}]}}
    refused = sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert refused.stderr.strip() == 'The NetworkPolicy "bad" is invalid: spec.ingress[0].from[0]: Required value: must specify a peer'


def disk(sim, ns, name, size):
    body = {"apiVersion": G, "kind": "VirtualDisk", "metadata": {"name": name}, "spec": {"persistentVolumeClaim": {"size": size}}}
    sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body))


def test_a_disk_over_the_storage_quota_is_quota_exceeded_until_the_quota_grows(sim, ns):
    sim.kubectl("create", "quota", "storage", "--hard=requests.storage=1Gi", "-n", ns)
    disk(sim, ns, "big", "2Gi")
    vd = eventually(lambda: get(sim, "vd", "big", ns), lambda o: ready(o).get("reason") == "QuotaExceeded")
    claim = f"vd-big-{vd['metadata']['uid']}"
    assert vd["status"]["phase"] == "Pending" and ready(vd)["status"] == "False"
    assert ready(vd)["message"] == (
        f'Quota exceeded during the creation of the target PersistentVolumeClaim: persistentvolumeclaims "{claim}" is forbidden: '
        "exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=0, limited: requests.storage=1Gi"
    )
    sim.kubectl("patch", "quota", "storage", "-n", ns, "--type", "merge", "-p", json.dumps({"spec": {"hard": {"requests.storage": "5Gi"}}}))
    eventually(lambda: get(sim, "vd", "big", ns), lambda o: (o.get("status") or {}).get("phase") == "Ready", 30)
    eventually(lambda: get(sim, "quota", "storage", ns), lambda o: (o.get("status") or {}).get("used", {}).get("requests.storage") == "2Gi")


def test_the_disk_module_stops_waiting_on_quota_exceeded(sim, ns, tmp_path):
    sim.kubectl("create", "quota", "storage", "--hard=requests.storage=1Gi", "-n", ns)
    params = {"name": "wanted", "namespace": ns, "persistent_volume_claim": {"size": "3Gi"}, "wait": True, "wait_timeout": 300}
    task = {"deckhouse.virtualization.virtual_disk": params}
    started = time.monotonic()
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "disk", **task, "ignore_errors": True}])
    assert time.monotonic() - started < 120, "the wait ended on the refusal, not on its timeout"
    result = run["disk"]
    assert result.get("failed"), result
    assert "phase Pending: QuotaExceeded: Quota exceeded during the creation of the target PersistentVolumeClaim" in result["msg"]
    assert "exceeded quota: storage, requested: requests.storage=3Gi, used: requests.storage=0, limited: requests.storage=1Gi" in result["msg"]


def test_a_vm_whose_pod_the_quota_refuses_stays_pending_and_vm_counts_are_limited(sim, ns):
    count = "count/virtualmachines.virtualization.deckhouse.io"
    sim.kubectl("create", "quota", "vms", f"--hard=pods=0,{count}=1", "-n", ns)
    disk(sim, ns, "root", "1Gi")
    eventually(lambda: get(sim, "vd", "root", ns), lambda o: (o.get("status") or {}).get("phase") == "Ready", 30)
    spec = {"virtualMachineClassName": "generic", "cpu": {"cores": 1}, "memory": {"size": "1Gi"}, "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "root"}]}
    body = {"apiVersion": G, "kind": "VirtualMachine", "metadata": {"name": "vm1"}, "spec": spec}
    sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body))
    vm = eventually(lambda: get(sim, "vm", "vm1", ns), lambda o: "exceeded quota" in running(o).get("message", ""), 30)
    assert vm["status"]["phase"] == "Pending" and running(vm)["reason"] == "PodNotStarted"
    message = running(vm)["message"]
    assert message.startswith('Error creating pod: pods "virt-launcher-vm1-') and message.endswith(
        '" is forbidden: exceeded quota: vms, requested: pods=1, used: pods=0, limited: pods=0'
    )
    events = json.loads(sim.kubectl("get", "events", "-n", ns, "--field-selector", "reason=FailedCreate", "-o", "json").stdout)["items"]
    assert [(e["type"], e["involvedObject"]["name"]) for e in events] == [("Warning", "vm1")]
    assert events[0]["message"].startswith('Error creating pod: pods "virt-launcher-vm1-')
    second = sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps({**body, "metadata": {"name": "vm2"}}), check=False)
    assert second.stderr.strip() == (
        f'Error from server (Forbidden): error when creating "STDIN": virtualmachines.virtualization.deckhouse.io "vm2" is forbidden: '
        f"exceeded quota: vms, requested: {count}=1, used: {count}=1, limited: {count}=1"
    )
    sim.kubectl("patch", "quota", "vms", "-n", ns, "--type", "merge", "-p", json.dumps({"spec": {"hard": {"pods": "1"}}}))
    eventually(lambda: get(sim, "vm", "vm1", ns), lambda o: (o.get("status") or {}).get("phase") == "Running", 30)
    used = eventually(lambda: (get(sim, "quota", "vms", ns).get("status") or {}).get("used"), lambda u: u and u.get("pods") == "1")
    assert used == {"pods": "1", count: "1"}


def test_an_eviction_whose_target_pod_the_quota_refuses_is_quota_exceeded_until_the_quota_grows(sim, ns):
    """§6.5: the operation's reason is QuotaExceeded while the target pod is refused (a FailedCreate event says why), the
    VM runs on; the target pod is tried again, so raising the quota lets the migration finish."""
    sim.kubectl("create", "quota", "pods", "--hard=pods=1", "-n", ns)
    disk(sim, ns, "root", "1Gi")
    spec = {"virtualMachineClassName": "generic", "cpu": {"cores": 1}, "memory": {"size": "1Gi"}, "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "root"}]}
    sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": G, "kind": "VirtualMachine", "metadata": {"name": "vm1"}, "spec": spec}))
    vm = eventually(lambda: get(sim, "vm", "vm1", ns), lambda o: (o.get("status") or {}).get("phase") == "Running", 60)
    source = vm["status"]["nodeName"]
    op = {"apiVersion": G, "kind": "VirtualMachineOperation", "metadata": {"name": "evict"}, "spec": {"type": "Evict", "virtualMachineName": "vm1"}}
    sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(op))

    def completed(o):
        return next((c for c in (o.get("status") or {}).get("conditions") or [] if c["type"] == "Completed"), {})

    vmop = eventually(lambda: get(sim, "vmop", "evict", ns), lambda o: completed(o).get("reason") == "QuotaExceeded", 30)
    assert vmop["status"]["phase"] == "InProgress" and completed(vmop)["status"] == "False"
    message = completed(vmop)["message"]
    assert message.startswith('Error creating pod: pods "virt-launcher-vm1-') and message.endswith(
        '" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1'
    ), message
    events = json.loads(sim.kubectl("get", "events", "-n", ns, "--field-selector", "reason=FailedCreate", "-o", "json").stdout)["items"]
    assert [(e["type"], e["involvedObject"]["name"]) for e in events] == [("Warning", "vm1")]
    assert get(sim, "vm", "vm1", ns)["status"]["nodeName"] == source
    sim.kubectl("patch", "quota", "pods", "-n", ns, "--type", "merge", "-p", json.dumps({"spec": {"hard": {"pods": "2"}}}))
    eventually(lambda: get(sim, "vmop", "evict", ns), lambda o: (o.get("status") or {}).get("phase") == "Completed", 60)
    vm = get(sim, "vm", "vm1", ns)
    assert vm["status"]["phase"] == "Running" and vm["status"]["nodeName"] != source


def test_quota_and_limit_rights_follow_the_role_model(sim, ns):
    """RBAC.md §3.2-3.3: limitranges and resourcequotas readable at every level, writable from admin on; networkpolicies
    writable from manager on; upstream's view / edit / admin read quotas, and only cluster admins write them."""
    uid = uuid.uuid4().hex[:6]
    for level in ("viewer", "manager", "admin"):
        sim.kubectl("create", "rolebinding", level, f"--clusterrole=d8:use:role:{level}:virtualization", f"--user={level}-{uid}", "-n", ns)
    sim.kubectl("create", "rolebinding", "edit", "--clusterrole=edit", f"--user=edit-{uid}", "-n", ns)

    def can(user, verb, resource):
        out = sim.kubectl("auth", "can-i", verb, resource, "-n", ns, "--as", user, check=False).stdout.strip()
        return out == "yes"

    for level in ("viewer", "manager", "admin"):
        assert can(f"{level}-{uid}", "list", "resourcequotas") and can(f"{level}-{uid}", "get", "limitranges"), level
        assert can(f"{level}-{uid}", "get", "networkpolicies.networking.k8s.io"), level
    assert not can(f"manager-{uid}", "create", "resourcequotas") and not can(f"manager-{uid}", "create", "limitranges")
    assert can(f"manager-{uid}", "create", "networkpolicies.networking.k8s.io")
    assert can(f"admin-{uid}", "create", "resourcequotas") and can(f"admin-{uid}", "delete", "limitranges")
    assert can(f"edit-{uid}", "get", "resourcequotas") and not can(f"edit-{uid}", "create", "resourcequotas")
    made = sim.kubectl("create", "quota", "by-admin", "--hard=pods=5", "-n", ns, "--as", f"admin-{uid}", check=False)
    assert made.returncode == 0, made.stderr
    denied = sim.kubectl("create", "quota", "by-manager", "--hard=pods=5", "-n", ns, "--as", f"manager-{uid}", check=False)
    assert f'User "manager-{uid}" cannot create resource "resourcequotas" in API group "" in the namespace "{ns}"' in denied.stderr


def test_importer_pods_meet_the_quota_of_their_namespace(sim, ns):
    """The importer pod the platform starts for an import counts against its namespace's quota: a VirtualDisk's in its
    own (Pending, QuotaExceeded), a ClusterVirtualImage's in the module's (Failed, ProvisioningFailed "Quota
    exceeded: …")."""
    source = {"type": "HTTP", "http": {"url": "http://images.example.com/disk.qcow2"}}
    sim.kubectl("create", "quota", "no-pods", "--hard=pods=0", "-n", ns)
    body = {"apiVersion": G, "kind": "VirtualDisk", "metadata": {"name": "imported"}, "spec": {"dataSource": source}}
    sim.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body))
    vd = eventually(lambda: get(sim, "vd", "imported", ns), lambda o: ready(o).get("reason") == "QuotaExceeded")
    assert vd["status"]["phase"] == "Pending" and ready(vd)["message"] == (
        f'Quota exceeded during the creation of the importer pod: pods "d8v-vd-importer-imported-{vd["metadata"]["uid"]}" is forbidden: '
        "exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0"
    )
    module = "d8-virtualization"
    sim.kubectl("create", "quota", "importers", "--hard=pods=0", "-n", module)
    try:
        name = "cvi-" + uuid.uuid4().hex[:6]
        body = {"apiVersion": G, "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": source}}
        sim.kubectl("create", "-f", "-", input=json.dumps(body))
        cvi = eventually(lambda: json.loads(sim.kubectl("get", "cvi", name, "-o", "json").stdout), lambda o: (o.get("status") or {}).get("phase") == "Failed")
        used = (get(sim, "quota", "importers", module).get("status") or {}).get("used", {}).get("pods")
        assert (ready(cvi)["reason"], ready(cvi)["message"]) == (
            "ProvisioningFailed",
            f'Quota exceeded: pods "d8v-cvi-importer-{name}-{cvi["metadata"]["uid"]}" is forbidden: exceeded quota: importers, requested: pods=1, '
            f"used: pods={used}, limited: pods=0; Please configure quotas or try recreating the resource later.",
        )
    finally:
        sim.kubectl("delete", "quota", "importers", "-n", module)


def test_an_image_failed_on_a_quota_is_tried_again_once_thirty_minutes_old(sim):
    """BEHAVIOUR.md §1.4: a ClusterVirtualImage whose importer pod a quota refused is Failed; the platform tries it again
    every minute, but only once the image is 30 minutes old. Last in this file: it steps the shared simulator's clock."""
    module = "d8-virtualization"
    sim.kubectl("create", "quota", "later", "--hard=pods=0", "-n", module)
    name = "cvi-" + uuid.uuid4().hex[:6]
    source = {"type": "HTTP", "http": {"url": "http://images.example.com/disk.qcow2"}}  # no such server: the import fails
    body = {"apiVersion": G, "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": source}}

    def read():
        return json.loads(sim.kubectl("get", "cvi", name, "-o", "json").stdout)

    try:
        sim.kubectl("create", "-f", "-", input=json.dumps(body))
        eventually(read, lambda o: (o.get("status") or {}).get("phase") == "Failed")
        assert ready(read())["message"].startswith("Quota exceeded: ")
        sim.kubectl("patch", "quota", "later", "-n", module, "--type", "merge", "-p", json.dumps({"spec": {"hard": {"pods": "10"}}}))
        time.sleep(3)  # 60 simulated seconds at ×20: a young image is not tried again
        assert read()["status"]["phase"] == "Failed"
        advance = [str(BIN / "dvp-sim"), "clock", "advance", "1800", "--kubeconfig", str(sim.kubeconfig)]
        assert "the clock advanced" in subprocess.run(advance, capture_output=True, check=True, text=True, timeout=60).stdout
        # tried again: the importer ran (and failed to fetch), a verdict of its own instead of the quota's
        cvi = eventually(read, lambda o: not ready(o).get("message", "").startswith("Quota exceeded: "), 30)
        assert ready(cvi)["message"].startswith("Provisioning failed: "), ready(cvi)
    finally:
        sim.kubectl("delete", "quota", "later", "-n", module)
        sim.kubectl("delete", "cvi", name, "--wait=false", check=False)
