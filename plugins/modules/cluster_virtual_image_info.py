#!/usr/bin/python
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cluster_virtual_image_info
short_description: Read ClusterVirtualImages
version_added: 0.1.0
description:
  - Returns one C(ClusterVirtualImage) by name, or all of them, optionally filtered by label and field selectors.
  - Optionally waits until they are C(Ready) (or have a given condition), as kubevirt.core's C(kubevirt_vm_info) does.
  - Upload URLs are credentials; their secret part is masked unless I(reveal_upload_urls=true).
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.info
options:
  name:
    description: Name of one image. Without it, every image (matching the selectors) is returned.
    type: str
  reveal_upload_urls:
    description:
      - Return upload URLs in full. B(An upload URL is a credential) - anyone who has it can write the image.
        By default its secret part reads C(********), at any verbosity.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: One image
  deckhouse.virtualization.cluster_virtual_image_info:
    name: ubuntu-22-04
  register: image

- name: Every Ubuntu image
  deckhouse.virtualization.cluster_virtual_image_info:
    label_selectors: ["os=ubuntu"]
  register: images

- name: Wait until an image someone else creates is Ready
  deckhouse.virtualization.cluster_virtual_image_info:
    name: ubuntu-22-04
    wait: true
    wait_timeout: 600

- name: The upload URL of an image waiting for its upload (a credential - keep it out of logs)
  deckhouse.virtualization.cluster_virtual_image_info:
    name: installer
    wait: true
    wait_condition: {type: Ready, status: "False", reason: WaitForUserUpload}
    reveal_upload_urls: true
  register: waiting
  no_log: true
"""

RETURN = r"""
resources:
  description: The images as the server holds them (empty when none matches). Each without C(metadata.managedFields), as C(kubectl get) shows them.
  returned: always
  type: list
  elements: dict
summaries:
  description:
    - Per image, its name, phase, progress, format, cdrom, sizes, registry URL, upload URLs and conditions.
    - The secret part of upload URLs is masked unless I(reveal_upload_urls=true) (also in RV(resources)).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import info_arg_spec, masking, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.image_service import READY, hiding_upload_urls
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import summary
from ansible_collections.deckhouse.virtualization.plugins.module_utils.info import collect
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import CLUSTER_VIRTUAL_IMAGE


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return {"argument_spec": info_arg_spec(namespaced=False, reveal_upload_urls={"type": "bool", "default": False})}


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, option_problems(module.params))
    run(module, lambda client, _ensurer: hiding_upload_urls(module, lambda: collect(client, CLUSTER_VIRTUAL_IMAGE, module.params, summary, READY)))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
