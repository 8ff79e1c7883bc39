# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_maintenance's flow: read the cluster (nodes, pods, the VMs on the node, their classes and disks), the
preflight (migration_rules.plan_moves), cordon, the drain through the Eviction API with the platform's 429
evacuation protocol (BEHAVIOUR.md §7.1), uncordon. The cluster view is shared with vm_operation's preflight."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import vocabulary as v
from .client import APIStatusError, DVPClient
from .cpu_models import available_map
from .errors import DVPError, StreamBroken
from .kinds import NODE, PERSISTENT_VOLUME, PERSISTENT_VOLUME_CLAIM, POD, VIRTUAL_DISK, VIRTUAL_MACHINE, VIRTUAL_MACHINE_CLASS, VIRTUAL_MACHINE_OPERATION
from .migration_rules import CPUCheck, GuestCPU, Leaver, Move, describe_refusal, guest_cpu, node_cpu, plan_moves
from .scheduling import TERMINAL_PHASES, NodeState, node_state, pod_request_from_pod
from .waiter import condition

RETRY_PAUSE = 5.0  # seconds between evictions a disruption budget refused (kubectl drain's pause)
EVACUATION_NUDGE = 30.0  # seconds between evictions of a pod whose VM is being evacuated
EVACUATING = (v.EVICTION_TRIGGERED_EVACUATION, "Evacuation in progress")  # the interceptor's 429 texts (§7.1)


# -- reading the cluster -----------------------------------------------------------------------------------------
def cpu_checker() -> tuple[CPUCheck | None, str]:
    """CPUMap.runnable_on over the CPUs the nodes' labels describe; (None, why) without libvirt-python."""
    cpu_map, why = available_map()
    if cpu_map is None:
        return None, why

    def check(guest: GuestCPU, source: Any, target: Any) -> str | None:
        target_cpu, source_cpu = node_cpu(target), node_cpu(source)
        if target_cpu is None:
            return "the node has no CPU labels (the platform does not run VMs there)"
        return cpu_map.runnable_on(guest, target_cpu, source_cpu)

    return check, ""


def is_vm_pod(pod: dict[str, Any]) -> bool:
    return v.VM_NAME_LABEL in (pod["metadata"].get("labels") or {})


def terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


class ClusterView:
    """Nodes and pods read once; classes and disks read when a VM needs them."""

    def __init__(self, client: DVPClient):
        self.client = client
        self.nodes = {n["metadata"]["name"]: n for n in client.list(NODE)["items"]}
        self.pods_by_node: dict[str, list[dict[str, Any]]] = {}
        for pod in client.list(POD)["items"]:
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                self.pods_by_node.setdefault(node, []).append(pod)
        self._classes: dict[str, dict[str, Any] | None] = {}

    def states(self) -> list[NodeState]:
        return [node_state(node, self.pods_by_node.get(name, [])) for name, node in sorted(self.nodes.items())]

    def vm_pod(self, vm: dict[str, Any]) -> dict[str, Any] | None:
        meta = vm["metadata"]
        node = (vm.get("status") or {}).get("nodeName")
        for pod in self.pods_by_node.get(node or "", []):
            labels = pod["metadata"].get("labels") or {}
            if labels.get(v.VM_NAME_LABEL) == meta["name"] and pod["metadata"].get("namespace") == meta["namespace"] and not terminal(pod):
                return pod
        return None

    def vmclass(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        if name not in self._classes:
            self._classes[name] = self.client.get(VIRTUAL_MACHINE_CLASS, name)
        return self._classes[name]

    def pinned(self, vm: dict[str, Any], rwo_moves: bool = False) -> tuple[tuple[str, tuple[dict, ...]], ...]:
        """(disk, required node terms of its volume) for the VM's disks whose volume is bound to some nodes; with
        `rwo_moves` (an EE VM whose ReadWriteOnce disks move with it to new volumes on the target node: Migratable
        True, VirtualMachineDisksShouldBeMigrating) the ReadWriteOnce ones do not pin it."""
        namespace = vm["metadata"]["namespace"]
        out = []
        for ref in (vm.get("spec") or {}).get("blockDeviceRefs") or []:
            if ref.get("kind") != v.VIRTUAL_DISK:
                continue
            disk = self.client.get(VIRTUAL_DISK, ref["name"], namespace)
            claim_name = (((disk or {}).get("status") or {}).get("target") or {}).get("persistentVolumeClaimName")
            claim = self.client.get(PERSISTENT_VOLUME_CLAIM, claim_name, namespace) if claim_name else None
            if rwo_moves and claim is not None and v.RWX not in ((claim.get("spec") or {}).get("accessModes") or []):
                continue
            volume_name = ((claim or {}).get("spec") or {}).get("volumeName")
            volume = self.client.get(PERSISTENT_VOLUME, volume_name) if volume_name else None
            terms = ((((volume or {}).get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
            if terms:
                out.append((ref["name"], tuple(terms)))
        return tuple(out)

    def leaver(self, vm: dict[str, Any], pod: dict[str, Any] | None = None, node_selector: dict[str, str] | None = None) -> Leaver:
        pod = pod or self.vm_pod(vm) or {"metadata": {"namespace": vm["metadata"]["namespace"]}, "spec": {}}
        vmclass = self.vmclass((vm.get("spec") or {}).get("virtualMachineClassName"))
        available = ((vmclass or {}).get("status") or {}).get("availableNodes")
        migratable = condition(vm, v.COND_MIGRATABLE) or {}
        return Leaver(
            namespace=vm["metadata"]["namespace"],
            name=vm["metadata"]["name"],
            phase=(vm.get("status") or {}).get("phase"),
            pod=pod_request_from_pod(pod),
            available_nodes=frozenset(available) if available is not None else None,
            cpu=guest_cpu(vmclass) if vmclass else None,
            not_migratable=(migratable.get("message") or migratable.get("reason") or "Migratable=False") if migratable.get("status") == "False" else None,
            pinned=self.pinned(vm, migratable.get("reason") == v.REASON_DISKS_SHOULD_BE_MIGRATING),
            node_selector=dict(node_selector or {}),
        )


def move_report(move: Move) -> dict[str, Any]:
    return {"namespace": move.namespace, "name": move.name, "source": move.source, "target": move.target, "problems": list(move.problems),
            "nodes": {node: list(reasons) for node, reasons in move.nodes.items()}}  # fmt: skip


# -- what a drain moves -----------------------------------------------------------------------------------------
@dataclass
class Item:
    """One pod to take off the node: a VM's virt-launcher pod (vm set) or another pod."""

    namespace: str
    pod: str
    vm: str | None = None
    planned: str | None = None
    result: str = "pending"
    started: float | None = None
    duration: float | None = None
    target: str | None = None
    message: str = ""
    retry_at: float = 0.0
    evicted: bool = False  # the eviction was accepted (the pod is being deleted)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.pod)


@dataclass
class Selection:
    vms: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (pod, VM) of running VMs
    others: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def controller_kind(pod: dict[str, Any]) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("kind")
    return None


def daemon_pod(pod: dict[str, Any]) -> bool:
    """Managed by a DaemonSet (the platform's virt-handler is one, whatever its owner references say)."""
    labels = pod["metadata"].get("labels") or {}
    return controller_kind(pod) == v.DAEMON_SET or labels.get(v.VIRT_HANDLER_LABEL) == v.VIRT_HANDLER


def select(client: DVPClient, pods: list[dict[str, Any]], params: dict[str, Any]) -> Selection:
    """kubectl drain's pod filters: the VMs' pods always; with scope=all also the others, where DaemonSet pods are
    skipped with ignore_daemonsets (else refused), mirror pods skipped, pods with emptyDir data refused without
    delete_emptydir_data, pods no controller manages refused without force. A VM pod is never refused for its
    emptyDir volumes: the VM's state moves with the live migration."""
    sel = Selection()
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
        meta = pod["metadata"]
        where = f"{meta.get('namespace')}/{meta['name']}"
        if is_vm_pod(pod) and not terminal(pod):
            vm = client.get(VIRTUAL_MACHINE, meta["labels"][v.VM_NAME_LABEL], meta.get("namespace"))
            if vm is not None:
                sel.vms.append((pod, vm))
                continue
        if params["scope"] == "vms" and not is_vm_pod(pod):
            continue
        if v.MIRROR_POD_ANNOTATION in (meta.get("annotations") or {}):
            sel.skipped.append({"pod": where, "namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "reason": "mirror (static) pod"})
            continue
        if terminal(pod):
            sel.others.append(pod)
            continue
        if daemon_pod(pod):
            if params["ignore_daemonsets"]:
                sel.skipped.append({"pod": where, "namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "reason": "DaemonSet-managed"})
            else:
                sel.problems.append(f"pod {where}: managed by a DaemonSet; set ignore_daemonsets=true to leave such pods in place")
            continue
        if any("emptyDir" in vol for vol in (pod.get("spec") or {}).get("volumes") or []) and not params["delete_emptydir_data"]:
            sel.problems.append(f"pod {where}: has local storage (emptyDir) that the drain would delete; set delete_emptydir_data=true")
            continue
        if controller_kind(pod) is None and not params["force"]:
            sel.problems.append(f"pod {where}: no controller manages it, so nothing re-creates it elsewhere; set force=true to evict it anyway")
            continue
        sel.others.append(pod)
    return sel


# -- the module's flow ------------------------------------------------------------------------------------------
class Maintenance:
    def __init__(self, module: Any, client: DVPClient, clock: Callable[[], float] = time.monotonic):
        self.module, self.client, self.clock = module, client, clock
        self.p = module.params
        self.name = self.p["name"]
        self.events: list[str] = []
        self.start = clock()
        self.deadline = self.start + self.p["wait_timeout"]
        self.moved = 0

    def say(self, line: str) -> None:
        """A progress line: in the run's output at once (in-process) or the host's log, and in the result's events."""
        stamped = f"[{self.clock() - self.start:7.1f}s] {line}"
        self.events.append(stamped)
        self.module.log(f"node_maintenance {self.name}: {line}")

    def run(self) -> dict[str, Any]:
        node = self.client.get(NODE, self.name)
        if node is None:
            raise DVPError(f"name: Node {self.name} does not exist")
        cordoned = bool((node.get("spec") or {}).get("unschedulable"))
        state = self.p["state"]
        if state in ("cordoned", "uncordoned"):
            want = state == "cordoned"
            changed = cordoned != want
            if changed:
                self.set_unschedulable(want)
            return self.result(changed, cordoned, want)
        return self.drained(cordoned)

    def set_unschedulable(self, value: bool) -> None:
        body = {"spec": {"unschedulable": True if value else None}}
        self.client.patch(NODE, self.name, body, dry_run=self.module.check_mode)
        if not self.module.check_mode:
            self.say("cordoned" if value else "uncordoned")

    def result(self, changed: bool, before: bool, after: bool, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"changed": changed, "node": {"name": self.name, "unschedulable": after}, "events": self.events, **extra}
        if self.module._diff:
            out["diff"] = {"before": {"spec": {"unschedulable": before}}, "after": {"spec": {"unschedulable": after}}}
        return out

    # -- drained ----------------------------------------------------------------------------------------------
    def drained(self, cordoned: bool) -> dict[str, Any]:
        view = ClusterView(self.client)
        sel = select(self.client, view.pods_by_node.get(self.name, []), self.p)
        check, why = cpu_checker()
        if check is None:
            self.module.warn(f"CPU compatibility of the VMs' classes is not checked before the drain: {why}")
        moves = plan_moves([view.leaver(vm, pod) for pod, vm in sel.vms], view.states(), self.name, check)
        refusal = describe_refusal(moves)
        preflight = {"ok": not refusal and not sel.problems, "problems": sel.problems + refusal, "vms": [move_report(m) for m in moves]}
        if not preflight["ok"]:
            raise DVPError(
                f"node_maintenance {self.name}: the preflight refuses the drain, nothing was changed (the node stays "
                f"{'cordoned' if cordoned else 'schedulable'}): " + "; ".join(preflight["problems"]),
                preflight=preflight,
            )
        planned = {(m.namespace, m.name): m.target for m in moves}
        items = []
        for pod, vm in sel.vms:
            meta = vm["metadata"]
            items.append(Item(pod["metadata"]["namespace"], pod["metadata"]["name"], meta["name"], planned[(meta["namespace"], meta["name"])]))
        items += [Item(pod["metadata"]["namespace"], pod["metadata"]["name"]) for pod in sel.others]
        if self.p["preflight_only"]:
            return self.result(False, cordoned, cordoned, preflight=preflight, vms=[], pods=[], skipped_pods=sel.skipped)
        changed = not cordoned or bool(items)
        if self.module.check_mode:
            for item in items:
                item.result = "would move" if item.vm else "would evict"
                item.target = item.planned
            if not cordoned:
                self.set_unschedulable(True)
            return self.result(changed, cordoned, True, preflight=preflight, skipped_pods=sel.skipped, **self.report(items))
        if not cordoned:
            self.set_unschedulable(True)
        if items:
            self.say(f"{sum(1 for i in items if i.vm)} VM(s) and {sum(1 for i in items if not i.vm)} other pod(s) to move")
            self.drain(items)
        out = self.result(changed, cordoned, True, preflight=preflight, skipped_pods=sel.skipped, **self.report(items))
        failed = [i for i in items if i.result in ("failed", "timeout")]
        if failed:
            what = "; ".join(f"{i.namespace}/{i.vm or i.pod}: {i.result}: {i.message}" for i in failed)
            details = {k: out[k] for k in ("node", "vms", "pods", "events")}
            raise DVPError(f"node_maintenance {self.name}: the node is cordoned, but not drained: {what}", **details)
        return out

    def report(self, items: list[Item]) -> dict[str, Any]:
        vms = [i for i in items if i.vm]
        ops = self.evacuations(vms) if vms and not self.module.check_mode else {}
        return {
            "vms": [{"namespace": i.namespace, "name": i.vm, "pod": i.pod, "source": self.name, "target": i.target, "planned_target": i.planned,
                     "duration": None if i.duration is None else round(i.duration, 1), "result": i.result, "message": i.message,
                     "operation": ops.get((i.namespace, i.vm or ""))} for i in vms],  # fmt: skip
            "pods": [{"namespace": i.namespace, "name": i.pod, "result": i.result, "message": i.message} for i in items if not i.vm],
        }

    def evacuations(self, vms: list[Item]) -> dict[tuple[str, str], str]:
        """The newest evacuation-* operation of each VM (the platform's Evict that moved it)."""
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for namespace in sorted({i.namespace for i in vms}):
            for op in self.client.list(VIRTUAL_MACHINE_OPERATION, namespace)["items"]:
                if (op["metadata"].get("annotations") or {}).get(v.EVACUATION_ANNOTATION) != "true":
                    continue
                key = (namespace, (op.get("spec") or {}).get("virtualMachineName") or "")
                stamp = op["metadata"].get("creationTimestamp") or ""
                if key not in out or stamp >= out[key][0]:
                    out[key] = (stamp, op["metadata"]["name"])
        return {key: entry[1] for key, entry in out.items()}

    # -- the eviction loop --------------------------------------------------------------------------------------
    def drain(self, items: list[Item]) -> None:
        """Evict every pod; a VM pod's eviction answered 429 `Eviction triggered evacuation …` is an evacuation the
        platform runs (an evacuation-* Evict operation): the pod stays until the VM has left, then it completes and
        the next eviction removes it. At most max_concurrent evacuations are started at a time; budget 429s are
        retried every 5 s. Progress comes from one watch of the node's pods, not from polling."""
        queue = deque(i for i in items if i.vm)
        others = [i for i in items if not i.vm]
        active: dict[tuple[str, str], Item] = {}
        by_key = {i.key: i for i in items}
        total_vms = len(queue)
        for item in others:
            self.evict(item)
            if item.result == "pending":
                active[item.key] = item
        # The watch starts from a LIST made after those evictions: a pod they removed at once (no grace period, or
        # one that had completed) is already gone from it - its DELETED event came before the LIST's version and no
        # watch from there would bring it, so the drain waited out wait_timeout for a pod long gone.
        rv = self.resync(by_key, active, total_vms)
        while True:
            now = self.clock()
            for item in list(active.values()):
                if item.result == "pending" and item.retry_at and item.retry_at <= now:
                    self.evict(item)
            active = {k: i for k, i in active.items() if i.result == "pending"}
            while queue and sum(1 for i in active.values() if i.vm) < self.p["max_concurrent"]:
                item = queue.popleft()
                self.evict(item)
                if item.result == "pending":
                    active[item.key] = item
            if not active and not queue:
                return
            if not self.p["wait"]:
                for item in active.values():
                    item.result = "evacuating" if item.vm and not item.evicted else "evicting"
                for item in queue:
                    item.result = "not started"
                return
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                for item in [*active.values(), *queue]:
                    why = f"still on {self.name} after wait_timeout={self.p['wait_timeout']}s" + (f" ({item.message})" if item.message else "")
                    item.result, item.message = "timeout", why
                return
            retries = [i.retry_at for i in active.values() if i.retry_at]
            timeout = min([remaining, *(max(0.5, t - self.clock()) for t in retries)])
            rv = self.follow(rv, timeout, by_key, active, total_vms)

    def follow(self, rv: str, timeout: float, by_key: dict[tuple[str, str], Item], active: dict[tuple[str, str], Item], total_vms: int) -> str:
        """Watch the node's pods until something about an active item changes (or timeout); the new resourceVersion."""
        try:
            for event in self.client.watch_list(POD, None, rv, timeout, field_selector=f"spec.nodeName={self.name}", what=f"pods on node {self.name}"):
                if event.get("type") == "ERROR":
                    return self.resync(by_key, active, total_vms)
                obj = event.get("object") or {}
                meta = obj.get("metadata") or {}
                rv = meta.get("resourceVersion") or rv
                item = active.get((meta.get("namespace", ""), meta.get("name", "")))
                if item is None or event.get("type") == "BOOKMARK":
                    continue
                if event.get("type") == "DELETED":
                    self.gone(item, total_vms)
                    return rv
                if terminal(obj) and item.vm and not item.evicted:
                    self.left(item, total_vms)
                    self.evict(item)  # kubectl drain's next try: the completed pod is removed
                    return rv
        except APIStatusError as err:
            if err.status != 410:
                raise
            return self.resync(by_key, active, total_vms)
        except StreamBroken:
            return self.resync(by_key, active, total_vms)
        return rv

    def resync(self, by_key: dict[tuple[str, str], Item], active: dict[tuple[str, str], Item], total_vms: int) -> str:
        listing = self.client.list(POD, field_selector=f"spec.nodeName={self.name}")
        present = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in listing["items"]}
        for key, item in list(active.items()):
            pod = present.get(key)
            if pod is None:
                self.gone(item, total_vms)
            elif terminal(pod) and item.vm and not item.evicted:
                self.left(item, total_vms)
                self.evict(item)
        return listing["metadata"]["resourceVersion"]

    def left(self, item: Item, total_vms: int) -> None:
        """The VM's pod on this node completed: the VM runs elsewhere now."""
        if item.started is not None and item.duration is None:
            item.duration = self.clock() - item.started
        vm = self.client.get(VIRTUAL_MACHINE, item.vm or "", item.namespace)
        item.target = ((vm or {}).get("status") or {}).get("nodeName")
        phase = ((vm or {}).get("status") or {}).get("phase")
        item.message = f"{phase} on {item.target}" if item.target else f"{phase or 'gone'}, on no node"
        self.moved += 1
        self.say(f"{item.namespace}/{item.vm}: left {self.name} for {item.target} in {item.duration or 0:.1f}s, {item.message} ({self.moved}/{total_vms} VMs)")

    def gone(self, item: Item, total_vms: int) -> None:
        if item.vm and item.duration is None:
            self.left(item, total_vms)
        if item.vm:
            item.result = "moved" if item.target and item.target != self.name else "failed"
        else:
            item.result = "evicted"

    def evict(self, item: Item) -> None:
        item.retry_at = 0.0
        try:
            answer = self.client.evict(item.pod, item.namespace)
        except APIStatusError as err:
            text = err.message
            if err.status == 429 and item.vm and any(t in text for t in EVACUATING):
                if item.started is None:
                    item.started = self.clock()
                    self.say(f"{item.namespace}/{item.vm}: evacuation started (planned target {item.planned})")
                item.message = "evacuating"
                item.retry_at = self.clock() + EVACUATION_NUDGE  # as kubectl drain keeps asking: a failed evacuation is retried
                return
            if err.status == 429:
                item.retry_at = self.clock() + RETRY_PAUSE
                if item.message != text:
                    self.say(f"{item.namespace}/{item.vm or item.pod}: eviction refused for now, retrying every {RETRY_PAUSE:g}s: {text}")
                item.message = text
                return
            item.result, item.message = "failed", text
            self.say(f"{item.namespace}/{item.vm or item.pod}: eviction failed: {text}")
            return
        if answer is None:
            self.gone(item, 1)
            return
        item.evicted = True
        if item.started is None:
            item.started = self.clock()


def option_problems(p: dict[str, Any]) -> list[str]:
    """What the task alone contradicts, each naming the option and the rule."""
    problems = []
    if p["wait_timeout"] < 0:
        problems.append(f"wait_timeout: must be 0 or more seconds, got {p['wait_timeout']}")
    if p["max_concurrent"] < 1:
        problems.append(f"max_concurrent: at least 1 evacuation at a time, got {p['max_concurrent']}")
    drain_only = [o for o in ("preflight_only", "force", "delete_emptydir_data") if p.get(o)] + (["scope=all"] if p.get("scope") == "all" else [])
    if p["state"] != "drained" and drain_only:
        problems.append(f"{', '.join(drain_only)}: only used with state=drained, not state={p['state']}")
    if p.get("scope") == "vms" and (p.get("force") or p.get("delete_emptydir_data")):
        problems.append("force, delete_emptydir_data: only used with scope=all (a VM's pod moves by live migration)")
    return problems
