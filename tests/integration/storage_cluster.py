"""A simulator with storage classes for the disk and image tests, and an HTTP server with disk images."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from ..image_sources import FileServer, MiB, iso_image, qemu_image
from ..simulator_process import Simulator

TOPOLOGY = {
    "cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16"},
    "nodes": [{"name": "worker-0", "cpu": {"vendor": "Intel", "model": "Haswell-noTSX", "cores": 8}, "memory": "32Gi"}],
    "storageClasses": [
        {"name": "replicated", "provisioner": "replicated.csi.storage.deckhouse.io", "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
         "volumeMode": "Block", "capacity": "100Gi", "default": True},
        {"name": "local-thin", "provisioner": "local.csi.storage.deckhouse.io", "accessModes": ["ReadWriteOnce"],
         "volumeBindingMode": "WaitForFirstConsumer", "capacity": "50Gi"},
        {"name": "tiny", "provisioner": "local.csi.storage.deckhouse.io", "accessModes": ["ReadWriteOnce"], "capacity": "300Mi"},
        {"name": "localpath", "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer", "deprecated": True},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def storage_sim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("storage-sim")
    topology = folder / "topology.yaml"
    topology.write_text(yaml.safe_dump(TOPOLOGY))
    s = Simulator.start(folder / "state", "--topology", str(topology))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """`disk.qcow2` (virtual 100 MiB), `odd.raw` (virtual 100 MiB + 1 byte), `cd.iso`."""
    folder = tmp_path_factory.mktemp("storage-images")
    qemu_image(folder / "disk.qcow2", "qcow2", 100 * MiB, b"boot sector")
    qemu_image(folder / "odd.raw", "raw", 100 * MiB + 1)
    iso_image(folder / "cd.iso")
    server = FileServer(folder)
    server.folder = folder
    yield server
    server.stop()


def get(sim, kind, name, namespace=None):
    args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
    out = sim.kubectl(*args, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def wait_phase(sim, kind, name, namespace, phases, timeout=30.0):
    """The object once its phase is one of `phases` (fails with its last status otherwise)."""
    phases = (phases,) if isinstance(phases, str) else phases
    end = time.monotonic() + timeout
    obj = None
    while time.monotonic() < end:
        obj = get(sim, kind, name, namespace)
        if obj and (obj.get("status") or {}).get("phase") in phases:
            return obj
        time.sleep(0.2)
    raise AssertionError(f"{kind} {namespace}/{name} never reached {phases}: {json.dumps((obj or {}).get('status'), indent=1)}")


def condition(obj, type_):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def apply(sim, doc):
    sim.kubectl("apply", "-f", "-", input=json.dumps(doc))
