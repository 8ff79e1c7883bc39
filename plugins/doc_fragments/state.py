# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  state:
    description:
      - C(present) creates or updates the object; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait until the object is ready (C(present)) or gone (C(absent)).
      - The wait follows the object with a watch; a C(Failed) phase ends it at once with the platform's reason.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds. On timeout the task fails and names the phase and conditions it last saw.
    type: int
    default: 300
  labels:
    description:
      - Labels of the object. Labels set by others are kept.
    type: dict
  annotations:
    description:
      - Annotations of the object. Annotations set by others are kept.
    type: dict
"""
