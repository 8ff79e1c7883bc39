"""The simulator's kube-scheduler: pure filter and score functions over nodes, as kube-scheduler's default
profile runs them for a virt-launcher pod. The implementation is the collection's
plugins/module_utils/scheduling.py (the modules run the same filters before a migration); this package keeps the
simulator's import names.

`schedule(pod, nodes)` looks only at the nodes (and the pods on them) it is given; it keeps no state and does no
I/O. `pod_request_from_pod` and `node_state` (or `node_state_of_shares` over each pod's `pod_share`) turn API
objects into its inputs. `columns` is the simulator's own:
the common case (a plain pod, every node plain) as numpy arithmetic over every node at once, with the same outcome
as `schedule` (the modules' preflight places a few pods and keeps to the pure-Python functions)."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import (
    NO_NODES,
    Decision,
    NodeState,
    PodRequest,
    PodShare,
    node_state,
    node_state_of_shares,
    pod_request_from_pod,
    pod_share,
    reasons_by_node,
    schedule,
    with_pod,
)

__all__ = [
    "NO_NODES", "Decision", "NodeState", "PodRequest", "PodShare", "node_state", "node_state_of_shares", "pod_request_from_pod", "pod_share",
    "reasons_by_node", "schedule", "with_pod",
]  # fmt: skip
