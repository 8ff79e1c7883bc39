"""VirtualMachineClass controller (BEHAVIOUR.md §3.5–3.8): available nodes, discovered CPU features (computed
once, then frozen), phase and conditions, events when the node list changes, and the in-use finalizer.

Costs: a reconcile reads the virt-handler pods (a label index) and their nodes, and, for a class being deleted,
its VMs (an index by class name) — never every pod or VM. Events wake only the classes they concern: a VM its
class when it joins or leaves it, a node or virt-handler pod every class, and only when placement can change (not
on heartbeats or status churn)."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from ..api.selectors import match_label_selector
from ..api.service import WriteOptions, json_copy
from ..store.store import DELETED, MODIFIED, Event, Store
from . import conditions as cond
from .runtime import Context, Controller, Key, Requeue

CLASSES = v.resource_key(v.VIRTUAL_MACHINE_CLASS)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
PODS = v.resource_key(v.POD)
NODES = v.resource_key(v.NODE)
FINALIZER = v.VMCLASS_CLEANUP_FINALIZER
MODULE_NAMESPACE = v.MODULE_NAMESPACE
MODEL_LABEL = v.CPU_MODEL_LABEL_PREFIX
FEATURE_LABEL = v.CPU_FEATURE_LABEL_PREFIX
VIRT_HANDLER_PODS = {v.VIRT_HANDLER_LABEL: v.VIRT_HANDLER}  # the label selector of the module's virt-handler pods
BY_CLASS = "vmClassName"  # index of VMs: the class they name
MANAGER = "virtualization-controller"


def vm_class_name(vm: dict[str, Any]) -> list[str]:
    name = (vm.get("spec") or {}).get("virtualMachineClassName")
    return [name] if name else []


def hosted_node(pod: dict[str, Any]) -> str | None:
    """The node a virt-handler pod makes a candidate: its nodeName, unless the pod is being deleted."""
    if pod["metadata"].get("deletionTimestamp"):
        return None
    return (pod.get("spec") or {}).get("nodeName") or None


def virt_handler_nodes(ctx: Context) -> list[dict[str, Any]]:
    """Candidate nodes, in name order: those running a virt-handler pod of the module (read from the label
    index: costs the virt-handler pods, not every pod in the module's namespace)."""
    store = ctx.service.store
    hosts = {hosted_node(p.obj) for p in store.select(PODS, MODULE_NAMESPACE, VIRT_HANDLER_PODS)} - {None}
    nodes = (store.get(NODES, "", host) for host in sorted(hosts))  # type: ignore[type-var]
    return [e.obj for e in nodes if e is not None]


def type_filter(spec_cpu: dict[str, Any], labels: dict[str, str]) -> bool:
    kind = spec_cpu.get("type")
    if kind == "Model":
        return labels.get(MODEL_LABEL + spec_cpu.get("model", "")) == "true"
    if kind == "Features":
        return all(labels.get(FEATURE_LABEL + f) == "true" for f in spec_cpu.get("features") or [])
    return True


def features_of(node: dict[str, Any]) -> set[str]:
    return {k[len(FEATURE_LABEL) :] for k, v in (node["metadata"].get("labels") or {}).items() if k.startswith(FEATURE_LABEL) and v == "true"}


def compute_status(spec: dict[str, Any], status: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: the class status for the current nodes (status carries the frozen discovered features)."""
    cpu = spec.get("cpu") or {}
    kind = cpu.get("type")
    out = json_copy(status)
    enabled = list((status.get("cpuFeatures") or {}).get("enabled") or [])
    discovery_failed = ""
    if kind == "Discovery" and not enabled:
        pool = [n for n in candidates if match_label_selector((cpu.get("discovery") or {}).get("nodeSelector"), n["metadata"].get("labels") or {})]
        if not pool:
            discovery_failed = "No nodes match the discovery node selector."
        else:
            common = set.intersection(*(features_of(n) for n in pool))
            enabled = sorted(common)
            if not enabled:
                discovery_failed = "The discovery nodes have no CPU features in common."
    elif kind == "Features":
        enabled = list(cpu.get("features") or [])
    available = []
    for node in candidates:
        labels = node["metadata"].get("labels") or {}
        if not type_filter(cpu, labels) or not match_label_selector(spec.get("nodeSelector"), labels, node_selector=True):
            continue
        if kind == "Discovery" and enabled and not set(enabled) <= features_of(node):
            continue
        available.append(node)
    names = sorted(n["metadata"]["name"] for n in available)
    out["availableNodes"] = names
    out["maxAllocatableResources"] = _max_allocatable(available)
    if kind in ("Discovery", "Features"):
        common = set.intersection(*(features_of(n) for n in available)) if available else set()
        out["cpuFeatures"] = {"enabled": enabled, "notEnabledCommon": sorted(common - set(enabled))}
    else:
        out["cpuFeatures"] = {}
    if kind == "Discovery" and enabled and not names and not discovery_failed:
        discovery_failed = "No available node has all the discovered features."
    out["_discovery_failed"] = discovery_failed
    return out


def _max_allocatable(nodes: list[dict[str, Any]]) -> dict[str, str]:
    best: dict[str, Any] = {}
    for node in nodes:
        for resource in ("cpu", "memory"):
            value = (node.get("status", {}).get("allocatable") or {}).get(resource)
            if value is not None and (resource not in best or parse_quantity(value) > parse_quantity(best[resource])):
                best[resource] = value
    return best


def phase_and_conditions(obj: dict[str, Any], status: dict[str, Any], now: str) -> dict[str, Any]:
    spec_cpu = obj.get("spec", {}).get("cpu") or {}
    kind = spec_cpu.get("type")
    gen = obj["metadata"].get("generation", 1)
    conds = status.setdefault("conditions", [])
    nodes = status.get("availableNodes") or []
    enabled = (status.get("cpuFeatures") or {}).get("enabled") or []
    failed = status.pop("_discovery_failed", "")
    if kind == "Discovery":
        if failed:
            cond.set_condition(conds, v.COND_DISCOVERED, "False", v.REASON_DISCOVERY_FAILED, failed, gen, now)
        else:
            cond.set_condition(conds, v.COND_DISCOVERED, "True", v.REASON_DISCOVERY_SUCCEEDED, "", gen, now)
    else:
        cond.set_condition(conds, v.COND_DISCOVERED, "False", v.REASON_DISCOVERY_SKIP, "", gen, now)
    if kind == "Discovery" and not enabled:
        cond.set_condition(conds, v.COND_READY, "False", v.REASON_NO_CPU_FEATURES_ENABLED, "No CPU features were discovered.", gen, now)
    elif nodes:
        cond.set_condition(conds, v.COND_READY, "True", v.REASON_SUITABLE_NODES_FOUND, "", gen, now)
    else:
        cond.set_condition(conds, v.COND_READY, "False", v.REASON_NO_SUITABLE_NODES_FOUND, "No matching nodes found.", gen, now)
    if obj["metadata"].get("deletionTimestamp"):
        status["phase"] = v.TERMINATING
    elif kind in ("Host", "HostPassthrough"):
        status["phase"] = v.READY
    elif kind == "Discovery":
        status["phase"] = v.READY if nodes and enabled else v.PENDING
    else:
        status["phase"] = v.READY if nodes else v.PENDING
    return status


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    service = ctx.service
    rt = service.registry.types[CLASSES]
    obj = service.find(rt, "", key[1])
    if obj is None:
        return None
    name = obj["metadata"]["name"]
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") and FINALIZER not in (meta.get("finalizers") or []):
        obj = service.update(rt, "", name, {**obj, "metadata": {**meta, "finalizers": [*(meta.get("finalizers") or []), FINALIZER]}}, _opts(rt)).obj
    users = _users(ctx, name) if meta.get("deletionTimestamp") else []  # only a class being deleted reports them
    old_status = obj.get("status") or {}
    status = compute_status(obj.get("spec") or {}, old_status, virt_handler_nodes(ctx))
    status = phase_and_conditions(obj, status, ctx.clock.stamp())
    if obj["metadata"].get("deletionTimestamp"):
        if users:
            cond.set_condition(
                status["conditions"],
                v.COND_IN_USE,
                "True",
                v.REASON_CLASS_IN_USE,
                "The class is used by " + ", ".join(users),
                obj["metadata"].get("generation", 1),
                ctx.clock.stamp(),
            )
        else:
            cond.remove(status["conditions"], v.COND_IN_USE)
    else:
        cond.remove(status["conditions"], v.COND_IN_USE)
    if status != old_status:
        _node_events(ctx, obj, old_status.get("availableNodes"), status.get("availableNodes") or [])
        obj = service.update(rt, "", name, {**obj, "status": status}, _opts(rt, "status")).obj
    if obj["metadata"].get("deletionTimestamp") and not users:
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        service.update(rt, "", name, {**obj, "metadata": {**obj["metadata"], "finalizers": finalizers}}, _opts(rt))
    return None


def _node_events(ctx: Context, obj: dict[str, Any], before: list[str] | None, after: list[str]) -> None:
    if before is None or before == after:
        return
    if not after:
        ctx.service.record_event(obj, "Warning", "VMClassAvailableNodesListEmpty", "No nodes are available for this class", MANAGER)
        return
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    ctx.service.record_event(obj, "Normal", "VMClassNodesWereUpdated", f"Available nodes changed: added {added or '[]'}, removed {removed or '[]'}", MANAGER)


def _users(ctx: Context, class_name: str) -> list[str]:
    """The VMs naming the class, as `namespace/name` (the BY_CLASS index: costs the class's VMs)."""
    return [f"{e.namespace}/{e.name}" for e in ctx.service.store.by_index(VMS, BY_CLASS, class_name)]


def _placement(node: dict[str, Any]) -> tuple[Any, Any]:
    return node["metadata"].get("labels"), node.get("status", {}).get("allocatable")


def _opts(rt, subresource: str | None = None) -> WriteOptions:
    return WriteOptions(version=rt.storage_version, manager=MANAGER, subresource=subresource)


def controller(store: Store) -> Controller:
    store.add_index(VMS, BY_CLASS, vm_class_name)

    def all_classes() -> list[Key]:
        # a node's or virt-handler's change can make any class gain or lose it: every class is wanted
        return [("", e.name) for e in store.list(CLASSES)]

    def node_changed(event: Event) -> list[Key]:
        """Only what placement depends on: a node joining or leaving, its labels or allocatable resources
        (heartbeats change neither, and must not wake every class)."""
        before, after = event.prev, event.entry
        if event.type != "MODIFIED" or before is None:
            return all_classes()
        return all_classes() if _placement(before.obj) != _placement(after.obj) else []

    def virt_handler_changed(event: Event) -> list[Key]:
        """Only a change of the node a virt-handler pod makes a candidate (created, scheduled, deleting, gone);
        its status writes and every other pod wake nothing."""
        entry = event.entry
        if entry.namespace != MODULE_NAMESPACE or not _is_virt_handler(entry.obj):
            return []
        if event.type == DELETED:  # the entry is the pod's last state
            before, after = hosted_node(entry.obj), None
        else:
            before, after = hosted_node(event.prev.obj) if event.prev is not None else None, hosted_node(entry.obj)
        return all_classes() if before != after else []

    def class_of_vm(event: Event) -> list[Key]:
        """The class a VM names now and the one it named before (a VM moved off a class frees it) — only when the
        set of the class's VMs changes (created, deleted, renamed class) and only a class being deleted: its VMs are
        what it reports then (InUse, the finalizer). A live class reports nothing about its VMs; waking it on each
        VM's status made a build-up of N VMs cost N² reads, and on each VM created, a 10,000-VM build-up on 1,000
        nodes paid ~1,100 class reconciles of ~10 ms (every node checked) to change nothing."""
        now = set(vm_class_name(event.entry.obj))
        before = set(vm_class_name(event.prev.obj)) if event.prev is not None else set()
        if event.type == MODIFIED and now == before:
            return []
        return [("", name) for name in sorted(now | before) if _deleting(store.get(CLASSES, "", name))]

    return Controller("vmclass", CLASSES, reconcile, {NODES: node_changed, PODS: virt_handler_changed, VMS: class_of_vm})


def _deleting(entry: Any) -> bool:
    return entry is not None and bool(entry.obj["metadata"].get("deletionTimestamp"))


def _is_virt_handler(pod: dict[str, Any]) -> bool:
    return (pod["metadata"].get("labels") or {}).get(v.VIRT_HANDLER_LABEL) == v.VIRT_HANDLER
