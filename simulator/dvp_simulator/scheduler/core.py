"""kube-scheduler's filters and scores: the collection's plugins/module_utils/scheduling.py (one implementation for
the simulator and the modules' preflight), under the names the simulator imports."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import (
    NO_NODES,
    Decision,
    failure_message,
    filter_reasons,
    label_selector_matches,
    node_affinity_matches,
    node_term_matches,
    requirement_matches,
    schedule,
    tolerates,
    untolerated,
)

__all__ = [
    "NO_NODES",
    "Decision",
    "failure_message",
    "filter_reasons",
    "label_selector_matches",
    "node_affinity_matches",
    "node_term_matches",
    "requirement_matches",
    "schedule",
    "tolerates",
    "untolerated",
]
