"""kube-apiserver's defaults and validation of Deployments, ReplicaSets (apps/v1), Jobs and CronJobs (batch/v1), as
admission hooks. Upstream:
pkg/apis/apps/v1/defaults.go (SetDefaults_Deployment, SetDefaults_ReplicaSet), pkg/apis/apps/validation/validation.go
(ValidateDeploymentSpec, ValidateDeploymentStrategy, ValidateRollingUpdateDeployment, ValidateReplicaSetSpec,
ValidatePodTemplateSpecForReplicaSet) and pkg/apis/core/v1/defaults.go for the template's pod spec.

- Defaults: replicas 1; a Deployment's strategy RollingUpdate with maxUnavailable and maxSurge 25%,
  revisionHistoryLimit 10 and progressDeadlineSeconds 600; the template's pod spec as SetDefaults_PodSpec has it (pod_defaults.py),
  without what only a Pod gets (enableServiceLinks, requests from limits, the admission plugins' tolerations).
- Validation: replicas, minReadySeconds and revisionHistoryLimit not negative; a selector, not empty, valid, matching
  the template's labels; the template's pod spec (api/pod_spec.py; restartPolicy Always only, no
  activeDeadlineSeconds); a strategy's type and its rolling update (int or percentage, not both 0, maxUnavailable at
  most 100%); progressDeadlineSeconds greater than minReadySeconds; on update, the selector never changes (apps/v1).
- Jobs (pkg/apis/batch/v1/defaults.go SetDefaults_Job, pkg/registry/batch/job/strategy.go generateSelector,
  pkg/apis/batch/validation ValidateJob): completions and parallelism 1 when neither is given, backoffLimit 6,
  NonIndexed, not suspended; on create a selector of the Job's uid, the template labelled with its name and uid;
  counts not negative, the template's restartPolicy OnFailure or Never; on update completions, completionMode, the
  template and the selector never change.
- DaemonSets (SetDefaults_DaemonSet, ValidateDaemonSetSpec): a RollingUpdate of maxUnavailable 1, maxSurge 0; the
  selector and template as a ReplicaSet's, the strategy's bounds; the template generation annotation kept by the server.
- StatefulSets (SetDefaults_StatefulSet, ValidateStatefulSetSpec): OrderedReady, a RollingUpdate from partition 0,
  claims retained; the selector and template as a ReplicaSet's, the partition not negative; on update only replicas,
  ordinals, the template, the update strategy, the claims' retention and minReadySeconds change.
- ControllerRevisions (ValidateControllerRevision, …Update): data required, revision not negative, data immutable.
- CronJobs (SetDefaults_CronJob, ValidateCronJob): concurrencyPolicy Allow, not suspended, 3 successful and 1 failed
  Jobs kept; a name of at most 52 characters, a schedule robfig/cron's standard parser takes (api/cron.py) without a
  TZ= prefix, a known time zone, the job template as a Job's spec (its selector is made with each Job).
- A client's create of these kinds starts with an empty status (their strategies' PrepareForCreate)."""

from __future__ import annotations

import json
import re
import zoneinfo
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from . import cron, pod_defaults
from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, invalid
from .golang import quote
from .objectmeta import label_value_errors, qualified_name_errors
from .pod_spec import pod_spec_causes
from .rbac_validation import label_selector_causes
from .selectors import match_label_selector

DEFAULT_SURGE = DEFAULT_UNAVAILABLE = "25%"
DEFAULT_HISTORY = 10
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
DEFAULT_DEADLINE = 600
RECREATE, ROLLING_UPDATE = "Recreate", "RollingUpdate"
NONNEGATIVE = "must be greater than or equal to 0"
PERCENT = re.compile(r"[0-9]+%")
PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"


def default_template(template: Any) -> None:
    spec = template.get("spec") if isinstance(template, dict) else None
    if isinstance(spec, dict):
        pod_defaults.default_spec(spec, pod=False)


def default_strategy(spec: dict[str, Any], field: str, rolling: dict[str, Any]) -> None:
    """A workload's update strategy: RollingUpdate unless another type is given, with these rollingUpdate defaults."""
    strategy = spec.setdefault(field, {})
    if not isinstance(strategy, dict):
        return
    strategy.setdefault("type", ROLLING_UPDATE)
    if strategy["type"] == ROLLING_UPDATE:
        given = strategy.get("rollingUpdate")
        if given is None:
            given = strategy["rollingUpdate"] = {}
        if isinstance(given, dict):
            for key, value in rolling.items():
                given.setdefault(key, value)


def default_deployment(request: AdmissionRequest) -> None:
    spec = (request.obj or {}).get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    default_strategy(spec, "strategy", {"maxUnavailable": DEFAULT_UNAVAILABLE, "maxSurge": DEFAULT_SURGE})
    spec.setdefault("revisionHistoryLimit", DEFAULT_HISTORY)
    spec.setdefault("progressDeadlineSeconds", DEFAULT_DEADLINE)
    default_template(spec.get("template"))


def default_replicaset(request: AdmissionRequest) -> None:
    spec = (request.obj or {}).get("spec")
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        default_template(spec.get("template"))


def go_value(value: Any) -> str:
    """A field's value as field.Invalid prints it: strings quoted, maps as Go's map[string]string{...}."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict):
        return "map[string]string{" + ", ".join(f"{quote(str(k))}:{quote(str(x))}" for k, x in sorted(value.items())) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _invalid(path: str, value: Any, message: str) -> dict[str, str]:
    return cause(path, f"Invalid value: {go_value(value)}: {message}")


def _nonnegative(spec: dict[str, Any], field: str, path: str) -> list[dict[str, str]]:
    value = spec.get(field)
    return [_invalid(f"{path}.{field}", value, NONNEGATIVE)] if isinstance(value, int) and value < 0 else []


def selector_text(selector: dict[str, Any]) -> str:
    """A LabelSelector as field.Invalid prints the Go struct (%#v of *metav1.LabelSelector)."""
    labels = selector.get("matchLabels")
    shown = "map[string]string(nil)" if not labels else go_value(labels)
    exprs = selector.get("matchExpressions")
    listed = "[]v1.LabelSelectorRequirement(nil)" if not exprs else f"[]v1.LabelSelectorRequirement{{...{len(exprs)} requirements}}"
    return f"&v1.LabelSelector{{MatchLabels:{shown}, MatchExpressions:{listed}}}"


def _template_meta_causes(meta: dict[str, Any], path: str) -> list[dict[str, str]]:
    """The template's labels: qualified names as keys, label values (ValidateTemplateObjectMeta)."""
    out = []
    for key, value in (meta.get("labels") or {}).items():
        out += [_invalid(f"{path}.labels", key, m) for m in qualified_name_errors(key)]
        out += [_invalid(f"{path}.labels", value, m) for m in label_value_errors(value if isinstance(value, str) else "")]
    return out


def template_causes(spec: dict[str, Any], kind: str = "deployment") -> list[dict[str, str]]:
    """The selector and the pod template of a Deployment's, ReplicaSet's, DaemonSet's or StatefulSet's spec
    (ValidatePodTemplateSpecForReplicaSet; upstream says "deployment" of a ReplicaSet's empty selector too)."""
    causes: list[dict[str, str]] = []
    selector = spec.get("selector")
    if selector is None:
        causes.append(cause("spec.selector", "Required value", "FieldValueRequired"))
    else:
        causes += label_selector_causes(selector, "spec.selector")
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(cause("spec.selector", f"Invalid value: {selector_text(selector)}: empty selector is invalid for {kind}"))
    template = spec.get("template")
    if template is None:
        return causes + [cause("spec.template", "Required value", "FieldValueRequired")]
    meta = template.get("metadata") or {}
    labels = meta.get("labels") or {}
    if selector and (selector.get("matchLabels") or selector.get("matchExpressions")) and not match_label_selector(selector, labels):
        causes.append(_invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    causes += _template_meta_causes(meta, "spec.template.metadata")
    pod = template.get("spec") or {}
    claims = frozenset(((c or {}).get("metadata") or {}).get("name") for c in spec.get("volumeClaimTemplates") or [] if isinstance(c, dict))
    causes += pod_spec_causes(pod, "spec.template.spec", frozenset(n for n in claims if isinstance(n, str)))
    policy = pod.get("restartPolicy")
    if policy is not None and policy != "Always":
        causes.append(cause("spec.template.spec.restartPolicy", f'Unsupported value: {quote(policy)}: supported values: "Always"', "FieldValueNotSupported"))
    if pod.get("activeDeadlineSeconds") is not None:
        causes.append(cause("spec.template.spec.activeDeadlineSeconds", "Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported", "FieldValueForbidden"))
    return causes


def _int_or_percent(value: Any, path: str) -> list[dict[str, str]]:
    """ValidatePositiveIntOrPercent."""
    if isinstance(value, str):
        return [] if PERCENT.fullmatch(value) else [_invalid(path, value, PERCENT_MSG)]
    if isinstance(value, int) and value < 0:
        return [_invalid(path, value, NONNEGATIVE)]
    return []


def _amount(value: Any) -> int:
    """getIntOrPercentValue: the integer, or the percentage's number."""
    if isinstance(value, str):
        return int(value[:-1]) if PERCENT.fullmatch(value) else 0
    return value if isinstance(value, int) else 0


def strategy_causes(strategy: dict[str, Any]) -> list[dict[str, str]]:
    """ValidateDeploymentStrategy and ValidateRollingUpdateDeployment."""
    kind, rolling, path = strategy.get("type"), strategy.get("rollingUpdate"), "spec.strategy"
    if kind == RECREATE:
        if rolling is not None:
            return [cause(f"{path}.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'", "FieldValueForbidden")]
        return []
    if kind != ROLLING_UPDATE:
        return [cause(f"{path}.type", f'Unsupported value: {quote(str(kind))}: supported values: "Recreate", "RollingUpdate"', "FieldValueNotSupported")]
    rolling = rolling or {}
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    causes = _int_or_percent(unavailable, f"{path}.rollingUpdate.maxUnavailable") + _int_or_percent(surge, f"{path}.rollingUpdate.maxSurge")
    if _amount(unavailable) == 0 and _amount(surge) == 0:
        causes.append(_invalid(f"{path}.rollingUpdate.maxUnavailable", unavailable if unavailable is not None else 0, "may not be 0 when `maxSurge` is 0"))
    if isinstance(unavailable, str) and PERCENT.fullmatch(unavailable) and _amount(unavailable) > 100:
        causes.append(_invalid(f"{path}.rollingUpdate.maxUnavailable", unavailable, "must not be greater than 100%"))
    return causes


def _selector_update(obj: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, str]]:
    if old is None:
        return []
    new_selector, old_selector = (obj.get("spec") or {}).get("selector"), (old.get("spec") or {}).get("selector")
    if new_selector == old_selector:
        return []
    return [cause("spec.selector", f"Invalid value: {selector_text(new_selector or {})}: field is immutable")]


def validate_deployment(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    spec = obj.get("spec") or {}
    causes = _nonnegative(spec, "replicas", "spec") + template_causes(spec)
    causes += strategy_causes(spec.get("strategy") or {})
    causes += _nonnegative(spec, "minReadySeconds", "spec") + _nonnegative(spec, "revisionHistoryLimit", "spec")
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int):
        causes += _nonnegative(spec, "progressDeadlineSeconds", "spec")
        if deadline <= (spec.get("minReadySeconds") or 0):
            causes.append(_invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    causes += _selector_update(obj, request.old)
    if causes:
        raise invalid(v.APPS_GROUP, v.DEPLOYMENT, obj["metadata"]["name"], causes)


def validate_replicaset(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    spec = obj.get("spec") or {}
    causes = _nonnegative(spec, "replicas", "spec") + _nonnegative(spec, "minReadySeconds", "spec") + template_causes(spec)
    causes += _selector_update(obj, request.old)
    if causes:
        raise invalid(v.APPS_GROUP, v.REPLICA_SET, obj["metadata"]["name"], causes)


# -- DaemonSets ---------------------------------------------------------------------------------------------------------
def default_daemonset(request: AdmissionRequest) -> None:
    """SetDefaults_DaemonSet: a RollingUpdate of one pod at a time (maxUnavailable 1, maxSurge 0), 10 revisions kept,
    the template's pod spec as any template's."""
    spec = (request.obj or {}).get("spec")
    if not isinstance(spec, dict):
        return
    default_strategy(spec, "updateStrategy", {"maxUnavailable": 1, "maxSurge": 0})
    spec.setdefault("revisionHistoryLimit", DEFAULT_HISTORY)
    default_template(spec.get("template"))
    meta = request.obj["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), TEMPLATE_GENERATION: str(template_generation(spec, request.old))}


def template_generation(spec: dict[str, Any], old: dict[str, Any] | None) -> int:
    """The DaemonSet's template generation (spec.templateGeneration of the internal type, which apps/v1 shows as the
    `deprecated.daemonset.template.generation` annotation: the server's, whatever a client writes there): 1 on create,
    one more on each update that changes the template (the registry's PrepareForUpdate)."""
    if old is None:
        return 1
    try:
        before = int((old["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION, "1"))
    except ValueError:
        before = 1
    return before + 1 if (old.get("spec") or {}).get("template") != spec.get("template") else before


def validate_daemonset(request: AdmissionRequest) -> None:
    """ValidateDaemonSetSpec: the selector and template as a ReplicaSet's (restartPolicy Always, no
    activeDeadlineSeconds), the update strategy, counts not negative; on update the selector never changes."""
    obj = request.obj or {}
    spec = obj.get("spec") or {}
    causes = [c if "activeDeadlineSeconds" not in c["field"] else cause(c["field"], "Forbidden: activeDeadlineSeconds in DaemonSet is not Supported", "FieldValueForbidden")
              for c in template_causes(spec, "daemonset")]  # fmt: skip
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type")
    if kind == ROLLING_UPDATE:
        rolling = strategy.get("rollingUpdate") or {}
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        path = "spec.updateStrategy.rollingUpdate"
        causes += _int_or_percent(unavailable, f"{path}.maxUnavailable") + _int_or_percent(surge, f"{path}.maxSurge")
        if _amount(unavailable) == 0 and _amount(surge) == 0:
            causes.append(_invalid(f"{path}.maxUnavailable", unavailable if unavailable is not None else 0, "cannot be 0 when maxSurge is 0"))
    elif kind != "OnDelete":
        causes.append(cause("spec.updateStrategy.type", f'Unsupported value: {quote(str(kind))}: supported values: "RollingUpdate", "OnDelete"', "FieldValueNotSupported"))
    causes += _nonnegative(spec, "minReadySeconds", "spec") + _nonnegative(spec, "revisionHistoryLimit", "spec")
    causes += _selector_update(obj, request.old)
    if causes:
        raise invalid(v.APPS_GROUP, v.DAEMON_SET, obj["metadata"]["name"], causes)


# -- ControllerRevisions ------------------------------------------------------------------------------------------------
def validate_controller_revision(request: AdmissionRequest) -> None:
    """ValidateControllerRevision(Update): data given, revision not negative; on update data never changes (a
    revision's number may: the controllers renumber the revision a rollback returns to)."""
    obj = request.obj or {}
    causes = []
    if obj.get("data") is None:
        causes.append(cause("data", "Required value: data is mandatory", "FieldValueRequired"))
    revision = obj.get("revision")
    if isinstance(revision, int) and revision < 0:
        causes.append(_invalid("revision", revision, NONNEGATIVE))
    old = request.old if request.operation == UPDATE else None
    if old is not None and obj.get("data") != old.get("data"):
        shown = json.dumps(obj.get("data"), separators=(",", ":"))
        causes.append(cause("data", f"Invalid value: {shown}: field is immutable"))
    if causes:
        raise invalid(v.APPS_GROUP, v.CONTROLLER_REVISION, obj["metadata"]["name"], causes)


# -- StatefulSets -------------------------------------------------------------------------------------------------------
STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
STS_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


def default_statefulset(request: AdmissionRequest) -> None:
    """SetDefaults_StatefulSet: one replica, OrderedReady, a RollingUpdate from partition 0, 10 revisions kept, claims
    retained; the claim templates as a claim's (Filesystem, Pending) and the pod template as any template's."""
    spec = (request.obj or {}).get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    default_strategy(spec, "updateStrategy", {"partition": 0})
    spec.setdefault("revisionHistoryLimit", DEFAULT_HISTORY)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    if isinstance(retention, dict):
        retention.setdefault("whenDeleted", "Retain")
        retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            if isinstance(claim.get("spec"), dict):
                claim["spec"].setdefault("volumeMode", "Filesystem")
            claim.setdefault("apiVersion", v.CORE_VERSION)
            claim.setdefault("kind", v.PERSISTENT_VOLUME_CLAIM)
            claim["status"] = {"phase": v.PENDING}
    default_template(spec.get("template"))


def validate_statefulset(request: AdmissionRequest) -> None:
    """ValidateStatefulSetSpec: the selector and template as a ReplicaSet's (no activeDeadlineSeconds), the update
    strategy and its partition, counts not negative, a claim template named; on update only the fields STS_MUTABLE
    change."""
    obj = request.obj or {}
    spec = obj.get("spec") or {}
    causes = [c if "activeDeadlineSeconds" not in c["field"] else cause(c["field"], "Forbidden: activeDeadlineSeconds in StatefulSet is not Supported", "FieldValueForbidden")
              for c in template_causes(spec, "statefulset")]  # fmt: skip
    causes += _nonnegative(spec, "replicas", "spec") + _nonnegative(spec, "minReadySeconds", "spec")
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == ROLLING_UPDATE:
        causes += _nonnegative(strategy.get("rollingUpdate") or {}, "partition", "spec.updateStrategy.rollingUpdate")
    elif strategy.get("rollingUpdate") is not None:
        causes.append(cause("spec.updateStrategy.rollingUpdate", "Invalid value: \"{...}\": only allowed for updateStrategy 'RollingUpdate'"))
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        if not ((claim or {}).get("metadata") or {}).get("name"):
            causes.append(cause(f"spec.volumeClaimTemplates[{i}].metadata.name", "Required value: name or generateName is required", "FieldValueRequired"))
    old = request.old
    if old is not None:
        old_spec = old.get("spec") or {}
        keys = (set(spec) | set(old_spec)) - set(STS_MUTABLE)
        if any(spec.get(k) != old_spec.get(k) for k in keys):
            causes.append(cause("spec", f"Forbidden: {STS_FORBIDDEN}", "FieldValueForbidden"))
    if causes:
        raise invalid(v.APPS_GROUP, v.STATEFUL_SET, obj["metadata"]["name"], causes)


# -- Jobs ---------------------------------------------------------------------------------------------------------------
JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
DEFAULT_BACKOFF = 6


def default_job(request: AdmissionRequest) -> None:
    """SetDefaults_Job, and on create the job strategy's PrepareForCreate: an empty status, and unless manualSelector
    the selector generated from the Job's uid, its name and uid labelled on the template (generateSelector)."""
    obj = request.obj or {}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", DEFAULT_BACKOFF)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.get("template")
    default_template(template)
    if request.operation != CREATE or not isinstance(template, dict):
        return
    meta = obj["metadata"]
    tmeta = template.setdefault("metadata", {})
    if isinstance(tmeta, dict) and not spec.get("manualSelector"):
        labels = tmeta.setdefault("labels", {})
        if isinstance(labels, dict):
            labels.update({**dict.fromkeys(JOB_NAME_LABELS, meta["name"]), **dict.fromkeys(CONTROLLER_UID_LABELS, meta["uid"])})
        selector = spec.get("selector")
        if selector is None:
            selector = spec["selector"] = {}
        if isinstance(selector, dict):
            selector.setdefault("matchLabels", {})
            if isinstance(selector["matchLabels"], dict):
                selector["matchLabels"].setdefault(CONTROLLER_UID_LABELS[1], meta["uid"])
    if isinstance(tmeta, dict) and tmeta.get("labels") and not meta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if request.user is not None:
        obj["status"] = {}


def job_spec_causes(spec: dict[str, Any], path: str = "spec", job: bool = True) -> list[dict[str, str]]:
    """ValidateJobSpec's rules for a Job's spec (a CronJob's job template's: `job` False, `path` its own, and no
    selector yet): counts not negative, Indexed with completions, a selector matching the template, the template's pod
    spec with restartPolicy OnFailure or Never."""
    causes: list[dict[str, str]] = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        causes += _nonnegative(spec, field, path)
    if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
        causes.append(cause(f"{path}.completions", "Required value: when completion mode is Indexed", "FieldValueRequired"))
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None and job:
        causes.append(cause(f"{path}.selector", "Required value", "FieldValueRequired"))
    elif selector is not None:
        causes += label_selector_causes(selector, f"{path}.selector")
    if template is None:
        return causes + [cause(f"{path}.template", "Required value", "FieldValueRequired")]
    meta = template.get("metadata") or {}
    labels = meta.get("labels") or {}
    if selector and not match_label_selector(selector, labels):
        causes.append(_invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    causes += _template_meta_causes(meta, f"{path}.template.metadata")
    pod = template.get("spec") or {}
    causes += pod_spec_causes(pod, f"{path}.template.spec")
    policy = pod.get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        shown = quote(policy) if isinstance(policy, str) else '""'
        causes.append(cause(f"{path}.template.spec.restartPolicy", f'Unsupported value: {shown}: supported values: "OnFailure", "Never"', "FieldValueNotSupported"))
    return causes


def validate_job(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    spec = obj.get("spec") or {}
    causes = job_spec_causes(spec)
    old = request.old
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("completions", "completionMode", "template"):
            if spec.get(field) != old_spec.get(field):
                shown = go_value(spec.get(field)) if field != "template" else "core.PodTemplateSpec{...}"
                causes.append(cause(f"spec.{field}", f"Invalid value: {shown}: field is immutable"))
        causes += _selector_update(obj, old)
    if causes:
        raise invalid(v.BATCH_GROUP, v.JOB, obj["metadata"]["name"], causes)


# -- CronJobs -----------------------------------------------------------------------------------------------------------
CRON_JOB_NAME_MAX = 52  # a Job's name is the CronJob's and 11 characters of schedule time; a pod's 63 - 11 of its own
TZ_IN_SCHEDULE = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"


def default_cronjob(request: AdmissionRequest) -> None:
    """SetDefaults_CronJob, the job template's pod spec as any template's, and a client's create an empty status."""
    obj = request.obj or {}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job = spec.get("jobTemplate")
    if isinstance(job, dict) and isinstance(job.get("spec"), dict):
        default_template(job["spec"].get("template"))
    if request.user is not None and request.operation == CREATE:
        obj["status"] = {}


def time_zone_error(name: str) -> str | None:
    """validateTimeZone: an explicit IANA zone the zone database knows."""
    if name.lower() == "local":
        return "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name}"
    return None


def validate_cronjob(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    spec = obj.get("spec") or {}
    name = obj["metadata"]["name"]
    causes: list[dict[str, str]] = []
    if len(name) > CRON_JOB_NAME_MAX:
        causes.append(_invalid("metadata.name", name, f"must be no more than {CRON_JOB_NAME_MAX} characters"))
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(cause("spec.schedule", "Required value", "FieldValueRequired"))
    else:
        try:
            cron.parse(schedule)
        except cron.ScheduleError as error:
            causes.append(_invalid("spec.schedule", schedule, str(error)))
        if "TZ" in schedule:
            causes.append(_invalid("spec.schedule", schedule, TZ_IN_SCHEDULE))
    zone = spec.get("timeZone")
    if isinstance(zone, str):
        why = time_zone_error(zone)
        if why:
            causes.append(_invalid("spec.timeZone", zone, why))
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += _nonnegative(spec, field, "spec")
    causes += job_spec_causes((spec.get("jobTemplate") or {}).get("spec") or {}, "spec.jobTemplate.spec", job=False)
    if causes:
        raise invalid(v.BATCH_GROUP, v.CRON_JOB, name, causes)


def empty_status(request: AdmissionRequest) -> None:
    """A client's create starts with an empty status (each kind's PrepareForCreate): an Ingress's is its empty load
    balancer, the others' nothing."""
    if request.user is not None and isinstance(request.obj, dict):
        request.obj["status"] = {"loadBalancer": {}} if request.rt is not None and request.rt.kind == "Ingress" else {}


def register(admission: Admission) -> None:
    admission.mutate(v.APPS_GROUP, v.DEPLOYMENT, operations=(CREATE, UPDATE))(default_deployment)
    admission.mutate(v.APPS_GROUP, v.REPLICA_SET, operations=(CREATE, UPDATE))(default_replicaset)
    admission.validate(v.APPS_GROUP, v.DEPLOYMENT, operations=(CREATE, UPDATE))(validate_deployment)
    admission.validate(v.APPS_GROUP, v.REPLICA_SET, operations=(CREATE, UPDATE))(validate_replicaset)
    admission.mutate(v.APPS_GROUP, v.STATEFUL_SET, operations=(CREATE, UPDATE))(default_statefulset)
    admission.validate(v.APPS_GROUP, v.STATEFUL_SET, operations=(CREATE, UPDATE))(validate_statefulset)
    admission.mutate(v.APPS_GROUP, v.DAEMON_SET, operations=(CREATE, UPDATE))(default_daemonset)
    admission.validate(v.APPS_GROUP, v.DAEMON_SET, operations=(CREATE, UPDATE))(validate_daemonset)
    admission.validate(v.APPS_GROUP, v.CONTROLLER_REVISION, operations=(CREATE, UPDATE))(validate_controller_revision)
    admission.mutate(v.BATCH_GROUP, v.JOB, operations=(CREATE, UPDATE))(default_job)
    admission.validate(v.BATCH_GROUP, v.JOB, operations=(CREATE, UPDATE))(validate_job)
    admission.mutate(v.BATCH_GROUP, v.CRON_JOB, operations=(CREATE, UPDATE))(default_cronjob)
    admission.validate(v.BATCH_GROUP, v.CRON_JOB, operations=(CREATE, UPDATE))(validate_cronjob)
    for group, kind in ((v.APPS_GROUP, v.DEPLOYMENT), (v.APPS_GROUP, v.REPLICA_SET), (v.APPS_GROUP, v.DAEMON_SET), (v.APPS_GROUP, v.STATEFUL_SET), ("networking.k8s.io", "Ingress")):
        admission.mutate(group, kind, operations=(CREATE,))(empty_status)
