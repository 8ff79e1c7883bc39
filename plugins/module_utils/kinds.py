# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API kinds the collection manages, their strings taken from the vocabulary. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass

from . import vocabulary as v


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


def _kind(name: str, version: str, namespaced: bool) -> Kind:
    return Kind(v.group_of(name), version, name, v.PLURALS[name], namespaced)


CLUSTER_VIRTUAL_IMAGE = _kind(v.CLUSTER_VIRTUAL_IMAGE, v.DVP_VERSION, False)
VIRTUAL_IMAGE = _kind(v.VIRTUAL_IMAGE, v.DVP_VERSION, True)
VIRTUAL_DISK = _kind(v.VIRTUAL_DISK, v.DVP_VERSION, True)
VIRTUAL_DISK_SNAPSHOT = _kind(v.VIRTUAL_DISK_SNAPSHOT, v.DVP_VERSION, True)
VIRTUAL_MACHINE = _kind(v.VIRTUAL_MACHINE, v.DVP_VERSION, True)
VIRTUAL_MACHINE_CLASS = _kind(v.VIRTUAL_MACHINE_CLASS, v.VMCLASS_VERSION, False)
VIRTUAL_MACHINE_OPERATION = _kind(v.VIRTUAL_MACHINE_OPERATION, v.DVP_VERSION, True)
MODULE_CONFIG = _kind(v.MODULE_CONFIG, v.MODULE_CONFIG_VERSION, False)
NODE = _kind(v.NODE, "v1", False)
# IP addressing and the module configuration (module_config)
VIRTUAL_MACHINE_IP_ADDRESS = _kind(v.VIRTUAL_MACHINE_IP_ADDRESS, v.DVP_VERSION, True)
VIRTUAL_MACHINE_IP_ADDRESS_LEASE = _kind(v.VIRTUAL_MACHINE_IP_ADDRESS_LEASE, v.DVP_VERSION, False)
SECRET = _kind(v.SECRET, "v1", True)
PERSISTENT_VOLUME_CLAIM = _kind(v.PERSISTENT_VOLUME_CLAIM, "v1", True)
STORAGE_CLASS = _kind(v.STORAGE_CLASS, "v1", False)
PRIORITY_CLASS = _kind(v.PRIORITY_CLASS, "v1", False)
# node maintenance (node_maintenance, vm_operation)
POD = _kind(v.POD, "v1", True)
PERSISTENT_VOLUME = _kind(v.PERSISTENT_VOLUME, "v1", False)
