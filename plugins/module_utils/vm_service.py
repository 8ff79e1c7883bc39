# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm modules' flow: the desired VirtualMachine from the task, the checks that need the server (class,
sizing policy, block devices, provisioning Secret), the apply, and the power states through
VirtualMachineOperations (BEHAVIOUR.md §4.6, §6). The rules themselves are vm_rules.py's."""

from __future__ import annotations

import copy
from typing import Any

from . import vm_rules
from . import vocabulary as v
from .client import APIStatusError, DVPClient, operation_attempt
from .disk_holders import disk_holder_problem, held_disk_problems
from .ensure import Ensurer, Outcome, owned_paths, unchanged
from .errors import DVPError
from .kinds import (
    CLUSTER_VIRTUAL_IMAGE,
    PRIORITY_CLASS,
    VIRTUAL_DISK,
    VIRTUAL_IMAGE,
    VIRTUAL_MACHINE,
    VIRTUAL_MACHINE_CLASS,
    VIRTUAL_MACHINE_IP_ADDRESS,
    VIRTUAL_MACHINE_OPERATION,
    Kind,
)
from .naming import camel, snake_spelled, to_api
from .quantity import is_quantity
from .references import References
from .vmclass_rules import fraction_percent
from .waiter import Outcome as WaitOutcome
from .waiter import condition, task_waits, wait_for

SECRET = Kind(v.CORE_GROUP, v.CORE_VERSION, v.SECRET, v.PLURALS[v.SECRET], True)
DEVICE_KINDS = {v.VIRTUAL_DISK: VIRTUAL_DISK, v.VIRTUAL_IMAGE: VIRTUAL_IMAGE, v.CLUSTER_VIRTUAL_IMAGE: CLUSTER_VIRTUAL_IMAGE}

# Module options that make up spec (snake_case of the API's fields). Those in PASSTHROUGH are Kubernetes types
# written as the API writes them.
SPEC_OPTIONS = (
    "virtual_machine_class_name", "cpu", "memory", "block_device_refs", "run_policy", "provisioning", "os_type", "bootloader",
    "enable_paravirtualization", "disruptions", "live_migration_policy", "node_selector", "tolerations", "affinity",
    "topology_spread_constraints", "priority_class_name", "virtual_machine_ip_address_name", "termination_grace_period_seconds",
)  # fmt: skip
PASSTHROUGH = ("node_selector", "tolerations", "node_affinity", "virtual_machine_and_pod_affinity", "virtual_machine_and_pod_anti_affinity",
               "topology_spread_constraints")  # fmt: skip
REQUIRED_TO_APPLY = ("cpu", "memory", "block_device_refs")
USER_DATA_LIMIT = 2048  # bytes (the CRD's CEL rule)
PROVISIONING_BLOCKS = {"UserData": "user_data", "UserDataRef": "user_data_ref", "SysprepRef": "sysprep_ref"}
ACTIVE_PHASES = (v.VM_RUNNING, v.VM_STARTING, v.MIGRATING)
POWER_STATES = ("running", "stopped", "restarted")


# -- the desired object -------------------------------------------------------------------------------------------
def core_fraction(value: Any) -> str | None:
    """10, "10" or "10%" → "10%"; "Auto" stays; None when not given. ValueError for anything else."""
    if value is None:
        return None
    if str(value) == "Auto":
        return "Auto"
    percent = fraction_percent(value)
    if percent is None:
        raise ValueError(f"cpu.core_fraction: must be Auto or a percentage from 1% to 100% (5, 5%), not {value!r}")
    return f"{percent}%"


def spec_given(params: dict[str, Any]) -> bool:
    return any(params.get(option) is not None for option in SPEC_OPTIONS)


def desired_spec(params: dict[str, Any]) -> dict[str, Any]:
    given = {option: copy.deepcopy(params.get(option)) for option in SPEC_OPTIONS}
    if given["cpu"] is not None:
        given["cpu"]["core_fraction"] = core_fraction(given["cpu"].get("core_fraction"))
    return to_api(given, PASSTHROUGH)


def desired_vm(params: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": metadata, "spec": desired_spec(params)}


# -- checks ---------------------------------------------------------------------------------------------------------
def static_problems(params: dict[str, Any], metadata: dict[str, Any]) -> list[str]:
    """What can be refused from the task alone, each naming the option and the rule."""
    problems: list[str] = []
    state = params["state"]
    if state == "absent":
        return problems
    problems += [f"name/labels/annotations: {p}" for p in vm_rules.check_metadata(metadata, creating=True)]
    cpu = params.get("cpu")
    if cpu is not None:
        problem = vm_rules.check_cores(cpu.get("cores"))
        if problem:
            problems.append(f"cpu.cores: {problem} (CPU topology: 1-16 cores on 1 socket, 17-32 even, 33-64 multiples of 4, 65-248 multiples of 8)")
        try:
            core_fraction(cpu.get("core_fraction"))
        except ValueError as err:
            problems.append(str(err))
    memory = params.get("memory")
    if memory is not None and not (is_quantity(memory.get("size")) and str(memory.get("size")).strip()[:1] not in "-+"):
        problems.append(f"memory.size: must be a quantity such as 2Gi or 1536Mi, not {memory.get('size')!r}")
    refs = params.get("block_device_refs")
    if refs is not None:
        if not refs:
            problems.append("block_device_refs: give at least one block device (the boot disk first)")
        api_refs = to_api(refs)
        problems += [f"block_device_refs: {p}" for p in vm_rules.check_block_devices(api_refs)]
    provisioning = params.get("provisioning")
    if provisioning is not None:
        kind = provisioning.get("type")
        for block in PROVISIONING_BLOCKS.values():
            if block == PROVISIONING_BLOCKS[kind] and provisioning.get(block) is None:
                problems.append(f"provisioning.{block}: required with provisioning.type={kind}")
            if block != PROVISIONING_BLOCKS[kind] and provisioning.get(block) is not None:
                problems.append(f"provisioning.{block}: not allowed with provisioning.type={kind}")
        data = provisioning.get("user_data")
        if data is not None and len(data.encode()) > USER_DATA_LIMIT:
            problems.append(f"provisioning.user_data: at most {USER_DATA_LIMIT} bytes inline, got {len(data.encode())}; put it in a Secret and use UserDataRef")
    if params.get("os_type") == "Legacy":
        if params.get("bootloader") not in (None, "BIOS"):
            problems.append("bootloader: the Legacy os_type requires the BIOS bootloader")
        if provisioning is not None:
            problems.append("provisioning: the Legacy os_type does not support provisioning (no cloud-init or Sysprep)")
    affinity = params.get("affinity") or {}
    for option, value in (("tolerations", params.get("tolerations")), ("topology_spread_constraints", params.get("topology_spread_constraints")),
                          *((f"affinity.{key}", affinity.get(key)) for key in sorted(affinity))):  # fmt: skip
        problems += snake_spelled(value, option)
    if state in POWER_STATES and params.get("apply_pending_changes") and state != "running":
        problems.append(f"apply_pending_changes: only with state=present or state=running, not state={state}")
    return problems


def missing_to_apply(params: dict[str, Any], exists: bool = True) -> list[str]:
    """The options the apply needs that the task does not give. For a VM that does not exist, the message says so
    first: a power state (or state=present) with no spec is a task about an existing VM, not a half-given spec."""
    missing = [option for option in REQUIRED_TO_APPLY if params.get(option) is None]
    if not missing:
        return []
    if exists:
        return [f"{', '.join(missing)}: required to create or update the VirtualMachine (the module applies the whole spec it manages)"]
    vm = f"VirtualMachine {params['namespace']}/{params['name']}"
    fields = ", ".join(f"spec.{camel(option)}" for option in missing)
    state = params["state"]
    if not spec_given(params) and state in POWER_STATES:
        head = f"name/namespace: {vm} does not exist; state={state} without spec options only changes the power state of an existing VirtualMachine"
    else:
        head = f"name/namespace: {vm} does not exist"
    return [f"{head}. To create it, give {', '.join(missing)} ({fields}; virtual_machine_class_name and the other spec options as needed)"]


def effective_run_policy(params: dict[str, Any], actual: dict[str, Any] | None) -> str:
    return params.get("run_policy") or ((actual or {}).get("spec") or {}).get("runPolicy") or v.RUN_ALWAYS_ON_UNLESS_STOPPED


def run_policy_problems(state: str, policy: str) -> list[str]:
    """§4.6: which power states a run policy allows (VMOP applicability)."""
    if state == "stopped" and policy == v.RUN_ALWAYS_ON:
        return [
            "state=stopped: the VM's run policy is AlwaysOn, which restarts it whenever it stops; a Stop operation is not applicable to it. "
            "Set run_policy to Manual or AlwaysOnUnlessStoppedManually (then stop it), or to AlwaysOff"
        ]
    if state in ("running", "restarted") and policy == v.RUN_ALWAYS_OFF:
        return [f"state={state}: the VM's run policy is AlwaysOff, which keeps it stopped; set run_policy to Manual, AlwaysOn or AlwaysOnUnlessStoppedManually"]
    return []


def default_class(client: DVPClient) -> dict[str, Any] | None:
    for item in client.list(VIRTUAL_MACHINE_CLASS)["items"]:
        if (item["metadata"].get("annotations") or {}).get(v.DEFAULT_CLASS_ANNOTATION) == "true":
            return item
    return None


def runs_after(state: str, policy: str, actual: dict[str, Any] | None) -> bool:
    """Whether the task leaves the VM running (or on its way to it), so that the platform needs its disks: the power
    states, else the run policy (§4.6): AlwaysOn runs, AlwaysOff never; a new VM starts unless its policy is Manual;
    state=present leaves an existing VM's power state as it is."""
    if state == "stopped" or policy == v.RUN_ALWAYS_OFF:
        return False
    if state in ("running", "restarted") or policy == v.RUN_ALWAYS_ON:
        return True
    if actual is None:
        return policy != v.RUN_MANUAL
    return _status(actual).get("phase") not in (v.VM_STOPPED, v.VM_STOPPING)


def server_problems(client: DVPClient, namespace: str, spec: dict[str, Any], actual: dict[str, Any] | None, refs: References,
                    warnings: list[str] | None = None, runs_as: str | None = None, will_wait: bool = True) -> list[str]:
    """Checks against what the server holds: the class and its sizing policy, the block devices, the Secret, the
    VirtualMachineIPAddress, the PriorityClass; with `runs_as` (the VM's name, when the task leaves it running:
    runs_after), that no other VM holds one of its disks.

    A block device, provisioning Secret, VirtualMachineIPAddress or PriorityClass that does not exist is legal on the
    platform: the VM is created and waits in Pending (BlockDevicesReady, ProvisioningReady, VirtualMachineIPAddressReady
    or, its pod refused, Running False, §4.7, §4.8, §5) until it appears. So it is refused when the task waits for the
    VM (`will_wait`: the wait could only time out) and, with wait=false, only warned about (into `warnings`), for
    playbooks that create the VM before its disks - as virtual_disk does with a missing source. A class that does not
    exist (or no default class when none is named) is refused. In check mode none of them is refused: each is a
    reference not verified (`refs`: an earlier task may create it), and the sizing policy of a missing class is not
    checked.

    VirtualMachineClasses are cluster-scoped: a project user holding only the platform's use roles may not read them
    (RBAC.md section 6). Their class checks are then left to the platform's admission, which runs them anyway; a note
    goes to `warnings` instead of failing a request the user is entitled to make."""
    problems: list[str] = []
    current = (actual or {}).get("spec") or {}
    # a class an earlier task applied and this one leaves out is removed by the apply (the platform then defaults it
    # or refuses): only a class another manager set (kubectl, the platform's defaulting of a create) stays
    dropped = actual is not None and not spec.get("virtualMachineClassName") and ("spec", "virtualMachineClassName") in owned_paths(actual)
    class_name = spec.get("virtualMachineClassName") or (None if dropped else current.get("virtualMachineClassName"))
    vmclass = None
    try:
        if class_name:
            vmclass = client.get(VIRTUAL_MACHINE_CLASS, class_name)
            if vmclass is None and not refs.missing(f"virtual_machine_class_name: VirtualMachineClass {class_name} does not exist"):
                problems.append(f"virtual_machine_class_name: VirtualMachineClass {class_name!r} does not exist (vm_class_info lists the classes)")
        else:
            vmclass = default_class(client)
            if vmclass is not None:
                class_name = vmclass["metadata"]["name"]
            elif not refs.missing("virtual_machine_class_name: not given, and no VirtualMachineClass is marked as the default class"):
                removed = f" (the VM's class {current.get('virtualMachineClassName')!r}, set by an earlier task, is removed when the task leaves it out)"
                problems.append("virtual_machine_class_name: not given, and no VirtualMachineClass is marked as the default class"
                                + (removed if dropped else ""))  # fmt: skip
    except APIStatusError as err:
        if err.status != 403:
            raise
        vmclass = None
        if warnings is not None:
            warnings.append("the class and its sizing policy were not checked before the request: this user may not read "
                            "VirtualMachineClasses (cluster-scoped); the platform's admission checks them")
    cpu = spec.get("cpu") or {}
    cores = cpu.get("cores")
    if vmclass is not None and isinstance(cores, int) and not vm_rules.check_cores(cores):
        policies = (vmclass.get("spec") or {}).get("sizingPolicies")
        memory = (spec.get("memory") or {}).get("size")
        if policies and vm_rules.matching_policy(policies, cores) is None:
            # The cores fit no policy: that is the problem, core fraction given or not (without one, the platform's
            # defaulting would refuse first, blaming the core fraction the task did not set).
            problem = vm_rules.check_sizing_policy(cores, cpu.get("coreFraction"), memory or 0, class_name, policies)
            problems.append(f"cpu.cores: the VirtualMachine {problem} (class policies: {describe_policies(policies)})")
        else:
            fraction = cpu.get("coreFraction") or (current.get("cpu") or {}).get("coreFraction")
            try:
                fraction = fraction or vm_rules.default_core_fraction(cores, class_name, policies)
            except vm_rules.DefaultingError as err:
                problems.append(f"cpu.core_fraction: {err}")
                fraction = None
            if fraction is not None and memory is not None:
                problem = vm_rules.check_sizing_policy(cores, fraction, memory, class_name, policies)
                if problem:
                    problems.append(f"cpu/memory: the VirtualMachine {problem} (class policies: {describe_policies(policies)})")
    devices = spec.get("blockDeviceRefs") or []
    for i, ref in enumerate(devices):
        kind = DEVICE_KINDS[ref["kind"]]
        try:
            obj = client.get(kind, ref["name"], namespace)
        except APIStatusError as err:
            if err.status != 403 or kind.namespaced:
                raise
            if warnings is not None:  # a ClusterVirtualImage, which project users may not read: admission checks it
                warnings.append(f"block_device_refs[{i}]: {kind.describe(ref['name'], None)} was not checked before the request: "
                                "this user may not read it; the platform's admission checks it")
            continue
        if obj is None:
            missing = f"block_device_refs[{i}]: {kind.describe(ref['name'], namespace if kind.namespaced else None)} does not exist"
            _missing(problems, warnings, will_wait, missing, "BlockDevicesReady", refs)
            continue
        if i == 0:
            problem = vm_rules.check_first_device(ref, obj.get("status"))
            if problem:
                problems.append(f"block_device_refs[0]: {problem}")
        if kind is VIRTUAL_DISK and runs_as is not None:
            problem = disk_holder_problem(client, namespace, runs_as, i, obj)
            if problem:
                problems.append(problem)
    provisioning = spec.get("provisioning") or {}
    for ref_name in ("userDataRef", "sysprepRef"):
        ref = provisioning.get(ref_name)
        if not ref:
            continue
        secret = client.get(SECRET, ref["name"], namespace)
        wanted = v.SECRET_TYPE_CLOUD_INIT if ref_name == "userDataRef" else v.SECRET_TYPE_SYSPREP
        option = "provisioning.user_data_ref" if ref_name == "userDataRef" else "provisioning.sysprep_ref"
        if secret is None:
            _missing(problems, warnings, will_wait, f"{option}: Secret {namespace}/{ref['name']} does not exist", "ProvisioningReady", refs)
        elif secret.get("type") != wanted:
            problems.append(f"{option}: Secret {namespace}/{ref['name']} has type {secret.get('type')!r}; the platform only reads type {wanted}")
    address = spec.get("virtualMachineIPAddressName")
    if address and address != ((current or {}).get("virtualMachineIPAddressName")):
        described = f"virtual_machine_ip_address_name: VirtualMachineIPAddress {namespace}/{address}"
        if _read_reference(client, VIRTUAL_MACHINE_IP_ADDRESS, address, namespace, warnings, f"{described} was not checked before the request: "
                           "this user may not read it") is None:  # fmt: skip
            _missing(problems, warnings, will_wait, f"{described} does not exist", v.COND_VMIP_READY, refs)
    priority_class = spec.get("priorityClassName")
    if priority_class and priority_class != current.get("priorityClassName"):
        described = f"priority_class_name: PriorityClass {priority_class}"
        if _read_reference(client, PRIORITY_CLASS, priority_class, None, warnings, f"{described} was not checked before the request: this user "
                           "may not read PriorityClasses (cluster-scoped)") is None:  # fmt: skip
            # the platform keeps the VM Pending: the Priority admission plugin refuses its virt-launcher pod
            _missing(problems, warnings, will_wait, f"{described} does not exist", v.COND_RUNNING, refs)
    return problems


def _read_reference(client: DVPClient, kind: Kind, name: str, namespace: str | None, warnings: list[str] | None, unreadable: str) -> dict[str, Any] | None:
    """The object a VM refers to (None: it does not exist). One this user may not read (403) counts as present, with
    `unreadable` in `warnings`: the platform checks it anyway."""
    try:
        return client.get(kind, name, namespace)
    except APIStatusError as err:
        if err.status != 403:
            raise
        if warnings is not None:
            warnings.append(unreadable)
        return {}


def _missing(problems: list[str], warnings: list[str] | None, will_wait: bool, missing: str, condition: str, refs: References) -> None:
    """A referenced object that does not exist: in check mode a reference not verified (refs), else refused when the
    task waits for the VM, else warned about."""
    if refs.missing(missing):
        return
    if will_wait or warnings is None:
        problems.append(f"{missing}; create it first, or set wait=false to create the VirtualMachine now (it waits in Pending, {condition}=False)")
    else:
        warnings.append(f"{missing}: the VirtualMachine is created and waits in Pending ({condition}=False) until it does (wait=false)")


def describe_policies(policies: list[dict[str, Any]] | None) -> str:
    """`cores 1-4: memory 1Gi-8Gi step 512Mi, coreFractions 5%, 10%; …` for error messages."""
    out = []
    for p in policies or []:
        cores = p.get("cores") or {}
        parts = [f"cores {cores.get('min')}-{cores.get('max')}" + (f" step {cores['step']}" if cores.get("step") else "")]
        mem = p.get("memory") or {}
        if mem.get("min") or mem.get("max"):
            parts.append(f"memory {mem.get('min', '0')}-{mem.get('max', '')}" + (f" step {mem['step']}" if mem.get("step") else ""))
        per = mem.get("perCore") or {}
        if per:
            parts.append(f"memory per core {per.get('min', '0')}-{per.get('max', '')}" + (f" step {mem['step']}" if mem.get("step") else ""))
        if p.get("coreFractions"):
            parts.append("coreFractions " + ", ".join(str(f) for f in p["coreFractions"]))
        out.append(": ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0])
    return "; ".join(out)


# -- waiting --------------------------------------------------------------------------------------------------------
def _status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def sizing_failure(obj: dict[str, Any]) -> WaitOutcome | None:
    """SizingPolicyMatched=False for the current generation: the VM will not start, nothing to wait for."""
    cond = condition(obj, v.COND_SIZING_POLICY_MATCHED)
    if cond and cond.get("status") == "False" and cond.get("observedGeneration", 0) >= obj["metadata"].get("generation", 1):
        return WaitOutcome(failed=True, message=f"{v.COND_SIZING_POLICY_MATCHED}=False ({cond.get('reason')}): {cond.get('message', '')}")
    return None


def expects_ip(obj: dict[str, Any]) -> bool:
    return vm_rules.has_main_network(obj.get("spec") or {})


def running(obj: dict[str, Any] | None) -> WaitOutcome:
    """Running on a node, with an IP address when the VM has the Main network."""
    if obj is None:
        return WaitOutcome(failed=True, message="the VirtualMachine was deleted while waiting")
    status = _status(obj)
    if status.get("phase") == v.VM_RUNNING and status.get("nodeName") and (status.get("ipAddress") or not expects_ip(obj)) and observed(obj).done:
        return WaitOutcome(done=True)
    return sizing_failure(obj) or WaitOutcome()


def stopped(obj: dict[str, Any] | None) -> WaitOutcome:
    if obj is None:
        return WaitOutcome(failed=True, message="the VirtualMachine was deleted while waiting")
    return WaitOutcome(done=_status(obj).get("phase") == v.VM_STOPPED and observed(obj).done)


def settled(obj: dict[str, Any] | None) -> WaitOutcome:
    """state=present: the VM runs with its address, or stays stopped (its run policy's choice); in both cases
    with a status reported for its current generation (so restart-awaiting changes are current)."""
    if obj is not None and stopped(obj).done:
        return WaitOutcome(done=True)
    return running(obj)


def observed(obj: dict[str, Any] | None) -> WaitOutcome:
    """The controller has reported on the VM's current generation (status.observedGeneration, or its
    restart-awaiting condition stamped with it)."""
    if obj is None:
        return WaitOutcome(failed=True, message="the VirtualMachine was deleted while waiting")
    generation = obj["metadata"].get("generation", 1)
    if (_status(obj).get("observedGeneration") or 0) >= generation:
        return WaitOutcome(done=True)
    cond = condition(obj, v.COND_AWAITING_RESTART) or {}
    return WaitOutcome(done=cond.get("observedGeneration", 0) >= generation)


def phase_known(policy: str):
    """A phase to decide a power operation on: set, and for a Manual VM past the Pending of its creation."""

    def check(obj: dict[str, Any] | None) -> WaitOutcome:
        if obj is None:
            return WaitOutcome(failed=True, message="the VirtualMachine was deleted while waiting")
        phase = _status(obj).get("phase")
        return WaitOutcome(done=bool(phase) and not (policy == v.RUN_MANUAL and phase == v.VM_PENDING))

    return check


def operation_done(obj: dict[str, Any] | None) -> WaitOutcome:
    if obj is None:
        return WaitOutcome(failed=True, message="the operation was deleted while waiting")
    phase = _status(obj).get("phase")
    if phase == v.VMOP_COMPLETED:
        return WaitOutcome(done=True)
    if phase in (v.FAILED, v.VMOP_SUPERSEDED):
        cond = condition(obj, v.COND_COMPLETED) or {}
        return WaitOutcome(failed=True, message=f"phase {phase}: {cond.get('reason', phase)}: {cond.get('message', '')}".rstrip(": "))
    return WaitOutcome()


# -- operations -----------------------------------------------------------------------------------------------------
def operate(client: DVPClient, vm: dict[str, Any], kind: str, force: bool, check_mode: bool, timeout: float) -> dict[str, Any]:
    """Create a VirtualMachineOperation (generateName `<vm>-`) and, unless in check mode, wait until it completes."""
    meta = vm["metadata"]
    spec: dict[str, Any] = {"type": kind, "virtualMachineName": meta["name"]}
    if force and kind != v.VMOP_START:  # the CRD forbids force on Start
        spec["force"] = True
    body = {
        "apiVersion": VIRTUAL_MACHINE_OPERATION.api_version,
        "kind": VIRTUAL_MACHINE_OPERATION.kind,
        "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"]},
        "spec": spec,
    }
    op = client.create(VIRTUAL_MACHINE_OPERATION, body, meta["namespace"], dry_run=check_mode, what=operation_attempt(body))
    if check_mode:
        return op
    return wait_for(client, VIRTUAL_MACHINE_OPERATION, op["metadata"]["name"], meta["namespace"], operation_done, timeout) or op


def power_plan(state: str, policy: str, phase: str | None, force: bool, pending: bool) -> str | None:
    """The operation a power state needs from a VM in `phase` (None: nothing to send, at most wait)."""
    if state == "running":
        if phase in (v.VM_STOPPED, v.VM_STOPPING) and policy in (v.RUN_MANUAL, v.RUN_ALWAYS_ON_UNLESS_STOPPED):
            return v.VMOP_START
        if pending and phase == v.VM_RUNNING:
            return v.VMOP_RESTART
        return None
    if state == "stopped":
        if phase == v.VM_STOPPED or policy == v.RUN_ALWAYS_OFF or (phase == v.VM_STOPPING and not force):
            return None
        return v.VMOP_STOP
    if state == "restarted":
        if phase in (v.VM_STOPPED, v.VM_STOPPING) and not (phase == v.VM_STOPPING and force):
            return v.VMOP_START if policy != v.RUN_ALWAYS_ON else None
        return v.VMOP_RESTART
    if state == "present" and pending and phase == v.VM_RUNNING:
        return v.VMOP_RESTART
    return None


def summary(obj: dict[str, Any] | None) -> dict[str, Any]:
    status = _status(obj)
    spec = (obj or {}).get("spec") or {}
    resources = status.get("resources") or {}
    return {
        "namespace": (obj or {}).get("metadata", {}).get("namespace"),
        "phase": status.get("phase"),
        "node": status.get("nodeName") or None,
        "ip": status.get("ipAddress") or None,
        "virtual_machine_class_name": spec.get("virtualMachineClassName"),
        "run_policy": spec.get("runPolicy"),
        "cores": (spec.get("cpu") or {}).get("cores"),
        "core_fraction": (spec.get("cpu") or {}).get("coreFraction"),
        "memory": (spec.get("memory") or {}).get("size"),
        "topology": (resources.get("cpu") or {}).get("topology") or {},
        "conditions": status.get("conditions") or [],
        "restart_awaiting_changes": status.get("restartAwaitingChanges") or [],
    }


def _with_phase(obj: dict[str, Any] | None, phase: str) -> dict[str, Any]:
    out = copy.deepcopy(obj or {})
    out.setdefault("status", {})["phase"] = phase
    return out


TARGET_PHASE = {v.VMOP_START: v.VM_RUNNING, v.VMOP_RESTART: v.VM_RUNNING, v.VMOP_STOP: v.VM_STOPPED}


def ensure_vm(module: Any, client: DVPClient, ensurer: Ensurer, metadata: dict[str, Any]) -> dict[str, Any]:
    p = module.params
    name, namespace, state = p["name"], p["namespace"], p["state"]
    timeout = p["wait_timeout"]
    if state == "absent":
        outcome = ensurer.absent(VIRTUAL_MACHINE, name, namespace, wait=p["wait"], wait_timeout=timeout)
        return outcome.result(module._diff)

    actual = client.get(VIRTUAL_MACHINE, name, namespace)
    if actual is None and not spec_given(p) and ensurer.refs.missing(f"name/namespace: VirtualMachine {namespace}/{name} does not exist"):
        # check mode: a task about an existing VM (its power state) whose VM an earlier task may create
        would = state in POWER_STATES
        return _result(module, Outcome(would, None), None, [], changed=would)
    applying = spec_given(p) or actual is None
    desired = desired_vm(p, metadata) if applying else None
    problems = run_policy_problems(state, effective_run_policy(p, actual))
    if applying:
        problems += missing_to_apply(p, exists=actual is not None)
    runs = runs_after(state, effective_run_policy(p, actual), actual)
    # The checks against other objects guard a write or a start; a VM already as declared is not written (an
    # idempotent re-run costs one read, not one per class, disk and Secret), a running one is not started.
    if not problems and applying and not unchanged(desired, actual):
        notes: list[str] = []
        waits = task_waits(module)
        problems += server_problems(client, namespace, desired_spec(p), actual, ensurer.refs, notes, runs_as=name if runs else None, will_wait=waits)
        for note in notes:
            module.warn(note)
    elif not problems and actual is not None and runs and _status(actual).get("phase") not in ACTIVE_PHASES:
        problems += held_disk_problems(client, namespace, actual)
    if problems:
        raise DVPError("; ".join(problems), problems=problems)

    if applying:
        outcome = ensurer.present(VIRTUAL_MACHINE, desired, force_conflicts=p["force_conflicts"], known=actual)
    else:
        outcome = Outcome(False, actual, actual, actual)
    vm = outcome.resource or {}
    created = actual is None
    operations: list[dict[str, Any]] = []
    policy = effective_run_policy(p, vm)
    pending_mode = p.get("apply_pending_changes")
    automatic = ((vm.get("spec") or {}).get("disruptions") or {}).get("restartApprovalMode") == v.RESTART_APPROVAL_AUTOMATIC

    if module.check_mode:
        if created:
            return _result(module, outcome, vm, operations, changed=True)
        # the changes this task makes that a running VM applies only when restarted, besides those already waiting
        # (the dry run's answer has the new spec and the old status; the controller compares the same fields)
        waiting = _status(vm).get("restartAwaitingChanges") or []
        if outcome.changed and actual is not None:
            waiting = waiting or vm_rules.awaiting_changes(vm_rules.restart_fields(actual.get("spec") or {}), vm_rules.restart_fields(vm.get("spec") or {}))
        if _status(vm).get("phase") not in ACTIVE_PHASES:
            waiting = []
        plan = power_plan(state, policy, _status(vm).get("phase"), p["force"], pending=bool(pending_mode and waiting and not automatic))
        if waiting and not pending_mode:
            paths = ", ".join(str(c.get("path")) for c in waiting)
            module.warn(f"the VM would run with its previous configuration until it is restarted ({paths}); set apply_pending_changes=restart "
                        "or state=restarted to apply it")  # fmt: skip
        elif waiting and automatic:
            module.warn("disruptions.restart_approval_mode is Automatic: the platform would restart the VM itself to apply the changes")
        if plan:
            operations.append(operate(client, vm, plan, p["force"], True, timeout))
            outcome.after = _with_phase(outcome.after, TARGET_PHASE[plan])
        return _result(module, outcome, vm, operations, changed=outcome.changed or bool(plan))

    need_decision = state in POWER_STATES or pending_mode
    if need_decision:
        vm = wait_for(client, VIRTUAL_MACHINE, name, namespace, phase_known(policy), timeout)
        if outcome.changed and _status(vm).get("phase") == v.VM_RUNNING:
            vm = wait_for(client, VIRTUAL_MACHINE, name, namespace, observed, timeout)
        pending = bool(pending_mode and _status(vm).get("restartAwaitingChanges")) and not automatic
        plan = power_plan(state, policy, _status(vm).get("phase"), p["force"], pending)
        if plan:
            operations.append(operate(client, vm, plan, p["force"], False, timeout))
    final = vm
    if p["wait"]:
        target = {"running": running, "restarted": running, "stopped": stopped}.get(state, settled)
        if state == "present" and operations:
            target = running
        final = wait_for(client, VIRTUAL_MACHINE, name, namespace, target, timeout)
        if pending_mode and automatic and _status(final).get("restartAwaitingChanges"):
            module.warn("disruptions.restart_approval_mode is Automatic: the platform restarts the VM itself to apply the pending changes")
    elif operations:
        final = client.get(VIRTUAL_MACHINE, name, namespace) or vm  # as the operations left it
    if operations:
        outcome.after = final
    changed = outcome.changed or bool(operations)
    awaiting = _status(final).get("restartAwaitingChanges") or []
    if awaiting and not pending_mode and _status(final).get("phase") == v.VM_RUNNING:
        paths = ", ".join(str(c.get("path")) for c in awaiting)
        module.warn(
            f"the VM runs with its previous configuration until it is restarted ({paths}); set apply_pending_changes=restart or state=restarted to apply it"
        )
    return _result(module, outcome, final, operations, changed)


def _result(module: Any, outcome: Outcome, vm: dict[str, Any] | None, operations: list[dict[str, Any]], changed: bool) -> dict[str, Any]:
    outcome.resource = vm
    result = outcome.result(module._diff)
    result["changed"] = changed
    result["vm"] = summary(vm)
    result["operations"] = [
        {"name": op["metadata"].get("name") or op["metadata"].get("generateName"), "type": op["spec"]["type"], "phase": _status(op).get("phase")}
        for op in operations
    ]
    return result
