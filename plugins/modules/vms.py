#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vms
short_description: Manage a declarative list of VirtualMachines with their disks in one task
version_added: 0.2.0
description:
  - The one task of the role C(deckhouse.virtualization.vms) - brings the virtual machines of O(vms) to their state with
    M(deckhouse.virtualization.vm), each with its disks (the item's C(disks)) managed by M(deckhouse.virtualization.virtual_disk).
    Each item takes the vm module's options and each disk the virtual_disk module's, passed through to the modules' C(batch),
    which check them before anything is written.
  - The order - the VMs marked C(absent) are deleted; the disks of the other VMs are created or updated without waiting (so they import
    side by side), then waited for until C(Ready); the VMs are created, updated, started or stopped and waited for; last the disks of
    the deleted VMs and the disks marked C(absent) are deleted (after the VMs let go of them). Deleting a VM deletes its disks too.
  - Each step is the module's C(batch) (the action plugin runs the vm and virtual_disk modules, in the worker process when they may,
    see their notes); a step with nothing to do is not run. An item a module refuses fails the task before anything of that step is
    written, naming the step; later steps are not run.
  - Sets the fact C(vms_results) (see RV(ansible_facts.vms_results)). Check mode and diff mode pass through to the modules (server-side
    dry runs). In check mode a VM whose namespace (O(pending_namespaces)) or one of whose disks does not exist yet cannot be checked
    (the vm module reads them) - it is reported as to be created (C(changed), C(checked=false)) and named in RV(unchecked).
  - Namespaces are created only with O(create_namespaces).
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
options:
  vms:
    description:
      - The virtual machines, each with the options of M(deckhouse.virtualization.vm) (C(name), C(namespace), C(state), C(cpu),
        C(memory), C(block_device_refs), ...) and C(disks) - the VM's disks, each with the options of
        M(deckhouse.virtualization.virtual_disk) (C(name), C(namespace) - the VM's by default -, C(state), C(data_source), ...).
    type: list
    elements: dict
    default: []
  namespace:
    description: Namespace of the VMs (and their disks) whose item names none.
    type: str
    default: default
  wait:
    description: Wait until each disk is C(Ready) and each VM has reached its state, or is gone; an item's C(wait) takes precedence (a disk inherits its VM's).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each disk and each VM; an item's C(wait_timeout) takes precedence.
    type: int
    default: 600
  create_namespaces:
    description:
      - First create the namespaces of the VMs and disks (not those marked C(absent)) that do not exist, with C(kubernetes.core.k8s) run
        as a module (one module process per namespace; it needs the C(kubernetes) Python library where the task runs). Its
        C(module_defaults) apply, and the connection options given to this task.
    type: bool
    default: false
  pending_namespaces:
    description:
      - Check mode - namespaces a task before this one would have created (with O(create_namespaces), those it would create are added).
        The disks in them are not checked and the VMs in them are reported as unchecked (the modules read the namespace's objects).
    type: list
    elements: str
    default: []
notes:
  - Connection options given to this task (or through C(module_defaults) for it or for the group C(deckhouse.virtualization.dvp)) are
    given to the vm and virtual_disk modules; their own C(module_defaults) apply as well.
"""

EXAMPLES = r"""
- name: Two VMs with their root disks
  deckhouse.virtualization.vms:
    namespace: prod
    vms:
      - name: web-1
        virtual_machine_class_name: generic
        cpu: {cores: 2, core_fraction: "20%"}
        memory: {size: 4Gi}
        block_device_refs: [{kind: VirtualDisk, name: web-1-root}]
        disks:
          - name: web-1-root
            data_source: {type: ObjectRef, object_ref: {kind: ClusterVirtualImage, name: ubuntu-24-04}}
            persistent_volume_claim: {size: 20Gi}
      - name: old
        state: absent
"""

RETURN = r"""
ansible_facts:
  description: The fact the task sets.
  returned: success
  type: dict
  contains:
    vms_results:
      description:
        - Per VM, in the order of O(vms) - C(name), C(namespace), C(state), C(changed), C(checked) (false - check mode could not check
          it, see RV(unchecked)), C(vm) (the vm module's summary - phase, node, ip, class, cores, core fraction, memory, conditions,
          changes awaiting a restart), C(operations) (the VirtualMachineOperations the task created) and C(disks) (per disk C(name),
          C(namespace), C(state), C(changed), C(disk) - the virtual_disk module's summary).
      type: list
      elements: dict
      returned: success
unchecked:
  description: Check mode - C(namespace/name) of each VM that could not be checked because its namespace or one of its disks does not exist yet.
  returned: check mode, when there is any
  type: list
  elements: str
step:
  description: When a step failed - which (C(namespaces), C(delete_vms), C(apply_disks), C(apply_vms), C(delete_disks)).
  returned: failure of a step
  type: str
results:
  description: When a step failed - its module's per-element results (each with C(item), and C(failed) and C(msg) when it failed).
  returned: failure of a step
  type: list
  elements: dict
diff:
  description: With C(--diff), the changed elements' diffs of every step, in order.
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import masking
from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import connection_arg_spec


def spec():
    options = dict(connection_arg_spec())
    options.update(
        vms={"type": "list", "elements": "dict", "default": []},
        namespace={"type": "str", "default": "default"},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 600},
        pending_namespaces={"type": "list", "elements": "str", "default": []},
        create_namespaces={"type": "bool", "default": False},
    )
    return dict(argument_spec=options)


def main():
    # The work is the action plugin's (plugins/action/vms.py): it runs the vm and virtual_disk modules, step by step.
    module = masking(AnsibleModule)(supports_check_mode=True, **spec())
    module.fail_json(msg="deckhouse.virtualization.vms runs through its action plugin, which runs the vm and virtual_disk modules")


if __name__ == "__main__":
    main()
