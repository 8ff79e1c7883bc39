# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  label_selectors:
    description: Label selectors, for example C(os=ubuntu) or C(tier in (base,gold)); all must match.
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Field selectors, for example C(metadata.name=ubuntu); all must match. The server refuses fields it cannot select on.
    type: list
    elements: str
    default: []
  wait:
    description:
      - Wait until the objects are ready before returning them. With I(name), the object is also waited for until it exists;
        without, every object found is waited for (objects created meanwhile are not).
      - Ready means the kind's own rule (phase C(Ready)) unless I(wait_condition) names a condition.
      - The wait follows each object with a watch, resumed if it breaks; a failed phase ends it at once with the platform's reason.
    type: bool
    default: false
  wait_timeout:
    description: How long to wait in all, in seconds (0 or more). On timeout the task fails naming the state last seen.
    type: int
    default: 120
  wait_condition:
    description: Wait for this condition instead of the kind's ready rule. Only with I(wait=true).
    type: dict
    suboptions:
      type:
        description: The condition type, for example C(Ready).
        type: str
        required: true
      status:
        description: The status the condition must have.
        type: str
        choices: ["True", "False", "Unknown"]
        default: "True"
      reason:
        description: The reason the condition must have, when given.
        type: str
"""
