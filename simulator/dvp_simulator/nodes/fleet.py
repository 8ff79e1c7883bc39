"""All fake nodes of a topology, started and stopped together."""

from __future__ import annotations

from ..api.service import ObjectService
from ..clock import Clock
from .agent import NodeAgent
from .cpu import check_cpu
from .topology import Topology


class Fleet:
    def __init__(self, topology: Topology, service: ObjectService, clock: Clock):
        for i, spec in enumerate(topology.nodes):
            check_cpu(spec.cpu, f"nodes[{i}] ({spec.name})")
        self.topology = topology
        self.agents = {spec.name: NodeAgent(spec, i, topology, service, clock) for i, spec in enumerate(topology.nodes)}

    def start(self) -> None:
        for agent in self.agents.values():
            agent.start()

    async def stop(self) -> None:
        for agent in self.agents.values():
            await agent.stop()
