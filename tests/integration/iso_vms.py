"""A simulator of its own with VMs Running from an ISO, for the tests of what an admin does with kubectl around
running VMs (exec into a virt-launcher, top): nodes of a test's topology, the virtualization ModuleConfig, one
ClusterVirtualImage over HTTP and the VMs in a new namespace."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..image_sources import FileServer, iso_image
from ..simulator_process import Simulator
from .test_vm_lifecycle import eventually, get, phase

G = "virtualization.deckhouse.io/v1alpha2"
VM_LABEL = "vm.kubevirt.internal.virtualization.deckhouse.io/name"


def module_config(cidr: str) -> dict[str, Any]:
    storage = {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
            "spec": {"enabled": True, "version": 1, "settings": {"dvcr": {"storage": storage}, "virtualMachineCIDRs": [cidr]}}}  # fmt: skip


@contextlib.contextmanager
def running(tmp: Path, prefix: str, nodes: list[dict[str, Any]], cidr: str, vms: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """`vms` ({name: spec}: cores, coreFraction, memory) Running in a namespace `<prefix>-<random>`, each booting the
    ISO ClusterVirtualImage `<prefix>-iso`; yields {"sim", "ns", "pods": {VM name: its virt-launcher pod}}. The
    simulator stops (exit code 0 asserted) when the block ends."""
    (tmp / "topology.yaml").write_text(yaml.safe_dump({"nodes": nodes}))
    iso_image(tmp / "boot.iso")
    server = FileServer(tmp)
    sim = Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=20.0)
    try:
        sim.kubectl("apply", "-f", "-", input=json.dumps(module_config(cidr)))
        image = {"apiVersion": G, "kind": "ClusterVirtualImage", "metadata": {"name": f"{prefix}-iso"},
                 "spec": {"dataSource": {"type": "HTTP", "http": {"url": server.url("boot.iso")}}}}  # fmt: skip
        sim.kubectl("apply", "-f", "-", input=json.dumps(image))
        eventually(lambda: get(sim, "cvi", f"{prefix}-iso"), lambda o: phase(o) == "Ready", 60)
        ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
        sim.kubectl("create", "namespace", ns)
        for name, size in vms.items():
            cpu = {"cores": size["cores"], **({"coreFraction": size["coreFraction"]} if "coreFraction" in size else {})}
            body = {"apiVersion": G, "kind": "VirtualMachine", "metadata": {"name": name, "namespace": ns},
                    "spec": {"virtualMachineClassName": "generic", "cpu": cpu, "memory": {"size": size["memory"]},
                             "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": f"{prefix}-iso"}]}}  # fmt: skip
            sim.kubectl("apply", "-f", "-", input=json.dumps(body))
        for name in vms:
            eventually(lambda n=name: get(sim, "vm", n, ns), lambda o: phase(o) == "Running", 60)
        listed = json.loads(sim.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        yield {"sim": sim, "ns": ns, "pods": {p["metadata"]["labels"][VM_LABEL]: p["metadata"]["name"] for p in listed}}
    finally:
        server.stop()
        assert sim.stop() == 0
