"""VirtualMachine controller (BEHAVIOUR.md §4.6–4.9, §5 VM side): conditions and phase, start gating, run
policies, the auto VMIP, scheduling through `scheduler`, the virt-launcher pod and the libvirt domain on the
chosen node's own connection, restart-awaiting changes, and deletion.

The running instance is the pod plus the domain. The pod carries the configuration it was started with (an
annotation): what differs from the spec now, among the fields that need a restart, is `restartAwaitingChanges`.
Placement (nodeSelector, affinity, the class's nodeSelector) joins them only when the VM's node no longer satisfies
it, and on EE only for a VM that cannot live-migrate: EE moves a migratable one (controllers/workload_updater.py).
Power intents come from VirtualMachineOperations (read through an index by VM) and the run policy; a VM that was
deliberately stopped is the one in phase Stopped.

Costs: a reconcile reads the VM's own class, devices, VMIP, pod and operations (by key or index); scheduling reads
the nodes and the pods on them. Events map precisely: a class wakes the VMs of that class (index), a disk or image
the VMs naming it (index), a pod or auto VMIP its owner, a VMOP its VM. Timers (boot, graceful stop, retry of an
unschedulable VM) run on the simulated clock.

Live migration (controllers/migration.py) is driven here too: a migration's target pod is not the VM's pod until
the switch; `EvictionRequired` and `Migrating` are reported from the pod's evacuation request and the migration. On
EE disks on ReadWriteOnce claims move with the VM (Migratable=True, VirtualMachineDisksShouldBeMigrating; the
storage migration of controllers/volume_migration.py), on CE they keep it from migrating."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Hashable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import domain_xml as dx
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vm_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from ..api.errors import APIError, bad_request
from ..api.quota import refusal_reason
from ..api.service import ObjectService, WriteOptions, json_copy
from ..clock import Clock
from ..images.datasource import mounted_by, object_value
from ..nodes import virsh
from ..nodes.fleet import Fleet
from ..nodes.hypervisor import domain_name
from ..nodes.pod_network import host_ip, pod_ip
from ..scheduler import Decision, NodeState, PodRequest, PodShare, node_state, node_state_of_shares, pod_request_from_pod, pod_share, schedule
from ..scheduler.columns import Columns, plain_pod
from ..scheduler.core import node_affinity_matches, node_term_matches
from ..store.store import DELETED, MODIFIED, NODE_NAME, OWNER, Entry, Event, Store
from ..webhooks import vmop as vmop_hooks
from . import conditions as cond
from . import firmware, ipam
from . import migration as migration_ctl
from .runtime import Context, Controller, Key, Requeue, controller_ref
from .vmclass import BY_CLASS, vm_class_name

log = logging.getLogger("dvp_simulator.controllers.vm")
GROUP = v.DVP_GROUP
VMS = v.resource_key(v.VIRTUAL_MACHINE)
CLASSES = v.resource_key(v.VIRTUAL_MACHINE_CLASS)
VMIPS = v.resource_key(v.VIRTUAL_MACHINE_IP_ADDRESS)
VMOPS = v.resource_key(v.VIRTUAL_MACHINE_OPERATION)
PODS = v.resource_key(v.POD)
NODES = v.resource_key(v.NODE)
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
SECRETS = v.resource_key(v.SECRET)
DEVICES = {k: v.resource_key(k) for k in (v.CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE, v.VIRTUAL_DISK)}
MANAGER = "virtualization-controller"
FINALIZER = v.VM_CLEANUP_FINALIZER
BY_DEVICE = "blockDevice"  # VMs: `Kind/namespace/name` of every spec.blockDeviceRefs item
BY_SECRET = "provisioningSecret"  # VMs: `namespace/name` of the provisioning Secret
MIN_FEASIBLE_NODES, BASE_PERCENT_TO_SCORE, MIN_PERCENT_TO_FIND = 100, 50, 5  # kube-scheduler's defaults
BOOT_DELAY = 3.0  # simulated seconds from the domain's start to Running (the guest boots)
GUEST_SHUTDOWN = 20.0  # simulated seconds the guest takes to shut down when asked (capped by the grace period)
RESCHEDULE = 10.0  # simulated seconds between placement attempts of an unschedulable VM
APPLIED = v.VM_APPLIED_SPEC_ANNOTATION
RESTART_OP = v.VM_RESTART_OPERATION_ANNOTATION
SHUTDOWN_ASKED = v.VM_SHUTDOWN_REQUESTED_ANNOTATION
GUEST_ACTIONS = (v.GUEST_SHUTDOWN, v.GUEST_REBOOT, v.GUEST_CRASH, v.GUEST_DIRTY_MEMORY)
GUEST_PARAMS = {v.GUEST_DIRTY_MEMORY: (v.GUEST_DIRTY_RATE,)}  # the members each action takes besides "action"
POD_SUCCEEDED, POD_FAILED = "Succeeded", "Failed"
VOLUMES = v.resource_key(v.PERSISTENT_VOLUME)
VOLUME_CONFLICT = "node(s) had volume node affinity conflict"
DEFAULT_RUN_POLICY = v.RUN_ALWAYS_ON_UNLESS_STOPPED
# the spec fields whose change needs a restart are vm_rules.RESTART_FIELDS (the vm module's check mode predicts with
# them); placement fields need one only when the VM's node no longer matches (placement_changes)


# -- pure helpers ---------------------------------------------------------------------------------------------------
def devices_of(vm: dict[str, Any]) -> list[str]:
    ns = vm["metadata"].get("namespace", "")
    return [object_value(r["kind"], ns, r["name"]) for r in (vm.get("spec") or {}).get("blockDeviceRefs") or [] if r.get("kind") and r.get("name")]


def secret_of(vm: dict[str, Any]) -> list[str]:
    prov = (vm.get("spec") or {}).get("provisioning") or {}
    ref = prov.get("userDataRef") or prov.get("sysprepRef") or {}
    return [f"{vm['metadata'].get('namespace', '')}/{ref['name']}"] if ref.get("name") and prov.get("type") in ("UserDataRef", "SysprepRef") else []


def placement(vm: dict[str, Any], vmclass: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    """The pod's nodeSelector, affinity and tolerations (§3.6): VM nodeSelector ∪ class matchLabels (class wins),
    class matchExpressions appended to every required node-affinity term, VM-to-VM (anti-)affinity as pod
    (anti-)affinity, tolerations VM then class."""
    spec = vm.get("spec") or {}
    cspec = vmclass.get("spec") or {}
    csel = cspec.get("nodeSelector") or {}
    selector = {**(spec.get("nodeSelector") or {}), **(csel.get("matchLabels") or {})}
    affinity: dict[str, Any] = {}
    vaff = spec.get("affinity") or {}
    node_aff = json_copy(vaff.get("nodeAffinity") or {})
    exprs = csel.get("matchExpressions") or []
    if exprs:
        required = node_aff.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
        terms = required.setdefault("nodeSelectorTerms", []) or [{}]
        required["nodeSelectorTerms"] = [{**t, "matchExpressions": [*(t.get("matchExpressions") or []), *exprs]} for t in terms]
    if node_aff:
        affinity["nodeAffinity"] = node_aff
    for src, dst in (("virtualMachineAndPodAffinity", "podAffinity"), ("virtualMachineAndPodAntiAffinity", "podAntiAffinity")):
        block = vaff.get(src)
        if block:
            out = {}
            if block.get("requiredDuringSchedulingIgnoredDuringExecution"):
                out["requiredDuringSchedulingIgnoredDuringExecution"] = block["requiredDuringSchedulingIgnoredDuringExecution"]
            if block.get("preferredDuringSchedulingIgnoredDuringExecution"):
                out["preferredDuringSchedulingIgnoredDuringExecution"] = [
                    {"weight": t.get("weight", 1), "podAffinityTerm": t.get("virtualMachineAndPodAffinityTerm") or {}}
                    for t in block["preferredDuringSchedulingIgnoredDuringExecution"]
                ]
            affinity[dst] = out
    tolerations = [*(spec.get("tolerations") or []), *(cspec.get("tolerations") or [])]
    return selector, affinity, tolerations


def node_matches(node: dict[str, Any], vm: dict[str, Any], vmclass: dict[str, Any]) -> bool:
    """Does the VM's node still satisfy the node-level placement it would get now (§3.6): the VM's nodeSelector and
    the class's matchLabels, and the required node affinity (the VM's terms with the class's matchExpressions)?"""
    selector, affinity, _ = placement(vm, vmclass)
    request = pod_request_from_pod({"spec": {"nodeSelector": selector, "affinity": affinity}})
    return node_affinity_matches(request, node_state(node, ()))


def placement_changes(pod_spec: dict[str, Any], vm: dict[str, Any], vmclass: dict[str, Any]) -> list[dict[str, Any]]:
    """restartAwaitingChanges entries for the placement: what the running pod was placed with (its nodeSelector and
    affinity, the merged §3.6 form) against what the VM would get now; `add` when the pod had none."""
    selector, affinity, _ = placement(vm, vmclass)
    applied = {"nodeSelector": pod_spec.get("nodeSelector") or None, "affinity": pod_spec.get("affinity") or None}
    return vm_rules.awaiting_changes(applied, {"nodeSelector": selector or None, "affinity": affinity or None})


def pinned_disks(
    store: Store, namespace: str, refs: list[dict[str, Any]], claims: dict[str, str] | None = None
) -> list[tuple[str, list[dict[str, Any]]]]:
    """(disk name, required nodeSelectorTerms of its PersistentVolume) for every referenced VirtualDisk whose
    volume is pinned to nodes (a node-local class binds its volumes where the first consumer runs); `claims`: the
    claim to read instead of the disk's own, by disk (a storage migration's target). Costs one lookup by key per
    disk, claim and volume."""
    out = []
    for ref in refs:
        if ref.get("kind") != v.VIRTUAL_DISK or not isinstance(ref.get("name"), str):
            continue
        disk = store.get(DEVICES[v.VIRTUAL_DISK], namespace, ref["name"])
        claim_name = (((disk.obj.get("status") or {}).get("target") or {}).get("persistentVolumeClaimName") if disk else None) or ""
        claim_name = (claims or {}).get(ref["name"], claim_name)
        claim = store.get(CLAIMS, namespace, claim_name) if claim_name else None
        pv_name = ((claim.obj.get("spec") or {}).get("volumeName") if claim else None) or ""
        pv = store.get(VOLUMES, "", pv_name) if pv_name else None
        terms = ((((pv.obj.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") if pv else None) or []
        if terms:
            out.append((ref["name"], terms))
    return out


def unreachable_disks(node: NodeState, pinned: list[tuple[str, list[dict[str, Any]]]]) -> list[str]:
    """The pinned disks whose volume's node affinity the node does not satisfy."""
    return [name for name, terms in pinned if not any(node_term_matches(t, node) for t in terms)]


def mac_of(uid: str) -> str:
    digest = hashlib.sha256(uid.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def _domain_name(vm: dict[str, Any]) -> str:
    return domain_name(vm["metadata"].get("namespace", ""), vm["metadata"]["name"])


# -- controller -----------------------------------------------------------------------------------------------------
def controller(store: Store, fleet: Fleet, migrations: migration_ctl.Migrations | None = None, edition: str | None = None) -> Controller:
    """`edition`: the cluster's Deckhouse edition (the topology's `cluster.edition`; EE when not given)."""
    store.add_index(VMS, BY_CLASS, vm_class_name)
    store.add_index(VMS, BY_DEVICE, devices_of)
    store.add_index(VMS, BY_SECRET, secret_of)
    ipam.register_indexes(store)
    vmop_hooks.register_indexes(store)
    domains: dict[Key, str] = {}  # VM → node whose hypervisor holds its domain (this process's libvirt state)
    node_states = NodeStates(store)
    migrations = migrations if migrations is not None else migration_ctl.Migrations()

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        vm = store.get(VMS, *key)
        if vm is None:
            _destroy_domain(fleet, domains, key, domain_name(*key))
            migrations.forget(key)
            return None
        with store.batch():  # one transaction: a kill -9 never leaves half a migration's switch (or a start) on disk
            return Reconcile(ctx, store, fleet, domains, node_states, json_copy(vm.obj), migrations, edition or v.EDITION_EE).run()

    def by_index(index: str, value: str) -> list[Key]:
        return [(e.namespace, e.name) for e in store.by_index(VMS, index, value)]

    def owner_vm(event: Event) -> list[Key]:
        meta = event.entry.obj["metadata"]
        return [(meta.get("namespace", ""), r["name"]) for r in meta.get("ownerReferences") or [] if r.get("kind") == v.VIRTUAL_MACHINE]

    def of_class(event: Event) -> list[Key]:
        return by_index(BY_CLASS, event.entry.name)

    def of_device(event: Event) -> list[Key]:
        e = event.entry
        return by_index(BY_DEVICE, object_value(e.obj.get("kind", ""), e.namespace, e.name))

    def of_vmip(event: Event) -> list[Key]:
        e = event.entry
        return sorted(set(owner_vm(event)) | set(by_index(ipam.BY_VMIP, f"{e.namespace}/{e.name}")))

    def of_vmop(event: Event) -> list[Key]:
        name = (event.entry.obj.get("spec") or {}).get("virtualMachineName")
        return [(event.entry.namespace, name)] if name else []

    def of_secret(event: Event) -> list[Key]:
        return by_index(BY_SECRET, f"{event.entry.namespace}/{event.entry.name}")

    def of_release(event: Event) -> list[Key]:
        """A module release (the virt-controller Deployment's launcher image changed): every VM is judged again
        against it — once per release, as the platform's new controller reconciles every VM when it starts."""
        e = event.entry
        if (e.namespace, e.name) != (v.MODULE_NAMESPACE, v.VIRT_CONTROLLER):
            return []
        if event.prev is not None and firmware.launcher_image_of(event.prev.obj) == firmware.launcher_image_of(e.obj):
            return []
        return [(vm.namespace, vm.name) for vm in store.list(VMS)]

    secondary = {
        PODS: owner_vm,
        CLASSES: of_class,
        VMIPS: of_vmip,
        VMOPS: of_vmop,
        SECRETS: of_secret,
        firmware.DEPLOYMENTS: of_release,
        **{res: of_device for res in DEVICES.values()},
    }
    return Controller("vm", VMS, reconcile, secondary)


def _destroy_domain(fleet: Fleet, domains: dict[Key, str], key: Key, name: str) -> None:
    node = domains.pop(key, None)
    if node is None or not fleet.reachable(node):
        return  # an unreachable node keeps what it runs (fencing or its own virt-handler at recovery decide)
    try:
        hv = fleet.hypervisor(node)
        if hv.state(name) is not None:
            hv.undefine(name)
    except Exception as exc:  # noqa: BLE001 - a domain already gone is what we want
        log.warning("undefine %s on %s: %s", name, node, exc)


def nodes_to_find(total: int) -> int:
    """kube-scheduler's numFeasibleNodesToFind with the default (adaptive) percentageOfNodesToScore: every node below
    100 (minFeasibleNodesToFind), else 50% less one point per 125 nodes, at least 5%, at least 100 nodes."""
    if total < MIN_FEASIBLE_NODES:
        return total
    percent = max(MIN_PERCENT_TO_FIND, BASE_PERCENT_TO_SCORE - total // 125)
    return max(MIN_FEASIBLE_NODES, total * percent // 100)


class NodeStates:
    """The scheduler's view of every node, each rebuilt only after a write to that Node or to a pod bound to it (the
    store tells within the write), so placing a VM costs O(nodes) instead of O(pods in the cluster). The list of all
    of them is kept between placements too, and only the states written since are replaced in it: at 1,000 nodes,
    walking the Node table for every placement cost as much as a third of the filtering."""

    def __init__(self, store: Store):
        self.store = store
        self.cache: dict[str, NodeState] = {}
        self.listed: list[NodeState] | None = None  # every node's state in key order; None after a Node came or went
        self.position: dict[str, int] = {}  # node name → its place in `listed`
        self.stale: set[str] = set()  # nodes in `listed` whose state was dropped from the cache since
        self.anti: set[str] = set()  # nodes whose pods carry required pod anti-affinity (any() without a walk)
        self.columns: Columns | None = None  # `listed` as numpy columns for plain pods, made at the first such placement
        # node → {(namespace, name) of each pod bound to it: the pod's share}, for the nodes whose state was made: kept
        # by the pods' writes, so a node's state, made again after every write to one of its pods, does not read every
        # pod of the node again (that was a sixth of the simulator's time rescheduling 1,000 VMs onto 4 nodes)
        self.shares: dict[str, dict[tuple[str, str], PodShare | None]] = {}
        store.observe(NODES, self._node_written)
        store.observe(PODS, self._pod_written)
        self.next_start = 0  # kube-scheduler's nextStartNodeIndex

    def _forget(self, node: str) -> None:
        self.cache.pop(node, None)
        self.stale.add(node)

    def _node_written(self, event: Event) -> None:
        name = event.entry.name
        self._forget(name)
        if event.type == DELETED:
            self.shares.pop(name, None)  # its pods count again from the index if it comes back
        if event.type != MODIFIED or name not in self.position:
            self.listed = None  # a Node added or deleted: the list is made again in key order

    def _pod_written(self, event: Event) -> None:
        key = (event.entry.namespace, event.entry.name)
        if event.prev is not None:
            node = event.prev.obj.get("spec", {}).get("nodeName")
            if node:
                self._forget(node)
                self.shares.get(node, {}).pop(key, None)
        node = event.entry.obj.get("spec", {}).get("nodeName")
        if node:
            self._forget(node)
            on_node = self.shares.get(node)
            if event.type == DELETED:
                if on_node is not None:
                    on_node.pop(key, None)
            elif on_node is not None:
                on_node[key] = pod_share(event.entry.obj)

    def _state(self, entry: Entry) -> NodeState:
        state = self.cache.get(entry.name)
        if state is None:
            on_node = self.shares.get(entry.name)
            if on_node is None:
                on_node = self.shares[entry.name] = {(p.namespace, p.name): pod_share(p.obj) for p in self.store.by_index(PODS, NODE_NAME, entry.name)}
            state = self.cache[entry.name] = node_state_of_shares(entry.obj, [on_node[key] for key in sorted(on_node)])
            if state.pod_anti_affinity:
                self.anti.add(entry.name)
            else:
                self.anti.discard(entry.name)
        return state

    def all(self) -> list[NodeState]:
        """Every node's state, in key order (a new list each call: callers may keep or reorder it)."""
        if self.listed is None:
            entries = self.store.list(NODES)
            self.stale.clear()
            self.listed = [self._state(entry) for entry in entries]
            self.position = {entry.name: i for i, entry in enumerate(entries)}
            self.anti &= self.position.keys()
            self.columns = None
        elif self.stale:
            for name in self.stale:
                entry = self.store.get(NODES, "", name)
                if entry is not None and name in self.position:
                    state = self.listed[self.position[name]] = self._state(entry)
                    if self.columns is not None:
                        self.columns.update(self.position[name], state)
            self.stale.clear()
        return list(self.listed)

    def any_pod_anti_affinity(self) -> bool:
        """Whether a pod on some node has required pod anti-affinity (as of the last all())."""
        return bool(self.anti)

    def place(self, pod: PodRequest, extra_filter: Any, allowed: tuple[Hashable, Collection[str]] | None = None) -> Decision:
        """Schedule one pod as kube-scheduler does with its default percentageOfNodesToScore: in a cluster of 100
        nodes or more it stops filtering once it has found `nodes_to_find` feasible nodes, starting where the previous
        placement stopped (round robin), and scores only those. Pod (anti-)affinity needs every node's pods, so a pod
        with such terms, or any pod while a placed pod has required anti-affinity, is filtered over all nodes; so is
        one that does not find enough feasible nodes (the failure message then counts every node, as before).

        `allowed` (a key that changes with the set, the set): the caller's word that `extra_filter` passes exactly
        the nodes the set names. A plain pod is then placed over numpy columns (scheduler/columns.py) with the same
        outcome as the search below, whenever every node is plain."""
        states = self.all()
        want = nodes_to_find(len(states))
        affinity = pod.affinity or {}
        if want >= len(states) or affinity.get("podAffinity") or affinity.get("podAntiAffinity") or self.any_pod_anti_affinity():
            return schedule(pod, states, extra_filter)
        start = self.next_start % len(states)
        if allowed is not None and plain_pod(pod):
            if self.columns is None:
                self.columns = Columns(self.listed or [])
            placed = self.columns.place(pod, self.columns.mask(*allowed), start, want)
            if placed is not None:
                decision, seen = placed
                self.next_start = start + seen
                return decision if decision is not None else schedule(pod, states, extra_filter)
        order = states[start:] + states[:start]
        found: list[NodeState] = []
        seen = 0
        decision: Decision | None = None
        while len(found) < want and seen < len(order):
            chunk = order[seen : seen + want - len(found)]
            seen += len(chunk)
            decision = schedule(pod, chunk, extra_filter)
            feasible = set(decision.feasible)
            if not found and len(feasible) == len(chunk):
                found = chunk
                break  # every node of the first chunk fits: its decision scored exactly the nodes found
            found += [state for state in chunk if state.name in feasible]
            decision = None
        self.next_start = start + seen
        if len(found) < want:
            return schedule(pod, states, extra_filter)  # every node was filtered anyway: the same decision
        return decision if decision is not None else schedule(pod, found, extra_filter)


class Reconcile:
    """One reconcile of one VM: reads what it depends on, then converges power state and status."""

    def __init__(
        self,
        ctx: Context,
        store: Store,
        fleet: Fleet,
        domains: dict[Key, str],
        node_states: NodeStates,
        vm: dict[str, Any],
        migrations: migration_ctl.Migrations | None = None,
        edition: str = v.EDITION_EE,
    ):
        self.ctx, self.store, self.fleet, self.domains, self.node_states, self.vm = ctx, store, fleet, domains, node_states, vm
        self.edition = edition
        self.migrations = migrations if migrations is not None else migration_ctl.Migrations()
        self.target_pods: list[dict[str, Any]] = []
        self.service: ObjectService = ctx.service
        self.clock: Clock = ctx.clock
        meta = vm["metadata"]
        self.ns, self.name, self.uid, self.gen = meta.get("namespace", ""), meta["name"], meta["uid"], meta.get("generation", 1)
        self.key = (self.ns, self.name)
        self.spec = vm.get("spec") or {}
        self.status = json_copy(vm.get("status") or {})
        self.conds: list[dict[str, Any]] = self.status.setdefault("conditions", [])
        self.now = self.clock.stamp()
        self.requeue: float | None = None
        self.rwo_disks: list[str] = []  # the VM's disks on ReadWriteOnce claims (migratable())

    # -- small tools --------------------------------------------------------------------------------------------
    def rt(self, res: str):
        return self.service.registry.types[res]

    def opts(self, res: str, sub: str | None = None, with_status: bool = False) -> WriteOptions:
        return WriteOptions(version=self.rt(res).storage_version, manager=MANAGER, subresource=sub, with_status=with_status)

    def cond(self, type_: str, status: str, reason: str, message: str = "") -> None:
        cond.set_condition(self.conds, type_, status, reason, message, self.gen, self.now)

    def after(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def find(self, res: str, ns: str, name: str) -> dict[str, Any] | None:
        e = self.store.get(res, ns, name)
        return e.obj if e is not None else None

    # -- the reconcile ---------------------------------------------------------------------------------------------
    def run(self) -> Requeue | None:
        if self.vm["metadata"].get("deletionTimestamp"):
            return self.delete()
        self.vmclass = self.find(CLASSES, "", self.spec.get("virtualMachineClassName") or "")
        self.pod = self.active_pod()
        class_ok = self.check_class()
        sizing_ok = self.check_sizing()
        devices_ok, self.devices = self.check_devices()
        vmip_ok = self.check_vmip()
        prov_ok = self.check_provisioning()
        ready = class_ok and sizing_ok and devices_ok and vmip_ok and prov_ok
        self.converge(ready)
        self.finish_status()
        return Requeue(self.requeue) if self.requeue is not None else None

    def active_pod(self) -> dict[str, Any] | None:
        """The VM's pod (a migration's target pod is not it until the migration switches over)."""
        pods = [e.obj for e in self.store.by_index(PODS, OWNER, self.uid) if not e.obj["metadata"].get("deletionTimestamp")]
        self.target_pods = [p for p in pods if v.VM_MIGRATION_TARGET_ANNOTATION in (p["metadata"].get("annotations") or {})]
        pods = [p for p in pods if v.VM_MIGRATION_TARGET_ANNOTATION not in (p["metadata"].get("annotations") or {})]
        return pods[0] if pods else None

    # -- dependencies -------------------------------------------------------------------------------------------
    def check_class(self) -> bool:
        c = self.vmclass
        name = self.spec.get("virtualMachineClassName")
        if c is None:
            self.cond(v.COND_VMCLASS_READY, "False", v.REASON_VMCLASS_NOT_READY, f'VirtualMachineClass "{name}" not found.')
            return False
        cpu_type = ((c.get("spec") or {}).get("cpu") or {}).get("type")
        enabled = ((c.get("status") or {}).get("cpuFeatures") or {}).get("enabled")
        if (c.get("status") or {}).get("phase") != v.READY or (cpu_type in ("Discovery", "Features") and not enabled):
            self.cond(v.COND_VMCLASS_READY, "False", v.REASON_VMCLASS_NOT_READY, f'VirtualMachineClass "{name}" is not ready.')
            return False
        self.cond(v.COND_VMCLASS_READY, "True", v.REASON_VMCLASS_READY)
        return True

    def check_sizing(self) -> bool:
        name = self.spec.get("virtualMachineClassName") or ""
        c = self.vmclass
        if c is None:
            self.cond(v.COND_SIZING_POLICY_MATCHED, "False", v.REASON_VMCLASS_NOT_FOUND, f'VirtualMachineClass "{name}" not found.')
            return False
        if c["metadata"].get("deletionTimestamp"):
            self.cond(v.COND_SIZING_POLICY_MATCHED, "False", v.REASON_VMCLASS_TERMINATING, f'VirtualMachineClass "{name}" is terminating.')
            return False
        cpu = self.spec.get("cpu") or {}
        policies = (c.get("spec") or {}).get("sizingPolicies") or []
        message = vm_rules.check_sizing_policy(cpu.get("cores") or 0, cpu.get("coreFraction"), (self.spec.get("memory") or {}).get("size") or 0, name, policies)
        if message:
            self.cond(v.COND_SIZING_POLICY_MATCHED, "False", v.REASON_SIZING_POLICY_NOT_MATCHED, f"The VirtualMachine {message}")
            return False
        cond.remove(self.conds, v.COND_SIZING_POLICY_MATCHED)
        return True

    def check_devices(self) -> tuple[bool, list[dict[str, Any]]]:
        """(ready, [{ref, obj, size}]): images Ready; disks Ready or WaitForFirstConsumer and not used by another
        running VM."""
        refs = self.spec.get("blockDeviceRefs") or []
        found, ready, wffc, problems = [], 0, 0, []
        for ref in refs:
            kind, name = ref.get("kind"), ref.get("name", "")
            res = DEVICES.get(kind)
            obj = self.find(res, "" if kind == v.CLUSTER_VIRTUAL_IMAGE else self.ns, name) if res else None
            st = (obj or {}).get("status") or {}
            size = st.get("capacity") if kind == v.VIRTUAL_DISK else (st.get("size") or {}).get("unpacked")
            found.append({"ref": ref, "obj": obj, "size": size})
            if obj is None:
                problems.append(f"{kind} {name} not found")
                continue
            if kind == v.VIRTUAL_DISK:
                others = [u for u in mounted_by(self.service, kind, name, self.ns) if u != f"{self.ns}/{self.name}"]
                if others:
                    problems.append(f"VirtualDisk {name} is in use by the virtual machine {others[0]}")
                elif st.get("phase") in (v.READY, v.MIGRATING):  # a migrating disk is Ready on its source volume
                    ready += 1
                elif st.get("phase") == v.WAIT_FOR_FIRST_CONSUMER:
                    ready += 1
                    wffc += 1
                else:
                    problems.append(f"VirtualDisk {name} is not ready")
            elif st.get("phase") == v.READY:
                ready += 1
            else:
                problems.append(f"{kind} {name} is not ready")
        if problems:
            self.cond(
                v.COND_BLOCK_DEVICES_READY,
                "False",
                v.REASON_BLOCK_DEVICES_NOT_READY,
                f"Waiting for block devices to be ready to use: {ready}/{len(refs)}; " + "; ".join(problems) + ".",
            )
            return False, found
        if wffc and self.pod is None:
            self.cond(
                v.COND_BLOCK_DEVICES_READY,
                "False",
                v.REASON_WAITING_FOR_WFFC_DEVICES,
                f"Waiting for {wffc} WaitForFirstConsumer virtual disk(s) to be bound on the node the virtual machine is scheduled to.",
            )
            return True, found
        self.cond(v.COND_BLOCK_DEVICES_READY, "True", v.REASON_BLOCK_DEVICES_READY)
        return True, found

    def check_vmip(self) -> bool:
        if not vm_rules.has_main_network(self.spec):
            cond.remove(self.conds, v.COND_VMIP_READY)
            self.status["ipAddress"] = ""
            self.status.pop("virtualMachineIPAddressName", None)
            return True
        name = self.spec.get("virtualMachineIPAddressName")
        vmip = None
        if name:
            vmip = self.find(VMIPS, self.ns, name)
        else:
            owned = [e.obj for e in self.store.by_index(VMIPS, OWNER, self.uid)]
            vmip = owned[0] if owned else self.create_vmip()
            name = vmip["metadata"]["name"]
        self.status["virtualMachineIPAddressName"] = name
        if vmip is None:
            self.cond(v.COND_VMIP_READY, "False", v.REASON_VMIP_NOT_READY, f'VirtualMachineIPAddress "{name}" not found.')
            return False
        st = vmip.get("status") or {}
        conds = st.get("conditions") or []
        bound = (cond.get(conds, v.COND_BOUND) or {}).get("status") == "True"
        if bound and st.get("address"):
            # the address of the bound VMIP (BEHAVIOUR.md §4.7): an address the VMIP has picked but whose lease is not
            # Bound yet is not the VM's
            self.status["ipAddress"] = st["address"]
        attached = (cond.get(conds, v.COND_ATTACHED) or {}).get("status") == "True" and st.get("virtualMachineName") == self.name
        if bound and attached:
            self.cond(v.COND_VMIP_READY, "True", v.REASON_VMIP_READY)
            return True
        holder = st.get("virtualMachineName")
        if bound and holder and holder != self.name:
            message = f'VirtualMachineIPAddress "{name}" is attached to the virtual machine "{holder}".'
        else:
            message = f'Waiting for VirtualMachineIPAddress "{name}" to be bound and attached (phase {st.get("phase") or v.PENDING}).'
        self.cond(v.COND_VMIP_READY, "False", v.REASON_VMIP_NOT_READY, message)
        return False

    def create_vmip(self) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{v.DVP_VERSION}",
            "kind": v.VIRTUAL_MACHINE_IP_ADDRESS,
            "metadata": {
                "generateName": f"{self.name}-",
                "labels": {v.VM_UID_LABEL: self.uid},
                "ownerReferences": [controller_ref(f"{GROUP}/{v.DVP_VERSION}", v.VIRTUAL_MACHINE, self.name, self.uid)],
            },
            "spec": {"type": v.VMIP_AUTO},
        }
        return self.service.create(self.rt(VMIPS), self.ns, body, self.opts(VMIPS)).obj

    def check_provisioning(self) -> bool:
        prov = self.spec.get("provisioning")
        if not prov:
            cond.remove(self.conds, v.COND_PROVISIONING_READY)
            return True
        kind = prov.get("type")
        if kind in ("UserDataRef", "SysprepRef"):
            ref = prov.get("userDataRef") or prov.get("sysprepRef") or {}
            secret = self.find(SECRETS, self.ns, ref.get("name", ""))
            wanted = v.SECRET_TYPE_CLOUD_INIT if kind == "UserDataRef" else v.SECRET_TYPE_SYSPREP
            if secret is None:
                self.cond(v.COND_PROVISIONING_READY, "False", v.REASON_PROVISIONING_NOT_READY, f'Secret "{ref.get("name")}" not found.')
                return False
            if secret.get("type") != wanted:
                self.cond(
                    v.COND_PROVISIONING_READY,
                    "False",
                    v.REASON_PROVISIONING_NOT_READY,
                    f'Secret "{ref.get("name")}" must have the type {wanted}, not {secret.get("type")}.',
                )
                return False
            keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
            if kind == "UserDataRef" and not keys & {"userData", "userdata"}:
                self.cond(v.COND_PROVISIONING_READY, "False", v.REASON_PROVISIONING_NOT_READY, f'Secret "{ref.get("name")}" has no userData key.')
                return False
        self.cond(v.COND_PROVISIONING_READY, "True", v.REASON_PROVISIONING_READY)
        return True

    # -- power ----------------------------------------------------------------------------------------------------
    def operations(self) -> list[dict[str, Any]]:
        """In-progress power operations of this VM, oldest first."""
        ops = [e.obj for e in self.store.by_index(VMOPS, vmop_hooks.UNFINISHED, f"{self.ns}/{self.name}")]
        ops = [o for o in ops if (o.get("status") or {}).get("phase") == v.VMOP_IN_PROGRESS and o["spec"].get("type") in vm_rules.POWER_TYPES]
        return sorted(ops, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))

    def converge(self, ready: bool) -> None:
        policy = self.spec.get("runPolicy") or DEFAULT_RUN_POLICY
        phase = self.status.get("phase") or ""
        ops = self.operations()
        op = ops[-1] if ops else None
        op_type = op["spec"]["type"] if op else None
        force = bool(op and op["spec"].get("force"))
        migration_ctl.before_converge(self)
        if self.pod is not None and (self.pod.get("status") or {}).get("phase") in (POD_SUCCEEDED, POD_FAILED):
            if self.guest_ended(policy):
                return
            phase = self.status.get("phase") or ""
        # a shutdown already sent goes on even if its operation is deleted (§6.4: nothing sent is reverted)
        stopping = self.pod is not None and op is None and SHUTDOWN_ASKED in (self.pod["metadata"].get("annotations") or {})
        if policy == v.RUN_ALWAYS_OFF or (stopping and policy != v.RUN_ALWAYS_ON and not self.automatic_restart_due()):
            want = False
        elif op_type == v.VMOP_STOP and policy != v.RUN_ALWAYS_ON:
            want = False
        elif policy == v.RUN_ALWAYS_ON or op_type in (v.VMOP_START, v.VMOP_RESTART) or self.pod is not None:
            want = True
        elif policy == v.RUN_MANUAL:
            want = False
        else:  # AlwaysOnUnlessStoppedManually: runs unless it was stopped (phase Stopped)
            want = phase != v.VM_STOPPED
        if self.pod is not None and not want:
            if self.shut_down(force):
                self.stop()
                self.set_phase(v.VM_STOPPED)
            return
        if self.pod is not None:
            restart_op = op if op_type == v.VMOP_RESTART else None
            if restart_op and (self.pod["metadata"].get("annotations") or {}).get(RESTART_OP) != restart_op["metadata"]["name"]:
                if not self.shut_down(force):
                    return
                self.stop()
            elif self.automatic_restart_due():
                if not self.shut_down(False):
                    return
                self.service.record_event(
                    self.vm, "Normal", "VMChangesApplied", "The virtual machine was restarted to apply the changes awaiting a restart.", MANAGER
                )
                self.stop()
            else:
                if not migration_ctl.drive(self):  # a live migration reports the VM itself
                    self.running()
                return
            self.set_phase(v.VM_STOPPED)
            self.flush()  # a restart is seen passing through Stopped
            if not ready:
                self.set_phase(v.VM_PENDING)
                self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "Waiting for the dependencies of the virtual machine to be ready.")
                return
            self.start(op if op_type == v.VMOP_RESTART else None)
            return
        if not want:
            self.set_phase(v.VM_STOPPED)
            self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "The virtual machine is stopped.")
            return
        if not ready:
            self.set_phase(v.VM_PENDING)
            self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "Waiting for the dependencies of the virtual machine to be ready.")
            return
        self.start(op if op_type == v.VMOP_RESTART else None)

    def shut_down(self, force: bool) -> bool:
        """Ask the guest to shut down (once: the time is kept on the pod) and say whether the instance may go now.
        The guest takes GUEST_SHUTDOWN simulated seconds, cut short by the pod's terminationGracePeriodSeconds
        (then the domain is destroyed); `force` goes at once. Meanwhile the VM is Stopping."""
        if force:
            return True
        assert self.pod is not None
        annotations = self.pod["metadata"].get("annotations") or {}
        asked = annotations.get(SHUTDOWN_ASKED)
        if asked is None:
            asked = self.now
            body = {**self.pod, "metadata": {**self.pod["metadata"], "annotations": {**annotations, SHUTDOWN_ASKED: asked}}}
            self.pod = self.service.update(self.rt(PODS), self.ns, self.pod["metadata"]["name"], body, self.opts(PODS)).obj
            self.fleet.launcher_log(self.pod, "Signaled graceful shutdown.", self.vm)
        grace = self.pod["spec"].get("terminationGracePeriodSeconds")
        grace = 60 if not isinstance(grace, int) or grace < 0 else grace
        left = min(GUEST_SHUTDOWN, grace) - (self.clock.time() - Clock.parse(asked))
        if left <= 0:
            return True
        self.set_phase(v.VM_STOPPING)
        self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "The virtual machine is shutting down.")
        self.after(left)
        return False

    def guest_ended(self, policy: str) -> bool:
        """The guest powered off by itself (pod Succeeded) or crashed (pod Failed): the instance goes; the run
        policy decides what follows (§4.6): AlwaysOn restarts on both; AlwaysOnUnlessStoppedManually stays Stopped
        after a shutdown and restarts after a crash; Manual stays down. True when the VM stays Stopped."""
        assert self.pod is not None
        crashed = self.pod["status"].get("phase") == POD_FAILED
        self.service.record_event(
            self.vm,
            "Warning" if crashed else "Normal",
            "GuestCrashed" if crashed else "GuestShutdown",
            "The guest of the virtual machine crashed." if crashed else "The guest of the virtual machine shut down.",
            MANAGER,
        )
        self.stop()
        restart = policy == v.RUN_ALWAYS_ON or (crashed and policy == v.RUN_ALWAYS_ON_UNLESS_STOPPED)
        if restart:
            return False
        self.set_phase(v.VM_STOPPED)
        return True

    def flush(self) -> None:
        """Write the status as it is now (an intermediate phase others should see)."""
        if self.status != (self.vm.get("status") or {}):
            self.vm = self.service.update(self.rt(VMS), self.ns, self.name, {**self.vm, "status": self.status}, self.opts(VMS, "status")).obj
            self.status = json_copy(self.vm.get("status") or {})
            self.conds = self.status.setdefault("conditions", [])

    def automatic_restart_due(self) -> bool:
        approval = (self.spec.get("disruptions") or {}).get("restartApprovalMode") or v.RESTART_APPROVAL_MANUAL
        return approval == v.RESTART_APPROVAL_AUTOMATIC and bool(self.changes())

    def changes(self) -> list[dict[str, Any]]:
        """What the spec (and the class's placement) asks for that the running instance does not have. A placement its
        node no longer satisfies needs a restart on CE (§3.2); on EE only when the VM cannot live-migrate (§9: EE
        applies nodeSelector / affinity by live migration, which needs a migratable VM)."""
        if self.pod is None:
            return []
        try:
            applied = json.loads((self.pod["metadata"].get("annotations") or {}).get(APPLIED) or "{}")
        except ValueError:
            applied = {}
        out = vm_rules.awaiting_changes(applied, vm_rules.restart_fields(self.spec))
        node = self.find(NODES, "", self.pod["spec"].get("nodeName") or "")
        if node is None or self.vmclass is None or node_matches(node, self.vm, self.vmclass):
            return out  # a placement the node still satisfies changes nothing for the running instance
        migratable = (cond.get(self.conds, v.COND_MIGRATABLE) or {}).get("status") == "True"
        if self.edition != v.EDITION_CE and migratable:
            return out  # EE: the workload updater live-migrates it to a conforming node (controllers/workload_updater.py)
        return out + placement_changes(self.pod["spec"], self.vm, self.vmclass)

    def running(self) -> None:
        """The instance exists: keep the domain defined and running, report Starting until the guest booted."""
        node = self.pod["spec"].get("nodeName")
        self.ensure_domain(node)
        created = Clock.parse(self.pod["metadata"]["creationTimestamp"])
        left = BOOT_DELAY - (self.clock.time() - created)
        self.status["nodeName"] = node
        self.status["virtualMachinePods"] = [{"name": self.pod["metadata"]["name"], "active": True}]
        if left > 0:
            self.set_phase(v.VM_STARTING)
            self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "The virtual machine is starting.")
            self.after(left)
            return
        if self.status.get("phase") != v.VM_RUNNING:
            self.status.setdefault("stats", {})["lastStartTime"] = self.now
        self.set_phase(v.VM_RUNNING)
        self.cond(v.COND_RUNNING, "True", v.REASON_RUNNING)

    def start(self, restart_op: dict[str, Any] | None) -> None:
        assert self.vmclass is not None
        pod = self.pod_body(restart_op)
        available = set((self.vmclass.get("status") or {}).get("availableNodes") or [])

        pinned = pinned_disks(self.store, self.ns, self.spec.get("blockDeviceRefs") or [])

        def class_filter(node: Any) -> str | None:
            if node.name not in available:
                return "node(s) didn't match the VirtualMachineClass node selector"
            return VOLUME_CONFLICT if pinned and unreachable_disks(node, pinned) else None

        # the class's nodes, for placement over columns: class_filter passes exactly those when no disk pins the VM
        meta = self.vmclass["metadata"]
        allowed = None if pinned else ((meta.get("uid"), meta.get("resourceVersion")), available)
        decision = self.node_states.place(pod_request_from_pod(pod), class_filter, allowed)
        if decision.node is None:
            self.set_phase(v.VM_PENDING)
            self.cond(v.COND_RUNNING, "False", v.REASON_POD_NOT_STARTED, decision.message)
            self.status.pop("nodeName", None)
            self.after(RESCHEDULE)
            return
        pod["spec"]["nodeName"] = decision.node
        # bound and running in its one create: the simulated kubelet starts it within this reconcile, so a version
        # of the pod without its status is one nobody could have acted on
        pod["status"] = self.pod_status(decision.node, pod)
        try:
            self.pod = self.service.create(self.rt(PODS), self.ns, pod, self.opts(PODS, with_status=True)).obj
        except APIError as error:
            if error.code != 403:
                raise
            self.pod_refused(error)
            return
        self.select_node_for_claims(decision.node)
        self.ensure_domain(decision.node, fresh=True)
        self.status["nodeName"] = decision.node
        self.status["virtualMachinePods"] = [{"name": self.pod["metadata"]["name"], "active": True}]
        self.set_phase(v.VM_STARTING)
        self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "The virtual machine is starting.")
        self.after(BOOT_DELAY)

    def pod_refused(self, error: APIError) -> None:
        """The virt-launcher pod refused at admission (a ResourceQuota, a LimitRange), as KubeVirt reports it: the VM
        stays Pending with the API server's words on Running, a Warning FailedCreate event says so once per refusal
        (not per attempt: each names a new pod), and the start is tried again after RESCHEDULE."""
        message = f"Error creating pod: {error.message}"
        before = (cond.get(self.conds, v.COND_RUNNING) or {}).get("message") or ""
        if refusal_reason(before) != refusal_reason(error.message):
            self.service.record_event(self.vm, "Warning", v.EVENT_FAILED_CREATE, message, MANAGER)
        self.set_phase(v.VM_PENDING)
        self.cond(v.COND_RUNNING, "False", v.REASON_POD_NOT_STARTED, message)
        self.status.pop("nodeName", None)
        self.after(RESCHEDULE)

    def pod_body(self, restart_op: dict[str, Any] | None) -> dict[str, Any]:
        assert self.vmclass is not None
        cpu = self.spec.get("cpu") or {}
        cores = cpu.get("cores") or 1
        memory = (self.spec.get("memory") or {}).get("size") or 0
        selector, affinity, tolerations = placement(self.vm, self.vmclass)
        labels = {
            **(self.vm["metadata"].get("labels") or {}),
            v.VIRT_HANDLER_LABEL: v.VIRT_LAUNCHER,
            v.VM_NAME_LABEL: self.name,
            v.KUBEVIRT_DOMAIN_LABEL: self.name,
            v.KUBEVIRT_CREATED_BY_LABEL: self.uid,
        }
        annotations = {APPLIED: json.dumps(vm_rules.restart_fields(self.spec), sort_keys=True, separators=(",", ":"))}
        if self.status.get("ipAddress"):
            annotations[v.CNI_IP_ADDRESS_ANNOTATION] = self.status["ipAddress"]  # DVP's IPAM: the pod holds the VM's IP
        if restart_op is not None:
            annotations[RESTART_OP] = restart_op["metadata"]["name"]
        requests = {"cpu": f"{vm_rules.cpu_request_millis(cores, cpu.get('coreFraction'))}m", "memory": str(vm_rules.memory_request_bytes(memory, cores))}
        volumes = []
        for dev in self.devices:
            if dev["ref"].get("kind") == v.VIRTUAL_DISK and dev["obj"]:
                claim = ((dev["obj"].get("status") or {}).get("target") or {}).get("persistentVolumeClaimName")
                if claim:
                    volumes.append({"name": f"vd-{dev['ref']['name']}", "persistentVolumeClaim": {"claimName": claim}})
        spec: dict[str, Any] = {
            "containers": [
                {
                    "name": firmware.COMPUTE,
                    "image": firmware.current_image(self.store),  # the module's release now: the VM's firmware
                    "resources": {"requests": requests, "limits": {"cpu": str(cores), "memory": requests["memory"]}},
                }
            ],
            "volumes": volumes,
            "tolerations": tolerations,
            "terminationGracePeriodSeconds": self.spec.get("terminationGracePeriodSeconds", 60),
        }
        if selector:
            spec["nodeSelector"] = selector
        if affinity:
            spec["affinity"] = affinity
        if self.spec.get("priorityClassName"):  # resolved by the Priority plugin: a class that does not exist refuses the pod
            spec["priorityClassName"] = self.spec["priorityClassName"]
        return {
            "apiVersion": v.CORE_VERSION,
            "kind": v.POD,
            "metadata": {
                "generateName": f"{v.VIRT_LAUNCHER}-{self.name}-",
                "namespace": self.ns,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [controller_ref(f"{GROUP}/{v.DVP_VERSION}", v.VIRTUAL_MACHINE, self.name, self.uid)],
            },
            "spec": spec,
        }

    def pod_status(self, node: str, pod: dict[str, Any]) -> dict[str, Any]:
        """The status of `pod`, started on `node`: Running, with the address its network gave it (the VM's IP, which
        pod_body asked for, when the VM has one)."""
        entry = self.store.get(NODES, "", node)
        ip = pod_ip(self.store, entry.obj, pod) if entry else ""
        ok = [{"type": t, "status": "True", "lastTransitionTime": self.now} for t in ("PodScheduled", "Initialized", "ContainersReady", v.COND_NODE_READY)]
        return {
            "phase": "Running",
            "hostIP": host_ip(entry.obj) if entry else "",
            **({"podIP": ip, "podIPs": [{"ip": ip}]} if ip else {}),
            "startTime": self.now,
            "conditions": ok,
            "containerStatuses": [
                {"name": firmware.COMPUTE, "ready": True, "restartCount": 0, "image": firmware.pod_image(pod), "state": {"running": {"startedAt": self.now}}}
            ],
        }

    def select_node_for_claims(self, node: str) -> None:
        for vol in self.pod["spec"].get("volumes") or []:
            claim_name = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            claim = self.find(CLAIMS, self.ns, claim_name) if claim_name else None
            if claim is None or (claim.get("spec") or {}).get("volumeName"):
                continue
            annotations = claim["metadata"].get("annotations") or {}
            if annotations.get(v.SELECTED_NODE_ANNOTATION):
                continue
            body = {**claim, "metadata": {**claim["metadata"], "annotations": {**annotations, v.SELECTED_NODE_ANNOTATION: node}}}
            self.service.update(self.rt(CLAIMS), self.ns, claim_name, body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER))

    def domain_spec(self) -> dx.DomainSpec:
        assert self.vmclass is not None
        cpu_spec = (self.vmclass.get("spec") or {}).get("cpu") or {}
        kind = cpu_spec.get("type", "Host")
        features: tuple[str, ...] = ()
        if kind == "Discovery":
            features = tuple(((self.vmclass.get("status") or {}).get("cpuFeatures") or {}).get("enabled") or ())
        elif kind == "Features":
            features = tuple(cpu_spec.get("features") or ())
        disks = self.disks()
        memory = int(parse_quantity((self.spec.get("memory") or {}).get("size") or 0))
        return dx.DomainSpec(
            name=_domain_name(self.vm),
            uuid=self.uid,
            cores=(self.spec.get("cpu") or {}).get("cores") or 1,
            memory_bytes=memory,
            cpu_type=kind,
            cpu_model=cpu_spec.get("model") if kind == "Model" else None,
            cpu_features=features,
            firmware=self.spec.get("bootloader") or "BIOS",
            disks=tuple(disks),
            mac=mac_of(self.uid) if vm_rules.has_main_network(self.spec) else None,
        )

    def disks(self) -> list[dx.Disk]:
        """The domain's disks in boot order: virtio `vdX` (sata `sdX` for Windows/Legacy or paravirtualization
        off, and for CD-ROMs)."""
        sata = self.spec.get("osType") in ("Windows", "Legacy") or self.spec.get("enableParavirtualization") is False
        out, letters = [], iter("abcdefghijklmnopqrstuvwxyz")
        vd_letters, sd_letters = iter("abcdefghijklmnopqrstuvwxyz"), letters
        for i, ref in enumerate(vm_rules.boot_ordered(self.spec.get("blockDeviceRefs") or [])):
            obj = next((d["obj"] for d in self.devices if d["ref"] == ref), None)
            st = (obj or {}).get("status") or {}
            cdrom = ref.get("kind") != v.VIRTUAL_DISK and bool(st.get("cdrom"))
            fmt = "qcow2" if st.get("format") == "qcow2" else "raw"
            target = "sd" + next(sd_letters) if sata or cdrom else "vd" + next(vd_letters)
            source = f"/var/lib/dvp-sim/{self.ns}/{ref.get('kind')}/{ref.get('name')}"
            out.append(dx.Disk(target, source, fmt, i + 1, cdrom, "sata" if sata or cdrom else "virtio"))
        return out

    def ensure_domain(self, node: str | None, fresh: bool = False) -> None:
        """The domain runs on the pod's node (and only there); after a restart of the simulator (libvirt's state
        is in memory) it is defined again."""
        if not node:
            return
        name = _domain_name(self.vm)
        try:
            hv = self.fleet.hypervisor(node)
        except KeyError:
            return  # a node not in the topology (created by hand) has no hypervisor
        if not self.fleet.reachable(node):
            return  # a failed node: nobody reaches its libvirt (the VM stays bound to it, as the platform shows)
        current = self.domains.get(self.key)
        if current and current != node:
            _destroy_domain(self.fleet, self.domains, self.key, name)
        state = hv.state(name)
        if fresh and state is not None:
            hv.undefine(name)
            state = None
        if state == "Running":
            self.domains[self.key] = node
            return
        if self.vmclass is None:
            return
        pod = self.pod if self.pod is not None and (self.pod.get("spec") or {}).get("nodeName") == node else None
        if state is None:
            hv.define(dx.domain_xml(self.domain_spec()))
            self.fleet.launcher_log(pod, "Domain defined.", self.vm, uri=virsh.URI)
        hv.start(name)
        self.fleet.launcher_log(pod, "Domain started.", self.vm, node=node)
        self.domains[self.key] = node

    def stop(self) -> None:
        """Destroy and undefine the domain, delete the pod."""
        _destroy_domain(self.fleet, self.domains, self.key, _domain_name(self.vm))
        for entry in self.store.by_index(PODS, OWNER, self.uid):
            try:
                self.service.delete(self.rt(PODS), self.ns, entry.name, {"gracePeriodSeconds": 0})
            except APIError as exc:
                if exc.code != 404:
                    raise
        self.pod = None
        self.status.pop("nodeName", None)
        self.status["virtualMachinePods"] = []
        self.cond(v.COND_RUNNING, "False", v.REASON_NOT_RUNNING, "The virtual machine is stopped.")

    # -- status -------------------------------------------------------------------------------------------------
    def set_phase(self, phase: str) -> None:
        if self.status.get("phase") != phase:
            stats = self.status.setdefault("stats", {})
            stats.setdefault("phasesTransitions", []).append({"phase": phase, "timestamp": self.now})
            stats["phasesTransitions"] = stats["phasesTransitions"][-10:]
        self.status["phase"] = phase

    def finish_status(self) -> None:
        spec_cpu = self.spec.get("cpu") or {}
        running = self.pod is not None
        applied: dict[str, Any] = {}
        if running:
            try:
                applied = json.loads((self.pod["metadata"].get("annotations") or {}).get(APPLIED) or "{}")
            except ValueError:
                applied = {}
        cores = applied.get("cpu.cores") or spec_cpu.get("cores") or 1
        fraction = applied.get("cpu.coreFraction") or spec_cpu.get("coreFraction") or "100%"
        memory = applied.get("memory.size") or (self.spec.get("memory") or {}).get("size") or "0"
        try:
            sockets, per_socket = vm_rules.cpu_topology(cores)
        except ValueError:
            sockets, per_socket = 1, cores
        self.status["resources"] = {
            "cpu": {
                "cores": cores,
                "coreFraction": fraction,
                "requestedCores": f"{vm_rules.cpu_request_millis(cores, fraction)}m",
                "runtimeOverhead": "0",
                "topology": {"sockets": sockets, "coresPerSocket": per_socket},
            },
            "memory": {"size": memory, "runtimeOverhead": vm_rules.format_quantity(vm_rules.MEMORY_OVERHEAD_PER_CPU * sockets * per_socket)},
        }
        refs = []
        targets = {}
        if running:
            ordered = vm_rules.boot_ordered(self.spec.get("blockDeviceRefs") or [])
            targets = {(r.get("kind"), r.get("name")): d.target for r, d in zip(ordered, self.disks(), strict=False)}
        for dev in self.devices:
            ref = dev["ref"]
            item = {"kind": ref.get("kind"), "name": ref.get("name"), "attached": running, "size": dev["size"] or ""}
            if running:
                item["target"] = targets.get((ref.get("kind"), ref.get("name")), "")
            if ref.get("bootOrder"):
                item["bootOrder"] = ref["bootOrder"]
            refs.append(item)
        self.status["blockDeviceRefs"] = refs
        self.migratable()
        migration_ctl.conditions(self)
        if firmware.out_of_date(self.status.get("phase"), firmware.pod_image(self.pod), firmware.current_image(self.store)):
            self.cond(v.COND_FIRMWARE_UP_TO_DATE, "False", v.REASON_FIRMWARE_OUT_OF_DATE, firmware.MESSAGE)
        else:
            cond.remove(self.conds, v.COND_FIRMWARE_UP_TO_DATE)
        changes = self.changes()
        if changes:
            self.status["restartAwaitingChanges"] = changes
            self.cond(
                v.COND_AWAITING_RESTART, "True", v.REASON_CHANGES_PENDING_RESTART, "Changes of the configuration are waiting for the virtual machine's restart."
            )
        else:
            self.status.pop("restartAwaitingChanges", None)
            cond.remove(self.conds, v.COND_AWAITING_RESTART)
        if not running and self.status.get("phase") != v.VM_STOPPING:
            self.status.pop("nodeName", None)
        self.status["observedGeneration"] = self.gen
        finalizers = self.vm["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:  # with the status, in one write (nothing could come between the two)
            body = {**self.vm, "metadata": {**self.vm["metadata"], "finalizers": [*finalizers, FINALIZER]}, "status": self.status}
            self.vm = self.service.update(self.rt(VMS), self.ns, self.name, body, self.opts(VMS, with_status=True)).obj
        elif self.status != (self.vm.get("status") or {}):
            self.service.update(self.rt(VMS), self.ns, self.name, {**self.vm, "status": self.status}, self.opts(VMS, "status"))

    def migratable(self) -> None:
        """§4.7, §7.3: disks on ReadWriteOnce claims keep a VM from live-migrating on CE (False,
        VirtualMachineDisksNotMigratable); EE moves them with it to new volumes on the target node (True,
        VirtualMachineDisksShouldBeMigrating; controllers/volume_migration.py)."""
        rwo = []
        for dev in self.devices:
            if dev["ref"].get("kind") != v.VIRTUAL_DISK or not dev["obj"]:
                continue
            claim_name = (((dev["obj"].get("status") or {}).get("target")) or {}).get("persistentVolumeClaimName")
            claim = self.find(CLAIMS, self.ns, claim_name) if claim_name else None
            modes = ((claim or {}).get("spec") or {}).get("accessModes") or []
            if claim is not None and v.RWX not in modes:
                rwo.append(dev["ref"]["name"])
        self.rwo_disks = rwo
        if rwo and self.edition != v.EDITION_CE:
            self.cond(
                v.COND_MIGRATABLE,
                "True",
                v.REASON_DISKS_SHOULD_BE_MIGRATING,
                f"The disks with the ReadWriteOnce access mode move with a live migration to new volumes on the target node: {', '.join(rwo)}.",
            )
        elif rwo:
            self.cond(
                v.COND_MIGRATABLE, "False", v.REASON_DISKS_NOT_MIGRATABLE, f"Disks with the ReadWriteOnce access mode cannot be migrated: {', '.join(rwo)}."
            )
        else:
            self.cond(v.COND_MIGRATABLE, "True", v.REASON_MIGRATABLE)

    # -- deletion -----------------------------------------------------------------------------------------------
    def delete(self) -> Requeue | None:
        self.devices = []
        self.migrations.forget(self.key)
        if self.status.get("phase") != v.VM_TERMINATING:
            self.set_phase(v.VM_TERMINATING)
        self.stop()
        self.status["blockDeviceRefs"] = []
        if self.status != (self.vm.get("status") or {}):
            self.vm = self.service.update(self.rt(VMS), self.ns, self.name, {**self.vm, "status": self.status}, self.opts(VMS, "status")).obj
        if self.store.by_index(PODS, OWNER, self.uid):
            return Requeue(1.0)  # pods still going away
        finalizers = [f for f in self.vm["metadata"].get("finalizers") or [] if f != FINALIZER]
        if finalizers != (self.vm["metadata"].get("finalizers") or []):
            self.service.update(self.rt(VMS), self.ns, self.name, {**self.vm, "metadata": {**self.vm["metadata"], "finalizers": finalizers}}, self.opts(VMS))
        return None


# -- guest power events (the admin API's fault injection) -------------------------------------------------------------
def guest_event(
    service: ObjectService, fleet: Fleet, namespace: str, name: str, body: dict[str, Any], migrations: migration_ctl.Migrations | None = None
) -> str:
    """What the guest of a running VM does by itself, on the domain of its node's hypervisor: `reboot` reboots
    the domain (the instance stays); `shutdown` powers it off (the virt-launcher pod Succeeds); `crash` destroys it
    (the pod Fails). The VM controller, woken by the pod, answers per run policy (§4.6). `dirty-memory` with
    `mibPerSecond` sets the guest's memory dirty rate (migration.Migrations.set_dirty_rate). Returns a message; a VM
    that is missing is 404, one without a running instance 409."""
    action = body.get("action")
    if action not in GUEST_ACTIONS:
        raise bad_request(f"action: must be one of {', '.join(GUEST_ACTIONS)}, not {json.dumps(action)}")
    params = GUEST_PARAMS.get(action, ())
    if set(body) != {"action", *params}:
        want = ", ".join(f'"{p}"' for p in params) or "nothing"
        raise bad_request(f"the action {action} takes {want} besides the action, not {', '.join(sorted(set(body) - {'action'})) or 'nothing'}")
    entry = service.store.get(VMS, namespace, name)
    if entry is None:
        raise APIError(404, f'virtualmachines.{GROUP} "{name}" not found', reason="NotFound", details={"name": name, "group": GROUP, "kind": "virtualmachines"})
    pods = [
        e.obj
        for e in service.store.by_index(PODS, OWNER, entry.obj["metadata"]["uid"])
        if not e.obj["metadata"].get("deletionTimestamp")
        and (e.obj.get("status") or {}).get("phase") == "Running"
        and v.VM_MIGRATION_TARGET_ANNOTATION not in (e.obj["metadata"].get("annotations") or {})  # the guest runs on the source
    ]
    node = pods[0]["spec"].get("nodeName") if pods else None
    domain = _domain_name(entry.obj)
    try:
        hv = fleet.hypervisor(node) if node else None
    except KeyError:
        hv = None
    if hv is None or hv.state(domain) != "Running":
        phase = (entry.obj.get("status") or {}).get("phase") or v.VM_PENDING
        raise APIError(409, f"the virtual machine {namespace}/{name} has no running guest (phase {phase})", reason="Conflict")
    if action == v.GUEST_DIRTY_MEMORY:
        if migrations is None:
            raise APIError(404, "the server could not find the requested resource", details={})
        return migrations.set_dirty_rate((namespace, name), body[v.GUEST_DIRTY_RATE]) + f" on {node}"
    if action == v.GUEST_REBOOT:
        hv.reboot(domain)
        fleet.launcher_log(pods[0], "Domain rebooted by the guest.", entry.obj)
        service.record_event(entry.obj, "Normal", "GuestRebooted", "The guest of the virtual machine rebooted.", MANAGER)
        return f"the guest of {namespace}/{name} rebooted on {node}"
    hv.destroy(domain)
    pod = pods[0]
    crashed = action == v.GUEST_CRASH
    fleet.launcher_log(pod, "Domain crashed." if crashed else "Domain shut down by the guest.", entry.obj)
    now = service.clock.stamp()
    terminated = {"exitCode": 1 if crashed else 0, "reason": "Error" if crashed else "Completed", "finishedAt": now}
    status = {
        **pod["status"],
        "phase": POD_FAILED if crashed else POD_SUCCEEDED,
        "containerStatuses": [{**c, "ready": False, "state": {"terminated": terminated}} for c in pod["status"].get("containerStatuses") or []],
    }
    rt = service.registry.types[PODS]
    service.update(
        rt, namespace, pod["metadata"]["name"], {**pod, "status": status}, WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status")
    )
    return f"the guest of {namespace}/{name} {'crashed' if crashed else 'shut down'} on {node}"
