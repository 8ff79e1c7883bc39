"""kube-apiserver's ValidatePodSpec, the rules of it that the schema cannot state, for a Pod and for the pod template of
a workload (a Deployment's, a ReplicaSet's): one implementation, the field path its argument. Upstream:
pkg/apis/core/validation/validation.go (ValidateVolumes, validateContainers, validateInitContainers,
validateContainerCommon, validateContainerPorts, ValidateVolumeMounts). Enumerations (restartPolicy, dnsPolicy, a
container's pull and termination-message policies, a port's protocol) are the schema's (core.yaml's PodSpec).

In upstream's order: the volumes (a name that is a DNS-1123 label, unique; exactly one source), then the containers
(at least one; each named with a unique DNS-1123 label, with an image, its ports' containerPort a port number, its
mounts naming a volume of the pod at a path), then the init containers, whose names must differ from every other
container's too."""

from __future__ import annotations

import re
from typing import Any

from .errors import cause
from .golang import quote
from .objectmeta import DNS1123_LABEL_FMT, _regex_error

_LABEL = re.compile(DNS1123_LABEL_FMT)
LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"


def label_causes(path: str, value: str) -> list[dict[str, str]]:
    """ValidateDNS1123Label: the length, then the pattern."""
    out = []
    if len(value) > 63:
        out.append(cause(path, f"Invalid value: {quote(value)}: must be no more than 63 characters"))
    if not _LABEL.fullmatch(value):
        out.append(cause(path, f"Invalid value: {quote(value)}: {_regex_error(LABEL_MSG, DNS1123_LABEL_FMT, 'my-name', '123-abc')}"))
    return out


def _required(path: str, detail: str = "") -> dict[str, str]:
    return cause(path, f"Required value{': ' + detail if detail else ''}", "FieldValueRequired")


def _unique_name_causes(path: str, name: Any, names: set[Any]) -> list[dict[str, str]]:
    """A name that is required, a DNS-1123 label and not among `names` (to which it is added)."""
    if not name:
        return [_required(path)]
    if not isinstance(name, str):
        return []  # the schema's type check refuses it
    found = label_causes(path, name)
    if not found and name in names:
        found.append(cause(path, f"Duplicate value: {quote(name)}", "FieldValueDuplicate"))
    names.add(name)
    return found


def _volume_causes(volumes: list[Any], path: str) -> tuple[set[str], list[dict[str, str]]]:
    names: set[str] = set()
    causes: list[dict[str, str]] = []
    for i, volume in enumerate(volumes):
        if not isinstance(volume, dict):
            continue  # the schema's type check refuses it
        at = f"{path}[{i}]"
        causes += _unique_name_causes(f"{at}.name", volume.get("name"), names)
        sources = [k for k, value in volume.items() if k != "name" and value is not None]
        if not sources:
            causes.append(_required(at, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(cause(at, "Forbidden: may not specify more than 1 volume type", "FieldValueForbidden"))
    return names, causes


def _container_causes(container: dict[str, Any], at: str, volumes: set[str]) -> list[dict[str, str]]:
    causes: list[dict[str, str]] = []
    name = container.get("name")
    if not name:
        causes.append(_required(f"{at}.name"))
    elif isinstance(name, str):
        causes += label_causes(f"{at}.name", name)
    if not container.get("image"):
        causes.append(_required(f"{at}.image"))
    for j, port in enumerate(container.get("ports") or []):
        if not isinstance(port, dict):
            continue
        number = port.get("containerPort")
        if not number:
            causes.append(_required(f"{at}.ports[{j}].containerPort"))
        elif isinstance(number, int) and not 1 <= number <= 65535:
            causes.append(cause(f"{at}.ports[{j}].containerPort", f"Invalid value: {number}: must be between 1 and 65535, inclusive"))
    paths: set[str] = set()
    for j, mount in enumerate(container.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        where = f"{at}.volumeMounts[{j}]"
        if not mount.get("name"):
            causes.append(_required(f"{where}.name"))
        elif isinstance(mount["name"], str) and mount["name"] not in volumes:
            causes.append(cause(f"{where}.name", f"Not found: {quote(mount['name'])}", "FieldValueNotFound"))
        mount_path = mount.get("mountPath")
        if not mount_path:
            causes.append(_required(f"{where}.mountPath"))
        elif isinstance(mount_path, str) and mount_path in paths:
            causes.append(cause(f"{where}.mountPath", f"Invalid value: {quote(mount_path)}: must be unique"))
        paths.add(mount_path)
    return causes


def pod_spec_causes(spec: dict[str, Any], path: str = "spec", claims: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """ValidatePodSpec's rules above for `spec`, its fields reported under `path` (spec, spec.template.spec); `claims`:
    the names of a StatefulSet's claim templates, which its pods get as volumes (mounts may name them)."""
    volumes, causes = _volume_causes(spec.get("volumes") or [], f"{path}.volumes")
    volumes |= claims
    containers = spec.get("containers") or []
    if not containers:
        causes.append(_required(f"{path}.containers"))
    names: set[str] = set()
    for field, items in (("containers", containers), ("initContainers", spec.get("initContainers") or [])):
        for i, container in enumerate(items):
            if not isinstance(container, dict):
                continue
            at = f"{path}.{field}[{i}]"
            causes += _container_causes(container, at, volumes)
            name = container.get("name")
            if isinstance(name, str) and name:
                if name in names:
                    causes.append(cause(f"{at}.name", f"Duplicate value: {quote(name)}", "FieldValueDuplicate"))
                names.add(name)
    return causes


EPHEMERAL = "ephemeralcontainers"  # the pods subresource kubectl debug writes
# Fields of a container an ephemeral one may set (upstream: allowedEphemeralContainerFields); any other that is set is
# Forbidden. kubectl debug sends `resources: {}`, which counts as not set.
EPHEMERAL_ALLOWED = frozenset(
    {"name", "image", "command", "args", "workingDir", "env", "envFrom", "volumeMounts", "volumeDevices", "terminationMessagePath",
     "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty", "targetContainerName"}
)  # fmt: skip
EPHEMERAL_FORBIDDEN = "cannot be set for an Ephemeral Container"


def ephemeral_causes(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidatePodEphemeralContainersUpdate: the ephemeral containers a write of pods/ephemeralcontainers leaves. Those
    there before stay as they were (never removed nor changed); each is named with a DNS-1123 label unique among all
    the pod's containers, has an image, targets a container or init container of the pod if it names one, sets no
    field outside the allowed ones (ports, probes, lifecycle, resources...) and mounts no subPath."""
    path = "spec.ephemeralContainers"
    new = [c for c in spec.get("ephemeralContainers") or [] if isinstance(c, dict)]
    old = [c for c in old_spec.get("ephemeralContainers") or [] if isinstance(c, dict)]
    causes: list[dict[str, str]] = []
    by_name = {c.get("name"): c for c in new}
    for existing in old:
        name = existing.get("name")
        if name not in by_name:
            causes.append(cause(path, f"Forbidden: existing ephemeral containers {quote(str(name))} may not be removed\n", "FieldValueForbidden"))
        elif by_name[name] != existing:
            causes.append(cause(path, f"Forbidden: existing ephemeral containers {quote(str(name))} may not be changed\n", "FieldValueForbidden"))
    regular = {c.get("name") for key in ("containers", "initContainers") for c in spec.get(key) or [] if isinstance(c, dict)}
    seen: set[Any] = set(regular)  # an ephemeral container's name is unique among all the pod's containers
    for i, container in enumerate(new):
        at = f"{path}[{i}]"
        causes += _unique_name_causes(f"{at}.name", container.get("name"), seen)
        if not container.get("image"):
            causes.append(_required(f"{at}.image"))
        for field in sorted(k for k, value in container.items() if k not in EPHEMERAL_ALLOWED and value not in (None, {}, [], "", False, 0)):
            causes.append(cause(f"{at}.{field}", f"Forbidden: {EPHEMERAL_FORBIDDEN}", "FieldValueForbidden"))
        for j, mount in enumerate(container.get("volumeMounts") or []):
            if isinstance(mount, dict) and mount.get("subPath"):
                causes.append(cause(f"{at}.volumeMounts[{j}].subPath", f"Forbidden: {EPHEMERAL_FORBIDDEN}", "FieldValueForbidden"))
        target = container.get("targetContainerName")
        if target and target not in regular:
            causes.append(cause(f"{at}.targetContainerName", f"Not found: {quote(str(target))}", "FieldValueNotFound"))
    return causes
