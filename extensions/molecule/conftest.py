"""The platform under test, for the testinfra tests of every Molecule scenario of this collection.

The Molecule instance `dvp-sim` is the controller itself (a local connection); the platform is the simulated DVP
cluster the scenario's create step started. The `platform` fixture reads its state the way an admin would, with
`kubectl` (from PATH) run on that host through testinfra, using the kubeconfig the simulator wrote into the
scenario's ephemeral directory (utils/playbooks/create.yml)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def kubeconfig_path() -> Path:
    """The simulator's kubeconfig: `dvp_sim_kubeconfig` of config.yml, in the scenario's ephemeral directory."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "dvp-sim" / "kubeconfig"


class Platform:
    """kubectl against the simulated cluster, run on the testinfra host."""

    def __init__(self, host: Any, kubeconfig: Path) -> None:
        self.host = host
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str) -> str:
        """Run `kubectl ARGS` and return its output; a failure fails the test with kubectl's message."""
        command = " ".join(["kubectl", "--kubeconfig", "%s"] + ["%s"] * len(args))
        result = self.host.run(command, str(self.kubeconfig), *args)
        assert result.rc == 0, f"kubectl {' '.join(args)} failed ({result.rc}): {result.stderr.strip()}"
        return result.stdout

    def get(self, kind: str, name: str = "", namespace: str = "") -> dict[str, Any]:
        """One object (with a name) or a list (without), as JSON."""
        args = ["get", kind, *([name] if name else []), *(["-n", namespace] if namespace else []), "-o", "json"]
        return json.loads(self.kubectl(*args))

    def items(self, kind: str, namespace: str = "", selector: str = "") -> list[dict[str, Any]]:
        """The objects of a kind (in a namespace, matching a label selector)."""
        args = ["get", kind, *(["-n", namespace] if namespace else []), *(["-l", selector] if selector else []), "-o", "json"]
        return json.loads(self.kubectl(*args))["items"]

    def exists(self, kind: str, name: str, namespace: str = "") -> bool:
        args = ["get", kind, name, *(["-n", namespace] if namespace else []), "--ignore-not-found", "-o", "name"]
        return bool(self.kubectl(*args).strip())

    def raw(self, path: str) -> Any:
        """`kubectl get --raw PATH` as JSON (the simulator's admin API too, e.g. /simulator/v1/nodes)."""
        return json.loads(self.kubectl("get", "--raw", path))

    def domains(self) -> dict[str, list[str]]:
        """Running (or paused) libvirt domains per node of the simulator, all read at one instant."""
        nodes = self.raw("/simulator/v1/nodes")["items"]
        return {n["metadata"]["name"]: sorted(d["name"] for d in n["domains"] if d["state"] in ("Running", "Paused")) for n in nodes}

    def node_ready(self, name: str) -> bool:
        conditions = self.get("node", name)["status"].get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="module")
def platform(host: Any) -> Platform:
    """The simulated cluster of this scenario."""
    kubeconfig = kubeconfig_path()
    assert host.file(str(kubeconfig)).exists, f"no kubeconfig at {kubeconfig}: did the create step run?"
    return Platform(host, kubeconfig)
