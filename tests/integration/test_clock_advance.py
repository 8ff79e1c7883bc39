"""The simulated clock stepped from outside: `dvp-sim clock advance SECONDS --kubeconfig FILE` against a simulator
running as a subprocess at real speed (time scale 1), so whatever happens was caused by the advance, not by
waiting. Timers fire (a ClusterVirtualImage's 10-minute upload wait times out; node Leases renew with the new
time) and the admin endpoint answers bad requests as the API server would."""

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime

import pytest
import yaml
from kubernetes import client, config

from ..simulator_process import BIN, Simulator
from .polling import eventually

G, V = "virtualization.deckhouse.io", "v1alpha2"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clock")
    topo = tmp / "one-node.yaml"
    topo.write_text(yaml.safe_dump({"nodes": [{"name": "solo", "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi"}]}))
    s = Simulator.start(tmp / "state", "--topology", str(topo))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def api(sim):
    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))


def dvp_sim(*args):
    return subprocess.run([str(BIN / "dvp-sim"), *args], capture_output=True, check=False, text=True, timeout=60)


def advance(sim, seconds):
    out = dvp_sim("clock", "advance", str(seconds), "--kubeconfig", str(sim.kubeconfig))
    assert out.returncode == 0, out.stderr
    assert f"the clock advanced {seconds:g} s to" in out.stdout
    assert sim.token not in out.stdout + out.stderr
    return out.stdout


def lease_renewed(sim):
    lease = json.loads(sim.kubectl("get", "lease", "solo", "-n", "kube-node-lease", "-o", "json").stdout)
    return time.mktime(time.strptime(lease["spec"]["renewTime"][:19], "%Y-%m-%dT%H:%M:%S"))


def test_upload_wait_times_out_when_the_clock_passes_ten_minutes(sim, api):
    body = {"apiVersion": f"{G}/{V}", "kind": "ClusterVirtualImage", "metadata": {"name": "late-upload"}, "spec": {"dataSource": {"type": "Upload"}}}
    api.create_cluster_custom_object(G, V, "clustervirtualimages", body)

    def read():
        return api.get_cluster_custom_object(G, V, "clustervirtualimages", "late-upload")

    waiting = eventually(read, lambda o: (o.get("status") or {}).get("phase") == "WaitForUserUpload")
    assert "imageUploadURLs" in waiting["status"]
    advance(sim, 300)  # half-way: still waiting
    time.sleep(0.3)
    assert read()["status"]["phase"] == "WaitForUserUpload"
    advance(sim, 301)
    failed = eventually(read, lambda o: o["status"]["phase"] == "Failed")
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WaitForUserUploadTimeout")
    assert "imageUploadURLs" not in failed["status"]


def test_node_lease_renews_with_the_advanced_time(sim):
    before = lease_renewed(sim)
    advance(sim, 3600)
    after = eventually(lambda: lease_renewed(sim), lambda t: t >= before + 3600)
    assert after < before + 3600 + 60, "renewed at the advanced time, not later"
    ready = json.loads(sim.kubectl("get", "node", "solo", "-o", "json").stdout)["status"]["conditions"][0]
    assert ready["type"] == "Ready" and ready["status"] == "True", "a clock step is not a missed heartbeat"


def test_a_writes_managed_fields_time_is_the_clusters_time(sim):
    """managedFields times come from the same clock as creationTimestamp (the simulated one, an hour or more ahead of
    the wall clock after the advances above), as a cluster's API server stamps both."""
    advance(sim, 7200)
    sim.kubectl("create", "configmap", "stamped", "--from-literal=k=v")
    made = json.loads(sim.kubectl("get", "configmap", "stamped", "-o", "json", "--show-managed-fields").stdout)
    created = datetime.fromisoformat(made["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    [entry] = made["metadata"]["managedFields"]
    assert abs((datetime.fromisoformat(entry["time"].replace("Z", "+00:00")) - created).total_seconds()) <= 1, (entry["time"], created)


def request(sim, method, path, body=None, token=True):
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {sim.token}"} if token else {})}
    req = urllib.request.Request(sim.server + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b'{"seconds": -1}', "the clock never goes backwards"),
        (b'{"seconds": "60"}', 'seconds: must be a number, not "60"'),
        (b'{"seconds": true}', "seconds: must be a number, not true"),
        (b'{"seconds": NaN}', "NaN is not a JSON number"),
        (b'{"seconds": 1e400}', "seconds: must be a number"),
        (b'{"seconds": 1, "extra": 2}', 'must be {"seconds": N}'),
        (b"[60]", 'must be {"seconds": N}'),
        (b"", 'must be {"seconds": N}'),
        (b"{not json", "could not be decoded"),
    ],
)
def test_bad_advance_requests_get_400_and_change_nothing(sim, body, fragment):
    before = reading(sim)
    code, status = request(sim, "POST", "/simulator/v1/clock/advance", body)
    assert (code, status["kind"], status["status"], status["reason"], status["code"]) == (400, "Status", "Failure", "BadRequest", 400)
    assert fragment in status["message"]
    assert 0 <= reading(sim) - before < 5, "the clock did not jump"


def reading(sim):
    code, status = request(sim, "GET", "/simulator/v1/clock")
    assert code == 200 and status["message"].startswith("the clock reads ")
    return datetime.fromisoformat(status["message"].removeprefix("the clock reads ").replace("Z", "+00:00")).timestamp()


def test_admin_api_needs_the_token_and_the_right_method(sim):
    code, status = request(sim, "POST", "/simulator/v1/clock/advance", b'{"seconds": 1}', token=False)
    assert (code, status["reason"]) == (401, "Unauthorized")
    code, status = request(sim, "GET", "/simulator/v1/clock/advance")
    assert (code, status["reason"]) == (405, "MethodNotAllowed")
    code, status = request(sim, "GET", "/simulator/v1/nothing")
    assert (code, status["reason"]) == (404, "NotFound")


def test_cli_reports_errors_without_the_token(sim, tmp_path):
    out = dvp_sim("clock", "advance", "-5", "--kubeconfig", str(sim.kubeconfig))
    assert out.returncode == 1
    assert "400 BadRequest" in out.stderr and "never goes backwards" in out.stderr
    assert sim.token not in out.stdout + out.stderr
    shown = dvp_sim("clock", "show", "--kubeconfig", str(sim.kubeconfig))
    assert shown.returncode == 0 and shown.stdout.startswith("the clock reads ")
    missing = dvp_sim("clock", "show", "--kubeconfig", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "not a usable kubeconfig" in missing.stderr
