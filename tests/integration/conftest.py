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
    s = Simulator.start(tmp_path_factory.mktemp("cluster"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0
