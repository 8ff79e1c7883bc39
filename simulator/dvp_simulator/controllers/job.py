"""The Job controller (kube-controller-manager's, pkg/controller/job) and the TTL-after-finished controller: a Job
runs pods of its template until enough of them succeed, and reports them in its status.

- Its pods are those naming it as their controller. While it is neither finished nor suspended it keeps
  min(parallelism, completions - succeeded) pods active (with completions unset: parallelism pods until one succeeds),
  made from the template (generateName `<job>-`; the kubelet runs a Job's pod to completion, controllers/kubelet.py).
- It is Complete once `completions` pods succeeded (completions unset: one did and none is active): the conditions
  SuccessCriteriaMet and Complete (`CompletionsReached`), completionTime. It Failed once more pods failed than
  backoffLimit (`BackoffLimitExceeded`) or it ran longer than activeDeadlineSeconds (`DeadlineExceeded`): FailureTarget
  and Failed, its active pods deleted. Suspended (spec.suspend): its active pods deleted, the Suspended condition, no
  startTime; resumed, it starts again.
- Status: startTime, active, ready, succeeded, failed, terminating (0: pods are deleted at once here),
  uncountedTerminatedPods (empty: the tracking finalizer is not modelled), conditions, completionTime; Events
  SuccessfulCreate, SuccessfulDelete, Completed, BackoffLimitExceeded, DeadlineExceeded, Suspended, Resumed.
- ttlSecondsAfterFinished: that long after it finished, the Job is deleted (its pods with it, by the garbage
  collector).

Indexed completion and pod failure policies are not modelled (pods here never fail on their own).

Costs: a reconcile reads the Job's pods (the owner index); a pod's event wakes its Job only when its phase or deletion
changed, or it was created or deleted."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..clock import Clock
from ..store.store import Store
from .replicaset import BURST, create_pod, delete_pods, owned, pod_from_template, pods_of, ready_since
from .runtime import Context, Controller, Key, Requeue, Retry

JOBS, PODS = v.resource_key(v.JOB), v.resource_key(v.POD)
MANAGER = "job-controller"
ENDED = ("Succeeded", "Failed")
REACHED = "Reached expected number of succeeded pods"


def condition(job: dict[str, Any], type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in (job.get("status") or {}).get("conditions") or [])


def finished(job: dict[str, Any]) -> bool:
    return condition(job, "Complete") or condition(job, "Failed")


def wanted_active(spec: dict[str, Any], succeeded: int) -> int:
    """How many pods should run now (pure): min(parallelism, completions - succeeded); completions unset,
    parallelism until one succeeded."""
    parallelism = spec.get("parallelism", 1)
    completions = spec.get("completions")
    if completions is None:
        return parallelism if succeeded == 0 else 0
    return max(0, min(parallelism, completions - succeeded))


def done(spec: dict[str, Any], succeeded: int, active: int) -> bool:
    completions = spec.get("completions")
    return succeeded >= completions if completions is not None else succeeded >= 1 and active == 0


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message}


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        entry = store.get(JOBS, *key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return None
        job = entry.obj
        if finished(job):
            return _expire(ctx, key, job)
        spec, status = job.get("spec") or {}, dict(job.get("status") or {})
        pods = owned(store, PODS, job, v.JOB)
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ENDED and not p["metadata"].get("deletionTimestamp")]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        now, now_stamp = ctx.clock.time(), ctx.clock.stamp()
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Suspended" or spec.get("suspend")]
        requeue: float | None = None
        more = False
        refused: APIError | None = None

        if spec.get("suspend"):
            delete_pods(ctx, job, active, MANAGER)
            active = []
            if not condition(job, "Suspended"):
                conditions.append(_condition("Suspended", "True", "JobSuspended", "Job suspended", now_stamp))
                ctx.service.record_event(job, "Normal", "Suspended", "Job suspended", MANAGER)
            status.pop("startTime", None)
        else:
            if condition(job, "Suspended"):
                conditions.append(_condition("Suspended", "False", "JobResumed", "Job resumed", now_stamp))
                ctx.service.record_event(job, "Normal", "Resumed", "Job resumed", MANAGER)
            status.setdefault("startTime", now_stamp)
            deadline = spec.get("activeDeadlineSeconds")
            past_deadline = isinstance(deadline, int) and now - Clock.parse(status["startTime"]) >= deadline
            if failed > spec.get("backoffLimit", 6) or past_deadline:
                reason, message = ("DeadlineExceeded", "Job was active longer than specified deadline") if past_deadline else (
                    "BackoffLimitExceeded", "Job has reached the specified backoff limit")  # fmt: skip
                delete_pods(ctx, job, active, MANAGER)
                active = []
                conditions += [_condition(t, "True", reason, message, now_stamp) for t in ("FailureTarget", "Failed")]
                ctx.service.record_event(job, "Warning", reason, message, MANAGER)
            elif done(spec, succeeded, len(active)):
                delete_pods(ctx, job, active, MANAGER)  # a Job without completions: the others stop once one succeeded
                active = []
                conditions += [_condition(t, "True", "CompletionsReached", REACHED, now_stamp) for t in ("SuccessCriteriaMet", "Complete")]
                status["completionTime"] = now_stamp
                ctx.service.record_event(job, "Normal", "Completed", "Job completed", MANAGER)
            else:
                missing = wanted_active(spec, succeeded) - len(active)
                more = missing > BURST  # the rest in the next reconciles (upstream's MaxBatchSize)
                for _ in range(min(missing, BURST)):
                    try:
                        active.append(create_pod(ctx, job, pod_from_template(job, v.JOB), MANAGER))
                    except APIError as error:  # FailedCreate recorded; the status below, then the backoff
                        refused, more = error, False
                        break
                if isinstance(deadline, int):
                    requeue = Clock.parse(status["startTime"]) + deadline - now
        status.update(
            active=len(active), ready=sum(1 for p in active if ready_since(p) is not None), succeeded=succeeded, failed=failed,
            terminating=0, uncountedTerminatedPods={}, conditions=conditions,
        )  # fmt: skip
        for field in ("active", "succeeded", "failed"):  # omitempty in Go: a zero count is not shown
            if not status[field]:
                del status[field]
        if not conditions:
            del status["conditions"]
        if job.get("status") != status:
            rt = ctx.service.registry.types[JOBS]
            current = ctx.service.find(rt, *key)
            if current is not None:
                ctx.service.update(rt, key[0], key[1], {**current, "status": status}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
                if finished({"status": status}):
                    return _expire(ctx, key, {**current, "status": status})
        if refused is not None:
            raise Retry(refused.message)
        if more:
            return Requeue(0)
        return Requeue(requeue) if requeue is not None and requeue > 0 else None

    return Controller("job", JOBS, reconcile, {PODS: pods_of(v.JOB)})


def _expire(ctx: Context, key: Key, job: dict[str, Any]) -> Requeue | None:
    """The TTL-after-finished controller: a finished Job with ttlSecondsAfterFinished is deleted that long after it
    finished (background: its pods follow through the garbage collector)."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if not isinstance(ttl, int):
        return None
    ended = [c.get("lastTransitionTime") for c in (job.get("status") or {}).get("conditions") or [] if c.get("type") in ("Complete", "Failed")]
    left = Clock.parse(ended[0]) + ttl - ctx.clock.time() if ended and ended[0] else 0
    if left > 0:
        return Requeue(left)
    try:
        ctx.service.delete(ctx.service.registry.types[JOBS], key[0], key[1], {"propagationPolicy": "Background", "preconditions": {"uid": job["metadata"]["uid"]}})
    except APIError as exc:
        if exc.code not in (404, 409):
            raise
    return None
