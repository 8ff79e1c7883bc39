"""The CronJob controller (kube-controller-manager's, pkg/controller/cronjob, the v2 controller): a CronJob makes a
Job of its template each time its schedule fires, on the simulated clock.

- When a run is due — the latest time the schedule fired (in spec.timeZone, else UTC) after the last run, or after the
  CronJob was made — it makes the Job `<cronjob>-<minutes since the epoch of that time>` (annotated
  `batch.kubernetes.io/cronjob-scheduled-timestamp`, its controller the CronJob), unless it is suspended, the time is
  older than startingDeadlineSeconds (skipped), or concurrencyPolicy Forbid finds a Job of it still running (skipped:
  the next time will tell); Replace deletes the running ones first. More than 100 missed times: the Warning
  `TooManyMissedTimes`, and the latest of them runs.
- Status: active (references to its Jobs not finished), lastScheduleTime, lastSuccessfulTime (the latest completion
  among its Jobs); Events SuccessfulCreate, SawCompletedJob, SuccessfulDelete, JobAlreadyActive.
- Its finished Jobs beyond successfulJobsHistoryLimit and failedJobsHistoryLimit are deleted, oldest first.
- A reconcile is due at the schedule's next time (Requeue on the simulated clock, so `clock advance` runs what falls
  due).

Costs: a reconcile reads the CronJob's Jobs (the owner index); a Job's event wakes its CronJob when the Job was made,
deleted, or finished."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api import cron
from ..api.errors import APIError, is_namespace_terminating
from ..api.service import WriteOptions, json_copy
from ..clock import Clock
from ..store.store import ADDED, DELETED, Event, Store
from .job import finished
from .replicaset import controller_of, owned
from .runtime import Context, Controller, Key, PermanentError, Requeue, Retry, controller_ref

CRONJOBS, JOBS = v.resource_key(v.CRON_JOB), v.resource_key(v.JOB)
MANAGER = "cronjob-controller"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY = 100
SEARCH_LIMIT = 100_000  # schedule times walked at most in one reconcile (a minutely schedule: ~70 days of downtime)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def due(schedule: cron.Schedule, zone: Any, earliest: datetime, now: datetime) -> tuple[datetime | None, int]:
    """The latest time the schedule fired in (earliest, now], and how many times it fired there (pure)."""
    latest, count = None, 0
    t = schedule.next(earliest.astimezone(zone))
    while t is not None and t <= now and count < SEARCH_LIMIT:
        latest, count = t, count + 1
        t = schedule.next(t)
    return latest, count


def job_from_template(cronjob: dict[str, Any], scheduled: datetime) -> dict[str, Any]:
    """The Job a CronJob makes for `scheduled` (getJobFromTemplate2)."""
    meta, template = cronjob["metadata"], json_copy((cronjob.get("spec") or {}).get("jobTemplate") or {})
    tmeta = template.get("metadata") or {}
    job_meta: dict[str, Any] = {
        "name": f"{meta['name']}-{int(scheduled.timestamp() // 60)}",
        "namespace": meta["namespace"],
        "labels": dict(tmeta.get("labels") or {}),
        "annotations": {**(tmeta.get("annotations") or {}), SCHEDULED: _stamp(scheduled)},
        "ownerReferences": [controller_ref(f"{v.BATCH_GROUP}/{v.CORE_VERSION}", v.CRON_JOB, meta["name"], meta["uid"])],
    }
    if not job_meta["labels"]:
        del job_meta["labels"]
    return {"apiVersion": f"{v.BATCH_GROUP}/{v.CORE_VERSION}", "kind": v.JOB, "metadata": job_meta, "spec": template.get("spec") or {}}


def reference(job: dict[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    return {"apiVersion": f"{v.BATCH_GROUP}/{v.CORE_VERSION}", "kind": v.JOB, "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]}


def _succeeded(job: dict[str, Any]) -> bool:
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in (job.get("status") or {}).get("conditions") or [])


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(CRONJOBS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return None
        cronjob = entry.obj
        spec, status = cronjob.get("spec") or {}, dict(cronjob.get("status") or {})
        jobs = owned(store, JOBS, cronjob, v.CRON_JOB)
        active = [j for j in jobs if not finished(j)]
        completions = [(j.get("status") or {}).get("completionTime") for j in jobs if _succeeded(j)]
        latest_success = max((c for c in completions if c), default=None)
        if latest_success and latest_success != status.get("lastSuccessfulTime"):
            status["lastSuccessfulTime"] = latest_success
            done = next(j for j in jobs if (j.get("status") or {}).get("completionTime") == latest_success)
            ctx.service.record_event(cronjob, "Normal", "SawCompletedJob", f"Saw completed job: {done['metadata']['name']}, condition: Complete", MANAGER)
        now = datetime.fromtimestamp(ctx.clock.time(), UTC)
        zone = zoneinfo.ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else UTC
        try:
            schedule = cron.parse(spec.get("schedule") or "")
        except cron.ScheduleError as error:  # admission refuses one: only a schedule stored before could be
            raise PermanentError("UnparseableSchedule", f"unparseable schedule: {spec.get('schedule')}: {error}") from None
        requeue: float | None = None
        if not spec.get("suspend"):
            last = status.get("lastScheduleTime") or cronjob["metadata"]["creationTimestamp"]
            earliest = datetime.fromtimestamp(Clock.parse(last), UTC)
            deadline = spec.get("startingDeadlineSeconds")
            if isinstance(deadline, int):
                earliest = max(earliest, datetime.fromtimestamp(ctx.clock.time() - deadline, UTC))
            scheduled, missed = due(schedule, zone, earliest, now)
            if missed > TOO_MANY:
                message = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
                ctx.service.record_event(cronjob, "Warning", "TooManyMissedTimes", message, MANAGER)
            if scheduled is not None:
                active = _run(ctx, key, cronjob, active, scheduled)
                status["lastScheduleTime"] = _stamp(scheduled)
            upcoming = schedule.next(now.astimezone(zone))
            if upcoming is not None:
                requeue = max(upcoming.timestamp() - ctx.clock.time(), 0.001)
        _clean_up(ctx, cronjob, jobs, spec)
        status["active"] = [reference(j) for j in active]
        if not status["active"]:
            del status["active"]
        if cronjob.get("status") != status:
            rt = ctx.service.registry.types[CRONJOBS]
            current = ctx.service.find(rt, *key)
            if current is not None:
                ctx.service.update(rt, key[0], key[1], {**current, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
        return Requeue(requeue) if requeue is not None else None

    def job_changed(event: Event) -> list[Key]:
        ref = controller_of(event.entry.obj, v.CRON_JOB)
        if ref is None:
            return []
        if event.type not in (ADDED, DELETED) and event.prev is not None and finished(event.prev.obj) == finished(event.entry.obj):
            return []
        return [(event.entry.namespace, ref["name"])]

    return Controller("cronjob", CRONJOBS, reconcile, {JOBS: job_changed})


def _run(ctx: Context, key: Key, cronjob: dict[str, Any], active: list[dict[str, Any]], scheduled: datetime) -> list[dict[str, Any]]:
    """Make the Job of `scheduled` as concurrencyPolicy allows; the CronJob's active Jobs after."""
    made = job_from_template(cronjob, scheduled)
    name = made["metadata"]["name"]
    if any(j["metadata"]["name"] == name for j in active):
        return active  # made already (this reconcile comes again for the same time)
    policy = (cronjob.get("spec") or {}).get("concurrencyPolicy", "Allow")
    rt = ctx.service.registry.types[JOBS]
    if active and policy == "Forbid":
        ctx.service.record_event(cronjob, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid", MANAGER)
        return active
    if active and policy == "Replace":
        for job in active:
            _delete(ctx, rt, cronjob, job)
        active = []
    try:
        job = ctx.service.create(rt, key[0], made, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
    except APIError as exc:
        if exc.code == 409:  # a Job of that name and time exists: this time has run
            return active
        if not is_namespace_terminating(exc):  # refused at admission (a quota on Jobs)
            ctx.service.record_event(cronjob, "Warning", "FailedCreate", f"Error creating job: {exc.message}", MANAGER)
        raise Retry(exc.message) from exc  # tried again with backoff, as upstream's syncCronJob returns the error
    ctx.service.record_event(cronjob, "Normal", "SuccessfulCreate", f"Created job {name}", MANAGER)
    return [*active, job]


def _delete(ctx: Context, rt: Any, cronjob: dict[str, Any], job: dict[str, Any]) -> None:
    meta = job["metadata"]
    try:
        ctx.service.delete(rt, meta["namespace"], meta["name"], {"propagationPolicy": "Background", "preconditions": {"uid": meta["uid"]}})
    except APIError as exc:
        if exc.code not in (404, 409):
            raise
    else:
        ctx.service.record_event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}", MANAGER)


def _clean_up(ctx: Context, cronjob: dict[str, Any], jobs: list[dict[str, Any]], spec: dict[str, Any]) -> None:
    """Finished Jobs beyond the history limits, oldest first (cleanupFinishedJobs)."""
    rt = ctx.service.registry.types[JOBS]
    for succeeded, limit in ((True, spec.get("successfulJobsHistoryLimit")), (False, spec.get("failedJobsHistoryLimit"))):
        if not isinstance(limit, int):
            continue
        kept = sorted((j for j in jobs if finished(j) and _succeeded(j) == succeeded), key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]))
        for job in kept[: max(0, len(kept) - limit)]:
            _delete(ctx, rt, cronjob, job)
