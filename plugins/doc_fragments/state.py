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
      - How long to wait, in seconds (0 or more). On timeout the task fails and names the phase and conditions it last saw.
      - A watch that breaks meanwhile (connection reset, API server restart) is resumed within this time, not reported as an error.
    type: int
    default: 300
  force_conflicts:
    description:
      - The module writes with server-side apply. When a field the task sets is owned by another field manager
        (someone changed it with C(kubectl edit), C(kubectl patch) or another tool), the task fails and names the managers and fields.
      - With C(true), the module takes those fields over (as C(kubectl apply --server-side --force-conflicts) and
        kubernetes.core's I(server_side_apply.force_conflicts)).
      - Only with I(state=present).
    type: bool
    default: false
  labels:
    description:
      - Labels of the object. Labels set by others are kept. Only with I(state=present).
    type: dict
  annotations:
    description:
      - Annotations of the object. Annotations set by others are kept. Only with I(state=present).
    type: dict
"""
