"""PersistentVolumeClaim binding with dynamic provisioning, as kube-controller-manager's PV controller and an
external provisioner do it together: a claim of a StorageClass gets a PersistentVolume `pvc-<claim uid>` of the
requested size, bound both ways (PV.spec.claimRef, PVC.spec.volumeName, both phases Bound).

The class's volumeBindingMode decides when: `Immediate` binds at once; `WaitForFirstConsumer` waits until a pod
that uses the claim is scheduled (or the scheduler's `volume.kubernetes.io/selected-node` annotation is set on
the claim) and pins the volume to that node. A claim naming an existing volume (spec.volumeName) binds to it.
A claim without a class uses the class annotated as default (set into its storageClassName, which kube-apiserver
allows once: RetroactiveDefaultStorageClass); with neither it stays Pending, as does a claim whose storageClassName
is "" (explicitly none)."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import profile, to_bytes

from ..api.service import WriteOptions
from ..store.store import Event, Store
from .runtime import Context, Controller, Key, Requeue
from .storage import Ledger

CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
VOLUMES = v.resource_key(v.PERSISTENT_VOLUME)
CLASSES = v.resource_key(v.STORAGE_CLASS)
PODS = v.resource_key(v.POD)
POD_CLAIMS = "claims"  # index of pods: "<namespace>/<claim>" for every claim a pod mounts
DEFAULT_INDEX = "defaultClass"  # index of StorageClasses annotated as the default
MANAGER = "persistentvolume-binder"
SELECTED_NODE = v.SELECTED_NODE_ANNOTATION
DEFAULT_CLASS = v.DEFAULT_STORAGE_CLASS_ANNOTATION
RETRY = 5.0  # simulated seconds before a claim whose class is missing is looked at again


def pod_claims(pod: dict[str, Any]) -> list[str]:
    ns = pod["metadata"].get("namespace", "")
    return [f"{ns}/{v['persistentVolumeClaim']['claimName']}" for v in pod.get("spec", {}).get("volumes") or [] if v.get("persistentVolumeClaim")]


def default_value(sc: dict[str, Any]) -> list[str]:
    return ["true"] if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true" else []


def _default_class(ctx: Context) -> dict[str, Any] | None:
    """The class annotated as default (the last by name if several are), from the DEFAULT_INDEX."""
    defaults = ctx.service.store.by_index(CLASSES, DEFAULT_INDEX, "true")
    return defaults[-1].obj if defaults else None


def _consumer_node(ctx: Context, claim: dict[str, Any]) -> str | None:
    meta = claim["metadata"]
    node = (meta.get("annotations") or {}).get(SELECTED_NODE)
    if node:
        return node
    for entry in ctx.service.store.by_index(PODS, POD_CLAIMS, f"{meta['namespace']}/{meta['name']}", meta["namespace"]):
        if entry.obj.get("spec", {}).get("nodeName"):
            return entry.obj["spec"]["nodeName"]
    return None


def new_volume(claim: dict[str, Any], sc: dict[str, Any], node: str | None) -> dict[str, Any]:
    """The PersistentVolume a provisioner creates for the claim (pure)."""
    meta, spec = claim["metadata"], claim.get("spec", {})
    name = f"pvc-{meta['uid']}"
    pv: dict[str, Any] = {
        "apiVersion": v.CORE_VERSION,
        "kind": v.PERSISTENT_VOLUME,
        "metadata": {"name": name, "annotations": {v.PROVISIONED_BY_ANNOTATION: sc.get("provisioner", "")}},
        "spec": {
            "capacity": {"storage": (spec.get("resources", {}).get("requests") or {}).get("storage", "0")},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "claimRef": {"apiVersion": v.CORE_VERSION, "kind": v.PERSISTENT_VOLUME_CLAIM, "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": f"/var/lib/dvp-sim/volumes/{name}"},
        },
    }
    if node:
        term = {"matchExpressions": [{"key": v.HOSTNAME_LABEL, "operator": "In", "values": [node]}]}
        pv["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    return pv


def _provisioning_refusal(claim: dict[str, Any], sc: dict[str, Any], ledger: Ledger | None) -> str:
    """Why the class's provisioner cannot make a volume for the claim ("" when it can): access modes the class
    does not offer (its StorageProfile, controllers/storage.py), or no room left in its pool."""
    offered = profile(sc).access_modes
    asked = [m for m in claim.get("spec", {}).get("accessModes") or [] if m not in offered]
    if asked:
        return f"failed to provision volume with StorageClass {sc['metadata']['name']!r}: access mode {asked[0]} is not supported (the class offers {', '.join(offered)})"
    room = ledger.room(sc) if ledger is not None else None
    wanted = to_bytes((claim.get("spec", {}).get("resources", {}).get("requests") or {}).get("storage")) or 0
    if room is not None and wanted > room:
        return f"failed to provision volume with StorageClass {sc['metadata']['name']!r}: not enough space ({max(room, 0)} bytes left, {wanted} requested)"
    return ""


async def reconcile(ctx: Context, key: Key, ledger: Ledger | None = None) -> Requeue | None:
    service = ctx.service
    claim_rt, pv_rt = service.registry.types[CLAIMS], service.registry.types[VOLUMES]
    claim = service.find(claim_rt, *key)
    if claim is None or claim["metadata"].get("deletionTimestamp") or claim.get("status", {}).get("phase") == "Bound":
        return None
    spec = claim.get("spec", {})
    if spec.get("volumeName"):
        pv = service.find(pv_rt, "", spec["volumeName"])
        ref = (pv or {}).get("spec", {}).get("claimRef") or {}
        if pv is None or ref.get("uid") not in (None, claim["metadata"]["uid"]):
            return _pending(ctx, claim, Requeue(after=RETRY))  # no such volume yet, or it is another claim's
        _bind(ctx, claim, pv)
        return None
    class_name = spec.get("storageClassName")
    if class_name == "":  # explicitly no class: only a volume without one, named by volumeName, can bind it
        return _pending(ctx, claim, None)
    sc = service.find(service.registry.types[CLASSES], "", class_name) if class_name else _default_class(ctx)
    if sc is None:
        return _pending(ctx, claim, Requeue(after=RETRY) if class_name else None)
    node = None
    if sc.get("volumeBindingMode", "Immediate") == "WaitForFirstConsumer":
        node = _consumer_node(ctx, claim)
        if node is None:
            return _pending(ctx, claim, None, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
    if not class_name:
        claim = _write_claim(ctx, claim, spec={**spec, "storageClassName": sc["metadata"]["name"]})
    pv = service.find(pv_rt, "", f"pvc-{claim['metadata']['uid']}")
    if pv is None:
        refusal = _provisioning_refusal(claim, sc, ledger)
        if refusal:
            return _pending(ctx, claim, Requeue(after=RETRY), "ProvisioningFailed", refusal)
        # made for this claim, bound to it from the start (claimRef and phase Bound in the one create, where the
        # provisioner's create and the binder's status write would be two versions nobody could see between)
        pv = service.create(pv_rt, "", {**new_volume(claim, sc, node), "status": {"phase": "Bound"}}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
        service.record_event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {pv['metadata']['name']}", MANAGER)
    _bind(ctx, claim, pv)
    return None


def _pending(ctx: Context, claim: dict[str, Any], result: Requeue | None, reason: str = "", message: str = "") -> Requeue | None:
    if claim.get("status", {}).get("phase") != "Pending":
        claim = _write_status(ctx, claim, {"phase": "Pending"})
        if reason:
            ctx.service.record_event(claim, "Normal", reason, message, MANAGER)
    return result


def _bind(ctx: Context, claim: dict[str, Any], pv: dict[str, Any]) -> None:
    service = ctx.service
    pv_rt = service.registry.types[VOLUMES]
    if pv["spec"].get("claimRef", {}).get("uid") != claim["metadata"]["uid"]:
        ref = {"apiVersion": v.CORE_VERSION, "kind": v.PERSISTENT_VOLUME_CLAIM, "namespace": claim["metadata"]["namespace"], "name": claim["metadata"]["name"], "uid": claim["metadata"]["uid"]}
        pv = service.update(pv_rt, "", pv["metadata"]["name"], {**pv, "spec": {**pv["spec"], "claimRef": ref}}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
    if pv.get("status", {}).get("phase") != "Bound":
        service.update(pv_rt, "", pv["metadata"]["name"], {**pv, "status": {"phase": "Bound"}}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
    annotations = {**(claim["metadata"].get("annotations") or {}), v.BIND_COMPLETED_ANNOTATION: "yes", v.BOUND_BY_CONTROLLER_ANNOTATION: "yes"}
    status = {"phase": "Bound", "accessModes": pv["spec"].get("accessModes", []), "capacity": dict(pv["spec"].get("capacity") or {})}
    # the claim's volumeName, annotations and phase Bound in one write (WriteOptions.with_status)
    _write_claim(ctx, claim, spec={**claim.get("spec", {}), "volumeName": pv["metadata"]["name"]}, annotations=annotations, status=status)


def _write_claim(
    ctx: Context, claim: dict[str, Any], spec: dict[str, Any], annotations: dict[str, str] | None = None, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    rt = ctx.service.registry.types[CLAIMS]
    meta = {**claim["metadata"], "annotations": annotations if annotations is not None else claim["metadata"].get("annotations") or {}}
    body = {**claim, "metadata": meta, "spec": spec}
    if status is not None:
        body["status"] = status
    options = WriteOptions(version=v.CORE_VERSION, manager=MANAGER, with_status=status is not None)
    return ctx.service.update(rt, meta["namespace"], meta["name"], body, options).obj


def _write_status(ctx: Context, claim: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    rt = ctx.service.registry.types[CLAIMS]
    meta = claim["metadata"]
    return ctx.service.update(rt, meta["namespace"], meta["name"], {**claim, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status")).obj


def controller(store: Store, ledger: Ledger | None = None) -> Controller:
    store.add_index(PODS, POD_CLAIMS, pod_claims)
    store.add_index(CLASSES, DEFAULT_INDEX, default_value)

    def claims_of_scheduled_pod(event: Event) -> list[Key]:
        """A pod that is scheduled is the first consumer its WaitForFirstConsumer claims wait for."""
        pod = event.entry.obj
        if not pod.get("spec", {}).get("nodeName"):
            return []
        return [tuple(ref.split("/", 1)) for ref in pod_claims(pod)]  # type: ignore[misc]

    async def reconcile_with_pools(ctx: Context, key: Key) -> Requeue | None:
        return await reconcile(ctx, key, ledger)

    return Controller("volume-binding", CLAIMS, reconcile_with_pools, {PODS: claims_of_scheduled_pod})
