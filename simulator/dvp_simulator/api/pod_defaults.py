"""What kube-apiserver fills in on a new Pod, so that clients reading it find what they always find on a real cluster
(kubectl debug dereferences spec.securityContext; field selectors on status.phase, spec.schedulerName match).

- Defaulting (pkg/apis/core/v1/defaults.go SetDefaults_PodSpec, SetDefaults_Container, SetDefaults_Pod): dnsPolicy
  ClusterFirst, restartPolicy Always, terminationGracePeriodSeconds 30, securityContext {}, schedulerName
  default-scheduler, enableServiceLinks true; each container's terminationMessagePath /dev/termination-log and
  terminationMessagePolicy File, imagePullPolicy Always for an image without a tag or tagged `latest` (else
  IfNotPresent), its ports' protocol TCP, and requests copied from limits where a resource has a limit only.
- The Priority admission plugin: a pod naming no priority class gets the global default class (its name, value and
  preemption policy), or priority 0 and preemptionPolicy PreemptLowerPriority when there is none; a pod naming one
  gets the class's value and preemption policy (403 for a class that does not exist, or a priority or policy in the
  spec that differs from the computed one; the classes: api/priority_classes.py); the DefaultTolerationSeconds
  plugin: NoExecute tolerations of node.kubernetes.io/not-ready and unreachable for 300 s unless the pod tolerates
  them already.
- The pod strategy's PrepareForCreate, for a client's create only: the status is the API server's, phase Pending and
  the QoS class (GetPodQOS); the simulator's own controllers create their pods with the status they simulate.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import forbidden
from .pod_spec import EPHEMERAL
from .priority_classes import DEFAULT_PREEMPTION, PRIORITY_CLASSES, default_class

CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
QOS_RESOURCES = ("cpu", "memory")
TOLERATION_SECONDS = 300
DEFAULT_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _pull_policy(image: str) -> str:
    """Always for `name` or `name:latest`, IfNotPresent for any other tag or a digest (SetDefaults_Container)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_container(container: dict[str, Any], pod: bool = True) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if isinstance(container.get("image"), str):
        container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    resources = container.get("resources")
    if pod and isinstance(resources, dict) and isinstance(resources.get("limits"), dict) and resources["limits"]:
        requests = resources.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, value in resources["limits"].items():
                requests.setdefault(name, value)


def default_spec(spec: dict[str, Any], pod: bool = True) -> None:
    """SetDefaults_PodSpec and its containers'; `pod`: a Pod's spec, not a pod template's — also SetDefaults_Pod's
    (enableServiceLinks, requests from limits) and DefaultTolerationSeconds' (the admission plugin sees pods only)."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    spec.setdefault("schedulerName", v.DEFAULT_SCHEDULER)
    if pod:
        spec.setdefault("enableServiceLinks", True)
    for kind in CONTAINER_KINDS:
        for container in spec.get(kind) or []:
            if isinstance(container, dict):
                default_container(container, pod)
    given = spec.get("tolerations")
    if pod and (given is None or isinstance(given, list)):
        given = list(given or [])
        for key in DEFAULT_TOLERATIONS:
            if not any(isinstance(t, dict) and _tolerates(t, key) for t in given):
                given.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": TOLERATION_SECONDS})
        spec["tolerations"] = given


def _tolerates(toleration: dict[str, Any], key: str) -> bool:
    """Does the toleration already cover the NoExecute taint `key` (DefaultTolerationSeconds leaves such pods alone)?"""
    if toleration.get("effect") not in (None, "", "NoExecute"):
        return False
    return toleration.get("key") in (None, "", key) if toleration.get("operator") == "Exists" else toleration.get("key") == key


def qos_class(spec: dict[str, Any]) -> str:
    """GetPodQOS: BestEffort without any cpu or memory request or limit; Guaranteed when every container limits cpu
    and memory and the pod's requests equal its limits; else Burstable."""
    requests: dict[str, float] = {}
    limits: dict[str, float] = {}
    guaranteed = True
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            resources = (container or {}).get("resources") or {}
            for into, values in ((requests, resources.get("requests") or {}), (limits, resources.get("limits") or {})):
                for name in QOS_RESOURCES:
                    try:
                        amount = parse_quantity(str(values[name])) if name in values else 0
                    except ValueError:
                        amount = 0
                    if amount:
                        into[name] = into.get(name, 0) + amount
            if not all(name in (resources.get("limits") or {}) for name in QOS_RESOURCES):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def pod_defaults(request: AdmissionRequest) -> None:
    pod = request.obj or {}
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    default_spec(spec)
    _priority(request, pod, spec)
    if request.user is not None:  # a client's create: the status is the API server's (PrepareForCreate)
        pod["status"] = {"phase": v.PENDING, "qosClass": qos_class(spec)}
    elif isinstance(pod.get("status"), dict):
        pod["status"].setdefault("qosClass", qos_class(spec))


def _priority(request: AdmissionRequest, pod: dict[str, Any], spec: dict[str, Any]) -> None:
    """The Priority plugin's resolution of spec.priorityClassName (plugin/pkg/admission/priority admitPod)."""
    name = spec.get("priorityClassName")
    if name is not None and not isinstance(name, str):
        return  # the schema's type check refuses it
    if not name:
        found = default_class(request.service.store)
        if found is None:
            value, policy = 0, DEFAULT_PREEMPTION
        else:
            spec["priorityClassName"] = found["metadata"]["name"]
            value, policy = found.get("value") or 0, found.get("preemptionPolicy")
    else:
        entry = request.service.store.get(PRIORITY_CLASSES, "", name)
        if entry is None:
            raise forbidden(request, f"no PriorityClass with name {name} was found")
        value, policy = entry.obj.get("value") or 0, entry.obj.get("preemptionPolicy")
    if spec.get("priority") is not None and spec["priority"] != value:
        raise forbidden(
            request, f"the integer value of priority ({spec['priority']}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
        )
    spec["priority"] = value
    if policy:
        if spec.get("preemptionPolicy") not in (None, policy):
            raise forbidden(
                request,
                f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name",
            )
        spec["preemptionPolicy"] = policy


def ephemeral_defaults(request: AdmissionRequest) -> None:
    """A write of pods/ephemeralcontainers: the new containers get a container's defaults (SetDefaults_EphemeralContainer
    runs when the body is decoded), so those already there compare equal to what was stored."""
    spec = request.obj.get("spec")
    for container in (spec.get("ephemeralContainers") if isinstance(spec, dict) else None) or []:
        if isinstance(container, dict):
            default_container(container)


def register(admission: Admission) -> None:
    admission.mutate(v.CORE_GROUP, v.POD, operations=(CREATE,))(pod_defaults)
    admission.mutate(v.CORE_GROUP, v.POD, operations=(UPDATE,), subresources=(EPHEMERAL,))(ephemeral_defaults)
