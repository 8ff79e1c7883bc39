"""Live migration (BEHAVIOUR.md §6.5, §7.2–7.4) on the simulated clock.

A migration is the simulator's stand-in for the platform's `vmop-<operation>` migration object: an internal record
(`Migration`) per VM, created by the VirtualMachineOperation controller for an Evict or Migrate and driven by the VM
controller, which owns the VM's pods and libvirt domains. It is kept in memory, not in the store: a simulator
restarted during a migration has lost it, so the operation fails as the platform's does when its migration object
vanished, the VM keeps running on its source node and the orphaned target pod is deleted.

States, in order (the operation's in-progress reasons and progress figures, §6.5): MigrationPending (0 %),
TargetScheduling (2 %) — the target node is chosen by the scheduler with an extra filter (not the source node; the
class's availableNodes; disks reachable - a storage migration's disks (controllers/volume_migration.py) by their
target claims, which the target pod mounts in place of the source ones; the Migrate's `migrate.nodeSelector`; CPU
compatibility per class type (§7.3) decided with libvirt's CPU map, `CPUMap.runnable_on`) — or TargetUnschedulable
(retried every 10 s) or QuotaExceeded (a ResourceQuota refused the target pod: retried every 10 s), then a new
virt-launcher pod on the target node, TargetPreparing (3 %, the target pod starts), WaitingForSyncSlot (4 %: one
outbound migration per source node and one inbound per target node), Syncing or NotConverging (10–90 %, below),
SourceSuspended (91 %, the source domain paused), TargetResumed (92 %): the domain's XML is taken from the source
node's libvirt connection, the domain undefined there, then defined and started on the target's — in one step, so no
instant has it on both — the target pod becomes the VM's pod and the source pod completes (Succeeded) and is
deleted; result Succeeded (100 %).

Pre-copy (§7.2), on the simulated clock, in MiB: the guest dirties its memory at D MiB/s (0 unless set through the
admin API's `dirty-memory` guest action; kept per VM in memory until set again or the VM is deleted). Round 0 copies
all of the memory M at B = 640 MiB/s; each next round copies what the guest dirtied during the previous one
(D_eff × its duration, at most M) — D_eff being D for that round, less the CPU throttle. The migration converges
when a round leaves at most CONVERGED_MIB = B × 300 ms = 192 MiB (QEMU's default downtime limit: what the paused
source's final copy may take); then the source is suspended. The data remaining at time t of a round — not yet sent
plus dirtied since the round began, at most M — is R + (D_eff − B)·t: it shrinks only while D_eff < B. A round after
which it did not shrink is NotConverging (the operation's reason; the VM's Migrating condition stays InProgress
with that state in its message); the next round that shrinks it is Syncing again. Progress timeout: 150 s without a
new low of the remaining data → rollback, the operation Failed with reason NotConverging (the VM keeps running on
its source). Completion timeout: 800 s per GiB of memory (at least 1 GiB) after the transfer began → Aborted.
AutoConverge (migration_rules.auto_converge: the operation's force × the live-migration policy, decided when the
operation creates the migration): after each round whose dirtied data is at least half of what it copied (QEMU's
throttle-trigger-threshold 50 %), the guest's CPU is throttled — 20 % first (cpu-throttle-initial), then +10 % per
round (cpu-throttle-increment), at most 99 % — and D_eff = D × (1 − throttle). Progress shown: 10 + 80 × (1 −
lowest remaining ÷ M), so a still guest goes 10 → 90 % over memory ÷ B and a guest that never converges stays at
10 %. Rounds are computed from their simulated start and end, whenever the VM is reconciled, so a clock step over
many rounds gives the same outcome and timestamps (migrationState's endTimestamp is when the switch or the failure
was due) as real time.

Cancellation (the operation deleted, superseded, or timed out preparing): the target pod is deleted, a paused source
resumed, the slots freed; the VM stays Running on its node; `migrationState.result` Failed.

A node that stops responding (an injected power, network or kubelet fault, or fenced; the admin API wakes the
migrations of a node at once through `Migrations.node_changed`, as the peer's broken connection tells the real
one): during the transfer (Syncing, NotConverging, SourceSuspended) it ends the migration at once — the source:
Failed, the VM stays bound to the silent source (fencing, or the node's recovery, decides what follows: a cold
restart elsewhere per run policy, never a second copy); the target: Aborted, the VM keeps running on the source,
the target pod is deleted (the target has no domain before the switch). Before the transfer the migration waits in
TargetPreparing for the node to answer, so the operation's 5-minute preparation timeout applies. A target pod
that Failed (its node rebooted) ends the migration too.

A restart of the simulator (kill -9 included) loses the records: the VM controller writes the VM's unfinished
`migrationState` as Failed, deletes the orphaned target pod and runs the VM on its source node again; the operation
reads the VM's `migrationState` to end truthfully (Completed when the switch had happened, else Failed:
the migration was lost with the restart).

Costs: everything is by key (the VM's record, its pods by owner index); choosing a target costs the scheduler's
O(nodes); CPU answers are cached per (guest CPU, node CPU, source CPU); a freed slot wakes only the migrations waiting
for one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.cpu_models import default_map
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import migration_unfinished, storage_class_changed

from ..api.errors import APIError, bad_request
from ..api.quota import refusal_reason
from ..api.service import json_copy
from ..nodes.hypervisor import domain_name
from ..scheduler import pod_request_from_pod, schedule
from . import conditions as cond
from .runtime import Key

if TYPE_CHECKING:
    from .vm import Reconcile

log = logging.getLogger("dvp_simulator.controllers.migration")
PODS = v.resource_key(v.POD)
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
MODULE_CONFIGS = v.resource_key(v.MODULE_CONFIG)
GIB = 1024**3
MIB = 1024**2
BANDWIDTH = 640 * MIB  # bytes per simulated second (§7.2)
BANDWIDTH_MIB = BANDWIDTH / MIB
COMPLETION_PER_GIB = 800.0  # completion timeout: seconds per GiB of memory (§7.2)
PROGRESS_TIMEOUT = 150.0  # §7.2: seconds without a new low of the remaining data
DOWNTIME = 0.3  # QEMU's default downtime limit: the final copy of a paused source may take this long
CONVERGED_MIB = BANDWIDTH_MIB * DOWNTIME  # a round leaving at most this much converges (192 MiB)
THROTTLE_TRIGGER = 0.5  # AutoConverge throttles after a round that dirtied ≥ this share of what it copied
THROTTLE_INITIAL, THROTTLE_STEP, THROTTLE_MAX = 20, 10, 99  # % of the guest's CPU (QEMU cpu-throttle-*)
MAX_DIRTY_RATE = 1024.0 * 1024  # MiB/s the admin API accepts (1 TiB/s)
PREPARE = 3.0  # simulated seconds the target pod takes to start
SWITCH = 0.5  # simulated seconds between pausing the source and resuming the target
RETRY = 10.0  # requeue of an unschedulable target, and of an operation waiting for its VM (§6.5)
SLOT_RETRY = 5.0
PREPARE_TIMEOUT = 300.0  # stuck longer in a target-preparation state → the operation fails (§6.5)
READY_WAIT = 300.0  # an operation waits this long for its VM to be ReadyToMigrate (§6.5)
TRANSFER = (v.SYNCING, v.NOT_CONVERGING, v.SOURCE_SUSPENDED)  # the memory is on the move: a lost node ends it
LOST_ON_RESTART = "The migration was lost: the simulator restarted while it was in progress (its state is kept in memory)."
PREPARING = (v.TARGET_SCHEDULING, v.TARGET_UNSCHEDULABLE, v.REASON_QUOTA_EXCEEDED, v.TARGET_PREPARING, v.TARGET_DISK_ERROR)
BEFORE_TARGET_POD = (v.TARGET_SCHEDULING, v.TARGET_UNSCHEDULABLE, v.REASON_QUOTA_EXCEEDED)  # retried every RETRY
PENDING_STATES = (v.MIGRATION_PENDING, v.WAITING_FOR_SYNC_SLOT)  # the operation is Pending in these, else InProgress
PROGRESS = {
    v.MIGRATION_PENDING: 0,
    v.TARGET_SCHEDULING: 2,
    v.TARGET_UNSCHEDULABLE: 2,
    v.REASON_QUOTA_EXCEEDED: 2,
    v.TARGET_DISK_ERROR: 3,
    v.TARGET_PREPARING: 3,
    v.WAITING_FOR_SYNC_SLOT: 4,
    v.SOURCE_SUSPENDED: 91,
    v.TARGET_RESUMED: 92,
}
MESSAGES = {
    v.MIGRATION_PENDING: "The migration is pending.",
    v.TARGET_SCHEDULING: "The target pod is being scheduled.",
    v.TARGET_PREPARING: "The target pod is starting.",
    v.WAITING_FOR_SYNC_SLOT: "Waiting for a free migration slot (one outbound per source node, one inbound per target node).",
    v.SYNCING: "The memory of the virtual machine is being transferred.",
    v.NOT_CONVERGING: "The guest dirties its memory as fast as it is transferred: the remaining data stopped shrinking.",
    v.SOURCE_SUSPENDED: "The source is paused for the final copy.",
    v.TARGET_RESUMED: "The virtual machine resumed on the target node.",
}
SOURCE_NODE_REASON = "node(s) is the migration's source node"
SELECTOR_REASON = "node(s) didn't match the migration's node selector"
CLASS_REASON = "node(s) didn't match the VirtualMachineClass node selector"
CPU_REASON = "node(s) had a CPU the virtual machine's CPU cannot migrate to"
NO_HYPERVISOR_REASON = "node(s) had no hypervisor"


# -- pure rules -----------------------------------------------------------------------------------------------------
def system_policy(store: Any) -> str | None:
    entry = store.get(MODULE_CONFIGS, "", v.VIRTUALIZATION_MODULE)
    return ((entry.obj["metadata"].get("annotations") or {}).get(v.SYSTEM_MIGRATION_POLICY_ANNOTATION) if entry else None) or None


def memory_mib(memory: Any) -> float:
    return max(int(parse_quantity(memory or 0)) / MIB, 1.0)


def sync_seconds(memory: Any) -> float:
    """The first pre-copy round: all of the memory at the bandwidth."""
    return max(int(parse_quantity(memory or 0)) / BANDWIDTH, 0.1)


def completion_timeout(memory: Any) -> float:
    return COMPLETION_PER_GIB * max(int(parse_quantity(memory or 0)) / GIB, 1.0)


_CPU_ANSWERS: dict[tuple, str | None] = {}


def cpu_refusal(spec: Any, node_cpu: tuple, source_cpu: tuple) -> str | None:
    """CPUMap.runnable_on, cached (libvirt computes feature sets from its CPU map)."""
    key = (spec.cpu_type, spec.cpu_model, tuple(spec.cpu_features), node_cpu, source_cpu)
    if key not in _CPU_ANSWERS:
        _CPU_ANSWERS[key] = default_map().runnable_on(spec, node_cpu, source_cpu)
    return _CPU_ANSWERS[key]


# -- the records ----------------------------------------------------------------------------------------------------
@dataclass
class Migration:
    vm: Key
    vmop: str
    node_selector: dict[str, str]
    created: float
    state: str = v.MIGRATION_PENDING
    since: float = 0.0  # when the current state began
    prepare_since: float = 0.0  # when target preparation began
    message: str = ""
    source_node: str = ""
    source_pod: str = ""
    target_node: str = ""
    target_pod: str = ""
    sync_start: float = 0.0
    completion_timeout: float = 0.0
    auto_converge: bool = False  # migration_rules.auto_converge, decided by the operation
    memory: float = 1.0  # MiB
    round: int = 0  # pre-copy round under way
    round_start: float = 0.0
    round_seconds: float = 0.0
    round_mib: float = 0.0  # what the round copies
    round_rate: float = 0.0  # the guest's effective dirty rate during the round, MiB/s
    throttle: int = 0  # % of the guest's CPU taken by AutoConverge
    lowest: float = 0.0  # the lowest remaining data seen, MiB
    last_progress: float = 0.0  # when it was seen
    started: str = ""
    ended: str = ""
    result: str = ""  # Succeeded / Failed once over
    failure_reason: str = ""
    cancelled: bool = False

    def enter(self, state: str, now: float, message: str = "") -> None:
        if state != self.state:
            self.state, self.since = state, now
        self.message = message or MESSAGES.get(state, "")

    def progress(self, now: float) -> int:
        if self.result == v.MIGRATION_SUCCEEDED:
            return 100
        if self.state in (v.SYNCING, v.NOT_CONVERGING):
            t = min(max(now - self.round_start, 0.0), self.round_seconds)
            lowest = min(self.lowest, self.remaining(t))
            return 10 + int(80 * max(0.0, min(1.0, 1.0 - lowest / self.memory)))
        return PROGRESS.get(self.state, 0)

    def remaining(self, t: float) -> float:
        """The data remaining t seconds into the current round: not yet sent, plus dirtied since it began (≤ memory)."""
        return min(self.memory, max(0.0, self.round_mib - BANDWIDTH_MIB * t) + self.round_rate * t)

    def begin_round(self, start: float, mib: float, dirty_rate: float) -> None:
        self.round_start, self.round_mib = start, mib
        self.round_seconds = max(mib / BANDWIDTH_MIB, 0.1 if self.round == 0 else 0.0)
        self.round_rate = dirty_rate * (1 - self.throttle / 100)


@dataclass
class Migrations:
    """Every VM's current migration, and the nodes' slots. `wake(vm key)` wakes the VM controller (set by app)."""

    by_vm: dict[Key, Migration] = field(default_factory=dict)
    outbound: dict[str, Key] = field(default_factory=dict)
    inbound: dict[str, Key] = field(default_factory=dict)
    wake: Callable[[Key], None] = lambda key: None

    def of(self, key: Key, vmop: str) -> Migration | None:
        m = self.by_vm.get(key)
        return m if m is not None and m.vmop == vmop else None

    dirty: dict[Key, float] = field(default_factory=dict)  # each VM's guest memory dirty rate, MiB/s (admin API)

    def create(self, key: Key, vmop: str, selector: dict[str, str], now: float, auto_converge: bool = False) -> Migration:
        m = self.by_vm[key] = Migration(key, vmop, dict(selector or {}), now, since=now, auto_converge=auto_converge)
        m.message = MESSAGES[v.MIGRATION_PENDING]
        self.wake(key)
        return m

    def cancel(self, key: Key, vmop: str) -> None:
        m = self.of(key, vmop)
        if m is None:
            return
        if m.result:
            self.by_vm.pop(key, None)
        else:
            m.cancelled = True
            self.wake(key)

    def drop(self, key: Key, vmop: str) -> None:
        if self.of(key, vmop) is not None:
            self.by_vm.pop(key, None)

    def set_dirty_rate(self, key: Key, mib_per_second: float) -> str:
        """The guest's memory dirty rate (the admin API's `dirty-memory`): 0 ≤ N ≤ MAX_DIRTY_RATE MiB/s, else 400. A
        running migration applies it from its next pre-copy round."""
        if not 0 <= mib_per_second <= MAX_DIRTY_RATE:
            raise bad_request(f"{v.GUEST_DIRTY_RATE}: must be between 0 and {MAX_DIRTY_RATE:.0f}, not {mib_per_second:g}")
        self.dirty[key] = float(mib_per_second)
        self.wake(key)
        return f"the guest of {key[0]}/{key[1]} dirties {float(mib_per_second):g} MiB/s of its memory"

    def forget(self, key: Key) -> None:
        """The VM is gone: its migration with it, and its guest's dirty rate."""
        self.dirty.pop(key, None)
        m = self.by_vm.pop(key, None)
        if m is not None:
            self.release(m)

    def node_changed(self, node: str) -> None:
        """A node failed or recovered: wake the VMs whose unfinished migration has it as source or target (or has
        no source yet)."""
        for m in list(self.by_vm.values()):
            if not m.result and (node in (m.source_node, m.target_node) or not m.source_node):
                self.wake(m.vm)

    def take_slots(self, m: Migration) -> bool:
        if self.outbound.get(m.source_node, m.vm) != m.vm or self.inbound.get(m.target_node, m.vm) != m.vm:
            return False
        self.outbound[m.source_node] = self.inbound[m.target_node] = m.vm
        return True

    def release(self, m: Migration) -> None:
        freed = False
        if self.outbound.get(m.source_node) == m.vm:
            del self.outbound[m.source_node]
            freed = True
        if self.inbound.get(m.target_node) == m.vm:
            del self.inbound[m.target_node]
            freed = True
        if freed:  # the migrations waiting for a slot on either node try again
            for other in list(self.by_vm.values()):
                if other.state == v.WAITING_FOR_SYNC_SLOT and not other.result and {other.source_node, other.target_node} & {m.source_node, m.target_node}:
                    self.wake(other.vm)


# -- the VM controller's side ---------------------------------------------------------------------------------------
def _domain(r: Reconcile) -> str:
    return domain_name(r.ns, r.name)


def _node_cpu(r: Reconcile, node: str) -> tuple | None:
    try:
        cpu = r.fleet.hypervisor(node).spec.cpu
    except KeyError:
        return None
    return cpu.model, cpu.vendor, tuple(cpu.features)


def _delete_pod(r: Reconcile, name: str) -> None:
    try:
        r.service.delete(r.rt(PODS), r.ns, name, {"gracePeriodSeconds": 0})
    except APIError as exc:
        if exc.code != 404:
            raise


def before_converge(r: Reconcile) -> None:
    """Target pods of no live migration go; a cancelled migration, or one whose VM stopped running, is rolled back."""
    m = r.migrations.by_vm.get(r.key)
    for pod in r.target_pods:
        if m is None or m.result or pod["metadata"]["name"] != m.target_pod:
            _delete_pod(r, pod["metadata"]["name"])
    if m is None:
        _lost(r)
    if m is None or m.result:
        return
    if m.cancelled:
        rollback(r, m, v.REASON_MIGRATION_ABORTED, "The migration was cancelled.")
    elif r.pod is None or (r.pod.get("status") or {}).get("phase") in (v.POD_SUCCEEDED, v.POD_FAILED):
        rollback(r, m, v.MIGRATION_FAILED, "The virtual machine is not running.")


def _lost(r: Reconcile) -> None:
    """An unfinished migrationState with no migration record: the record was lost with a restart of the simulator."""
    state = r.status.get("migrationState")
    if not state or state.get("result"):
        return
    r.status["migrationState"] = {**state, "endTimestamp": r.now, "result": v.MIGRATION_FAILED}
    r.service.record_event(r.vm, "Warning", "MigrationFailed", f"The migration of the virtual machine failed: {LOST_ON_RESTART}", "virtualization-controller")


def rollback(r: Reconcile, m: Migration, reason: str, message: str, at: float | None = None) -> None:
    """Undo the migration; `at`: when its failure was due (simulated epoch seconds; default now)."""
    ended = _stamp(at) if at is not None else r.now
    if m.target_pod:
        _delete_pod(r, m.target_pod)
    if m.state == v.SOURCE_SUSPENDED and r.fleet.reachable(m.source_node):
        try:
            r.fleet.hypervisor(m.source_node).resume(_domain(r))
        except Exception as exc:  # noqa: BLE001 - a domain already gone needs no resume
            log.warning("resume %s on %s: %s", _domain(r), m.source_node, exc)
    r.migrations.release(m)
    r.fleet.launcher_log(r.pod, f"Live migration failed: {message}", r.vm)
    m.result, m.failure_reason, m.message, m.ended = v.MIGRATION_FAILED, reason, message, ended
    if r.status.get("migrationState") and not r.status["migrationState"].get("result"):
        r.status["migrationState"] = {**r.status["migrationState"], "endTimestamp": ended, "result": v.MIGRATION_FAILED}
    r.service.record_event(r.vm, "Warning", "MigrationFailed", f"The migration of the virtual machine failed: {message}", "virtualization-controller")
    if m.cancelled:
        r.migrations.by_vm.pop(r.key, None)


def drive(r: Reconcile) -> bool:
    """Advance the VM's live migration; True when it set the VM's running status itself (False: no live migration,
    or it just ended unsuccessfully — the caller reports the VM as usual)."""
    m = r.migrations.by_vm.get(r.key)
    if m is None or m.result or r.pod is None:
        return False
    now = r.clock.time()
    if m.state == v.MIGRATION_PENDING:
        m.source_node, m.source_pod, m.started = r.pod["spec"].get("nodeName") or "", r.pod["metadata"]["name"], r.now
        m.prepare_since = now
        m.enter(v.TARGET_SCHEDULING, now)
    if m.state in BEFORE_TARGET_POD and not _schedule_target(r, m, now):
        r.running()
        r.after(RETRY)
        return True
    if m.state != v.SOURCE_SUSPENDED:
        target = r.find(PODS, r.ns, m.target_pod)
        if target is None or target["metadata"].get("deletionTimestamp"):
            rollback(r, m, v.MIGRATION_FAILED, f"The target pod {m.target_pod} on {m.target_node} was deleted.")
            return False
        if (target.get("status") or {}).get("phase") == v.POD_FAILED:
            why = (target.get("status") or {}).get("message") or "its container is gone"
            rollback(r, m, v.MIGRATION_FAILED, f"The target pod {m.target_pod} on {m.target_node} failed: {why}")
            return False
    if m.state in TRANSFER and not _nodes_answer(r, m):
        return False
    if m.state in (v.TARGET_PREPARING, v.WAITING_FOR_SYNC_SLOT):
        silent = [n for n in (m.source_node, m.target_node) if not r.fleet.reachable(n)]
        if silent:
            m.enter(v.TARGET_PREPARING, now, f"The target pod is starting; the transfer waits for {' and '.join(silent)}, which does not respond.")
            return _migrating(r, m, RETRY)
    if m.state == v.TARGET_PREPARING:
        left = PREPARE - (now - m.since)
        if left > 0:
            return _migrating(r, m, left)
        m.enter(v.WAITING_FOR_SYNC_SLOT, now)
    if m.state == v.WAITING_FOR_SYNC_SLOT:
        if not r.migrations.take_slots(m):
            return _migrating(r, m, SLOT_RETRY)
        memory = (r.spec.get("memory") or {}).get("size")
        m.sync_start, m.completion_timeout, m.memory = now, completion_timeout(memory), memory_mib(memory)
        m.round, m.throttle, m.lowest, m.last_progress = 0, 0, m.memory, now
        m.begin_round(now, m.memory, r.migrations.dirty.get(r.key, 0.0))
        m.round_seconds = max(m.round_seconds, sync_seconds(memory))
        m.enter(v.SYNCING, now)
        r.fleet.launcher_log(r.pod, "Initiating live migration.", r.vm, targetNode=m.target_node)
    if m.state in (v.SYNCING, v.NOT_CONVERGING):
        outcome = _precopy(r, m, now)
        if outcome is None:
            return False
        if outcome > now:
            return _migrating(r, m, outcome - now)
        r.fleet.hypervisor(m.source_node).suspend(_domain(r))
        m.enter(v.SOURCE_SUSPENDED, outcome)
    if m.state == v.SOURCE_SUSPENDED:
        left = SWITCH - (now - m.since)
        if left > 0:
            return _migrating(r, m, left)
        _switch(r, m, m.since + SWITCH)
    return True


def _nodes_answer(r: Reconcile, m: Migration) -> bool:
    """During the transfer both nodes must answer; a silent one ends the migration (rolled back; False)."""
    if not r.fleet.reachable(m.source_node):
        rollback(
            r,
            m,
            v.MIGRATION_FAILED,
            f"The source node {m.source_node} stopped responding during the transfer: the migration failed; the virtual machine stays bound to"
            f" {m.source_node} until that node is fenced or recovers.",
        )
        return False
    if not r.fleet.reachable(m.target_node):
        rollback(
            r,
            m,
            v.REASON_MIGRATION_ABORTED,
            f"The target node {m.target_node} stopped responding during the transfer: the migration was aborted; the virtual machine keeps running"
            f" on {m.source_node}.",
        )
        return False
    return True


def _precopy(r: Reconcile, m: Migration, now: float) -> float | None:
    """Play the pre-copy rounds up to `now`. Returns when it converged (≤ now: suspend the source), or when to look
    again (> now), or None: it failed (rolled back) by the progress or completion timeout."""
    rate = r.migrations.dirty.get(r.key, 0.0)
    while True:
        end = m.round_start + m.round_seconds
        upto = min(now, end)
        if m.round_rate < BANDWIDTH_MIB and upto > m.round_start:  # the remaining data shrinks all along the round
            low = m.remaining(upto - m.round_start)
            if low < m.lowest:
                m.lowest, m.last_progress = low, upto
        stuck, overdue = m.last_progress + PROGRESS_TIMEOUT, m.sync_start + m.completion_timeout
        if min(stuck, overdue) <= upto:
            if overdue <= stuck:
                rollback(r, m, v.REASON_MIGRATION_ABORTED, f"The migration did not complete within {m.completion_timeout:.0f} s (800 s per GiB).", overdue)
            else:
                rollback(
                    r,
                    m,
                    v.NOT_CONVERGING,
                    f"The migration made no progress for {PROGRESS_TIMEOUT:.0f} s: the guest dirties its memory at {rate:g} MiB/s"
                    f" (CPU throttled {m.throttle} %), not less than the {BANDWIDTH_MIB:.0f} MiB/s it is copied at;"
                    f" the virtual machine keeps running on {m.source_node}.",
                    stuck,
                )
            return None
        if end > now:
            return min(end, stuck, overdue)
        dirtied = min(m.memory, m.round_rate * m.round_seconds)  # what the next round must copy
        if dirtied <= CONVERGED_MIB:
            return end
        if dirtied >= m.round_mib:
            m.enter(
                v.NOT_CONVERGING,
                end,
                f"The remaining data stopped shrinking ({dirtied:.0f} MiB after round {m.round + 1}): the guest dirties its memory at"
                f" {m.round_rate:g} MiB/s{f' (CPU throttled {m.throttle} %)' if m.throttle else ''}, the transfer runs at {BANDWIDTH_MIB:.0f} MiB/s.",
            )
        else:
            m.enter(v.SYNCING, end)
        if m.auto_converge and dirtied >= THROTTLE_TRIGGER * m.round_mib:
            m.throttle = min(THROTTLE_MAX, m.throttle + THROTTLE_STEP if m.throttle else THROTTLE_INITIAL)
        m.round += 1
        m.begin_round(end, dirtied, rate)


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _schedule_target(r: Reconcile, m: Migration, now: float) -> bool:
    if r.vmclass is None:
        m.enter(v.TARGET_UNSCHEDULABLE, now, "The VirtualMachineClass of the virtual machine was not found.")
        return False
    body = r.pod_body(None)
    annotations = body["metadata"]["annotations"]
    applied = (r.pod["metadata"].get("annotations") or {}).get(v.VM_APPLIED_SPEC_ANNOTATION)
    if applied:
        annotations[v.VM_APPLIED_SPEC_ANNOTATION] = applied  # the target runs what the source runs
    annotations[v.VM_MIGRATION_TARGET_ANNOTATION] = m.vmop
    available = set((r.vmclass.get("status") or {}).get("availableNodes") or [])
    from .vm import VOLUME_CONFLICT, pinned_disks, unreachable_disks

    moving = moving_disks(r)  # a storage migration's disks: the target pod mounts their target claims
    for volume in body["spec"].get("volumes") or []:
        claim = moving.get(volume["name"].removeprefix("vd-")) if volume.get("persistentVolumeClaim") else None
        if claim:
            volume["persistentVolumeClaim"]["claimName"] = claim
    pinned = pinned_disks(r.store, r.ns, r.spec.get("blockDeviceRefs") or [], moving)
    spec = r.domain_spec()
    source_cpu = _node_cpu(r, m.source_node)

    def target_filter(node: Any) -> str | None:
        if node.name == m.source_node:
            return SOURCE_NODE_REASON
        if node.name not in available:
            return CLASS_REASON
        if any(node.labels.get(k) != val for k, val in m.node_selector.items()):
            return SELECTOR_REASON
        if unreachable_disks(node, pinned):
            return VOLUME_CONFLICT
        node_cpu = _node_cpu(r, node.name)
        if node_cpu is None or source_cpu is None:
            return NO_HYPERVISOR_REASON
        return CPU_REASON if cpu_refusal(spec, node_cpu, source_cpu) else None

    decision = schedule(pod_request_from_pod(body), r.node_states.all(), target_filter)
    if decision.node is None:
        m.enter(v.TARGET_UNSCHEDULABLE, now, f"The target pod cannot be scheduled: {decision.message}")
        return False
    body["spec"]["nodeName"] = decision.node
    try:
        pod = r.service.create(r.rt(PODS), r.ns, body, r.opts(PODS)).obj
    except APIError as error:
        if error.code != 403:
            raise
        # A ResourceQuota (or a LimitRange) refused the target pod: the operation shows QuotaExceeded (§6.5) and the
        # pod is tried again every RETRY until the quota allows it or the 5-minute preparation timeout ends it.
        message = f"Error creating pod: {error.message}"
        # one event per refusal, not per attempt (each attempt names a new pod), as for the VM's own pod
        if m.state != v.REASON_QUOTA_EXCEEDED or refusal_reason(m.message) != refusal_reason(error.message):
            r.service.record_event(r.vm, "Warning", v.EVENT_FAILED_CREATE, message, "virtualization-controller")
        m.enter(v.REASON_QUOTA_EXCEEDED, now, message)
        return False
    r.service.update(r.rt(PODS), r.ns, pod["metadata"]["name"], {**pod, "status": r.pod_status(decision.node, pod)}, r.opts(PODS, "status"))
    m.target_node, m.target_pod = decision.node, pod["metadata"]["name"]
    m.enter(v.TARGET_PREPARING, now)
    r.status["migrationState"] = {
        "startTimestamp": m.started,
        "source": {"node": m.source_node, "pod": m.source_pod},
        "target": {"node": m.target_node, "pod": m.target_pod},
        "result": "",
    }
    return True


def _migrating(r: Reconcile, m: Migration, requeue: float) -> bool:
    """The VM's status while its memory moves: phase Migrating on the source node, both pods listed."""
    r.status["nodeName"] = m.source_node
    r.status["virtualMachinePods"] = [{"name": m.source_pod, "active": True}, {"name": m.target_pod, "active": False}]
    r.set_phase(v.VM_MIGRATING)
    r.cond(v.COND_RUNNING, "True", v.REASON_RUNNING)
    r.after(requeue)
    return True


def _switch(r: Reconcile, m: Migration, at: float) -> None:
    """The domain leaves the source node's libvirt and is started on the target's; the target pod becomes the VM's."""
    name = _domain(r)
    source, target = r.fleet.hypervisor(m.source_node), r.fleet.hypervisor(m.target_node)
    xml = source.connection.lookupByName(name).XMLDesc(0)
    source.undefine(name)  # never on both: gone here before it is defined there
    target.define(xml)
    target.start(name)
    r.domains[r.key] = m.target_node
    m.enter(v.TARGET_RESUMED, at)
    target_pod = r.find(PODS, r.ns, m.target_pod)
    assert target_pod is not None
    annotations = {k: val for k, val in (target_pod["metadata"].get("annotations") or {}).items() if k != v.VM_MIGRATION_TARGET_ANNOTATION}
    new_pod = r.service.update(
        r.rt(PODS), r.ns, m.target_pod, {**target_pod, "metadata": {**target_pod["metadata"], "annotations": annotations}}, r.opts(PODS)
    ).obj
    r.fleet.launcher_log(new_pod, "Domain started (incoming live migration).", r.vm, node=m.target_node, sourceNode=m.source_node)
    old = r.pod
    assert old is not None
    terminated = {"exitCode": 0, "reason": "Completed", "finishedAt": r.now}
    status = {
        **(old.get("status") or {}),
        "phase": v.POD_SUCCEEDED,
        "containerStatuses": [{**c, "ready": False, "state": {"terminated": terminated}} for c in (old.get("status") or {}).get("containerStatuses") or []],
    }
    r.service.update(r.rt(PODS), r.ns, m.source_pod, {**old, "status": status}, r.opts(PODS, "status"))
    _delete_pod(r, m.source_pod)
    r.pod = new_pod
    r.migrations.release(m)
    m.result, m.ended = v.MIGRATION_SUCCEEDED, _stamp(at)
    r.status["migrationState"] = {**(r.status.get("migrationState") or {}), "endTimestamp": m.ended, "result": v.MIGRATION_SUCCEEDED}
    r.status["nodeName"] = m.target_node
    r.status["virtualMachinePods"] = [{"name": m.target_pod, "active": True}]
    r.set_phase(v.VM_RUNNING)
    r.cond(v.COND_RUNNING, "True", v.REASON_RUNNING)
    r.service.record_event(
        r.vm, "Normal", "MigrationSucceeded", f"The virtual machine migrated from {m.source_node} to {m.target_node}.", "virtualization-controller"
    )


def moving_disks(r: Reconcile) -> dict[str, str]:
    """The VM's disks a storage migration moves (controllers/volume_migration.py): disk name → its target claim."""
    out = {}
    for dev in r.devices:
        disk = dev["obj"]
        if dev["ref"].get("kind") == v.VIRTUAL_DISK and disk and migration_unfinished(disk):
            target = ((disk.get("status") or {}).get("migrationState") or {}).get("targetPVC")
            if target:
                out[dev["ref"]["name"]] = target
    return out


def disks_awaiting_target(r: Reconcile) -> list[str]:
    """The VM's disks a live migration must move - on EE the ones on ReadWriteOnce claims, and any whose class
    changed - whose target is not ready yet (the disk's `Migrating` condition is not True/InProgress; upstream
    MigrationVolumesService.GetVirtualDiskNamesWithUnreadyTarget)."""
    out = []
    for dev in r.devices:
        disk = dev["obj"]
        if dev["ref"].get("kind") != v.VIRTUAL_DISK or not disk:
            continue
        name = dev["ref"]["name"]
        if not storage_class_changed(disk) and not (r.edition != v.EDITION_CE and name in r.rwo_disks):
            continue
        migrating = cond.get((disk.get("status") or {}).get("conditions") or [], v.COND_VD_MIGRATING) or {}
        if not (migration_unfinished(disk) and migrating.get("status") == "True" and migrating.get("reason") == v.REASON_VD_MIGRATION_IN_PROGRESS):
            out.append(name)
    return out


def conditions(r: Reconcile) -> None:
    """Migrating (InProgress while a migration runs; ReadyToMigrate / Pending while an Evict or Migrate waits for one
    - Pending too while disks it must move have no ready target; absent otherwise) and EvictionRequired (the running
    pod's node was asked to be evacuated, §7.1)."""
    m = r.migrations.by_vm.get(r.key)
    if m is not None and not m.result and not m.cancelled:
        r.cond(v.COND_MIGRATING, "True", v.REASON_MIGRATING_IN_PROGRESS, f"{m.state}: {m.message}")
    elif any(op["spec"].get("type") in (v.VMOP_MIGRATE, v.VMOP_EVICT) for op in _unfinished_ops(r)):
        migratable = cond.get(r.conds, v.COND_MIGRATABLE) or {}
        awaiting = disks_awaiting_target(r) if r.status.get("phase") == v.VM_RUNNING and migratable.get("status") == "True" else []
        if awaiting:
            r.cond(v.COND_MIGRATING, "False", v.REASON_MIGRATING_PENDING, f"Migration is awaiting virtual disks to be ready to migrate [{', '.join(awaiting)}].")
        elif r.status.get("phase") == v.VM_RUNNING and migratable.get("status") == "True":
            r.cond(v.COND_MIGRATING, "False", v.REASON_READY_TO_MIGRATE, "The virtual machine is ready to migrate.")
        else:
            why = migratable.get("message") if migratable.get("status") == "False" else f"the virtual machine is {r.status.get('phase') or v.VM_PENDING}"
            r.cond(v.COND_MIGRATING, "False", v.REASON_MIGRATING_PENDING, f"The virtual machine cannot migrate now: {why}")
    else:
        cond.remove(r.conds, v.COND_MIGRATING)
    node = (r.pod or {}).get("spec", {}).get("nodeName")
    asked = ((r.pod or {}).get("metadata", {}).get("annotations") or {}).get(v.VM_EVACUATION_NODE_ANNOTATION)
    if node and asked == node:
        r.cond(v.COND_EVICTION_REQUIRED, "True", v.REASON_EVICTION_REQUIRED, f"The node {node} is being drained: the virtual machine must move.")
    else:
        cond.remove(r.conds, v.COND_EVICTION_REQUIRED)


def _unfinished_ops(r: Reconcile) -> list[dict[str, Any]]:
    from ..webhooks import vmop as vmop_hooks

    return [e.obj for e in r.store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{r.ns}/{r.name}")]


def evacuation_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod without its evacuation request (a copy)."""
    out = json_copy(pod)
    (out["metadata"].get("annotations") or {}).pop(v.VM_EVACUATION_NODE_ANNOTATION, None)
    return out
