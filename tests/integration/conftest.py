import uuid
from pathlib import Path

import pytest
from kubernetes import client, config

from ..simulator_process import Simulator


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("sim"))
    yield s
    assert s.stop() == 0, "the simulator must shut down cleanly on SIGTERM"


@pytest.fixture(scope="session")
def api(sim):
    return config.new_client_from_config(config_file=str(sim.kubeconfig))


@pytest.fixture
def namespace(sim, api):
    name = "t-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


TOPOLOGIES = Path(__file__).resolve().parents[2] / "simulator" / "dvp_simulator" / "topologies"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A simulator with the admin guide's nodes (blue/green workers and a control-plane node)."""
    yield from admin_guide(tmp_path_factory, "cluster")


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """The admin guide's nodes for one test file alone, for files that drain nodes: a drain moves every VM of its node,
    and the session's cluster carries whatever VMs the files run before it on the same worker left (pytest-xdist
    spreads the files over workers in no fixed order) — two VMs with required anti-affinity over the two green nodes,
    say, which no drain of either can move. A file takes it by defining `cluster` as this fixture."""
    yield from admin_guide(tmp_path_factory, "own-cluster")


def admin_guide(tmp_path_factory, name: str):
    s = Simulator.start(tmp_path_factory.mktemp(name), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0
