#!/usr/bin/python
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: virtual_image_info
short_description: Read VirtualImages
version_added: 0.1.0
description:
  - Returns one C(VirtualImage) by name, or all of them in a namespace (or every namespace), optionally filtered by label and field selectors.
  - Optionally waits until they are C(Ready) (or have a given condition).
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
  namespace:
    description: Namespace to look in; every namespace when not set.
    type: str
  reveal_upload_urls:
    description:
      - Return upload URLs in full. B(An upload URL is a credential); by default its secret part reads C(********).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: One image
  deckhouse.virtualization.virtual_image_info:
    name: data
    namespace: vms
  register: found

- name: Wait until an image someone else creates is Ready
  deckhouse.virtualization.virtual_image_info:
    name: data
    namespace: vms
    wait: true
"""

RETURN = r"""
resources:
  description: The VirtualImages as the server holds them (empty when none matches). Each without C(metadata.managedFields), as C(kubectl get) shows them.
  returned: always
  type: list
  elements: dict
summaries:
  description: Per image, its name and state in short (as the C(image) result of M(deckhouse.virtualization.virtual_image)).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import info_arg_spec, masking, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.disk_service import IMAGE_READY, image_summary
from ansible_collections.deckhouse.virtualization.plugins.module_utils.image_service import hiding_upload_urls
from ansible_collections.deckhouse.virtualization.plugins.module_utils.info import collect
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import VIRTUAL_IMAGE


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return {"argument_spec": info_arg_spec(namespaced=True, reveal_upload_urls={"type": "bool", "default": False})}


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    refuse(module, option_problems(module.params))
    run(module, lambda client, _ensurer: hiding_upload_urls(module, lambda: collect(client, VIRTUAL_IMAGE, module.params, image_summary, IMAGE_READY)))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
