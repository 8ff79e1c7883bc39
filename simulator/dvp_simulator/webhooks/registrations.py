"""The virtualization module's webhook registrations (BEHAVIOUR.md §0 "Webhook registrations"): the
ValidatingWebhookConfiguration `virtualization-controller-admission-webhook` and the MutatingWebhookConfiguration
`virtualization-controller-defaulter-webhook`, as the module's Helm templates make them
(templates/virtualization-controller/validation-webhook.yaml and mutating-webhook.yaml), pointing at the
virtualization-controller's webhook server, where the simulator serves the same paths (webhooks/*.py, through
`Admission.serve`).

`seed` makes both at start when they are missing, as Deckhouse installs the module's release; a configuration an
admin edited is left as it is (a restart is not a Helm upgrade here). Webhooks of kinds the simulator does not serve
(block device attachments, CPU models, snapshots, restores) are registered all the same, as on a cluster: their rules
match no request here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, UPDATE, Admission

if TYPE_CHECKING:
    from ..api.service import ObjectService

NAMESPACE = v.MODULE_NAMESPACE
SERVICE = "virtualization-controller"  # its Service: the controller's webhook server listens behind it
VALIDATING_CONFIGURATION = "virtualization-controller-admission-webhook"
MUTATING_CONFIGURATION = "virtualization-controller-defaulter-webhook"
MANAGER = "deckhouse"
LABELS = {"heritage": "deckhouse", "module": "virtualization", "app": "virtualization-controller"}


def path(verb: str, group: str, version: str, kind: str) -> str:
    """controller-runtime's webhook path: /validate-<group with dashes>-<version>-<kind in lower case>."""
    return f"/{verb}-{group.replace('.', '-')}-{version}-{kind.lower()}"


def name(short: str, verb: str = "validate") -> str:
    return f"{short}.virtualization-controller.{verb}.d8-virtualization"


# (short name, group, version, kind, plural, operations, scope, extra fields of the webhook) in the template's order
_VALIDATING: list[tuple[str, str, str, str, str, tuple[str, ...], str, dict[str, Any]]] = [
    ("vm", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachine", "virtualmachines", (CREATE, UPDATE), "Namespaced", {}),
    ("vd", v.DVP_GROUP, v.V1ALPHA2, "VirtualDisk", "virtualdisks", (CREATE, UPDATE), "Namespaced", {}),
    ("vi", v.DVP_GROUP, v.V1ALPHA2, "VirtualImage", "virtualimages", (CREATE, UPDATE), "Namespaced", {}),
    ("cvi", v.DVP_GROUP, v.V1ALPHA2, "ClusterVirtualImage", "clustervirtualimages", (CREATE, UPDATE), "Cluster", {}),
    ("vmbda", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineBlockDeviceAttachment", "virtualmachineblockdeviceattachments", (CREATE, UPDATE), "Namespaced", {}),
    ("vmcpu", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineCPUModel", "virtualmachinecpumodels", (UPDATE,), "Cluster", {}),
    ("vmip", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineIPAddress", "virtualmachineipaddresses", (CREATE, UPDATE), "Namespaced", {}),
    ("vmipl", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineIPAddressLease", "virtualmachineipaddressleases", (CREATE,), "Cluster", {}),
    ("vmop", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineOperation", "virtualmachineoperations", (CREATE,), "Namespaced", {}),
    ("vdsnapshot", v.DVP_GROUP, v.V1ALPHA2, "VirtualDiskSnapshot", "virtualdisksnapshots", (UPDATE,), "Namespaced", {}),
    ("vmsnapshot", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineSnapshot", "virtualmachinesnapshots", (UPDATE,), "Namespaced", {}),
    ("vmrestore", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineRestore", "virtualmachinerestores", (CREATE, UPDATE), "Namespaced", {}),
    ("vmclass-v1alpha2", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachineClass", "virtualmachineclasses", (CREATE, UPDATE), "Cluster", {"matchPolicy": "Exact"}),
    ("vmclass-v1alpha3", v.DVP_GROUP, v.V1ALPHA3, "VirtualMachineClass", "virtualmachineclasses", (CREATE, UPDATE), "Cluster", {"matchPolicy": "Exact"}),
    (
        "moduleconfig", v.DECKHOUSE_GROUP, v.MODULE_CONFIG_VERSION, "ModuleConfig", "moduleconfigs", (UPDATE,), "Cluster",
        {"matchConditions": [{"name": "match-virtualization", "expression": f'request.name == "{v.VIRTUALIZATION_MODULE}"'}]},
    ),
]  # fmt: skip
_MUTATING = [("vm", v.DVP_GROUP, v.V1ALPHA2, "VirtualMachine", "virtualmachines", (CREATE, UPDATE), "Namespaced", {})]


def endpoint(short: str, verb: str = "validate") -> str:
    """The path the webhook `short` (vm, vd, …) is served at."""
    table = _MUTATING if verb == "mutate" else _VALIDATING
    for entry in table:
        if entry[0] == short:
            return path(verb, entry[1], entry[2], entry[3])
    raise KeyError(short)


def serve(admission: Admission, short: str, verb: str = "validate", operations: tuple[str, ...] = (CREATE, UPDATE)):
    """Decorator serving a webhook of the virtualization-controller at its path (`endpoint`), for `operations`."""
    return admission.serve(NAMESPACE, SERVICE, endpoint(short, verb), mutating=verb == "mutate", operations=operations)


def _webhook(entry: tuple[str, str, str, str, str, tuple[str, ...], str, dict[str, Any]], verb: str) -> dict[str, Any]:
    short, group, version, kind, plural, operations, scope, extra = entry
    return {
        # the template names the mutating one `…validate…` too
        "name": name(short),
        "rules": [{"apiGroups": [group], "apiVersions": [version], "operations": list(operations), "resources": [plural], "scope": scope}],
        "clientConfig": {"service": {"namespace": NAMESPACE, "name": SERVICE, "path": path(verb, group, version, kind), "port": 443}},
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        **extra,
    }


def configurations() -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of both configurations."""
    return [
        (
            v.VALIDATING_WEBHOOK_CONFIGURATION,
            {"metadata": {"name": VALIDATING_CONFIGURATION, "labels": dict(LABELS)}, "webhooks": [_webhook(e, "validate") for e in _VALIDATING]},
        ),
        (
            v.MUTATING_WEBHOOK_CONFIGURATION,
            {"metadata": {"name": MUTATING_CONFIGURATION, "labels": dict(LABELS)}, "webhooks": [_webhook(e, "mutate") for e in _MUTATING]},
        ),
    ]


def seed(service: ObjectService) -> None:
    from ..api.service import WriteOptions

    for kind, body in configurations():
        rt = service.registry.types[v.resource_key(kind)]
        if service.find(rt, "", body["metadata"]["name"]) is None:
            service.create(rt, "", body, WriteOptions(version="v1", manager=MANAGER))
