"""Verify of the `coldstandby` scenario: worker-0 (Watchdog fencing) lost power with two AlwaysOn VMs on it. The
platform fenced it (its pods force-deleted, its Node kept NotReady as a Static node's is, its libvirt host down with
no domain) and restarted each VM on another node:
Running there, exactly once - one libvirt domain in the whole cluster, one live virt-launcher pod, both on the node
the API binds the VM to."""

from __future__ import annotations

import json

NAMESPACE = "coldstandby"
VMS = ["db-0", "db-1"]
NODE = "worker-0"
VM_LABEL = "vm.kubevirt.internal.virtualization.deckhouse.io/name"


def test_the_failed_node_was_fenced(platform):
    # worker-0 is a Static node (its NodeGroup's nodeType): fencing keeps its Node, NotReady and unreachable, and
    # force-deletes every pod on it (BEHAVIOUR.md §7.7)
    node = platform.get("node", NODE)
    assert node["metadata"]["labels"]["node.deckhouse.io/type"] == "Static"
    assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["Unknown"], f"{NODE} is not NotReady"
    assert "node.kubernetes.io/unreachable" in {t["key"] for t in node["spec"].get("taints") or []}
    left = json.loads(platform.kubectl("get", "pods", "--all-namespaces", "--field-selector", f"spec.nodeName={NODE}", "-o", "json"))["items"]
    assert not left, f"pods left on {NODE}: {[p['metadata']['name'] for p in left]}"
    nodes = {n["metadata"]["name"]: n for n in platform.raw("/simulator/v1/nodes")["items"]}
    assert nodes[NODE]["state"] in ("PoweredOff", "Fenced"), nodes[NODE]["state"]
    assert not platform.domains()[NODE]


def test_each_vm_restarted_on_another_node(platform):
    for name in VMS:
        status = platform.get("vm", name, NAMESPACE)["status"]
        assert status["phase"] == "Running", (name, status.get("phase"))
        assert status["nodeName"] not in ("", NODE), (name, status.get("nodeName"))
        phases = [t["phase"] for t in status["stats"]["phasesTransitions"]]
        assert phases.count("Running") >= 2, f"{name} did not start again: {phases}"


def test_each_vm_runs_exactly_once(platform):
    domains = platform.domains()
    for name in VMS:
        node = platform.get("vm", name, NAMESPACE)["status"]["nodeName"]
        where = [n for n, names in domains.items() if f"{NAMESPACE}_{name}" in names]
        assert where == [node], f"{name}'s domain runs on {where}, the API binds it to {node}"
        pods = platform.items("pods", NAMESPACE, f"{VM_LABEL}={name}")
        pods = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        assert [p["spec"]["nodeName"] for p in pods] == [node], (name, [(p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods])
