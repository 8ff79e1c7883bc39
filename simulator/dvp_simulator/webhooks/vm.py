"""VirtualMachine admission (BEHAVIOUR.md §4.3 mutating, §4.4 validating). The rules themselves live in
`plugins/module_utils/vm_rules.py`, shared with the `vm` module; this file only fetches what they need (the
default class from an index, the class, the images, the module's CIDRs) and turns their answers into denials
and warnings.

PV node affinity (§4.4, "topology conflict"): for a VM that is not running, some node that matches its placement
(VM and class node selectors, required node affinity, tolerations of NoSchedule taints) must satisfy the node
affinity of every referenced disk's volume; for a running VM, disks newly added to blockDeviceRefs must be
reachable from its node. Candidate nodes come from the volumes' hostname terms (by key), so a request costs
the disks, not the nodes."""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vm_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from ..api.selectors import match_label_selector
from ..api.webhook_configs import Denial
from ..controllers.ipam import configured_cidrs
from ..controllers.vm import pinned_disks, unreachable_disks
from ..scheduler import node_state
from ..scheduler.core import node_affinity_matches, untolerated
from ..scheduler.model import PodRequest
from ..store.store import Store
from . import registrations
from .vmclass import DEFAULT_INDEX

GROUP = v.DVP_GROUP
CLASSES = v.resource_key(v.VIRTUAL_MACHINE_CLASS)
VMIPS = v.resource_key(v.VIRTUAL_MACHINE_IP_ADDRESS)
NODES = v.resource_key(v.NODE)
PLACEMENT_FIELDS = ("blockDeviceRefs", "nodeSelector", "affinity", "tolerations", "virtualMachineClassName")
IMAGE_RESOURCES = {v.VIRTUAL_IMAGE: v.resource_key(v.VIRTUAL_IMAGE), v.CLUSTER_VIRTUAL_IMAGE: v.resource_key(v.CLUSTER_VIRTUAL_IMAGE)}


def find_class(store: Store, name: str) -> dict[str, Any] | None:
    """The class as stored (v1alpha2: integer core fractions; vm_rules reads both forms)."""
    entry = store.get(CLASSES, "", name) if name else None
    return entry.obj if entry is not None else None


def policies_of(vmclass: dict[str, Any] | None) -> list[dict[str, Any]]:
    return ((vmclass or {}).get("spec") or {}).get("sizingPolicies") or []


def sizing_message(store: Store, vm: dict[str, Any]) -> str | None:
    """CheckVMMatchedSizePolicy for a VM against its class (None when the class is missing or the VM conforms)."""
    spec = vm.get("spec") or {}
    name = spec.get("virtualMachineClassName") or ""
    vmclass = find_class(store, name)
    if vmclass is None:
        return None
    cpu = spec.get("cpu") or {}
    return vm_rules.check_sizing_policy(cpu.get("cores") or 0, cpu.get("coreFraction"), (spec.get("memory") or {}).get("size") or 0, name, policies_of(vmclass))


def register(admission: Admission, store: Store) -> None:
    @registrations.serve(admission, "vm", "mutate")
    def mutate(request: AdmissionRequest) -> None:
        vm = request.obj
        if vm is None or (request.operation == UPDATE and vm["metadata"].get("deletionTimestamp")):
            return
        spec = vm.setdefault("spec", {})
        if not spec.get("virtualMachineClassName"):
            defaults = store.by_index(CLASSES, DEFAULT_INDEX, "true")
            if not defaults:
                raise Denial(
                    "the VirtualMachine class name (spec.virtualMachineClassName) is empty and no default VirtualMachineClass is configured; "
                    "set spec.virtualMachineClassName or ask the administrator to mark a class as the default",
                )
            if len(defaults) > 1:
                raise Denial(
                    f"several VirtualMachineClasses are marked as the default ({', '.join(e.name for e in defaults)}); set spec.virtualMachineClassName",
                )
            spec["virtualMachineClassName"] = defaults[0].name
        cpu = spec.get("cpu")
        if isinstance(cpu, dict) and not cpu.get("coreFraction"):
            name = spec["virtualMachineClassName"]
            vmclass = find_class(store, name)
            if vmclass is None:
                raise Denial(f'unable to set the default core fraction: VirtualMachineClass "{name}" not found')
            cores = cpu.get("cores")
            if isinstance(cores, int) and not isinstance(cores, bool):
                try:
                    cpu["coreFraction"] = vm_rules.default_core_fraction(cores, name, policies_of(vmclass))
                except vm_rules.DefaultingError as exc:
                    raise Denial(str(exc)) from exc
        if isinstance(spec.get("networks"), list) and all(isinstance(n, dict) for n in spec["networks"]):
            spec["networks"] = vm_rules.default_network_ids(spec["networks"])

    @registrations.serve(admission, "vm")
    def validate(request: AdmissionRequest) -> None:
        vm, old = request.obj, request.old
        if vm is None or (request.operation == UPDATE and vm["metadata"].get("deletionTimestamp")):
            return
        spec = vm.get("spec") or {}
        old_spec = (old or {}).get("spec") or {}
        creating = request.operation == CREATE
        problems = vm_rules.check_metadata(vm["metadata"], creating)
        problems += _ipam(request, vm, spec, creating)
        problems += vm_rules.check_block_devices(spec.get("blockDeviceRefs") or [])
        cores = (spec.get("cpu") or {}).get("cores")
        core_problem = vm_rules.check_cores(cores)
        if core_problem:
            problems.append(core_problem)
        problems += vm_rules.check_networks(spec.get("networks") or [])
        if spec.get("networks") and old_spec.get("networks") and not creating:
            before = {(n.get("type"), n.get("name")): n.get("id") for n in old_spec["networks"]}
            moved = [n for n in spec["networks"] if (n.get("type"), n.get("name")) in before and before[(n.get("type"), n.get("name"))] != n.get("id")]
            if moved and ((old or {}).get("status") or {}).get("phase") != v.VM_STOPPED:
                problems.append("network ids (spec.networks[].id) can only change while the VirtualMachine is Stopped")
        fraction = (spec.get("cpu") or {}).get("coreFraction")
        if fraction == "Auto" and (old_spec.get("cpu") or {}).get("coreFraction") != "Auto":
            problems.append(
                "spec.cpu.coreFraction Auto needs the VerticalVirtualMachineAutoscaler and HotplugCPUAndMemoryWithInPlaceResize feature gates, which this edition does not have"
            )
        refs = spec.get("blockDeviceRefs") or []
        if refs and (creating or refs != old_spec.get("blockDeviceRefs")):
            first = refs[0]
            res = IMAGE_RESOURCES.get(first.get("kind"))
            if res:
                entry = store.get(res, "" if first["kind"] == v.CLUSTER_VIRTUAL_IMAGE else vm["metadata"].get("namespace", ""), first.get("name", ""))
                problem = vm_rules.check_first_device(first, (entry.obj.get("status") if entry else None))
                if problem:
                    problems.append(problem)
        if creating or any(spec.get(f) != old_spec.get(f) for f in PLACEMENT_FIELDS):
            problems += _volume_affinity(vm, spec, old_spec, ((old or {}).get("status") or {}))
        if problems:
            raise Denial("; ".join(problems))
        class_name = spec.get("virtualMachineClassName") or ""
        if find_class(store, class_name) is None:
            request.warnings.append(f'VirtualMachineClass "{class_name}" not found: the VirtualMachine will remain in a pending status until it is created')
            return
        message = sizing_message(store, vm)
        if message:
            raise Denial(f"the VirtualMachine {message}")

    def _volume_affinity(vm: dict[str, Any], spec: dict[str, Any], old_spec: dict[str, Any], old_status: dict[str, Any]) -> list[str]:
        ns = vm["metadata"].get("namespace", "")
        refs = [r for r in spec.get("blockDeviceRefs") or [] if isinstance(r, dict)]
        node_name = old_status.get("nodeName")
        if node_name and old_status.get("phase") not in (None, "", v.VM_STOPPED, v.VM_PENDING):
            before = {(r.get("kind"), r.get("name")) for r in old_spec.get("blockDeviceRefs") or [] if isinstance(r, dict)}
            added = [r for r in refs if (r.get("kind"), r.get("name")) not in before]
            pinned = pinned_disks(store, ns, added)
            node = store.get(NODES, "", node_name)
            far = unreachable_disks(node_state(node.obj, []), pinned) if node is not None and pinned else []
            if far:
                return [f"topology conflict: the disks {', '.join(far)} are not reachable from the node {node_name} the virtual machine runs on"]
            return []
        pinned = pinned_disks(store, ns, refs)
        if not pinned:
            return []
        for node in _candidates(pinned):
            state = node_state(node, [])
            if not unreachable_disks(state, pinned) and _placeable(vm, spec, node, state):
                return []
        names = ", ".join(name for name, _ in pinned)
        return [
            f"topology conflict: no node that matches the placement of the virtual machine (nodeSelector, affinity, tolerations, class) "
            f"can reach the volumes of the disks {names}"
        ]

    def _candidates(pinned: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
        """The nodes the volumes name by hostname (every node when a volume's affinity says otherwise)."""
        names: set[str] | None = None
        for _, terms in pinned:
            hosts: set[str] = set()
            for term in terms:
                exprs = term.get("matchExpressions") or []
                if term.get("matchFields") or not exprs or not all(e.get("key") == v.HOSTNAME_LABEL and e.get("operator") == "In" for e in exprs):
                    return [e.obj for e in store.list(NODES)]
                hosts |= set.intersection(*(set(e.get("values") or []) for e in exprs))
            names = hosts if names is None else names & hosts
        return [e.obj for e in (store.get(NODES, "", n) for n in sorted(names or ())) if e is not None]

    def _placeable(vm: dict[str, Any], spec: dict[str, Any], node: dict[str, Any], state: Any) -> bool:
        vmclass = find_class(store, spec.get("virtualMachineClassName") or "")
        cspec = (vmclass or {}).get("spec") or {}
        if not match_label_selector(cspec.get("nodeSelector"), node["metadata"].get("labels") or {}):
            return False
        affinity = {"nodeAffinity": ((spec.get("affinity") or {}).get("nodeAffinity") or {})}
        tolerations = [*(spec.get("tolerations") or []), *(cspec.get("tolerations") or [])]
        request = PodRequest(vm["metadata"].get("namespace", ""), {}, 0, 0, dict(spec.get("nodeSelector") or {}), affinity, tolerations)
        return node_affinity_matches(request, state) and not untolerated(state.taints, tolerations, ("NoSchedule", "NoExecute"))

    def _ipam(request: AdmissionRequest, vm: dict[str, Any], spec: dict[str, Any], creating: bool) -> list[str]:
        problems = []
        cidrs = configured_cidrs(store)
        name = spec.get("virtualMachineIPAddressName")
        if name and not cidrs:
            problems.append("spec.virtualMachineIPAddressName can only be set when virtualMachineCIDRs are configured in the virtualization module settings")
        if name and not vm_rules.has_main_network(spec):
            problems.append("spec.virtualMachineIPAddressName can only be set for a VirtualMachine with the Main network")
        if vm_rules.has_main_network(spec) and not cidrs:
            problems.append(
                "the Main network needs virtualMachineCIDRs in the virtualization module settings (ModuleConfig virtualization, spec.settings.virtualMachineCIDRs)"
            )
        if creating and not name:
            own = store.get(VMIPS, vm["metadata"].get("namespace", ""), vm["metadata"].get("name", ""))
            if own is not None:
                problems.append(
                    f'a VirtualMachineIPAddress named "{own.name}" already exists in the namespace: set spec.virtualMachineIPAddressName to use it, or delete it'
                )
        return problems
