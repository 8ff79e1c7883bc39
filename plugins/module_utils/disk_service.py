# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""virtual_disk and virtual_image: the desired object, the checks made before any write (with the rules of
storage_rules, the ones the platform's webhooks and controllers apply), the guard of in-place changes and the
summaries the modules return. The flow itself (apply, upload, wait, delete) is image_service's."""

from __future__ import annotations

from typing import Any

from . import vocabulary as v
from .client import DVPClient
from .ensure import unchanged
from .errors import DVPError
from .images import desired_cluster_image, summary, users
from .kinds import CLUSTER_VIRTUAL_IMAGE, MODULE_CONFIG, STORAGE_CLASS, VIRTUAL_IMAGE, Kind
from .storage_rules import class_problem, disk_problems, image_problems, mib_quantity, on_pvc, required_size, settings_of, to_bytes
from .waiter import phase_in

DISK_READY = phase_in((v.READY,))
DISK_READY_OR_WAITING = phase_in((v.READY, v.WAIT_FOR_FIRST_CONSUMER))  # a WaitForFirstConsumer disk is done: a VM binds it
IMAGE_READY = phase_in((v.READY,))
IMAGE_SOURCES = {v.CLUSTER_VIRTUAL_IMAGE: CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE: VIRTUAL_IMAGE}


def pvc_params(params: dict[str, Any]) -> dict[str, Any]:
    return params.get("persistent_volume_claim") or {}


def desired_disk(params: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if params.get("data_source"):
        spec = desired_cluster_image(params, metadata)["spec"]
    pvc = {k: val for k, val in (("size", pvc_params(params).get("size")), ("storageClassName", pvc_params(params).get("storage_class_name"))) if val}
    if pvc:
        spec["persistentVolumeClaim"] = pvc
    return {"metadata": metadata, "spec": spec}


def desired_image(params: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    desired = desired_cluster_image(params, metadata)
    desired["spec"]["storage"] = params.get("storage") or v.STORAGE_CONTAINER_REGISTRY
    if pvc_params(params).get("storage_class_name"):
        desired["spec"]["persistentVolumeClaim"] = {"storageClassName": pvc_params(params)["storage_class_name"]}
    return desired


def disk_param_problems(params: dict[str, Any]) -> list[str]:
    """Option problems needing no request: a blank disk without size, a size that is no quantity or not > 0."""
    if params.get("state") == "absent":
        return []
    problems = []
    size = pvc_params(params).get("size")
    if size is not None:
        count = to_bytes(size)
        if count is None:
            problems.append(f"persistent_volume_claim.size: {size!r} is not a size (a quantity such as 10Gi)")
        elif count <= 0:
            problems.append("persistent_volume_claim.size: must be greater than 0")
    elif not params.get("data_source"):
        problems.append("persistent_volume_claim.size: required for a blank disk (no data_source)")
    return problems


def _module_config(client: DVPClient) -> dict[str, Any] | None:
    return client.get(MODULE_CONFIG, v.VIRTUALIZATION_MODULE)


def class_check(client: DVPClient, name: str | None, section: str) -> list[str]:
    """An explicit storage class must be allowed by the ModuleConfig, exist and not be deprecated (§2.4)."""
    if not name:
        return []
    problem = class_problem(name, client.get(STORAGE_CLASS, name), settings_of(_module_config(client), section))
    return [f"persistent_volume_claim.storage_class_name: {problem}"] if problem else []


def image_size_check(client: DVPClient, params: dict[str, Any], namespace: str) -> list[str]:
    """A disk from an image must hold the image: its size is at least the image's unpacked size (a MiB multiple)."""
    ref = (params.get("data_source") or {}).get("object_ref") or {}
    kind = IMAGE_SOURCES.get(ref.get("kind") or "")
    size = to_bytes(pvc_params(params).get("size"))
    if kind is None or size is None:
        return []
    image = client.get(kind, ref["name"], namespace if kind.namespaced else None)
    status = (image or {}).get("status") or {}
    problems = []
    if status.get("cdrom"):
        problems.append(f"data_source.object_ref: the {ref['kind']} {ref['name']} is an ISO image; a disk cannot be created from it")
    unpacked = (status.get("size") or {}).get("unpackedBytes")
    if unpacked and size < required_size(unpacked):
        problems.append(
            f"persistent_volume_claim.size: {pvc_params(params)['size']} is smaller than the {ref['kind']} {ref['name']} "
            f"(unpacked {mib_quantity(required_size(unpacked))}); give at least that or leave the size out"
        )
    return problems


def rule_problems(problems: list[str]) -> list[str]:
    """The rules' API field names as the module's options."""
    names = (("spec.persistentVolumeClaim.storageClassName", "persistent_volume_claim.storage_class_name"),
             ("spec.persistentVolumeClaim.size", "persistent_volume_claim.size"), ("spec.dataSource", "data_source"))  # fmt: skip
    out = []
    for problem in problems:
        for api, option in names:
            problem = problem.replace(api, option)
        out.append(problem)
    return out


def pre_write_checks(client: DVPClient, kind: Kind, params: dict[str, Any], desired: dict[str, Any], current: dict[str, Any] | None) -> list[str]:
    """What would be refused or fail, checked against the server's current state (`current`: the object as just read,
    None when it does not exist) before anything is written. An object already as declared is not written, so it
    needs no check (an idempotent re-run reads the object alone)."""
    namespace = params["namespace"]
    if unchanged(desired, current):
        return []
    is_disk = kind.kind == v.VIRTUAL_DISK
    problems: list[str] = []
    if current is not None:
        found = (disk_problems if is_disk else image_problems)(desired, current)[0]
        frozen = [p for p in found if p.startswith("spec.dataSource")]
        others = [p for p in found if p not in frozen]
        problems += rule_problems(others)
        if frozen and not params.get("recreate"):
            problems += [f"{p}; set recreate=true to delete and re-create it" for p in rule_problems(frozen)]
        elif frozen and users(current):
            problems.append(f"data_source: {kind.describe(params['name'], namespace)} is in use by {', '.join(users(current))}; it cannot be re-created")
    phase = ((current or {}).get("status") or {}).get("phase") or v.PENDING
    if current is None or phase == v.PENDING:
        if is_disk:
            problems += class_check(client, pvc_params(params).get("storage_class_name"), "virtualDisks")
        elif on_pvc(desired):
            problems += class_check(client, pvc_params(params).get("storage_class_name"), "virtualImages")
    if is_disk:
        problems += image_size_check(client, params, namespace)
    return problems


def frozen_guard(kind: Kind):
    """Spec changes the platform refuses in place: a source change of a Ready object asks for re-creation;
    the other refusals were reported by pre_write_checks before anything was sent."""
    rules = disk_problems if kind.kind == v.VIRTUAL_DISK else image_problems

    def guard(actual: dict[str, Any], desired: dict[str, Any], changed: list[str]) -> str | None:
        found = rules({**desired, "metadata": actual["metadata"]}, actual)[0]
        if any(p.startswith("spec.dataSource") for p in found):
            return "recreate"
        if found:
            raise DVPError(f"{kind.describe(actual['metadata']['name'], actual['metadata'].get('namespace'))}: " + "; ".join(rule_problems(found)))
        return None

    return guard


def disk_summary(obj: dict[str, Any] | None) -> dict[str, Any]:
    status = (obj or {}).get("status") or {}
    urls = status.get("imageUploadURLs") or {}
    return {
        "phase": status.get("phase"),
        "progress": status.get("progress"),
        "capacity": status.get("capacity"),
        "storage_class_name": status.get("storageClassName"),
        "persistent_volume_claim_name": (status.get("target") or {}).get("persistentVolumeClaimName"),
        "attached_to_virtual_machines": status.get("attachedToVirtualMachines") or [],
        "upload_urls": {"external": urls.get("external"), "in_cluster": urls.get("inCluster")},
        "conditions": status.get("conditions") or [],
    }


def image_summary(obj: dict[str, Any] | None) -> dict[str, Any]:
    status = (obj or {}).get("status") or {}
    return {
        **summary(obj),
        "storage_class_name": status.get("storageClassName"),
        "persistent_volume_claim_name": (status.get("target") or {}).get("persistentVolumeClaimName"),
    }
