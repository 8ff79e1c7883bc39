"""controllers/firmware.py: the module's launcher image read from its virt-controller Deployment as the platform reads
it, when a VM's instance is out of date, and a release rolled out (the Deployment written once per new image)."""

from __future__ import annotations

import pytest

from dvp_simulator import app
from dvp_simulator.controllers import firmware


def deployment(*containers, generation=1, status=None):
    return {"metadata": {"name": "virt-controller", "generation": generation},
            "spec": {"template": {"spec": {"containers": list(containers)}}}, "status": status or {}}  # fmt: skip


@pytest.mark.parametrize(
    ("container", "image"),
    [
        ({"name": "virt-controller", "args": ["--v=3", "--launcher-image=reg/launcher:1.2"]}, "reg/launcher:1.2"),
        ({"name": "virt-controller", "args": ["--launcher-image", "reg/launcher:1.3", "--v=3"]}, "reg/launcher:1.3"),
        ({"name": "virt-controller", "command": ["virt-controller", "--launcher-image=reg/l:4"], "args": ["--x"]}, "reg/l:4"),
        ({"name": "virt-controller", "args": ["--launcher-image"]}, ""),  # no value after the flag
        ({"name": "virt-controller", "args": ["--launcher-images=reg/l:5"]}, ""),  # another flag
        ({"name": "proxy", "args": ["--launcher-image=reg/l:6"]}, ""),  # another container's
    ],
)
def test_the_launcher_image_is_the_virt_controller_containers_argument(container, image):
    assert firmware.launcher_image_of(deployment(container)) == image


def test_no_deployment_has_no_launcher_image():
    assert firmware.launcher_image_of(None) == "" and firmware.launcher_image_of({"metadata": {}}) == ""


@pytest.mark.parametrize(
    ("phase", "running", "out"),
    [
        ("Running", "img:1", True),
        ("Migrating", "img:1", True),
        ("Stopping", "img:1", True),
        ("Running", "img:2", False),  # the current image
        ("Running", "", False),  # no instance, or one without a known image: up to date
        ("Pending", "img:1", False),  # not judged before it runs ...
        ("Starting", "img:1", False),
        ("Stopped", "img:1", False),  # ... nor once stopped
    ],
)
def test_a_vm_is_out_of_date_when_its_instance_runs_another_image(phase, running, out):
    assert firmware.out_of_date(phase, running, "img:2") is out


def test_a_pods_image_is_its_compute_containers_status_then_spec():
    spec_only = {"spec": {"containers": [{"name": "sidecar", "image": "x"}, {"name": "compute", "image": "img:1"}]}}
    assert firmware.pod_image(spec_only) == "img:1"
    started = {**spec_only, "status": {"containerStatuses": [{"name": "compute", "image": "img:0"}]}}
    assert firmware.pod_image(started) == "img:0" and firmware.pod_image(None) == ""


def test_a_release_is_rolled_out_when_every_replica_runs_its_generation():
    ready = {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1}
    assert firmware.rolled_out(deployment(generation=2, status=ready))
    assert not firmware.rolled_out(deployment(generation=3, status=ready))  # the new template not observed yet
    assert not firmware.rolled_out(deployment(generation=2, status={**ready, "updatedReplicas": 0}))
    assert not firmware.rolled_out(None)


@pytest.mark.parametrize("bad", [None, 7, "", " ", "a b", "img\n", "-x", "i" * 256])
def test_a_bad_image_reference_is_refused_naming_the_field(bad):
    assert "launcherImage" in (firmware.valid_image(bad) or "")


@pytest.fixture
def sim(tmp_path):
    built = app.build(tmp_path / "state", "unit-test-token", "https://127.0.0.1:0")
    yield built
    built.store.close()


def test_a_fresh_cluster_runs_the_first_release_and_an_upgrade_writes_it_once(sim):
    store = sim.store
    assert firmware.current_image(store) == firmware.DEFAULT_LAUNCHER_IMAGE
    entry = store.get(firmware.DEPLOYMENTS, "d8-virtualization", "virt-controller")
    assert firmware.rolled_out(entry.obj) and entry.obj["metadata"]["generation"] == 1
    message = firmware.upgrade(sim.service, "reg/virt-launcher:v2")
    assert "reg/virt-launcher:v2" in message and firmware.current_image(store) == "reg/virt-launcher:v2"
    after = store.get(firmware.DEPLOYMENTS, "d8-virtualization", "virt-controller")
    assert after.obj["metadata"]["generation"] == 2 and firmware.rolled_out(after.obj)
    rv = store.rv
    assert "already" in firmware.upgrade(sim.service, "reg/virt-launcher:v2") and store.rv == rv  # nothing written
    with pytest.raises(ValueError, match="launcherImage"):
        firmware.upgrade(sim.service, "bad image")
    assert store.rv == rv and firmware.current_image(store) == "reg/virt-launcher:v2"
