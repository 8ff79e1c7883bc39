"""The VirtualDisk and VirtualImage validating webhooks (BEHAVIOUR.md §2.1, §2.2), enforcing the collection's
`storage_rules` (the modules check the same functions before they write):

* both: a name with "." refused on CREATE; a Terminating object's spec is frozen; spec checks only when the
  generation changes;
* VirtualDisk: size > 0, a size for a blank disk, grow-only once provisioned (never removed), dataSource frozen
  once Ready, an explicit class must exist and not be deprecated on CREATE and while Pending; a size smaller than the
  image or an ISO source only warns (the disk then fails); a class change after provisioning is a storage migration
  (`storage_rules.migration_problems`: EE only, the disk mounted by a Running or Migrating VM, an existing class of
  the same volume mode; while the disk migrates only the rollback to its source claim's class), judged over the
  mounted VM, the classes and the source claim read by key (controllers/volume_migration.py carries it out);
* VirtualImage: dataSource and class frozen once Ready; with PVC storage an explicit class must exist, not be
  deprecated and offer a claim property set, and without one a default (module, else cluster) must resolve.
Refusals read "admission webhook … denied the request: …" as on the platform.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import (
    MigrationContext,
    disk_problems,
    image_problems,
    is_deprecated,
    migration_unfinished,
    mounted_vm,
    on_pvc,
    profile,
    required_size,
    to_bytes,
)

from ..api.admission import Admission, AdmissionRequest
from ..api.webhook_configs import Denial
from ..controllers.volume_lifecycle import resolve_class
from . import registrations

CLASSES = v.resource_key(v.STORAGE_CLASS)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
CLAIMS = v.resource_key(v.PERSISTENT_VOLUME_CLAIM)


def _class(request: AdmissionRequest, name: str) -> dict[str, Any] | None:
    entry = request.service.store.get(CLASSES, "", name)
    return entry.obj if entry else None


def _explicit_class_problem(request: AdmissionRequest, name: str, need_profile: bool) -> str | None:
    sc = _class(request, name)
    if sc is None:
        return f"spec.persistentVolumeClaim.storageClassName: the StorageClass {name!r} does not exist"
    if is_deprecated(sc):
        return f"spec.persistentVolumeClaim.storageClassName: the StorageClass {name!r} is deprecated ({v.DEPRECATED_SC_LABEL}={v.DEPRECATED_SC_VALUE}); use another class"
    if need_profile and not profile(sc).usable:
        return f"spec.persistentVolumeClaim.storageClassName: the StorageClass {name!r} offers no volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany"
    return None


def _migration(request: AdmissionRequest, edition: str) -> MigrationContext | None:
    """What the storage-migration rule reads (None unless the class of a stored disk changes): the VM mounting the
    disk, the disk's class and the new one, while it migrates its source claim's class. All by key."""
    old, obj = request.old, request.obj
    if old is None or ((obj.get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName") == (
        (old.get("spec") or {}).get("persistentVolumeClaim") or {}
    ).get("storageClassName"):
        return None
    store, namespace = request.service.store, old["metadata"].get("namespace", "")
    status = old.get("status") or {}
    vm_name = mounted_vm(old)
    vm = store.get(VMS, namespace, vm_name) if vm_name else None
    rollback = ""
    if migration_unfinished(old):
        source = store.get(CLAIMS, namespace, (status.get("migrationState") or {}).get("sourcePVC") or "")
        rollback = ((source.obj.get("spec") or {}).get("storageClassName") or "") if source else ""
    return MigrationContext(
        edition=edition,
        vm_phase=((vm.obj.get("status") or {}).get("phase") or v.VM_PENDING) if vm else None,
        source_class=_class(request, status.get("storageClassName") or ""),
        target_class=_class(request, ((obj.get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName") or ""),
        rollback_class=rollback,
    )


def _source_image(request: AdmissionRequest, obj: dict[str, Any]) -> dict[str, Any] | None:
    ref = ((obj.get("spec") or {}).get("dataSource") or {}).get("objectRef") or {}
    kind = ref.get("kind")
    if kind not in (v.CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE):
        return None
    namespace = "" if kind == v.CLUSTER_VIRTUAL_IMAGE else obj["metadata"].get("namespace", "")
    entry = request.service.store.get(v.resource_key(kind), namespace, ref.get("name", ""))
    return entry.obj if entry else None


def register(admission: Admission, edition: str | None = None) -> None:
    """`edition`: the cluster's Deckhouse edition (the topology's `cluster.edition`; EE when not given)."""
    edition = edition or v.EDITION_EE

    @registrations.serve(admission, "vd")
    def validate_disk(request: AdmissionRequest) -> None:
        if request.subresource:
            return
        obj = request.obj
        problems, warnings = disk_problems(obj, request.old, request.generation_changed, _migration(request, edition))
        pending = request.old is None or ((request.old.get("status") or {}).get("phase") or v.PENDING) == v.PENDING
        name = ((obj.get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName")
        if name and pending and request.generation_changed:
            problem = _explicit_class_problem(request, name, need_profile=False)
            if problem:
                problems.append(problem)
        if problems:
            raise Denial("; ".join(problems))
        image = _source_image(request, obj)
        status = (image or {}).get("status") or {}
        if image is not None and request.generation_changed:
            if status.get("cdrom"):
                warnings.append("spec.dataSource: the image is an ISO; a disk cannot be created from it (the disk will fail)")
            size = to_bytes(((obj.get("spec") or {}).get("persistentVolumeClaim") or {}).get("size"))
            unpacked = (status.get("size") or {}).get("unpackedBytes")
            if size is not None and unpacked and size < required_size(unpacked):
                warnings.append(f"spec.persistentVolumeClaim.size: smaller than the {required_size(unpacked)} bytes the image needs (the disk will fail)")
        request.warnings.extend(warnings)

    @registrations.serve(admission, "vi")
    def validate_image(request: AdmissionRequest) -> None:
        if request.subresource:
            return
        obj = request.obj
        problems, warnings = image_problems(obj, request.old, request.generation_changed)
        pending = request.old is None or ((request.old.get("status") or {}).get("phase") or v.PENDING) == v.PENDING
        if on_pvc(obj) and pending and request.generation_changed:
            name = ((obj.get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName")
            if name:
                problem = _explicit_class_problem(request, name, need_profile=True)
            else:
                resolution = resolve_class(request.service, "virtualImages", None)
                problem = None if resolution.ready else f"spec.persistentVolumeClaim.storageClassName: not given and {resolution.problem}"
            if problem:
                problems.append(problem)
        if problems:
            raise Denial("; ".join(problems))
        request.warnings.extend(warnings)
