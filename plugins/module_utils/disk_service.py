# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""virtual_disk and virtual_image: the desired object, the checks made before any write (with the rules of
storage_rules, the ones the platform's webhooks and controllers apply), the guard of in-place changes and the
summaries the modules return. virtual_disk's flow is ensure_disk: these checks, then image_service's (apply, upload,
wait, delete)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import vocabulary as v
from .client import APIStatusError, DVPClient
from .ensure import Ensurer, unchanged
from .errors import DVPError
from .image_service import ensure_image
from .images import desired_cluster_image, keep_storage_spelling, summary, users
from .kinds import (
    CLUSTER_VIRTUAL_IMAGE,
    MODULE_CONFIG,
    PERSISTENT_VOLUME_CLAIM,
    SECRET,
    STORAGE_CLASS,
    VIRTUAL_DISK,
    VIRTUAL_DISK_SNAPSHOT,
    VIRTUAL_IMAGE,
    VIRTUAL_MACHINE,
    Kind,
)
from .references import References
from .storage_rules import (
    DISK_PROVISIONING_PHASES,
    MigrationContext,
    class_problem,
    disk_problems,
    image_problems,
    mib_quantity,
    migration_round,
    migration_unfinished,
    mounted_vm,
    on_pvc,
    required_size,
    settings_of,
    to_bytes,
)
from .waiter import Outcome, Predicate, phase_in, task_waits

DISK_READY = phase_in((v.READY,))
DISK_READY_OR_WAITING = phase_in((v.READY, v.WAIT_FOR_FIRST_CONSUMER))  # a WaitForFirstConsumer disk is done: a VM binds it
IMAGE_READY = phase_in((v.READY,))
IMAGE_SOURCES = {v.CLUSTER_VIRTUAL_IMAGE: CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE: VIRTUAL_IMAGE}
# (the kind of the disk or image, its data_source.object_ref.kind) -> (the referenced kind, the DatasourceReady reason
# while that object does not exist): a disk's are the *NotFound reasons (§2.2, a snapshot's its NotReady one); an
# image's the NotReady ones (§1.4: the CVI controller tells no missing object from an unready one, nor does the VI's).
SOURCE_OBJECTS = {
    (v.VIRTUAL_DISK, v.CLUSTER_VIRTUAL_IMAGE): (CLUSTER_VIRTUAL_IMAGE, v.REASON_CLUSTER_IMAGE_NOT_FOUND),
    (v.VIRTUAL_DISK, v.VIRTUAL_IMAGE): (VIRTUAL_IMAGE, v.REASON_IMAGE_NOT_FOUND),
    (v.VIRTUAL_DISK, v.VIRTUAL_DISK_SNAPSHOT): (VIRTUAL_DISK_SNAPSHOT, v.REASON_SNAPSHOT_NOT_READY),
    **{
        (image, kind): (obj, reason)
        for image in (v.VIRTUAL_IMAGE, v.CLUSTER_VIRTUAL_IMAGE)
        for kind, obj, reason in (
            (v.CLUSTER_VIRTUAL_IMAGE, CLUSTER_VIRTUAL_IMAGE, v.REASON_CLUSTER_IMAGE_NOT_READY),
            (v.VIRTUAL_IMAGE, VIRTUAL_IMAGE, v.REASON_IMAGE_NOT_READY),
            (v.VIRTUAL_DISK, VIRTUAL_DISK, v.REASON_DISK_NOT_READY),
            (v.VIRTUAL_DISK_SNAPSHOT, VIRTUAL_DISK_SNAPSHOT, v.REASON_SNAPSHOT_NOT_READY),
        )
    },
}


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


def class_check(client: DVPClient, name: str | None, section: str, refs: References) -> list[str]:
    """An explicit storage class must be allowed by the ModuleConfig, exist and not be deprecated (§2.4). One that does
    not exist is, in check mode, a reference not verified (refs)."""
    if not name:
        return []
    sc = client.get(STORAGE_CLASS, name)
    settings = settings_of(_module_config(client), section)
    if sc is None and settings.allows(name) and refs.missing(f"persistent_volume_claim.storage_class_name: StorageClass {name} does not exist"):
        return []
    problem = class_problem(name, sc, settings)
    return [f"persistent_volume_claim.storage_class_name: {problem}"] if problem else []


# -- storage migration (EE, BEHAVIOUR.md §2.2) ----------------------------------------------------------------------
def _class_name(obj: dict[str, Any] | None) -> str:
    return (((obj or {}).get("spec") or {}).get("persistentVolumeClaim") or {}).get("storageClassName") or ""


def _disk_class(obj: dict[str, Any] | None) -> str:
    """The class the disk is on (status.storageClassName)."""
    return ((obj or {}).get("status") or {}).get("storageClassName") or ""


def migrates(desired: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """The task moves a provisioned disk to another class: a storage migration."""
    phase = ((current or {}).get("status") or {}).get("phase") or ""
    new = _class_name(desired)
    return current is not None and phase not in DISK_PROVISIONING_PHASES and bool(new) and new != _class_name(current) and new != _disk_class(current)


def migration_context(client: DVPClient, desired: dict[str, Any], current: dict[str, Any], refs: References) -> MigrationContext:
    """What storage_rules.migration_problems reads, from the server: the VM mounting the disk, the disk's class and the
    new one, while it migrates its source claim's class. The edition is not known to a client: the platform judges it
    (its webhook refuses a migration on CE, and the module reports that refusal naming the option)."""
    namespace = current["metadata"].get("namespace")
    vm_name = mounted_vm(current)
    vm = client.get(VIRTUAL_MACHINE, vm_name, namespace) if vm_name else None
    new = _class_name(desired)
    target = client.get(STORAGE_CLASS, new) if new else None
    known = target is not None or not refs.missing(f"persistent_volume_claim.storage_class_name: StorageClass {new} does not exist")
    rollback = ""
    if migration_unfinished(current):
        source = ((current.get("status") or {}).get("migrationState") or {}).get("sourcePVC")
        rollback = _class_name(client.get(PERSISTENT_VOLUME_CLAIM, source, namespace)) if source else ""
    return MigrationContext(
        vm_phase=((vm.get("status") or {}).get("phase") or v.VM_PENDING) if vm else None,
        source_class=client.get(STORAGE_CLASS, _disk_class(current)) if _disk_class(current) else None,
        target_class=target,
        target_known=known,
        rollback_class=rollback,
    )


def storage_migration(target: str, before: tuple[str, str, str, str], back_to: str) -> Predicate:
    """Waiting for a storage migration to `target`: done once the disk is Ready on that class with no migration under
    way; failed when a migration that was not the last one before the change (`before`, storage_rules.migration_round)
    ended Failed - with the platform's reason."""
    ready = DISK_READY

    def check(obj: dict[str, Any] | None) -> Outcome:
        if obj is None:
            return Outcome(failed=True, message="the object was deleted while waiting")
        state = (obj.get("status") or {}).get("migrationState") or {}
        if migration_round(obj) != before and state.get("result") == v.MIGRATION_FAILED:
            message = f"the storage migration to the class {target!r} failed: {state.get('message') or 'no message'}"
            if (state.get("message") or "").startswith("Migration reverted"):
                message += (f" While the disk's class differs the platform tries again after a growing delay (5 s, 10 s, ... at most 300 s); "
                            f"set persistent_volume_claim.storage_class_name back to {back_to!r} to stop it")  # fmt: skip
            return Outcome(failed=True, message=message)
        if _disk_class(obj) == target and not migration_unfinished(obj):
            return ready(obj)
        return Outcome()

    return check


def settled(name: str) -> Predicate:
    """Waiting for a disk whose class was set to the one it is on (a rollback): no migration under way, Ready there."""
    ready = DISK_READY_OR_WAITING

    def check(obj: dict[str, Any] | None) -> Outcome:
        if obj is not None and (migration_unfinished(obj) or _disk_class(obj) != name):
            return Outcome()
        return ready(obj)

    return check


def disk_wait(desired: dict[str, Any] | None, current: dict[str, Any] | None) -> Predicate:
    """What virtual_disk waits for: Ready (or WaitForFirstConsumer); a storage migration's end while the declared class
    of a provisioned disk is not the one it is on; the end of the one under way after the class is set back to the
    disk's."""
    if desired is None or current is None:
        return DISK_READY_OR_WAITING
    provisioned = ((current.get("status") or {}).get("phase") or "") not in DISK_PROVISIONING_PHASES
    if provisioned and _class_name(desired) and _disk_class(current) and _class_name(desired) != _disk_class(current):  # asked now, or by an earlier run
        return storage_migration(_class_name(desired), migration_round(current), _disk_class(current))
    if _class_name(desired) != _class_name(current) and _class_name(desired) == _disk_class(current):
        return settled(_disk_class(current))
    return DISK_READY_OR_WAITING


def _read(client: DVPClient, kind: Kind, name: str, namespace: str | None) -> tuple[bool, dict[str, Any] | None]:
    """(readable, the object or None). A 403 is no answer: a project user may not read ClusterVirtualImages (they are
    cluster-scoped, RBAC.md section 6) nor, with some roles, Secrets."""
    try:
        return True, client.get(kind, name, namespace)
    except APIStatusError as err:
        if err.status != 403:
            raise
        return False, None


def source_checks(client: DVPClient, owner: Kind, params: dict[str, Any], desired: dict[str, Any], current: dict[str, Any] | None,
                  warnings: list[str], will_wait: bool, refs: References) -> list[str]:  # fmt: skip
    """The objects a data source names (data_source.object_ref, the pull secret of a container image), while the
    platform still reads them (a new object, one still Pending, or a source that changes). A missing one is legal: the
    platform creates the disk or image (`owner`) and keeps it Pending (DatasourceReady=False, §1.4, §2.2, §2.3) until
    the object appears, then provisions it. So: with wait=true (`will_wait`: the task's wait, or a batch element's that
    is waited for after all are applied; the wait could only time out) it is refused before anything is written; with
    wait=false the object is created and a warning names the missing one; in check mode, wait or not, it is a
    reference not verified (refs: an earlier task may create it). An object this user may not read gets a warning (the
    platform checks it). A disk from an image must hold it (image_size_check)."""
    namespace = params.get("namespace")
    noun = "disk" if owner.kind == v.VIRTUAL_DISK else "image"
    source = (desired.get("spec") or {}).get("dataSource") or {}
    current_phase = ((current or {}).get("status") or {}).get("phase") or v.PENDING
    waits = current is None or current_phase == v.PENDING or (((current or {}).get("spec") or {}).get("dataSource") or {}) != source
    problems: list[str] = []
    wanted = []  # (option, API field, kind, name, its namespace, the reason the object would wait with)
    ref = source.get("objectRef") or {}
    kind, reason = SOURCE_OBJECTS.get((owner.kind, ref.get("kind") or ""), (None, ""))
    needs_image = owner.kind == v.VIRTUAL_DISK and kind in IMAGE_SOURCES.values() and to_bytes(pvc_params(params).get("size")) is not None
    if kind is not None and (waits or needs_image):
        where = (ref.get("namespace") if owner is CLUSTER_VIRTUAL_IMAGE else namespace) if kind.namespaced else None
        wanted.append(("data_source.object_ref", "spec.dataSource.objectRef", kind, ref["name"], where, reason))
    pull = (source.get("containerImage") or {}).get("imagePullSecret") or {}
    if pull.get("name") and waits:
        where = pull.get("namespace") if owner is CLUSTER_VIRTUAL_IMAGE else namespace
        wanted.append(("data_source.container_image.image_pull_secret.name", "spec.dataSource.containerImage.imagePullSecret.name", SECRET, pull["name"], where,
                       v.REASON_REGISTRY_SECRET_NOT_FOUND))  # fmt: skip
    for option, field, kind, name, where, reason in wanted:
        what = kind.describe(name, where)
        readable, obj = _read(client, kind, name, where)
        if not readable:
            warnings.append(f"{option} ({field}): {what} was not checked before the request: this user may not read it; the platform "
                            f"checks it (a {noun} whose source does not exist stays Pending: DatasourceReady=False, {reason})")  # fmt: skip
        elif obj is None and waits:
            absent = f"{option} ({field}): {what} does not exist"
            missing = f"{absent}; the platform keeps the {noun} Pending (DatasourceReady=False, {reason}) until it is created"
            if refs.missing(absent):
                continue
            if will_wait:
                problems.append(f"{missing}. Create it first, or set wait=false to create the {noun} now and let it wait for it")
            else:
                warnings.append(f"{missing} (wait=false: the {noun} is created and waits for it)")
        elif obj is not None and needs_image and kind in IMAGE_SOURCES.values():
            problems += image_size_check(params, ref["kind"], obj)
        elif obj is not None and waits and kind is VIRTUAL_DISK:
            # an image of a disk a running VM has mounted waits until the VM stops (§1.4): the wait could only time out
            mounted = [entry.get("name") for entry in (obj.get("status") or {}).get("attachedToVirtualMachines") or [] if entry.get("mounted")]
            if mounted:
                vms = ", ".join(f"{where}/{name}" for name in mounted)
                held = (f"{option} ({field}): {what} is mounted by the running virtual machine {vms}; the platform keeps the {noun} Pending "
                        f"(DatasourceReady=False, {v.REASON_DISK_ATTACHED}) until the VM stops")  # fmt: skip
                if will_wait:
                    problems.append(f"{held}. Stop the VM first, or set wait=false to create the {noun} now and let it wait")
                else:
                    warnings.append(f"{held} (wait=false: the {noun} is created and waits)")
    return problems


def image_size_check(params: dict[str, Any], kind_name: str, image: dict[str, Any]) -> list[str]:
    """A disk from an image must hold the image: its size is at least the image's unpacked size (a MiB multiple)."""
    ref = (params.get("data_source") or {}).get("object_ref") or {}
    size = to_bytes(pvc_params(params).get("size"))
    status = (image or {}).get("status") or {}
    problems = []
    if status.get("cdrom"):
        problems.append(f"data_source.object_ref: the {kind_name} {ref['name']} is an ISO image; a disk cannot be created from it")
    unpacked = (status.get("size") or {}).get("unpackedBytes")
    if unpacked and size is not None and size < required_size(unpacked):
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


def pre_write_checks(client: DVPClient, kind: Kind, params: dict[str, Any], desired: dict[str, Any], current: dict[str, Any] | None,
                     refs: References, warnings: list[str] | None = None, will_wait: bool | None = None) -> list[str]:  # fmt: skip
    """What would be refused or fail, checked against the server's current state (`current`: the object as just read,
    None when it does not exist) before anything is written; what the module should say but not refuse goes to
    `warnings`; `will_wait`: whether the task waits for the object (params' wait unless told); `refs`: where check mode
    records the referenced objects that do not exist instead of refusing them. An object already as declared is not
    written, so it needs no check (an idempotent re-run reads the object alone)."""
    namespace = params["namespace"]
    if unchanged(desired, current):
        return []
    is_disk = kind.kind == v.VIRTUAL_DISK
    problems: list[str] = []
    if current is not None:
        if is_disk:
            judged = _class_name(desired) != _class_name(current) and (migrates(desired, current) or migration_unfinished(current))
            found = disk_problems(desired, current, migration=migration_context(client, desired, current, refs) if judged else None)[0]
            target = client.get(STORAGE_CLASS, _class_name(desired)) if not found and migrates(desired, current) else None
            problem = class_problem(_class_name(desired), target, settings_of(_module_config(client), "virtualDisks")) if target else None
            if problem:  # the platform would fail the migration at once (a class not allowed, deprecated, terminating)
                problems.append(f"persistent_volume_claim.storage_class_name: {problem}")
        else:
            found = image_problems(desired, current)[0]
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
            problems += class_check(client, pvc_params(params).get("storage_class_name"), "virtualDisks", refs)
        elif on_pvc(desired):
            problems += class_check(client, pvc_params(params).get("storage_class_name"), "virtualImages", refs)
    will_wait = bool(params.get("wait")) if will_wait is None else will_wait
    problems += source_checks(client, kind, params, desired, current, warnings if warnings is not None else [], will_wait, refs)
    return problems


def ensure_disk(module: Any, client: DVPClient, ensurer: Ensurer, metadata: dict[str, Any]) -> dict[str, Any]:
    """virtual_disk: pre_write_checks, then image_service's flow (ensure_checked), waiting for what the change asks
    (disk_wait: a class change of a provisioned disk waits for the storage migration). A storage migration the
    platform refuses (on CE: only the platform knows its edition) is reported naming the option."""
    p = module.params
    desired = desired_disk(p, metadata) if p["state"] == "present" else None
    plan: dict[str, Predicate] = {"wait": DISK_READY_OR_WAITING}

    def checks(desired: dict[str, Any], current: dict[str, Any] | None, notes: list[str], will_wait: bool) -> list[str]:
        plan["wait"] = disk_wait(desired, current)
        return pre_write_checks(client, VIRTUAL_DISK, p, desired, current, ensurer.refs, notes, will_wait)

    def ready(obj: dict[str, Any] | None) -> Outcome:
        return plan["wait"](obj)  # decided by checks, once the disk is read

    try:
        return ensure_checked(module, client, ensurer, VIRTUAL_DISK, metadata, desired, checks, ready=ready, guard=frozen_guard(VIRTUAL_DISK),
                              summarize=disk_summary)  # fmt: skip
    except APIStatusError as err:
        if err.status not in (400, 403, 422) or "spec.persistentVolumeClaim.storageClassName" not in err.message:
            raise
        raise DVPError(rule_problems([err.message])[0] + " (nothing was changed)", status=err.status, reason=err.reason) from err


def ensure_cluster_image(module: Any, client: DVPClient, ensurer: Ensurer, metadata: dict[str, Any]) -> dict[str, Any]:
    """cluster_virtual_image: the objects its data source names (source_checks), then image_service's flow."""
    p = module.params
    desired = desired_cluster_image(p, metadata) if p["state"] == "present" else None

    def checks(desired: dict[str, Any], current: dict[str, Any] | None, notes: list[str], will_wait: bool) -> list[str]:
        if unchanged(desired, current):
            return []
        return source_checks(client, CLUSTER_VIRTUAL_IMAGE, p, desired, current, notes, will_wait and not _is_upload(p), ensurer.refs)

    return ensure_checked(module, client, ensurer, CLUSTER_VIRTUAL_IMAGE, metadata, desired, checks)


def ensure_virtual_image(module: Any, client: DVPClient, ensurer: Ensurer, metadata: dict[str, Any]) -> dict[str, Any]:
    """virtual_image: pre_write_checks (its source objects among them), then image_service's flow."""
    p = module.params
    desired = desired_image(p, metadata) if p["state"] == "present" else None

    def checks(desired: dict[str, Any], current: dict[str, Any] | None, notes: list[str], will_wait: bool) -> list[str]:
        return pre_write_checks(client, VIRTUAL_IMAGE, p, desired, current, ensurer.refs, notes, will_wait and not _is_upload(p))

    return ensure_checked(module, client, ensurer, VIRTUAL_IMAGE, metadata, desired, checks, prepare=keep_storage_spelling, ready=IMAGE_READY,
                          guard=frozen_guard(VIRTUAL_IMAGE), summarize=image_summary)  # fmt: skip


def _is_upload(params: dict[str, Any]) -> bool:
    return (params.get("data_source") or {}).get("type") == v.SOURCE_UPLOAD


def ensure_checked(module: Any, client: DVPClient, ensurer: Ensurer, kind: Kind, metadata: dict[str, Any], desired: dict[str, Any] | None,
                   checks: Callable[[dict[str, Any], dict[str, Any] | None, list[str], bool], list[str]],
                   prepare: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]] | None = None, **flow: Any) -> dict[str, Any]:  # fmt: skip
    """The flow of virtual_disk, virtual_image and cluster_virtual_image: the object read, `prepare(desired, current)`
    (the declared object as it compares with the stored one), `checks(desired, current, warnings, will_wait)` against
    the server (refused before anything is written, or warned about), then image_service's apply, upload, wait or
    delete (`flow`: its ready predicate, guard and summary)."""
    p = module.params
    current = None
    if desired is not None:
        current = client.get(kind, p["name"], p.get("namespace") if kind.namespaced else None)
        if prepare is not None:
            desired = prepare(desired, current)
        notes: list[str] = []
        waits = task_waits(module)
        problems = checks(desired, current, notes, waits)
        if problems:
            raise DVPError("; ".join(problems), problems=problems)
        for note in notes:
            module.warn(note)
    return ensure_image(module, client, ensurer, kind, metadata, desired, known=current, **flow)


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
        "migration_state": status.get("migrationState") or {},
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
