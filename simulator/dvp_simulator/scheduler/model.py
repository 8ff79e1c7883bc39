"""The scheduler's inputs (a pod's request, a node's state): the collection's plugins/module_utils/scheduling.py."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import (
    TERMINAL_PHASES,
    NodeState,
    PodRequest,
    node_state,
    pod_request_from_pod,
    pod_requests,
)

__all__ = ["TERMINAL_PHASES", "NodeState", "PodRequest", "node_state", "pod_request_from_pod", "pod_requests"]
