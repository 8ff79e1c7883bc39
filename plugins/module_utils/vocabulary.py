# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API vocabulary of DVP, in one place for the collection and the simulator: groups, versions, kinds and
resource names, label and annotation keys, finalizers, phases, condition types and reasons.

Pure Python with no imports: the simulator imports it as
`ansible_collections.deckhouse.virtualization.plugins.module_utils.vocabulary`. Values are the platform's own
spelling (see the CRDs and BEHAVIOUR.md of the platform spec); nothing here is a rule, only names.
"""

from __future__ import annotations

# -- API groups and versions ---------------------------------------------------------------------------------
DVP_GROUP = "virtualization.deckhouse.io"
DECKHOUSE_GROUP = "deckhouse.io"
CORE_GROUP = ""
V1ALPHA2 = "v1alpha2"
V1ALPHA3 = "v1alpha3"
DVP_VERSION = V1ALPHA2  # storage version of every DVP kind but VirtualMachineClass
VMCLASS_VERSION = V1ALPHA3  # the newest served version of VirtualMachineClass
MODULE_CONFIG_VERSION = "v1alpha1"

# -- kinds and their plural resource names -------------------------------------------------------------------
CLUSTER_VIRTUAL_IMAGE = "ClusterVirtualImage"
VIRTUAL_IMAGE = "VirtualImage"
VIRTUAL_DISK = "VirtualDisk"
VIRTUAL_DISK_SNAPSHOT = "VirtualDiskSnapshot"
VIRTUAL_MACHINE = "VirtualMachine"
VIRTUAL_MACHINE_CLASS = "VirtualMachineClass"
VIRTUAL_MACHINE_OPERATION = "VirtualMachineOperation"
MODULE_CONFIG = "ModuleConfig"
NODE = "Node"
POD = "Pod"
SECRET = "Secret"
NAMESPACE = "Namespace"

PLURALS = {
    CLUSTER_VIRTUAL_IMAGE: "clustervirtualimages",
    VIRTUAL_IMAGE: "virtualimages",
    VIRTUAL_DISK: "virtualdisks",
    VIRTUAL_DISK_SNAPSHOT: "virtualdisksnapshots",
    VIRTUAL_MACHINE: "virtualmachines",
    VIRTUAL_MACHINE_CLASS: "virtualmachineclasses",
    VIRTUAL_MACHINE_OPERATION: "virtualmachineoperations",
    MODULE_CONFIG: "moduleconfigs",
    NODE: "nodes",
    POD: "pods",
    SECRET: "secrets",
    NAMESPACE: "namespaces",
}
GROUPS = {MODULE_CONFIG: DECKHOUSE_GROUP, NODE: CORE_GROUP, POD: CORE_GROUP, SECRET: CORE_GROUP, NAMESPACE: CORE_GROUP}


def group_of(kind: str) -> str:
    return GROUPS.get(kind, DVP_GROUP)


def resource_key(kind: str) -> str:
    """The simulator's key of a kind's resource: `<group>/<plural>` (`/pods` for the core group)."""
    return f"{group_of(kind)}/{PLURALS[kind]}"


# -- labels, annotations, finalizers ------------------------------------------------------------------------
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
HOSTNAME_LABEL = "kubernetes.io/hostname"
OS_LABEL = "kubernetes.io/os"
ARCH_LABEL = "kubernetes.io/arch"
DEFAULT_CLASS_ANNOTATION = "virtualmachineclass.virtualization.deckhouse.io/is-default-class"
CVI_CLEANUP_FINALIZER = "virtualization.deckhouse.io/cvi-cleanup"
CVI_PROTECTION_FINALIZER = "virtualization.deckhouse.io/cvi-protection"
VM_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vm-cleanup"
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
KUBERNETES_FINALIZER = "kubernetes"

# -- image phases ---------------------------------------------------------------------------------------------
PENDING = "Pending"
PROVISIONING = "Provisioning"
WAIT_FOR_USER_UPLOAD = "WaitForUserUpload"
READY = "Ready"
FAILED = "Failed"
TERMINATING = "Terminating"
IMAGE_LOST = "ImageLost"
VM_STOPPED = "Stopped"  # a VirtualMachine phase

# -- image storage ----------------------------------------------------------------------------------------------
STORAGE_CONTAINER_REGISTRY = "ContainerRegistry"

# -- image data sources ---------------------------------------------------------------------------------------
SOURCE_HTTP = "HTTP"
SOURCE_CONTAINER_IMAGE = "ContainerImage"
SOURCE_OBJECT_REF = "ObjectRef"
SOURCE_UPLOAD = "Upload"

# -- condition types -----------------------------------------------------------------------------------------
COND_READY = "Ready"
COND_DATASOURCE_READY = "DatasourceReady"
COND_IN_USE = "InUse"
COND_DISCOVERED = "Discovered"

# -- condition reasons ---------------------------------------------------------------------------------------
REASON_UNKNOWN = "Unknown"
REASON_DATASOURCE_READY = "DatasourceReady"
REASON_PROVISIONING = "Provisioning"
REASON_WAIT_FOR_USER_UPLOAD = "WaitForUserUpload"
REASON_WAIT_FOR_USER_UPLOAD_TIMEOUT = "WaitForUserUploadTimeout"
REASON_PROVISIONING_FAILED = "ProvisioningFailed"
REASON_PROVISIONING_FAILED_TERMINALLY = "ProvisioningFailedTerminally"
REASON_READY = "Ready"
REASON_IMAGE_LOST = "ImageLost"
VM_STOPPED = "Stopped"  # a VirtualMachine phase

# -- image storage ----------------------------------------------------------------------------------------------
STORAGE_CONTAINER_REGISTRY = "ContainerRegistry"
REASON_ATTACHED_TO_VM = "AttachedToVirtualMachine"
REASON_NOT_IN_USE = "NotInUse"
REASON_CLUSTER_IMAGE_NOT_READY = "ClusterImageNotReady"
REASON_IMAGE_NOT_READY = "ImageNotReady"
REASON_DISK_NOT_READY = "VirtualDiskNotReady"
REASON_DISK_ATTACHED = "VirtualDiskAttachedToVirtualMachine"
REASON_SNAPSHOT_NOT_READY = "VirtualDiskSnapshotNotReady"
REASON_REGISTRY_SECRET_NOT_FOUND = "ContainerRegistrySecretNotFound"
