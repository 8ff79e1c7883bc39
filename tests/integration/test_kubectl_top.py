"""`kubectl top` against the simulator: the resource metrics API (metrics.k8s.io/v1beta1, api/metrics.py) through the
real kubectl — top node, top pod (with selectors and containers), get / explain of NodeMetrics and PodMetrics — and
through the kubernetes Python client's CustomObjectsApi; usage is each running container's requests, a node's the
sum of its running pods'; what cannot be scraped (a node that is not Ready, a pod that is not Running) has no metrics;
metrics-server's refusals (405 on writes and watches, 400 on an unsupported field label, 404s in its words); RBAC
on the group as on any other."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid

import pytest
import yaml
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from . import iso_vms
from .test_vm_lifecycle import get

M = "/apis/metrics.k8s.io/v1beta1"
VM_LABEL = iso_vms.VM_LABEL
NODES = [
    {"name": "top-0", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
    {"name": "top-1", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
]
VMS = {"web": {"cores": 2, "coreFraction": "50%", "memory": "2Gi"}, "db": {"cores": 4, "coreFraction": "100%", "memory": "4Gi"}}


@pytest.fixture(scope="module")
def top(tmp_path_factory):
    """A simulator with two VMs Running in one namespace: {"sim", "ns", "pods": {vm: pod name}}."""
    with iso_vms.running(tmp_path_factory.mktemp("top"), "top", NODES, "10.66.40.0/24", VMS) as cluster:
        yield cluster


def items(sim, *args):
    return json.loads(sim.kubectl("get", *args, "-o", "json").stdout)["items"]


def raw(sim, path, check=True):
    result = sim.kubectl("get", "--raw", path, check=check)
    return json.loads(result.stdout) if result.returncode == 0 else result


def requested(pods):
    """(millicores, bytes) the Running pods among `pods` request, their containers summed."""
    cpu = memory = 0
    for pod in pods:
        if pod["status"].get("phase") != "Running":
            continue
        for container in pod["spec"]["containers"]:
            req = (container.get("resources") or {}).get("requests") or {}
            cpu += int(parse_quantity(req.get("cpu", 0)) * 1000)
            memory += int(parse_quantity(req.get("memory", 0)))
    return cpu, memory


def table(text):
    lines = text.strip().splitlines()
    return lines[0].split(), [line.split() for line in lines[1:]]


def test_top_node_shows_what_each_nodes_running_pods_request(top):
    sim = top["sim"]
    nodes = {n["metadata"]["name"]: n for n in items(sim, "nodes")}
    listed = raw(sim, f"{M}/nodes")
    assert listed["kind"] == "NodeMetricsList" and listed["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert [m["metadata"]["name"] for m in listed["items"]] == sorted(nodes) == ["top-0", "top-1"]
    header, rows = table(sim.kubectl("top", "node").stdout)
    assert header == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    shown = {row[0]: row for row in rows}
    for metric in listed["items"]:
        name = metric["metadata"]["name"]
        cpu, memory = requested(items(sim, "pods", "-A", "--field-selector", f"spec.nodeName={name}"))
        assert parse_quantity(metric["usage"]["cpu"]) * 1000 == cpu and parse_quantity(metric["usage"]["memory"]) == memory
        assert metric["window"] == "15s" and metric["timestamp"].endswith("Z") and metric["metadata"]["labels"] == nodes[name]["metadata"]["labels"]
        allocatable = nodes[name]["status"]["allocatable"]
        assert shown[name][1] == f"{cpu}m" and shown[name][3] == f"{memory // (1 << 20)}Mi"
        assert shown[name][2] == f"{cpu * 100 // int(parse_quantity(allocatable['cpu']) * 1000)}%"
    one = raw(sim, f"{M}/nodes/top-0")
    assert one["kind"] == "NodeMetrics" and one["usage"] == next(m["usage"] for m in listed["items"] if m["metadata"]["name"] == "top-0")
    assert sum(parse_quantity(m["usage"]["cpu"]) for m in listed["items"]) * 1000 == requested(items(sim, "pods", "-A"))[0]
    selected = raw(sim, f"{M}/nodes?labelSelector=kubernetes.io/hostname=top-1")
    assert [m["metadata"]["name"] for m in selected["items"]] == ["top-1"]


def test_top_pod_shows_each_vms_virt_launcher(top):
    sim, ns, pods = top["sim"], top["ns"], top["pods"]
    header, rows = table(sim.kubectl("top", "pod", "-n", ns).stdout)
    assert header == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    shown = {row[0]: row[1:] for row in rows}
    assert sorted(shown) == sorted(pods.values())
    for vm, pod_name in pods.items():
        cpu, memory = requested([get(sim, "pod", pod_name, ns)])
        # a VM's share: its cores at its core fraction, its memory with the virt-launcher's overhead on top
        assert cpu == VMS[vm]["cores"] * int(VMS[vm]["coreFraction"].rstrip("%")) * 10
        assert memory > parse_quantity(VMS[vm]["memory"])
        assert shown[pod_name] == [f"{cpu}m", f"{memory // (1 << 20)}Mi"]
    header, rows = table(sim.kubectl("top", "pod", "-n", ns, "-l", f"{VM_LABEL}=web", "--containers").stdout)
    assert header == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [row[:2] for row in rows] == [[pods["web"], "compute"]]
    everywhere = raw(sim, f"{M}/pods")
    assert everywhere["kind"] == "PodMetricsList"
    keys = [(m["metadata"]["namespace"], m["metadata"]["name"]) for m in everywhere["items"]]
    assert keys == sorted(keys) and {(ns, p) for p in pods.values()} <= set(keys)
    assert any(key[0] == "d8-virtualization" for key in keys), "the nodes' virt-handler pods run too"
    one = raw(sim, f"{M}/namespaces/{ns}/pods/{pods['db']}")
    assert one["kind"] == "PodMetrics" and [c["name"] for c in one["containers"]] == ["compute"]
    by_name = raw(sim, f"{M}/namespaces/{ns}/pods?fieldSelector=metadata.name={pods['db']}")
    assert [m["metadata"]["name"] for m in by_name["items"]] == [pods["db"]]


def test_kubectl_get_and_explain_read_the_metrics_kinds(top):
    sim, ns, pods = top["sim"], top["ns"], top["pods"]
    resources = sim.kubectl("api-resources", "--api-group", "metrics.k8s.io", "-o", "wide").stdout
    assert "nodes" in resources and "NodeMetrics" in resources and "PodMetrics" in resources and "get,list" in resources
    header, rows = table(sim.kubectl("get", "podmetrics", "-n", ns).stdout)
    assert header == ["NAME", "CPU", "MEMORY", "WINDOW"] and sorted(row[0] for row in rows) == sorted(pods.values())
    header, rows = table(sim.kubectl("get", "nodes.metrics.k8s.io").stdout)
    assert header == ["NAME", "CPU", "MEMORY", "WINDOW"] and [row[0] for row in rows] == ["top-0", "top-1"]
    as_yaml = yaml.safe_load(sim.kubectl("get", "nodemetrics", "top-1", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "NodeMetrics" and set(as_yaml["usage"]) == {"cpu", "memory"}
    explained = sim.kubectl("explain", "podmetrics.containers").stdout
    assert "KIND:       PodMetrics" in explained and "usage" in explained and "Container name" in explained


def test_the_kubernetes_client_reads_them(top):
    sim, ns, pods = top["sim"], top["ns"], top["pods"]
    api = client.CustomObjectsApi(config.new_client_from_config(str(sim.kubeconfig)))
    nodes = api.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert [n["metadata"]["name"] for n in nodes["items"]] == ["top-0", "top-1"]
    web = api.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods", pods["web"])
    assert web["containers"][0]["usage"]["cpu"] == "1"  # 2 cores at 50%
    # the dynamic client (kubernetes.core's) finds the kinds through discovery
    dynamic = DynamicClient(config.new_client_from_config(str(sim.kubeconfig)))
    pod_metrics = dynamic.resources.get(api_version="metrics.k8s.io/v1beta1", kind="PodMetrics")
    assert pod_metrics.namespaced and pod_metrics.name == "pods"
    listed = pod_metrics.get(namespace=ns, label_selector=f"{VM_LABEL}=db").to_dict()
    assert [m["metadata"]["name"] for m in listed["items"]] == [pods["db"]]


def test_what_cannot_be_scraped_has_no_metrics(top):
    sim, ns = top["sim"], top["ns"]
    pending = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "waits", "namespace": ns},
               "spec": {"nodeSelector": {"no-such": "node"}, "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "1"}}}]}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(pending))
    gone = raw(sim, f"{M}/namespaces/{ns}/pods/waits", check=False)
    assert gone.returncode != 0 and f'podmetrics.metrics.k8s.io "{ns}/waits" not found' in gone.stderr
    assert "waits" not in sim.kubectl("top", "pod", "-n", ns).stdout
    missing = raw(sim, f"{M}/namespaces/{ns}/pods/nobody", check=False)
    assert missing.returncode != 0 and 'pods "nobody" not found' in missing.stderr
    # a Node made by hand has no kubelet: never Ready, so nothing to scrape
    sim.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "by-hand"}}))
    try:
        by_hand = raw(sim, f"{M}/nodes/by-hand", check=False)
        assert by_hand.returncode != 0 and 'nodemetrics.metrics.k8s.io "by-hand" not found' in by_hand.stderr
        assert [m["metadata"]["name"] for m in raw(sim, f"{M}/nodes")["items"]] == ["top-0", "top-1"]
        header, rows = table(sim.kubectl("top", "node").stdout)
        assert ["by-hand", "<unknown>", "<unknown>", "<unknown>", "<unknown>"] in rows
        absent = raw(sim, f"{M}/nodes/no-such-node", check=False)
        assert absent.returncode != 0 and 'nodes "no-such-node" not found' in absent.stderr
    finally:
        sim.kubectl("delete", "node", "by-hand")
        sim.kubectl("delete", "pod", "waits", "-n", ns, "--wait=false")


def test_metrics_server_refusals(top):
    sim, ns = top["sim"], top["ns"]

    def call(method, path, body=None):
        headers = {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{sim.server}{path}", data=data, method=method, headers=headers)
        try:
            urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        raise AssertionError(f"{method} {path} was accepted")

    status, body = call("POST", f"{M}/namespaces/{ns}/pods", {"kind": "PodMetrics", "metadata": {"name": "x"}})
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    status, body = call("DELETE", f"{M}/nodes/top-0")
    assert status == 405
    status, body = call("GET", f"{M}/namespaces/{ns}/pods?watch=true")
    assert status == 405 and body["message"] == 'watch is not supported on resources of kind "podmetrics.metrics.k8s.io"'
    status, body = call("GET", f"{M}/pods?fieldSelector=spec.nodeName%3Dtop-0")
    assert status == 400 and body["message"] == "field label not supported: spec.nodeName"
    status, body = call("GET", f"{M}/nodes?labelSelector=a%3D%3D%3Db")
    assert status == 400
    status, body = call("GET", f"{M}/namespaces/{ns}/nodes")
    assert status == 404
    status, body = call("GET", f"{M}/services")
    assert status == 404
    status, body = call("GET", f"{M}/pods/{top['pods']['web']}")
    assert status == 404 and body["message"] == "the server could not find the requested resource", "a pod is read in its namespace"
    assert get(sim, "node", "top-0")["metadata"]["name"] == "top-0", "nothing changed"


def test_rbac_applies_to_the_metrics_group(top, tmp_path):
    sim, ns = top["sim"], top["ns"]
    user, kc = "viewer-" + uuid.uuid4().hex[:6], tmp_path / "user.kubeconfig"
    sim.add_user(user, kc, namespace=ns)
    sim.kubectl("create", "rolebinding", "manage", "--clusterrole", "d8:use:role:manager:virtualization", "--user", user, "-n", ns)
    kubectl = ("--kubeconfig", str(kc))
    denied = sim.kubectl(*kubectl, "top", "pod", "-n", ns, check=False)
    assert denied.returncode != 0
    assert f'pods.metrics.k8s.io is forbidden: User "{user}" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "{ns}"' in denied.stderr
    sim.kubectl("create", "role", "metrics-reader", "--verb", "get,list", "--resource", "pods.metrics.k8s.io", "-n", ns)
    sim.kubectl("create", "rolebinding", "metrics-reader", "--role", "metrics-reader", "--user", user, "-n", ns)
    allowed = sim.kubectl(*kubectl, "top", "pod", "-n", ns)
    assert sorted(row[0] for row in table(allowed.stdout)[1]) == sorted(top["pods"].values())
    nodes = sim.kubectl(*kubectl, "top", "node", check=False)
    assert nodes.returncode != 0 and 'nodes.metrics.k8s.io is forbidden' in nodes.stderr
