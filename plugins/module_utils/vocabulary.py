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
STORAGE_GROUP = "storage.k8s.io"
POLICY_GROUP = "policy"
COORDINATION_GROUP = "coordination.k8s.io"
EVENTS_GROUP = "events.k8s.io"  # Event is served in the core group too
APIEXTENSIONS_GROUP = "apiextensions.k8s.io"
CORE_VERSION = "v1"  # the version of every built-in kind the simulator serves
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
CONFIG_MAP = "ConfigMap"
SERVICE = "Service"
EVENT = "Event"
PERSISTENT_VOLUME_CLAIM = "PersistentVolumeClaim"
PERSISTENT_VOLUME = "PersistentVolume"
STORAGE_CLASS = "StorageClass"
POD_DISRUPTION_BUDGET = "PodDisruptionBudget"
LEASE = "Lease"
CUSTOM_RESOURCE_DEFINITION = "CustomResourceDefinition"

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
    CONFIG_MAP: "configmaps",
    SERVICE: "services",
    EVENT: "events",
    PERSISTENT_VOLUME_CLAIM: "persistentvolumeclaims",
    PERSISTENT_VOLUME: "persistentvolumes",
    STORAGE_CLASS: "storageclasses",
    POD_DISRUPTION_BUDGET: "poddisruptionbudgets",
    LEASE: "leases",
    CUSTOM_RESOURCE_DEFINITION: "customresourcedefinitions",
}
GROUPS = {
    MODULE_CONFIG: DECKHOUSE_GROUP,
    **dict.fromkeys((NODE, POD, SECRET, NAMESPACE, CONFIG_MAP, SERVICE, EVENT, PERSISTENT_VOLUME_CLAIM, PERSISTENT_VOLUME), CORE_GROUP),
    STORAGE_CLASS: STORAGE_GROUP,
    POD_DISRUPTION_BUDGET: POLICY_GROUP,
    LEASE: COORDINATION_GROUP,
    CUSTOM_RESOURCE_DEFINITION: APIEXTENSIONS_GROUP,
}  # every other kind is DVP's


def group_of(kind: str) -> str:
    return GROUPS.get(kind, DVP_GROUP)


def resource_key(kind: str, group: str | None = None) -> str:
    """The simulator's key of a kind's resource: `<group>/<plural>` (`/pods` for the core group); `group` for a
    kind served in a second group (Event in events.k8s.io)."""
    return f"{group_of(kind) if group is None else group}/{PLURALS[kind]}"


# -- namespaces of the platform ------------------------------------------------------------------------------
MODULE_NAMESPACE = "d8-virtualization"  # the virtualization module's own namespace (virt-handler pods, state)
NODE_LEASE_NAMESPACE = "kube-node-lease"


# -- labels, annotations, finalizers ------------------------------------------------------------------------
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
HOSTNAME_LABEL = "kubernetes.io/hostname"
OS_LABEL = "kubernetes.io/os"
ARCH_LABEL = "kubernetes.io/arch"
NODE_ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
# node CPU labels (KubeVirt's node labeller, renamed by DVP): the prefix + a model, feature or vendor name, "true"
CPU_MODEL_LABEL_PREFIX = "cpu-model.node.virtualization.deckhouse.io/"
CPU_FEATURE_LABEL_PREFIX = "cpu-feature.node.virtualization.deckhouse.io/"
HOST_MODEL_CPU_LABEL_PREFIX = "host-model-cpu.node.virtualization.deckhouse.io/"
CPU_VENDOR_LABEL_PREFIX = "cpu-vendor.node.virtualization.deckhouse.io/"
VIRT_HANDLER_LABEL = "kubevirt.internal.virtualization.deckhouse.io"  # on the module's pods: which component
VIRT_HANDLER = "virt-handler"  # that label's value on a virt-handler pod, and the prefix of its name
KVM_DEVICE_RESOURCE = "devices.virtualization.deckhouse.io/kvm"  # a node's capacity for VMs
DEFAULT_CLASS_ANNOTATION = "virtualmachineclass.virtualization.deckhouse.io/is-default-class"
DEFAULT_STORAGE_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"  # the scheduler's choice for a WaitForFirstConsumer claim
PROVISIONED_BY_ANNOTATION = "pv.kubernetes.io/provisioned-by"
BIND_COMPLETED_ANNOTATION = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER_ANNOTATION = "pv.kubernetes.io/bound-by-controller"
CVI_CLEANUP_FINALIZER = "virtualization.deckhouse.io/cvi-cleanup"
CVI_PROTECTION_FINALIZER = "virtualization.deckhouse.io/cvi-protection"
VM_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vm-cleanup"
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
KUBERNETES_FINALIZER = "kubernetes"
VMCLASS_CLEANUP_FINALIZER = VM_CLEANUP_FINALIZER  # the platform puts the VM's constant on classes too

# -- Secret types ---------------------------------------------------------------------------------------------
SECRET_TYPE_OPAQUE = "Opaque"
SECRET_TYPE_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SECRET_TYPE_DOCKERCFG = "kubernetes.io/dockercfg"
SECRET_TYPE_TLS = "kubernetes.io/tls"
SECRET_TYPE_SSH_AUTH = "kubernetes.io/ssh-auth"

# -- phases (images, classes) -----------------------------------------------------------------------------------
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
COND_NODE_READY = "Ready"  # a Node's and a Pod's readiness (kubelet)

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
REASON_ATTACHED_TO_VM = "AttachedToVirtualMachine"
REASON_NOT_IN_USE = "NotInUse"
REASON_CLUSTER_IMAGE_NOT_READY = "ClusterImageNotReady"
REASON_IMAGE_NOT_READY = "ImageNotReady"
REASON_DISK_NOT_READY = "VirtualDiskNotReady"
REASON_DISK_ATTACHED = "VirtualDiskAttachedToVirtualMachine"
REASON_SNAPSHOT_NOT_READY = "VirtualDiskSnapshotNotReady"
REASON_REGISTRY_SECRET_NOT_FOUND = "ContainerRegistrySecretNotFound"

# VirtualMachineClass
REASON_DISCOVERY_SUCCEEDED = "DiscoverySucceeded"
REASON_DISCOVERY_FAILED = "DiscoveryFailed"
REASON_DISCOVERY_SKIP = "DiscoverySkip"
REASON_NO_CPU_FEATURES_ENABLED = "NoCpuFeaturesEnabled"
REASON_SUITABLE_NODES_FOUND = "SuitableNodesFound"
REASON_NO_SUITABLE_NODES_FOUND = "NoSuitableNodesFound"
REASON_CLASS_IN_USE = "VirtualMachineClassInUse"
