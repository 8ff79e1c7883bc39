import uuid

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
