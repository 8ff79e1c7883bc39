# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage rules of VirtualDisks and VirtualImages (BEHAVIOUR.md §2.1-2.4), written once: the modules check them
before writing, the simulator's controllers and webhooks enforce them, both by calling these functions.

- storage-class resolution (§2.4): the PVC's class, else the spec's (allowed, existing, not terminating, not
  deprecated), else the module's `defaultStorageClassName`, else the cluster default (newest wins, ties by name),
  else none; the "allowed" test; the VirtualImage's deprecated `virtualImages.storageClassName`.
- what a class offers (the CDI StorageProfile's claim property sets; the simulator keeps them as annotations on
  the StorageClass, see `profile`);
- sizes: the disk size an image needs (unpacked bytes rounded up to a MiB), grow-only resize;
- the VirtualDisk and VirtualImage webhook rules of §2.1 and §2.2.

Pure Python, no ansible import (the simulator imports this module). Objects are plain API dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import vocabulary as v
from .quantity import parse_quantity

MiB = 1024 * 1024


# -- module settings -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassSettings:
    """`spec.settings.virtualDisks` or `.virtualImages` of the ModuleConfig `virtualization`."""

    section: str  # "virtualDisks" | "virtualImages", for messages
    default: str = ""
    allowed: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.default or self.allowed)

    def allows(self, name: str) -> bool:
        """§2.4: with neither default nor allow list every class is allowed; otherwise the class must be in
        matchNames or be the default."""
        return not self.configured or name in self.allowed or name == self.default


def settings_of(module_config: dict[str, Any] | None, section: str) -> ClassSettings:
    """The storage-class settings of one section ("virtualDisks" / "virtualImages") of the ModuleConfig
    `virtualization` (None or a disabled config: nothing configured). For virtualImages the deprecated
    `storageClassName` still works when neither new setting is given: it is the default and the only allowed class."""
    spec = (module_config or {}).get("spec") or {}
    raw = ((spec.get("settings") or {}).get(section)) or {}
    default = raw.get("defaultStorageClassName") or ""
    allowed = tuple((raw.get("allowedStorageClassSelector") or {}).get("matchNames") or ())
    if section == "virtualImages" and not default and not allowed and raw.get("storageClassName"):
        default = raw["storageClassName"]
        allowed = (default,)
    return ClassSettings(section, default, allowed)


# -- StorageClasses --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """What a class offers a claim (CDI's StorageProfile claimPropertySets): access modes and volume mode."""

    access_modes: tuple[str, ...]
    volume_mode: str

    @property
    def usable(self) -> bool:
        """The platform needs a claim property set: volume mode Block or Filesystem with RWO or RWX."""
        return self.volume_mode in (v.VOLUME_MODE_BLOCK, v.VOLUME_MODE_FILESYSTEM) and any(m in (v.RWO, v.RWX) for m in self.access_modes)

    @property
    def access_mode(self) -> str:
        """The mode a disk's claim asks for: RWX when offered (live migration needs it), else RWO."""
        return v.RWX if v.RWX in self.access_modes else v.RWO


def profile(sc: dict[str, Any]) -> Profile:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    modes = tuple(m.strip() for m in (annotations.get(v.STORAGE_PROFILE_ACCESS_MODES_ANNOTATION) or v.RWO).split(",") if m.strip())
    return Profile(modes, annotations.get(v.STORAGE_PROFILE_VOLUME_MODE_ANNOTATION) or v.VOLUME_MODE_FILESYSTEM)


def is_deprecated(sc: dict[str, Any]) -> bool:
    return ((sc.get("metadata") or {}).get("labels") or {}).get(v.DEPRECATED_SC_LABEL) == v.DEPRECATED_SC_VALUE


def is_default(sc: dict[str, Any]) -> bool:
    return ((sc.get("metadata") or {}).get("annotations") or {}).get(v.DEFAULT_STORAGE_CLASS_ANNOTATION) == "true"


def is_terminating(sc: dict[str, Any]) -> bool:
    return bool((sc.get("metadata") or {}).get("deletionTimestamp"))


def cluster_default(defaults: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Among the classes annotated default, the newest by creationTimestamp; ties by name ascending."""
    candidates = [sc for sc in defaults if is_default(sc)]
    if not candidates:
        return None
    newest = max(sc["metadata"].get("creationTimestamp", "") for sc in candidates)
    return min((sc for sc in candidates if sc["metadata"].get("creationTimestamp", "") == newest), key=lambda sc: sc["metadata"]["name"])


@dataclass
class Resolution:
    """The outcome of §2.4: the class (None when none fits), and why not when none does."""

    name: str = ""
    storage_class: dict[str, Any] | None = None
    problem: str = ""
    source: str = ""  # "pvc" | "spec" | "module default" | "cluster default"
    warnings: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.storage_class is not None and not self.problem


def resolve_storage_class(
    spec_name: str | None,
    settings: ClassSettings,
    find: Any,
    defaults: list[dict[str, Any]],
    pvc_class: str | None = None,
) -> Resolution:
    """§2.4. `find(name)` returns the StorageClass or None; `defaults` are the classes annotated default (the
    caller reads them from an index, not a listing of every class). `pvc_class`: the class of the PVC that
    already exists, which wins."""
    if pvc_class:
        sc = find(pvc_class)
        if sc is None or is_terminating(sc):
            return Resolution(pvc_class, None, f"the StorageClass {pvc_class!r} of the existing PVC is {'terminating' if sc else 'not found'}", "pvc")
        return Resolution(pvc_class, sc, source="pvc")
    if spec_name:
        problem = class_problem(spec_name, find(spec_name), settings)
        return Resolution(spec_name, None if problem else find(spec_name), problem or "", "spec")
    if settings.default:
        sc = find(settings.default)
        if sc is not None and not is_terminating(sc):
            return Resolution(settings.default, sc, source="module default")
    sc = cluster_default(defaults)
    if sc is not None:
        return Resolution(sc["metadata"]["name"], sc, source="cluster default")
    where = f"spec.settings.{settings.section}.defaultStorageClassName"
    return Resolution(
        "", None, f"no storage class: none given in spec.persistentVolumeClaim.storageClassName, no {where} and no default StorageClass in the cluster"
    )


def class_problem(name: str, sc: dict[str, Any] | None, settings: ClassSettings) -> str | None:
    """Why an explicitly named class cannot be used (None when it can)."""
    if not settings.allows(name):
        names = sorted(set(settings.allowed) | ({settings.default} if settings.default else set()))
        return (
            f"the StorageClass {name!r} is not allowed by the ModuleConfig virtualization "
            f"(spec.settings.{settings.section} allows {', '.join(repr(n) for n in names)})"
        )
    if sc is None:
        return f"the StorageClass {name!r} does not exist"
    if is_terminating(sc):
        return f"the StorageClass {name!r} is terminating"
    if is_deprecated(sc):
        return f"the StorageClass {name!r} is deprecated (labelled {v.DEPRECATED_SC_LABEL}={v.DEPRECATED_SC_VALUE})"
    if not profile(sc).usable:
        return f"the StorageClass {name!r} offers no usable claim property set (volume mode Block or Filesystem with ReadWriteOnce or ReadWriteMany)"
    return None


# -- sizes -------------------------------------------------------------------------------------------------------
def ceil_mib(count: int) -> int:
    return -(-count // MiB) * MiB


def to_bytes(size: Any) -> int | None:
    """A quantity (`10Gi`, `512M`, 1073741824) in bytes; None when it is not one."""
    if size is None or size == "":
        return None
    try:
        return int(parse_quantity(str(size)))
    except (ValueError, TypeError, ArithmeticError):
        return None


def mib_quantity(count: int) -> str:
    """Bytes as the platform writes a PVC size it computed: whole Gi when exact, else Mi."""
    if count % (1024 * MiB) == 0:
        return f"{count // (1024 * MiB)}Gi"
    return f"{ceil_mib(count) // MiB}Mi"


def required_size(unpacked_bytes: Any) -> int:
    """§2.3: the disk size an image needs, its unpacked size rounded up to a MiB."""
    return ceil_mib(int(unpacked_bytes or 0))


def disk_size(spec_size: Any, unpacked_bytes: Any) -> tuple[int, str | None]:
    """(bytes, problem): the PVC size of a disk from an image — the spec's size, or the image's required size
    when none is given; a spec size smaller than required is a problem (the disk fails)."""
    required = required_size(unpacked_bytes)
    wanted = to_bytes(spec_size)
    if wanted is None:
        if required <= 0:
            return 0, "the image's unpacked size is zero"
        return required, None
    if wanted < required:
        return (
            wanted,
            f"pvc size is insufficient: spec.persistentVolumeClaim.size {spec_size} is smaller than the {mib_quantity(required)} "
            f"the image needs (its unpacked size {unpacked_bytes} bytes, rounded up to a MiB)",
        )
    return wanted, None


# -- webhook rules ----------------------------------------------------------------------------------------------
DISK_PROVISIONING_PHASES = ("", v.PENDING, v.PROVISIONING, v.WAIT_FOR_FIRST_CONSUMER)
DISK_FROZEN_SOURCE_PHASES = (v.READY, v.MIGRATING, v.PVC_LOST_PHASE)
IMAGE_READY_PHASES = (v.READY, v.IMAGE_LOST, v.PVC_LOST_PHASE)


def _ready_condition(obj: dict[str, Any] | None) -> bool:
    status = (obj or {}).get("status") or {}
    return any(c.get("type") == v.COND_READY and c.get("status") == "True" for c in status.get("conditions") or [])


def _phase(obj: dict[str, Any] | None) -> str:
    return ((obj or {}).get("status") or {}).get("phase") or ""


def _pvc(obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((obj or {}).get("spec") or {}).get("persistentVolumeClaim") or {}


def disk_problems(
    new: dict[str, Any], old: dict[str, Any] | None, generation_changed: bool = True, migration: MigrationContext | None = None
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the VirtualDisk webhook (§2.2) for a create (old None) or an update. Storage
    class existence on create and while Pending is checked by the caller (it needs the classes); a class change of a
    provisioned disk is a storage migration, judged by `migration_problems` over `migration` (what the rule reads
    besides the disk; None: the caller judges it itself); the rest is here."""
    problems: list[str] = []
    warnings: list[str] = []
    name = (new.get("metadata") or {}).get("name", "")
    if "." in name:
        (problems if old is None else warnings).append(f"metadata.name: {name!r} must not contain '.'")
    spec = new.get("spec") or {}
    size_text = _pvc(new).get("size")
    size = to_bytes(size_text)
    if size_text is not None and size is not None and size <= 0:
        problems.append("spec.persistentVolumeClaim.size: must be greater than 0")
    if not spec.get("dataSource") and size_text is None:
        problems.append("spec.persistentVolumeClaim.size: required for a blank disk (no spec.dataSource)")
    if old is None or not generation_changed:
        return problems, warnings
    phase = _phase(old)
    if phase == v.TERMINATING:
        if spec != (old.get("spec") or {}):
            problems.append("spec: the disk is Terminating, its spec cannot change")
        return problems, warnings
    old_size_text = _pvc(old).get("size")
    if phase not in DISK_PROVISIONING_PHASES:
        if old_size_text is not None and size_text is None:
            problems.append("spec.persistentVolumeClaim.size: cannot be removed once the disk is provisioned")
        old_size = to_bytes(old_size_text)
        if old_size is not None and size is not None and size < old_size:
            problems.append(f"spec.persistentVolumeClaim.size: cannot shrink from {old_size_text} to {size_text} (disks only grow)")
        if phase == v.MIGRATING and size != old_size:
            problems.append("spec.persistentVolumeClaim.size: cannot change while the disk is Migrating")
    if (phase in DISK_FROZEN_SOURCE_PHASES or _ready_condition(old)) and spec.get("dataSource") != (old.get("spec") or {}).get("dataSource"):
        problems.append("spec.dataSource: cannot change once the disk is Ready")
    old_class, new_class = _pvc(old).get("storageClassName"), _pvc(new).get("storageClassName")
    if phase not in DISK_PROVISIONING_PHASES and new_class != old_class and migration is not None:
        problems += migration_problems(new, old, migration)
    return problems, warnings


# -- storage (volume) migration, EE (§2.2, §7.1) -----------------------------------------------------------------
CLASS_FIELD = "spec.persistentVolumeClaim.storageClassName"
MIGRATION_VM_PHASES = (v.VM_RUNNING, v.VM_MIGRATING)  # a disk migrates with the live migration of the VM mounting it
MIGRATION_BACKOFF_BASE, MIGRATION_BACKOFF_CAP = 5.0, 300.0  # seconds (DOC/USER_GUIDE.md "Migrating disks to other storage")


@dataclass(frozen=True)
class MigrationContext:
    """What the storage-migration rule reads besides the disk: the cluster's `edition` (None: not known, as to a
    client - the platform judges it); the phase of the VM mounting the disk (None: none mounts it, or it is gone);
    the disk's class now (`source_class`, its status.storageClassName) and the new one (`target_class`; None: it
    does not exist); `target_known` False when whether the new class exists is not judged (check mode: an earlier
    task may create it); `rollback_class`: while the disk migrates, the class of its source claim - the only class
    it may be set to then."""

    edition: str | None = None
    vm_phase: str | None = None
    source_class: dict[str, Any] | None = None
    target_class: dict[str, Any] | None = None
    target_known: bool = True
    rollback_class: str = ""


def mounted_vm(disk: dict[str, Any] | None) -> str:
    """The virtual machine that mounts the disk (status.attachedToVirtualMachines[].mounted), "" when none does."""
    attached = ((disk or {}).get("status") or {}).get("attachedToVirtualMachines") or []
    return next((a.get("name") or "" for a in attached if a.get("mounted")), "")


def storage_class_changed(disk: dict[str, Any] | None) -> bool:
    """The spec names a class other than the one the disk is on (status.storageClassName), both set: the disk should
    move there (upstream commonvd.StorageClassChanged)."""
    wanted, current = _pvc(disk).get("storageClassName"), ((disk or {}).get("status") or {}).get("storageClassName")
    return bool(wanted) and bool(current) and wanted != current


def migration_unfinished(disk: dict[str, Any] | None) -> bool:
    """A storage migration under way: status.migrationState has a start and no end (upstream commonvd.IsMigrating)."""
    state = ((disk or {}).get("status") or {}).get("migrationState") or {}
    return bool(state.get("startTimestamp")) and not state.get("endTimestamp")


def migration_round(disk: dict[str, Any] | None) -> tuple[str, str, str, str]:
    """(start, end, target claim, result) of the disk's last storage migration: a client tells a new outcome from an
    earlier one by it."""
    state = ((disk or {}).get("status") or {}).get("migrationState") or {}
    return state.get("startTimestamp") or "", state.get("endTimestamp") or "", state.get("targetPVC") or "", state.get("result") or ""


def migration_backoff(failures: int) -> float:
    """Seconds before the next attempt of a storage migration after `failures` failed migrations of the VM in a row:
    none after none, then 5 s, 10 s, doubling, at most 300 s (upstream volumemigration calculateBackoff)."""
    if failures <= 0:
        return 0.0
    return min(MIGRATION_BACKOFF_BASE * 2 ** min(failures - 1, 16), MIGRATION_BACKOFF_CAP)


def migration_problems(new: dict[str, Any], old: dict[str, Any], ctx: MigrationContext) -> list[str]:
    """Why the class change of a provisioned disk (`old` as stored, `new` as asked) is refused (§2.2, upstream
    vd/internal/validator/storage_class_validator.go): a storage migration is EE only, needs the disk mounted by a VM
    in phase Running or Migrating, an existing class of the same volume mode (Block to Block, Filesystem to
    Filesystem); while the disk migrates its class may only be set back to the source claim's (the rollback). Setting
    the class the disk is on (or leaving the class out) asks for no migration."""
    new_class, old_class = _pvc(new).get("storageClassName"), _pvc(old).get("storageClassName")
    if new_class == old_class:
        return []
    if migration_unfinished(old):
        if not ctx.rollback_class or new_class != ctx.rollback_class:
            back = repr(ctx.rollback_class) if ctx.rollback_class else "the class of its source claim"
            return [f"{CLASS_FIELD}: the disk is Migrating; until the migration ends its class may only be set back to {back} (a rollback)"]
        return []
    current = ((old.get("status") or {}).get("storageClassName")) or ""
    if not new_class or not current or new_class == current:
        return []
    what = f"{CLASS_FIELD}: changing the class of a provisioned disk (from {current!r} to {new_class!r}) is a storage migration"
    if ctx.edition == v.EDITION_CE:
        return [f"{what}, which only the Enterprise Edition offers (this cluster runs CE)"]
    vm = mounted_vm(old)
    if not vm:
        return [f"{what}, which needs the disk mounted by a running virtual machine (no virtual machine mounts it)"]
    if ctx.vm_phase not in MIGRATION_VM_PHASES:
        return [f"{what}, which needs the disk mounted by a running virtual machine (the virtual machine {vm} is {ctx.vm_phase or 'not found'})"]
    if ctx.source_class is None:
        return [f"{what}, and the disk's StorageClass {current!r} does not exist any more"]
    if not ctx.target_known:
        return []
    if ctx.target_class is None:
        return [f"{what}, and the StorageClass {new_class!r} does not exist"]
    source_mode, target_mode = profile(ctx.source_class).volume_mode, profile(ctx.target_class).volume_mode
    if source_mode != target_mode:
        return [
            f"{what}, which keeps the volume mode: {new_class!r} has volume mode {target_mode}, {current!r} {source_mode} "
            "(a disk moves from Block to Block or from Filesystem to Filesystem)"
        ]
    return []


def image_problems(new: dict[str, Any], old: dict[str, Any] | None, generation_changed: bool = True) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the VirtualImage webhook (§2.1) but the storage-class checks (see disk_problems)."""
    problems: list[str] = []
    warnings: list[str] = []
    name = (new.get("metadata") or {}).get("name", "")
    if "." in name:
        (problems if old is None else warnings).append(f"metadata.name: {name!r} must not contain '.'")
    spec = new.get("spec") or {}
    if old is None and spec.get("storage") == v.STORAGE_KUBERNETES:
        warnings.append("spec.storage: Kubernetes is deprecated, use PersistentVolumeClaim")
    if old is None or not generation_changed:
        return problems, warnings
    phase, old_spec = _phase(old), old.get("spec") or {}
    if phase == v.TERMINATING:
        if spec != old_spec:
            problems.append("spec: the image is Terminating, its spec cannot change")
        return problems, warnings
    if phase in IMAGE_READY_PHASES or _ready_condition(old):
        if spec.get("dataSource") != old_spec.get("dataSource"):
            problems.append("spec.dataSource: cannot change once the image is Ready")
        if _pvc(new).get("storageClassName") != _pvc(old).get("storageClassName"):
            problems.append("spec.persistentVolumeClaim.storageClassName: cannot change once the image is Ready")
    return problems, warnings


def on_pvc(image: dict[str, Any]) -> bool:
    """A VirtualImage kept in a PVC (storage PersistentVolumeClaim or its deprecated alias Kubernetes)."""
    return ((image.get("spec") or {}).get("storage") or v.STORAGE_CONTAINER_REGISTRY) in (v.STORAGE_PVC, v.STORAGE_KUBERNETES)
