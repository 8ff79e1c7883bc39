# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deckhouse.virtualization.module_config_info on the controller without a module process (plugin_utils/in_process.py)."""

from ansible_collections.deckhouse.virtualization.plugins.plugin_utils.in_process import ModuleAction, load_module


class ActionModule(ModuleAction):
    MODULE = load_module("module_config_info")
