"""The address a pod gets on its node, as the cluster's CNI gives it: the address the pod asks for through DVP's
`cni.cilium.io/ipAddress` annotation (a VM's virt-launcher pods carry the VM's IP, so both pods of a live migration
hold it), the node's InternalIP for a pod on the host's network, else the lowest free address of the node's podCIDR
after its gateway (the first host address), as host-local IPAM hands them out.

Cost: the pods bound to the node (the store's nodeName index) and at most that many candidate addresses are read —
never the whole collection."""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..store.store import NODE_NAME, Store

PODS = v.resource_key(v.POD)


def host_ip(node: dict[str, Any]) -> str:
    return next((a["address"] for a in ((node.get("status") or {}).get("addresses") or []) if a.get("type") == "InternalIP"), "")


def pod_ip(store: Store, node: dict[str, Any], pod: dict[str, Any]) -> str:
    """The address `pod` (bound to `node`, not yet given one) gets; "" when the node has no podCIDR or no free address."""
    requested = ((pod.get("metadata") or {}).get("annotations") or {}).get(v.CNI_IP_ADDRESS_ANNOTATION)
    if requested:
        return str(requested)
    if (pod.get("spec") or {}).get("hostNetwork"):
        return host_ip(node)
    cidr = (node.get("spec") or {}).get("podCIDR")
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return ""
    name = node["metadata"]["name"]
    used = {(e.obj.get("status") or {}).get("podIP") for e in store.by_index(PODS, NODE_NAME, name)}
    for address in itertools.islice(network.hosts(), 1, len(used) + 2):
        if str(address) not in used:
            return str(address)
    return ""
