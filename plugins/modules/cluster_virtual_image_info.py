#!/usr/bin/python
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cluster_virtual_image_info
short_description: Read ClusterVirtualImages
version_added: 0.1.0
description:
  - Returns one C(ClusterVirtualImage) by name, or all of them, optionally filtered by label selectors.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
options:
  name:
    description: Name of one image. Without it, every image (matching I(label_selectors)) is returned.
    type: str
  label_selectors:
    description: Label selectors, for example C(os=ubuntu) or C(tier in (base,gold)); all must match.
    type: list
    elements: str
    default: []
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
"""

RETURN = r"""
resources:
  description: The images as the server holds them (empty when none matches).
  returned: always
  type: list
  elements: dict
summaries:
  description: Per image, its name, phase, progress, format, cdrom, sizes, registry URL and conditions.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import info_arg_spec, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import summary
from ansible_collections.deckhouse.virtualization.plugins.module_utils.info import collect
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import CLUSTER_VIRTUAL_IMAGE


def main():
    module = AnsibleModule(argument_spec=info_arg_spec(namespaced=False), supports_check_mode=True)
    run(module, lambda client, _ensurer: collect(client, CLUSTER_VIRTUAL_IMAGE, module.params, summary))


if __name__ == "__main__":
    main()
