#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm
short_description: Manage VirtualMachines (spec, start, stop, restart)
version_added: 0.1.0
description:
  - Creates, updates and deletes a C(VirtualMachine) of the Deckhouse Virtualization Platform, and starts, stops or restarts it
    through C(VirtualMachineOperations) (C(Start), C(Stop), C(Restart)) as the platform's run policies allow.
  - Before anything is written, the module checks the number of cores against the CPU topology (1-16 any, 17-32 even,
    33-64 multiples of 4, 65-248 multiples of 8), and reads the class (its sizing policy - cores, memory range and step,
    memory per core, core fractions; the error quotes the policy the VM violates), the block devices (each missing one
    is named; a disk image that is not an ISO cannot be the first device; no device twice) and the provisioning Secret.
    Cores outside every sizing policy of the class are reported as such, also when I(cpu.core_fraction) is not given.
    Nothing is written when any check fails.
  - A block device, provisioning Secret or C(VirtualMachineIPAddress) (I(virtual_machine_ip_address_name)) that does not exist is
    legal on the platform - it creates the VM and keeps it C(Pending) (C(BlockDevicesReady), C(ProvisioningReady) or
    C(VirtualMachineIPAddressReady) C(False)) until the object appears. So with I(wait=true) (the
    default) it is refused before anything is written, as the wait could only time out; with I(wait=false) the VM is created
    and a warning names the missing object, for playbooks that create the disks after the VM.
  - A C(VirtualDisk) mounted by another VM that is not C(Stopped) (the disk's C(status.attachedToVirtualMachines), checked
    on that VM) is refused, naming the disk and the VM, when the task leaves this VM running or starts it - the platform
    would keep it C(Pending) with C(BlockDevicesReady=False). With I(state=stopped) or I(run_policy=AlwaysOff) (or a new
    C(Manual) VM) the disk may be listed, as the platform allows.
  - Idempotent against the platform's defaulting (class name, core fraction, network ids, CRD defaults) and with quantities
    compared by value (C(1024Mi) is C(1Gi)).
  - The spec is declared as a whole (server-side apply, as C(kubernetes.core.k8s) with C(apply=true)) - an option an
    earlier task set and this task leaves out is removed from the VM (a warning names it; I(diff) shows it). Give every
    option on each update, for instance from the same variables (the C(vms) role does). Fields set by others
    (C(kubectl), the platform's defaulting) are left alone.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.state
  - deckhouse.virtualization.batch
options:
  name:
    description: Name of the virtual machine (at most 63 characters). Required unless I(batch) is given.
    type: str
  namespace:
    description: Namespace of the virtual machine. Required with I(name); with I(batch), each element's unless given here.
    type: str
  state:
    description:
      - C(present) creates or updates the VM; its run policy decides whether it runs. With I(wait), waits until it runs
        with an IP address, or is C(Stopped).
      - C(running) also starts a stopped VM (a C(Start) operation) and waits for C(Running) with an IP address.
      - C(stopped) stops it (a C(Stop) operation; with run policy C(AlwaysOff) the platform stops it itself) and waits for C(Stopped).
        Refused before anything is written when the run policy is C(AlwaysOn), which restarts a stopped VM.
      - C(restarted) restarts it (a C(Restart) operation; a stopped VM is started) and always reports a change. Refused for C(AlwaysOff).
      - C(running), C(stopped) and C(restarted) also apply the spec when spec options are given; with none, the VM must exist
        and only its power state is managed (for a VM that does not exist the error says so, and names the options that create it).
      - C(absent) deletes the VM (its disks, images and explicitly created IP addresses stay).
    type: str
    choices: [present, absent, running, stopped, restarted]
    default: present
  force:
    description:
      - Stop or restart at once, without a graceful guest shutdown (the operation's C(force)). Not used by C(Start).
    type: bool
    default: false
  apply_pending_changes:
    description:
      - Most spec changes of a running VM wait for a restart (C(status.restartAwaitingChanges), returned as
        I(vm.restart_awaiting_changes)). With C(restart), the module restarts the VM (a C(Restart) operation) when such
        changes are pending, and waits until it runs again. Only with I(state=present) or I(state=running).
      - Without it, pending changes are returned and a warning says that the VM runs with its previous configuration.
    type: str
    choices: [restart]
  virtual_machine_class_name:
    description:
      - The VirtualMachineClass (C(spec.virtualMachineClassName)). Omitted, the platform's default class is used (and
        without a default class the task is refused before writing; the admin guide's cluster has none).
      - The class must exist; its sizing policy is checked before writing.
    type: str
  cpu:
    description: vCPUs (C(spec.cpu)). Required to create or update the VM.
    type: dict
    suboptions:
      cores:
        description: Number of cores (1-248, see the topology rule above).
        type: int
        required: true
      core_fraction:
        description:
          - Guaranteed share of each core, as C(10), C(10%) or C(Auto). Omitted, the class's default for this core count
            (the policy's C(defaultCoreFraction), else C(100%)).
        type: raw
  memory:
    description: Memory (C(spec.memory)). Required to create or update the VM.
    type: dict
    suboptions:
      size:
        description: Guest memory, a quantity such as C(2Gi).
        type: str
        required: true
  block_device_refs:
    description:
      - Disks and images (C(spec.blockDeviceRefs)), 1 to 16, booted in list order unless I(boot_order) is given.
        Required to create or update the VM.
    type: list
    elements: dict
    suboptions:
      kind:
        description: The kind of the device.
        type: str
        required: true
        choices: [VirtualDisk, VirtualImage, ClusterVirtualImage]
      name:
        description: Its name (VirtualDisk and VirtualImage in the VM's namespace).
        type: str
        required: true
      boot_order:
        description: Boot position (1 first); unique.
        type: int
  run_policy:
    description:
      - C(AlwaysOnUnlessStoppedManually) (the platform's default) starts the VM and keeps it running unless stopped;
        C(AlwaysOn) restarts it whenever it stops; C(Manual) leaves starting and stopping to the user; C(AlwaysOff) keeps it stopped.
    type: str
    choices: [AlwaysOn, AlwaysOff, Manual, AlwaysOnUnlessStoppedManually]
  provisioning:
    description:
      - Guest initialisation (C(spec.provisioning)). C(UserData) with inline cloud-init I(user_data) (at most 2048 bytes),
        C(UserDataRef) with a Secret of type C(provisioning.virtualization.deckhouse.io/cloud-init) (key C(userData)) in the
        VM's namespace, or C(SysprepRef) with a Secret of type C(provisioning.virtualization.deckhouse.io/sysprep).
      - The module does not create the Secret (create it with C(kubernetes.core.k8s)); it checks that it exists and has the right type.
        Put credentials in a Secret rather than inline, since inline user data is returned in I(resource).
    type: dict
    suboptions:
      type:
        description: Which of the blocks below is used; exactly that block must be given.
        type: str
        required: true
        choices: [UserData, UserDataRef, SysprepRef]
      user_data:
        description: Inline cloud-init user data.
        type: str
      user_data_ref:
        description: The Secret with cloud-init user data.
        type: dict
        suboptions:
          kind: {description: Always C(Secret)., type: str, choices: [Secret]}
          name: {description: Name of the Secret., type: str, required: true}
      sysprep_ref:
        description: The Secret with Sysprep answer files.
        type: dict
        suboptions:
          kind: {description: Always C(Secret)., type: str, choices: [Secret]}
          name: {description: Name of the Secret., type: str, required: true}
  os_type:
    description: Device preset (C(Generic) by default).
    type: str
    choices: [Windows, Generic, Legacy]
  bootloader:
    description: Firmware (C(BIOS) by default).
    type: str
    choices: [BIOS, EFI, EFIWithSecureBoot]
  enable_paravirtualization:
    description: Virtio devices (the platform's default is C(true)).
    type: bool
  disruptions:
    description: How changes that need a restart are applied.
    type: dict
    suboptions:
      restart_approval_mode:
        description: C(Manual) (the default) waits for a restart; C(Automatic) lets the platform restart the VM itself.
        type: str
        choices: [Manual, Automatic]
  live_migration_policy:
    description: How live migration may proceed (C(PreferSafe) by default).
    type: str
    choices: [AlwaysSafe, PreferSafe, AlwaysForced, PreferForced]
  node_selector:
    description: Node labels the VM's node must have (C(spec.nodeSelector)), a map as the API writes it; merged with the class's.
    type: dict
  tolerations:
    description: Pod tolerations, written as the API writes them.
    type: list
    elements: dict
  affinity:
    description: Placement rules (C(spec.affinity)); the contents of each are written as the API writes them.
    type: dict
    suboptions:
      node_affinity:
        description: A Kubernetes C(nodeAffinity).
        type: dict
      virtual_machine_and_pod_affinity:
        description: Pod affinity terms that also select virtual machines (C(virtualMachineAndPodAffinity)), for example by C(vm) label.
        type: dict
      virtual_machine_and_pod_anti_affinity:
        description: Anti-affinity terms (C(virtualMachineAndPodAntiAffinity)), for example to spread VMs over nodes.
        type: dict
  topology_spread_constraints:
    description: Pod topology spread constraints, written as the API writes them.
    type: list
    elements: dict
  priority_class_name:
    description:
      - The PriorityClass of the VM's pod (an admin creates it, e.g. C(kubectl create priorityclass)).
      - One that does not exist is refused before anything is written when the task waits for the VM (its pod would
        be refused and the VM stay Pending); with O(wait=false) the VM is created with a warning.
    type: str
  virtual_machine_ip_address_name:
    description: An existing VirtualMachineIPAddress to use; omitted, the platform allocates one.
    type: str
  termination_grace_period_seconds:
    description: Seconds the guest gets to shut down (60 by default).
    type: int
notes:
  - Check mode and diff mode are supported; in check mode the writes, operations included, are sent as server-side dry runs.
  - In check mode an object the task names that does not exist yet (the class or a default class, a block device, a Secret, the
    VirtualMachineIPAddress, the namespace; for a task without spec options, the VM itself) is not refused - an earlier task of the
    playbook may create it, and in check mode did not. A warning says it could not be verified, and the task reports what it would do -
    the VM as declared, not sent as a server-side dry run (the server would judge it against the missing object).
  - The module applies the spec with server-side apply. Spec options the module set earlier and a later task leaves out are removed.
  - A VM whose class forbids its size (C(SizingPolicyMatched=False)) never starts; waiting ends at once with the platform's message.
seealso:
  - module: deckhouse.virtualization.vm_info
  - module: deckhouse.virtualization.vm_class
"""

EXAMPLES = r"""
- name: The admin guide's linux-vm, running with its IP address
  deckhouse.virtualization.vm:
    name: linux-vm
    namespace: vms
    virtual_machine_class_name: generic
    cpu: {cores: 1, core_fraction: 10}
    memory: {size: 1Gi}
    block_device_refs:
      - {kind: VirtualDisk, name: linux-vm-root}
    provisioning:
      type: UserData
      user_data: |
        #cloud-config
        ssh_pwauth: true
    state: running
  register: vm

- name: Show where it runs
  ansible.builtin.debug:
    msg: "{{ vm.vm.node }} {{ vm.vm.ip }}"

- name: Grow it and restart to apply the change (every option again - what a task leaves out is removed)
  deckhouse.virtualization.vm:
    name: linux-vm
    namespace: vms
    virtual_machine_class_name: generic
    cpu: {cores: 2, core_fraction: 10}
    memory: {size: 2Gi}
    block_device_refs:
      - {kind: VirtualDisk, name: linux-vm-root}
    provisioning:
      type: UserData
      user_data: |
        #cloud-config
        ssh_pwauth: true
    apply_pending_changes: restart

- name: Keep two VMs on different nodes
  deckhouse.virtualization.vm:
    name: web-1
    namespace: vms
    labels: {app: web}
    virtual_machine_class_name: generic
    cpu: {cores: 2}
    memory: {size: 2Gi}
    block_device_refs: [{kind: VirtualDisk, name: web-1-root}]
    affinity:
      virtual_machine_and_pod_anti_affinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname

- name: Stop it at once
  deckhouse.virtualization.vm:
    name: linux-vm
    namespace: vms
    state: stopped
    force: true
"""

RETURN = r"""
results:
  description:
    - With I(batch), one result per element in order, each with what the task returns for one object (I(changed),
      I(resource) and the rest), I(item) (the element as given), and I(failed) and I(msg) when the element failed.
    - With C(--diff), the task's I(diff) is then the list of the changed elements' diffs.
  returned: with batch
  type: list
  elements: dict
resource:
  description: The VirtualMachine as the server holds it (after the wait, when waiting). Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
vm:
  description: The VM's state in short.
  returned: when state is not absent
  type: dict
  contains:
    namespace: {description: The VM's namespace., type: str, returned: always}
    phase: {description: "The VM's phase: C(Running), C(Stopped), C(Pending) and so on.", type: str, returned: always}
    node: {description: The node it runs on., type: str, returned: always}
    ip: {description: Its IP address on the Main network., type: str, returned: always}
    virtual_machine_class_name: {description: Its class (after defaulting)., type: str, returned: always}
    run_policy: {description: Its run policy., type: str, returned: always}
    cores: {description: Cores of the spec., type: int, returned: always}
    core_fraction: {description: Core fraction of the spec (after defaulting)., type: str, returned: always}
    memory: {description: Memory of the spec., type: str, returned: always}
    topology: {description: C(sockets) and C(coresPerSocket) the platform chose., type: dict, returned: always}
    conditions: {description: The platform's conditions., type: list, elements: dict, returned: always}
    restart_awaiting_changes:
      description: Changes that wait for a restart (C(operation), C(path), C(currentValue), C(desiredValue)), as the API writes them.
      type: list
      elements: dict
      returned: always
operations:
  description: The VirtualMachineOperations the task created (C(name), C(type), C(phase)); dry runs in check mode.
  returned: when state is not absent
  type: list
  elements: dict
diff:
  description: Before and after, with C(--diff); a power change shows in C(status.phase).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.batch import batch_spec, execute_batched
from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import arg_spec, masking, metadata, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import (
    CLUSTER_VIRTUAL_IMAGE,
    VIRTUAL_DISK,
    VIRTUAL_IMAGE,
    VIRTUAL_MACHINE,
    VIRTUAL_MACHINE_CLASS,
)
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vm_service import SPEC_OPTIONS, ensure_vm, static_problems

SECRET_REF = {"type": "dict", "options": {"kind": {"type": "str", "choices": ["Secret"]}, "name": {"type": "str", "required": True}}}
OPTIONS = dict(
    state={"type": "str", "choices": ["present", "absent", "running", "stopped", "restarted"], "default": "present"},
    force={"type": "bool", "default": False},
    apply_pending_changes={"type": "str", "choices": ["restart"]},
    virtual_machine_class_name={"type": "str"},
    cpu={"type": "dict", "options": {"cores": {"type": "int", "required": True}, "core_fraction": {"type": "raw"}}},
    memory={"type": "dict", "options": {"size": {"type": "str", "required": True}}},
    block_device_refs={
        "type": "list",
        "elements": "dict",
        "options": {
            "kind": {"type": "str", "required": True, "choices": ["VirtualDisk", "VirtualImage", "ClusterVirtualImage"]},
            "name": {"type": "str", "required": True},
            "boot_order": {"type": "int"},
        },
    },
    run_policy={"type": "str", "choices": ["AlwaysOn", "AlwaysOff", "Manual", "AlwaysOnUnlessStoppedManually"]},
    provisioning={
        "type": "dict",
        "options": {
            "type": {"type": "str", "required": True, "choices": ["UserData", "UserDataRef", "SysprepRef"]},
            "user_data": {"type": "str"},
            "user_data_ref": SECRET_REF,
            "sysprep_ref": SECRET_REF,
        },
    },
    os_type={"type": "str", "choices": ["Windows", "Generic", "Legacy"]},
    bootloader={"type": "str", "choices": ["BIOS", "EFI", "EFIWithSecureBoot"]},
    enable_paravirtualization={"type": "bool"},
    disruptions={"type": "dict", "options": {"restart_approval_mode": {"type": "str", "choices": ["Manual", "Automatic"]}}},
    live_migration_policy={"type": "str", "choices": ["AlwaysSafe", "PreferSafe", "AlwaysForced", "PreferForced"]},
    node_selector={"type": "dict"},
    tolerations={"type": "list", "elements": "dict"},
    affinity={
        "type": "dict",
        "options": {
            "node_affinity": {"type": "dict"},
            "virtual_machine_and_pod_affinity": {"type": "dict"},
            "virtual_machine_and_pod_anti_affinity": {"type": "dict"},
        },
    },
    topology_spread_constraints={"type": "list", "elements": "dict"},
    priority_class_name={"type": "str"},
    virtual_machine_ip_address_name={"type": "str"},
    termination_grace_period_seconds={"type": "int"},
)


def one_spec():
    """What one object's options are validated against (the task's, or each element of its batch)."""
    return dict(argument_spec=arg_spec(namespaced=True, **OPTIONS))


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return batch_spec(one_spec())


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter: the task's object, or
    each element of its batch."""
    shared = dict(listed=(VIRTUAL_MACHINE, VIRTUAL_DISK), memo=(VIRTUAL_MACHINE_CLASS, CLUSTER_VIRTUAL_IMAGE, VIRTUAL_IMAGE))
    execute_batched(module, one_spec(), execute_one, problems, **shared)


def problems(p):
    """What is wrong with one object's options, found without the cluster (nothing is sent when anything is)."""
    return option_problems(p, SPEC_OPTIONS + ("force", "apply_pending_changes")) + static_problems(p, metadata(p, namespaced=True))


def execute_one(module):
    """One object's logic."""
    p = module.params
    refuse(module, problems(p))
    meta = metadata(p, namespaced=True)
    run(module, lambda client, ensurer: ensure_vm(module, client, ensurer, meta))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
