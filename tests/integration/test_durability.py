"""State in the state dir: kill -9 loses no acknowledged write; resourceVersions keep increasing; old watches
get 410; the watch window expires old resourceVersions."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from ..simulator_process import Simulator

G, V = "virtualization.deckhouse.io", "v1alpha2"


def cvi(name):
    return {"apiVersion": f"{G}/{V}", "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": {"type": "Upload"}}}


def test_kill_9_loses_no_acknowledged_write(tmp_path):
    sim = Simulator.start(tmp_path)
    api = config.new_client_from_config(config_file=str(sim.kubeconfig))
    custom = client.CustomObjectsApi(api)
    names = [f"img-{i}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        acked = list(pool.map(lambda n: custom.create_cluster_custom_object(G, V, "clustervirtualimages", cvi(n)), names))
    last_rv = max(int(o["metadata"]["resourceVersion"]) for o in acked)
    custom.patch_cluster_custom_object(G, V, "clustervirtualimages", "img-0", {"metadata": {"labels": {"last": "write"}}})
    sim.process.send_signal(signal.SIGKILL)
    sim.process.wait()

    sim = Simulator.start(tmp_path)
    try:
        api = config.new_client_from_config(config_file=str(sim.kubeconfig))
        custom = client.CustomObjectsApi(api)
        listing = custom.list_cluster_custom_object(G, V, "clustervirtualimages")
        assert sorted(o["metadata"]["name"] for o in listing["items"]) == sorted(names)
        assert custom.get_cluster_custom_object(G, V, "clustervirtualimages", "img-0")["metadata"]["labels"] == {"last": "write"}
        assert int(listing["metadata"]["resourceVersion"]) > last_rv
        new = custom.create_cluster_custom_object(G, V, "clustervirtualimages", cvi("after-restart"))
        assert int(new["metadata"]["resourceVersion"]) > int(listing["metadata"]["resourceVersion"])
        # A watch from before the restart cannot be resumed: 410 Gone, as after etcd compaction.
        with pytest.raises(ApiException) as err:
            for _unused in watch.Watch().stream(
                custom.list_cluster_custom_object, G, V, "clustervirtualimages", resource_version=str(last_rv), timeout_seconds=2
            ):
                pass
        assert err.value.status == 410
    finally:
        assert sim.stop() == 0


def test_ctrl_c_to_the_process_group_stops_cleanly_with_every_write_on_disk(tmp_path):
    """Ctrl-C signals the whole foreground process group, the store's disk writer (a child process) included: it
    outlives the signal, so the simulator's shutdown still gets the last writes to disk and exits 0."""
    sim = Simulator.start(tmp_path)
    custom = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))
    custom.create_cluster_custom_object(G, V, "clustervirtualimages", cvi("before-ctrl-c"))
    children = _children(sim.process.pid)
    assert children, "the store's disk writer runs as a child process"
    for pid in (sim.process.pid, *children):
        os.kill(pid, signal.SIGINT)
    assert sim.process.wait(20) == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text() for pid in children)

    _kept_after_restart(tmp_path, "before-ctrl-c")


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*/children") for c in task.read_text().split()]


def _kept_after_restart(state: Path, name: str) -> None:
    """A simulator started again on `state` has the image `name`, and stops cleanly."""
    sim = Simulator.start(state)
    try:
        custom = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        assert custom.get_cluster_custom_object(G, V, "clustervirtualimages", name)["metadata"]["name"] == name
    finally:
        assert sim.stop() == 0


def test_a_dead_disk_writer_stops_the_simulator_and_a_restart_resumes(tmp_path):
    """Nothing can be made durable once the disk writer is gone, so nothing more may be shown: the simulator stops
    at once with a non-zero code and says why (instead of failing every response), and a restart on the same state
    has every write a client was shown."""
    sim = Simulator.start(tmp_path)
    try:
        custom = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        custom.create_cluster_custom_object(G, V, "clustervirtualimages", cvi("shown"))
        (writer,) = _children(sim.process.pid)
        os.kill(writer, signal.SIGKILL)
        assert sim.process.wait(20) == 1  # found through the pipe's end at once: nobody has to write or wait first
    finally:
        sim.stop(signal.SIGKILL)  # a simulator that did not stop must not outlive the test
    log = (tmp_path / "server.log").read_text()
    assert "the store's disk writer exited" in log and "stopping" in log, log[-2000:]
    assert "Traceback" not in log, log[-3000:]
    _kept_after_restart(tmp_path, "shown")


def test_watch_window_expiry_is_410(tmp_path):
    """Secrets: no controller writes after the client, so the only events are the test's own."""
    sim = Simulator.start(tmp_path, "--watch-window", "5")
    try:
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        first = core.create_namespaced_secret("default", {"metadata": {"name": "w0"}})
        for i in range(1, 10):
            core.create_namespaced_secret("default", {"metadata": {"name": f"w{i}"}})
        with pytest.raises(ApiException) as err:
            for _unused in watch.Watch().stream(core.list_namespaced_secret, "default", resource_version=first.metadata.resource_version, timeout_seconds=2):
                pass
        assert err.value.status == 410
        recent = core.list_namespaced_secret("default").metadata.resource_version
        core.create_namespaced_secret("default", {"metadata": {"name": "w10"}})
        events = []
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_secret, "default", resource_version=recent, timeout_seconds=2):
            events.append((ev["type"], ev["object"].metadata.name))
            w.stop()
        assert events == [("ADDED", "w10")]
    finally:
        assert sim.stop() == 0
