"""All fake nodes of a topology, started and stopped together."""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import ObjectService
from ..clock import Clock
from ..controllers.runtime import SLICE
from ..pod_logs import PodLogs
from ..turn import after_io
from . import virsh
from .agent import LEASE_RENEW, NodeAgent
from .cpu import check_cpu
from .hypervisor import Hypervisor, domain_name
from .topology import Topology

log = logging.getLogger("dvp_simulator.nodes")

# Kubelet rounds falling due within BEAT_WINDOW simulated seconds of each other are made together, at most
# BEAT_GROUP (or one controller SLICE of time) in one store transaction and one step of the event loop: 1,000 nodes
# renew 100 Leases a second, and a commit and a task wake-up each were most of the idle simulator's CPU. A Lease
# renewed up to BEAT_WINDOW early is as good to the node lifecycle controller (it looks for renewals older than
# 40 s). The rounds do not take the writers' turn: the fencing controller yields inside its reconcile, holding the
# turn, precisely to let renewals that fell due in the same clock step land first.
BEAT_WINDOW = 0.2
BEAT_GROUP = 16


class ExecError(Exception):
    """An exec the node cannot run: `message` and the HTTP code kube-apiserver answers with."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ContainerRuntime:
    """A running container's runtime, as Fleet.exec_runner gives it."""

    run: Callable[[list[str], bytes], tuple[int, bytes, bytes]]
    shell: Callable[[list[str]], virsh.Shell | None]


class Fleet:
    """The node agents of a topology. Each node's hypervisor XML lives in a private temporary folder (0700)
    removed at stop; the libvirt connections open on first use, so a large fleet starts without them."""

    def __init__(self, topology: Topology, service: ObjectService, clock: Clock, logs: PodLogs | None = None):
        """`logs` receives the output of the nodes' virt-handler pods (a private buffer when not given)."""
        logs = logs if logs is not None else PodLogs()
        self.logs = logs
        checked: set = set()
        for i, spec in enumerate(topology.nodes):
            if spec.cpu not in checked:  # each distinct CPU once: a check costs libvirt CPU baselines
                check_cpu(spec.cpu, f"nodes[{i}] ({spec.name})")
                checked.add(spec.cpu)
        self.topology = topology
        self.store = service.store
        self.clock = clock
        self.task: asyncio.Task | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="dvp-sim-nodes-")) if topology.nodes else None
        count = len(topology.nodes)
        self.agents = {
            spec.name: NodeAgent(spec, service, clock, Hypervisor(spec, self.directory), logs, phase=i / count)
            for i, spec in enumerate(topology.nodes)
        }  # fmt: skip

    def hypervisor(self, node: str) -> Hypervisor:
        """The named node's hypervisor (KeyError for a node not in the topology)."""
        return self.agents[node].hypervisor

    def reachable(self, node: str) -> bool:
        """Whether the control plane can reach the node's libvirt: a node with an injected fault (power,
        network, kubelet) or fenced is not; a node not in the topology has no hypervisor (False)."""
        agent = self.agents.get(node)
        return agent is not None and agent.reachable

    def launcher_log(self, pod: dict[str, Any] | None, message: str, vm: dict[str, Any], **fields: Any) -> None:
        """One line of a virt-launcher pod's `compute` container, as virt-launcher logs (JSON, with the VMI's name,
        namespace and uid): what `kubectl logs virt-launcher-…` shows of its domain's life."""
        if pod is None:
            return
        meta = vm["metadata"]
        line = json.dumps(
            {"component": v.VIRT_LAUNCHER, "kind": "", "level": "info", "msg": message, "name": meta["name"], "namespace": meta.get("namespace", ""),
             **fields, "timestamp": self.clock.stamp(), "uid": meta.get("uid", "")},
            separators=(",", ":"),
        )  # fmt: skip
        self.logs.write(pod["metadata"].get("namespace", ""), pod["metadata"]["name"], pod["metadata"]["uid"], "compute", self.clock.time(), line)

    def exec_runner(self, pod: dict[str, Any], container: str) -> ContainerRuntime:
        """What runs a command in a running pod's container on its node, as the node's container runtime would:
        `run(argv, stdin)` gives (exit code, stdout, stderr); `shell(argv)` an interactive session for a terminal, or
        None when the command has none. ExecError now when the node cannot be reached or the container does not run
        (the kubelet refuses the stream); `run`'s ExecError, for an executable the container does not have, is the
        runtime's, reported once the stream is open. The simulator runs no processes: what it answers is `virsh` in a
        virt-launcher's compute container, from the node's libvirt (virsh.py, seeing that VM's domain only)."""
        node = pod.get("spec", {}).get("nodeName") or ""
        agent = self.agents.get(node)
        if agent is None or not agent.reachable:
            address = agent.spec.address if agent is not None else node
            raise ExecError(f"error dialing backend: dial tcp {address}:10250: connect: no route to host", 500)
        status = pod.get("status") or {}  # an ephemeral container (kubectl debug) runs as the others do
        statuses = {s.get("name"): s for key in ("containerStatuses", "ephemeralContainerStatuses") for s in status.get(key) or []}
        state = (statuses.get(container) or {}).get("state") or {}
        if (pod.get("status") or {}).get("phase") != "Running" or container not in statuses or "terminated" in state or "waiting" in state:
            raise ExecError(f'unable to upgrade connection: container not found ("{container}")', 400)
        labels = pod["metadata"].get("labels") or {}
        launcher = labels.get(v.VIRT_HANDLER_LABEL) == v.VIRT_LAUNCHER and container == "compute"
        domain = domain_name(pod["metadata"].get("namespace", ""), labels.get(v.VM_NAME_LABEL, ""))

        def run(argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
            if launcher and argv[0] == "virsh":
                return virsh.run(agent.hypervisor.connection, [domain], argv, stdin)
            raise ExecError(
                "error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: "
                f'unable to start container process: exec: "{argv[0]}": executable file not found in $PATH: unknown',
                500,
            )

        def shell(argv: list[str]) -> virsh.Shell | None:
            if launcher and argv[0] == "virsh" and not virsh.command_of(argv):
                return virsh.Shell(agent.hypervisor.connection, [domain])
            return None

        return ContainerRuntime(run, shell)

    def port_dialer(self, pod: dict[str, Any]) -> Callable[[int], str]:
        """What a port-forward into a running pod reaches, as the node's container runtime answers it: `dial(port)`
        gives the runtime's refusal, since the simulator runs no processes and nothing listens in a pod's network
        namespace (containerd's words, wrapped as the kubelet wraps them). ExecError now when the node cannot be
        reached or the pod's sandbox does not run (the kubelet refuses the stream)."""
        node = pod.get("spec", {}).get("nodeName") or ""
        agent = self.agents.get(node)
        if agent is None or not agent.reachable:
            address = agent.spec.address if agent is not None else node
            raise ExecError(f"error dialing backend: dial tcp {address}:10250: connect: no route to host", 500)
        meta = pod["metadata"]
        if (pod.get("status") or {}).get("phase") != "Running":
            raise ExecError(f'unable to upgrade connection: pod sandbox of "{meta.get("namespace")}/{meta.get("name")}" is not running', 400)
        digest = hashlib.sha256(str(meta.get("uid", "")).encode()).hexdigest()
        sandbox, netns = digest, f"/var/run/netns/cni-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

        def dial(port: int) -> str:
            return (
                f"error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network namespace "
                f'"{netns}": failed to connect to localhost:{port} inside namespace "{sandbox}", IPv4: dial tcp4 '
                f"127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused "
            )

        return dial

    def start(self) -> None:
        """Register every node: their Node, Pod and Lease writes go to disk in one transaction (nothing runs
        before it commits: registration does not await). Then the kubelets' rounds begin."""
        with self.store.batch():
            for agent in self.agents.values():
                agent.start()
        self.task = asyncio.create_task(self._beats(), name="node-beats") if self.agents else None

    async def _beats(self) -> None:
        """Every node's kubelet rounds, by deadline (a heap: each round costs log(nodes), not a scan)."""
        due = [(agent.first_beat(), i, agent) for i, agent in enumerate(self.agents.values())]
        heapq.heapify(due)
        while True:
            await self.clock.sleep_until(due[0][0])
            horizon = self.clock.time() + BEAT_WINDOW
            while due[0][0] <= horizon:
                # A round a whole interval late means the clock was stepped forward (or the loop starved): every late
                # round is made at once, before anything else runs, as when each node had a task of its own; the
                # fencing controller, woken by the same step, must find the Leases renewed, not stale.
                catching_up = horizon - BEAT_WINDOW - due[0][0] > LEASE_RENEW  # now - due
                started, count = time.monotonic(), 0
                with self.store.batch():
                    while due[0][0] <= horizon:
                        at, i, agent = due[0]
                        try:
                            after = agent.beat(at)
                        except Exception:  # one node's bug must not stop every kubelet
                            log.exception("node %s: kubelet round failed", agent.spec.name)
                            after = self.clock.time() + LEASE_RENEW
                        heapq.heapreplace(due, (after, i, agent))
                        count += 1
                        if not catching_up and (count >= BEAT_GROUP or time.monotonic() - started >= SLICE):
                            break
                await after_io()  # the requests that arrived meanwhile go first

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for agent in self.agents.values():
            agent.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
