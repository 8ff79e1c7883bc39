# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  batch:
    description:
      - Many objects in one task, each a dictionary of this module's options (I(name), I(namespace), I(state), the spec
        options, I(wait) ...). The task's other options are defaults for every element; its connection options are the
        connection of all of them (an element cannot give connection options). Instead of I(name).
      - Every element is validated as a task of its own would be before anything is sent; one invalid element fails the
        task, naming C(batch[i]), the option and the rule, and nothing is written.
      - The elements are applied in order over one connection; a failed element does not stop the others, and the task
        fails at the end naming each failed element. Elements with I(wait) are waited for after all have been applied,
        so their imports or boots run side by side.
      - Returns I(results), one per element in order, as a loop of this module would register them (each with I(item),
        the element as given). Much cheaper than a C(loop) for many objects - a loop item costs Ansible a task
        execution of its own.
    type: list
    elements: dict
"""
