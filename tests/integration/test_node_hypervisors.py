"""A hypervisor per node: each node's libvirt test-driver instance is its own, so a domain defined on one node is
not on any other — checked with libvirt-python directly, through an in-process fleet, and on a simulator
subprocess through its admin API."""

import asyncio
import json
import ssl
import urllib.error
import urllib.request

import pytest
import yaml

from dvp_simulator.api.service import ObjectService, WriteOptions
from dvp_simulator.clock import Clock
from dvp_simulator.nodes.fleet import Fleet
from dvp_simulator.nodes.hypervisor import Hypervisor
from dvp_simulator.nodes.topology import parse
from dvp_simulator.resources import build_registry
from dvp_simulator.store.store import Store

from ..simulator_process import Simulator
from .conftest import TOPOLOGIES

DOMAIN = "<domain type='test'><name>{name}</name><memory unit='MiB'>512</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>"


def topology(*names):
    return parse(
        {
            "nodes": [
                {"name": n, "cpu": {"vendor": "Intel", "model": "Haswell-noTSX", "cores": 4 + i}, "memory": f"{8 * (i + 1)}Gi"} for i, n in enumerate(names)
            ]
        }
    )


def test_a_domain_lives_on_exactly_one_node(tmp_path, capfd):
    a_spec, b_spec = topology("node-a", "node-b").nodes
    a, b = Hypervisor(a_spec, tmp_path), Hypervisor(b_spec, tmp_path)
    try:
        assert a.domains() == [] and a.state("vm-1") is None and not a.is_open, "a hypervisor nobody used is not opened"
        assert a.define(DOMAIN.format(name="vm-1")) == "vm-1"
        assert (tmp_path / "node-a.xml").stat().st_mode & 0o777 == 0o600
        assert a.connection.getURI() != b.connection.getURI()
        assert a.connection.getInfo()[:3] == ["Haswell-noTSX", 8192, 4] and b.connection.getInfo()[:3] == ["Haswell-noTSX", 16384, 5]
        a.start("vm-1")
        assert [(d["name"], d["state"]) for d in a.domains()] == [("vm-1", "Running")]
        assert b.domains() == [], "node B's libvirt does not see node A's domain"
        assert a.state("vm-1") == "Running" and b.state("vm-1") is None
        assert "vm-1" not in b.connection.listDefinedDomains()
        a.destroy("vm-1")
        assert a.domains()[0]["state"] == "Shutoff" and a.state("vm-1") == "Shutoff"
        b.define(DOMAIN.format(name="vm-1"))  # "migrated": now defined on B
        a.undefine("vm-1")
        assert a.domains() == [] and [d["name"] for d in b.domains()] == ["vm-1"]
        assert a.state("vm-1") is None and b.state("vm-1") == "Shutoff"
        assert "libvirt" not in capfd.readouterr().err, "a lookup that finds no domain is an answer, not an error printed"
    finally:
        a.close()
        b.close()
    assert not (tmp_path / "node-a.xml").exists()


def test_fleet_nodes_each_hold_their_own_connection():
    async def run():
        registry = build_registry()
        clock = Clock(scale=1e-6)
        service = ObjectService(registry, Store(None), clock)
        for ns in ("kube-node-lease", "d8-virtualization"):
            service.create(registry.types["/namespaces"], "", {"metadata": {"name": ns}}, WriteOptions(version="v1"))
        fleet = Fleet(topology("n-0", "n-1", "n-2"), service, clock)
        fleet.start()
        try:
            connections = [agent.hypervisor.connection for agent in fleet.agents.values()]
            assert len({c.getURI() for c in connections}) == 3
            fleet.hypervisor("n-1").define(DOMAIN.format(name="vm-x"))
            fleet.hypervisor("n-1").start("vm-x")
            seen = {name: [d["name"] for d in fleet.hypervisor(name).domains()] for name in fleet.agents}
            assert seen == {"n-0": [], "n-1": ["vm-x"], "n-2": []}
            assert fleet.hypervisor("n-1").connection is connections[1], "the connection (and its domains) is kept"
        finally:
            await fleet.stop()
        assert not fleet.directory.exists(), "the nodes' XML folder is removed at stop"

    asyncio.run(run())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("hypervisors"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"))
    yield s
    assert s.stop() == 0


def hypervisor(sim, node):
    req = urllib.request.Request(f"{sim.server}/simulator/v1/nodes/{node}", headers={"Authorization": f"Bearer {sim.token}"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_started_simulator_gives_every_node_a_distinct_hypervisor(cluster):
    nodes = yaml.safe_load((TOPOLOGIES / "admin-guide.yaml").read_text())["nodes"]
    uris = set()
    for node in nodes:
        code, hv = hypervisor(cluster, node["name"])
        assert code == 200, hv
        assert hv["uri"].startswith("test:///") and hv["uri"].endswith(f"/{node['name']}.xml")
        assert (hv["cpu"]["model"], hv["cpu"]["cpus"]) == (node["cpu"]["model"], node["cpu"]["cores"])
        assert hv["memoryMiB"] == int(node["memory"].removesuffix("Gi")) * 1024
        assert hv["domains"] == []
        uris.add(hv["uri"])
    assert len(uris) == len(nodes)
    code, status = hypervisor(cluster, "no-such-node")
    assert (code, status["kind"], status["reason"]) == (404, "Status", "NotFound")
