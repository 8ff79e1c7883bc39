"""ClusterVirtualImage: the import lifecycle of BEHAVIOUR.md §1.4–1.8.

Phases: Pending → Provisioning → Ready, Upload going through WaitForUserUpload (10 simulated minutes, then
Failed/WaitForUserUploadTimeout); Failed stays until the spec changes; a spec change before Ready resets the
status to Pending and restarts the import; Ready images are checked in DVCR every 5 minutes (ImageLost while
missing); a deleted image is Terminating until no running VM mounts it, then its DVCR data and the cleanup
finalizer go. The data itself is moved by `images.jobs` tasks; this reconcile only turns their state into status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import ObjectService, WriteOptions, json_copy
from ..clock import Clock
from ..images.datasource import mount_changes, mounted_by, object_value, register_indexes, resolve, source_referrers
from ..images.dvcr import registry_url, repository
from ..images.jobs import RUNNING, SUCCEEDED, WAITING, ImageRef, Importer, Job
from ..images.units import format_percent, image_size, parse_percent, speed
from ..images.upload import token_of, upload_urls
from ..store.store import Event, Store
from . import conditions
from .provisioning import importer_refusal
from .runtime import Context, Controller, Key, Requeue

GROUP, KIND = v.DVP_GROUP, v.CLUSTER_VIRTUAL_IMAGE
RESOURCE = v.resource_key(KIND)
CLEANUP_FINALIZER = v.CVI_CLEANUP_FINALIZER
PROTECTION_FINALIZER = v.CVI_PROTECTION_FINALIZER
MANAGER = "virtualization-controller"
UPLOAD_WAIT = 600.0  # simulated seconds a WaitForUserUpload image waits for the upload to start
PRESENCE_CHECK = 300.0  # simulated seconds between DVCR checks of a Ready image (cron */5)
LOST_RECHECK = (15.0, 300.0)  # an ImageLost image is rechecked after the time lost, clamped to this range
PROGRESS_CAP = 99.9
QUOTA_RETRY_AGE, QUOTA_RETRY = 1800.0, 60.0  # an image failed on a quota is tried again every minute once 30 min old
QUOTA_MESSAGE = "Quota exceeded: "


def controller(importer: Importer, store: Store, address: Callable[[], str]) -> Controller:
    """`address()` is the API server's host:port, where upload URLs point."""

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        service, name = ctx.service, key[1]
        cvi = service.find(ctx.rt(GROUP, KIND), "", name)
        if cvi is None:
            importer.cancel((RESOURCE, "", name))
            return None
        users = mounted_by(service, KIND, name)
        if cvi["metadata"].get("deletionTimestamp"):
            return _delete(ctx, importer, cvi, users)
        finalizers = list(cvi["metadata"].get("finalizers") or [])
        wanted = [f for f in finalizers if f != PROTECTION_FINALIZER or users]
        if users and PROTECTION_FINALIZER not in wanted:  # one contract for CVI, VI, VD: protection while mounted
            wanted.append(PROTECTION_FINALIZER)
        if CLEANUP_FINALIZER not in wanted:
            wanted.append(CLEANUP_FINALIZER)
        if wanted != finalizers:
            cvi = _set_finalizers(service, cvi, wanted)
        status = json_copy(cvi.get("status") or {})
        requeue = Lifecycle(ctx, importer, address, cvi, status).run(users)
        status["observedGeneration"] = cvi["metadata"]["generation"]
        _write_status(service, cvi, status)
        return requeue

    register_indexes(store, [RESOURCE])
    return Controller("cvi", RESOURCE, reconcile, secondary=_watches(store))


class Lifecycle:
    """One reconcile's view of one image: computes the new status in place and says when to look again.

    Also the import stage of VirtualImages and VirtualDisks (controllers/vi.py, vd.py): `resource` and `repo`
    say whose job it is and where in DVCR the data goes (`vi/<ns>/<name>`, `vd/<ns>/<name>`)."""

    def __init__(self, ctx: Context, importer: Importer, address: Callable[[], str], cvi: dict[str, Any], status: dict[str, Any],
                 resource: str = RESOURCE, repo: str = "") -> None:  # fmt: skip
        self.service, self.clock, self.importer, self.address = ctx.service, ctx.clock, importer, address
        meta = cvi["metadata"]
        self.cvi, self.status, self.name, self.uid, self.generation = cvi, status, meta["name"], meta["uid"], meta["generation"]
        self.namespace = meta.get("namespace", "")
        self.ref = ImageRef(resource, self.namespace, self.name, self.uid)
        self.repo = repo or repository("cvi", self.name)
        self.now = ctx.clock.stamp()
        self.conditions: list[dict[str, Any]] = status.setdefault("conditions", [])

    def condition(self, type_: str, status: str, reason: str, message: str = "") -> None:
        conditions.set_condition(self.conditions, type_, status, reason, message, self.generation, self.now)

    def run(self, users: list[str]) -> Requeue | None:
        status = self.status
        status.setdefault("phase", v.PENDING)
        if conditions.get(self.conditions, v.COND_READY) is None:
            self.condition(v.COND_READY, "Unknown", v.REASON_UNKNOWN)
        _set_in_use(self.conditions, users, self.generation, self.now)
        ready = conditions.get(self.conditions, v.COND_READY)
        if ready["status"] != "True" and "observedGeneration" in status and status["observedGeneration"] != self.generation:
            return self.restart()
        readiness = resolve(self.service, self.cvi["spec"], self.namespace)
        self.condition(v.COND_DATASOURCE_READY, "True" if readiness.ready else "False", readiness.reason, readiness.message)
        if not readiness.ready:
            return None  # the watches bring us back when the source appears or becomes ready
        if status["phase"] in (v.READY, v.IMAGE_LOST):
            return self.check_presence()
        if status["phase"] == v.FAILED:
            if not self.failed_on_quota():
                return None  # final for this generation: only a spec change restarts
            wait = self.quota_retry_wait()
            if wait > 0:
                return Requeue(after=wait)
        job = self.importer.job(self.ref, self.generation)
        if job is None:
            if self.provisioning_pod_refused(readiness.source):
                return Requeue(after=self.quota_retry_wait() or QUOTA_RETRY)
            if status["phase"] == v.FAILED:  # the quota allows the importer now: provisioning starts over
                status["phase"] = v.PENDING
            token = token_of((status.get("imageUploadURLs") or {}).get("external"))  # kept across restarts
            job = self.importer.start(self.ref, self.generation, self.repo, readiness.source, token, registry=True)  # kept in DVCR
            if status["phase"] == v.PENDING:
                status.update(phase=v.PROVISIONING, progress=status.get("progress") or "0%")
                self.condition(v.COND_READY, "False", v.REASON_PROVISIONING, "The importer is starting.")
                return Requeue(after=0)
        status.setdefault("target", {})["registryURL"] = registry_url(self.repo, self.uid)
        if job.state == WAITING:
            return self.wait_for_upload(job)
        if job.state == RUNNING:
            return self.provisioning(job)
        self.importer.forget(self.ref.slot)
        return self.ready(job) if job.state == SUCCEEDED else self.failed(job)

    def restart(self) -> Requeue:
        """The spec changed before Ready: drop the old import and start over from Pending."""
        self.importer.cancel(self.ref.slot)
        self.importer.dvcr.discard(self.repo, self.uid)
        kept = {k: self.status[k] for k in ("conditions", "observedGeneration")}
        self.status.clear()
        self.status.update(kept, phase=v.PENDING)
        return Requeue(after=0)

    def wait_for_upload(self, job: Job) -> Requeue | None:
        ready = conditions.get(self.conditions, v.COND_READY)
        if ready["reason"] == v.REASON_WAIT_FOR_USER_UPLOAD:
            waited = self.clock.time() - Clock.parse(ready["lastTransitionTime"])
            if waited >= UPLOAD_WAIT:
                self.importer.cancel(self.ref.slot)
                self.status.update(phase=v.FAILED)
                self.status.pop("imageUploadURLs", None)
                message = f"No upload started within {int(UPLOAD_WAIT // 60)} minutes; recreate the ClusterVirtualImage to upload the image again."
                self.condition(v.COND_READY, "False", v.REASON_WAIT_FOR_USER_UPLOAD_TIMEOUT, message)
                return None
        self.status.update(phase=v.WAIT_FOR_USER_UPLOAD, progress="0%", imageUploadURLs=upload_urls(self.address(), job.token))
        self.status.pop("downloadSpeed", None)
        self.condition(v.COND_READY, "False", v.REASON_WAIT_FOR_USER_UPLOAD, "Waiting for the user upload.")
        waited = self.clock.time() - Clock.parse(conditions.get(self.conditions, v.COND_READY)["lastTransitionTime"])
        return Requeue(after=max(UPLOAD_WAIT - waited, 0) + 1)

    def provisioning(self, job: Job) -> None:
        if self.status["phase"] == v.PROVISIONING and not job.report_due:
            return None  # nothing new since the last report (this reconcile answers our own status write)
        job.report_due = False
        progress = min(max(parse_percent(self.status.get("progress")), round(job.progress, 1)), PROGRESS_CAP)
        average, current = job.speeds(asyncio.get_running_loop().time())
        self.status.update(phase=v.PROVISIONING, progress=format_percent(progress), downloadSpeed=speed(average, current))
        self.condition(v.COND_READY, "False", v.REASON_PROVISIONING, "Import is in the process of provisioning to DVCR.")
        return None  # the job wakes us as bytes arrive and when it ends

    def ready(self, job: Job) -> Requeue:
        image = job.image
        self.status.update(phase=v.READY, progress="100%", size=image_size(image.stored_bytes, image.unpacked_bytes), format=image.format, cdrom=image.cdrom)
        self.status.pop("imageUploadURLs", None)
        self.status.pop("downloadSpeed", None)
        if job.began is not None:  # bytes were transferred (a copy within DVCR has no speed to speak of)
            self.status["downloadSpeed"] = speed(job.speeds(asyncio.get_running_loop().time())[0])
        if job.source.source_uid:
            self.status["sourceUID"] = job.source.source_uid
        self.condition(v.COND_READY, "True", v.REASON_READY)
        return Requeue(after=PRESENCE_CHECK)

    def provisioning_pod_refused(self, source: Any) -> bool:
        """Whether a ResourceQuota refuses the pod the platform would start for this import (controllers/
        provisioning.py); the refusal is then the status."""
        prefix = self.repo.split("/", 1)[0]
        kind = "uploader" if getattr(source, "type", None) == v.SOURCE_UPLOAD else "importer"
        refusal = importer_refusal(self.service, prefix, self.name, self.namespace or v.MODULE_NAMESPACE, self.uid, kind)
        if refusal is not None:
            self.quota_exceeded(refusal.message, f"{kind} pod")
        return refusal is not None

    def failed_on_quota(self) -> bool:
        ready = conditions.get(self.conditions, v.COND_READY) or {}
        return ready.get("reason") == v.REASON_PROVISIONING_FAILED and (ready.get("message") or "").startswith(QUOTA_MESSAGE)

    def quota_retry_wait(self) -> float:
        """Simulated seconds until an image failed on a quota is tried again (BEHAVIOUR.md §1.4: every minute, only
        once the image is 30 minutes old; 0: now)."""
        age = self.clock.time() - Clock.parse(self.cvi["metadata"]["creationTimestamp"])
        return max(QUOTA_RETRY_AGE - age, 0.0)

    def quota_exceeded(self, error: str, what: str) -> None:
        """A ClusterVirtualImage (or a VirtualImage in DVCR) whose importer (`what`) a quota refused (BEHAVIOUR.md §1.4):
        Failed, ProvisioningFailed, as the platform's setQuotaExceededPhaseCondition words it for an image this young."""
        self.status.update(phase=v.FAILED)
        self.status.pop("downloadSpeed", None)
        message = f"{QUOTA_MESSAGE}{error}; Please configure quotas or try recreating the resource later."
        self.condition(v.COND_READY, "False", v.REASON_PROVISIONING_FAILED, message)

    def failed(self, job: Job) -> None:
        self.status.update(phase=v.FAILED)
        self.status.pop("imageUploadURLs", None)
        self.status.pop("downloadSpeed", None)
        # An upload's verdict is final on the platform: the uploader is cleaned up and never retried.
        reason = v.REASON_PROVISIONING_FAILED_TERMINALLY if job.source.type == v.SOURCE_UPLOAD else v.REASON_PROVISIONING_FAILED
        self.condition(v.COND_READY, "False", reason, f"Provisioning failed: {job.error}.")
        return None

    def check_presence(self) -> Requeue:
        """Ready ⇄ ImageLost, by whether the image is still in DVCR."""
        present = self.importer.dvcr.lookup(self.repo, self.uid) is not None
        if present:
            if self.status["phase"] == v.IMAGE_LOST:
                self.status["phase"] = v.READY
                self.condition(v.COND_READY, "True", v.REASON_READY)
                self.service.record_event(self.cvi, "Normal", v.EVENT_IMAGE_LOST_RECOVERED, f"The image {registry_url(self.repo, self.uid)} is back in DVCR.", MANAGER)
            return Requeue(after=PRESENCE_CHECK)
        if self.status["phase"] == v.READY:
            self.status["phase"] = v.IMAGE_LOST
            self.condition(v.COND_READY, "False", v.REASON_IMAGE_LOST, f"The image {registry_url(self.repo, self.uid)} is missing from DVCR.")
        lost_for = self.clock.time() - Clock.parse(conditions.get(self.conditions, v.COND_READY)["lastTransitionTime"])
        return Requeue(after=min(max(lost_for, LOST_RECHECK[0]), LOST_RECHECK[1]))


def _set_in_use(conds: list[dict[str, Any]], users: list[str], generation: int, now: str) -> None:
    if users:
        message = "The image is used by the virtual machines: " + ", ".join(users) + "."
        conditions.set_condition(conds, v.COND_IN_USE, "True", v.REASON_ATTACHED_TO_VM, message, generation, now)
    else:
        conditions.set_condition(conds, v.COND_IN_USE, "False", v.REASON_NOT_IN_USE, "", generation, now)


def _delete(ctx: Context, importer: Importer, cvi: dict[str, Any], users: list[str]) -> None:
    """Terminating until no running VM mounts the image; then the import stops, the DVCR data and the finalizers go."""
    service, name = ctx.service, cvi["metadata"]["name"]
    status = json_copy(cvi.get("status") or {})
    _set_in_use(status.setdefault("conditions", []), users, cvi["metadata"]["generation"], ctx.clock.stamp())
    status["phase"] = v.TERMINATING
    cvi = _write_status(service, cvi, status)
    if users:
        return None  # the VM watch brings us back when they stop or detach it
    importer.cancel((RESOURCE, "", name))
    importer.dvcr.discard(repository("cvi", name))
    finalizers = cvi["metadata"].get("finalizers") or []
    mine = (CLEANUP_FINALIZER, PROTECTION_FINALIZER)
    if any(f in finalizers for f in mine):
        _set_finalizers(service, cvi, [f for f in finalizers if f not in mine])
    return None


def _options(subresource: str | None = None) -> WriteOptions:
    return WriteOptions(version=v.DVP_VERSION, manager=MANAGER, subresource=subresource)


def _set_finalizers(service: ObjectService, cvi: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
    rt = service.registry.by_kind(GROUP, KIND)
    body = {**cvi, "metadata": {**cvi["metadata"], "finalizers": finalizers}}
    return service.update(rt, "", cvi["metadata"]["name"], body, _options()).obj


def _write_status(service: ObjectService, cvi: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    if status == cvi.get("status"):
        return cvi
    rt = service.registry.by_kind(GROUP, KIND)
    return service.update(rt, "", cvi["metadata"]["name"], {**cvi, "status": status}, _options("status")).obj


def _watches(store: Store) -> dict[str, Callable[[Event], list[Key]]]:
    """Events of other objects that matter to an image: its ObjectRef source, its pull secret, the VMs mounting it."""

    referencing = source_referrers(store, RESOURCE)

    def mounting(event: Event) -> list[Key]:
        """The images a VM starts or stops mounting: what an image reads of its VMs (mounted_by) changed. Waking
        every image a VM lists on each of its writes made each of them list its users again: with 1,000 VMs booting
        one ISO, that listing was a third of the simulator's time (chaos at 1,000 VMs)."""
        prefix = object_value(KIND, "", "")
        return sorted(("", value[len(prefix):]) for value in mount_changes(event) if value.startswith(prefix))

    return {
        RESOURCE: referencing,
        v.resource_key(v.VIRTUAL_IMAGE): referencing,
        v.resource_key(v.VIRTUAL_DISK): referencing,
        v.resource_key(v.SECRET): referencing,
        v.resource_key(v.VIRTUAL_MACHINE): mounting,
    }
