"""What VirtualDisks and VirtualImages on PVC share (BEHAVIOUR.md §2.1-2.4): storage-class resolution, the import
into DVCR (the ClusterVirtualImage `Lifecycle` of controllers/cvi.py, under `vd/<ns>/<name>` / `vi/<ns>/<name>`),
then the PersistentVolumeClaim, whose binding the object follows: Provisioning while it is Pending,
WaitForFirstConsumer while a WaitForFirstConsumer claim waits for its consumer (a VM's pod scheduled, or the
scheduler's selected-node annotation — never the VM itself), Ready once Bound, PVCLost when it disappears. A claim
deleted while a running VM's pod uses it stays Terminating and Bound under `kubernetes.io/pvc-protection`
(controllers/protection.py): the object stays Ready until the claim is gone.

The data: a simulated volume holds no bytes. Its claim carries the annotation
`storage.dvp-sim.deckhouse.io/data: <repository>:<uid>` naming the DVCR image it was filled from (copy-on-write:
the image files are immutable, and the object's own DVCR copy is a hard link of its source's). A blank disk has no
annotation. Copying from a disk or an image on PVC (images/datasource.py) reads that annotation: the copy is the
referenced image grown to the claim's capacity, or a sparse raw image of the capacity for a blank disk.
"""

from __future__ import annotations

import abc
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import (
    Resolution,
    mib_quantity,
    profile,
    resolve_storage_class,
    settings_of,
)

from ..api.errors import APIError
from ..api.quota import is_quota_error
from ..api.service import ObjectService, WriteOptions, json_copy
from ..images.datasource import Readiness, mounted_devices, object_value, resolve
from ..images.dvcr import StoredImage
from ..images.jobs import FAILED, RUNNING, SUCCEEDED, WAITING
from ..images.upload import token_of
from ..store.store import MODIFIED, Event, Store
from . import conditions, ipam
from .cvi import Lifecycle, _set_in_use
from .runtime import Key, Requeue, controller_ref

CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)
CLASSES = v.resource_key(v.STORAGE_CLASS)
MODULE_SETTINGS = ipam.CONFIG_MAPS  # where the settings in effect live (ipam.effective_settings), watched with ipam.on_settings
VMS = v.resource_key(v.VIRTUAL_MACHINE)
MANAGER = "virtualization-controller"
DEFAULT_INDEX = "defaultClass"  # of StorageClasses (controllers/volume_binding.py registers it)
WAITING_INDEX = "waitingForStorageClass"  # of disks and images: those a class or the ModuleConfig may unblock
ATTACHED_INDEX = "attachedBlockDevice"  # of VMs: every block device in status.blockDeviceRefs, whatever the phase
QUOTA_INDEX = "quotaExceeded"  # of disks and images: the namespace of those a ResourceQuota refused
QUOTAS = "/resourcequotas"
# the phases in which a claim that goes is made again rather than lost: the data never reached it
REPROVISIONED = (v.PENDING, v.PROVISIONING, v.WAIT_FOR_USER_UPLOAD, v.FAILED)


def waiting_for_class(obj: dict[str, Any]) -> list[str]:
    cond = conditions.get(((obj.get("status") or {}).get("conditions") or []), v.COND_STORAGE_CLASS_READY)
    return ["true"] if cond is not None and cond.get("status") != "True" else []


def attached_devices(vm: dict[str, Any]) -> list[str]:
    namespace = vm["metadata"].get("namespace", "")
    refs = (vm.get("status") or {}).get("blockDeviceRefs") or []
    return [object_value(r["kind"], namespace, r["name"]) for r in refs if r.get("kind") and r.get("name")]


def quota_refused(obj: dict[str, Any]) -> list[str]:
    cond = conditions.get(((obj.get("status") or {}).get("conditions") or []), v.COND_READY)
    return [obj["metadata"].get("namespace", "")] if cond is not None and cond.get("reason") == v.REASON_QUOTA_EXCEEDED else []


def wake_quota_refused(store: Store, resource: str):
    """A ResourceQuota came, changed (its spec, or its usage in its status) or went: the namespace's objects a quota
    refused try again (the platform's ResourceQuotaWatcher)."""

    def mapper(event: Event) -> list[Key]:
        return [(e.namespace, e.name) for e in store.by_index(resource, QUOTA_INDEX, event.entry.namespace)]

    return mapper


def register_indexes(store: Store, resource: str) -> None:
    store.add_index(resource, QUOTA_INDEX, quota_refused)
    store.add_index(resource, WAITING_INDEX, waiting_for_class)
    store.add_index(VMS, ATTACHED_INDEX, attached_devices)


def wake_waiting(store: Store, resource: str):
    """A StorageClass or the settings in effect changed (map the latter through ipam.on_settings): the objects still
    waiting for a class look again."""

    def mapper(event: Event) -> list[Key]:
        return [(e.namespace, e.name) for e in store.by_index(resource, WAITING_INDEX, "true")]

    return mapper


def wake_block_devices(kind: str):
    """A VM changed: the devices of `kind` in its status.blockDeviceRefs (before and after) look again — when the VM
    came or went, or what a device reads of it changed: whether it lists the device (ATTACHED_INDEX) and whether it
    mounts it (MOUNT_INDEX). A VM's other writes (conditions, node, IP: most of the ~10 on its way to Running) wake
    nothing; each woke all its disks for a reconcile that changed nothing."""

    def mapper(event: Event) -> list[Key]:
        if event.type == MODIFIED and event.prev is not None:
            before, after = event.prev.obj, event.entry.obj
            if attached_devices(before) == attached_devices(after) and mounted_devices(before) == mounted_devices(after):
                return []
        refs = list((event.entry.obj.get("status") or {}).get("blockDeviceRefs") or [])
        if event.prev is not None:
            refs += (event.prev.obj.get("status") or {}).get("blockDeviceRefs") or []
        return sorted({(event.entry.namespace, r["name"]) for r in refs if r.get("kind") == kind and r.get("name")})

    return mapper


def module_config(service: ObjectService) -> dict[str, Any] | None:
    """ModuleConfig virtualization with the settings in effect (those that passed the module's hook)."""
    return ipam.effective_config(service.store)


def resolve_class(service: ObjectService, section: str, spec_class: str | None, pvc_class: str | None = None) -> Resolution:
    """§2.4 over the store: the classes by name, the defaults from the DEFAULT_INDEX."""
    rt = service.registry.types[CLASSES]
    defaults = [e.obj for e in service.store.by_index(CLASSES, DEFAULT_INDEX, "true")]
    return resolve_storage_class(spec_class, settings_of(module_config(service), section), lambda n: service.find(rt, "", n), defaults, pvc_class)


class VolumeLifecycle(Lifecycle, metaclass=abc.ABCMeta):
    """The lifecycle of an object whose data ends in a PVC. Subclasses say how big the claim is and what Ready means."""

    kind = ""
    claim_prefix = ""  # the claim is `<prefix>-<name>-<uid>`
    section = ""  # the ModuleConfig settings section of its storage classes
    class_not_ready_reason = v.REASON_STORAGE_CLASS_NOT_READY  # Ready's reason while no class resolves

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = self.cvi.get("spec") or {}
        self.claim_rt = self.service.registry.types[CLAIMS]

    # -- the flow ------------------------------------------------------------------------------------------
    def run(self, users: list[str]) -> Requeue | None:
        status = self.status
        status.setdefault("phase", v.PENDING)
        if conditions.get(self.conditions, v.COND_READY) is None:
            self.condition(v.COND_READY, "Unknown", v.REASON_UNKNOWN)
        _set_in_use(self.conditions, users, self.generation, self.now)
        ready = conditions.get(self.conditions, v.COND_READY)
        changed = "observedGeneration" in status and status["observedGeneration"] != self.generation
        if ready["status"] != "True" and changed and status["phase"] != v.PVC_LOST_PHASE:
            return self.restart()
        claim = self.claim()
        resolution = resolve_class(self.service, self.section, (self.spec.get("persistentVolumeClaim") or {}).get("storageClassName"),
                                   (claim or {}).get("spec", {}).get("storageClassName"))  # fmt: skip
        if not resolution.ready:
            reason = v.REASON_STORAGE_CLASS_NOT_FOUND if resolution.storage_class is None and self.kind == v.VIRTUAL_IMAGE else v.REASON_STORAGE_CLASS_NOT_READY
            self.condition(v.COND_STORAGE_CLASS_READY, "False", reason, resolution.problem)
            if claim is None:
                status["phase"] = v.PENDING
                self.condition(v.COND_READY, "False", self.class_not_ready_reason, f"Waiting for a storage class: {resolution.problem}.")
                return None
        else:
            self.condition(v.COND_STORAGE_CLASS_READY, "True", v.REASON_STORAGE_CLASS_READY, "")
            status["storageClassName"] = resolution.name
        if claim is not None:
            return self.volume(claim)
        if (status.get("target") or {}).get("persistentVolumeClaimName") and status["phase"] not in REPROVISIONED:
            return self.lost()
        if status["phase"] == v.FAILED:
            return None  # final for this generation: only a spec change restarts
        if not self.spec.get("dataSource"):
            return self.provision(None, resolution)
        image = self.imported()
        if isinstance(image, StoredImage):
            return self.provision(image, resolution)
        return image

    def imported(self) -> StoredImage | Requeue | None:
        """The data in DVCR, importing it first (the CVI lifecycle's steps); a Requeue/None while not there."""
        readiness = self.source_readiness()
        if not readiness.ready:
            self.status["phase"] = v.PENDING
            return None
        image = self.importer.dvcr.lookup(self.repo, self.uid)
        if image is not None:
            return image
        job = self.importer.job(self.ref, self.generation)
        if job is None:
            if self.provisioning_pod_refused(readiness.source):
                return None
            job = self.importer.start(self.ref, self.generation, self.repo, readiness.source, self.upload_token())
            if self.status["phase"] == v.PENDING:
                self.status.update(phase=v.PROVISIONING, progress=self.status.get("progress") or "0%")
                self.condition(v.COND_READY, "False", v.REASON_PROVISIONING, "The importer is starting.")
                return Requeue(after=0)
        if job.state == WAITING:
            return self.wait_for_upload(job)
        if job.state == RUNNING:
            return self.provisioning(job)
        self.importer.forget(self.ref.slot)
        if job.state == SUCCEEDED:
            if job.source.source_uid:
                self.status["sourceUID"] = job.source.source_uid
            self.status.pop("imageUploadURLs", None)
            return job.image
        if job.state == FAILED:
            return self.failed(job)
        return None

    def upload_token(self) -> str:
        return token_of((self.status.get("imageUploadURLs") or {}).get("external"))

    def source_readiness(self) -> Readiness:
        readiness = resolve(self.service, self.spec, self.namespace)
        self.condition(v.COND_DATASOURCE_READY, "True" if readiness.ready else "False", readiness.reason, readiness.message)
        return readiness

    def provision(self, image: StoredImage | None, resolution: Resolution) -> Requeue | None:
        """Create the claim for the data (None: a blank disk)."""
        size, problem = self.claim_size(image)
        if problem:
            self.status.update(phase=v.FAILED)
            self.status.pop("downloadSpeed", None)
            self.condition(v.COND_READY, "False", v.REASON_PROVISIONING_FAILED, problem + ".")
            return None
        if image is not None:
            self.record_image(image)
        sc = resolution.storage_class or {}
        offered = profile(sc)
        name = self.claim_name()
        annotations = {v.VOLUME_DATA_ANNOTATION: f"{self.repo}:{self.uid}"} if image is not None else {}
        claim = {
            "apiVersion": v.CORE_VERSION,
            "kind": v.PERSISTENT_VOLUME_CLAIM,
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "annotations": annotations,
                "ownerReferences": [controller_ref(f"{v.DVP_GROUP}/{v.DVP_VERSION}", self.kind, self.name, self.uid)],
            },
            "spec": {
                "accessModes": [offered.access_mode],
                "volumeMode": offered.volume_mode,
                "storageClassName": resolution.name,
                "resources": {"requests": {"storage": mib_quantity(size)}},
            },
        }
        try:
            created = self.service.create(self.claim_rt, self.namespace, claim, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
        except APIError as error:
            if not is_quota_error(error):
                raise
            self.quota_exceeded(error.message, "target PersistentVolumeClaim")
            return None  # a change of the namespace's quotas brings us back (QUOTA_INDEX)
        self.status.update(phase=v.PROVISIONING, progress=self.status.get("progress") or "0%")
        # the claim as it now is (unbound, or waiting for its first consumer): what the reconcile its creation brings
        # would report, written with this one (that reconcile then finds nothing to change) instead of a version of
        # its own; the claim's events bring us back
        return self.volume(created)

    def quota_exceeded(self, error: str, what: str = "importer pod") -> None:
        """A claim or an importer pod a ResourceQuota refused (BEHAVIOUR.md §2.1, §2.2): Pending, Ready=False
        QuotaExceeded with the quota's words, until the namespace's quotas change (QUOTA_INDEX wakes it)."""
        self.status["phase"] = v.PENDING
        for key in ("progress", "downloadSpeed"):
            self.status.pop(key, None)
        self.condition(v.COND_READY, "False", v.REASON_QUOTA_EXCEEDED, f"Quota exceeded during the creation of the {what}: {error}")

    def volume(self, claim: dict[str, Any]) -> Requeue | None:
        """Follow the claim's binding."""
        phase = (claim.get("status") or {}).get("phase")
        if claim["metadata"].get("deletionTimestamp") and self.status.get("phase") in REPROVISIONED:
            # a claim of an earlier attempt (a restart deleted it) waits for its pods under kubernetes.io/pvc-protection:
            # the new one takes its name once it is gone (its DELETED event brings us back)
            return None
        self.status.setdefault("target", {})["persistentVolumeClaimName"] = claim["metadata"]["name"]
        if phase == v.PVC_LOST:
            return self.lost()
        if phase != v.PVC_BOUND:
            sc = self.service.find(self.service.registry.types[CLASSES], "", claim["spec"].get("storageClassName") or "") or {}
            waits = sc.get("volumeBindingMode") == v.BINDING_WFFC and not (claim["metadata"].get("annotations") or {}).get(v.SELECTED_NODE_ANNOTATION)
            if waits:
                self.status.update(phase=v.WAIT_FOR_FIRST_CONSUMER, progress="0%" if self.kind == v.VIRTUAL_DISK else self.status.get("progress", "0%"))
                self.condition(
                    v.COND_READY,
                    "False",
                    v.REASON_WAITING_FOR_FIRST_CONSUMER,
                    "Waiting for a virtual machine using the disk to be scheduled (WaitForFirstConsumer).",
                )
            else:
                self.status["phase"] = v.PROVISIONING
                self.condition(v.COND_READY, "False", v.REASON_PROVISIONING, "Waiting for the PersistentVolumeClaim to be bound.")
            return None
        return self.bound(claim)

    def bound(self, claim: dict[str, Any]) -> Requeue | None:
        self.status.update(phase=v.READY, progress="100%")
        self.status.pop("downloadSpeed", None)
        self.condition(v.COND_READY, "True", v.REASON_READY)
        return None

    def lost(self) -> None:
        self.status["phase"] = v.PVC_LOST_PHASE
        name = (self.status.get("target") or {}).get("persistentVolumeClaimName", "")
        self.condition(v.COND_READY, "False", v.REASON_PVC_LOST, f"The PersistentVolumeClaim {name} is lost.")
        return None

    def restart(self) -> Requeue:
        claim = self.claim()
        if claim is not None:
            self.service.delete(self.claim_rt, self.namespace, claim["metadata"]["name"], {})
        return super().restart()

    # -- the claim ----------------------------------------------------------------------------------------
    def claim_name(self) -> str:
        return f"{self.claim_prefix}-{self.name}-{self.uid}"[:253]

    def claim(self) -> dict[str, Any] | None:
        name = (self.status.get("target") or {}).get("persistentVolumeClaimName") or self.claim_name()
        claim = self.service.find(self.claim_rt, self.namespace, name)
        if claim is None:
            return None
        owners = claim["metadata"].get("ownerReferences") or []
        return claim if any(o.get("uid") == self.uid for o in owners) else None

    @abc.abstractmethod
    def claim_size(self, image: StoredImage | None) -> tuple[int, str | None]:
        """The claim's size in bytes, and why the claim cannot be made (None when it can): a disk sizes by its spec and
        its image, an image on a PVC by the image alone."""

    def record_image(self, image: StoredImage) -> None:
        """What the object's status says about the data it holds."""


# -- the reconcile both controllers run ------------------------------------------------------------------------
def _options(subresource: str | None = None, with_status: bool = False) -> WriteOptions:
    return WriteOptions(version=v.DVP_VERSION, manager=MANAGER, subresource=subresource, with_status=with_status)


def write_status(service: ObjectService, rt: Any, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    if status == obj.get("status"):
        return obj
    meta = obj["metadata"]
    return service.update(rt, meta["namespace"], meta["name"], {**obj, "status": status}, _options("status")).obj


def set_finalizers(service: ObjectService, rt: Any, obj: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
    meta = obj["metadata"]
    return service.update(rt, meta["namespace"], meta["name"], {**obj, "metadata": {**meta, "finalizers": finalizers}}, _options()).obj


def wanted_finalizers(obj: dict[str, Any], cleanup: str, protection: str, users: list[str]) -> list[str]:
    """The object's finalizers as they should be: the cleanup finalizer always; the protection finalizer while a
    running VM mounts the object."""
    finalizers = list(obj["metadata"].get("finalizers") or [])
    wanted = [f for f in finalizers if f != protection or users]
    if users and protection not in wanted:
        wanted.append(protection)
    if cleanup not in wanted:
        wanted.append(cleanup)
    return wanted


def write_object(service: ObjectService, rt: Any, obj: dict[str, Any], finalizers: list[str], status: dict[str, Any]) -> dict[str, Any]:
    """The object with these finalizers and this status: one write when both change (WriteOptions.with_status: a
    reconcile's two writes, which nothing could come between, as one version), a status write or a finalizer write
    when one does, none when neither does."""
    meta = obj["metadata"]
    if finalizers == (meta.get("finalizers") or []):
        return write_status(service, rt, obj, status)
    if status == obj.get("status"):
        return set_finalizers(service, rt, obj, finalizers)
    body = {**obj, "metadata": {**meta, "finalizers": finalizers}, "status": status}
    return service.update(rt, meta["namespace"], meta["name"], body, _options(with_status=True)).obj


def delete(service: ObjectService, importer: Any, rt: Any, obj: dict[str, Any], repo: str, finalizers: tuple[str, str], users: list[str], now: str) -> None:
    """Terminating until no running VM mounts the object; then its import stops, its DVCR data and claim go,
    and its finalizers."""
    status = json_copy(obj.get("status") or {})
    _set_in_use(status.setdefault("conditions", []), users, obj["metadata"]["generation"], now)
    status["phase"] = v.TERMINATING
    obj = write_status(service, rt, obj, status)
    if users:
        return None
    meta = obj["metadata"]
    importer.cancel((rt.key, meta["namespace"], meta["name"]))
    importer.dvcr.discard(repo)
    claim_name = (status.get("target") or {}).get("persistentVolumeClaimName")
    claim_rt = service.registry.types[CLAIMS]
    claim = service.find(claim_rt, meta["namespace"], claim_name) if claim_name else None
    if claim is not None and not claim["metadata"].get("deletionTimestamp"):
        if any(o.get("uid") == meta["uid"] for o in claim["metadata"].get("ownerReferences") or []):
            service.delete(claim_rt, meta["namespace"], claim_name, {})
    current = meta.get("finalizers") or []
    if any(f in current for f in finalizers):
        set_finalizers(service, rt, obj, [f for f in current if f not in finalizers])
    return None
