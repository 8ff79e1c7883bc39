# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module_config modules' flow: a ModuleConfig from the task's options — `virtualization` with its settings
checked client-side as BEHAVIOUR.md §8 and the admin guide say (before any write), any other module's (descheduler,
log-shipper, runtime-audit-engine, ...) with `enabled`, `version` and its settings passed through as given — and the
CIDR usage module_config_info returns."""

from __future__ import annotations

import base64
import copy
import ipaddress
from typing import Any

from . import moduleconfig_rules as mr
from . import network_rules as nr
from . import vocabulary as v
from .client import FIELD_MANAGER, APIStatusError, DVPClient
from .compare import overlay
from .ensure import Ensurer, owned_paths
from .ensure import Outcome as Change
from .errors import DVPError
from .kinds import (
    MODULE_CONFIG,
    NODE,
    PERSISTENT_VOLUME_CLAIM,
    SECRET,
    STORAGE_CLASS,
    VIRTUAL_MACHINE_IP_ADDRESS,
    VIRTUAL_MACHINE_IP_ADDRESS_LEASE,
)
from .naming import snake, to_api
from .quantity import parse_quantity
from .waiter import Outcome, wait_for

CIDRS = "settings.virtual_machine_cidrs"
ALIAS = "allowed_storage_class_names"  # the admin guide's spelling of allowed_storage_class_selector.match_names
RAW = "raw_settings"  # the settings of a module other than virtualization, written as given
# The options a task may leave out, and the fields they set: left out, the server's values are kept (keep_omitted).
OMITTABLE = {
    "enabled": ("spec", "enabled"),
    "version": ("spec", "version"),
    "settings": ("spec", "settings"),
    "labels": ("metadata", "labels"),
    "annotations": ("metadata", "annotations"),
}


def settings_to_api(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """Task options → spec.settings; `allowed_storage_class_names` becomes allowedStorageClassSelector.matchNames.
    The API's acronyms (virtualMachineCIDRs, gatewayAPIGateway) are naming.camel's."""
    if settings is None:
        return None
    settings = dict(settings)
    for section in ("virtual_images", "virtual_disks"):
        part = settings.get(section)
        if part and part.get(ALIAS) is not None:
            part = {k: item for k, item in part.items() if k != ALIAS}
            part["allowed_storage_class_selector"] = {"match_names": list(settings[section][ALIAS])}
            settings[section] = part
    return to_api(settings)


def is_virtualization(params: dict[str, Any]) -> bool:
    return params["name"] == v.VIRTUALIZATION_MODULE


def option_problems(params: dict[str, Any]) -> list[str]:
    problems = []
    if is_virtualization(params) and params.get(RAW) is not None:
        problems.append(f"{RAW}: only for a module other than {v.VIRTUALIZATION_MODULE!r}; give its settings in settings")
    if not is_virtualization(params):
        if params.get("settings") is not None:
            problems.append(f"settings: the settings of the {v.VIRTUALIZATION_MODULE!r} module; give those of {params['name']!r} in {RAW}")
        return problems
    settings = params.get("settings") or {}
    for section in ("virtual_images", "virtual_disks"):
        part = settings.get(section) or {}
        if part.get(ALIAS) is not None and part.get("allowed_storage_class_selector") is not None:
            problems.append(f"settings.{section}: give allowed_storage_class_names or allowed_storage_class_selector.match_names, not both")
        for key in (ALIAS,):
            if part.get(key) is not None and (not part[key] or any(not n for n in part[key])):
                problems.append(f"settings.{section}.{key}: at least one non-empty storage class name")
    size = (((settings.get("dvcr") or {}).get("storage") or {}).get("persistent_volume_claim") or {}).get("size")
    if size is not None:
        try:
            if parse_quantity(size) <= 0:
                problems.append(f"settings.dvcr.storage.persistent_volume_claim.size: must be positive, got {size}")
        except ValueError as exc:
            problems.append(f"settings.dvcr.storage.persistent_volume_claim.size: {exc}")
    if params["state"] == "present":
        problems += nr.cidr_problems(settings.get("virtual_machine_cidrs"), CIDRS)
    return problems


def cluster_subnets(client: DVPClient) -> tuple[str | None, str | None]:
    """Pod and service subnets from Secret kube-system/d8-cluster-configuration (None, None when unreadable)."""
    import yaml  # only here; ansible brings PyYAML

    try:
        secret = client.get(SECRET, v.CLUSTER_CONFIGURATION_SECRET, v.CLUSTER_CONFIGURATION_NAMESPACE)
    except APIStatusError as err:  # a manage-role user may configure the module without reading kube-system's Secrets
        if err.status != 403:
            raise
        return None, None
    raw = ((secret or {}).get("data") or {}).get(v.CLUSTER_CONFIGURATION_KEY)
    if not raw:
        return None, None
    try:
        doc = yaml.safe_load(base64.b64decode(raw)) or {}
    except (ValueError, yaml.YAMLError):
        return None, None
    return doc.get("podSubnetCIDR"), doc.get("serviceSubnetCIDR")


def node_addresses(client: DVPClient) -> list[tuple[str, str]] | None:
    """Each node's InternalIP/ExternalIP; None when this user may not list Nodes."""
    try:
        nodes = client.list(NODE)["items"]
    except APIStatusError as err:
        if err.status != 403:
            raise
        return None
    return [
        (n["metadata"]["name"], a.get("address", ""))
        for n in nodes
        for a in (n.get("status") or {}).get("addresses") or []
        if a.get("type") in ("InternalIP", "ExternalIP")
    ]


def lease_holders(client: DVPClient, cidr: str, leases: list[dict[str, Any]]) -> list[str]:
    """Who holds an address inside `cidr`: lease → VMIP → its VM, one line each."""
    net = ipaddress.ip_network(cidr)
    out = []
    for lease in leases:
        address = nr.lease_address(lease["metadata"]["name"])
        if address is None or ipaddress.ip_address(address) not in net:
            continue
        ref = (lease.get("spec") or {}).get("virtualMachineIPAddressRef") or {}
        phase = (lease.get("status") or {}).get("phase") or "Pending"
        if not ref.get("name"):
            released = f"released from namespace {ref.get('namespace')}, kept up to 10 minutes"
            out.append(f"{address} (lease {lease['metadata']['name']}, {phase}: {released})")
            continue
        vmip = client.get(VIRTUAL_MACHINE_IP_ADDRESS, ref["name"], ref.get("namespace"))
        vm = ((vmip or {}).get("status") or {}).get("virtualMachineName")
        holder = f"VirtualMachine {ref.get('namespace')}/{vm} through " if vm else ""
        out.append(f"{address} held by {holder}VirtualMachineIPAddress {ref.get('namespace')}/{ref['name']} (lease {lease['metadata']['name']}, {phase})")
    return out


def cluster_problems(client: DVPClient, module: Any, desired_settings: dict[str, Any], actual: dict[str, Any] | None) -> list[str]:
    """The checks that need the cluster: pod/service subnets, node addresses, removed CIDRs with leases, clearing,
    DVCR shrink and storage class change, audit's modules. Missing storage classes are warnings. The settings the
    task gives are checked; clearing, removing and shrinking against the settings as the apply would leave them
    (settings_after_apply: one the task leaves out stays unless the collection alone set it)."""
    problems: list[str] = []
    cidrs = desired_settings.get("virtualMachineCIDRs")
    current = ((actual or {}).get("spec") or {}).get("settings") or {}
    after = settings_after_apply(desired_settings, actual)
    missing_dvcr = mr.dvcr_problem(after, "settings.dvcr")
    if missing_dvcr:
        problems.append(missing_dvcr)
    if cidrs:
        pod, service = cluster_subnets(client)
        if pod is None:
            secret = f"{v.CLUSTER_CONFIGURATION_NAMESPACE}/{v.CLUSTER_CONFIGURATION_SECRET}"
            module.warn(f"Secret {secret} is not readable: {CIDRS} not checked against the pod and service subnets")
        addresses = node_addresses(client)
        if addresses is None:
            module.warn(f"Nodes are not readable by this user: {CIDRS} not checked against the nodes' addresses")
        problems += nr.cidr_problems(cidrs, CIDRS, pod, service, addresses or [])
    old_cidrs = current.get("virtualMachineCIDRs") or []
    new_cidrs = after.get("virtualMachineCIDRs") or []
    if old_cidrs and not new_cidrs:
        problems.append(f"{CIDRS}: once configured, the list cannot be cleared (it holds {', '.join(old_cidrs)})")
    removed = nr.removed_cidrs(old_cidrs, new_cidrs)
    if removed:
        leases = client.list(VIRTUAL_MACHINE_IP_ADDRESS_LEASE)["items"]
        for cidr in removed:
            holders = lease_holders(client, cidr, leases)
            if holders:
                problems.append(f"{CIDRS}: {cidr} cannot be removed while addresses in it are leased: {'; '.join(holders)}")
    problems += _dvcr_problems(client, after, current)
    if (desired_settings.get("audit") or {}).get("enabled") is True:
        needed = (v.LOG_SHIPPER_MODULE, v.RUNTIME_AUDIT_ENGINE_MODULE)
        off = [m for m in needed if ((client.get(MODULE_CONFIG, m) or {}).get("spec") or {}).get("enabled") is not True]
        if off:
            problems.append(
                f"settings.audit.enabled: security event audit needs the modules {', '.join(off)} enabled "
                "(their ModuleConfigs with enabled: true), and an edition other than CE"
            )
    classes: dict[str, dict[str, Any] | None] = {}
    for where, name in _storage_classes(desired_settings):
        if name not in classes:
            classes[name] = client.get(STORAGE_CLASS, name)
        if classes[name] is None:
            module.warn(f"{where}: StorageClass {name} does not exist (the platform accepts the setting; disks and images using it are not provisioned)")
    problems += mr.image_class_problems(desired_settings, classes.get, _option_path)
    return problems


def _option_path(api_path: str) -> str:
    """An API path under spec.settings as the task's option (virtualImages.defaultStorageClassName →
    settings.virtual_images.default_storage_class_name)."""
    return ".".join(["settings"] + [snake(part) for part in api_path.split(".")])


def _dvcr_problems(client: DVPClient, desired: dict[str, Any], current: dict[str, Any]) -> list[str]:
    new = (((desired.get("dvcr") or {}).get("storage") or {}).get("persistentVolumeClaim")) or {}
    old = (((current.get("dvcr") or {}).get("storage") or {}).get("persistentVolumeClaim")) or {}
    where = "settings.dvcr.storage.persistent_volume_claim"
    problems = []
    try:
        if new.get("size") and old.get("size") and parse_quantity(new["size"]) < parse_quantity(old["size"]):
            problems.append(f"{where}.size: DVCR storage never shrinks: {new['size']} is less than the configured {old['size']}")
    except ValueError:
        pass  # reported by option_problems
    if old and new and old.get("storageClassName") != new.get("storageClassName"):
        if client.get(PERSISTENT_VOLUME_CLAIM, v.DVCR_PVC_NAME, v.MODULE_NAMESPACE) is not None:
            problems.append(
                f"{where}.storage_class_name: cannot change from {old.get('storageClassName') or '(cluster default)'} to "
                f"{new.get('storageClassName') or '(cluster default)'} once the DVCR volume {v.MODULE_NAMESPACE}/{v.DVCR_PVC_NAME} exists"
            )
    return problems


def _storage_classes(settings: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    pvc = ((settings.get("dvcr") or {}).get("storage") or {}).get("persistentVolumeClaim") or {}
    if pvc.get("storageClassName"):
        out.append(("settings.dvcr.storage.persistent_volume_claim.storage_class_name", pvc["storageClassName"]))
    for section, option in (("virtualImages", "virtual_images"), ("virtualDisks", "virtual_disks")):
        part = settings.get(section) or {}
        for key, opt in (("defaultStorageClassName", "default_storage_class_name"), ("storageClassName", "storage_class_name")):
            if part.get(key):
                out.append((f"settings.{option}.{opt}", part[key]))
        for name in (part.get("allowedStorageClassSelector") or {}).get("matchNames") or []:
            out.append((f"settings.{option}.allowed_storage_class_selector.match_names", name))
    return out


def desired_config(params: dict[str, Any], metadata: dict[str, Any], actual: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ModuleConfig the task asks for. Disabling a module that is enabled (`actual`, the server's) carries the
    annotation Deckhouse asks to confirm a disable with; Deckhouse removes it once the module is disabled, so it is
    asked for only then — asking for it again on every run would re-add it, a change each time."""
    spec: dict[str, Any] = {}
    if params.get("enabled") is not None:
        spec["enabled"] = params["enabled"]
        if params["enabled"] is False and mr.disable_needs_confirmation(actual, {"spec": {"enabled": False}}):
            metadata = {**metadata, "annotations": {**(metadata.get("annotations") or {}), v.ALLOW_DISABLING_ANNOTATION: "true"}}
    if params.get("version") is not None:
        spec["version"] = params["version"]
    settings = settings_to_api(params.get("settings")) if params.get(RAW) is None else copy.deepcopy(params[RAW])
    if settings is not None:
        spec["settings"] = settings
    return {"metadata": metadata, "spec": spec}


# -- options the task leaves out ------------------------------------------------------------------------------------
# The module writes with server-side apply, which removes what the field manager applied before and the new apply
# no longer holds. An option left out of a task (enabled, version, settings) must leave the server's value as it
# is, so what the collection applied under it is applied again, unchanged. Within a given `settings`, a setting the
# collection set before and the task no longer gives is removed (as documented).
Path = tuple[str, ...]


def _fields_paths(tree: dict[str, Any], prefix: Path = ()) -> list[Path]:
    """Leaf paths (API field names) of a FieldsV1 tree; a keyed list item or set member counts as its list."""
    paths: list[Path] = []
    for key, sub in tree.items():
        if key == ".":
            continue
        if not key.startswith("f:"):
            paths.append(prefix)
        elif sub:
            paths += _fields_paths(sub, prefix + (key[2:],))
        else:
            paths.append(prefix + (key[2:],))
    return paths


def others_paths(obj: dict[str, Any] | None) -> list[Path]:
    """Leaf paths of obj's fields some other manager holds (every managedFields entry but the collection's applies;
    the status subresource's left out): a field the collection no longer applies stays while one of them holds it."""
    out: list[Path] = []
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("subresource") or (entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply"):
            continue
        out += _fields_paths(entry.get("fieldsV1") or {})
    return out


_MISSING = object()


def _value_at(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _set_at(obj: dict[str, Any], path: Path, value: Any) -> None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[path[-1]] = value


def _remove_at(obj: dict[str, Any], path: Path) -> None:
    """Remove the field at path, and the maps it leaves empty."""
    parents = []
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            return
        parents.append((obj, part))
        obj = obj[part]
    obj.pop(path[-1], None)
    for parent, part in reversed(parents):
        if parent[part]:
            break
        del parent[part]


def _related(a: Path, b: Path) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def keep_omitted(desired: dict[str, Any], params: dict[str, Any], actual: dict[str, Any] | None) -> dict[str, Any]:
    """`desired` (desired_config's) with what the collection applied before under each option the task leaves out
    (enabled, version, settings, labels, annotations), as the server holds it, so that the apply leaves those fields
    as they are; with `enabled` left out, the allow-disabling annotation of a disabled module too. Fields others set
    are not taken over (the apply leaves them alone anyway). An option given, even empty (`settings: {}`,
    `labels: {}`), is the whole of what the collection applies under it. A new dict; `desired` is not changed."""
    if actual is None:
        return desired
    kept = [field for option, field in OMITTABLE.items() if params.get(option) is None and not (option == "settings" and params.get(RAW) is not None)]
    out = copy.deepcopy(desired)
    out.setdefault("metadata", {})
    out.setdefault("spec", {})
    mine = owned_paths(actual)
    for path in mine:
        if any(path[: len(field)] == field for field in kept):
            value = _value_at(actual, path)
            if value is not _MISSING:
                _set_at(out, path, copy.deepcopy(value))
    allow = ("metadata", "annotations", v.ALLOW_DISABLING_ANNOTATION)
    value = _value_at(actual, allow)
    if params.get("enabled") is None and _value_at(actual, ("spec", "enabled")) is False and allow in mine and value is not _MISSING:
        out["metadata"].setdefault("annotations", {}).setdefault(v.ALLOW_DISABLING_ANNOTATION, value)
    return out


def settings_after_apply(desired_settings: dict[str, Any], actual: dict[str, Any] | None) -> dict[str, Any]:
    """spec.settings as the server would hold it after applying `desired_settings` (API form) over `actual`: the
    settings the collection applied before and the task no longer gives are removed unless another manager holds
    them too; the task's settings replace the server's (maps merged, lists replaced)."""
    current = copy.deepcopy(((actual or {}).get("spec") or {}).get("settings") or {})
    prefix = ("spec", "settings")
    others = [p[2:] for p in others_paths(actual) if p[:2] == prefix and len(p) > 2]
    for path in owned_paths(actual) if actual else []:
        if path[:2] != prefix or len(path) < 3:
            continue
        rest = path[2:]
        if _value_at(desired_settings, rest) is not _MISSING or any(_related(rest, o) for o in others):
            continue
        _remove_at(current, rest)
    return overlay(current, desired_settings or {})


def ensure_config(module: Any, client: DVPClient, ensurer: Ensurer, metadata: dict[str, Any]) -> dict[str, Any]:
    p = module.params
    if p["state"] == "absent":
        return remove_config(module, client, ensurer)
    actual = client.get(MODULE_CONFIG, p["name"])
    desired = keep_omitted(desired_config(p, metadata, actual), p, actual)
    if is_virtualization(p) and p.get("settings") is not None:  # settings left out are left as they are: nothing to check
        problems = cluster_problems(client, module, desired["spec"].get("settings") or {}, actual)
        if problems:
            raise DVPError("; ".join(problems), problems=problems)
    outcome = ensurer.present(MODULE_CONFIG, desired, force_conflicts=p["force_conflicts"])
    result = outcome.result(module._diff)
    result["cidrs"] = cidr_usage(client, outcome.resource)
    return result


def remove_config(module: Any, client: DVPClient, ensurer: Ensurer) -> dict[str, Any]:
    """Delete the ModuleConfig. Deleting the config of an enabled module disables it, which Deckhouse has confirmed
    with the allow-disabling annotation, as `enabled=false` does: the annotation first, then the deletion. In check
    mode such a config is reported as to be deleted without the server's dry run (which would refuse the unconfirmed
    deletion)."""
    p = module.params
    actual = client.get(MODULE_CONFIG, p["name"])
    if mr.disable_needs_confirmation(actual, None) and not mr.disable_confirmed(actual):
        if module.check_mode:
            return Change(True, actual, actual, None).result(module._diff)
        client.patch(MODULE_CONFIG, p["name"], {"metadata": {"annotations": {v.ALLOW_DISABLING_ANNOTATION: "true"}}})
    return ensurer.absent(MODULE_CONFIG, p["name"], None, wait=p["wait"], wait_timeout=p["wait_timeout"]).result(module._diff)


def cidr_usage(client: DVPClient, config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per configured CIDR: usable addresses (first and last never assigned) and the leases inside, by phase."""
    cidrs = (((config or {}).get("spec") or {}).get("settings") or {}).get("virtualMachineCIDRs") or []
    if not cidrs:
        return []
    leases = client.list(VIRTUAL_MACHINE_IP_ADDRESS_LEASE)["items"]
    out = []
    for cidr in cidrs:
        try:
            net = nr.parse_cidr(cidr)
        except ValueError:
            out.append({"cidr": cidr, "valid": False})
            continue
        inside = [lease for lease in leases if (nr.cidr_of(nr.lease_address(lease["metadata"]["name"]) or "", [cidr]) is not None)]
        released = sum(1 for lease in inside if (lease.get("status") or {}).get("phase") == v.IP_RELEASED)
        usable = max(0, net.num_addresses - 2) if net.prefixlen < 31 else 0
        out.append(
            {
                "cidr": str(net),
                "valid": True,
                "usable": usable,
                "leased": len(inside) - released,
                "released": released,
                "free": max(0, usable - len(inside)),
                "addresses": sorted((nr.lease_address(lease["metadata"]["name"]) for lease in inside), key=ipaddress.ip_address),
            }
        )
    return out


def config_info(module: Any, client: DVPClient) -> dict[str, Any]:
    p = module.params
    if p.get("wait"):
        config = wait_for(client, MODULE_CONFIG, p["name"], None, _exists, p["wait_timeout"])
    else:
        config = client.get(MODULE_CONFIG, p["name"])
    pod, service = cluster_subnets(client)
    return {"changed": False, "resource": config or {}, "cidrs": cidr_usage(client, config), "pod_subnet": pod, "service_subnet": service}


def _exists(obj: dict[str, Any] | None) -> Outcome:
    return Outcome(done=obj is not None)
