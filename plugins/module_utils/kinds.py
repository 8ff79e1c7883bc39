# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API kinds the collection manages. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass

DVP_GROUP = "virtualization.deckhouse.io"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def describe(self, name: str, namespace: str | None = None) -> str:
        """`ClusterVirtualImage ubuntu` / `VirtualDisk ns/disk` for messages."""
        return f"{self.kind} {namespace}/{name}" if self.namespaced and namespace else f"{self.kind} {name}"


CLUSTER_VIRTUAL_IMAGE = Kind(DVP_GROUP, "v1alpha2", "ClusterVirtualImage", "clustervirtualimages", False)
VIRTUAL_IMAGE = Kind(DVP_GROUP, "v1alpha2", "VirtualImage", "virtualimages", True)
VIRTUAL_DISK = Kind(DVP_GROUP, "v1alpha2", "VirtualDisk", "virtualdisks", True)
VIRTUAL_MACHINE = Kind(DVP_GROUP, "v1alpha2", "VirtualMachine", "virtualmachines", True)
VIRTUAL_MACHINE_CLASS = Kind(DVP_GROUP, "v1alpha3", "VirtualMachineClass", "virtualmachineclasses", False)
VIRTUAL_MACHINE_OPERATION = Kind(DVP_GROUP, "v1alpha2", "VirtualMachineOperation", "virtualmachineoperations", True)
MODULE_CONFIG = Kind("deckhouse.io", "v1alpha1", "ModuleConfig", "moduleconfigs", False)
NODE = Kind("", "v1", "Node", "nodes", False)
