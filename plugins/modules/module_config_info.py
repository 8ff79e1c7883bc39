#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: module_config_info
short_description: Read the ModuleConfig of the virtualization module and the usage of its VM networks
version_added: 0.1.0
description:
  - Returns the C(ModuleConfig) C(virtualization), the cluster's pod and service subnets (Secret C(kube-system/d8-cluster-configuration)),
    and for every configured C(virtualMachineCIDRs) entry its usable addresses, the leases inside it by phase and the leased addresses.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
options:
  name:
    description: Name of the ModuleConfig.
    type: str
    default: virtualization
  wait:
    description: Wait until the ModuleConfig exists.
    type: bool
    default: false
  wait_timeout:
    description: How long to wait, in seconds.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: How full are the VM networks?
  deckhouse.virtualization.module_config_info:
  register: mc

- ansible.builtin.debug:
    msg: "{{ mc.cidrs | map(attribute='free') }}"
"""

RETURN = r"""
resource:
  description: The ModuleConfig (empty when there is none). Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
cidrs:
  description: Per CIDR, C(cidr), C(valid), C(usable), C(leased), C(released), C(free) and C(addresses).
  returned: always
  type: list
  elements: dict
pod_subnet:
  description: The cluster's pod subnet (null when unreadable).
  returned: always
  type: str
service_subnet:
  description: The cluster's service subnet (null when unreadable).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import masking, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import connection_arg_spec
from ansible_collections.deckhouse.virtualization.plugins.module_utils.moduleconfig_service import config_info


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    argument_spec = dict(connection_arg_spec())
    argument_spec.update(
        name={"type": "str", "default": "virtualization"},
        wait={"type": "bool", "default": False},
        wait_timeout={"type": "int", "default": 120},
    )
    return {"argument_spec": argument_spec}


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, option_problems(module.params))
    run(module, lambda client, _ensurer: config_info(module, client))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
