# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deckhouse.virtualization.vm_operation on the controller without a module process (plugin_utils/in_process.py)."""

from ansible_collections.deckhouse.virtualization.plugins.modules import vm_operation
from ansible_collections.deckhouse.virtualization.plugins.plugin_utils.in_process import ModuleAction


class ActionModule(ModuleAction):
    MODULE = vm_operation
