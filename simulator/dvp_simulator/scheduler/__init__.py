"""The simulator's kube-scheduler: pure filter and score functions over nodes, as kube-scheduler's default
profile runs them for a virt-launcher pod (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit,
InterPodAffinity; NodeAffinity / InterPodAffinity / TaintToleration / LeastAllocated / BalancedAllocation scores).

`schedule(pod, nodes)` looks only at the nodes (and the pods on them) it is given; it keeps no state and does no
I/O. `pod_request_from_pod` and `node_state` turn API objects into its inputs."""

from __future__ import annotations

from .core import NO_NODES, Decision, schedule
from .model import NodeState, PodRequest, node_state, pod_request_from_pod

__all__ = ["NO_NODES", "Decision", "NodeState", "PodRequest", "node_state", "pod_request_from_pod", "schedule"]
