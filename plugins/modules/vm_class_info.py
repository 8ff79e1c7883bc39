#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm_class_info
short_description: Read VirtualMachineClasses and the CPU models the cluster's nodes offer
version_added: 0.1.0
description:
  - Returns one C(VirtualMachineClass) by name, or all of them, optionally filtered by label and field selectors.
  - Optionally waits until they are C(Ready) (or have a given condition), as kubevirt.core's C(kubevirt_vm_info) does;
    a class the platform cannot place (no suitable node) ends the wait at once with the platform's reason.
  - Also returns, per node, the CPU models and features its labels advertise, and the models every node can run.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.info
options:
  name:
    description: Name of one class. Without it, every class (matching the selectors) is returned.
    type: str
"""

EXAMPLES = r"""
- name: Every class and the CPU models of the nodes
  deckhouse.virtualization.vm_class_info:
  register: classes

- name: Wait until a class is Ready
  deckhouse.virtualization.vm_class_info:
    name: universal
    wait: true
    wait_timeout: 60

- name: Pick a model every node can run
  ansible.builtin.debug:
    msg: "{{ classes.node_cpu.common_cpu_models }}"
"""

RETURN = r"""
resources:
  description: The classes as the server holds them. Each without C(metadata.managedFields), as C(kubectl get) shows them.
  returned: always
  type: list
  elements: dict
summaries:
  description: Per class, its name, phase, available nodes, CPU features, largest allocatable resources, conditions and whether it is the default.
  returned: always
  type: list
  elements: dict
node_cpu:
  description: C(nodes) (name, cpu_models, cpu_features of each node) and C(common_cpu_models) (models every node can run).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import info_arg_spec, masking, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.info import collect
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import VIRTUAL_MACHINE_CLASS
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vmclass_service import class_ready, node_cpu_models, summary


def body(module, client):
    result = collect(client, VIRTUAL_MACHINE_CLASS, module.params, summary, class_ready)
    result["node_cpu"] = node_cpu_models(client)
    return result


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return {"argument_spec": info_arg_spec(namespaced=False)}


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, option_problems(module.params))
    run(module, lambda client, _ensurer: body(module, client))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
