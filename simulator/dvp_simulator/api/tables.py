"""`kubectl get` tables (meta.k8s.io/v1 Table): CRD printer columns evaluated with their JSONPath, built-in kinds
with the columns kube-apiserver prints for them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils.vocabulary import (
    COND_NODE_READY,
    CONFIG_MAP,
    CONTROLLER_REVISION,
    CRON_JOB,
    CUSTOM_RESOURCE_DEFINITION,
    DAEMON_SET,
    DEFAULT_STORAGE_CLASS_ANNOTATION,
    DEPLOYMENT,
    EVENT,
    EVENTS_GROUP,
    JOB,
    LEASE,
    MUTATING_WEBHOOK_CONFIGURATION,
    NAMESPACE,
    NODE,
    NODE_ROLE_LABEL_PREFIX,
    PERSISTENT_VOLUME,
    PERSISTENT_VOLUME_CLAIM,
    POD,
    POD_DISRUPTION_BUDGET,
    PRIORITY_CLASS,
    REPLICA_SET,
    SECRET,
    SERVICE,
    STATEFUL_SET,
    STORAGE_CLASS,
    VALIDATING_WEBHOOK_CONFIGURATION,
    resource_key,
)

from ..clock import Clock
from ..resources import ResourceType
from .rbac import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES
from .selectors import format_label_selector

Row = Callable[[dict[str, Any], float], list[Any]]


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery duration.HumanDuration."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if d % 365 and y < 8 else f"{y}y"


def age(obj: dict[str, Any], now: float) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    return human_duration(now - Clock.parse(stamp)) if stamp else "<unknown>"


_SEGMENT = re.compile(r"\.([A-Za-z0-9_\-]+)|\[\?\(@\.([A-Za-z0-9_.]+)\s*==\s*['\"]?([^'\")]+)['\"]?\)\]|\[(\d+|\*)\]|\['([^']+)'\]")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The JSONPath subset CRD printer columns use: .a.b, ['x.y'], [0], [*], [?(@.k=="v")]."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    values = [obj]
    pos = 0
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m:
            return []
        pos = m.end()
        field, fkey, fval, index, quoted = m.groups()
        out = []
        for v in values:
            if field is not None or quoted is not None:
                key = field if field is not None else quoted
                if isinstance(v, dict) and key in v:
                    out.append(v[key])
            elif index is not None:
                if isinstance(v, list):
                    out.extend(v if index == "*" else v[int(index) : int(index) + 1])
            elif fkey is not None and isinstance(v, list):
                for item in v:
                    cur: Any = item
                    for part in fkey.split("."):
                        cur = cur.get(part) if isinstance(cur, dict) else None
                    if str(cur).lower() == fval.lower() if isinstance(cur, bool) else cur == fval:
                        out.append(item)
        values = out
    return values


def cell(values: list[Any], column_type: str, now: float) -> Any:
    if not values:
        return None
    if column_type == "date":
        value = values[0]
        return human_duration(now - Clock.parse(value)) if isinstance(value, str) and value else None
    if len(values) > 1:
        return ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    return values[0]


def _node_status(o: dict[str, Any]) -> str:
    ready = next((c for c in o.get("status", {}).get("conditions", []) if c.get("type") == COND_NODE_READY), None)
    # as kubectl's node printer: a Ready condition that is not True (False or Unknown) reads NotReady; none at all, Unknown
    status = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if o.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _roles(o: dict[str, Any]) -> str:
    roles = sorted(k.split("/", 1)[1] for k in o["metadata"].get("labels", {}) if k.startswith(NODE_ROLE_LABEL_PREFIX))
    return ",".join(r for r in roles if r) or "<none>"


def _address(o: dict[str, Any], kind: str) -> str:
    return next((a["address"] for a in o.get("status", {}).get("addresses", []) if a.get("type") == kind), "<none>")


def _pod_ready(o: dict[str, Any]) -> str:
    statuses = o.get("status", {}).get("containerStatuses", [])
    total = len(o.get("spec", {}).get("containers", []))
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(o: dict[str, Any]) -> str:
    """printPod's STATUS: Terminating; else a container's waiting or terminated reason (the last container's that has
    one: `Completed`, `Error`, `ContainerCreating`), but Running while another container still runs; else the pod's
    reason or phase."""
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = o.get("status", {})
    reason = status.get("reason") or status.get("phase", "Pending")
    running = False
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated") is not None:
            done = state["terminated"]
            reason = done.get("reason") or (f"Signal:{done['signal']}" if done.get("signal") else f"ExitCode:{done.get('exitCode', 0)}")
        elif container.get("ready") and state.get("running") is not None:
            running = True
    if reason == "Completed" and running:
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        reason = "Running" if ready else "NotReady"
    return reason


def _restarts(o: dict[str, Any], now: float) -> str:
    """printPod's RESTARTS: the containers' restart count, and how long ago the last one ended (`3 (5m ago)`)."""
    statuses = o.get("status", {}).get("containerStatuses", [])
    count = sum(int(s.get("restartCount", 0)) for s in statuses)
    ended = [((s.get("lastState") or {}).get("terminated") or {}).get("finishedAt") for s in statuses]
    last = max((Clock.parse(t) for t in ended if t), default=None)
    return f"{count} ({human_duration(now - last)} ago)" if count and last is not None else str(count)


def _pod_ip(o: dict[str, Any]) -> str:
    status = o.get("status", {})
    ips = status.get("podIPs") or []
    return (ips[0].get("ip") if ips else "") or status.get("podIP") or "<none>"


def _readiness_gates(o: dict[str, Any]) -> str:
    """printPod's READINESS GATES: how many of the pod's readiness gates have their condition True (`1/2`)."""
    gates = o.get("spec", {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in o.get("status", {}).get("conditions") or []}
    return f"{sum(1 for g in gates if conditions.get(g.get('conditionType')) == 'True')}/{len(gates)}"


def _pod_row(o: dict[str, Any], now: float) -> list[Any]:
    return [
        o["metadata"]["name"], _pod_ready(o), _pod_status(o), _restarts(o, now), age(o, now),
        _pod_ip(o), o.get("spec", {}).get("nodeName") or "<none>", o.get("status", {}).get("nominatedNodeName") or "<none>", _readiness_gates(o),
    ]  # fmt: skip


def _since(stamp: Any, now: float) -> str:
    """translateTimestampSince: `<unknown>` for no time."""
    return human_duration(now - Clock.parse(stamp)) if stamp else "<unknown>"


def _event_row(o: dict[str, Any], now: float) -> list[Any]:
    """printEvent over a core/v1 Event (events.k8s.io/v1 ones go through _as_core_event): last seen, type, reason, object,
    subobject, source, message, first seen, count, name."""
    first = _since(o.get("firstTimestamp") or o.get("eventTime"), now)
    last = _since(o["lastTimestamp"], now) if o.get("lastTimestamp") else first
    series = o.get("series")
    count = o.get("count") or 1  # a singleton event of the new API has no count
    if series:
        last, count = _since(series.get("lastObservedTime"), now), series.get("count") or count
    involved = o.get("involvedObject") or {}
    target = f"{involved.get('kind', '').lower()}/{involved['name']}" if involved.get("name") else involved.get("kind", "").lower()
    source = o.get("source") or {}
    component = source.get("component") or o.get("reportingComponent") or ""
    instance = source.get("host") or o.get("reportingInstance") or ""
    return [
        last, o.get("type", ""), o.get("reason", ""), target, involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component, (o.get("message") or "").strip(), first, int(count), o["metadata"]["name"],
    ]  # fmt: skip


def _as_core_event(o: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event with the core/v1 field names (the API server prints both from its internal Event)."""
    return {
        "metadata": o["metadata"], "involvedObject": o.get("regarding") or {}, "reason": o.get("reason"), "message": o.get("note"),
        "source": o.get("deprecatedSource") or {}, "firstTimestamp": o.get("deprecatedFirstTimestamp"),
        "lastTimestamp": o.get("deprecatedLastTimestamp"), "count": o.get("deprecatedCount"), "type": o.get("type"),
        "eventTime": o.get("eventTime"), "series": o.get("series"), "reportingComponent": o.get("reportingController"),
        "reportingInstance": o.get("reportingInstance"),
    }  # fmt: skip


def _binding_row(o: dict[str, Any], now: float) -> list[Any]:
    """printRoleBinding / printClusterRoleBinding: the role as `Kind/name`, then (wide) users, groups and service
    accounts (`namespace/name`), each joined with ", " (rbac.SubjectsStrings)."""
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []
    users = [s.get("name", "") for s in subjects if s.get("kind") == "User"]
    groups = [s.get("name", "") for s in subjects if s.get("kind") == "Group"]
    accounts = [f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects if s.get("kind") == "ServiceAccount"]
    return [o["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}", age(o, now), ", ".join(users), ", ".join(groups), ", ".join(accounts)]


def _created_at(o: dict[str, Any], now: float) -> list[Any]:
    """The API server's default table (rest.NewDefaultTableConvertor): the name and the creation time as RFC 3339."""
    return [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")]


ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _access_modes(modes: list[str] | None) -> str:
    return ",".join(ACCESS_MODES.get(m, m) for m in modes or [])


def _service_ports(o: dict[str, Any]) -> str:
    ports = [
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort") else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        for p in o.get("spec", {}).get("ports") or []
    ]
    return ",".join(ports) or "<none>"


def _external_ip(o: dict[str, Any]) -> str:
    spec = o.get("spec", {})
    if spec.get("type") == "ExternalName":
        return spec.get("externalName") or "<none>"
    ingress = [i.get("ip") or i.get("hostname") for i in o.get("status", {}).get("loadBalancer", {}).get("ingress") or []]
    addresses = list(spec.get("externalIPs") or []) + [a for a in ingress if a]
    if addresses:
        return ",".join(addresses)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _selector(selector: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items())) or "<none>"


def _label_selector(selector: dict[str, Any] | None) -> str:
    return format_label_selector(selector) or "<none>"


def _daemonset_row(o: dict[str, Any], now: float) -> list[Any]:
    status, pod = o.get("status") or {}, ((o.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    return [
        o["metadata"]["name"], status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0), _selector(pod.get("nodeSelector")), age(o, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers), _label_selector((o.get("spec") or {}).get("selector")),
    ]  # fmt: skip


def _deployment_row(o: dict[str, Any], now: float) -> list[Any]:
    status, spec = o.get("status") or {}, o.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        o["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0), age(o, now), ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers), _label_selector(spec.get("selector")),
    ]  # fmt: skip


def _ingress_row(o: dict[str, Any], now: float) -> list[Any]:
    """printIngress: the class (`<none>`), the rules' hosts (`*` for a rule without one), the load balancer's
    addresses, ports 80 (and 443 with TLS)."""
    spec = o.get("spec") or {}
    hosts = ",".join(rule.get("host") or "*" for rule in spec.get("rules") or []) or "*"
    balancers = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(b.get("ip") or b.get("hostname") or "" for b in balancers)
    return [o["metadata"]["name"], spec.get("ingressClassName") or "<none>", hosts, address, "80, 443" if spec.get("tls") else "80", age(o, now)]


def _job_row(o: dict[str, Any], now: float) -> list[Any]:
    """printJob: its state (Complete, Failed, Terminating, Suspended, FailureTarget, SuccessCriteriaMet, Running),
    succeeded of completions, how long it ran (until completion, or until now)."""
    spec, status = o.get("spec") or {}, o.get("status") or {}
    held = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = next((s for s in ("Complete", "Failed") if s in held), None)
    if state is None:
        state = "Terminating" if o["metadata"].get("deletionTimestamp") else next((s for s in ("Suspended", "FailureTarget", "SuccessCriteriaMet") if s in held), "Running")
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 1) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, ended = status.get("startTime"), status.get("completionTime")
    took = human_duration((Clock.parse(ended) if ended else now) - Clock.parse(started)) if started else ""
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        o["metadata"]["name"], state, completions, took, age(o, now), ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers), _label_selector(spec.get("selector")),
    ]  # fmt: skip


def _cronjob_row(o: dict[str, Any], now: float) -> list[Any]:
    """printCronJob: the schedule, the time zone (`<none>`), suspended, how many Jobs run, the last schedule's age."""
    spec, status = o.get("spec") or {}, o.get("status") or {}
    suspend = spec.get("suspend")
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    containers = ((job.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        o["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or "<none>", "<unset>" if suspend is None else str(bool(suspend)),
        len(status.get("active") or []), _since(status.get("lastScheduleTime"), now) if status.get("lastScheduleTime") else "<none>", age(o, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers), _label_selector(job.get("selector")),
    ]  # fmt: skip


def _statefulset_row(o: dict[str, Any], now: float) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        o["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", age(o, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
    ]  # fmt: skip


def _replicaset_row(o: dict[str, Any], now: float) -> list[Any]:
    status, spec = o.get("status") or {}, o.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        o["metadata"]["name"], spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0), age(o, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers), _label_selector(spec.get("selector")),
    ]  # fmt: skip


def _controller_revision_row(o: dict[str, Any], now: float) -> list[Any]:
    """printControllerRevision: its controller as `<kind>.<group>/<name>` in lower case (`<none>` without one)."""
    ref = next((r for r in o["metadata"].get("ownerReferences") or () if r.get("controller")), None)
    controller = "<none>"
    if ref is not None:
        group = (ref.get("apiVersion") or "").rpartition("/")[0]
        controller = f"{ref.get('kind', '')}{'.' + group if group else ''}".lower() + f"/{ref.get('name', '')}"
    return [o["metadata"]["name"], controller, o.get("revision", 0), age(o, now)]


def _webhook_configuration_row(o: dict[str, Any], now: float) -> list[Any]:
    """printValidatingWebhookConfiguration / printMutatingWebhookConfiguration: how many webhooks it registers."""
    return [o["metadata"]["name"], len(o.get("webhooks") or ()), age(o, now)]


def _quota_row(o: dict[str, Any], now: float) -> list[Any]:
    """printResourceQuota: `resource: used/hard` of every hard resource (by name), the `limits.*` ones under LIMIT
    and the others under REQUEST; a resource without usage shows 0."""
    status = o.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    request, limit = [], []
    for name in sorted(hard):
        pieces = name.split(".")
        (limit if len(pieces) > 1 and pieces[0] == "limits" else request).append(f"{name}: {used.get(name, '0')}/{hard[name]}")
    return [o["metadata"]["name"], age(o, now), ", ".join(request), ", ".join(limit)]


def _storage_class_name(o: dict[str, Any]) -> str:
    default = (o["metadata"].get("annotations") or {}).get(DEFAULT_STORAGE_CLASS_ANNOTATION) == "true"
    return o["metadata"]["name"] + (" (default)" if default else "")


def _volume_phase(o: dict[str, Any]) -> str:
    """A claim's or a volume's STATUS cell: Terminating once it is being deleted (a protection finalizer may hold it
    Bound for a while), else its phase (upstream's printPersistentVolume / printPersistentVolumeClaim)."""
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return (o.get("status") or {}).get("phase", "Pending")


def _claim(o: dict[str, Any]) -> str:
    ref = o.get("spec", {}).get("claimRef")
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": typ, "format": fmt, "description": "", "priority": priority}


NAME = _col("Name", fmt="name")


def _apiservice_service(o: dict[str, Any]) -> str:
    """`Local`, or the namespace/name of the Service an aggregated APIService proxies to."""
    service = (o.get("spec") or {}).get("service")
    return f"{service.get('namespace', '')}/{service.get('name', '')}" if isinstance(service, dict) else "Local"


def _condition_text(o: dict[str, Any], kind: str) -> str:
    """An APIService's condition as the aggregator prints it: True, else its status with the reason (`False
    (FailedDiscoveryCheck)`), Unknown when it has none."""
    for c in (o.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            status = str(c.get("status", ""))
            return f"{status} ({c['reason']})" if status != "True" and c.get("reason") else status
    return "Unknown"


def _component_health(o: dict[str, Any]) -> list[str]:
    """Status, message and error of a ComponentStatus (upstream: printComponentStatus)."""
    for c in o.get("conditions") or []:
        if c.get("type") == "Healthy":
            return ["Healthy" if c.get("status") == "True" else "Unhealthy", c.get("message", ""), c.get("error", "")]
    return ["Unknown", "", ""]
# upstream eventColumnDefinitions: the wide ones interleaved, the event's own name last
EVENT_COLUMNS = [
    _col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", priority=1), _col("Source", priority=1), _col("Message"),
    _col("First Seen", priority=1), _col("Count", priority=1), _col("Name", priority=1, fmt="name"),
]  # fmt: skip
BINDING_COLUMNS = [NAME, _col("Role"), _col("Age"), _col("Users", priority=1), _col("Groups", priority=1), _col("ServiceAccounts", priority=1)]
CREATED_AT_COLUMNS = [NAME, _col("Created At", "date")]

# Built-in kinds: (columns, row function) — the columns kube-apiserver's printers produce.
BUILTIN: dict[str, tuple[list[dict[str, Any]], Row]] = {
    resource_key(NAMESPACE): (
        [NAME, _col("Status"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], o.get("status", {}).get("phase", "Active"), age(o, now)],
    ),
    resource_key(NODE): (
        [NAME, _col("Status"), _col("Roles"), _col("Age"), _col("Version"), _col("Internal-IP", priority=1), _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1), _col("Container-Runtime", priority=1)],
        lambda o, now: [
            o["metadata"]["name"], _node_status(o), _roles(o), age(o, now),
            o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
            _address(o, "InternalIP"), _address(o, "ExternalIP"),
            o.get("status", {}).get("nodeInfo", {}).get("osImage", "<unknown>"),
            o.get("status", {}).get("nodeInfo", {}).get("kernelVersion", "<unknown>"),
            o.get("status", {}).get("nodeInfo", {}).get("containerRuntimeVersion", "<unknown>"),
        ],
    ),
    resource_key(POD): (  # upstream: podColumnDefinitions
        [
            NAME, _col("Ready"), _col("Status"), _col("Restarts"), _col("Age"), _col("IP", priority=1), _col("Node", priority=1),
            _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    resource_key(EVENT): (EVENT_COLUMNS, _event_row),
    resource_key(SECRET): (
        [NAME, _col("Type"), _col("Data", "integer"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}), age(o, now)],
    ),
    resource_key(CONFIG_MAP): (
        [NAME, _col("Data", "integer"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o, now)],
    ),
    resource_key(SERVICE): (
        [NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age"), _col("Selector", priority=1)],
        lambda o, now: [
            o["metadata"]["name"], o.get("spec", {}).get("type", "ClusterIP"), o.get("spec", {}).get("clusterIP") or "<none>",
            _external_ip(o), _service_ports(o), age(o, now), _selector(o.get("spec", {}).get("selector")),
        ],
    ),
    resource_key(PERSISTENT_VOLUME_CLAIM): (
        [NAME, _col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"), _col("StorageClass"), _col("VolumeAttributesClass"), _col("Age"), _col("VolumeMode", priority=1)],
        lambda o, now: [
            o["metadata"]["name"], _volume_phase(o), o.get("spec", {}).get("volumeName", ""),
            (o.get("status", {}).get("capacity") or {}).get("storage", ""), _access_modes(o.get("status", {}).get("accessModes")),
            o.get("spec", {}).get("storageClassName", ""), o.get("spec", {}).get("volumeAttributesClassName") or "<unset>", age(o, now),
            o.get("spec", {}).get("volumeMode", "Filesystem"),
        ],
    ),
    resource_key(PERSISTENT_VOLUME): (
        [NAME, _col("Capacity"), _col("Access Modes"), _col("Reclaim Policy"), _col("Status"), _col("Claim"), _col("StorageClass"), _col("VolumeAttributesClass"), _col("Reason"), _col("Age"), _col("VolumeMode", priority=1)],
        lambda o, now: [
            o["metadata"]["name"], (o.get("spec", {}).get("capacity") or {}).get("storage", ""), _access_modes(o.get("spec", {}).get("accessModes")),
            o.get("spec", {}).get("persistentVolumeReclaimPolicy", ""), _volume_phase(o), _claim(o),
            o.get("spec", {}).get("storageClassName", ""), o.get("spec", {}).get("volumeAttributesClassName") or "<unset>",
            o.get("status", {}).get("reason", ""), age(o, now), o.get("spec", {}).get("volumeMode", "Filesystem"),
        ],
    ),
    resource_key(STORAGE_CLASS): (
        [NAME, _col("Provisioner"), _col("ReclaimPolicy"), _col("VolumeBindingMode"), _col("AllowVolumeExpansion"), _col("Age")],
        lambda o, now: [
            _storage_class_name(o), o.get("provisioner", ""), o.get("reclaimPolicy", "Delete"), o.get("volumeBindingMode", "Immediate"),
            str(bool(o.get("allowVolumeExpansion"))).lower(), age(o, now),
        ],
    ),
    resource_key(POD_DISRUPTION_BUDGET): (
        [NAME, _col("Min Available"), _col("Max Unavailable"), _col("Allowed Disruptions", "integer"), _col("Age")],
        lambda o, now: [
            o["metadata"]["name"], str(o.get("spec", {}).get("minAvailable", "N/A")), str(o.get("spec", {}).get("maxUnavailable", "N/A")),
            o.get("status", {}).get("disruptionsAllowed", 0), age(o, now),
        ],
    ),
    resource_key(EVENT, EVENTS_GROUP): (EVENT_COLUMNS, lambda o, now: _event_row(_as_core_event(o), now)),
    ROLE_BINDINGS: (BINDING_COLUMNS, _binding_row),  # upstream: roleBindingsColumnDefinitions
    CLUSTER_ROLE_BINDINGS: (BINDING_COLUMNS, _binding_row),  # clusterRoleBindingsColumnDefinitions
    ROLES: (CREATED_AT_COLUMNS, _created_at),  # no printer upstream: the default table
    CLUSTER_ROLES: (CREATED_AT_COLUMNS, _created_at),
    resource_key(DAEMON_SET): (  # upstream: pkg/printers/internalversion/printers.go daemonSetColumnDefinitions
        [
            NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), _col("Up-to-date", "integer"),
            _col("Available", "integer"), _col("Node Selector"), _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _daemonset_row,
    ),
    resource_key(DEPLOYMENT): (  # upstream: pkg/printers/internalversion/printers.go deploymentColumnDefinitions
        [
            NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Age"),
            _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1),
        ],
        _deployment_row,
    ),
    "networking.k8s.io/ingresses": (  # upstream: pkg/printers/internalversion/printers.go ingressColumnDefinitions
        [NAME, _col("Class"), _col("Hosts"), _col("Address"), _col("Ports"), _col("Age")],
        _ingress_row,
    ),
    resource_key(CRON_JOB): (  # upstream: pkg/printers/internalversion/printers.go cronJobColumnDefinitions
        [
            NAME, _col("Schedule"), _col("Timezone"), _col("Suspend"), _col("Active", "integer"), _col("Last Schedule"), _col("Age"),
            _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1),
        ],
        _cronjob_row,
    ),
    resource_key(JOB): (  # upstream: pkg/printers/internalversion/printers.go jobColumnDefinitions
        [
            NAME, _col("Status"), _col("Completions"), _col("Duration"), _col("Age"),
            _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1),
        ],
        _job_row,
    ),
    resource_key(STATEFUL_SET): (  # upstream: pkg/printers/internalversion/printers.go statefulSetColumnDefinitions
        [NAME, _col("Ready"), _col("Age"), _col("Containers", priority=1), _col("Images", priority=1)],
        _statefulset_row,
    ),
    resource_key(CONTROLLER_REVISION): (  # upstream: pkg/printers/internalversion/printers.go controllerRevisionColumnDefinitions
        [NAME, _col("Controller"), _col("Revision", "integer"), _col("Age")],
        _controller_revision_row,
    ),
    resource_key(VALIDATING_WEBHOOK_CONFIGURATION): (  # upstream: printers.go validatingWebhookColumnDefinitions
        [NAME, _col("Webhooks", "integer"), _col("Age")],
        _webhook_configuration_row,
    ),
    resource_key(MUTATING_WEBHOOK_CONFIGURATION): (  # upstream: printers.go mutatingWebhookColumnDefinitions
        [NAME, _col("Webhooks", "integer"), _col("Age")],
        _webhook_configuration_row,
    ),
    resource_key(REPLICA_SET): (  # upstream: pkg/printers/internalversion/printers.go replicaSetColumnDefinitions
        [
            NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), _col("Age"),
            _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1),
        ],
        _replicaset_row,
    ),
    resource_key(LEASE): (
        [NAME, _col("Holder"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], o.get("spec", {}).get("holderIdentity", ""), age(o, now)],
    ),
    resource_key(CUSTOM_RESOURCE_DEFINITION): (CREATED_AT_COLUMNS, _created_at),
    "/resourcequotas": ([NAME, _col("Age"), _col("Request"), _col("Limit")], _quota_row),  # upstream: resourceQuotaColumnDefinitions
    "/limitranges": (CREATED_AT_COLUMNS, _created_at),  # no printer upstream: the default table
    "apiregistration.k8s.io/apiservices": (  # upstream: kube-aggregator pkg/registry/apiservice/rest ConvertToTable
        [NAME, _col("Service"), _col("Available"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], _apiservice_service(o), _condition_text(o, "Available"), age(o, now)],
    ),
    "/componentstatuses": ([NAME, _col("Status"), _col("Message"), _col("Error")], lambda o, now: [o["metadata"]["name"], *_component_health(o)]),
    resource_key(PRIORITY_CLASS): (  # upstream: priorityClassColumnDefinitions
        [NAME, _col("Value", "integer"), _col("Global-Default", "boolean"), _col("Age"), _col("PreemptionPolicy")],
        lambda o, now: [o["metadata"]["name"], o.get("value", 0), bool(o.get("globalDefault")), age(o, now), o.get("preemptionPolicy", "")],
    ),
    "/endpoints": (  # upstream: endpointColumnDefinitions
        [NAME, _col("Endpoints"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], _endpoints_text(o), age(o, now)],
    ),
    "discovery.k8s.io/endpointslices": (  # upstream: endpointSliceColumnDefinitions
        [NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], o.get("addressType", ""), _slice_ports(o), _slice_endpoints(o), age(o, now)],
    ),
    "networking.k8s.io/networkpolicies": (  # upstream: networkPolicyColumnDefinitions
        [NAME, _col("Pod-Selector"), _col("Age")],
        lambda o, now: [o["metadata"]["name"], _label_selector((o.get("spec") or {}).get("podSelector")), age(o, now)],
    ),
}  # fmt: skip


def _endpoints_text(o: dict[str, Any]) -> str:
    """upstream formatEndpoints: the ready addresses with each port (ip:port; the ip alone for a subset without ports),
    the first three, then how many more; "<none>" for none."""
    shown: list[str] = []
    count = 0
    for subset in o.get("subsets") or []:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or [] if isinstance(a, dict)]
        for port in subset.get("ports") or [None]:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    shown.append(ip if port is None else (f"[{ip}]" if ":" in ip else ip) + f":{port.get('port')}")
    if count > len(shown):
        return ",".join(shown) + f" + {count - len(shown)} more..."
    return ",".join(shown) or "<none>"


def _slice_ports(o: dict[str, Any]) -> str:
    """upstream formatDiscoveryPorts: the port numbers, "<unset>" for a port without one, "<unset>" for no ports."""
    ports = o.get("ports") or []
    if not ports:
        return "<unset>"
    shown = [str(p["port"]) if isinstance(p, dict) and p.get("port") is not None else "<unset>" for p in ports[:3]]
    more = f" + {len(ports) - 3} more..." if len(ports) > 3 else ""
    return ",".join(shown) + more


def _slice_endpoints(o: dict[str, Any]) -> str:
    """upstream formatDiscoveryEndpoints: the first three addresses, then how many more."""
    addresses = [a for e in o.get("endpoints") or [] if isinstance(e, dict) for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    return ",".join(addresses[:3]) + more


def columns_for(rt: ResourceType, version: str) -> tuple[list[dict[str, Any]], Row]:
    if rt.resource in BUILTIN:
        return BUILTIN[rt.resource]
    printer = rt.versions[version].columns
    if not printer:
        printer = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    cols = [NAME] + [
        {
            "name": c["name"],
            "type": "string" if c["type"] == "date" else c["type"],
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in printer
    ]

    def row(o: dict[str, Any], now: float) -> list[Any]:
        return [o["metadata"]["name"]] + [cell(jsonpath(o, c["jsonPath"]), c["type"], now) for c in printer]

    return cols, row


def table(
    rt: ResourceType, version: str, objects: list[dict[str, Any]], now: float, include_object: str, list_meta: dict[str, Any], with_columns: bool = True
) -> dict[str, Any]:
    cols, row = columns_for(rt, version)
    rows = []
    for o in objects:
        r: dict[str, Any] = {"cells": row(o, now)}
        if include_object == "Object":
            r["object"] = o
        elif include_object != "None":
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
        rows.append(r)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": cols if with_columns else [],
        "rows": rows,
    }


# upstream: pkg/printers/internalversion/printers.go scaleColumnDefinitions (`kubectl get --subresource=scale`)
SCALE_COLUMNS = [NAME, _col("Desired", "integer"), _col("Available", "integer"), _col("Age")]


def scale_table(scale: dict[str, Any], now: float, include_object: str) -> dict[str, Any]:
    """The Table of one autoscaling/v1 Scale (api/scale.py)."""
    row: dict[str, Any] = {"cells": [scale["metadata"]["name"], scale["spec"]["replicas"], scale["status"]["replicas"], age(scale, now)]}
    if include_object == "Object":
        row["object"] = scale
    elif include_object != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": scale["metadata"]}
    meta = {"resourceVersion": scale["metadata"].get("resourceVersion", "")}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": SCALE_COLUMNS, "rows": [row]}
