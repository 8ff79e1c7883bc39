"""The StatefulSet controller (kube-controller-manager's, pkg/controller/statefulset): a StatefulSet runs pods of
stable names, `<name>-<ordinal>`, each with its own claims, made in order and updated in reverse order.

- Ordinals run from ordinals.start (0) for `replicas` pods. A missing pod is made from the template: its name, the
  labels `controller-revision-hash` (`<name>-<template hash>`), `statefulset.kubernetes.io/pod-name` and
  `apps.kubernetes.io/pod-index`, hostname its name and subdomain the serviceName, and a volume per claim template
  naming the claim `<template>-<name>-<ordinal>`, made first if missing (the storage controllers bind it: with a
  WaitForFirstConsumer class once the pod is placed). A claim outlives its pod, and the StatefulSet too unless
  persistentVolumeClaimRetentionPolicy says Delete (whenDeleted: the StatefulSet owns it; whenScaled: it goes with a
  scaled-down pod).
- OrderedReady: one pod at a time, each made once every lower one is Running and Ready; scaling down deletes the
  highest ordinal first, one at a time, while the others are Ready. Parallel: all at once.
- Revisions: each template the StatefulSet has had is a ControllerRevision `<name>-<hash>` (controllers/history.py:
  what `kubectl rollout history|undo sts` reads), the pods labelled with the name of the one they run.
- RollingUpdate: once every pod is Ready, the highest-ordinal pod of an older template at or above the partition is
  deleted, and made again from the current one; a pod below the partition that is deleted comes back with the
  template of status.currentRevision, as upstream's newVersionedStatefulSetPod restores it. OnDelete: a pod is made
  again only once deleted, from the update revision's template (the spec's).
- Status: replicas, readyReplicas, availableReplicas, currentReplicas and updatedReplicas, currentRevision (becomes the
  updateRevision once every pod runs it) and updateRevision, observedGeneration — what `kubectl rollout status sts`
  reads; Events as upstream words them (`create Pod web-0 in StatefulSet web successful`).

Costs: a reconcile reads the StatefulSet's pods (the owner index) and looks its claims up by name; a pod's event
wakes its StatefulSet when the pod was created or deleted or changed what the controller reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions, json_copy
from ..store.store import Store
from . import history
from .replicaset import BURST, FAILED_CREATE, active, owned, pods_of, ready_since
from .runtime import Context, Controller, Key, Requeue, Retry, controller_ref

STATEFULSETS, PODS, CLAIMS = v.resource_key(v.STATEFUL_SET), v.resource_key(v.POD), v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
MANAGER = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def claim_name(template: dict[str, Any], sts: dict[str, Any], ordinal: int) -> str:
    return f"{template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def ordinal_of(sts: dict[str, Any], pod: dict[str, Any]) -> int | None:
    """The pod's ordinal from its name (`<name>-<ordinal>`); None for a pod not named so."""
    prefix, name = f"{sts['metadata']['name']}-", pod["metadata"]["name"]
    suffix = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(suffix) if suffix.isdigit() else None


def stateful_pod(sts: dict[str, Any], ordinal: int, rev: str) -> dict[str, Any]:
    """The pod of `ordinal` (newStatefulSetPod): the template with its identity, its claims as volumes."""
    meta, spec = sts["metadata"], sts.get("spec") or {}
    template = json_copy(spec.get("template") or {})
    tmeta, pod_spec = template.get("metadata") or {}, template.get("spec") or {}
    name = f"{meta['name']}-{ordinal}"
    labels = {**(tmeta.get("labels") or {}), REVISION_LABEL: rev, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
    claims = spec.get("volumeClaimTemplates") or []
    names = {c["metadata"]["name"] for c in claims}
    volumes = [vol for vol in pod_spec.get("volumes") or [] if vol.get("name") not in names]
    volumes += [{"name": c["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name(c, sts, ordinal)}} for c in claims]
    pod_spec = {**pod_spec, "hostname": name}
    if volumes:
        pod_spec["volumes"] = volumes
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    pod_meta: dict[str, Any] = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [controller_ref(f"{v.APPS_GROUP}/{v.CORE_VERSION}", v.STATEFUL_SET, meta["name"], meta["uid"])],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = tmeta["annotations"]
    return {"apiVersion": v.CORE_VERSION, "kind": v.POD, "metadata": pod_meta, "spec": pod_spec, "status": {"phase": v.PENDING}}


def stateful_claim(sts: dict[str, Any], template: dict[str, Any], ordinal: int) -> dict[str, Any]:
    """A claim of `ordinal` from a claim template: the selector's labels, the StatefulSet as its owner when its
    retention policy deletes claims with it."""
    meta, spec = sts["metadata"], sts.get("spec") or {}
    labels = {**(template["metadata"].get("labels") or {}), **((spec.get("selector") or {}).get("matchLabels") or {})}
    claim_meta: dict[str, Any] = {"name": claim_name(template, sts, ordinal), "namespace": meta["namespace"], "labels": labels}
    if template["metadata"].get("annotations"):
        claim_meta["annotations"] = template["metadata"]["annotations"]
    if (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted") == "Delete":
        claim_meta["ownerReferences"] = [controller_ref(f"{v.APPS_GROUP}/{v.CORE_VERSION}", v.STATEFUL_SET, meta["name"], meta["uid"])]
    return {"apiVersion": v.CORE_VERSION, "kind": v.PERSISTENT_VOLUME_CLAIM, "metadata": claim_meta, "spec": json_copy(template.get("spec") or {})}


def running_ready(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and ready_since(pod) is not None and not pod["metadata"].get("deletionTimestamp")


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(STATEFULSETS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return None
        sts = entry.obj
        spec = sts.get("spec") or {}
        start, replicas = (spec.get("ordinals") or {}).get("start", 0), spec.get("replicas", 1)
        wanted = range(start, start + replicas)
        revisions = history.sync(ctx, store, sts, v.STATEFUL_SET, MANAGER)
        rev = revisions.name
        versioned = _versioned(sts, revisions, start)
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        pods: dict[int, dict[str, Any]] = {}
        for pod in owned(store, PODS, sts, v.STATEFUL_SET):
            ordinal = ordinal_of(sts, pod)
            if ordinal is not None and active(pod):
                pods[ordinal] = pod
        pods_rt = ctx.service.registry.types[PODS]

        made, refused = 0, None
        for ordinal in wanted:  # make the missing ones, in order
            pod = pods.get(ordinal)
            if pod is None:
                try:
                    as_of, its_revision = versioned(ordinal)
                    pods[ordinal] = _make(ctx, store, as_of, ordinal, its_revision)
                except APIError as error:  # its Events recorded: the status below, then the backoff
                    refused = error
                    break
                made += 1
                if ordered or made >= BURST:
                    break
            elif ordered and not running_ready(pod):
                break
        else:
            condemned = sorted((o for o in pods if o not in wanted), reverse=True)
            if condemned and (not ordered or all(running_ready(pods[o]) for o in wanted)):
                for ordinal in condemned[:1] if ordered else condemned:
                    _delete(ctx, pods_rt, sts, pods.pop(ordinal))
                    if (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenScaled") == "Delete":
                        _delete_claims(ctx, sts, ordinal)
            elif not condemned:
                _roll(ctx, pods_rt, sts, pods, wanted, rev)

        in_set = [pods[o] for o in sorted(pods)]
        ready = sum(1 for p in in_set if running_ready(p))
        updated = sum(1 for p in in_set if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev)
        status = dict(sts.get("status") or {})
        current = status.get("currentRevision") or rev
        if updated == replicas == len(in_set) and ready == replicas:
            current = rev
        status.update(
            observedGeneration=sts["metadata"].get("generation", 1), replicas=len(in_set), readyReplicas=ready, availableReplicas=ready,
            currentReplicas=sum(1 for p in in_set if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == current),
            updatedReplicas=updated, currentRevision=current, updateRevision=rev, collisionCount=int(status.get("collisionCount") or 0),
        )  # fmt: skip
        for field in ("readyReplicas", "currentReplicas", "updatedReplicas"):  # omitempty in Go
            if not status[field]:
                del status[field]
        live = {(p["metadata"].get("labels") or {}).get(REVISION_LABEL, "") for p in in_set} | {current}
        history.truncate(ctx, revisions, live, spec.get("revisionHistoryLimit"))
        if sts.get("status") != status:
            rt = ctx.service.registry.types[STATEFULSETS]
            stored = ctx.service.find(rt, *key)
            if stored is not None:
                ctx.service.update(rt, key[0], key[1], {**stored, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
        if refused is not None:
            raise Retry(refused.message)
        return Requeue(0) if made >= BURST else None

    return Controller("statefulset", STATEFULSETS, reconcile, {PODS: pods_of(v.STATEFUL_SET), history.REVISIONS: history.deleted_of(v.STATEFUL_SET)})


def _versioned(sts: dict[str, Any], revisions: history.History, start: int) -> Callable[[int], tuple[dict[str, Any], str]]:
    """newVersionedStatefulSetPod's choice, per ordinal: below a RollingUpdate's partition the StatefulSet as its
    status.currentRevision had it (when that revision is still kept and holds a template), else as it is; with the
    revision's name."""
    spec = sts.get("spec") or {}
    current_name = (sts.get("status") or {}).get("currentRevision")
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate")
    current = revisions.named(current_name) if current_name and current_name != revisions.name else None
    template = history.template_of(current) if current is not None else None
    if template is None or rolling is None or (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return lambda ordinal: (sts, revisions.name)
    older = {**sts, "spec": {**spec, "template": template}}
    partition = rolling.get("partition") or 0
    return lambda ordinal: (older, current_name) if ordinal < start + partition else (sts, revisions.name)


def _make(ctx: Context, store: Store, sts: dict[str, Any], ordinal: int, rev: str) -> dict[str, Any]:
    """The pod of `ordinal`, after the claims of its volumeClaimTemplates (upstream's CreateStatefulPod). A claim or the
    pod refused at admission (a ResourceQuota; an invalid claim template, which kube-apiserver 1.33 does not check on
    the StatefulSet): Warning FailedCreate Events in upstream's words, and the APIError raised, naming the claim."""
    meta = sts["metadata"]
    claims_rt = ctx.service.registry.types[CLAIMS]
    pod = stateful_pod(sts, ordinal, rev)
    pod_name, sts_name = pod["metadata"]["name"], meta["name"]
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        name = claim_name(template, sts, ordinal)
        if store.get(CLAIMS, meta["namespace"], name) is None:
            try:
                ctx.service.create(claims_rt, meta["namespace"], stateful_claim(sts, template, ordinal), WriteOptions(version=v.CORE_VERSION, manager=MANAGER))
            except APIError as error:
                if error.code == 409:  # made meanwhile: upstream sinks AlreadyExists
                    continue
                ctx.service.record_event(sts, "Warning", FAILED_CREATE, f"create Claim {name} for Pod {pod_name} in StatefulSet {sts_name} failed error: {error.message}", MANAGER)
                failed = APIError(error.code, f"failed to create PVC {name}: {error.message}", error.reason)
                ctx.service.record_event(sts, "Warning", FAILED_CREATE, f"create Pod {pod_name} in StatefulSet {sts_name} failed error: {failed.message}", MANAGER)
                raise failed from error
            ctx.service.record_event(sts, "Normal", "SuccessfulCreate", f"create Claim {name} Pod {pod_name} in StatefulSet {sts_name} success", MANAGER)
    try:
        made = ctx.service.create(ctx.service.registry.types[PODS], meta["namespace"], pod, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, with_status=True)).obj
    except APIError as error:
        if error.code != 409:
            ctx.service.record_event(sts, "Warning", FAILED_CREATE, f"create Pod {pod_name} in StatefulSet {sts_name} failed error: {error.message}", MANAGER)
        raise
    ctx.service.record_event(sts, "Normal", "SuccessfulCreate", f"create Pod {made['metadata']['name']} in StatefulSet {sts_name} successful", MANAGER)
    return made


def _delete(ctx: Context, rt: Any, sts: dict[str, Any], pod: dict[str, Any]) -> None:
    meta = pod["metadata"]
    try:
        ctx.service.delete(rt, meta["namespace"], meta["name"], {"preconditions": {"uid": meta["uid"]}})
    except APIError as exc:
        if exc.code not in (404, 409):
            raise
    else:
        ctx.service.record_event(sts, "Normal", "SuccessfulDelete", f"delete Pod {meta['name']} in StatefulSet {sts['metadata']['name']} successful", MANAGER)


def _delete_claims(ctx: Context, sts: dict[str, Any], ordinal: int) -> None:
    rt = ctx.service.registry.types[CLAIMS]
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        try:
            ctx.service.delete(rt, sts["metadata"]["namespace"], claim_name(template, sts, ordinal), {})
        except APIError as exc:
            if exc.code != 404:
                raise


def _roll(ctx: Context, rt: Any, sts: dict[str, Any], pods: dict[int, dict[str, Any]], wanted: range, rev: str) -> None:
    """RollingUpdate: while every pod is Ready, the highest old pod at or above the partition is deleted."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or not all(running_ready(pods[o]) for o in wanted if o in pods):
        return
    partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
    for ordinal in sorted(wanted, reverse=True):
        pod = pods.get(ordinal)
        if ordinal - wanted.start < partition or pod is None:
            break
        if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != rev:
            _delete(ctx, rt, sts, pods.pop(ordinal))
            return
