"""What kube-aggregator and kube-apiserver register about the server itself: an APIService per served group-version,
and the ComponentStatuses of the control plane — read-only here, made at start from what the server serves.

APIServices (apiregistration.k8s.io/v1, `kubectl get apiservices`): one per group-version in discovery, named
`<version>.<group>` (`v1.` for the core group), as kube-apiserver's autoregistration and the CRD registration
controller create them (upstream: staging/src/k8s.io/kube-aggregator/pkg/apiserver/handler_apis.go's priorities in
pkg/controlplane/apiserver/aggregator.go, crdregistration_controller.go):

- a built-in group-version is Local, with upstream's groupPriorityMinimum and versionPriority; one upstream's table
  has not got is skipped, as upstream skips it, and so is apiregistration.k8s.io itself (kube-aggregator registers the
  group-versions of the server it delegates to, not its own);
- a custom resource's group-version is Local with 1000 / 100 (CRDs rank after the built-in groups);
- an aggregated group-version (metrics.k8s.io, api/metrics.py) names the Service of the extension API server that
  serves it on a Deckhouse cluster — `d8-monitoring/prometheus-metrics-adapter` — with metrics-server's 100 / 100 and
  insecureSkipTLSVerify. The simulator answers that group itself, so it is always available.

Every one is Available: a Local one with reason Local ("Local APIServices are always available"), an aggregated one
with reason Passed ("all checks passed"), as kube-aggregator's availability controller writes them.

ComponentStatuses (v1, deprecated since 1.19, `kubectl get cs`): the scheduler, the controller-manager and etcd-0,
each Healthy with message "ok", as kube-apiserver's componentstatus storage reports a healthy control plane (upstream
computes them on each read; here they are stored once, and the simulator's control plane is always healthy).

Both are refreshed at every start (the served group-versions follow the simulator's version and edition): one that
differs from what the server serves now is written again, one for a group-version no longer served is deleted.
"""

from __future__ import annotations

from typing import Any

from ..resources import ResourceType
from .discovery import Discovery
from .service import ObjectService, WriteOptions

APISERVICES, COMPONENT_STATUSES = "apiregistration.k8s.io/apiservices", "/componentstatuses"
# upstream: pkg/controlplane/apiserver/aggregator.go, DefaultGenericAPIServicePriorities and kube-apiserver's additions
PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
}
CRD_PRIORITY = (1000, 100)  # upstream: crdregistration_controller.go (CRDs should have relatively low priority)
AGGREGATED_PRIORITY = (100, 100)  # metrics-server's and prometheus-metrics-adapter's APIService
# The Service of the extension API server each aggregated group is served by on a Deckhouse cluster.
AGGREGATED_SERVICES = {"metrics.k8s.io": {"namespace": "d8-monitoring", "name": "prometheus-metrics-adapter", "port": 443}}
COMPONENTS = ("controller-manager", "scheduler", "etcd-0")
MANAGER = "kube-apiserver"


def apiservice_name(group: str, version: str) -> str:
    return f"{version}.{group}"


def apiservice(group: str, version: str, custom: bool, aggregated: bool) -> dict[str, Any] | None:
    """The APIService of one served group-version (metadata.name and spec, status; no server-set metadata); None for
    a built-in one upstream registers none for."""
    if aggregated:
        (group_priority, version_priority), service = AGGREGATED_PRIORITY, AGGREGATED_SERVICES.get(group)
    elif custom:
        (group_priority, version_priority), service = CRD_PRIORITY, None
    elif (group, version) in PRIORITIES:
        (group_priority, version_priority), service = PRIORITIES[(group, version)], None
    else:
        return None
    spec: dict[str, Any] = {"group": group, "version": version, "groupPriorityMinimum": group_priority, "versionPriority": version_priority}
    if service is not None:
        spec["service"] = dict(service)
        spec["insecureSkipTLSVerify"] = True
        available = {"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}
    else:
        available = {"type": "Available", "status": "True", "reason": "Local", "message": "Local APIServices are always available"}
    return {"metadata": {"name": apiservice_name(group, version)}, "spec": spec, "status": {"conditions": [available]}}


def component_status(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]}


def desired_apiservices(discovery: Discovery, aggregated: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The APIServices of every group-version discovery serves, core first, then by group and version."""
    custom = {(rt.group, version) for rt in discovery.registry.types.values() if rt.is_crd for version in rt.versions}
    out = [apiservice("", "v1", False, False)]
    for group, versions in sorted(discovery.group_versions().items()):
        if group:
            out += [apiservice(group, version, (group, version) in custom, (group, version) in aggregated) for version in versions]
    return [obj for obj in out if obj is not None]


def seed(service: ObjectService, discovery: Discovery, aggregated: set[tuple[str, str]]) -> None:
    """Create, refresh or delete the stored APIServices and ComponentStatuses (see the module docstring)."""
    _sync(service, service.registry.types[APISERVICES], desired_apiservices(discovery, aggregated))
    _sync(service, service.registry.types[COMPONENT_STATUSES], [component_status(name) for name in COMPONENTS])


def _sync(service: ObjectService, rt: ResourceType, desired: list[dict[str, Any]]) -> None:
    opts = WriteOptions(version=rt.storage_version, manager=MANAGER, with_status=rt.has_status)
    wanted = {obj["metadata"]["name"] for obj in desired}
    for obj in desired:
        current = service.find(rt, "", obj["metadata"]["name"])
        if current is None:
            body = _stamped(service, obj)
            service.create(rt, "", body, opts)
        elif _content(current) != _content(obj):
            body = _stamped(service, obj)
            body["metadata"] = {"name": obj["metadata"]["name"], "resourceVersion": current["metadata"]["resourceVersion"]}
            service.update(rt, "", obj["metadata"]["name"], body, opts)
    for stale in [entry.name for entry in service.store.list(rt.key) if entry.name not in wanted]:
        service.delete(rt, "", stale, None)


def _stamped(service: ObjectService, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with its conditions' lastTransitionTime (an APIService's: now)."""
    out = {**obj, "metadata": dict(obj["metadata"])}
    if "status" in obj:
        out["status"] = {"conditions": [{**c, "lastTransitionTime": service.clock.stamp()} for c in obj["status"]["conditions"]]}
    return out


def _content(obj: dict[str, Any]) -> Any:
    """What a refresh compares: everything but metadata and the transition times."""
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    if "status" in out:
        out["status"] = {"conditions": [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in out["status"].get("conditions", [])]}
    return out
