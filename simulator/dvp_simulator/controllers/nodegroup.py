"""The part of Deckhouse's node-manager the admin guide leans on (BEHAVIOUR.md §7.7): each NodeGroup's node type and
fencing put on its nodes, and its counts, one reconcile per NodeGroup.

- A node belongs to the group its `node.deckhouse.io/group` label names. Each of its nodes carries the group's nodeType
  in `node.deckhouse.io/type`, as node-manager labels them. While the group's spec.fencing is set, each also carries the
  labels the fencing-agent DaemonSet gives them, `node-manager.deckhouse.io/fencing-enabled` and
  `node-manager.deckhouse.io/fencing-mode=<mode>`; once the group has none, neither. The fencing controller
  (controllers/fencing.py) reads only those labels, so `kubectl patch ng worker --type merge -p
  '{"spec":{"fencing":{"mode":"Watchdog"}}}'` is how an admin enables fencing for ColdStandby, as on a cluster; and a
  Static or CloudStatic node's Node object outlives its fencing (node-manager deletes only the Nodes it can make again).
- spec.nodeTemplate (handle_node_templates): its labels, annotations and taints on each node of the group (but for a
  CloudEphemeral one), what the last applied template had and this one has not taken away again (the annotation
  `node-manager.deckhouse.io/last-applied-node-template` records it), `node-role.kubernetes.io/<group>` (the ROLES
  `kubectl get nodes` shows), the master group's control-plane and master roles, scale-down disabled for Static,
  CloudStatic and CloudPermanent nodes. A node's change of any of these wakes its group, which puts them back.
- status: nodes, ready (their Ready condition True), upToDate (all of them: nothing here updates a node) and
  conditionSummary {ready: "True", statusMessage: ""}, the columns `kubectl get ng` shows.
- At start (`seed`): a NodeGroup of nodeType Static for each group label the topology's nodes carry, with the fencing
  of the first of its nodes that has fencing in the topology; a NodeGroup of that name already stored is left as it is,
  so an admin's change survives a restart. Nodes without the label belong to no group and keep their topology's
  fencing labels.

Not modelled: spec.fencing.watchdog.timeout (the node's watchdog fires with the controller's fencing, at 60 s; on a
cluster a longer timeout leaves the node's domains running for a while after their pods were deleted); disruptions,
kubelet and the cloud settings are stored and do nothing (a Cloud* group's nodes are not made or removed).

Costs: a reconcile reads its group's nodes through an index of the group label; a Node's event wakes its group only
when its labels, annotations, taints or Ready changed (not its heartbeats)."""

from __future__ import annotations

import json
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
LAST_APPLIED = "node-manager.deckhouse.io/last-applied-node-template"
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
UNINITIALIZED_TAINT = "node.deckhouse.io/uninitialized"
ROLE_PREFIX = v.NODE_ROLE_LABEL_PREFIX
MASTER_GROUP = "master"
NODE_TYPE_CLOUD_EPHEMERAL = "CloudEphemeral"


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


def templated(node: dict[str, Any], nodegroup: dict[str, Any]) -> dict[str, Any]:
    """The node's metadata.labels, metadata.annotations and spec.taints once the group is applied to it (pure; Deckhouse's
    handle_node_templates): the type and fencing labels; but for a CloudEphemeral group (its machines get the template
    when they are made), the nodeTemplate's labels, annotations and taints merged in, those the last applied template
    had and this one has not removed, `node-role.kubernetes.io/<group>`, the template recorded as applied, and no
    `node.deckhouse.io/uninitialized` taint; the master group's two role labels; scale-down disabled for the kinds of
    node the autoscaler must not remove."""
    meta, name = node["metadata"], nodegroup["metadata"]["name"]
    spec = nodegroup.get("spec") or {}
    labels = relabelled(dict(meta.get("labels") or {}), group_labels(nodegroup))
    annotations = dict(meta.get("annotations") or {})
    taints = list((node.get("spec") or {}).get("taints") or [])
    if spec.get("nodeType") != NODE_TYPE_CLOUD_EPHEMERAL:
        template = spec.get("nodeTemplate") or {}
        last = _last_applied(annotations.get(LAST_APPLIED))
        labels = _apply_map(labels, template.get("labels") or {}, last.get("labels") or {})
        labels[ROLE_PREFIX + name] = ""
        annotations = _apply_map(annotations, template.get("annotations") or {}, last.get("annotations") or {})
        annotations[LAST_APPLIED] = _recorded(template)
        taints = [t for t in _apply_taints(taints, template.get("taints") or [], last.get("taints") or []) if t.get("key") != UNINITIALIZED_TAINT]
    if name == MASTER_GROUP:
        labels.update({ROLE_PREFIX + "control-plane": "", ROLE_PREFIX + "master": ""})
    if spec.get("nodeType") in (v.NODE_TYPE_STATIC, v.NODE_TYPE_CLOUD_STATIC, "CloudPermanent"):
        annotations[SCALE_DOWN_DISABLED] = "true"
    return {"labels": labels, "annotations": annotations, "taints": taints}


def _recorded(template: dict[str, Any]) -> str:
    """The last-applied annotation's value as Go marshals it: the maps' keys sorted, each taint in its struct's order."""
    compact = {"sort_keys": True, "separators": (",", ":")}
    taints = ",".join(json.dumps(_go_taint(t), separators=(",", ":")) for t in template.get("taints") or [])
    annotations, labels = json.dumps(template.get("annotations") or {}, **compact), json.dumps(template.get("labels") or {}, **compact)
    return f'{{"annotations":{annotations},"labels":{labels},"taints":[{taints}]}}'


def _last_applied(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _apply_map(actual: dict[str, str], template: dict[str, str], last: Any) -> dict[str, str]:
    """ApplyTemplateMap: the template's keys set, those only the last applied template had removed."""
    excess = set(last) - set(template) if isinstance(last, dict) else set()
    return {**{k: x for k, x in actual.items() if k not in excess}, **template}


def _apply_taints(actual: list[dict[str, Any]], template: list[dict[str, Any]], last: Any) -> list[dict[str, Any]]:
    """taints.Slice.ApplyTemplate: a taint is its key and effect; the template's set (their values too), those only the
    last applied template had removed."""
    wanted = {_taint_id(t) for t in template}
    excess = {_taint_id(t) for t in last if isinstance(t, dict)} - wanted if isinstance(last, list) else set()
    out = [t for t in actual if _taint_id(t) not in excess and _taint_id(t) not in wanted]
    return out + [_go_taint(t) for t in template]


def _taint_id(taint: dict[str, Any]) -> tuple[Any, Any]:
    return taint.get("key"), taint.get("effect")


def _go_taint(taint: dict[str, Any]) -> dict[str, Any]:
    """A Taint as Go marshals it: key, value (omitted when empty), effect, timeAdded (when set)."""
    out = {"key": taint.get("key", "")}
    if taint.get("value"):
        out["value"] = taint["value"]
    out["effect"] = taint.get("effect", "")
    if taint.get("timeAdded"):
        out["timeAdded"] = taint["timeAdded"]
    return out


def controller(store: Store) -> Controller:
    store.add_index(NODES, BY_GROUP, _group_of)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(NODEGROUPS, *key)
        if entry is None:
            return None
        nodegroup = entry.obj
        nodes_rt = ctx.service.registry.types[NODES]
        nodes = [e.obj for e in store.by_index(NODES, BY_GROUP, key[1])]
        for node in nodes:
            meta = node["metadata"]
            want = templated(node, nodegroup)
            patch: dict[str, Any] = {}
            for field in ("labels", "annotations"):
                have = meta.get(field) or {}
                if want[field] != have:
                    patch.setdefault("metadata", {})[field] = {**dict.fromkeys(set(have) - set(want[field])), **want[field]}
            if want["taints"] != list((node.get("spec") or {}).get("taints") or []):
                patch["spec"] = {"taints": want["taints"] or None}
            if patch:
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
    """What of a node its group reads: what the group puts on it (labels, annotations, taints) and its Ready."""
    meta = node["metadata"]
    return (meta.get("labels"), meta.get("annotations"), (node.get("spec") or {}).get("taints"), node_ready(node), meta.get("deletionTimestamp"))


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
