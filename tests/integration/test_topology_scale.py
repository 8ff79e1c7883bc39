"""Topologies beyond one /24: a generated 300-node topology without explicit addresses starts, every node with its
own InternalIP and podCIDR and a Lease; a pod network too small for the nodes is refused at load, naming the field."""

import ipaddress
import json
import subprocess

import yaml

from ..simulator_process import BIN, Simulator

NODES = 300


def generated(count, cluster):
    return {"cluster": cluster, "nodes": [{"name": f"w-{i:03d}", "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi"} for i in range(count)]}


def test_300_generated_nodes_start_with_distinct_addresses_and_pod_cidrs(tmp_path):
    topo = tmp_path / "big.yaml"
    topo.write_text(yaml.safe_dump(generated(NODES, {"podSubnetCIDR": "10.96.0.0/12"})))
    sim = Simulator.start(tmp_path / "state", "--topology", str(topo))
    try:
        nodes = json.loads(sim.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == [f"w-{i:03d}" for i in range(NODES)]
        addresses = [next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP") for n in nodes]
        pod_cidrs = [n["spec"]["podCIDR"] for n in nodes]
        assert len(set(addresses)) == NODES and len(set(pod_cidrs)) == NODES
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network("192.168.0.0/16") for a in addresses)
        assert all(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network("10.96.0.0/12")) and c.endswith("/24") for c in pod_cidrs)
        assert all(n["spec"]["podCIDRs"] == [n["spec"]["podCIDR"]] for n in nodes)
        assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in nodes)
        leases = json.loads(sim.kubectl("get", "leases", "-n", "kube-node-lease", "-o", "json").stdout)["items"]
        assert len(leases) == NODES
    finally:
        assert sim.stop() == 0


def test_pod_network_too_small_is_refused_at_load(tmp_path):
    topo = tmp_path / "small.yaml"
    topo.write_text(yaml.safe_dump(generated(NODES, {"podSubnetCIDR": "10.111.0.0/24", "podSubnetNodeCIDRPrefix": 26})))
    out = subprocess.run(
        [str(BIN / "dvp-sim"), "serve", "--port", "0", "--state-dir", str(tmp_path / "s"), "--kubeconfig", str(tmp_path / "k"), "--topology", str(topo)],
        capture_output=True, check=False, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "cluster.podSubnetCIDR: 10.111.0.0/24 has room for 4 node pod subnets of /26, but the topology has 300 nodes" in out.stderr
