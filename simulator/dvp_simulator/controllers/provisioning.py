"""The platform's provisioning pods as the API server's admission sees them.

The simulated import of a ClusterVirtualImage, VirtualImage or VirtualDisk needs no pod (images/jobs.py moves the
data), but the platform's does: the DVCR importer (the uploader of an Upload source), in the object's namespace (a ClusterVirtualImage's in the module's),
named `d8v-<prefix>-importer-<name>-<uid>` (supplements/generator.go), with the module's provisioning requests and
limits (the controller's PROVISIONING_POD_REQUESTS / _LIMITS). A ResourceQuota that refuses that pod stops the import
(BEHAVIOUR.md §1.4: "quota exceeded creating the pod"). `importer_refusal` submits the pod as a dry run — admitted
like any pod, then neither stored nor charged — and returns the quota's refusal; a namespace without a quota costs
one lookup. Refusals for other reasons (a LimitRange the pod does not fit) are not the simulated import's concern."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.quota import PODS, QUOTAS, is_quota_error
from ..api.service import ObjectService, WriteOptions

PROVISIONING_REQUESTS = {"cpu": "100m", "memory": "60M"}
PROVISIONING_LIMITS = {"cpu": "750m", "memory": "600M"}
MANAGER = "virtualization-controller"


def importer_pod(prefix: str, name: str, namespace: str, uid: str, kind: str = "importer") -> dict:
    """The pod: an `importer`, or an `uploader` for an Upload source."""
    pod_name = f"d8v-{prefix}-{kind}-{name}-{uid}"[:253]
    return {
        "apiVersion": v.CORE_VERSION,
        "kind": v.POD,
        "metadata": {"name": pod_name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": kind, "image": f"dvcr-{kind}", "resources": {"requests": dict(PROVISIONING_REQUESTS), "limits": dict(PROVISIONING_LIMITS)}}],
        },
    }


def importer_refusal(service: ObjectService, prefix: str, name: str, namespace: str, uid: str, kind: str = "importer") -> APIError | None:
    """The quota's refusal of the importer (or uploader) pod of this import, or None when it would be admitted."""
    if not service.store.count_after(QUOTAS, namespace, None):
        return None
    rt = service.registry.types[PODS]
    try:
        service.create(rt, namespace, importer_pod(prefix, name, namespace, uid, kind), WriteOptions(version=v.CORE_VERSION, manager=MANAGER, dry_run=True))
    except APIError as error:
        return error if is_quota_error(error) else None
    return None
