"""The DaemonSet controller (kube-controller-manager's, pkg/controller/daemon): a DaemonSet runs one pod of its
template on every node it should run on, and reports them in its status.

- A node should run the pod when the template's nodeSelector and required node affinity select it and the pod
  tolerates its NoSchedule and NoExecute taints — the template's tolerations and those upstream adds to every
  daemon pod (not-ready, unreachable, disk-, memory- and pid-pressure, unschedulable: a cordoned node keeps its
  daemon pods).
- A node without its pod gets one: the template's labels with `controller-revision-hash` (the hash of the
  ControllerRevision of its template: controllers/history.py keeps the DaemonSet's template history) and
  `pod-template-generation` (its template generation), the default tolerations, and a required node affinity for that node alone
  (`matchFields metadata.name`), which the default scheduler then binds it to (upstream's
  ReplaceDaemonSetPodNodeNameNodeAffinity). A pod on a node that should not run one is deleted, as is any pod but
  the newest on a node.
- RollingUpdate: pods of an older template are deleted, at most maxUnavailable of the desired pods unavailable at a
  time, and made again from the current one; OnDelete: an old pod is replaced only once it is deleted.
- Status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady, numberAvailable,
  numberUnavailable, updatedNumberScheduled, observedGeneration — what `kubectl rollout status ds` reads.

The module's own `virt-handler` DaemonSet is not run here: the node agents make its pods (nodes/agent.py), and this
controller only counts them (desired = the Nodes) and keeps its template history (`kubectl rollout history
ds/virt-handler`).

Costs: a reconcile reads the DaemonSet's pods (the owner index) and walks the Nodes; a pod of a DaemonSet wakes it
when it was created or deleted or changed what the counts read; a Node wakes every DaemonSet only when it was created
or deleted, or its labels, taints or schedulability changed (not its heartbeats). A burst of such events (1,000 nodes
registering at start-up) coalesces on the work queue into a few reconciles."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import NAME_FIELD, requirement_matches, untolerated

from ..api.errors import APIError
from ..api.service import WriteOptions, json_copy
from ..api.workloads import TEMPLATE_GENERATION
from ..store.store import ADDED, DELETED, OWNER, Event, Store
from . import history
from .deployment import resolve
from .history import HASH_LABEL
from .replicaset import BURST, active, create_pod, delete_pods, pods_of, ready_since
from .runtime import Context, Controller, Key, Requeue, Retry, controller_ref

DAEMONSETS, NODES, PODS = v.resource_key(v.DAEMON_SET), v.resource_key(v.NODE), v.resource_key(v.POD)
MANAGER = "daemonset-controller"  # its Events' source, as upstream's recorder names it
GENERATION_LABEL = "pod-template-generation"
DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def _owner(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The pod's controller reference when it is a DaemonSet."""
    for ref in pod["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == v.DAEMON_SET:
            return ref
    return None


def is_module_daemonset(ds: dict[str, Any]) -> bool:
    """The module's virt-handler: its pods are the node agents' (nodes/agent.py)."""
    meta = ds["metadata"]
    return meta.get("namespace") == v.MODULE_NAMESPACE and meta.get("name") == v.VIRT_HANDLER


def counts(pods: list[dict[str, Any]], node_exists: Any, desired: int, generation: int) -> dict[str, Any]:
    """The module's DaemonSet status for its `pods` (pure): `node_exists(name)` says whether a pod's node is still there."""
    scheduled = [p for p in pods if node_exists((p.get("spec") or {}).get("nodeName") or "")]
    ready = sum(1 for p in scheduled if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running")
    n = len(scheduled)
    return {
        "currentNumberScheduled": n, "desiredNumberScheduled": desired, "numberAvailable": ready, "numberReady": ready,
        "numberMisscheduled": 0, "updatedNumberScheduled": n, "observedGeneration": generation,
        **({"numberUnavailable": desired - ready} if desired > ready else {}),
    }  # fmt: skip


# -- where a daemon pod runs (pure) ------------------------------------------------------------------------------------
def pod_updated(ds: dict[str, Any], digest: str, pod: dict[str, Any]) -> bool:
    """IsPodUpdated: the pod runs the current revision (its hash) or the current template generation (pure)."""
    labels = pod["metadata"].get("labels") or {}
    generation = (ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)
    return labels.get(HASH_LABEL) == digest or (generation is not None and labels.get(GENERATION_LABEL) == generation)


def tolerations(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The template's tolerations and the daemon pods' defaults it does not have already."""
    own = list(((template.get("spec") or {}).get("tolerations")) or [])
    return own + [t for t in DEFAULT_TOLERATIONS if t not in own]


def should_run(template: dict[str, Any], node: dict[str, Any]) -> bool:
    """nodeShouldRunDaemonPod: the template's node selector and required node affinity select the node, and the pod
    tolerates its NoSchedule and NoExecute taints."""
    spec = template.get("spec") or {}
    labels, name = node["metadata"].get("labels") or {}, node["metadata"]["name"]
    if any(labels.get(k) != value for k, value in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(REQUIRED)
    if required is not None:
        terms = required.get("nodeSelectorTerms") or []
        if not any(_term(term, labels, name) for term in terms):
            return False
    taints = (node.get("spec") or {}).get("taints") or []
    return not untolerated(taints, tolerations(template), ("NoSchedule", "NoExecute"))


def _term(term: dict[str, Any], labels: dict[str, str], name: str) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    return all(requirement_matches(r, labels.get(r.get("key"))) for r in exprs) and all(
        requirement_matches(r, name if r.get("key") == NAME_FIELD else None) for r in fields
    )


def node_of(pod: dict[str, Any]) -> str:
    """The node a daemon pod is for: where it is bound, else the one its node affinity names."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(REQUIRED) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == NAME_FIELD and field.get("values"):
                return field["values"][0]
    return ""


def daemon_pod(ds: dict[str, Any], node: str, digest: str) -> dict[str, Any]:
    """The pod a DaemonSet makes for `node` (CreatePodTemplate and the node affinity upstream puts on it)."""
    meta, template = ds["metadata"], json_copy((ds.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    generation = (meta.get("annotations") or {}).get(TEMPLATE_GENERATION) or str(meta.get("generation", 1))
    labels = {**(tmeta.get("labels") or {}), HASH_LABEL: digest, GENERATION_LABEL: generation}
    spec = template.get("spec") or {}
    affinity = dict(spec.get("affinity") or {})
    node_affinity = dict(affinity.get("nodeAffinity") or {})
    node_affinity[REQUIRED] = {"nodeSelectorTerms": [{"matchFields": [{"key": NAME_FIELD, "operator": "In", "values": [node]}]}]}
    affinity["nodeAffinity"] = node_affinity
    pod_meta: dict[str, Any] = {
        "generateName": f"{meta['name']}-",
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [controller_ref(f"{v.APPS_GROUP}/{v.CORE_VERSION}", v.DAEMON_SET, meta["name"], meta["uid"])],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = tmeta["annotations"]
    pod_spec = {**spec, "affinity": affinity, "tolerations": tolerations(template)}
    return {"apiVersion": v.CORE_VERSION, "kind": v.POD, "metadata": pod_meta, "spec": pod_spec, "status": {"phase": v.PENDING}}


# -- the controller ---------------------------------------------------------------------------------------------------
def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(DAEMONSETS, *key)
        if entry is None:
            return None
        ds = entry.obj
        if ds["metadata"].get("deletionTimestamp") and not is_module_daemonset(ds):
            return None
        pods = [e.obj for e in store.by_index(PODS, OWNER, ds["metadata"]["uid"], key[0]) if (_owner(e.obj) or {}).get("uid") == ds["metadata"]["uid"]]
        more, refused = False, None
        if not ds["metadata"].get("deletionTimestamp"):  # a history kept, but not made for a DaemonSet on its way out
            revisions = history.sync(ctx, store, ds, v.DAEMON_SET, MANAGER)
            live = {(p["metadata"].get("labels") or {}).get(HASH_LABEL, "") for p in pods}
            history.truncate(ctx, revisions, live, (ds.get("spec") or {}).get("revisionHistoryLimit"), count_live=True)
        if is_module_daemonset(ds):
            status = counts(pods, lambda node: store.get(NODES, "", node) is not None, store.count(NODES), ds["metadata"].get("generation", 1))
        else:
            status, refused = _manage(ctx, store, ds, [p for p in pods if active(p)], revisions.hash)
            more = refused is None and status.get("currentNumberScheduled", 0) < status.get("desiredNumberScheduled", 0)
        if (ds.get("status") or {}).get("collisionCount"):
            status["collisionCount"] = ds["status"]["collisionCount"]
        if ds.get("status") != status:
            rt = ctx.service.registry.types[DAEMONSETS]
            ctx.service.update(rt, key[0], key[1], {**ctx.service.find(rt, *key), "status": status}, WriteOptions(version="v1", manager=MANAGER, subresource="status"))
        if refused is not None:
            raise Retry(refused.message)  # FailedCreate recorded, the status written: the backoff, as upstream's
        return Requeue(0) if not is_module_daemonset(ds) and more else None

    def node_changed(event: Event) -> list[Key]:
        """A Node created or deleted changes every DaemonSet's desired count; a change of its labels, taints or
        schedulability may change where a DaemonSet's pods belong."""
        if event.type not in (ADDED, DELETED):
            old, new = event.prev.obj if event.prev is not None else {}, event.entry.obj
            if (old.get("metadata") or {}).get("labels") == new["metadata"].get("labels") and (old.get("spec") or {}) == (new.get("spec") or {}):
                return []
        return [(e.namespace, e.name) for e in store.list(DAEMONSETS)]

    return Controller("daemonset", DAEMONSETS, reconcile, {PODS: pods_of(v.DAEMON_SET), NODES: node_changed, history.REVISIONS: history.deleted_of(v.DAEMON_SET)})


def _manage(ctx: Context, store: Store, ds: dict[str, Any], pods: list[dict[str, Any]], digest: str) -> tuple[dict[str, Any], APIError | None]:
    """One pass over the nodes: pods made (BURST at most, until one is refused) and deleted as above, `digest` the hash
    of the current revision; the status after, and the refusal."""
    spec = ds.get("spec") or {}
    template = spec.get("template") or {}
    wanted = {e.name for e in store.list(NODES) if should_run(template, e.obj)}
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_node.setdefault(node_of(pod), []).append(pod)
    surplus = [p for node, have in by_node.items() if node not in wanted for p in have]
    for node, have in by_node.items():
        if node in wanted and len(have) > 1:  # the newest stays
            have.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
            surplus += have[:-1]
            by_node[node] = have[-1:]
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        budget = resolve((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), len(wanted), True) or 1
        unavailable = sum(1 for node in wanted if not any(ready_since(p) is not None for p in by_node.get(node, [])))
        for node in sorted(wanted):
            if unavailable >= budget:
                break
            old = [p for p in by_node.get(node, []) if not pod_updated(ds, digest, p)]
            if old:
                surplus += old
                by_node[node] = [p for p in by_node[node] if p not in old]
                unavailable += 1
    if surplus:
        delete_pods(ctx, ds, surplus, MANAGER)
    made_here, refused = 0, None
    for node in sorted(wanted):
        if not by_node.get(node) and made_here < BURST:
            made_here += 1
            try:
                by_node[node] = [create_pod(ctx, ds, daemon_pod(ds, node, digest), MANAGER)]
            except APIError as error:
                refused = error
                break
    placed = {node: have[0] for node, have in by_node.items() if node in wanted and have}
    ready = sum(1 for p in placed.values() if ready_since(p) is not None)
    status = {
        "currentNumberScheduled": len(placed),
        "numberMisscheduled": 0,  # a pod on a node that should not run one was deleted above, at once
        "desiredNumberScheduled": len(wanted),
        "numberReady": ready,
        "observedGeneration": ds["metadata"].get("generation", 1),
        "updatedNumberScheduled": sum(1 for p in placed.values() if pod_updated(ds, digest, p)),
        "numberAvailable": ready,
    }
    if len(wanted) > ready:
        status["numberUnavailable"] = len(wanted) - ready
    return {k: x for k, x in status.items() if x or k in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")}, refused
