#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm_info
short_description: Read VirtualMachines and where they run
version_added: 0.1.0
description:
  - Returns one C(VirtualMachine) by name, or all of them (in a namespace, or in every namespace), optionally filtered by label and field selectors.
  - Optionally waits until they run with an IP address (or have a given condition); a VM whose class forbids its size
    (C(SizingPolicyMatched=False)) ends the wait at once with the platform's message.
  - Returns a short summary per VM - phase, node, IP address, class, cores, memory, conditions and the changes awaiting a restart.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.info
options:
  name:
    description: Name of one VM (needs I(namespace)). Without it, every VM (matching the selectors) is returned.
    type: str
  namespace:
    description: Namespace of the VMs. Without it, VMs of every namespace are returned.
    type: str
"""

EXAMPLES = r"""
- name: Wait until linux-vm runs with its IP address
  deckhouse.virtualization.vm_info:
    name: linux-vm
    namespace: vms
    wait: true
    wait_timeout: 300
  register: linux_vm

- name: Where it runs
  ansible.builtin.debug:
    msg: "{{ linux_vm.summaries[0].node }} {{ linux_vm.summaries[0].ip }}"

- name: Every VM of a tier that waits for a restart
  deckhouse.virtualization.vm_info:
    label_selectors: [tier=web]
    wait: true
    wait_condition: {type: AwaitingRestartToApplyConfiguration}
"""

RETURN = r"""
resources:
  description: The VirtualMachines found. Each without C(metadata.managedFields), as C(kubectl get) shows them.
  returned: always
  type: list
  elements: dict
summaries:
  description: Per VM, in the order of I(resources).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The VM's name., type: str, returned: always}
    namespace: {description: Its namespace., type: str, returned: always}
    phase: {description: Its phase., type: str, returned: always}
    node: {description: The node it runs on., type: str, returned: always}
    ip: {description: Its IP address., type: str, returned: always}
    virtual_machine_class_name: {description: Its class., type: str, returned: always}
    run_policy: {description: Its run policy., type: str, returned: always}
    cores: {description: Cores., type: int, returned: always}
    core_fraction: {description: Core fraction., type: str, returned: always}
    memory: {description: Memory size., type: str, returned: always}
    topology: {description: C(sockets) and C(coresPerSocket)., type: dict, returned: always}
    conditions: {description: The platform's conditions., type: list, elements: dict, returned: always}
    restart_awaiting_changes: {description: Changes that wait for a restart., type: list, elements: dict, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import info_arg_spec, masking, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.info import collect
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import VIRTUAL_MACHINE
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vm_service import running, summary


def body(module, client):
    return collect(client, VIRTUAL_MACHINE, module.params, summary, running)


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return {"argument_spec": info_arg_spec(namespaced=True), "required_by": {"name": "namespace"}}


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, option_problems(module.params))
    run(module, lambda client, _ensurer: body(module, client))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
