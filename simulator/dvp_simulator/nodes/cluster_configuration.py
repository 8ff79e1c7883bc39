"""The cluster facts Deckhouse publishes for its modules and for clients: Secret kube-system/d8-cluster-configuration,
key cluster-configuration.yaml, a ClusterConfiguration with the pod and service subnets (written at every start)."""

from __future__ import annotations

import base64
import ipaddress

import yaml

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.discovery import SERVER_VERSION
from ..api.service import ObjectService, WriteOptions
from .topology import DEFAULT_NODE_POD_PREFIX, Topology


def cluster_configuration(topology: Topology) -> dict:
    prefix = ipaddress.ip_network(topology.nodes[0].pod_cidr).prefixlen if topology.nodes else DEFAULT_NODE_POD_PREFIX
    return {
        "apiVersion": v.CLUSTER_CONFIGURATION_API_VERSION,
        "kind": v.CLUSTER_CONFIGURATION_KIND,
        "clusterType": "Static",
        "podSubnetCIDR": topology.pod_cidr,
        "podSubnetNodeCIDRPrefix": str(prefix),
        "serviceSubnetCIDR": topology.service_cidr,
        "kubernetesVersion": f"{SERVER_VERSION['major']}.{SERVER_VERSION['minor']}",
        "clusterDomain": "cluster.local",
        "defaultCRI": "Containerd",
    }


def publish(service: ObjectService, topology: Topology) -> None:
    rt = service.registry.types[v.resource_key(v.SECRET)]
    text = yaml.safe_dump(cluster_configuration(topology), sort_keys=False)
    body = {
        "apiVersion": v.CORE_VERSION,
        "kind": v.SECRET,
        "metadata": {"name": v.CLUSTER_CONFIGURATION_SECRET, "namespace": v.CLUSTER_CONFIGURATION_NAMESPACE},
        "type": v.SECRET_TYPE_OPAQUE,
        "data": {v.CLUSTER_CONFIGURATION_KEY: base64.b64encode(text.encode()).decode()},
    }
    opts = WriteOptions(version=v.CORE_VERSION, manager="dhctl")
    current = service.find(rt, v.CLUSTER_CONFIGURATION_NAMESPACE, v.CLUSTER_CONFIGURATION_SECRET)
    if current is None:
        service.create(rt, v.CLUSTER_CONFIGURATION_NAMESPACE, body, opts)
    elif current.get("data") != body["data"]:
        service.update(rt, v.CLUSTER_CONFIGURATION_NAMESPACE, v.CLUSTER_CONFIGURATION_SECRET, {**current, "data": body["data"]}, opts)
