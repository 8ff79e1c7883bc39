"""The Deployment controller (kube-controller-manager's, pkg/controller/deployment): a Deployment rolls its pod
template out through ReplicaSets, one per template, and reports the rollout in its status.

- The new ReplicaSet is the one whose template is the Deployment's (but for its `pod-template-hash` label); none: one
  is made, `<deployment>-<hash>`, the hash label on its selector, template and labels, its revision one past the
  highest (`deployment.kubernetes.io/revision`; an old ReplicaSet that becomes the new one again — `kubectl rollout
  undo` — gets the next revision too). The Deployment's own revision annotation follows its new ReplicaSet's.
- RollingUpdate: the new ReplicaSet grows while all of them together stay within replicas + maxSurge, the old ones
  shrink while the available pods stay at or above replicas − maxUnavailable (percentages of replicas: maxSurge
  rounded up, maxUnavailable down; both 0 makes maxUnavailable 1), old ones without available pods first. Recreate:
  the old ReplicaSets go to 0, and once their pods are gone the new one grows. A paused Deployment rolls nothing out
  (a change of its replicas still scales its one active ReplicaSet).
- Status: replicas, updatedReplicas (the new ReplicaSet's), readyReplicas, availableReplicas, unavailableReplicas,
  observedGeneration, and the conditions `kubectl rollout status` reads: Available (MinimumReplicasAvailable or
  MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
  NewReplicaSetAvailable once complete, DeploymentPaused / DeploymentResumed, ProgressDeadlineExceeded when no
  progress was made for progressDeadlineSeconds).
- Once a rollout is complete, old ReplicaSets without pods beyond revisionHistoryLimit are deleted, oldest first.

The module's own virt-controller Deployment is left alone: the simulator does not run its pod, and its status is the
release's (controllers/firmware.py). Hash collisions (collisionCount) and proportional scaling of a rollout in
progress are not modelled: a change of replicas mid-rollout converges through the same two steps.

Costs: a reconcile reads the Deployment's ReplicaSets (the owner index); a ReplicaSet's event wakes its Deployment,
and a pod's deletion its ReplicaSet's Deployment (Recreate waits for the old pods to go)."""

from __future__ import annotations

import json
import math
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import GENERATE_ALPHABET, WriteOptions, json_copy
from ..clock import Clock
from ..store.store import DELETED, Event, Store
from .firmware import is_module_deployment
from .replicaset import REPLICA_FAILURE, active, controller_of, owned
from .runtime import Context, Controller, Key, PermanentError, Requeue, Retry, controller_ref

DEPLOYMENTS, REPLICASETS, PODS = v.resource_key(v.DEPLOYMENT), v.resource_key(v.REPLICA_SET), v.resource_key(v.POD)
MANAGER = "deployment-controller"
RS_CREATE_ERROR = "ReplicaSetCreateError"  # upstream's FailedRSCreateReason
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
NOT_COPIED = ("kubectl.kubernetes.io/last-applied-configuration", REVISION, DESIRED, MAX_REPLICAS, "deployment.kubernetes.io/revision-history")


# -- pure -----------------------------------------------------------------------------------------------------------
def _fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def template_hash(template: dict[str, Any]) -> str:
    """The `pod-template-hash` of a template: an FNV-32a of it, each decimal digit spelt in the alphabet of generated
    names (upstream: controller.ComputeHash, rand.SafeEncodeString; it hashes Go's dump of the struct, this the
    canonical JSON: the values differ, the properties — stable, short, a valid label value — do not)."""
    return safe_hash(json.dumps(without_hash(template), sort_keys=True, separators=(",", ":")).encode())


def safe_hash(data: bytes) -> str:
    """An FNV-32a of `data`, each decimal digit spelt in the alphabet of generated names (rand.SafeEncodeString): a
    short label value, the hash ReplicaSets and ControllerRevisions are named by."""
    return "".join(GENERATE_ALPHABET[ord(c) % len(GENERATE_ALPHABET)] for c in str(_fnv32a(data)))


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """The template without its pod-template-hash label (how templates are compared: EqualIgnoreHash)."""
    meta = dict(template.get("metadata") or {})
    labels = {k: x for k, x in (meta.get("labels") or {}).items() if k != HASH_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    out = {**template, "metadata": meta}
    if not meta:
        out.pop("metadata")
    return out


def revision(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def resolve(value: Any, replicas: int, round_up: bool) -> int:
    """An int-or-percent against replicas (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * replicas / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return value if isinstance(value, int) else 0


def fenceposts(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate (ResolveFenceposts: both 0 makes maxUnavailable 1)."""
    spec = deployment.get("spec") or {}
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    replicas = spec.get("replicas", 1)
    surge, unavailable = resolve(rolling.get("maxSurge"), replicas, True), resolve(rolling.get("maxUnavailable"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _replicas(rs: dict[str, Any]) -> int:
    return (rs.get("spec") or {}).get("replicas", 0)


def _status(rs: dict[str, Any], field: str) -> int:
    return (rs.get("status") or {}).get(field, 0)


def new_replicas(deployment: dict[str, Any], all_rs: list[dict[str, Any]], new: dict[str, Any]) -> int:
    """The new ReplicaSet's replicas for this step of a rolling update (NewRSNewReplicas)."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    current = _replicas(new)
    if current > replicas:
        return replicas
    surge, _ = fenceposts(deployment)
    total = sum(_replicas(rs) for rs in all_rs)
    room = replicas + surge - total
    if room <= 0:
        return current
    return current + min(room, replicas - current)


def old_scale_down(deployment: dict[str, Any], all_rs: list[dict[str, Any]], new: dict[str, Any], olds: list[dict[str, Any]]) -> dict[str, int]:
    """The old ReplicaSets' replicas after this step of a rolling update, by name (reconcileOldReplicaSets: their
    pods that are not available go first, then available ones while availability allows)."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    _, unavailable = fenceposts(deployment)
    min_available = replicas - unavailable
    total = sum(_replicas(rs) for rs in all_rs)
    new_unavailable = _replicas(new) - _status(new, "availableReplicas")
    room = total - min_available - new_unavailable
    target = {rs["metadata"]["name"]: _replicas(rs) for rs in olds}
    if room <= 0:
        return target
    for rs in sorted(olds, key=lambda r: r["metadata"].get("creationTimestamp") or ""):
        name = rs["metadata"]["name"]
        unhealthy = max(0, target[name] - _status(rs, "availableReplicas"))
        cut = min(unhealthy, room)
        target[name] -= cut
        room -= cut
        if room <= 0:
            break
    available = sum(_status(rs, "availableReplicas") for rs in all_rs)
    down = available - min_available
    for rs in sorted(olds, key=lambda r: r["metadata"].get("creationTimestamp") or ""):
        if down <= 0:
            break
        name = rs["metadata"]["name"]
        cut = min(target[name], down)
        target[name] -= cut
        down -= cut
    return target


def complete(deployment: dict[str, Any], status: dict[str, Any]) -> bool:
    """DeploymentComplete: every replica updated and available, none old, the current generation observed."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    return (
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
    )


def counts(deployment: dict[str, Any], all_rs: list[dict[str, Any]], new: dict[str, Any] | None) -> dict[str, Any]:
    """The Deployment's status counts over its ReplicaSets (calculateStatus), conditions left out."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    available = sum(_status(rs, "availableReplicas") for rs in all_rs)
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": sum(_status(rs, "replicas") for rs in all_rs),
        "updatedReplicas": _status(new, "replicas") if new is not None else 0,
        "readyReplicas": sum(_status(rs, "readyReplicas") for rs in all_rs),
        "availableReplicas": available,
        "unavailableReplicas": max(0, replicas - available),
    }


def set_condition(
    conditions: list[dict[str, Any]], type_: str, status: str, reason: str, message: str, now: str, touch: bool = False
) -> list[dict[str, Any]]:
    """The conditions with `type_` set (SetDeploymentCondition): lastTransitionTime kept while the status is; a
    condition that is the same but for its times stays as it was, unless `touch` (progress was made: its
    lastUpdateTime is now, what the progress deadline counts from)."""
    old = next((c for c in conditions if c.get("type") == type_), None)
    if not touch and old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (status, reason, message):
        return conditions
    transition = old["lastTransitionTime"] if old is not None and old.get("status") == status and old.get("lastTransitionTime") else now
    new = {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": transition, "reason": reason, "message": message}
    return [c for c in conditions if c.get("type") != type_] + [new]


def replica_failure(conditions: list[dict[str, Any]], new: dict[str, Any] | None, all_rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Deployment's ReplicaFailure condition, copied from its ReplicaSets' (upstream's getReplicaFailures: the new
    one's first, else any other's): a pod refused at admission (a ResourceQuota) shows on the Deployment too; gone
    once no ReplicaSet reports one. Set as SetDeploymentCondition sets it: unchanged while status and reason are."""
    found = None
    for rs in ([new] if new is not None else []) + all_rs:
        found = next((c for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == REPLICA_FAILURE), None)
        if found is not None:
            break
    old = condition(conditions, REPLICA_FAILURE)
    if found is None:
        return [c for c in conditions if c is not old] if old is not None else conditions
    if old is not None and (old.get("status"), old.get("reason")) == (found.get("status"), found.get("reason")):
        return conditions
    since = found.get("lastTransitionTime")
    made = {"type": REPLICA_FAILURE, "status": found.get("status"), "lastUpdateTime": since, "lastTransitionTime": since, "reason": found.get("reason"), "message": found.get("message")}
    if old is not None and old.get("status") == found.get("status"):
        made["lastTransitionTime"] = old.get("lastTransitionTime")
    return [c for c in conditions if c is not old] + [made]


def progressed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """DeploymentProgressing: more pods updated, ready or available, or fewer old ones, than the last status said."""
    old_olds, new_olds = old.get("replicas", 0) - old.get("updatedReplicas", 0), new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_olds < old_olds
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def condition(conditions: list[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def new_replicaset(deployment: dict[str, Any], rev: int, replicas: int) -> dict[str, Any]:
    """The ReplicaSet made for the Deployment's current template (getNewReplicaSet)."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    template = json_copy(spec.get("template") or {})
    digest = template_hash(template)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: digest}
    selector = json_copy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: digest}
    surge, _ = fenceposts(deployment) if (spec.get("strategy") or {}).get("type") == "RollingUpdate" else (0, 0)
    annotations = {k: x for k, x in (meta.get("annotations") or {}).items() if k not in NOT_COPIED}
    annotations.update({REVISION: str(rev), DESIRED: str(spec.get("replicas", 1)), MAX_REPLICAS: str(spec.get("replicas", 1) + surge)})
    rs_spec: dict[str, Any] = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": f"{v.APPS_GROUP}/{v.CORE_VERSION}",
        "kind": v.REPLICA_SET,
        "metadata": {
            "name": f"{meta['name']}-{digest}",
            "namespace": meta["namespace"],
            "labels": tmeta["labels"],
            "annotations": annotations,
            "ownerReferences": [controller_ref(f"{v.APPS_GROUP}/{v.CORE_VERSION}", v.DEPLOYMENT, meta["name"], meta["uid"])],
        },
        "spec": rs_spec,
    }


# -- the controller ---------------------------------------------------------------------------------------------------
def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(DEPLOYMENTS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp") or is_module_deployment(entry.obj):
            return None
        deployment = entry.obj
        spec = deployment.get("spec") or {}
        rs_rt = ctx.service.registry.types[REPLICASETS]
        all_rs = owned(store, REPLICASETS, deployment, v.DEPLOYMENT)
        wanted = without_hash(spec.get("template") or {})
        new = next((rs for rs in all_rs if without_hash((rs.get("spec") or {}).get("template") or {}) == wanted), None)
        olds = [rs for rs in all_rs if rs is not new]
        top = max((revision(rs) for rs in olds), default=0)
        progress: tuple[str, str] | None = None  # a Progressing reason and message this reconcile earned
        conditions = list((deployment.get("status") or {}).get("conditions") or [])
        paused = bool(spec.get("paused"))
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"

        if not paused:
            if new is None:
                first = 0 if recreate else new_replicas(deployment, all_rs, {"spec": {"replicas": 0}})
                made = new_replicaset(deployment, top + 1, first)
                try:
                    new = _create_or_adopt(ctx, rs_rt, deployment, made)
                except APIError as error:  # refused at admission (a quota on ReplicaSets): upstream's getNewReplicaSet
                    message = f'Failed to create new replica set "{made["metadata"]["name"]}": {error.message}'
                    if isinstance(spec.get("progressDeadlineSeconds"), int):
                        status = {**(deployment.get("status") or {}), "conditions": set_condition(conditions, "Progressing", "False", RS_CREATE_ERROR, message, ctx.clock.stamp())}
                        _write(ctx, key, deployment, status, None)
                    ctx.service.record_event(deployment, "Warning", RS_CREATE_ERROR, message, MANAGER)
                    raise Retry(message) from error
                if new is None:
                    raise PermanentError("ReplicaSetNameTaken", f'ReplicaSet "{made["metadata"]["name"]}" exists, of another template or owner')
                if first:
                    _scaled(ctx, deployment, new["metadata"]["name"], 0, first)
                all_rs.append(new)
                progress = ("NewReplicaSetCreated", f'Created new replica set "{new["metadata"]["name"]}"')
            elif revision(new) <= top:  # an old template again (a rollback): it becomes the newest revision
                new = _annotate(ctx, rs_rt, new, {REVISION: str(top + 1)})
                all_rs = olds + [new]
            elif condition(conditions, "Progressing") is None:
                progress = ("FoundNewReplicaSet", f'Found new replica set "{new["metadata"]["name"]}"')
            if recreate:
                changed = _recreate(ctx, store, rs_rt, deployment, new, olds)
            else:
                changed = _rolling(ctx, rs_rt, deployment, new, olds)
            if changed:
                all_rs = owned(store, REPLICASETS, deployment, v.DEPLOYMENT)
                new = next((rs for rs in all_rs if rs["metadata"]["name"] == new["metadata"]["name"]), new)
                progress = progress or ("ReplicaSetUpdated", f'ReplicaSet "{new["metadata"]["name"]}" is progressing.')
        else:
            # paused: a change of replicas still scales the one active ReplicaSet (upstream's scale of a paused
            # Deployment, FindActiveOrLatest), the new one or, when the template changed meanwhile, the old one
            running = [rs for rs in all_rs if _replicas(rs) > 0]
            active_rs = running[0] if len(running) == 1 else new if not running else None
            if active_rs is not None and _scale(ctx, rs_rt, active_rs, spec.get("replicas", 1), deployment):
                all_rs = owned(store, REPLICASETS, deployment, v.DEPLOYMENT)
                if new is not None:
                    new = next((rs for rs in all_rs if rs["metadata"]["name"] == new["metadata"]["name"]), new)

        status = counts(deployment, all_rs, new)
        now_stamp = ctx.clock.stamp()
        surge_unavailable = fenceposts(deployment)[1] if not recreate else 0
        replicas = spec.get("replicas", 1)
        if status["availableReplicas"] >= replicas - surge_unavailable:
            conditions = set_condition(conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now_stamp)
        else:
            conditions = set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now_stamp)
        requeue: float | None = None
        current = condition(conditions, "Progressing")
        if paused:
            conditions = set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now_stamp)
        elif current is not None and current.get("reason") == "DeploymentPaused":
            conditions = set_condition(conditions, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now_stamp)
        elif new is not None and complete(deployment, status):
            name = new["metadata"]["name"]
            conditions = set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.', now_stamp)
            _clean_up(ctx, rs_rt, deployment, [rs for rs in all_rs if rs is not new])
        elif progress is not None or (new is not None and progressed(deployment.get("status") or {}, status)):
            reason, message = progress or ("ReplicaSetUpdated", f'ReplicaSet "{new["metadata"]["name"]}" is progressing.')  # type: ignore[index]
            conditions = set_condition(conditions, "Progressing", "True", reason, message, now_stamp, touch=True)
            deadline = spec.get("progressDeadlineSeconds")
            requeue = float(deadline) if isinstance(deadline, int) else None
        elif new is not None and current is not None and current.get("status") == "True":
            deadline = spec.get("progressDeadlineSeconds")
            if isinstance(deadline, int):
                left = Clock.parse(current.get("lastUpdateTime") or now_stamp) + deadline - ctx.clock.time()
                if left <= 0:
                    message = f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.'
                    conditions = set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded", message, now_stamp)
                else:
                    requeue = left
        if not paused:  # upstream's syncRolloutStatus; a paused Deployment's sync leaves the condition as it was
            conditions = replica_failure(conditions, new, all_rs)
        status["conditions"] = conditions
        _write(ctx, key, deployment, status, str(revision(new)) if new is not None else None)
        return Requeue(requeue) if requeue is not None else None

    def rs_changed(event: Event) -> list[Key]:
        ref = controller_of(event.entry.obj, v.DEPLOYMENT)
        return [(event.entry.namespace, ref["name"])] if ref is not None else []

    def pod_gone(event: Event) -> list[Key]:
        """A pod of a Deployment's ReplicaSet deleted (a Recreate waits for the old ones)."""
        if event.type != DELETED:
            return []
        ref = controller_of(event.entry.obj, v.REPLICA_SET)
        rs = store.get(REPLICASETS, event.entry.namespace, ref["name"]) if ref is not None else None
        owner = controller_of(rs.obj, v.DEPLOYMENT) if rs is not None else None
        return [(event.entry.namespace, owner["name"])] if owner is not None else []

    return Controller("deployment", DEPLOYMENTS, reconcile, {REPLICASETS: rs_changed, PODS: pod_gone})


def _create_or_adopt(ctx: Context, rt: Any, deployment: dict[str, Any], made: dict[str, Any]) -> dict[str, Any] | None:
    """Create the new ReplicaSet; if one of its name is there without a controller and with the same template (left
    by a `--cascade=orphan` delete of this Deployment), adopt it (upstream's ClaimReplicaSets); None if another's."""
    meta = made["metadata"]
    try:
        return ctx.service.create(rt, meta["namespace"], made, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
    except APIError as exc:
        if exc.code != 409:
            raise
    found = ctx.service.find(rt, meta["namespace"], meta["name"])
    if found is None or controller_of(found, v.DEPLOYMENT) is not None or any(r.get("controller") for r in found["metadata"].get("ownerReferences") or ()):
        return None
    if without_hash((found.get("spec") or {}).get("template") or {}) != without_hash(made["spec"]["template"]):
        return None
    refs = [*(found["metadata"].get("ownerReferences") or []), *meta["ownerReferences"]]
    body = {**found, "metadata": {**found["metadata"], "ownerReferences": refs}}
    return ctx.service.update(rt, meta["namespace"], meta["name"], body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj


def _annotate(ctx: Context, rt: Any, rs: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    current = ctx.service.find(rt, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs
    meta = {**current["metadata"], "annotations": {**(current["metadata"].get("annotations") or {}), **annotations}}
    return ctx.service.update(rt, meta["namespace"], meta["name"], {**current, "metadata": meta}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj


def _scale(ctx: Context, rt: Any, rs: dict[str, Any], replicas: int, deployment: dict[str, Any]) -> bool:
    """Scale a ReplicaSet (and note the Deployment's replicas on it, as upstream's scaleReplicaSet); whether it changed."""
    if _replicas(rs) == replicas:
        return False
    current = ctx.service.find(rt, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs
    spec = deployment.get("spec") or {}
    surge = fenceposts(deployment)[0] if (spec.get("strategy") or {}).get("type") == "RollingUpdate" else 0
    annotations = {**(current["metadata"].get("annotations") or {}), DESIRED: str(spec.get("replicas", 1)), MAX_REPLICAS: str(spec.get("replicas", 1) + surge)}
    body = {**current, "metadata": {**current["metadata"], "annotations": annotations}, "spec": {**(current.get("spec") or {}), "replicas": replicas}}
    ctx.service.update(rt, rs["metadata"]["namespace"], rs["metadata"]["name"], body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER))
    _scaled(ctx, deployment, rs["metadata"]["name"], _replicas(rs), replicas)
    return True


def _scaled(ctx: Context, deployment: dict[str, Any], name: str, before: int, after: int) -> None:
    """The Event upstream records on the Deployment for every scaling of one of its ReplicaSets."""
    way = "up" if after > before else "down"
    ctx.service.record_event(deployment, "Normal", "ScalingReplicaSet", f"Scaled {way} replica set {name} from {before} to {after}", MANAGER)


def _rolling(ctx: Context, rt: Any, deployment: dict[str, Any], new: dict[str, Any], olds: list[dict[str, Any]]) -> bool:
    """One step of a rolling update: the new ReplicaSet up, else the old ones down."""
    all_rs = olds + [new]
    if _scale(ctx, rt, new, new_replicas(deployment, all_rs, new), deployment):
        return True
    targets = old_scale_down(deployment, all_rs, new, [rs for rs in olds if _replicas(rs) > 0])
    changed = False
    for rs in olds:
        name = rs["metadata"]["name"]
        if name in targets:
            changed = _scale(ctx, rt, rs, targets[name], deployment) or changed
    return changed


def _recreate(ctx: Context, store: Store, rt: Any, deployment: dict[str, Any], new: dict[str, Any], olds: list[dict[str, Any]]) -> bool:
    """Recreate: the old ReplicaSets to 0; once none of their pods is left, the new one to replicas."""
    changed = False
    for rs in olds:
        changed = _scale(ctx, rt, rs, 0, deployment) or changed
    if changed:
        return True
    if any(active(p) for rs in olds for p in owned(store, PODS, rs, v.REPLICA_SET)):
        return False
    return _scale(ctx, rt, new, (deployment.get("spec") or {}).get("replicas", 1), deployment)


def _clean_up(ctx: Context, rt: Any, deployment: dict[str, Any], olds: list[dict[str, Any]]) -> None:
    """Old ReplicaSets without pods beyond revisionHistoryLimit, oldest revision first (cleanupDeployment)."""
    limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
    if not isinstance(limit, int):
        return
    empty = sorted((rs for rs in olds if _replicas(rs) == 0 and _status(rs, "replicas") == 0), key=revision)
    for rs in empty[: max(0, len(olds) - limit)]:
        meta = rs["metadata"]
        ctx.service.delete(rt, meta["namespace"], meta["name"], {"preconditions": {"uid": meta["uid"]}})


def _write(ctx: Context, key: Key, deployment: dict[str, Any], status: dict[str, Any], rev: str | None) -> None:
    """The status, and the revision annotation when it moved: one write of both (the controller's update and status
    update back to back, as WriteOptions.with_status makes them)."""
    annotations = deployment["metadata"].get("annotations") or {}
    relabel = rev is not None and annotations.get(REVISION) != rev
    if deployment.get("status") == status and not relabel:
        return
    rt = ctx.service.registry.types[DEPLOYMENTS]
    current = ctx.service.find(rt, *key)
    if current is None:
        return
    if relabel:
        meta = {**current["metadata"], "annotations": {**(current["metadata"].get("annotations") or {}), REVISION: rev}}
        body = {**current, "metadata": meta, "status": status}
        ctx.service.update(rt, key[0], key[1], body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, with_status=True))
    else:
        ctx.service.update(rt, key[0], key[1], {**current, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
