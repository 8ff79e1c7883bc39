#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm_class
short_description: Manage VirtualMachineClasses (vCPU model, placement, sizing policies)
version_added: 0.1.0
description:
  - Creates, updates and deletes a C(VirtualMachineClass) of the Deckhouse Virtualization Platform.
  - Before anything is written, the module checks CPU model and feature names against libvirt's CPU map and the sizing rules of the admin guide
    (sequential, non-overlapping core ranges; memory or core fractions for each range; memory min not above max; a step that divides the range).
    Each problem names the policy index and the field.
  - C(cpu) cannot change once the class exists; with I(recreate=true) the class is deleted and created again, but only while no virtual machine uses it.
    Node selector, tolerations and sizing policies change in place.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.state
options:
  name:
    description: Name of the class.
    type: str
    required: true
  cpu:
    description:
      - The vCPU of the class (C(spec.cpu)). Required with I(state=present).
    type: dict
    suboptions:
      type:
        description:
          - C(Host) (the node's CPU model), C(HostPassthrough) (the node's physical CPU), C(Discovery) (the common features of a set of nodes),
            C(Model) (a named libvirt model), C(Features) (a required feature set).
        type: str
        required: true
        choices: [Host, HostPassthrough, Discovery, Model, Features]
      model:
        description: With C(Model), a libvirt CPU model name such as C(IvyBridge).
        type: str
      features:
        description: With C(Features), CPU features such as C(vmx).
        type: list
        elements: str
      discovery:
        description: With C(Discovery), which nodes define the CPU.
        type: dict
        suboptions:
          node_selector:
            description: A Kubernetes label selector (C(matchLabels), C(matchExpressions)), written as the API writes it. Empty means all nodes.
            type: dict
  node_selector:
    description:
      - Where virtual machines of this class may run (C(spec.nodeSelector)), written as the API writes it (C(matchLabels), C(matchExpressions)).
    type: dict
  tolerations:
    description:
      - Pod tolerations added to the virtual machines of this class, written as the API writes them.
    type: list
    elements: dict
  sizing_policies:
    description:
      - Allowed resources per range of cores (C(spec.sizingPolicies)).
    type: list
    elements: dict
    suboptions:
      cores:
        description: The range of cores the policy applies to.
        type: dict
        required: true
        suboptions:
          min: {description: First core count of the range., type: int, required: true}
          max: {description: Last core count of the range., type: int, required: true}
          step: {description: Allowed core counts are min + k * step., type: int}
      memory:
        description: Memory for the range, in total (min, max, step) or per core (per_core).
        type: dict
        suboptions:
          min: {description: "Least memory, for example C(1Gi).", type: str}
          max: {description: "Most memory, for example C(8Gi).", type: str}
          step: {description: Memory grows in steps of this size., type: str}
          per_core:
            description: Memory per core.
            type: dict
            suboptions:
              min: {description: Least memory per core., type: str}
              max: {description: Most memory per core., type: str}
      core_fractions:
        description: Allowed guaranteed CPU shares, as C(5) or C(5%).
        type: list
        elements: raw
      dedicated_cores:
        description: Whether dedicated cores may be used.
        type: list
        elements: bool
      default_core_fraction:
        description: The share given to VMs that do not ask for one (C(20), C(20%) or C(Auto)); must be one of I(core_fractions).
        type: raw
  default:
    description:
      - Make this the default class (annotation C(virtualmachineclass.virtualization.deckhouse.io/is-default-class)). Only one class may be the default.
    type: bool
    default: false
  recreate:
    description:
      - When C(cpu) must change, delete and re-create the class instead of failing (refused while virtual machines use it).
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported.
  - With I(wait=true) the module waits for phase C(Ready); C(Host) and C(HostPassthrough) classes are ready at once.
    When the platform reports that no node can run the class (C(NoSuitableNodesFound), for example a CPU model no node offers),
    the task fails at once with the platform's reason instead of waiting out I(wait_timeout).
  - With C(Discovery), I(cpu.discovery.node_selector) only chooses the nodes whose common CPU features define the class's vCPU;
    it does not limit where the class's VMs run - every node with those features qualifies (the admin guide's C(cpuX) example
    means "only on blue nodes", but its VMs also run on the green ones). Give the class I(node_selector) too to keep them there;
    without it the module warns.
  - The CPU name checks need C(libvirt-python) where the module runs; without it the module warns, skips them, and relies on the platform's verdict.
  - Options that contradict each other are refused before anything is sent, naming them (for example I(cpu) with I(state=absent),
    a negative I(wait_timeout)).
seealso:
  - module: deckhouse.virtualization.vm_class_info
"""

EXAMPLES = r"""
- name: A class with the common CPU of every worker (the admin guide's "universal")
  deckhouse.virtualization.vm_class:
    name: universal
    cpu:
      type: Discovery
      discovery:
        node_selector:
          matchExpressions:
            - {key: node-role.kubernetes.io/control-plane, operator: DoesNotExist}
    sizing_policies:
      - cores: {min: 1, max: 4}
        memory: {min: 1Gi, max: 8Gi, step: 512Mi}
        core_fractions: [5, 10, 20, 50, 100]
      - cores: {min: 5, max: 8}
        memory: {min: 5Gi, max: 16Gi, step: 1Gi}
        core_fractions: [20, 50, 100]

- name: The admin guide's cpuX - the common CPU of the blue nodes, and VMs only on blue nodes
  # discovery.node_selector only picks the nodes whose common CPU features define the vCPU; without the class
  # node_selector, the platform places cpuX VMs on every node that has those features (the green ones too).
  deckhouse.virtualization.vm_class:
    name: cpux
    cpu:
      type: Discovery
      discovery:
        node_selector:
          matchExpressions:
            - {key: group, operator: In, values: [blue]}
    node_selector:
      matchExpressions:
        - {key: group, operator: In, values: [blue]}

- name: A class pinned to a CPU model on green nodes
  deckhouse.virtualization.vm_class:
    name: ivybridge
    cpu: {type: Model, model: IvyBridge}
    node_selector:
      matchExpressions:
        - {key: node.deckhouse.io/group, operator: In, values: [green]}
"""

RETURN = r"""
resource:
  description: The VirtualMachineClass as the server holds it. Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
vm_class:
  description: The class's state in short.
  returned: when state is present
  type: dict
  contains:
    phase:
      description: C(Pending), C(Ready) or C(Terminating).
      type: str
      returned: always
    available_nodes:
      description: Nodes where virtual machines of the class can run.
      type: list
      elements: str
      returned: always
    cpu_features:
      description: C(enabled) (the class's features) and C(not_enabled_common) (present on every available node but not enabled).
      type: dict
      returned: always
    max_allocatable_resources:
      description: The largest allocatable cpu and memory among the available nodes.
      type: dict
      returned: always
    conditions:
      description: The platform's conditions.
      type: list
      elements: dict
      returned: always
    default:
      description: Whether this is the default class.
      type: bool
      returned: always
diff:
  description: Before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import arg_spec, masking, metadata, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.cpu_models import available_map
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vmclass_rules import check_cpu, check_sizing_policies
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vmclass_service import ensure_class, spelling_problems

# Options that only mean something with state=present (refused with state=absent).
PRESENT_ONLY = ("cpu", "node_selector", "tolerations", "sizing_policies", "default", "recreate")
QUANTITY = {"type": "str"}
SIZING_POLICY = {
    "cores": {
        "type": "dict",
        "required": True,
        "options": {"min": {"type": "int", "required": True}, "max": {"type": "int", "required": True}, "step": {"type": "int"}},
    },
    "memory": {
        "type": "dict",
        "options": {"min": QUANTITY, "max": QUANTITY, "step": QUANTITY, "per_core": {"type": "dict", "options": {"min": QUANTITY, "max": QUANTITY}}},
    },
    "core_fractions": {"type": "list", "elements": "raw"},
    "dedicated_cores": {"type": "list", "elements": "bool"},
    "default_core_fraction": {"type": "raw"},
}
CPU = {
    "type": "dict",
    "options": {
        "type": {"type": "str", "required": True, "choices": ["Host", "HostPassthrough", "Discovery", "Model", "Features"]},
        "model": {"type": "str"},
        "features": {"type": "list", "elements": "str"},
        "discovery": {"type": "dict", "options": {"node_selector": {"type": "dict"}}},
    },
}


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return dict(
        argument_spec=arg_spec(
            namespaced=False,
            cpu=CPU,
            node_selector={"type": "dict"},
            tolerations={"type": "list", "elements": "dict"},
            sizing_policies={"type": "list", "elements": "dict", "options": SIZING_POLICY},
            default={"type": "bool", "default": False},
            recreate={"type": "bool", "default": False},
        ),
        required_if=[("state", "present", ["cpu"])],
    )


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    p = module.params
    problems = option_problems(p, PRESENT_ONLY)
    if p["state"] == "present":
        cpu_map, unavailable = available_map()
        if unavailable:
            module.warn(
                f"CPU model and feature names are not checked before writing: {unavailable}. Install libvirt-python to get these checks; "
                "meanwhile a class no node can run fails the task with the platform's reason."
            )
        # an explicit null passes required_if (it counts the option as given): AnsibleModule's own wording
        cpu_problems = check_cpu(p["cpu"], cpu_map) if p["cpu"] is not None else ["state is present but all of the following are missing: cpu"]
        problems += cpu_problems + check_sizing_policies(p.get("sizing_policies") or []) + spelling_problems(p)
    refuse(module, problems)
    if (
        p["state"] == "present"
        and p["cpu"]["type"] == "Discovery"
        and (p["cpu"].get("discovery") or {}).get("node_selector")
        and p.get("node_selector") is None
    ):
        module.warn(
            "cpu.discovery.node_selector only chooses the nodes that define the vCPU's features; VMs of this class may run on any other node "
            "with those features too. To keep them on the discovery nodes, give node_selector the same selector"
        )
    run(module, lambda client, ensurer: ensure_class(module, client, ensurer, metadata(p, namespaced=False)))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
