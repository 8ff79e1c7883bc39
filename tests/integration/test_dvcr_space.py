"""DVCR's volume (the admin guide's `dvcr.storage.persistentVolumeClaim.size`: "To expand the storage, increase the
value of the parameter"; BEHAVIOUR.md §1.4 "DVCR out of space"): the images kept in the registry take their bytes
from DVCR's claim; an import past its capacity fails as the platform's importer does, a deleted image gives its room
back, and growing the setting grows the claim and the room. Its own simulator: the ModuleConfig is its own."""

from __future__ import annotations

import json
import os

import pytest

from tests.image_sources import FileServer
from tests.integration.conftest import TOPOLOGIES
from tests.integration.test_vms import condition, get, phase, wait
from tests.simulator_process import Simulator

MIB = 1024 * 1024


def config(size):
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
            "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": {"type": "PersistentVolumeClaim",
                                                                                      "persistentVolumeClaim": {"size": size}}}}}}  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("dvcr-images")
    for name in ("a", "b", "c"):
        (root / f"{name}.img").write_bytes(os.urandom(60 * MIB))  # raw disks of 60 MiB of data each
    server = FileServer(root)
    s = Simulator.start(tmp_path_factory.mktemp("dvcr-space"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    s.images = server
    yield s
    server.stop()
    assert s.stop() == 0


def cvi(sim, name, file):
    body = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": name},
            "spec": {"dataSource": {"type": "HTTP", "http": {"url": sim.images.url(file)}}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(body))
    return wait(lambda: get(sim, "cvi", name), lambda o: phase(o) in ("Ready", "Failed"), 60)


def claim(sim):
    return get(sim, "pvc", "dvcr", "d8-virtualization")


def test_images_take_dvcr_room_and_one_past_it_fails_until_there_is_room(sim):
    sim.kubectl("apply", "-f", "-", input=json.dumps(config("100Mi")))
    wait(lambda: claim(sim), lambda o: (o.get("status") or {}).get("capacity", {}).get("storage") == "100Mi")

    first = cvi(sim, "first", "a.img")
    assert phase(first) == "Ready", first
    described = sim.kubectl("describe", "cvi", "first").stdout  # the guide's `d8 k describe cvi`
    assert "Name:         first" in described and "Phase:" in described and "Ready" in described and "Data Source:" in described, described
    second = cvi(sim, "second", "b.img")  # 60 + 60 MiB in 100 MiB
    assert phase(second) == "Failed", second
    ready = condition(second, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ProvisioningFailed") and "DVCR is out of space" in ready["message"], ready

    # a deleted image gives its room back
    sim.kubectl("delete", "cvi", "first")
    sim.kubectl("delete", "cvi", "second")
    assert phase(cvi(sim, "second", "b.img")) == "Ready"
    assert phase(cvi(sim, "third", "c.img")) == "Failed"

    # "To expand the storage, increase the value of the parameter": the claim grows, and with it the room
    sim.kubectl("apply", "-f", "-", input=json.dumps(config("200Mi")))
    wait(lambda: claim(sim), lambda o: (o.get("status") or {}).get("capacity", {}).get("storage") == "200Mi")
    sim.kubectl("delete", "cvi", "third")
    third = cvi(sim, "third", "c.img")
    assert phase(third) == "Ready", third
    assert phase(cvi(sim, "fourth", "a.img")) == "Ready", "180 MiB of 200"
    assert phase(cvi(sim, "fifth", "b.img")) == "Failed", "240 MiB do not fit in 200"
