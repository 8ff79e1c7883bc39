"""nodes/pod_network.pod_ip: the address the CNI gives a pod on its node, read from the store's nodeName index."""

from __future__ import annotations

from dvp_simulator.nodes.pod_network import pod_ip
from dvp_simulator.store.store import ADDED, Store

NODE = {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.96.3.0/24"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.7"}]}}


def bound(store: Store, name: str, ip: str | None, node: str = "n1") -> None:
    status = {"phase": "Running", **({"podIP": ip} if ip else {})}
    store.put("/pods", {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}, "status": status}, ADDED)


def test_the_lowest_free_address_after_the_gateway_of_the_nodes_pod_cidr():
    store = Store(None)
    new = {"metadata": {"name": "x"}, "spec": {"nodeName": "n1"}}
    assert pod_ip(store, NODE, new) == "10.96.3.2", "10.96.3.1 is the node's gateway"
    bound(store, "a", "10.96.3.2")
    bound(store, "b", "10.96.3.4")
    bound(store, "c", None)  # bound, not started yet
    bound(store, "elsewhere", "10.96.3.3", node="n2")  # another node's pods do not count
    assert pod_ip(store, NODE, new) == "10.96.3.3"
    bound(store, "d", "10.96.3.3")
    assert pod_ip(store, NODE, new) == "10.96.3.5"


def test_a_requested_address_a_host_network_pod_and_a_node_without_room():
    store = Store(None)
    asked = {"metadata": {"name": "vm", "annotations": {"cni.cilium.io/ipAddress": "10.66.0.9"}}, "spec": {"nodeName": "n1"}}
    assert pod_ip(store, NODE, asked) == "10.66.0.9"
    assert pod_ip(store, NODE, {"metadata": {"name": "h"}, "spec": {"hostNetwork": True}}) == "192.168.0.7"
    tiny = {**NODE, "spec": {"podCIDR": "10.96.4.0/30"}}  # hosts .1 (gateway) and .2
    assert pod_ip(store, tiny, {"metadata": {"name": "p"}, "spec": {}}) == "10.96.4.2"
    bound(store, "full", "10.96.4.2")
    assert pod_ip(store, tiny, {"metadata": {"name": "p"}, "spec": {}}) == ""
    assert pod_ip(store, {"metadata": {"name": "n1"}, "spec": {}}, {"metadata": {"name": "p"}, "spec": {}}) == ""
