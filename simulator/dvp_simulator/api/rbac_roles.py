"""The virtualization module's own ClusterRoles (../shared/dvp-api/RBAC.md §3): capability roles labelled
`rbac.deckhouse.io/kind: use|manage` + `rbac.deckhouse.io/aggregate-to-virtualization-as: <level>`, and the level
roles aggregating them by those labels (each level role carries the next level's label, so the levels chain:
use viewer ⊂ user ⊂ manager ⊂ admin ⊂ superadmin, manage viewer ⊂ manager ⊂ superadmin). The level roles are
created with no rules; controllers/rbac_aggregation.py fills them, as kube-controller-manager does."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from .rbac import GROUP, READ

VZ, SUB, INTERNAL, STORAGE = v.DVP_GROUP, v.DVP_SUBRESOURCES_GROUP, v.DVP_INTERNAL_GROUP, v.DVP_STORAGE_GROUP
W = ["create", "update", "patch", "delete", "deletecollection"]
KIND, AS, ALL_AS = "rbac.deckhouse.io/kind", "rbac.deckhouse.io/aggregate-to-virtualization-as", "rbac.deckhouse.io/aggregate-to-all-as"
PROJECT_OBJECTS = [
    "virtualmachines",
    "virtualdisks",
    "virtualimages",
    "virtualdisksnapshots",
    "virtualmachinesnapshots",
    "virtualmachineblockdeviceattachments",
    "virtualmachineipaddresses",
    "virtualmachinemacaddresses",
]


def rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def _role(name: str, labels: dict[str, str], rules: list[dict[str, Any]] | None = None, select: list[dict[str, str]] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"heritage": "deckhouse", "module": "virtualization", **labels}},
        "rules": rules or [],
    }
    if select is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": s} for s in select]}
    return obj


def _use(cap: str, level: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return _role(f"d8:use:capability:virtualization:{cap}", {KIND: "use", AS: level}, rules)


def _manage(cap: str, level: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    labels = {KIND: "manage", AS: level, "rbac.deckhouse.io/level": "module", "rbac.deckhouse.io/namespace": "d8-virtualization"}
    return _role(f"d8:manage:permission:subsystem:virtualization:{cap}", labels, rules)


CAPABILITIES = [
    _use(
        "view_resources",
        "viewer",
        [
            rule([VZ], [*PROJECT_OBJECTS, "virtualmachineoperations", "virtualmachinesnapshotoperations", "usbdevices"], READ),
            rule([""], ["services", "services/status", "limitranges", "resourcequotas", "resourcequotas/status", "events"], READ),
            rule(["events.k8s.io"], ["events"], READ),
            rule(["discovery.k8s.io"], ["endpointslices"], READ),
            rule(["networking.k8s.io"], ["networkpolicies", "ingresses", "ingresses/status"], READ),
        ],
    ),
    _use("view_secrets", "user", [rule([""], ["secrets"], READ)]),
    _use("access_console", "user", [rule([SUB], ["virtualmachines/console"], ["get", "create", "update"])]),
    _use("access_remote_display", "user", [rule([SUB], ["virtualmachines/vnc"], ["get", "create", "update"])]),
    _use("forward_ports", "user", [rule([SUB], ["virtualmachines/portforward"], ["get", "create", "update"])]),
    _use("execute_virtualmachine_operations", "user", [rule([VZ], ["virtualmachineoperations"], W)]),
    _use("execute_virtualmachinesnapshot_operations", "user", [rule([VZ], ["virtualmachinesnapshotoperations"], W)]),
    _use(
        "manage_resources",
        "manager",
        [
            rule([VZ], PROJECT_OBJECTS, W),
            rule([""], ["secrets", "services", "events"], W),
            rule(["events.k8s.io"], ["events"], W),
            rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], W),
        ],
    ),
    _use("manage_limits", "admin", [rule([""], ["limitranges"], W)]),
    _use("manage_quotas", "admin", [rule([""], ["resourcequotas"], W)]),
    _use(
        "manage_internals",
        "superadmin",
        [
            rule([INTERNAL], ["internalvirtualizationvirtualmachines", "internalvirtualizationvirtualmachineinstances", "internalvirtualizationvirtualmachineinstancemigrations"], READ),
            rule([""], ["pods", "persistentvolumeclaims"], READ),
            rule(["apps"], ["controllerrevisions"], READ),
            rule(["policy"], ["poddisruptionbudgets"], READ),
            rule(["snapshot.storage.k8s.io"], ["volumesnapshots"], READ),
        ],
    ),
    _manage(
        "view_resources",
        "viewer",
        [
            rule([VZ], ["clustervirtualimages", "virtualmachineclasses", "virtualmachineipaddressleases", "virtualmachinemacaddressleases", "nodeusbdevices"], READ),
            rule(["deckhouse.io"], ["moduleconfigs"], READ, ["virtualization"]),
            rule([""], ["namespaces", "namespaces/status", "nodes"], READ),
            rule(["scheduling.k8s.io"], ["priorityclasses"], READ),
        ],
    ),
    _manage(
        "manage_resources",
        "manager",
        [
            rule([VZ], ["clustervirtualimages", "virtualmachineclasses"], W),
            rule([VZ], ["nodeusbdevices"], ["update", "patch", "delete", "deletecollection"]),
            rule(["deckhouse.io"], ["moduleconfigs"], ["create", "update", "patch", "delete"], ["virtualization"]),
            rule([""], ["namespaces", "nodes"], ["create", "update", "patch", "delete"]),
            rule([""], ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"], ["*"]),
            rule(["scheduling.k8s.io"], ["priorityclasses"], ["create", "update", "patch", "delete"]),
        ],
    ),
    _manage(
        "manage_internals",
        "superadmin",
        [
            rule([VZ], ["virtualmachineipaddressleases", "virtualmachinemacaddressleases"], ["update", "patch", "delete", "deletecollection"]),
            rule([STORAGE], ["storageprofiles"], [*READ, *W]),
            rule([INTERNAL], ["internalvirtualizationkubevirts"], [*READ, *W]),
        ],
    ),
]

USE_LEVELS = ["viewer", "user", "manager", "admin", "superadmin"]
MANAGE_LEVELS = ["viewer", "manager", "superadmin"]
MANAGE_USE_ROLE = {"viewer": "viewer", "manager": "user", "superadmin": "user"}


def level_roles() -> list[dict[str, Any]]:
    out = []
    for i, level in enumerate(USE_LEVELS):
        select = [{KIND: "use", AS: level}]
        if level == "superadmin":
            out.append(_role("d8:use:virtualization:superadmin", {KIND: "use", "rbac.deckhouse.io/aggregate-to-role": "superadmin"}, select=select))
            continue
        labels = {KIND: "use", AS: USE_LEVELS[i + 1], ALL_AS: level}
        out.append(_role(f"d8:use:role:{level}:virtualization", labels, select=select))
    for i, level in enumerate(MANAGE_LEVELS):
        labels = {KIND: "manage", ALL_AS: level, "rbac.deckhouse.io/use-role": MANAGE_USE_ROLE[level]}
        if i + 1 < len(MANAGE_LEVELS):
            labels[AS] = MANAGE_LEVELS[i + 1]
        out.append(_role(f"d8:manage:virtualization:{level}", labels, select=[{KIND: "manage", AS: level}]))
    return out


def platform_roles() -> list[dict[str, Any]]:
    return [*CAPABILITIES, *level_roles()]
