"""The part of Deckhouse's node-manager the admin guide leans on (BEHAVIOUR.md §7.7): each NodeGroup's node type and
fencing put on its nodes, and its counts, one reconcile per NodeGroup.

- A node belongs to the group its `node.deckhouse.io/group` label names. Each of its nodes carries the group's nodeType
  in `node.deckhouse.io/type`, as node-manager labels them. While the group's spec.fencing is set, each also carries the
  labels the fencing-agent DaemonSet gives them, `node-manager.deckhouse.io/fencing-enabled` and
  `node-manager.deckhouse.io/fencing-mode=<mode>`; once the group has none, neither. The fencing controller
  (controllers/fencing.py) reads only those labels, so `kubectl patch ng worker --type merge -p
  '{"spec":{"fencing":{"mode":"Watchdog"}}}'` is how an admin enables fencing for ColdStandby, as on a cluster; and a
  Static or CloudStatic node's Node object outlives its fencing (node-manager deletes only the Nodes it can make again).
- status: nodes, ready (their Ready condition True), upToDate (all of them: nothing here updates a node) and
  conditionSummary {ready: "True", statusMessage: ""}, the columns `kubectl get ng` shows.
- At start (`seed`): a NodeGroup of nodeType Static for each group label the topology's nodes carry, with the fencing
  of the first of its nodes that has fencing in the topology; a NodeGroup of that name already stored is left as it is,
  so an admin's change survives a restart. Nodes without the label belong to no group and keep their topology's
  fencing labels.

Not modelled: spec.fencing.watchdog.timeout (the node's watchdog fires with the controller's fencing, at 60 s; on a
cluster a longer timeout leaves the node's domains running for a while after their pods were deleted); nodeTemplate,
disruptions and the cloud settings are stored and do nothing (a Cloud* group's nodes are not made or removed).

Costs: a reconcile reads its group's nodes through an index of the group label; a Node's event wakes its group only
when its group, type or fencing labels or Ready changed."""

from __future__ import annotations

import logging
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.patch import MERGE_PATCH
from ..api.service import ObjectService, WriteOptions
from ..nodes.topology import Topology
from ..store.store import Event, Store
from .kubelet import node_ready
from .runtime import Context, Controller, Key, Requeue

log = logging.getLogger("dvp_simulator.controllers.nodegroup")
NODEGROUPS, NODES = v.resource_key(v.NODE_GROUP), v.resource_key(v.NODE)
MANAGER = "node-manager"
BY_GROUP = "nodegroup"


def _group_of(node: dict[str, Any]) -> list[str]:
    group = (node["metadata"].get("labels") or {}).get(v.NODE_GROUP_LABEL)
    return [group] if group else []


GROUP_LABELS = (v.NODE_TYPE_LABEL, v.FENCING_ENABLED_LABEL, v.FENCING_MODE_LABEL)  # the labels a group puts on its nodes


def group_labels(nodegroup: dict[str, Any] | None) -> dict[str, str]:
    """The labels a node of the group carries (pure): its nodeType, and the fencing ones unless spec.fencing is unset."""
    spec = (nodegroup or {}).get("spec") or {}
    mode = (spec.get("fencing") or {}).get("mode")
    labels = {v.NODE_TYPE_LABEL: spec["nodeType"]} if spec.get("nodeType") else {}
    return {**labels, v.FENCING_ENABLED_LABEL: "", v.FENCING_MODE_LABEL: mode} if mode else labels


def relabelled(labels: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """A node's labels with the group's ones as `wanted` says (pure)."""
    out = {k: value for k, value in labels.items() if k not in GROUP_LABELS}
    return {**out, **wanted}


def controller(store: Store) -> Controller:
    store.add_index(NODES, BY_GROUP, _group_of)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(NODEGROUPS, *key)
        if entry is None:
            return None
        nodegroup = entry.obj
        wanted = group_labels(nodegroup)
        nodes_rt = ctx.service.registry.types[NODES]
        nodes = [e.obj for e in store.by_index(NODES, BY_GROUP, key[1])]
        for node in nodes:
            labels = node["metadata"].get("labels") or {}
            if relabelled(labels, wanted) != labels:
                patch = {"metadata": {"labels": {**dict.fromkeys(GROUP_LABELS), **wanted}}}
                try:
                    ctx.service.patch(nodes_rt, "", node["metadata"]["name"], MERGE_PATCH, patch, WriteOptions(version=v.CORE_VERSION, manager=MANAGER))
                except APIError as exc:
                    if exc.code != 404:  # a node gone meanwhile
                        raise
        status = {
            **(nodegroup.get("status") or {}),
            "nodes": len(nodes),
            "ready": sum(1 for n in nodes if node_ready(n)),
            "upToDate": len(nodes),
            "conditionSummary": {"ready": "True", "statusMessage": ""},
        }
        if nodegroup.get("status") != status:
            rt = ctx.service.registry.types[NODEGROUPS]
            ctx.service.update(rt, "", key[1], {**nodegroup, "status": status}, WriteOptions(version="v1", manager=MANAGER, subresource="status"))
        return None

    def node_changed(event: Event) -> list[Key]:
        new = event.entry.obj
        old = event.prev.obj if event.prev is not None else None
        groups = set(_group_of(new)) | (set(_group_of(old)) if old is not None else set())
        if old is not None and groups == set(_group_of(old)) and _seen(old) == _seen(new):
            return []
        return [("", group) for group in groups]

    return Controller("nodegroup", NODEGROUPS, reconcile, {NODES: node_changed})


def _seen(node: dict[str, Any]) -> tuple[Any, ...]:
    labels = node["metadata"].get("labels") or {}
    return (*(labels.get(k) for k in GROUP_LABELS), node_ready(node), node["metadata"].get("deletionTimestamp"))


def seed(service: ObjectService, topology: Topology | None) -> None:
    """A NodeGroup (Static) for each group label of the topology's nodes that has none stored yet."""
    if topology is None:
        return
    rt = service.registry.types[NODEGROUPS]
    groups: dict[str, dict[str, Any]] = {}
    for node in topology.nodes:
        group = node.labels.get(v.NODE_GROUP_LABEL)
        if not group:
            continue
        spec = groups.setdefault(group, {"nodeType": v.NODE_TYPE_STATIC})
        if node.fencing_enabled and "fencing" not in spec:
            spec["fencing"] = {"mode": node.fencing_mode}
    for group, spec in groups.items():
        if service.find(rt, "", group) is None:
            body = {"apiVersion": f"{v.DECKHOUSE_GROUP}/v1", "kind": v.NODE_GROUP, "metadata": {"name": group}, "spec": spec}
            try:
                service.create(rt, "", body, WriteOptions(version="v1", manager=MANAGER))
            except APIError as exc:  # a label value no NodeGroup can be named (node-manager's webhook refuses it)
                log.warning("no NodeGroup for the nodes labelled %s=%s: %s", v.NODE_GROUP_LABEL, group, exc.message)
