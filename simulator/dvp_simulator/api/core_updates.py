"""kube-apiserver's validation of built-in kinds on update, and the spec checks that go with it, as admission hooks on
(group, kind). Upstream: pkg/apis/core/validation/validation.go (ValidatePodUpdate, ValidateContainerUpdates,
ValidateResourceRequirements, ValidatePersistentVolumeClaimUpdate, ValidateServiceUpdate, ValidateNodeUpdate),
pkg/apis/storage/validation (ValidateStorageClassUpdate) and pkg/registry/core/service/strategy.go
(patchAllocatedValues, NormalizeClusterIPs).

- Pod: on create, the rules of ValidatePodSpec that the schema cannot state (api/pod_spec.py); on create and update, a container's request may not exceed its limit (and must equal it for a resource that
  cannot be overcommitted). On update the spec is immutable but for containers[*].image, initContainers[*].image,
  activeDeadlineSeconds (set, or lowered), tolerations (additions; tolerationSeconds may change), schedulingGates
  (removals) and terminationGracePeriodSeconds (to 1 when it was negative). The pods/binding subresource and status
  writes are not updates of the spec: they do not come here (the hooks are for the main resource only).
- PersistentVolumeClaim: on create (and on update, if the stored spec met them) at least one access mode,
  ReadWriteOncePod alone, and a storage request above zero. The spec is immutable but for volumeName set once (the binder), storageClassName set from
  unset (the retroactive default class) and, once Bound, resources.requests; storage may not go below
  status.capacity (kube-apiserver 1.32+: RecoverVolumeExpansionFailure is on, so a failed expansion can be lowered).
- StorageClass: parameters, provisioner, reclaimPolicy and volumeBindingMode never change.
- Service: ports are required but of a headless (clusterIP None) or ExternalName one; a PUT or patch that leaves
  clusterIP(s) or nodePorts out keeps the allocated ones, clusterIP and clusterIPs are kept in step, and an allocated
  clusterIP never changes.
- Node: spec.podCIDR(s) and spec.providerID change only from unset.

Comparisons are semantic as apiequality.Semantic.DeepEqual's: an empty list or map is the same as none, quantities
compare by value. A Forbidden spec change carries a diff of the spec like upstream's cmp.Diff (the changed fields
only, in the API's field names): the lines are not byte for byte Go's, the first line of the message is."""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, invalid
from .pod_spec import EPHEMERAL, ephemeral_causes, pod_spec_causes

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
POD_UPDATE_FORBIDDEN = "pod updates may not change fields other than " + ",".join(UPDATABLE_POD_SPEC_FIELDS)
PVC_SPEC_FORBIDDEN = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
MAX_INT32 = 2**31 - 1
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
NODE_CIDR_FORBIDDEN = 'node updates may not change podCIDR except from "" to valid'
NODE_PROVIDER_FORBIDDEN = 'node updates may not change providerID except from "" to valid'


# -- semantic comparison ------------------------------------------------------------------------------------------
def semantic(value: Any, empty: tuple[Any, ...] = (None, {}, [])) -> Any:
    """The value as apiequality.Semantic.DeepEqual compares it: the `empty` values of a field dropped (Go's nil and
    empty slices and maps are equal there, and an omitted field decodes to its zero value). An empty string is no
    string only where the field is not a pointer (a claim's storageClassName "" is not an unset one)."""
    if isinstance(value, dict):
        out = {k: semantic(item, empty) for k, item in value.items()}
        return {k: item for k, item in out.items() if not any(item == e and type(item) is type(e) for e in empty)}
    if isinstance(value, list):
        return [semantic(item, empty) for item in value]
    return value


def _quantities(resources: Any) -> Any:
    """A ResourceRequirements with its quantities as values (`1Gi` == `1024Mi`), for comparison."""
    if not isinstance(resources, dict):
        return resources
    out = dict(resources)
    for key in ("requests", "limits"):
        if isinstance(out.get(key), dict):
            out[key] = {name: _quantity_value(q) for name, q in out[key].items()}
    return out


def _quantity_value(text: Any) -> Any:
    try:
        return parse_quantity(text)
    except ValueError:
        return text


def _comparable_pod_spec(spec: dict[str, Any]) -> Any:
    spec = dict(spec)
    for field in ("containers", "initContainers", "ephemeralContainers"):
        if isinstance(spec.get(field), list):
            spec[field] = [{**c, "resources": _quantities(c.get("resources"))} if isinstance(c, dict) else c for c in spec[field]]
    return semantic(spec, (None, {}, [], ""))  # a pod's string fields are values (nodeName "" is no node)


def _go_field(name: str) -> str:
    return name[:1].upper() + name[1:]


def spec_diff(type_name: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    """The changed top-level fields of a spec, as cmp.Diff(old, new) lays out a struct: `-` the old value, `+` the new."""
    lines = [f"  {type_name}{{"]
    for key in list(old) + [k for k in new if k not in old]:
        if old.get(key) == new.get(key):
            continue
        if key in old:
            lines.append(f"- \t{_go_field(key)}: {json.dumps(old[key], sort_keys=True, default=str)},")
        if key in new:
            lines.append(f"+ \t{_go_field(key)}: {json.dumps(new[key], sort_keys=True, default=str)},")
    lines.append("  }")
    return "\n".join(lines)


def _go_value(value: Any) -> str:
    """A field.Invalid value as field.Error prints it: strings quoted, numbers and booleans bare, none as null."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_strings(values: list[str] | None) -> str:
    """A []string as %#v prints it."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(json.dumps(s) for s in values) + "}"


def _forbidden(field: str, message: str) -> dict[str, str]:
    return cause(field, f"Forbidden: {message}", "FieldValueForbidden")


def _invalid(field: str, value: Any, message: str, rendered: str | None = None) -> dict[str, str]:
    return cause(field, f"Invalid value: {rendered if rendered is not None else _go_value(value)}: {message}")


def _immutable(field: str, new: Any, old: Any) -> list[dict[str, str]]:
    """ValidateImmutableField."""
    return [] if new == old else [_invalid(field, new, "field is immutable")]


# -- Pod ----------------------------------------------------------------------------------------------------------
def _overcommit_allowed(resource: str) -> bool:
    """helper.IsOvercommitAllowed: native resources (no domain, or kubernetes.io/) but hugepages."""
    native = "/" not in resource or resource.startswith("kubernetes.io/")
    return native and not resource.startswith("hugepages-")


def resource_causes(spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidateResourceRequirements' request-against-limit rule, for every container and init container."""
    causes = []
    for field in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(field) or []):
            resources = container.get("resources") if isinstance(container, dict) else None
            if not isinstance(resources, dict):
                continue
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            path = f"spec.{field}[{i}].resources.requests"
            for name, quantity in requests.items():
                if name not in limits:
                    continue
                try:
                    request, limit = parse_quantity(quantity), parse_quantity(limits[name])
                except ValueError:
                    continue  # the schema names a quantity that does not parse
                if request != limit and not _overcommit_allowed(name):
                    causes.append(_invalid(path, str(quantity), f"must be equal to {name} limit of {limits[name]}"))
                elif request > limit:
                    causes.append(_invalid(path, str(quantity), f"must be less than or equal to {name} limit of {limits[name]}"))
    return causes


def _container_update_causes(new: list[Any], old: list[Any], path: str) -> tuple[list[dict[str, str]], bool]:
    """ValidateContainerUpdates: the containers stay (stop: nothing else is checked), each keeps an image."""
    if len(new) != len(old):
        return [_forbidden(path, "pod updates may not add or remove containers")], True
    causes = []
    for i, container in enumerate(new):
        image = container.get("image") if isinstance(container, dict) else None
        if not image:
            causes.append(cause(f"{path}[{i}].image", "Required value", "FieldValueRequired"))
        elif image.strip() != image:
            causes.append(_invalid(f"{path}[{i}].image", image, "must not have leading or trailing whitespace"))
    return causes, False


def _toleration_causes(new: list[Any], old: list[Any]) -> list[dict[str, str]]:
    """validateOnlyAddedTolerations: every old toleration is still there, its tolerationSeconds aside."""
    for existing in old:
        wanted = semantic({k: value for k, value in existing.items() if k != "tolerationSeconds"}) if isinstance(existing, dict) else existing
        if not any(
            (semantic({k: value for k, value in t.items() if k != "tolerationSeconds"}) if isinstance(t, dict) else t) == wanted for t in new
        ):
            return [_forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")]
    return []


def _scheduling_gate_causes(new: list[Any], old: list[Any]) -> list[dict[str, str]]:
    """validateOnlyDeletedSchedulingGates."""
    had = {g.get("name") for g in old if isinstance(g, dict)}
    return [
        _forbidden(f"spec.schedulingGates[{i}].name", f"only deletion is allowed, but found new scheduling gate '{g.get('name')}'")
        for i, g in enumerate(new)
        if isinstance(g, dict) and g.get("name") not in had
    ]


def pod_update_causes(new_spec: dict[str, Any], old_spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidatePodUpdate's rules for the spec, in its order."""
    causes: list[dict[str, str]] = []
    for field in ("containers", "initContainers"):
        found, stop = _container_update_causes(new_spec.get(field) or [], old_spec.get(field) or [], f"spec.{field}")
        causes += found
        if stop:
            return causes
    deadline, old_deadline = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if deadline is not None:
        if isinstance(deadline, int) and not 0 <= deadline <= MAX_INT32:
            return causes + [_invalid("spec.activeDeadlineSeconds", deadline, f"must be between 0 and {MAX_INT32}, inclusive")]
        if old_deadline is not None and isinstance(deadline, int) and old_deadline < deadline:
            return causes + [_invalid("spec.activeDeadlineSeconds", deadline, "must be less than or equal to previous value")]
    elif old_deadline is not None:
        causes.append(_invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    causes += _toleration_causes(new_spec.get("tolerations") or [], old_spec.get("tolerations") or [])
    causes += _scheduling_gate_causes(new_spec.get("schedulingGates") or [], old_spec.get("schedulingGates") or [])
    old_cmp = _comparable_pod_spec(old_spec)
    if _comparable_pod_spec(new_spec) == old_cmp:
        return causes
    munged = dict(new_spec)
    for field in ("containers", "initContainers"):
        olds = old_spec.get(field) or []
        if munged.get(field):
            munged[field] = [{**c, "image": olds[i].get("image")} if isinstance(c, dict) else c for i, c in enumerate(munged[field])]
    for field in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(field, None)
        if field in old_spec:
            munged[field] = old_spec[field]
    grace, old_grace = munged.get("terminationGracePeriodSeconds"), old_spec.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    munged_cmp = _comparable_pod_spec(munged)
    if munged_cmp != old_cmp:
        causes.append(_forbidden("spec", f"{POD_UPDATE_FORBIDDEN}\n{spec_diff('core.PodSpec', old_cmp, munged_cmp)}"))
    return causes


def validate_pod(request: AdmissionRequest) -> None:
    """A Pod's create or update (the main resource): on create its spec (api/pod_spec.py), then resources, then on update
    the spec's immutability."""
    obj, old = request.obj, request.old
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    causes = pod_spec_causes(spec) if old is None else []
    if old is None and spec.get("ephemeralContainers"):
        causes.append(_forbidden("spec.ephemeralContainers", "cannot be set on create"))
    causes += resource_causes(spec)
    if old is not None:
        causes += pod_update_causes(spec, old.get("spec") or {})
    if causes:
        raise invalid(v.CORE_GROUP, v.POD, obj["metadata"]["name"], causes)


def validate_ephemeral_containers(request: AdmissionRequest) -> None:
    """A write of pods/ephemeralcontainers (kubectl debug): ValidatePodEphemeralContainersUpdate (api/pod_spec.py)."""
    spec = request.obj.get("spec") if isinstance(request.obj.get("spec"), dict) else {}
    causes = ephemeral_causes(spec, (request.old or {}).get("spec") or {})
    if causes:
        raise invalid(v.CORE_GROUP, v.POD, request.obj["metadata"]["name"], causes)


# -- PersistentVolumeClaim ------------------------------------------------------------------------------------------
def _storage(spec: dict[str, Any]) -> Any:
    return ((spec.get("resources") or {}).get("requests") or {}).get("storage")


def pvc_update_causes(new: dict[str, Any], old: dict[str, Any]) -> list[dict[str, str]]:
    """ValidatePersistentVolumeClaimUpdate (with RetroactiveDefaultStorageClass and RecoverVolumeExpansionFailure on,
    as in kube-apiserver 1.33)."""
    new_spec, old_spec = dict(new.get("spec") or {}), dict(old.get("spec") or {})
    new_clone, old_clone = dict(new_spec), dict(old_spec)
    if not old_spec.get("volumeName"):  # the binder sets it once
        old_clone.pop("volumeName", None)
        if "volumeName" in new_spec:
            old_clone["volumeName"] = new_spec["volumeName"]
    old_annotations = old["metadata"].get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION not in old_annotations and old_spec.get("storageClassName") is None and new_spec.get("storageClassName"):
        new_clone.pop("storageClassName")  # a class given to a claim that had none (the retroactive default class)
    if (new.get("status") or {}).get("phase") == v.PVC_BOUND and isinstance((new_clone.get("resources") or {}).get("requests"), dict):
        requests = {**new_clone["resources"]["requests"]}
        requests.pop("storage", None)
        if _storage(old_spec) is not None:
            requests["storage"] = _storage(old_spec)
        new_clone["resources"] = {**new_clone["resources"], "requests": requests}
    for clone in (new_clone, old_clone):  # the VolumeAttributesClass gate is off: the field is dropped
        clone.pop("volumeAttributesClassName", None)
        clone["resources"] = _quantities(clone.get("resources"))
    causes = []
    old_cmp, new_cmp = semantic(old_clone), semantic(new_clone)
    if new_cmp != old_cmp:
        causes.append(_forbidden("spec", f"{PVC_SPEC_FORBIDDEN}\n{spec_diff('core.PersistentVolumeClaimSpec', old_cmp, new_cmp)}"))
    try:
        new_size, old_size = parse_quantity(_storage(new_spec) or 0), parse_quantity(_storage(old_spec) or 0)
        capacity = parse_quantity(((old.get("status") or {}).get("capacity") or {}).get("storage") or 0)
    except ValueError:
        new_size = old_size = capacity = None  # the schema names a quantity that does not parse
    if new_size is not None and new_size < old_size and new_size <= capacity:
        # lowering a request is allowed only above status.capacity: to recover from a failed expansion
        causes.append(_forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    causes += _immutable("volumeMode", new_spec.get("volumeMode"), old_spec.get("volumeMode"))  # sic: upstream's path
    return causes


def pvc_spec_causes(spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidatePersistentVolumeClaimSpec's rules that the schema cannot state: at least one access mode, ReadWriteOncePod
    alone, and a storage request above zero (a claim without one was stored, bound and charged to a quota)."""
    causes = []
    modes = spec.get("accessModes") or []
    if not modes:
        causes.append(cause("spec.accessModes", "Required value: at least 1 access mode is required", "FieldValueRequired"))
    elif v.RWOP in modes and len(modes) > 1:
        causes.append(_forbidden("spec.accessModes", f"may not use {v.RWOP} with other access modes"))
    storage = _storage(spec)
    if storage is None:
        causes.append(cause("spec.resources[storage]", "Required value", "FieldValueRequired"))
    else:
        try:
            positive = parse_quantity(storage) > 0
        except ValueError:
            positive = True  # not a quantity: the schema's error
        if not positive:
            causes.append(_invalid("spec.resources[storage]", str(storage), "must be greater than zero"))
    return causes


def validate_pvc(request: AdmissionRequest) -> None:
    """ValidatePersistentVolumeClaim on create; on update too (ValidatePersistentVolumeClaimUpdate begins with it), but
    only of a claim whose stored spec met it, so that one stored before these checks can still be bound and resized."""
    spec = request.obj.get("spec")
    if not isinstance(spec, dict):
        return
    causes = pvc_spec_causes(spec)
    if causes and request.old is not None and pvc_spec_causes(request.old.get("spec") or {}):
        return
    if causes:
        raise invalid(v.CORE_GROUP, v.PERSISTENT_VOLUME_CLAIM, request.obj["metadata"]["name"], causes)


def validate_pvc_update(request: AdmissionRequest) -> None:
    causes = pvc_update_causes(request.obj, request.old)
    if causes:
        raise invalid(v.CORE_GROUP, v.PERSISTENT_VOLUME_CLAIM, request.obj["metadata"]["name"], causes)


# -- StorageClass ---------------------------------------------------------------------------------------------------
def validate_storage_class_update(request: AdmissionRequest) -> None:
    """ValidateStorageClassUpdate."""
    new, old = request.obj, request.old
    causes = []
    if semantic(new.get("parameters") or {}) != semantic(old.get("parameters") or {}):
        causes.append(_forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        causes.append(_forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        causes.append(_forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    causes += _immutable("volumeBindingMode", new.get("volumeBindingMode"), old.get("volumeBindingMode"))
    if causes:
        raise invalid(v.STORAGE_GROUP, v.STORAGE_CLASS, new["metadata"]["name"], causes)


# -- Service --------------------------------------------------------------------------------------------------------
def _needs_node_ports(spec: dict[str, Any]) -> bool:
    kind = spec.get("type") or "ClusterIP"
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def keep_allocated(request: AdmissionRequest) -> None:
    """The Service strategy's PrepareForUpdate: patchAllocatedValues (what the update left out of the allocated
    clusterIP(s) and nodePorts is kept), then NormalizeClusterIPs (clusterIP and clusterIPs in step)."""
    new_spec, old_spec = request.obj.get("spec"), request.old.get("spec") or {}
    if not isinstance(new_spec, dict):
        return
    if (new_spec.get("type") or "ClusterIP") != "ExternalName" and (old_spec.get("type") or "ClusterIP") != "ExternalName":
        if not new_spec.get("clusterIP") and old_spec.get("clusterIP"):
            new_spec["clusterIP"] = old_spec["clusterIP"]
        if not new_spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            new_spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if _needs_node_ports(old_spec) and _needs_node_ports(new_spec) and isinstance(new_spec.get("ports"), list):
        old_ports = [p for p in old_spec.get("ports") or [] if isinstance(p, dict)]
        used = {p.get("nodePort") for p in old_ports} & {p.get("nodePort") for p in new_spec["ports"] if isinstance(p, dict)}
        by_name = {p.get("name") or "": p.get("nodePort") for p in old_ports}
        for port in new_spec["ports"]:
            if isinstance(port, dict) and not port.get("nodePort") and by_name.get(port.get("name") or "") not in (None, *used):
                port["nodePort"] = by_name[port.get("name") or ""]
    old_ip, new_ip, old_ips = old_spec.get("clusterIP") or "", new_spec.get("clusterIP") or "", old_spec.get("clusterIPs") or []
    same_ips = (new_spec.get("clusterIPs") or []) == old_ips
    if old_ips and not new_spec.get("clusterIPs") and old_ip == new_ip:
        new_spec["clusterIPs"] = list(old_ips)  # an old client's update that knows clusterIP alone
    elif old_ip != new_ip and same_ips:
        if new_ip:
            new_spec["clusterIPs"] = [new_ip]
        elif old_ip:
            new_spec.pop("clusterIPs", None)


def validate_service_ports(request: AdmissionRequest) -> None:
    """ValidateService: a Service needs ports, but a headless one (clusterIP None) or an ExternalName one."""
    spec = request.obj.get("spec")
    if not isinstance(spec, dict) or spec.get("ports"):
        return
    kind = spec.get("type") or "ClusterIP"
    headless = kind == "ClusterIP" and ((spec.get("clusterIPs") or [None])[0] or spec.get("clusterIP")) == "None"
    if kind != "ExternalName" and not headless:
        raise invalid(v.CORE_GROUP, v.SERVICE, request.obj["metadata"]["name"], [cause("spec.ports", "Required value", "FieldValueRequired")])


def validate_service_update(request: AdmissionRequest) -> None:
    """validateUpgradeDowngradeClusterIPs (single-stack: the primary address)."""
    new_spec, old_spec = request.obj.get("spec") or {}, request.old.get("spec") or {}
    if "ExternalName" in ((new_spec.get("type") or "ClusterIP"), (old_spec.get("type") or "ClusterIP")):
        return
    if old_spec.get("clusterIP") == "None" and new_spec.get("clusterIP") == "None":
        return
    new_ips, old_ips = list(new_spec.get("clusterIPs") or []), list(old_spec.get("clusterIPs") or [])
    causes = []
    if len(new_ips) == len(old_ips):
        causes += [_invalid(f"spec.clusterIPs[{i}]", None, "may not change once set", _go_strings(new_ips)) for i, ip in enumerate(old_ips) if ip != new_ips[i]]
    elif len(new_ips) < len(old_ips):
        if not new_ips:
            causes.append(_invalid("spec.clusterIPs[0]", None, "primary clusterIP can not be unset", _go_strings(new_ips)))
        elif new_ips[0] != old_ips[0]:
            causes.append(_invalid("spec.clusterIPs[0]", None, "may not change once set", _go_strings(new_ips)))
    elif old_ips and new_ips[0] != old_ips[0]:
        causes.append(_invalid("spec.clusterIPs[0]", None, "may not change once set", _go_strings(new_ips)))
    if causes:
        raise invalid(v.CORE_GROUP, v.SERVICE, request.obj["metadata"]["name"], causes)


# -- Node -----------------------------------------------------------------------------------------------------------
def _pod_cidrs(spec: dict[str, Any]) -> list[str]:
    """The node's pod CIDRs as the internal type holds them: podCIDRs, or the lone podCIDR of an old client; a podCIDR
    that disagrees with podCIDRs[0] is the first."""
    cidrs = list(spec.get("podCIDRs") or [])
    cidr = spec.get("podCIDR") or ""
    if cidr and (not cidrs or cidrs[0] != cidr):
        cidrs = [cidr] + cidrs[1:]
    return cidrs


def validate_node_update(request: AdmissionRequest) -> None:
    """ValidateNodeUpdate's spec rules: podCIDRs and providerID change only from unset."""
    new_spec, old_spec = request.obj.get("spec") or {}, request.old.get("spec") or {}
    causes = []
    old_cidrs, new_cidrs = _pod_cidrs(old_spec), _pod_cidrs(new_spec)
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            causes.append(_forbidden("spec.podCIDRs", NODE_CIDR_FORBIDDEN))
        else:
            causes += [_forbidden("spec.podCIDRs", NODE_CIDR_FORBIDDEN) for old, new in zip(old_cidrs, new_cidrs, strict=True) if old != new]
    if old_spec.get("providerID") and old_spec.get("providerID") != new_spec.get("providerID"):
        causes.append(_forbidden("spec.providerID", NODE_PROVIDER_FORBIDDEN))
    if causes:
        raise invalid(v.CORE_GROUP, v.NODE, request.obj["metadata"]["name"], causes)


def register(admission: Admission) -> None:
    admission.validate(v.CORE_GROUP, v.POD, operations=(CREATE, UPDATE))(validate_pod)
    admission.validate(v.CORE_GROUP, v.POD, operations=(UPDATE,), subresources=(EPHEMERAL,))(validate_ephemeral_containers)
    admission.validate(v.CORE_GROUP, v.PERSISTENT_VOLUME_CLAIM, operations=(CREATE, UPDATE))(validate_pvc)
    admission.validate(v.CORE_GROUP, v.PERSISTENT_VOLUME_CLAIM, operations=(UPDATE,))(validate_pvc_update)
    admission.validate(v.STORAGE_GROUP, v.STORAGE_CLASS, operations=(UPDATE,))(validate_storage_class_update)
    admission.mutate(v.CORE_GROUP, v.SERVICE, operations=(UPDATE,))(keep_allocated)
    admission.validate(v.CORE_GROUP, v.SERVICE, operations=(UPDATE,))(validate_service_update)
    admission.validate(v.CORE_GROUP, v.SERVICE, operations=(CREATE, UPDATE))(validate_service_ports)
    admission.validate(v.CORE_GROUP, v.NODE, operations=(UPDATE,))(validate_node_update)
