# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VirtualMachine rules of the platform (BEHAVIOUR.md §4.3–4.5), once, for the `vm` module (client-side checks)
and the simulator's VM webhooks: CPU topology, the sizing-policy check with the platform's exact messages,
coreFraction and network-id defaulting, block-device and metadata checks, and the pod's CPU/memory requests.
Pure Python (no Ansible): each check returns a message or None / a list of messages; the callers decide whether
it is an error, a warning or a condition."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from .quantity import parse_quantity
from .vocabulary import DVP_GROUP

MAX_CORES = 248
MAX_BLOCK_DEVICES = 16
MAX_NETWORK_ID = 16383
MAIN_NETWORK_ID = 1
MEMORY_OVERHEAD_PER_CPU = 8 * 1024 * 1024  # bytes per logical CPU
FORBIDDEN_METADATA_FRAGMENT = DVP_GROUP
SIZING_HINT = "check the sizing policy of the VirtualMachineClass or contact the administrator for more information"
CORE_FRACTION = re.compile(r"^(100|[1-9][0-9]?)%$")
NETWORK_MAIN = "Main"
ISO_KINDS = ("VirtualImage", "ClusterVirtualImage")

# §4.5 topology table: (highest core count of the row, sockets)
TOPOLOGY = ((16, 1), (32, 2), (64, 4), (MAX_CORES, 8))


# -- CPU topology ---------------------------------------------------------------------------------------------
def cpu_topology(cores: int) -> tuple[int, int]:
    """(sockets, coresPerSocket) for a core count (CalculateCoresAndSockets); ValueError beyond 248 or below 1."""
    if cores < 1 or cores > MAX_CORES:
        raise ValueError(f"cores must be between 1 and {MAX_CORES}, not {cores}")
    sockets = next(s for top, s in TOPOLOGY if cores <= top)
    return sockets, math.ceil(cores / sockets)


def check_cores(cores: Any) -> str | None:
    """The webhook's CPU count rule: ≤ 248 and a multiple of the topology's sockets."""
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        return f"the number of CPU cores (spec.cpu.cores) must be an integer of at least 1, not {cores!r}"
    if cores > MAX_CORES:
        return f"the requested number of cores ({cores}) exceeds the maximum of {MAX_CORES}"
    sockets = cpu_topology(cores)[0]
    if cores % sockets:
        return f"the requested number of cores ({cores}) must be a multiple of {sockets}"
    return None


# -- quantities as Go's resource.Quantity prints them ---------------------------------------------------------
_BINARY = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))
_DECIMAL = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3))


def format_quantity(value: Any, binary: bool = True) -> str:
    """Canonical form of a quantity (`2048Mi` → `2Gi`, `1.5Gi` → `1536Mi`): the largest suffix that keeps an
    integer, binary suffixes unless the quantity was written with decimal ones."""
    if isinstance(value, str) and re.search(r"[kMGTPE]$", value.strip()) and not value.strip().endswith("i"):
        binary = False
    number = parse_quantity(value)
    if number != number.to_integral_value():
        return str(number.normalize())
    n = int(number)
    if n == 0:
        return "0"
    for suffix, power in _BINARY if binary else _DECIMAL:
        unit = 2**power if binary else 10**power
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _bytes(value: Any) -> Decimal:
    return parse_quantity(value)


def _set(value: Any) -> bool:
    return value is not None and value != "" and _bytes(value) != 0


# -- sizing policy (CheckVMMatchedSizePolicy) -----------------------------------------------------------------
def fraction_value(core_fraction: Any) -> int | None:
    text = str(core_fraction or "")
    return int(text[:-1]) if CORE_FRACTION.match(text) else None


def _percent(value: Any) -> int:
    """A class's core fraction as an integer: 5 (v1alpha2) or "5%" (v1alpha3)."""
    return int(str(value).rstrip("%"))


def matching_policy(policies: list[dict[str, Any]], cores: int) -> dict[str, Any] | None:
    """The first policy (list order) whose cores range contains `cores`."""
    for policy in policies or []:
        rng = policy.get("cores")
        if rng and rng.get("min", 0) <= cores <= rng.get("max", 0):
            return policy
    return None


def _grid(lo: Any, hi: Any, step: Any) -> list[Any]:
    out = []
    val = lo
    while val < hi:
        out.append(val)
        val += step
    out.append(hi)
    return out


def _quantized(value: Decimal, lo: Decimal, hi: Decimal, step: Decimal) -> tuple[Decimal, Decimal] | None:
    """None when value sits on the grid (or outside its ends); else its neighbours."""
    grid = _grid(lo, hi, step)
    for a, b in zip(grid, grid[1:], strict=False):
        if value in (a, b):
            return None
        if a < value < b:
            return a, b
    return None


def _memory_clause(lo: str | None, hi: str | None, imperative: bool = True) -> str:
    head = "set the memory size (spec.memory.size) " if imperative else ""
    if lo is not None and hi is not None:
        return f"{head}between {lo} and {hi}"
    if lo is not None:
        return f"{head}{'to ' if imperative else ''}at least {lo}"
    if hi is not None:
        return f"{head}{'to ' if imperative else ''}at most {hi}"
    return ""


def sizing_problems(cores: int, core_fraction: Any, memory: Any, policy: dict[str, Any]) -> list[str]:
    """The reasons a VM's size violates one (already matched) policy, in the platform's order."""
    problems: list[str] = []
    fractions = policy.get("coreFractions") or []
    if fractions and core_fraction != "Auto":
        value = fraction_value(core_fraction)
        if value is None:
            problems.append(f'unable to parse the CPU core fraction "{core_fraction}"')
        elif value not in [_percent(f) for f in fractions]:
            allowed = ", ".join(f"{_percent(f)}%" for f in fractions)
            problems.append(f'the CPU core fraction "{core_fraction}" is not allowed; set the core fraction (spec.cpu.coreFraction) to one of: {allowed}')
    rng = policy.get("cores") or {}
    if (rng.get("step") or 0) > 0:
        grid = _grid(rng["min"], rng["max"], rng["step"])
        if cores not in grid:
            lower, upper = grid[0], grid[-1]
            for a, b in zip(grid, grid[1:], strict=False):
                if a < cores < b:
                    lower, upper = a, b
                    break
            problems.append(
                f"the number of CPU cores ({cores}) does not match the sizing policy step; set the number of cores (spec.cpu.cores) to {lower} or {upper}"
            )
    mem = policy.get("memory")
    if mem:
        size = _bytes(memory)
        shown = format_quantity(memory)
        lo, hi, step = mem.get("min"), mem.get("max"), mem.get("step")
        lo_set, hi_set = _set(lo), _set(hi)
        lo_text = format_quantity(lo) if lo is not None else None
        hi_text = format_quantity(hi) if hi is not None else None
        if (lo_set and size < _bytes(lo)) or (hi_set and size > _bytes(hi)):
            problems.append(f"the memory size ({shown}) is out of the range allowed by the sizing policy; {_memory_clause(lo_text, hi_text)}")
        elif hi_set and _set(step):
            near = _quantized(size, _bytes(lo) if lo_set else Decimal(0), _bytes(hi), _bytes(step))
            if near:
                a, b = (format_quantity(x) for x in near)
                problems.append(f"the memory size ({shown}) does not match the sizing policy step; set the memory size (spec.memory.size) to {a} or {b}")
        per = mem.get("perCore") or {}
        pmin, pmax = per.get("min"), per.get("max")
        pmin_set, pmax_set = _set(pmin), _set(pmax)
        if cores > 0 and (pmin_set or pmax_set):
            per_core = Decimal(int(size) // cores)
            if (pmin_set and per_core < _bytes(pmin)) or (pmax_set and per_core > _bytes(pmax)):
                total_lo = format_quantity(int(_bytes(pmin)) * cores) if pmin is not None else None
                total_hi = format_quantity(int(_bytes(pmax)) * cores) if pmax is not None else None
                per_lo = format_quantity(pmin) if pmin is not None else None
                per_hi = format_quantity(pmax) if pmax is not None else None
                problems.append(
                    f"the memory size ({shown}) is not allowed for {cores} CPU core(s); {_memory_clause(total_lo, total_hi)}, "
                    f"or change the number of cores (spec.cpu.cores) (the sizing policy allows {_memory_clause(per_lo, per_hi, False)} of memory per core)"
                )
            elif pmax_set and _set(step):
                near = _quantized(per_core, _bytes(pmin) if pmin_set else Decimal(0), _bytes(pmax), _bytes(step))
                if near:
                    a, b = (format_quantity(int(x) * cores) for x in near)
                    problems.append(
                        f"the memory size ({shown}) does not match the per-core sizing policy step for {cores} CPU core(s); "
                        f"set the memory size (spec.memory.size) to {a} or {b}, or change the number of cores (spec.cpu.cores)"
                    )
    return problems


def check_sizing_policy(cores: int, core_fraction: Any, memory: Any, class_name: str, policies: list[dict[str, Any]] | None) -> str | None:
    """CheckVMMatchedSizePolicy: None when the size conforms, else the platform's message (which the webhook
    returns and the SizingPolicyMatched condition quotes after "The VirtualMachine ")."""
    if not policies:
        return None
    policy = matching_policy(policies, cores)
    if policy is None:
        ranges = ", ".join(f"{p['cores'].get('min')}-{p['cores'].get('max')}" for p in policies if p.get("cores"))
        return (
            f'does not match any sizing policy of VirtualMachineClass "{class_name}": its {cores} CPU core(s) fall outside the allowed ranges '
            f"({ranges}); set the number of cores (spec.cpu.cores) accordingly: {SIZING_HINT}"
        )
    problems = sizing_problems(cores, core_fraction, memory, policy)
    if not problems:
        return None
    if len(problems) == 1:
        return f'does not match the sizing policy of VirtualMachineClass "{class_name}": {problems[0]}: {SIZING_HINT}'
    lines = "".join(f"\n  - {p}" for p in problems)
    return f'does not match the sizing policy of VirtualMachineClass "{class_name}" for several reasons:{lines}\n{SIZING_HINT}'


# -- defaulting (mutating webhook, §4.3) ----------------------------------------------------------------------
class DefaultingError(ValueError):
    """The mutating webhook rejects the request with this message."""


def default_core_fraction(cores: int, class_name: str, policies: list[dict[str, Any]] | None) -> str:
    """The coreFraction a VM without one gets from its class (§4.3 step 2)."""
    if not policies:
        return "100%"
    policy = matching_policy(policies, cores)
    if policy is None:
        raise DefaultingError(
            f'unable to set the default core fraction: the number of CPU cores ({cores}) does not match any sizing policy of VirtualMachineClass "{class_name}"'
        )
    default = policy.get("defaultCoreFraction")
    if default not in (None, ""):
        return "Auto" if default == "Auto" else f"{_percent(default)}%"
    fractions = [_percent(f) for f in policy.get("coreFractions") or []]
    if fractions and 100 not in fractions:
        raise DefaultingError(
            f'unable to set the default core fraction: the sizing policy of VirtualMachineClass "{class_name}" for {cores} CPU core(s) '
            "defines no defaultCoreFraction and does not allow 100%; set spec.cpu.coreFraction explicitly"
        )
    return "100%"


def default_network_ids(networks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Main gets id 1; other networks without an id the lowest free id from 2 (§4.3 step 3). Returns a new list."""
    out = [dict(n) for n in networks or []]
    used = {n["id"] for n in out if isinstance(n.get("id"), int)}
    for n in out:
        if n.get("type") == NETWORK_MAIN:
            n["id"] = MAIN_NETWORK_ID
    used.add(MAIN_NETWORK_ID)
    free = 2
    for n in out:
        if n.get("type") != NETWORK_MAIN and not n.get("id"):
            while free in used:
                free += 1
            n["id"] = free
            used.add(free)
    return out


# -- validation (validating webhook, §4.4) --------------------------------------------------------------------
def forbidden_metadata_keys(meta: dict[str, Any]) -> list[str]:
    """Label and annotation keys a VM may not carry (any containing `virtualization.deckhouse.io`)."""
    out = []
    for field in ("labels", "annotations"):
        out += [f"{field[:-1]} {k}" for k in sorted(meta.get(field) or {}) if FORBIDDEN_METADATA_FRAGMENT in k]
    return out


def check_metadata(meta: dict[str, Any], creating: bool) -> list[str]:
    problems = []
    if creating and len(meta.get("name") or "") > 63:
        problems.append(f"the VirtualMachine name must be no more than 63 characters long, got {len(meta['name'])}")
    keys = forbidden_metadata_keys(meta)
    if keys:
        problems.append(f"the {', '.join(keys)}: keys containing {FORBIDDEN_METADATA_FRAGMENT} are reserved for the platform")
    return problems


def check_block_devices(refs: list[dict[str, Any]]) -> list[str]:
    """No duplicate (kind, name); bootOrder ≥ 1 and unique; at most 16 devices."""
    problems = []
    seen: set[tuple[str, str]] = set()
    orders: set[int] = set()
    for i, ref in enumerate(refs or []):
        key = (ref.get("kind", ""), ref.get("name", ""))
        if key in seen:
            problems.append(f"block device {key[0]} {key[1]!r} is listed more than once (spec.blockDeviceRefs[{i}])")
        seen.add(key)
        order = ref.get("bootOrder")
        if order is not None:
            if isinstance(order, bool) or not isinstance(order, int) or order < 1:
                problems.append(f"spec.blockDeviceRefs[{i}].bootOrder must be at least 1, not {order!r}")
            elif order in orders:
                problems.append(f"spec.blockDeviceRefs[{i}].bootOrder {order} is used by another block device")
            else:
                orders.add(order)
    if len(refs or []) > MAX_BLOCK_DEVICES:
        problems.append(f"at most {MAX_BLOCK_DEVICES} block devices can be attached, not {len(refs)}")
    return problems


def check_first_device(ref: dict[str, Any] | None, image_status: dict[str, Any] | None) -> str | None:
    """A Ready non-ISO image (VI/CVI with cdrom false) cannot be the first block device."""
    if not ref or ref.get("kind") not in ISO_KINDS or not image_status:
        return None
    if image_status.get("phase") == "Ready" and image_status.get("cdrom") is False:
        return (
            f"the first block device (spec.blockDeviceRefs[0]) is the {ref['kind']} {ref.get('name')!r}, which is not an ISO image: "
            "a disk image cannot be booted directly; create a VirtualDisk from it and put the disk first"
        )
    return None


def check_networks(networks: list[dict[str, Any]]) -> list[str]:
    """Structure of spec.networks (after defaulting)."""
    problems = []
    ids: set[int] = set()
    seen: set[tuple[str, str]] = set()
    for i, n in enumerate(networks or []):
        where = f"spec.networks[{i}]"
        if n.get("type") == NETWORK_MAIN:
            if i != 0:
                problems.append(f"{where}: the Main network must be the first")
            if n.get("name"):
                problems.append(f"{where}: the Main network must not have a name")
            if n.get("id") != MAIN_NETWORK_ID:
                problems.append(f"{where}: the Main network id must be {MAIN_NETWORK_ID}")
        elif not n.get("name"):
            problems.append(f"{where}: a {n.get('type')} network needs a name")
        key = (n.get("type", ""), n.get("name", ""))
        if key in seen:
            problems.append(f"{where}: duplicate network {key[0]} {key[1]!r}")
        seen.add(key)
        nid = n.get("id")
        if isinstance(nid, int):
            if not 1 <= nid <= MAX_NETWORK_ID:
                problems.append(f"{where}: id must be between 1 and {MAX_NETWORK_ID}, not {nid}")
            elif nid in ids:
                problems.append(f"{where}: id {nid} is used by another network")
            ids.add(nid)
    return problems


def has_main_network(spec: dict[str, Any]) -> bool:
    networks = spec.get("networks")
    return not networks or any(n.get("type") == NETWORK_MAIN for n in networks)


# -- pod resources -----------------------------------------------------------------------------------------------
def cpu_request_millis(cores: int, core_fraction: Any) -> int:
    """ceil(cores × 1000 × fraction / 100) millicores (GetCPURequest); `Auto` counts as 100% here."""
    fraction = fraction_value(core_fraction) or 100
    return math.ceil(cores * 1000 * fraction / 100)


def memory_request_bytes(memory: Any, cores: int) -> int:
    """Guest memory plus 8 MiB of overhead per logical CPU."""
    sockets, per_socket = cpu_topology(cores)
    return int(parse_quantity(memory)) + MEMORY_OVERHEAD_PER_CPU * sockets * per_socket


def boot_ordered(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Block devices in boot order: list order unless a bootOrder is set, then by bootOrder (unset last)."""
    refs = list(refs or [])
    if not any(r.get("bootOrder") for r in refs):
        return refs
    return sorted(refs, key=lambda r: (r.get("bootOrder") is None, r.get("bootOrder") or 0))


# -- VirtualMachineOperations (§6.2 supersede table, §6.3 applicability) ---------------------------------------
POWER_TYPES = ("Start", "Stop", "Restart")
UNFINISHED_PHASES = ("", "Pending", "InProgress")
# type → (run policies it applies to, VM phases it applies in; Stopping only with force where noted)
APPLICABLE = {
    "Start": (("Manual", "AlwaysOnUnlessStoppedManually"), ("Stopped", "Stopping")),
    "Stop": (("Manual", "AlwaysOnUnlessStoppedManually"), ("Running", "Degraded", "Starting", "Pause", "Pending")),
    "Restart": (("Manual", "AlwaysOnUnlessStoppedManually", "AlwaysOn"), ("Running", "Degraded", "Starting", "Pause")),
    "Migrate": (("Manual", "AlwaysOnUnlessStoppedManually", "AlwaysOn"), ("Running",)),
    "Evict": (("Manual", "AlwaysOnUnlessStoppedManually", "AlwaysOn"), ("Running",)),
}


def can_supersede(old_type: str, old_force: bool, new_type: str, new_force: bool) -> bool:
    """CanSupersede(old, new) of the platform: may a new operation replace an unfinished one of the same VM?"""
    if old_type == "Start":
        return new_type == "Stop"
    if old_type in ("Stop", "Restart"):
        return not old_force and new_force and new_type in ("Stop", "Restart")
    if old_type in ("Migrate", "Evict"):
        return new_type in ("Stop", "Restart")
    return False


def vmop_not_applicable(op_type: str, force: bool, run_policy: str, phase: str) -> tuple[str, str] | None:
    """Why an operation cannot run on a VM: ("runPolicy" | "phase", message), or None when it can."""
    policies, phases = APPLICABLE.get(op_type, ((), ()))
    if policies and run_policy not in policies:
        return "runPolicy", f"the operation {op_type} is not applicable for a VirtualMachine with runPolicy {run_policy}"
    if phases and phase not in phases and not (phase == "Stopping" and force and op_type in ("Stop", "Restart")):
        return "phase", f"the operation {op_type} is not applicable for a VirtualMachine in the phase {phase or 'Pending'}"
    return None


# -- changes that wait for a restart (§4.6, §4.7 restartAwaitingChanges) ----------------------------------------
# The spec fields whose change a running VM applies only when restarted; runPolicy, disruptions, liveMigrationPolicy,
# labels and annotations never need one, placement (nodeSelector, affinity) is compared apart (live migration in EE).
RESTART_FIELDS: tuple[tuple[str, ...], ...] = (
    ("virtualMachineClassName",),
    ("cpu", "cores"),
    ("cpu", "coreFraction"),
    ("memory", "size"),
    ("blockDeviceRefs",),
    ("osType",),
    ("bootloader",),
    ("enableParavirtualization",),
    ("provisioning",),
    ("networks",),
    ("virtualMachineIPAddressName",),
)


def _at(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)  # type: ignore[assignment]
    return obj


def restart_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The values of a spec's RESTART_FIELDS by dotted path (what a running VM was started with, or is asked for)."""
    return {".".join(p): _at(spec, p) for p in RESTART_FIELDS}


def awaiting_changes(applied: dict[str, Any], desired: dict[str, Any]) -> list[dict[str, Any]]:
    """status.restartAwaitingChanges between two restart_fields() maps: `{operation, path, currentValue,
    desiredValue}` per path that differs, sorted by path (the simulator's controller; the vm module's check mode)."""
    out = []
    for path in sorted(set(applied) | set(desired)):
        before, after = applied.get(path), desired.get(path)
        if before == after:
            continue
        op = "add" if before is None else "remove" if after is None else "replace"
        change: dict[str, Any] = {"operation": op, "path": path}
        if before is not None:
            change["currentValue"] = before
        if after is not None:
            change["desiredValue"] = after
        out.append(change)
    return out
