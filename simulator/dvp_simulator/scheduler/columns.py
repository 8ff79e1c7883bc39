"""kube-scheduler's common case as array arithmetic: every node's allocatable and requested CPU and memory held as
numpy columns, so placing a plain pod costs a few vector operations instead of a Python loop over the nodes it
filters and scores (at 1,000 nodes, 420 of them: ~1 ms a pod in Python, a tenth of a 10,000-VM build-up).

The common case is a pod with no nodeSelector and no affinity of any kind, in a cluster where every node is plain
(Ready, schedulable, untainted) and no placed pod has required anti-affinity; the caller checks the last one and
the pod, `Columns.place` the nodes. There, scheduling.schedule's filters reduce to "the extra filter passes and the
requests fit" and its scores to LeastAllocated + BalancedAllocation + TaintToleration's constant, which is what is
computed here - with the same integer and float operations in the same order, so the scores are equal, not close.

Contract: for such a pod, `Columns.place(pod, allowed, start, want)` gives what NodeStates' chunked search over
scheduling.schedule gives (controllers/vm.py: the nodes from `start` on, in chunks, until `want` feasible ones are
found; then the best of those) - the same Decision and the same number of nodes looked at - or None whenever it
cannot be sure (a node that is not plain, a figure too large for exact float64 arithmetic), and the caller takes
the general path. tests/unit/test_scheduler_columns.py holds it to that path on random clusters."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence

import numpy as np

from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import MAX_NODE_SCORE, WEIGHTS, Decision, NodeState, PodRequest

# Integers up to 2**53 convert to float64 exactly, and a free share multiplies a figure by MAX_NODE_SCORE in int64:
# below this bound both stay exact (a node of 80 TiB); above it the caller takes the general path.
EXACT = 2**53 // MAX_NODE_SCORE
ALIKE = WEIGHTS["TaintToleration"] * MAX_NODE_SCORE  # TaintToleration scores every untainted node alike
FIT, BALANCED = WEIGHTS["NodeResourcesFit"], WEIGHTS["NodeResourcesBalancedAllocation"]
MASKS = 64  # allowed-node masks kept (one per VM class version in use)


def plain_pod(pod: PodRequest) -> bool:
    """A pod whose placement depends only on the nodes' resources and the extra filter."""
    return not pod.node_selector and not any((pod.affinity or {}).values())


def _plain(state: NodeState) -> bool:
    return state.ready and not state.unschedulable and not state.taints


def _exact(state: NodeState) -> bool:
    figures = (state.allocatable_cpu_milli, state.allocatable_memory, state.requested_cpu_milli, state.requested_memory)
    return all(0 <= f < EXACT for f in figures)


class Columns:
    """The nodes' figures in key order (the order of NodeStates' list), kept in step by `update`."""

    def __init__(self, states: Sequence[NodeState]):
        n = len(states)
        self.names = [s.name for s in states]
        # (the figures of a node too large are not used: it is odd, and place() declines while any node is)
        self.alloc_cpu = np.fromiter((min(s.allocatable_cpu_milli, EXACT) for s in states), np.int64, n)
        self.alloc_mem = np.fromiter((min(s.allocatable_memory, EXACT) for s in states), np.int64, n)
        self.req_cpu = np.fromiter((min(s.requested_cpu_milli, EXACT) for s in states), np.int64, n)
        self.req_mem = np.fromiter((min(s.requested_memory, EXACT) for s in states), np.int64, n)
        self.odd = {i for i, s in enumerate(states) if not _plain(s) or not _exact(s)}  # places of nodes not plain or too large
        self.masks: dict[Hashable, np.ndarray] = {}

    def update(self, position: int, state: NodeState) -> None:
        """The node at `position` has a new state."""
        if _plain(state) and _exact(state):
            self.odd.discard(position)
            self.alloc_cpu[position], self.alloc_mem[position] = state.allocatable_cpu_milli, state.allocatable_memory
            self.req_cpu[position], self.req_mem[position] = state.requested_cpu_milli, state.requested_memory
        else:
            self.odd.add(position)

    def mask(self, key: Hashable, allowed: Collection[str]) -> np.ndarray:
        """Which nodes `allowed` names, kept under `key` (the caller's name for that set: it must change with it)."""
        found = self.masks.get(key)
        if found is None:
            if len(self.masks) >= MASKS:
                self.masks.clear()
            found = self.masks[key] = np.fromiter((name in allowed for name in self.names), bool, len(self.names))
        return found

    def place(self, pod: PodRequest, allowed: np.ndarray, start: int, want: int) -> tuple[Decision | None, int] | None:
        """(the decision, the number of nodes looked at from `start`) for a plain pod whose extra filter passes
        exactly the nodes `allowed` marks; the decision is None when fewer than `want` nodes are feasible (the caller
        then schedules over every node, for kube-scheduler's failure message). None: take the general path."""
        if self.odd or not (0 <= pod.cpu_milli < EXACT and 0 <= pod.memory < EXACT):
            return None
        n = len(self.names)
        cpu, memory = pod.cpu_milli, pod.memory
        fits = allowed & (cpu <= self.alloc_cpu - self.req_cpu) & (memory <= self.alloc_mem - self.req_mem)
        rotated = np.concatenate((fits[start:], fits[:start]))  # in the order the search looks at the nodes
        found = np.cumsum(rotated)  # feasible nodes among the first k looked at
        seen = min(want, n)  # NodeStates' chunks: the first is `want` nodes, each next one what is still missing
        while found[seen - 1] < want and seen < n:
            seen = min(seen + want - int(found[seen - 1]), n)
        if found[seen - 1] < want:
            return None, seen
        at = np.flatnonzero(rotated[:seen]) + start
        at[at >= n] -= n
        at.sort()  # key order is name order: Decision.feasible is sorted by name
        alloc_cpu, alloc_mem = self.alloc_cpu[at], self.alloc_mem[at]
        req_cpu, req_mem = self.req_cpu[at] + cpu, self.req_mem[at] + memory
        # scheduling.scores, term for term (every node here passed the fit, so req <= alloc; alloc may still be 0)
        free_cpu = np.where(alloc_cpu > 0, (alloc_cpu - req_cpu) * MAX_NODE_SCORE // np.maximum(alloc_cpu, 1), 0)
        free_mem = np.where(alloc_mem > 0, (alloc_mem - req_mem) * MAX_NODE_SCORE // np.maximum(alloc_mem, 1), 0)
        used_cpu = np.where((alloc_cpu > 0) & (req_cpu < alloc_cpu), req_cpu / np.maximum(alloc_cpu, 1), 1.0)
        used_mem = np.where((alloc_mem > 0) & (req_mem < alloc_mem), req_mem / np.maximum(alloc_mem, 1), 1.0)
        balanced = np.trunc((1 - np.abs(used_cpu - used_mem) / 2) * MAX_NODE_SCORE).astype(np.int64)
        score = ALIKE + FIT * ((free_cpu + free_mem) // 2) + BALANCED * balanced
        order = np.lexsort((at, -score))  # best first, then by name
        name = self.names.__getitem__  # the tuples made in C (map, zip): a Python loop over 420 nodes was most of the rest
        ranked = tuple(zip(map(name, at[order].tolist()), score[order].tolist(), strict=True))
        return Decision(ranked[0][0], "", tuple(map(name, at.tolist())), ranked), seen
