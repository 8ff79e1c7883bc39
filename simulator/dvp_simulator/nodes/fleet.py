"""All fake nodes of a topology, started and stopped together."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from ..api.service import ObjectService
from ..clock import Clock
from ..pod_logs import PodLogs
from .agent import NodeAgent
from .cpu import check_cpu
from .hypervisor import Hypervisor
from .topology import Topology


class Fleet:
    """The node agents of a topology. Each node's hypervisor XML lives in a private temporary folder (0700)
    removed at stop; the libvirt connections open on first use, so a large fleet starts without them."""

    def __init__(self, topology: Topology, service: ObjectService, clock: Clock, logs: PodLogs | None = None):
        """`logs` receives the output of the nodes' virt-handler pods (a private buffer when not given)."""
        logs = logs if logs is not None else PodLogs()
        checked: set = set()
        for i, spec in enumerate(topology.nodes):
            if spec.cpu not in checked:  # each distinct CPU once: a check costs libvirt CPU baselines
                check_cpu(spec.cpu, f"nodes[{i}] ({spec.name})")
                checked.add(spec.cpu)
        self.topology = topology
        self.store = service.store
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

    def start(self) -> None:
        """Register every node: their Node, Pod and Lease writes go to disk in one transaction (nothing runs
        before it commits: registration does not await)."""
        with self.store.batch():
            for agent in self.agents.values():
                agent.start()

    async def stop(self) -> None:
        await asyncio.gather(*(agent.stop() for agent in self.agents.values()))
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
