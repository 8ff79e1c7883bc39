#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: module_config
short_description: Manage the ModuleConfig of the virtualization module (DVCR storage, VM networks, storage classes, audit) and of other modules
version_added: 0.1.0
description:
  - Creates, updates and deletes the C(ModuleConfig) C(virtualization) (C(deckhouse.io/v1alpha1)) of the Deckhouse Virtualization Platform.
  - With another I(name), the ModuleConfig of that Deckhouse module, for the modules the admin guide's features need
    (C(descheduler) for VM rebalancing, C(log-shipper) and C(runtime-audit-engine) for security event audit); see I(name).
  - Options are the snake_case form of C(spec) fields; I(settings) mirrors C(spec.settings) (C(virtual_machine_cidrs) is C(virtualMachineCIDRs),
    C(gateway_api_gateway) is C(gatewayAPIGateway)).
  - Options the task leaves out (I(enabled), I(version), I(settings), I(labels), I(annotations)) are left as they are on the server; a task giving
    only I(enabled), or only I(labels), changes nothing else (without I(settings) the settings are not checked either).
  - Within I(settings), settings the task leaves out are left as they are, except those the collection set before, which are removed
    (C(settings={}) removes every setting the collection set; the CIDR list cannot be cleared). Keys of I(labels) and I(annotations) alike.
  - "Before anything is written the module checks, naming the option and the rule: CIDR syntax and host bits (write the network address aligned to
    the mask), overlaps between CIDRs, overlap with the cluster's pod and service subnets (read from Secret C(kube-system/d8-cluster-configuration)),
    CIDRs containing a node address, clearing the CIDR list once set, removing a CIDR while a lease holds an address in it (naming the virtual machine
    holding it, also for leases released in the last 10 minutes), DVCR storage shrinking, the DVCR storage class changing once the DVCR volume exists,
    audit without the log-shipper and runtime-audit-engine modules, settings without C(dvcr) (the platform marks such a ModuleConfig invalid
    and keeps the settings in effect before it, none on a new one), and an image storage class (I(settings.virtual_images.default_storage_class_name),
    I(settings.virtual_images.allowed_storage_class_selector.match_names)) whose StorageProfile offers no volume mode C(Block) or C(Filesystem) with
    C(ReadWriteOnce) or C(ReadWriteMany)."
  - Storage classes that do not exist are reported as warnings, as the platform accepts them.
  - Disabling an enabled module (I(enabled=false)) sets the annotation C(modules.deckhouse.io/allow-disabling=true) that Deckhouse
    requires to confirm it; Deckhouse removes the annotation once the module is disabled, and a run that finds the module disabled
    already leaves it out.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.state
options:
  name:
    description:
      - Name of the ModuleConfig, which is the name of the Deckhouse module it configures.
      - C(virtualization) (the default) takes I(settings), checked as described above.
      - Any other module (for example C(descheduler), C(log-shipper), C(runtime-audit-engine)) takes I(enabled), I(version), I(labels),
        I(annotations) and I(raw_settings); its settings are not checked by this module (Deckhouse checks them against the module's schema).
    type: str
    default: virtualization
  raw_settings:
    description:
      - The settings (C(spec.settings)) of a module other than C(virtualization), written as given, in the API's spelling (camelCase).
      - Left out, the module's settings on the server are left as they are; given, they are the whole of the settings the collection sets
        (those it set before and no longer gives are removed).
      - Not with I(name=virtualization); give I(settings) instead.
    type: dict
    version_added: 0.2.0
  enabled:
    description: Turn the module on or off (C(spec.enabled)).
    type: bool
  version:
    description: Version of the settings schema (C(spec.version)); C(1) today.
    type: int
  settings:
    description: The module's settings (C(spec.settings)).
    type: dict
    suboptions:
      dvcr:
        description: Deckhouse Virtualization Container Registry, where images are stored.
        type: dict
        suboptions:
          storage:
            description: DVCR's storage.
            type: dict
            suboptions:
              type:
                description: The storage type; the settings schema offers only C(PersistentVolumeClaim).
                type: str
                choices: [PersistentVolumeClaim]
                default: PersistentVolumeClaim
              persistent_volume_claim:
                description: The volume of DVCR (C(PersistentVolumeClaim) C(d8-virtualization/dvcr)).
                type: dict
                suboptions:
                  size:
                    description: Volume size, for example C(50G). It can grow, never shrink.
                    type: str
                    required: true
                  storage_class_name:
                    description: StorageClass of the volume (the cluster default when unset); frozen once the volume exists.
                    type: str
          gc:
            description: Garbage collection of images of deleted objects.
            type: dict
            suboptions:
              schedule:
                description: Cron schedule; unset means daily at 02:00.
                type: str
      virtual_machine_cidrs:
        description:
          - Networks virtual machine addresses are allocated from (C(virtualMachineCIDRs)), each written as its network address aligned to the mask
            (C(10.66.10.0/24), not C(10.66.10.5/24)). The first and last address of each are never assigned.
          - They must not overlap each other, the pod or service subnet, or contain a node address. Once set, the list cannot be cleared, and an
            entry cannot be removed (or rewritten) while an address in it is leased.
        type: list
        elements: str
      virtual_images:
        description: Storage classes for virtual images on PVC.
        type: dict
        suboptions:
          default_storage_class_name:
            description: StorageClass used when an image does not name one.
            type: str
          storage_class_name:
            description: Deprecated alias of I(default_storage_class_name).
            type: str
          allowed_storage_class_selector:
            description: Storage classes an image may name explicitly.
            type: dict
            suboptions:
              match_names:
                description: The allowed storage class names.
                type: list
                elements: str
                required: true
          allowed_storage_class_names:
            description:
              - The admin guide's spelling of I(allowed_storage_class_selector.match_names); written to the API as C(allowedStorageClassSelector.matchNames).
                Give one spelling or the other.
            type: list
            elements: str
      virtual_disks:
        description: Storage classes for virtual disks.
        type: dict
        suboptions:
          default_storage_class_name:
            description: StorageClass used when a disk does not name one.
            type: str
          allowed_storage_class_selector:
            description: Storage classes a disk may name explicitly.
            type: dict
            suboptions:
              match_names:
                description: The allowed storage class names.
                type: list
                elements: str
                required: true
          allowed_storage_class_names:
            description:
              - The admin guide's spelling of I(allowed_storage_class_selector.match_names); written to the API as C(allowedStorageClassSelector.matchNames).
                Give one spelling or the other.
            type: list
            elements: str
      audit:
        description: Security event audit (not in the CE edition; needs the log-shipper and runtime-audit-engine modules enabled).
        type: dict
        suboptions:
          enabled:
            description: Turn the audit controller on.
            type: bool
      ingress_class:
        description: Ingress class of the image upload endpoint.
        type: str
      gateway_api_gateway:
        description: The Gateway API Gateway image upload is published through (C(gatewayAPIGateway)).
        type: dict
        suboptions:
          name:
            description: Name of the Gateway.
            type: str
            required: true
          namespace:
            description: Namespace of the Gateway.
            type: str
            required: true
      https:
        description: Certificate of the upload endpoint.
        type: dict
        suboptions:
          mode:
            description: HTTPS mode.
            type: str
            choices: [Disabled, CertManager, CustomCertificate, OnlyInURI]
          cert_manager:
            description: With C(CertManager).
            type: dict
            suboptions:
              cluster_issuer_name:
                description: The ClusterIssuer to get the certificate from.
                type: str
          custom_certificate:
            description: With C(CustomCertificate).
            type: dict
            suboptions:
              secret_name:
                description: TLS Secret in C(d8-system).
                type: str
      live_migration:
        description: Network of live migration traffic.
        type: dict
        suboptions:
          network:
            description: Dedicated network; empty means the pod network.
            type: dict
            suboptions:
              type:
                description: C(SystemNetwork) (sdn module).
                type: str
                choices: [SystemNetwork]
              system_network:
                description: The SystemNetwork.
                type: dict
                suboptions:
                  name:
                    description: Name of the SystemNetwork.
                    type: str
                    required: true
      high_availability:
        description: Force the high availability mode on or off.
        type: bool
      log_level:
        description: Logging level of the module's components.
        type: str
        choices: [debug, info, warn, error]
      log_format:
        description: Logging format of the controller.
        type: str
        choices: [text, json]
      feature_gates:
        description: Experimental features (none in CE; C(GPU) needs Kubernetes 1.34).
        type: list
        elements: str
        choices: [HotplugCPUWithLiveMigration, HotplugMemoryWithLiveMigration, HotplugCPUAndMemoryWithInPlaceResize, GPU]
"""

EXAMPLES = r"""
- name: The admin guide's basic configuration
  deckhouse.virtualization.module_config:
    enabled: true
    version: 1
    settings:
      dvcr:
        storage:
          type: PersistentVolumeClaim
          persistent_volume_claim: {size: 50G, storage_class_name: sds-replicated-thin-r1}
      virtual_machine_cidrs: [10.66.10.0/24, 10.66.20.0/24, 10.77.0.0/16]

- name: VM rebalancing needs the descheduler module
  deckhouse.virtualization.module_config:
    name: descheduler
    enabled: true

- name: Security event audit needs the log-shipper and runtime-audit-engine modules
  deckhouse.virtualization.module_config:
    name: "{{ item }}"
    enabled: true
  loop: [log-shipper, runtime-audit-engine]

- name: Then the audit of the virtualization module (EE), with the settings above again (what the task leaves out is removed)
  deckhouse.virtualization.module_config:
    settings:
      dvcr:
        storage:
          type: PersistentVolumeClaim
          persistent_volume_claim: {size: 50G, storage_class_name: sds-replicated-thin-r1}
      virtual_machine_cidrs: [10.66.10.0/24, 10.66.20.0/24, 10.77.0.0/16]
      audit: {enabled: true}

- name: Another module's settings, passed through as written in the API
  deckhouse.virtualization.module_config:
    name: descheduler
    enabled: true
    version: 1
    raw_settings: {}

- name: Storage classes for images and disks (the admin guide's allowedStorageClassNames spelling), with the settings above
  deckhouse.virtualization.module_config:
    settings:
      dvcr:
        storage:
          type: PersistentVolumeClaim
          persistent_volume_claim: {size: 50G, storage_class_name: sds-replicated-thin-r1}
      virtual_machine_cidrs: [10.66.10.0/24, 10.66.20.0/24, 10.77.0.0/16]
      audit: {enabled: true}
      virtual_images: {default_storage_class_name: sc-1, allowed_storage_class_names: [sc-1, sc-2]}
      virtual_disks: {default_storage_class_name: sc-1, allowed_storage_class_selector: {match_names: [sc-1, sc-2]}}
"""

RETURN = r"""
resource:
  description: The ModuleConfig as stored (empty after I(state=absent)). Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
cidrs:
  description: Per configured CIDR, the usable addresses, the leases inside by phase and the leased addresses.
  returned: when state is present
  type: list
  elements: dict
diff:
  description: The object before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import PRESENT_ONLY, arg_spec, masking, metadata, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.moduleconfig_service import ensure_config
from ansible_collections.deckhouse.virtualization.plugins.module_utils.moduleconfig_service import option_problems as settings_problems


def _str(**kw):
    return {"type": "str", **kw}


def _dict(options, **kw):
    return {"type": "dict", "options": options, **kw}


STORAGE_CLASSES = {
    "default_storage_class_name": _str(),
    "allowed_storage_class_selector": _dict({"match_names": {"type": "list", "elements": "str", "required": True}}),
    "allowed_storage_class_names": {"type": "list", "elements": "str"},
}
SETTINGS = {
    "dvcr": _dict(
        {
            "storage": _dict(
                {
                    "type": _str(choices=["PersistentVolumeClaim"], default="PersistentVolumeClaim"),
                    "persistent_volume_claim": _dict({"size": _str(required=True), "storage_class_name": _str()}),
                }
            ),
            "gc": _dict({"schedule": _str()}),
        }
    ),
    "virtual_machine_cidrs": {"type": "list", "elements": "str"},
    "virtual_images": _dict({**STORAGE_CLASSES, "storage_class_name": _str()}),
    "virtual_disks": _dict(dict(STORAGE_CLASSES)),
    "audit": _dict({"enabled": {"type": "bool"}}),
    "ingress_class": _str(),
    "gateway_api_gateway": _dict({"name": _str(required=True), "namespace": _str(required=True)}),
    "https": _dict(
        {
            "mode": _str(choices=["Disabled", "CertManager", "CustomCertificate", "OnlyInURI"]),
            "cert_manager": _dict({"cluster_issuer_name": _str()}),
            "custom_certificate": _dict({"secret_name": _str()}),
        }
    ),
    "live_migration": _dict({"network": _dict({"type": _str(choices=["SystemNetwork"]), "system_network": _dict({"name": _str(required=True)})})}),
    "high_availability": {"type": "bool"},
    "log_level": _str(choices=["debug", "info", "warn", "error"]),
    "log_format": _str(choices=["text", "json"]),
    "feature_gates": {
        "type": "list",
        "elements": "str",
        "choices": ["HotplugCPUWithLiveMigration", "HotplugMemoryWithLiveMigration", "HotplugCPUAndMemoryWithInPlaceResize", "GPU"],
    },
}


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return dict(
        argument_spec=arg_spec(
            namespaced=False,
            name=_str(default="virtualization"),
            enabled={"type": "bool"},
            version={"type": "int"},
            settings=_dict(SETTINGS),
            raw_settings={"type": "dict"},
        ),
        mutually_exclusive=[("settings", "raw_settings")],
    )


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    p = module.params
    problems = option_problems(p, PRESENT_ONLY + ("enabled", "version", "settings", "raw_settings"))
    refuse(module, problems + settings_problems(p))
    run(module, lambda client, ensurer: ensure_config(module, client, ensurer, metadata(p, namespaced=False)))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
