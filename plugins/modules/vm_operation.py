#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm_operation
short_description: Run a VirtualMachineOperation (Start, Stop, Restart, Evict, Migrate) and follow it to its end, or abort one
version_added: 0.1.0
description:
  - Creates a C(VirtualMachineOperation) with C(generateName) (the platform's operations are one-shot objects whose spec
    cannot change) and waits until it reaches a terminal phase (C(Completed), C(Failed) or C(Superseded)); the task fails
    unless it is C(Completed). Returns the operation's phase and conditions, the VM's node before and after, and for
    C(Evict) / C(Migrate) the live migration's state and duration.
  - C(Evict) live-migrates the VM to another node the scheduler picks (the admin guide's "Start migration of an arbitrary
    machine"); C(Migrate) does so to a node matching I(migrate.node_selector) (the platform's EE feature C(TargetMigration)).
  - Before anything is written, the module refuses what the platform would fail, with the reason - an unfinished operation
    of the VM that the new one cannot supersede; the VM's run policy or phase for the type (C(Start) only for a C(Stopped) VM
    with run policy C(Manual) or C(AlwaysOnUnlessStoppedManually), C(Evict)/C(Migrate) only for a C(Running) VM, and so on);
    a C(Start) of a VM one of whose C(VirtualDisks) another VM that is not C(Stopped) mounts (the platform would keep it
    C(Pending) with C(BlockDevicesReady=False));
    I(force) against the VM's C(liveMigrationPolicy) (C(AlwaysSafe) with C(force=true), C(AlwaysForced) with C(force=false));
    a VM that is not migratable (on CE, disks with the ReadWriteOnce access mode; on EE they move with the VM) or for which no node is a feasible target (the
    same check as node_maintenance's preflight - CPU compatibility by class type, class and VM node selectors,
    affinity, free capacity, cordoned nodes, disks).
  - I(state=absent) aborts (deletes) the operation named I(name), or every unfinished operation of the VM (of I(type) when given);
    deleting a C(Pending) or C(InProgress) C(Evict)/C(Migrate) is the admin guide's way to abort a migration. The result says
    whether a migration was cancelled (the VM stayed on its node).
  - B(Idempotence is explicit.) An operation is an action, not a state, so by default every run creates a new operation
    and reports a change. With I(unless_done=true) the task skips (no change) when the VM already is where the operation
    would put it - C(Start) of a C(Running) VM, C(Stop) of a C(Stopped) one, C(Migrate) of a VM already on a node matching
    I(migrate.node_selector) - and follows an unfinished operation of the same spec instead of creating a second one (for
    a re-run after a timeout). C(Restart), C(Evict) and C(Migrate) without a node selector are never "already done", so
    I(unless_done) is refused for them. For declarative power states use M(deckhouse.virtualization.vm) with I(state=running)/I(stopped).
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
options:
  namespace:
    description: Namespace of the VM and its operations.
    type: str
    required: true
  virtual_machine_name:
    description:
      - The VM (C(spec.virtualMachineName)). Required with I(state=present); with I(state=absent) and no I(name), the VM whose
        unfinished operations are aborted.
    type: str
    aliases: [vm_name]
  type:
    description:
      - The operation. Required with I(state=present); with I(state=absent), limits which unfinished operations are aborted.
    type: str
    choices: [Start, Stop, Restart, Evict, Migrate]
  force:
    description:
      - C(Stop)/C(Restart) at once, without a graceful guest shutdown; for C(Evict)/C(Migrate), AutoConverge (the guest's CPU
        is throttled so the migration converges), subject to the VM's C(liveMigrationPolicy). Not allowed with C(Start).
      - Unset, the operation has no C(force) (for a migration the default of the policy applies, on for C(AlwaysForced) and
        C(PreferForced)). With a system migration policy set in the ModuleConfig, the platform ignores it.
    type: bool
  migrate:
    description: Where a C(Migrate) goes (C(spec.migrate)).
    type: dict
    suboptions:
      node_selector:
        description:
          - "Labels the target node must have, a map as the API writes it, for example C({kubernetes.io/hostname: green-1})."
        type: dict
  generate_name:
    description: Prefix of the operation's name; C(<type>-<vm>-) (lower case type) when not given.
    type: str
  name:
    description: With I(state=absent), the operation to abort. Not used with I(state=present) (operations are created with C(generateName)).
    type: str
  unless_done:
    description:
      - Skip when the VM already is where the operation would put it, and follow an unfinished operation of the same spec
        instead of creating another (see the description). Only with I(state=present).
    type: bool
    default: false
  state:
    description:
      - C(present) creates the operation; C(absent) aborts (deletes) it, see the description.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait for a terminal phase (C(present)) or until the deleted operation is gone (C(absent); a migration's operation goes
        once the platform has cancelled the migration). Without it, the task returns once the operation is created.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds. On timeout the task fails, naming the phase last seen; the operation keeps running (abort it with I(state=absent)).
    type: int
    default: 300
notes:
  - Check mode is supported; the operation is created as a server-side dry run, so the platform's admission also checks it, and
    C(would) says what would happen (for C(Evict)/C(Migrate) with the node the scheduler would pick). Diff mode has nothing to show.
  - In check mode an object the task names that does not exist yet (the VM of I(virtual_machine_name)) is not refused - an earlier
    task of the playbook may create it, and in check mode did not. A warning says it could not be verified, and the task reports what
    it would do - the operation as declared, not sent as a server-side dry run (the server would judge it against the missing object).
  - Progress (phase and migration progress changes) is printed as it happens when the task runs in-process, and logged to the host's
    log otherwise.
seealso:
  - module: deckhouse.virtualization.vm
  - module: deckhouse.virtualization.node_maintenance
"""

EXAMPLES = r"""
- name: Move linux-vm to another node (the admin guide's Evict)
  deckhouse.virtualization.vm_operation:
    namespace: vms
    virtual_machine_name: linux-vm
    type: Evict
  register: evict

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ evict.node_before }} -> {{ evict.node_after }} in {{ evict.migration_duration | default('(check mode: not run)') }}s"

- name: Live-migrate it to green-1, unless it already runs there
  deckhouse.virtualization.vm_operation:
    namespace: vms
    virtual_machine_name: linux-vm
    type: Migrate
    migrate:
      node_selector: {kubernetes.io/hostname: green-1}
    unless_done: true

- name: Start a migration without waiting
  deckhouse.virtualization.vm_operation:
    namespace: vms
    virtual_machine_name: big-db
    type: Evict
    wait: false
  register: started

- name: Abort it (the admin guide's "delete the vmop while Pending or InProgress")
  deckhouse.virtualization.vm_operation:
    namespace: vms
    name: "{{ started.operation.name }}"
    state: absent
  register: aborted

- name: Stop a VM at once
  deckhouse.virtualization.vm_operation:
    namespace: vms
    virtual_machine_name: linux-vm
    type: Stop
    force: true
"""

RETURN = r"""
operation:
  description: The operation (after the wait).
  returned: state is present
  type: dict
  contains:
    name: {description: Its generated name (in check mode the prefix)., type: str, returned: always}
    namespace: {description: Its namespace., type: str, returned: always}
    type: {description: Its type., type: str, returned: always}
    phase: {description: "C(Completed), C(Failed), C(Superseded); C(Pending)/C(InProgress) without I(wait).", type: str, returned: always}
    progress: {description: Progress of a migration (C(100%) when completed)., type: str, returned: always}
    conditions: {description: "The platform's conditions (C(Completed), C(SignalSent)), as the API writes them.", type: list, elements: dict, returned: always}
resource:
  description:
    - The VirtualMachineOperation as the API returned it after the wait (without C(metadata.managedFields)); in check mode the
      object the server's dry run would create (its name still the prefix); empty when I(unless_done) skipped the operation.
  returned: state is present
  type: dict
node_before:
  description: The node the VM ran on before the operation (null when it was not running).
  returned: state is present
  type: str
node_after:
  description: The node it runs on afterwards (in check mode, the node the scheduler would pick for a migration).
  returned: state is present
  type: str
vm_phase_before:
  description: The VM's phase before.
  returned: state is present
  type: str
vm_phase_after:
  description: The VM's phase afterwards.
  returned: state is present and not check mode
  type: str
duration:
  description: Seconds the task waited for the operation.
  returned: state is present and not check mode
  type: float
migration:
  description: The VM's C(status.migrationState) after an C(Evict)/C(Migrate), as the API writes it.
  returned: state is present and not check mode
  type: dict
migration_duration:
  description: Seconds from the migration's start to its end by the platform's C(migrationState) timestamps (null for other types).
  returned: state is present and not check mode
  type: float
preflight:
  description: For C(Evict)/C(Migrate), the target check (C(target) the scheduler would pick, C(problems), C(nodes) with each node's reasons).
  returned: state is present and the type migrates
  type: dict
would:
  description: What the task would do.
  returned: check mode
  type: str
adopted:
  description: True when I(unless_done) followed an unfinished operation of the same spec instead of creating one.
  returned: state is present and not check mode
  type: bool
skipped_reason:
  description: Why I(unless_done) skipped the operation.
  returned: when skipped by unless_done
  type: str
aborted:
  description: The operations deleted by I(state=absent) (C(name), C(type), C(phase), C(was_unfinished), C(node_before), C(node_after), C(migration_cancelled)).
  returned: state is absent
  type: list
  elements: dict
migration_cancelled:
  description: True when aborting cancelled a migration that was pending or in progress (the VM stayed on its node).
  returned: state is absent
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import masking, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import connection_arg_spec
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vmop_service import ensure_operation, static_problems

OPTIONS = dict(
    namespace={"type": "str", "required": True},
    virtual_machine_name={"type": "str", "aliases": ["vm_name"]},
    type={"type": "str", "choices": ["Start", "Stop", "Restart", "Evict", "Migrate"]},
    force={"type": "bool"},
    migrate={"type": "dict", "options": {"node_selector": {"type": "dict"}}},
    generate_name={"type": "str"},
    name={"type": "str"},
    unless_done={"type": "bool", "default": False},
    state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    wait={"type": "bool", "default": True},
    wait_timeout={"type": "int", "default": 300},
)


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return dict(
        argument_spec={**connection_arg_spec(), **OPTIONS},
        required_if=[("state", "present", ["virtual_machine_name", "type"])],
        required_one_of=[["virtual_machine_name", "name"]],
    )


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, static_problems(module.params))
    run(module, lambda client, ensurer: ensure_operation(module, client, ensurer.refs))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
