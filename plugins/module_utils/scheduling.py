# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kube-scheduler's filters and scores for one pod, as its default profile runs them for a virt-launcher pod
(NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit, InterPodAffinity; NodeAffinity /
InterPodAffinity / TaintToleration / LeastAllocated / BalancedAllocation scores), and the scheduler's inputs (a
pod's request, a node's state) read from API objects. Pure Python (no Ansible, no I/O): the simulator places VMs
with it (`dvp_simulator.scheduler` re-exports it) and node_maintenance / vm_operation run the same filters
client-side before a migration (migration_rules.py).

Filters run per node in the profile's order and stop at the first that fails (one plugin may give several
reasons, e.g. "Insufficient cpu" and "Insufficient memory"); the failure message is kube-scheduler's FitError
text: "0/N nodes are available: " + the sorted "<count> <reason>" histogram + ".". Scores are each plugin's
normalised 0-100 score times the profile's weight, summed; the highest wins, ties go to the smallest node name
(kube-scheduler picks among ties at random; the simulator must be reproducible)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from .quantity import parse_quantity

# -- inputs ------------------------------------------------------------------------------------------------------
TERMINAL_PHASES = ("Succeeded", "Failed")  # pods that no longer hold their requests (kube-scheduler's cache)


@dataclass(frozen=True)
class PodRequest:
    """What a virt-launcher pod asks for.

    `cpu_milli` is requests.cpu in millicores (cores × coreFraction, as the platform computes); `memory`
    requests.memory in bytes (VM memory + overhead); `node_selector` / `affinity` / `tolerations` as the API
    writes them (`affinity`: nodeAffinity, podAffinity, podAntiAffinity, each with required and preferred
    terms)."""

    namespace: str
    labels: dict[str, str]
    cpu_milli: int
    memory: int
    node_selector: dict[str, str]
    affinity: dict
    tolerations: list[dict]


@dataclass(frozen=True)
class NodeState:
    """One node as the scheduler sees it.

    `requested_*` are the sums over the (non-terminal) pods bound to the node; `pods` their (namespace, labels)
    for pod (anti-)affinity; `pod_anti_affinity` the (namespace, required anti-affinity terms) of those pods
    that have any, so an incoming pod respects existing pods' anti-affinity (kube-scheduler's symmetry)."""

    name: str
    labels: dict[str, str]
    taints: list[dict]
    unschedulable: bool
    ready: bool
    allocatable_cpu_milli: int
    allocatable_memory: int
    requested_cpu_milli: int
    requested_memory: int
    pods: tuple[tuple[str, dict[str, str]], ...]
    pod_anti_affinity: tuple[tuple[str, tuple[dict, ...]], ...] = field(default=())


def _milli(value: Any) -> int:
    return math.ceil(parse_quantity(value) * 1000)


def _bytes(value: Any) -> int:
    return math.ceil(parse_quantity(value))


def pod_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) a pod spec requests, as kube-scheduler sums them: the containers' requests, at least
    the largest init container's, plus the pod overhead."""

    def total(containers: Iterable[Mapping[str, Any]], combine) -> tuple[int, int]:
        cpu = mem = 0
        for c in containers:
            req = (c.get("resources") or {}).get("requests") or {}
            cpu = combine(cpu, _milli(req.get("cpu", 0)))
            mem = combine(mem, _bytes(req.get("memory", 0)))
        return cpu, mem

    cpu, mem = total(spec.get("containers") or [], lambda a, b: a + b)
    init_cpu, init_mem = total(spec.get("initContainers") or [], max)
    overhead = spec.get("overhead") or {}
    return max(cpu, init_cpu) + _milli(overhead.get("cpu", 0)), max(mem, init_mem) + _bytes(overhead.get("memory", 0))


def pod_request_from_pod(pod: Mapping[str, Any]) -> PodRequest:
    """The scheduler's view of a Pod object (requests summed per `pod_requests`)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    cpu, mem = pod_requests(spec)
    return PodRequest(
        namespace=meta.get("namespace") or "default",
        labels=dict(meta.get("labels") or {}),
        cpu_milli=cpu,
        memory=mem,
        node_selector=dict(spec.get("nodeSelector") or {}),
        affinity=dict(spec.get("affinity") or {}),
        tolerations=list(spec.get("tolerations") or []),
    )


@dataclass(frozen=True)
class PodShare:
    """What one pod bound to a node adds to the node's state: its requests (pod_requests), its namespace and labels
    (for pod affinity) and its required anti-affinity terms (empty when none)."""

    cpu_milli: int
    memory: int
    namespace: str
    labels: dict[str, str]
    anti: tuple[dict, ...]


def pod_share(pod: Mapping[str, Any]) -> PodShare | None:
    """A bound pod's share of its node's state; None for a terminal pod (it holds no resources)."""
    if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return None
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    cpu, mem = pod_requests(spec)
    terms = ((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return PodShare(cpu, mem, meta.get("namespace") or "default", dict(meta.get("labels") or {}), tuple(terms))


def node_state(node: Mapping[str, Any], pods_on_node: Iterable[Mapping[str, Any]]) -> NodeState:
    """The scheduler's view of a Node object and the pods bound to it (terminal pods are skipped: they hold no
    resources). Ready is the node's Ready condition being True."""
    return node_state_of_shares(node, (pod_share(pod) for pod in pods_on_node))


def node_state_of_shares(node: Mapping[str, Any], shares: Iterable[PodShare | None]) -> NodeState:
    """node_state from the pods' shares (pod_share of each, in the same order): a caller that keeps each pod's
    share between calls rebuilds a node's state without reading its pods' requests again."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    allocatable = status.get("allocatable") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    cpu = mem = 0
    pods: list[tuple[str, dict[str, str]]] = []
    anti: list[tuple[str, tuple[dict, ...]]] = []
    for share in shares:
        if share is None:
            continue
        cpu, mem = cpu + share.cpu_milli, mem + share.memory
        pods.append((share.namespace, share.labels))  # read only, as the share itself
        if share.anti:
            anti.append((share.namespace, share.anti))
    return NodeState(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        taints=list(spec.get("taints") or []),
        unschedulable=bool(spec.get("unschedulable")),
        ready=ready,
        allocatable_cpu_milli=_milli(allocatable.get("cpu", 0)),
        allocatable_memory=_bytes(allocatable.get("memory", 0)),
        requested_cpu_milli=cpu,
        requested_memory=mem,
        pods=tuple(pods),
        pod_anti_affinity=tuple(anti),
    )


# -- the scheduler ---------------------------------------------------------------------------------------------
MAX_NODE_SCORE = 100
# the default profile's score weights (kube-scheduler's getDefaultPlugins)
WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "InterPodAffinity": 2, "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1}

NO_NODES = "no nodes available to schedule pods"
UNSCHEDULABLE = "node(s) were unschedulable"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
POD_AFFINITY = "node(s) didn't match pod affinity rules"
POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
NAME_FIELD = "metadata.name"

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"

ExtraFilter = Callable[[NodeState], Optional[str]]


@dataclass(frozen=True)
class Decision:
    """The outcome for one pod: `node` (None when nothing fits), `message` (kube-scheduler's text on failure,
    "" on success), `feasible` (every node that passed the filters, by name) and `scores` ((node, total
    weighted score) of the feasible nodes, best first)."""

    node: str | None
    message: str
    feasible: tuple[str, ...]
    scores: tuple[tuple[str, int], ...] = field(default=())


# -- matching ---------------------------------------------------------------------------------------------------
def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint: an empty effect / key matches any (key only with Exists)."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(taints: Iterable[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]], effects: tuple[str, ...]) -> list[Mapping[str, Any]]:
    return [t for t in taints if t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations)]


def _as_int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def requirement_matches(req: Mapping[str, Any], value: str | None) -> bool:
    """One NodeSelectorRequirement against a label (or field) value, None when absent. Gt/Lt compare integers;
    a value that is not one never matches."""
    op, values = req.get("operator"), req.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        have, bound = _as_int(value), _as_int(values[0] if len(values) == 1 else None)
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def node_term_matches(term: Mapping[str, Any] | None, node: NodeState) -> bool:
    """A NodeSelectorTerm: every matchExpressions (labels) and matchFields (metadata.name) requirement holds; an
    empty term matches no node."""
    exprs, fields = (term or {}).get("matchExpressions") or [], (term or {}).get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(requirement_matches(r, node.labels.get(r.get("key"))) for r in exprs):
        return False
    return all(requirement_matches(r, node.name if r.get("key") == NAME_FIELD else None) for r in fields)


def node_affinity_matches(pod: PodRequest, node: NodeState) -> bool:
    """nodeSelector (every label equal) and the required node affinity (any of its terms)."""
    if pod.node_selector and any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    required = ((pod.affinity or {}).get("nodeAffinity") or {}).get(REQUIRED)
    if required is None:
        return True
    return any(node_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector for pod (anti-)affinity: a nil selector matches nothing, an empty one everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(requirement_matches(r, labels.get(r.get("key"))) for r in selector.get("matchExpressions") or [])


@dataclass(frozen=True)
class _PodTerm:
    """A PodAffinityTerm resolved against its owner: namespaces None = every namespace."""

    selector: Mapping[str, Any] | None
    namespaces: frozenset[str] | None
    topology_key: str
    weight: int = 0

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return (self.namespaces is None or namespace in self.namespaces) and label_selector_matches(self.selector, labels)


def _pod_term(
    term: Mapping[str, Any], owner_namespace: str, owner_labels: Mapping[str, str] | None, namespace_labels: Mapping[str, Mapping[str, str]], weight: int = 0
) -> _PodTerm:
    """Resolve namespaces (none given → the owner's; namespaceSelector {} → all) and, for the incoming pod,
    matchLabelKeys / mismatchLabelKeys (the API server merges them into the selector for pods already bound)."""
    names = set(term.get("namespaces") or [])
    ns_selector = term.get("namespaceSelector")
    namespaces: frozenset[str] | None
    if ns_selector is not None and not ns_selector.get("matchLabels") and not ns_selector.get("matchExpressions"):
        namespaces = None
    else:
        if ns_selector is not None:
            names |= {ns for ns, labels in namespace_labels.items() if label_selector_matches(ns_selector, labels)}
        elif not names:
            names = {owner_namespace}
        namespaces = frozenset(names)
    selector = term.get("labelSelector")
    if owner_labels is not None and selector is not None and (term.get("matchLabelKeys") or term.get("mismatchLabelKeys")):
        extra = [{"key": k, "operator": "In", "values": [owner_labels[k]]} for k in term.get("matchLabelKeys") or [] if k in owner_labels]
        extra += [{"key": k, "operator": "NotIn", "values": [owner_labels[k]]} for k in term.get("mismatchLabelKeys") or [] if k in owner_labels]
        selector = {**selector, "matchExpressions": list(selector.get("matchExpressions") or []) + extra}
    return _PodTerm(selector, namespaces, term.get("topologyKey") or "", weight)


def _terms(pod: PodRequest, kind: str, namespace_labels: Mapping[str, Mapping[str, str]]) -> tuple[list[_PodTerm], list[_PodTerm]]:
    """(required, preferred) terms of the pod's podAffinity or podAntiAffinity."""
    block = (pod.affinity or {}).get(kind) or {}
    required = [_pod_term(t, pod.namespace, pod.labels, namespace_labels) for t in block.get(REQUIRED) or []]
    preferred = [
        _pod_term(w.get("podAffinityTerm") or {}, pod.namespace, pod.labels, namespace_labels, int(w.get("weight") or 0)) for w in block.get(PREFERRED) or []
    ]
    return required, preferred


# -- the pod-affinity state of one scheduling cycle (kube-scheduler's PreFilter / PreScore) ----------------------
class _Affinity:
    """Counts per topology pair (key, value) over the given nodes' pods, computed once per call."""

    def __init__(self, pod: PodRequest, nodes: Sequence[NodeState], namespace_labels: Mapping[str, Mapping[str, str]]):
        self.required, self.preferred = _terms(pod, "podAffinity", namespace_labels)
        self.anti_required, self.anti_preferred = _terms(pod, "podAntiAffinity", namespace_labels)
        self.affinity_counts: Counter[tuple[str, str]] = Counter()
        self.anti_counts: Counter[tuple[str, str]] = Counter()
        self.existing_anti: Counter[tuple[str, str]] = Counter()
        self.topology_score: Counter[tuple[str, str]] = Counter()
        scored = [(t, t.weight) for t in self.preferred] + [(t, -t.weight) for t in self.anti_preferred]
        own_terms = bool(self.required or self.anti_required or scored)
        for node in nodes:
            for namespace, labels in node.pods if own_terms else ():  # without terms of its own, only existing pods' count
                if self.required and all(t.matches(namespace, labels) for t in self.required):
                    for t in self.required:
                        if t.topology_key in node.labels:
                            self.affinity_counts[(t.topology_key, node.labels[t.topology_key])] += 1
                for t in self.anti_required:
                    if t.topology_key in node.labels and t.matches(namespace, labels):
                        self.anti_counts[(t.topology_key, node.labels[t.topology_key])] += 1
                for t, weight in scored:
                    if weight and t.topology_key in node.labels and t.matches(namespace, labels):
                        self.topology_score[(t.topology_key, node.labels[t.topology_key])] += weight
            for namespace, terms in node.pod_anti_affinity:
                for raw in terms:
                    t = _pod_term(raw, namespace, None, namespace_labels)
                    if t.topology_key in node.labels and t.matches(pod.namespace, pod.labels):
                        self.existing_anti[(t.topology_key, node.labels[t.topology_key])] += 1
        # the first pod of a group with affinity to itself may go anywhere that has the topology keys
        self.self_affine = bool(self.required) and all(t.matches(pod.namespace, pod.labels) for t in self.required)

    def reason(self, node: NodeState) -> str | None:
        """InterPodAffinity's Filter, in its order: required affinity, required anti-affinity, existing pods'."""
        pods_exist = True
        for t in self.required:
            if t.topology_key not in node.labels:
                return POD_AFFINITY
            if self.affinity_counts[(t.topology_key, node.labels[t.topology_key])] <= 0:
                pods_exist = False
        if not pods_exist and not (not self.affinity_counts and self.self_affine):
            return POD_AFFINITY
        for t in self.anti_required:
            if t.topology_key in node.labels and self.anti_counts[(t.topology_key, node.labels[t.topology_key])] > 0:
                return POD_ANTI_AFFINITY
        for (key, value), count in self.existing_anti.items():
            if count > 0 and node.labels.get(key) == value:
                return EXISTING_ANTI_AFFINITY
        return None

    def score(self, node: NodeState) -> int:
        return sum(weight for (key, value), weight in self.topology_score.items() if node.labels.get(key) == value)


# -- filters ----------------------------------------------------------------------------------------------------
def _fit_reasons(pod: PodRequest, node: NodeState) -> list[str]:
    reasons = []
    if pod.cpu_milli > node.allocatable_cpu_milli - node.requested_cpu_milli:
        reasons.append("Insufficient cpu")
    if pod.memory > node.allocatable_memory - node.requested_memory:
        reasons.append("Insufficient memory")
    return reasons


def _effective_taints(node: NodeState) -> list[Mapping[str, Any]]:
    """The node's taints, plus the not-ready taint the node lifecycle controller puts on a node that is not
    Ready (the scheduler filters such nodes through TaintToleration, not a condition check)."""
    taints: list[Mapping[str, Any]] = list(node.taints)
    if not node.ready and not any(t.get("key") == NOT_READY_TAINT["key"] and t.get("effect") == "NoSchedule" for t in taints):
        taints.append(NOT_READY_TAINT)
    return taints


def filter_reasons(pod: PodRequest, node: NodeState, affinity: _Affinity, extra_filter: ExtraFilter | None = None) -> list[str]:
    """Why the node cannot take the pod ([] when it can): the first failing filter's reasons, in the default
    profile's order (NodeUnschedulable, TaintToleration, NodeAffinity, then `extra_filter` — the class's
    placement, which the platform folds into the pod's node affinity — NodeResourcesFit, InterPodAffinity)."""
    if node.unschedulable and not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in pod.tolerations):
        return [UNSCHEDULABLE]
    taints = node.taints if node.ready else _effective_taints(node)  # a Ready node gets no taint added
    bad = untolerated(taints, pod.tolerations, ("NoSchedule", "NoExecute")) if taints else []
    if bad:
        return [f"node(s) had untolerated taint {{{bad[0].get('key', '')}: {bad[0].get('value') or ''}}}"]
    if not node_affinity_matches(pod, node):
        return [NODE_AFFINITY]
    if extra_filter is not None:
        reason = extra_filter(node)
        if reason:
            return [reason]
    fit = _fit_reasons(pod, node)
    if fit:
        return fit
    reason = affinity.reason(node)
    return [reason] if reason else []


# -- scores -----------------------------------------------------------------------------------------------------
def _normalize(raw: dict[str, int], reverse: bool = False) -> dict[str, int]:
    """framework.DefaultNormalizeScore: scale to 0–100 by the maximum (reversed: 100 minus that)."""
    top = max(raw.values(), default=0)
    if top == 0:
        return {n: MAX_NODE_SCORE if reverse else 0 for n in raw}
    out = {n: MAX_NODE_SCORE * s // top for n, s in raw.items()}
    return {n: MAX_NODE_SCORE - s for n, s in out.items()} if reverse else out


def _min_max(raw: dict[str, int]) -> dict[str, int]:
    """InterPodAffinity's NormalizeScore: (score − min) / (max − min) × 100, all 0 when equal."""
    if not raw:
        return {}
    low, high = min(raw.values()), max(raw.values())
    if high == low:
        return dict.fromkeys(raw, 0)
    return {n: int(MAX_NODE_SCORE * (s - low) / (high - low)) for n, s in raw.items()}


def _free_share(allocatable: int, requested: int) -> int:
    if allocatable <= 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_NODE_SCORE // allocatable


def _least_allocated(pod: PodRequest, node: NodeState) -> int:
    """NodeResourcesFit LeastAllocated: mean over cpu and memory of free share after placing the pod."""
    cpu = _free_share(node.allocatable_cpu_milli, node.requested_cpu_milli + pod.cpu_milli)
    mem = _free_share(node.allocatable_memory, node.requested_memory + pod.memory)
    return (cpu + mem) // 2


def _fraction(allocatable: int, requested: int) -> float:
    return min(1.0, requested / allocatable) if allocatable > 0 else 1.0


def _balanced(pod: PodRequest, node: NodeState) -> int:
    """NodeResourcesBalancedAllocation: 100 × (1 − standard deviation of the cpu and memory fractions)."""
    cpu = _fraction(node.allocatable_cpu_milli, node.requested_cpu_milli + pod.cpu_milli)
    mem = _fraction(node.allocatable_memory, node.requested_memory + pod.memory)
    return int((1 - abs(cpu - mem) / 2) * MAX_NODE_SCORE)


def scores(pod: PodRequest, nodes: Sequence[NodeState], affinity: _Affinity) -> dict[str, int]:
    """The weighted score of each (feasible) node: preferred node affinity, preferred pod (anti-)affinity,
    PreferNoSchedule taints, least-allocated and balanced resources. A plugin that scores every node alike (no
    preferred terms, no PreferNoSchedule taint on any node) adds what its normalisation gives them all — 0, or 100
    for TaintToleration — once, instead of a map over the nodes: at 1,000 nodes those maps were half the cost."""
    preferred = ((pod.affinity or {}).get("nodeAffinity") or {}).get(PREFERRED) or []
    node_aff = (
        _normalize({n.name: sum(int(p.get("weight") or 0) for p in preferred if node_term_matches(p.get("preference"), n)) for n in nodes})
        if preferred
        else None
    )
    prefer_tols = [t for t in pod.tolerations if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"]
    tainted = {n.name: len(untolerated(n.taints, prefer_tols, ("PreferNoSchedule",))) for n in nodes if n.taints}
    taint = _normalize(tainted, reverse=True) if any(tainted.values()) else None  # an untainted node has 0: 100 reversed
    pod_aff = _min_max({n.name: affinity.score(n) for n in nodes}) if affinity.topology_score else None
    alike = 0 if taint is not None else WEIGHTS["TaintToleration"] * MAX_NODE_SCORE
    fit, balanced = WEIGHTS["NodeResourcesFit"], WEIGHTS["NodeResourcesBalancedAllocation"]
    out = {}
    cpu, memory = pod.cpu_milli, pod.memory
    for n in nodes:
        # _least_allocated and _balanced written out (a call each per node was a third of a placement at 1,000 nodes;
        # the property test holds this to the two functions)
        alloc_cpu, alloc_mem = n.allocatable_cpu_milli, n.allocatable_memory
        req_cpu, req_mem = n.requested_cpu_milli + cpu, n.requested_memory + memory
        free_cpu = (alloc_cpu - req_cpu) * MAX_NODE_SCORE // alloc_cpu if 0 < alloc_cpu and req_cpu <= alloc_cpu else 0
        free_mem = (alloc_mem - req_mem) * MAX_NODE_SCORE // alloc_mem if 0 < alloc_mem and req_mem <= alloc_mem else 0
        used_cpu = req_cpu / alloc_cpu if 0 < alloc_cpu and req_cpu < alloc_cpu else 1.0
        used_mem = req_mem / alloc_mem if 0 < alloc_mem and req_mem < alloc_mem else 1.0
        score = alike + fit * ((free_cpu + free_mem) // 2) + balanced * int((1 - abs(used_cpu - used_mem) / 2) * MAX_NODE_SCORE)
        if node_aff is not None:
            score += WEIGHTS["NodeAffinity"] * node_aff[n.name]
        if taint is not None:
            score += WEIGHTS["TaintToleration"] * taint.get(n.name, MAX_NODE_SCORE)
        if pod_aff is not None:
            score += WEIGHTS["InterPodAffinity"] * pod_aff[n.name]
        out[n.name] = score
    return out


def failure_message(total: int, reasons: Iterable[str]) -> str:
    """kube-scheduler's FitError text from every failed node's reasons."""
    if total == 0:
        return NO_NODES
    histogram = sorted(f"{count} {reason}" for reason, count in Counter(reasons).items())
    return f"0/{total} nodes are available: {', '.join(histogram)}."


def schedule(
    pod: PodRequest,
    nodes: Sequence[NodeState],
    extra_filter: ExtraFilter | None = None,
    *,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> Decision:
    """Place one pod on one of `nodes` (the pods on them count for resources and pod (anti-)affinity).

    `extra_filter(node)` returns a reason (counted in the message like a plugin's) or None — the VM controller's
    class `availableNodes` / nodeSelector. `namespace_labels` (namespace → labels) is only needed for pod
    affinity terms with a `namespaceSelector`. Cost: nodes × pods on them × affinity terms."""
    affinity = _Affinity(pod, nodes, namespace_labels or {})
    feasible: list[NodeState] = []
    failed: list[str] = []
    # The common case first, inline: a schedulable, Ready, untainted node passing node affinity, the extra filter,
    # the resources and (when the pod-affinity state can refuse nothing) no pod-affinity check: exactly the nodes
    # filter_reasons would pass among those; every other node gets filter_reasons itself (its reasons count in the
    # message). At 1,000 nodes the calls per filter per node were half of a placement.
    node_affinity = bool(pod.node_selector) or ((pod.affinity or {}).get("nodeAffinity") or {}).get(REQUIRED) is not None
    plain = not affinity.required and not affinity.anti_required and not any(count > 0 for count in affinity.existing_anti.values())
    cpu, memory = pod.cpu_milli, pod.memory
    for node in nodes:
        if (
            node.ready
            and not node.unschedulable
            and not node.taints
            and (not node_affinity or node_affinity_matches(pod, node))
            and (extra_filter is None or not extra_filter(node))
            and cpu <= node.allocatable_cpu_milli - node.requested_cpu_milli
            and memory <= node.allocatable_memory - node.requested_memory
            and (plain or affinity.reason(node) is None)
        ):
            feasible.append(node)
            continue
        reasons = filter_reasons(pod, node, affinity, extra_filter)
        if reasons:
            failed += reasons
        else:
            feasible.append(node)
    names = tuple(sorted(n.name for n in feasible))
    if not feasible:
        return Decision(None, failure_message(len(nodes), failed), names)
    ranked = sorted((-score, name) for name, score in scores(pod, feasible, affinity).items())  # best first, then by name
    return Decision(ranked[0][1], "", names, tuple((name, -score) for score, name in ranked))


def reasons_by_node(
    pod: PodRequest,
    nodes: Sequence[NodeState],
    extra_filter: ExtraFilter | None = None,
    *,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, list[str]]:
    """Why each node cannot take the pod (node name → the failing filter's reasons, [] when it can): the
    per-node detail behind `schedule`'s message, for reports that name the node."""
    affinity = _Affinity(pod, nodes, namespace_labels or {})
    return {node.name: filter_reasons(pod, node, affinity, extra_filter) for node in nodes}


def with_pod(node: NodeState, pod: PodRequest) -> NodeState:
    """The node once the pod is bound to it (its requests and labels counted), for placing several pods in turn."""
    return NodeState(
        name=node.name,
        labels=node.labels,
        taints=node.taints,
        unschedulable=node.unschedulable,
        ready=node.ready,
        allocatable_cpu_milli=node.allocatable_cpu_milli,
        allocatable_memory=node.allocatable_memory,
        requested_cpu_milli=node.requested_cpu_milli + pod.cpu_milli,
        requested_memory=node.requested_memory + pod.memory,
        pods=(*node.pods, (pod.namespace, dict(pod.labels))),
        pod_anti_affinity=node.pod_anti_affinity,
    )
