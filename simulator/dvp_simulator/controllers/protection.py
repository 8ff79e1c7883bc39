"""Storage object in-use protection, as kube-apiserver's StorageObjectInUseProtection admission plugin and
kube-controller-manager's pvc-protection and pv-protection controllers do it together.

- Admission: every new PersistentVolumeClaim gets the finalizer `kubernetes.io/pvc-protection`, every new
  PersistentVolume `kubernetes.io/pv-protection`.
- pvc-protection: a claim being deleted keeps its finalizer (and stays Terminating) while a scheduled pod names it
  in spec.volumes[].persistentVolumeClaim.claimName, whatever the pod's phase (upstream's podUsesPVC); then the
  finalizer goes and with it the claim. A live claim without the finalizer (made before protection existed) gets it.
- pv-protection: a volume being deleted keeps its finalizer while its status.phase is Bound; the binder marks it
  Released when its claim is gone (controllers/volume_reclaim.py).

Costs: a claim's check reads the pods naming it through the POD_CLAIMS index (controllers/volume_binding.py), never
the namespace's pods. Only claims and volumes being deleted, or missing their finalizer, are reconciled; a pod's
write wakes the claims it names (before and after) only when one of them is being deleted: key lookups per volume.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, Admission, AdmissionRequest
from ..api.service import WriteOptions
from ..store.store import DELETED, Event, Store
from .runtime import Context, Controller, Key, Requeue
from .volume_binding import POD_CLAIMS, pod_claims

CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
VOLUMES = v.resource_key(v.PERSISTENT_VOLUME)
PODS = v.resource_key(v.POD)
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
PVC_MANAGER = "pvc-protection-controller"
PV_MANAGER = "pv-protection-controller"


def register_admission(admission: Admission) -> None:
    """The StorageObjectInUseProtection admission plugin: the protection finalizer on every new claim and volume."""

    def protect(finalizer: str):
        def hook(request: AdmissionRequest) -> None:
            meta = request.obj["metadata"]
            finalizers = list(meta.get("finalizers") or [])
            if finalizer not in finalizers:
                meta["finalizers"] = finalizers + [finalizer]

        return hook

    admission.mutate(v.CORE_GROUP, v.PERSISTENT_VOLUME_CLAIM, operations=(CREATE,))(protect(PVC_PROTECTION))
    admission.mutate(v.CORE_GROUP, v.PERSISTENT_VOLUME, operations=(CREATE,))(protect(PV_PROTECTION))


def claim_in_use(store: Store, namespace: str, name: str) -> bool:
    """Whether a scheduled pod names the claim (upstream: pvc_protection_controller.go podUsesPVC)."""
    return any((e.obj.get("spec") or {}).get("nodeName") for e in store.by_index(PODS, POD_CLAIMS, f"{namespace}/{name}", namespace))


def _needs_attention(obj: dict[str, Any], finalizer: str) -> bool:
    """Being deleted with the finalizer on, or live without it: the only states a protection controller acts on."""
    finalizers = obj["metadata"].get("finalizers") or []
    return (finalizer in finalizers) == bool(obj["metadata"].get("deletionTimestamp"))


def _set_finalizer(ctx: Context, resource: str, obj: dict[str, Any], finalizer: str, present: bool, manager: str) -> None:
    meta = obj["metadata"]
    finalizers = [f for f in meta.get("finalizers") or [] if f != finalizer] + ([finalizer] if present else [])
    rt = ctx.service.registry.types[resource]
    body = {**obj, "metadata": {**meta, "finalizers": finalizers}}
    ctx.service.update(rt, meta.get("namespace", ""), meta["name"], body, WriteOptions(version=v.CORE_VERSION, manager=manager))


def pvc_controller(store: Store) -> Controller:
    store.add_index(PODS, POD_CLAIMS, pod_claims)  # the binder's index (the same function: registered once)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(CLAIMS, *key)
        if entry is None or not _needs_attention(entry.obj, PVC_PROTECTION):
            return None
        claim = entry.obj
        if not claim["metadata"].get("deletionTimestamp"):
            _set_finalizer(ctx, CLAIMS, claim, PVC_PROTECTION, True, PVC_MANAGER)
        elif not claim_in_use(store, *key):
            _set_finalizer(ctx, CLAIMS, claim, PVC_PROTECTION, False, PVC_MANAGER)
        return None  # a claim still in use is woken by its pods' writes

    def claim_event(event: Event) -> list[Key]:
        if event.type == DELETED or not _needs_attention(event.entry.obj, PVC_PROTECTION):
            return []
        return [(event.entry.namespace, event.entry.name)]

    def claims_of_pod(event: Event) -> list[Key]:
        """A pod came, went or moved: the claims it names that wait for their users to go look again."""
        refs = set(pod_claims(event.entry.obj))
        if event.prev is not None:
            refs.update(pod_claims(event.prev.obj))
        keys = []
        for ref in sorted(refs):
            namespace, name = ref.split("/", 1)
            claim = store.get(CLAIMS, namespace, name)
            if claim is not None and claim.obj["metadata"].get("deletionTimestamp"):
                keys.append((namespace, name))
        return keys

    return Controller("pvc-protection", CLAIMS, reconcile, {PODS: claims_of_pod}, primary_mapper=claim_event)


def pv_controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(VOLUMES, *key)
        if entry is None or not _needs_attention(entry.obj, PV_PROTECTION):
            return None
        pv = entry.obj
        if not pv["metadata"].get("deletionTimestamp"):
            _set_finalizer(ctx, VOLUMES, pv, PV_PROTECTION, True, PV_MANAGER)
        elif (pv.get("status") or {}).get("phase") != "Bound":  # upstream: pv_protection_controller.go isBeingUsed
            _set_finalizer(ctx, VOLUMES, pv, PV_PROTECTION, False, PV_MANAGER)
        return None  # a bound volume is woken by its own status write

    def volume_event(event: Event) -> list[Key]:
        if event.type == DELETED or not _needs_attention(event.entry.obj, PV_PROTECTION):
            return []
        return [("", event.entry.name)]

    return Controller("pv-protection", VOLUMES, reconcile, primary_mapper=volume_event)
