#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: node_maintenance
short_description: Put a node into maintenance (cordon, live-migrate its VMs off, drain) and take it out again
version_added: 0.1.0
description:
  - The admin guide's "Maintenance mode" as a module. I(state=drained) checks first that every VM on the node can move
    (the preflight), then cordons the node and moves its VMs off through the Eviction API, as C(kubectl drain) does;
    I(state=uncordoned) makes the node schedulable again; I(state=cordoned) only cordons it.
  - B(Preflight.) Before anything is written, every VM on the node needs at least one feasible target node - kube-scheduler's
    filters on the VM's own virt-launcher pod (node selector and affinity of the VM and its class, tolerations, taints,
    free CPU and memory counting the VMs placed before it, pod (anti-)affinity, cordoned and not-ready nodes), the class's
    available nodes, CPU compatibility by class type (C(Host) a compatible CPU of the same vendor, C(HostPassthrough) an
    identical CPU, C(Model)/C(Features)/C(Discovery) the model's or the required features, decided with libvirt's CPU map
    on the controller from the nodes' CPU labels), disks reachable from the target (on CE a VM with ReadWriteOnce disks is
    not migratable; on EE such disks move with the VM to new volumes on the target node) - and the VM must be Running.
    Otherwise the task fails, lists each VM that cannot move and why (with each node's reason), and changes nothing (the
    node is not cordoned). I(preflight_only=true) runs just this check.
  - B(Drain.) With I(scope=vms) only the VMs' pods are evicted (the admin guide's
    C(kubectl drain --pod-selector vm.kubevirt.internal.virtualization.deckhouse.io/name)); with I(scope=all) the other pods too,
    with kubectl's rules (I(ignore_daemonsets), I(delete_emptydir_data), I(force) for pods no controller manages; mirror pods
    are skipped), all checked in the preflight. The platform answers a VM pod's eviction with HTTP 429
    C(Eviction triggered evacuation of VMI "<ns>/<vm>") and live-migrates the VM (an C(evacuation-*) C(Evict) operation); the
    module starts at most I(max_concurrent) evacuations at a time, follows the node's pods with a watch, and evicts each
    VM's old pod once the VM has left, as C(kubectl drain)'s retries do. Other 429 answers (PodDisruptionBudgets) are retried
    every 5 seconds until I(wait_timeout).
  - B(Why not kubernetes.core.k8s_drain.) C(k8s_drain) treats every eviction error but 404 as fatal, so the platform's 429 -
    which is how a live migration starts - fails it on the first VM. This module speaks that protocol, checks the targets
    before cordoning, bounds concurrent migrations and reports per VM.
  - B(Progress.) A drain can take long. Each step (cordon, each evacuation started, each VM gone with its target and duration)
    is printed at once in the run's output when the task runs in-process (on the controller, the usual case; AWX shows it
    live), logged to the host's log otherwise, and returned in I(events) with the time since the task started.
  - B(Idempotent.) A node already in the requested state is no change - cordoned (or uncordoned) as asked and, for
    I(state=drained), with nothing left to move.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
options:
  name:
    description: The node.
    type: str
    required: true
  state:
    description:
      - C(drained) - preflight, cordon, move the VMs (and with I(scope=all) the other pods) off, and with I(wait) wait until they have left.
      - C(cordoned) - only mark the node unschedulable (no new VMs start there); nothing moves.
      - C(uncordoned) - mark it schedulable again (C(kubectl uncordon)).
    type: str
    choices: [drained, cordoned, uncordoned]
    default: drained
  scope:
    description:
      - C(vms) moves only the VMs (their virt-launcher pods); C(all) is a full drain of every pod, as
        C(kubectl drain --ignore-daemonsets --delete-emptydir-data).
    type: str
    choices: [vms, all]
    default: vms
  ignore_daemonsets:
    description: With I(scope=all), leave DaemonSet pods (the platform's virt-handler among them) in place; without it, such pods make the preflight fail.
    type: bool
    default: true
  delete_emptydir_data:
    description:
      - With I(scope=all), evict pods with C(emptyDir) volumes (their data is lost); without it, such pods make the preflight fail.
      - A VM's pod is never refused for this (its state moves with the live migration).
    type: bool
    default: false
  force:
    description: With I(scope=all), also evict pods no controller manages (nothing re-creates them); without it, such pods make the preflight fail.
    type: bool
    default: false
  max_concurrent:
    description:
      - How many evacuations (live migrations) the module has running at a time (at least 1). The platform itself runs one
        outgoing memory transfer per node at a time and queues the rest.
    type: int
    default: 2
  preflight_only:
    description: With I(state=drained), only run the preflight and report its result (C(preflight), and in I(vms) nothing); nothing is changed.
    type: bool
    default: false
  wait:
    description: With I(state=drained), wait until every pod has left the node. Without it, the evacuations are started and the task returns.
    type: bool
    default: true
  wait_timeout:
    description: How long the whole task may take, in seconds. On timeout it fails and reports which VMs are still on the node; the node stays cordoned.
    type: int
    default: 1800
notes:
  - Check mode is supported - the preflight runs, the cordon is sent as a server-side dry run, and I(vms) lists what would move where
    (C(result) C(would move), C(target) the node the scheduler would pick). Diff mode shows C(spec.unschedulable).
  - CPU compatibility needs libvirt-python on the controller; without it the module warns and leaves that check to the platform.
seealso:
  - module: deckhouse.virtualization.vm_operation
  - module: deckhouse.virtualization.vm
"""

EXAMPLES = r"""
- name: Check that blue-0's VMs can move (nothing is changed)
  deckhouse.virtualization.node_maintenance:
    name: blue-0
    preflight_only: true
  register: check

- name: Put blue-0 into maintenance - its VMs live-migrate to other nodes
  deckhouse.virtualization.node_maintenance:
    name: blue-0
    state: drained
    max_concurrent: 2
    wait_timeout: 3600
  register: drain

- name: Where did they go
  ansible.builtin.debug:
    msg: "{{ drain.vms | map(attribute='name') | zip(drain.vms | map(attribute='target')) | list }}"

- name: Full drain, as kubectl drain --ignore-daemonsets --delete-emptydir-data
  deckhouse.virtualization.node_maintenance:
    name: blue-1
    scope: all
    delete_emptydir_data: true

- name: Take blue-0 out of maintenance
  deckhouse.virtualization.node_maintenance:
    name: blue-0
    state: uncordoned
"""

RETURN = r"""
node:
  description: The node's name and C(unschedulable) afterwards.
  returned: always
  type: dict
preflight:
  description:
    - C(ok), C(problems) (one line per VM or pod that blocks the drain) and C(vms) - for each VM C(namespace), C(name), C(source),
      C(target) (the node the scheduler would pick), C(problems) and C(nodes) (each node that cannot take it, with its reasons).
  returned: state is drained
  type: dict
vms:
  description:
    - Per VM - C(namespace), C(name), C(pod), C(source), C(target) (where it runs now), C(planned_target) (the preflight's pick),
      C(duration) (seconds from the evacuation's start until the VM had left), C(result) (C(moved), C(failed), C(timeout),
      C(evacuating) without I(wait), C(would move) in check mode), C(message), C(operation) (the platform's C(evacuation-*) operation).
  returned: state is drained
  type: list
  elements: dict
pods:
  description: Other pods evicted (I(scope=all)) - C(namespace), C(name), C(result), C(message).
  returned: state is drained
  type: list
  elements: dict
skipped_pods:
  description:
    - Pods left in place (DaemonSet, mirror) - C(namespace), C(name), C(pod) (C(namespace/name)) and C(reason).
    - Not named C(skipped), which Ansible reads as the task having been skipped.
  returned: state is drained
  type: list
  elements: dict
events:
  description: The progress lines, each with the seconds since the task started.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import masking, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import connection_arg_spec
from ansible_collections.deckhouse.virtualization.plugins.module_utils.maintenance_service import Maintenance, option_problems

OPTIONS = dict(
    name={"type": "str", "required": True},
    state={"type": "str", "choices": ["drained", "cordoned", "uncordoned"], "default": "drained"},
    scope={"type": "str", "choices": ["vms", "all"], "default": "vms"},
    ignore_daemonsets={"type": "bool", "default": True},
    delete_emptydir_data={"type": "bool", "default": False},
    force={"type": "bool", "default": False},
    max_concurrent={"type": "int", "default": 2},
    preflight_only={"type": "bool", "default": False},
    wait={"type": "bool", "default": True},
    wait_timeout={"type": "int", "default": 1800},
)


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return dict(argument_spec={**connection_arg_spec(), **OPTIONS})


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, option_problems(module.params))
    run(module, lambda client, ensurer: Maintenance(module, client).run())


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
