"""Image-source bandwidth: `dvp-sim serve --image-bandwidth`, the topology's `cluster.imageSourceBandwidth` and
`dvp-sim image-bandwidth set|show` hold each import to a rate, so a watch sees the admin guide's `kubectl get cvi -w`
story (Pending, Provisioning with progress climbing, Ready) and downloadSpeed near the set rate.

Rates are checked as ratios of the bandwidth (the throttle is a ceiling, so a transfer may not beat it; a loaded
machine may lag it a little), never as timed assertions on how fast this machine is."""

from __future__ import annotations

import os
import subprocess

import pytest
from kubernetes import client, config, watch

from dvp_simulator.nodes.topology import TopologyError, parse

from ..image_sources import FileServer, MiB
from ..simulator_process import BIN, Simulator

G, V, PLURAL = "virtualization.deckhouse.io", "v1alpha2", "clustervirtualimages"
BANDWIDTH = 4 * MiB
SIZE = 16 * MiB  # about 4 s at the bandwidth: eight progress reports at the importer's 0.5 s interval
CEILING = 1.1  # the throttle's allowance over the set rate (one pacing slice and rounding)
FLOOR = 0.6  # how far below the set rate a busy two-core machine may fall


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bandwidth-images")
    (root / "disk.raw").write_bytes(os.urandom(SIZE))  # incompressible: every byte goes over the wire
    return root


@pytest.fixture(scope="module")
def server(files):
    srv = FileServer(files)  # unthrottled: the simulator is what holds the import back
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    """The option (4Mi) over a topology that says 1Mi: the option wins."""
    folder = tmp_path_factory.mktemp("bandwidth-sim")
    topology = folder / "topology.yaml"
    topology.write_text("cluster: {imageSourceBandwidth: 1Mi}\nnodes: []\n")
    sim = Simulator.start(folder / "state", "--topology", str(topology), "--image-bandwidth", "4Mi")
    yield sim
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def api(simulator):
    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(simulator.kubeconfig)))


def bandwidth_cli(sim: Simulator, *args: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "dvp-sim"), "image-bandwidth", *args, "--kubeconfig", str(sim.kubeconfig)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def watch_import(api, name: str, source: dict, upload=None) -> list[dict]:
    """Create the image and follow it with a watch until Ready (or Failed): the status of every event, in order.
    `upload(status)` is called once, when the image waits for its upload."""
    body = {"apiVersion": f"{G}/{V}", "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": source}}
    created = api.create_cluster_custom_object(G, V, PLURAL, body)
    statuses = [created.get("status") or {}]
    stream = watch.Watch().stream(
        api.list_cluster_custom_object, G, V, PLURAL, field_selector=f"metadata.name={name}",
        resource_version=created["metadata"]["resourceVersion"], timeout_seconds=60,
    )  # fmt: skip
    for event in stream:
        status = event["object"].get("status") or {}
        statuses.append(status)
        if status.get("phase") == "WaitForUserUpload" and upload is not None:
            upload(status)
            upload = None
        if status.get("phase") in ("Ready", "Failed"):
            break
    assert statuses[-1].get("phase") == "Ready", statuses[-1]
    return statuses


def percent(status: dict) -> float | None:
    text = status.get("progress")
    return float(text.rstrip("%")) if text else None


def check_story(statuses: list[dict], rate: int) -> None:
    """Phases in the guide's order, progress strictly climbing through several values, speeds near `rate`."""
    phases = [s.get("phase") for s in statuses]
    order = [p for i, p in enumerate(phases) if p and (i == 0 or p != phases[i - 1])]
    assert order[-2:] == ["Provisioning", "Ready"] and set(order) <= {"Pending", "WaitForUserUpload", "Provisioning", "Ready"}, order
    provisioning = [s for s in statuses if s.get("phase") == "Provisioning"]
    seen = [percent(s) for s in provisioning if percent(s) is not None]
    changes = [p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1]]
    assert changes == sorted(set(changes)), f"progress went back: {seen}"  # strictly increasing where it changed
    intermediate = [p for p in changes if 0 < p < 100]
    assert len(intermediate) >= 4, f"progress moved through too few values: {seen}"
    currents = [int(s["downloadSpeed"]["currentBytes"]) for s in provisioning if "currentBytes" in s.get("downloadSpeed", {})]
    assert currents and max(currents) <= rate * 1.5, f"the current speed beat the {rate} B/s bandwidth: {currents}"
    final = statuses[-1]
    assert (final["progress"], "currentBytes" in final["downloadSpeed"]) == ("100%", False), final
    average = int(final["downloadSpeed"]["avgBytes"])
    assert FLOOR <= average / rate <= CEILING, f"average {average} B/s against a bandwidth of {rate} B/s"


def test_option_wins_over_topology_and_cli_shows_it(simulator):
    shown = bandwidth_cli(simulator, "show")
    assert shown.returncode == 0 and "4Mi/s (4194304 bytes per second)" in shown.stdout, shown


def test_http_import_is_held_to_the_bandwidth(api, server):
    statuses = watch_import(api, "throttled-http", {"type": "HTTP", "http": {"url": server.url("disk.raw")}})
    check_story(statuses, BANDWIDTH)
    assert statuses[-1]["size"]["storedBytes"] == str(SIZE)


def test_bandwidth_set_at_run_time_holds_an_upload(simulator, api, files):
    changed = bandwidth_cli(simulator, "set", "8Mi")
    assert changed.returncode == 0 and "8Mi/s" in changed.stdout, changed

    def upload(status: dict) -> None:
        url = status["imageUploadURLs"]["external"]
        sent = subprocess.run(
            ["curl", "-sS", "--fail", "--cacert", str(simulator.ca_file), "-T", str(files / "disk.raw"), url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr

    statuses = watch_import(api, "throttled-upload", {"type": "Upload"}, upload)
    check_story(statuses, 8 * MiB)


def test_no_limit_and_refusals(simulator, api, server):
    refused = bandwidth_cli(simulator, "set", "fast")
    assert refused.returncode == 1 and "bandwidth: must be a whole number of bytes per second" in refused.stderr, refused
    assert "Bearer" not in refused.stderr
    assert "8Mi/s" in bandwidth_cli(simulator, "show").stdout  # the refused value changed nothing
    cleared = bandwidth_cli(simulator, "set", "0")
    assert cleared.returncode == 0 and "without a bandwidth limit" in cleared.stdout, cleared
    statuses = watch_import(api, "unthrottled", {"type": "HTTP", "http": {"url": server.url("disk.raw")}})
    assert int(statuses[-1]["downloadSpeed"]["avgBytes"]) > 4 * BANDWIDTH, statuses[-1]["downloadSpeed"]


def test_topology_setting_applies_without_the_option(tmp_path):
    topology = tmp_path / "topology.yaml"
    topology.write_text("cluster: {imageSourceBandwidth: 512Ki}\nnodes: []\n")
    sim = Simulator.start(tmp_path / "state", "--topology", str(topology))
    try:
        shown = bandwidth_cli(sim, "show")
        assert "512Ki/s (524288 bytes per second)" in shown.stdout, shown
    finally:
        assert sim.stop() == 0


@pytest.mark.parametrize("value", ["fast", "-1Mi", "0.5", True, [1]])
def test_topology_refuses_a_bad_bandwidth_naming_the_field(value):
    with pytest.raises(TopologyError, match=r"t\.yaml: cluster\.imageSourceBandwidth: must be a whole number of bytes per second"):
        parse({"cluster": {"imageSourceBandwidth": value}, "nodes": []}, "t.yaml")
    assert parse({"cluster": {"imageSourceBandwidth": "20Mi"}, "nodes": []}).image_source_bandwidth == 20 * MiB


def test_serve_refuses_a_bad_option(tmp_path):
    result = subprocess.run(
        [str(BIN / "dvp-sim"), "serve", "--state-dir", str(tmp_path), "--kubeconfig", str(tmp_path / "k"), "--image-bandwidth", "1.5"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "--image-bandwidth: must be a whole number of bytes per second" in result.stderr, result.stderr
    assert not (tmp_path / "k").exists()
