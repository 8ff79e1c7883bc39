# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live-migration rules of the platform (BEHAVIOUR.md §6.3, §7.1-7.4) as pure functions, for vm_operation and
node_maintenance: the force × liveMigrationPolicy matrix, a node's CPU read from its labels, and the preflight
that finds a target for every VM leaving a node — kube-scheduler's filters (scheduling.py) on the VM's own
virt-launcher pod (a migration target pod copies it: node selector, affinity, tolerations, requests), plus the
class's available nodes, the disks (Migratable, volumes pinned to nodes) and CPU compatibility by class type
(decided by the caller's `cpu_check`, cpu_models.CPUMap.runnable_on). No Ansible, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from . import vocabulary as v
from .scheduling import NodeState, PodRequest, node_term_matches, reasons_by_node, schedule, with_pod

MIGRATION_POLICIES = (v.LM_ALWAYS_SAFE, v.LM_PREFER_SAFE, v.LM_ALWAYS_FORCED, v.LM_PREFER_FORCED)
CLASS_NODES = "node(s) didn't match the VirtualMachineClass node selector"
VOLUME_UNREACHABLE = "node(s) cannot reach the VM's disk volume"
SOURCE_NODE = "the node the VM leaves"

# cpu_check(guest CPU, source node labels, target node labels) -> None or why the guest CPU cannot run there
CPUCheck = Callable[["GuestCPU", Mapping[str, str], Mapping[str, str]], Optional[str]]


# -- force × liveMigrationPolicy (§7.4) ------------------------------------------------------------------------
def effective_policy(vm_policy: str | None, system_override: str | None) -> str:
    """The system override (ModuleConfig annotation) if set, else the VM's policy, else PreferSafe."""
    return system_override or vm_policy or v.LM_PREFER_SAFE


def force_problem(vm_policy: str | None, force: bool | None, system_override: str | None = None) -> str | None:
    """Why an Evict/Migrate with this `force` fails on the platform (NotApplicableForLiveMigrationPolicy), or None.
    `force` None is unset. With a system override the operation's force is ignored: never a problem."""
    if system_override or force is None:
        return None
    policy = effective_policy(vm_policy, None)
    if policy == v.LM_ALWAYS_SAFE and force:
        return "force=true contradicts the VM's liveMigrationPolicy AlwaysSafe (never AutoConverge); leave force unset or false, or change the policy"
    if policy == v.LM_ALWAYS_FORCED and not force:
        return "force=false contradicts the VM's liveMigrationPolicy AlwaysForced (always AutoConverge); leave force unset or true, or change the policy"
    return None


def auto_converge(vm_policy: str | None, force: bool | None, system_override: str | None = None) -> bool:
    """Whether the migration throttles the guest's CPU (AutoConverge), per the §7.4 table (call force_problem first)."""
    policy = effective_policy(vm_policy, system_override)
    if system_override or force is None:
        return policy in (v.LM_ALWAYS_FORCED, v.LM_PREFER_FORCED)
    return bool(force)


# -- CPUs -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuestCPU:
    """What runnable_on needs of a VM's guest CPU: the class's `cpu_type`, `cpu_model` (Model) and the required
    `cpu_features` (Discovery: the class's status.cpuFeatures.enabled; Features: its spec)."""

    cpu_type: str
    cpu_model: str | None = None
    cpu_features: tuple[str, ...] = ()


def guest_cpu(vmclass: Mapping[str, Any]) -> GuestCPU:
    cpu = (vmclass.get("spec") or {}).get("cpu") or {}
    kind = cpu.get("type") or "Host"
    if kind == "Discovery":
        features = tuple(((vmclass.get("status") or {}).get("cpuFeatures") or {}).get("enabled") or ())
    elif kind == "Features":
        features = tuple(cpu.get("features") or ())
    else:
        features = ()
    return GuestCPU(kind, cpu.get("model") if kind == "Model" else None, features)


def node_cpu(labels: Mapping[str, str]) -> tuple[str, str | None, tuple[str, ...]] | None:
    """(host model, vendor, every feature) of a node from the labels the platform's node labeller writes
    (host-model-cpu, cpu-vendor, cpu-feature); None when the node has no host-model label (not a VM node)."""

    def named(prefix: str) -> list[str]:
        return sorted(k[len(prefix):] for k, val in labels.items() if k.startswith(prefix) and val == "true")

    models = named(v.HOST_MODEL_CPU_LABEL_PREFIX)
    if not models:
        return None
    vendors = named(v.CPU_VENDOR_LABEL_PREFIX)
    return models[0], (vendors[0] if vendors else None), tuple(named(v.CPU_FEATURE_LABEL_PREFIX))


# -- the VMs to move and the preflight -------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaver:
    """One VM that has to leave its node.

    `pod` is its virt-launcher pod's request; `phase` the VM's phase; `available_nodes` its class's
    status.availableNodes (None: not checked); `cpu` its class's guest CPU (None: not checked);
    `not_migratable` the VM's Migratable=False message (RWO disks …) or None; `pinned` (disk, required
    nodeSelectorTerms of its volume) for volumes bound to some nodes; `node_selector` extra labels a target must
    have (a Migrate operation's nodeSelector)."""

    namespace: str
    name: str
    phase: str | None
    pod: PodRequest
    available_nodes: frozenset[str] | None = None
    cpu: GuestCPU | None = None
    not_migratable: str | None = None
    pinned: tuple[tuple[str, tuple[dict, ...]], ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Move:
    """The preflight's answer for one VM: `target` (the node the scheduler would pick, None when none fits),
    `problems` (why it cannot move: the VM itself, or kube-scheduler's message over the nodes) and `nodes`
    (node → reasons, for every node that cannot take it)."""

    namespace: str
    name: str
    source: str
    target: str | None
    problems: tuple[str, ...] = ()
    nodes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.target is not None and not self.problems


MOVABLE_PHASES = (v.VM_RUNNING, v.MIGRATING)


def vm_problems(vm: Leaver) -> list[str]:
    """What keeps the VM itself from a live migration, whatever the nodes."""
    problems = []
    if vm.phase not in MOVABLE_PHASES:
        problems.append(f"the VM is {vm.phase or 'Pending'}, and only a Running VM live-migrates")
    if vm.not_migratable:
        problems.append(f"not migratable: {vm.not_migratable}")
    return problems


def target_filter(vm: Leaver, source_labels: Mapping[str, str], cpu_check: CPUCheck | None) -> Callable[[NodeState], Optional[str]]:
    """The checks kube-scheduler does not know, per node: the class's available nodes, the Migrate operation's
    nodeSelector, the disks' volumes, the guest CPU."""

    def check(node: NodeState) -> str | None:
        if vm.available_nodes is not None and node.name not in vm.available_nodes:
            return CLASS_NODES
        if any(node.labels.get(k) != val for k, val in vm.node_selector.items()):
            return "node(s) didn't match the operation's migrate.nodeSelector"
        for disk, terms in vm.pinned:
            if not any(node_term_matches(t, node) for t in terms):
                return f"{VOLUME_UNREACHABLE} ({disk})"
        if cpu_check is not None and vm.cpu is not None:
            why = cpu_check(vm.cpu, source_labels, node.labels)
            if why:
                return f"CPU: {why}"
        return None

    return check


def plan_moves(vms: Iterable[Leaver], nodes: Sequence[NodeState], source: str, cpu_check: CPUCheck | None = None) -> list[Move]:
    """Where each VM leaving `source` would go, in order: kube-scheduler's choice among the other nodes, each VM
    placed before the next is considered (so two VMs cannot both count on the last free gigabyte). A VM with no
    feasible node gets its problems; it takes no capacity."""
    by_name = {n.name: n for n in nodes}
    source_labels = by_name[source].labels if source in by_name else {}
    others = {n.name: n for n in nodes if n.name != source}
    out = []
    for vm in vms:
        problems = vm_problems(vm)
        pod = vm.pod
        candidates = list(others.values())
        extra = target_filter(vm, source_labels, cpu_check)
        decision = schedule(pod, candidates, extra)
        detail = {name: tuple(r) for name, r in reasons_by_node(pod, candidates, extra).items() if r}
        if decision.node is None:
            problems.append(f"no node can take it: {decision.message}")
        if problems or decision.node is None:
            out.append(Move(vm.namespace, vm.name, source, None, tuple(problems), detail))
            continue
        others[decision.node] = with_pod(others[decision.node], pod)
        out.append(Move(vm.namespace, vm.name, source, decision.node, (), detail))
    return out


def describe_refusal(moves: Iterable[Move]) -> list[str]:
    """`vms/db-1: no node can take it: 0/4 nodes are available: … (green-0: CPU: host-passthrough needs …)` per
    VM that cannot move."""
    lines = []
    for move in moves:
        if move.ok:
            continue
        per_node = "; ".join(f"{node}: {', '.join(reasons)}" for node, reasons in sorted(move.nodes.items()))
        lines.append(f"{move.namespace}/{move.name}: {'; '.join(move.problems)}" + (f" [{per_node}]" if per_node else ""))
    return lines
