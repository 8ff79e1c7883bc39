"""A node drain against the simulator as a subprocess, exactly as the admin guide runs it (BEHAVIOUR.md §7.1): the
eviction of a virt-launcher pod answered 429 `Eviction triggered evacuation of VMI "<ns>/<vm>"`, EvictionRequired,
the `evacuation-*` Evict operation, and the real `kubectl drain --pod-selector …` completing with every VM Running
on another node, then `kubectl uncordon`; budgets on other pods still hold."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from . import test_vms
from .test_vms import apply, condition, domains, get, phase, running, vm_body, wait

env, images = test_vms.env, test_vms.images  # the fixtures of test_vms.py


@pytest.fixture(scope="module")
def cluster(own_cluster):
    """This file's own cluster: it drains nodes (conftest.py own_cluster)."""
    return own_cluster


@pytest.fixture
def ns(cluster):
    """A namespace whose VMs are deleted afterwards (the session's cluster has memory for a few large VMs only)."""
    name = "mig-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "vm", "--all", "-n", name, "--wait=false", check=False)


SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"


def vm_pod(cluster, ns, vm):
    items = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-l", f"{SELECTOR}={vm}", "-o", "json").stdout)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def evictions(cluster, ns):
    return [o for o in json.loads(cluster.kubectl("get", "vmop", "-n", ns, "-o", "json").stdout)["items"] if o["metadata"]["name"].startswith("evacuation-")]


def test_the_eviction_api_answers_429_and_starts_an_evacuation(cluster, env, ns):
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    core = client.CoreV1Api(api)
    apply(cluster, ns, vm_body("evac", env["iso"], memory="32Gi"))
    vm = running(cluster, ns, "evac")
    source = vm["status"]["nodeName"]
    pod = vm["status"]["virtualMachinePods"][0]["name"]
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
    for _unused in range(2):  # the first eviction starts the evacuation, the next is refused the same way
        try:
            core.create_namespaced_pod_eviction(pod, ns, body)
            raise AssertionError("the eviction of a running VM's pod must be refused")
        except ApiException as exc:
            assert exc.status == 429
            status = json.loads(exc.body)
            assert status["reason"] == "TooManyRequests" and f'Eviction triggered evacuation of VMI "{ns}/evac"' in status["message"]
    vm = wait(lambda: get(cluster, "vm", "evac", ns), lambda o: condition(o, "EvictionRequired") is not None)
    assert (condition(vm, "EvictionRequired")["status"], condition(vm, "EvictionRequired")["reason"]) == ("True", "EvictionRequired")
    ops = wait(lambda: evictions(cluster, ns), lambda o: len(o) == 1)
    op = ops[0]
    assert op["spec"] == {"type": "Evict", "virtualMachineName": "evac"}
    assert op["metadata"]["annotations"]["virtualization.deckhouse.io/evacuation"] == "true"
    assert "virtualization.deckhouse.io/vmop-protection-by-evacuation-controller" in op["metadata"]["finalizers"]
    moved = wait(lambda: get(cluster, "vm", "evac", ns), lambda o: phase(o) == "Running" and o["status"].get("nodeName") not in (None, source), 60)
    assert condition(moved, "EvictionRequired") is None and moved["status"]["migrationState"]["result"] == "Succeeded"
    assert phase(get(cluster, "vmop", op["metadata"]["name"], ns)) == "Completed" and len(evictions(cluster, ns)) == 1
    # the old pod is gone: the next eviction of it is a 404, as `kubectl drain` expects
    wait(lambda: get(cluster, "pod", pod, ns), lambda o: o == {})
    try:
        core.create_namespaced_pod_eviction(pod, ns, body)
        raise AssertionError("the pod is gone")
    except ApiException as exc:
        assert exc.status == 404


def test_deleting_the_evacuation_operation_cancels_the_evacuation(cluster, env, ns):
    apply(cluster, ns, vm_body("keep", env["iso"], memory="24Gi"))
    vm = running(cluster, ns, "keep")
    source, pod = vm["status"]["nodeName"], vm["status"]["virtualMachinePods"][0]["name"]
    body = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod}})
    refused = cluster.kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", "-f", "-", input=body, check=False)
    assert refused.returncode != 0 and "Eviction triggered evacuation" in refused.stderr
    op = wait(lambda: evictions(cluster, ns), lambda o: len(o) == 1 and (condition(o[0], "Completed") or {}).get("reason") == "Syncing")[0]
    cluster.kubectl("delete", "vmop", op["metadata"]["name"], "-n", ns)
    vm = wait(lambda: get(cluster, "vm", "keep", ns), lambda o: condition(o, "EvictionRequired") is None and phase(o) == "Running")
    assert vm["status"]["nodeName"] == source and vm["status"]["migrationState"]["result"] == "Failed"
    assert evictions(cluster, ns) == [] and [p["metadata"]["name"] for p in vm_pod(cluster, ns, "keep")] == [pod]
    assert f"{ns}_keep" in domains(cluster, source)


def test_kubectl_drain_moves_every_vm_and_uncordon_brings_the_node_back(cluster, env, ns):
    names = [f"d{i}" for i in range(3)]
    for name in names:
        apply(cluster, ns, vm_body(name, env["iso"], memory="4Gi"))
    nodes = {name: running(cluster, ns, name)["status"]["nodeName"] for name in names}
    node = nodes[names[0]]
    on_node = [n for n in names if nodes[n] == node]
    # a budget on another pod of the node still holds: a plain pod with a PodDisruptionBudget allowing no disruption
    apply(cluster, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "guarded", "labels": {"app": "guarded"}},
                        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})  # fmt: skip
    apply(cluster, ns, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded"},
                        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "guarded"}}}})  # fmt: skip
    drained = cluster.kubectl("drain", node, "--pod-selector", SELECTOR, "--delete-emptydir-data", "--ignore-daemonsets", "--timeout=120s", timeout=150)
    assert f"node/{node} drained" in drained.stdout
    assert "Eviction triggered evacuation" in drained.stderr  # kubectl drain retried on the 429s
    assert get(cluster, "node", node)["spec"]["unschedulable"] is True
    for name in names:
        vm = running(cluster, ns, name)
        assert vm["status"]["nodeName"] != node
        assert [p["spec"]["nodeName"] for p in vm_pod(cluster, ns, name)] == [vm["status"]["nodeName"]]
        assert f"{ns}_{name}" not in domains(cluster, node)
    assert len(evictions(cluster, ns)) >= len(on_node)
    assert get(cluster, "pod", "guarded", ns)  # not selected by the drain: still there
    guarded = cluster.kubectl("drain", node, "--pod-selector", "app=guarded", "--force", "--timeout=3s", check=False, timeout=30)
    assert guarded.returncode != 0 and "disruption budget" in guarded.stderr
    cluster.kubectl("uncordon", node)
    assert not get(cluster, "node", node)["spec"].get("unschedulable")


def test_the_guides_plain_kubectl_drain_skips_the_virt_handler_daemonset_and_moves_the_vms(cluster, env, ns):
    """`d8 k drain <node> --ignore-daemonsets --delete-emptydir-data`, the guide's first form: every pod of the node is
    evicted but the virt-handler pod, which kubectl knows as DaemonSet-managed from its controller reference (a pod
    declaring no controller stops the drain without --force)."""
    apply(cluster, ns, vm_body("plain", env["iso"], memory="1Gi"))
    node = running(cluster, ns, "plain")["status"]["nodeName"]
    on_node = json.loads(cluster.kubectl("get", "pods", "-A", "--field-selector", f"spec.nodeName={node}", "-o", "json").stdout)["items"]
    for pod in on_node:  # bare pods other tests left on the node would need --force; this test is about ours
        meta = pod["metadata"]
        if not any(ref.get("controller") for ref in meta.get("ownerReferences") or []):
            cluster.kubectl("delete", "pod", meta["name"], "-n", meta["namespace"], "--wait=false")
    handler = f"virt-handler-{node}"
    owner = get(cluster, "pod", handler, "d8-virtualization")["metadata"]["ownerReferences"]
    daemonset = get(cluster, "daemonset", "virt-handler", "d8-virtualization")
    assert [(o["kind"], o["name"], o["uid"], o["controller"]) for o in owner] == [("DaemonSet", "virt-handler", daemonset["metadata"]["uid"], True)]
    assert daemonset["status"]["numberReady"] >= 2
    try:
        drained = cluster.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s", timeout=150)
        assert f"node/{node} drained" in drained.stdout
        assert f"ignoring DaemonSet-managed Pods: d8-virtualization/{handler}" in drained.stderr
        vm = running(cluster, ns, "plain")
        assert vm["status"]["nodeName"] != node
        assert get(cluster, "pod", handler, "d8-virtualization")["spec"]["nodeName"] == node, "the node's virt-handler stays"
    finally:
        cluster.kubectl("uncordon", node)
