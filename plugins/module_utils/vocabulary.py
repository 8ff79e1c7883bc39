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
DVP_SUBRESOURCES_GROUP = "subresources." + DVP_GROUP  # the platform's aggregated API (console, VNC, add/remove volume)
DVP_INTERNAL_GROUP = "internal." + DVP_GROUP  # the platform's internal KubeVirt kinds
DVP_STORAGE_GROUP = "storage." + DVP_GROUP  # CDI's StorageProfiles, renamed by the platform
DECKHOUSE_GROUP = "deckhouse.io"
CORE_GROUP = ""
STORAGE_GROUP = "storage.k8s.io"
POLICY_GROUP = "policy"
COORDINATION_GROUP = "coordination.k8s.io"
SCHEDULING_GROUP = "scheduling.k8s.io"
EVENTS_GROUP = "events.k8s.io"  # Event is served in the core group too
APIEXTENSIONS_GROUP = "apiextensions.k8s.io"
APPS_GROUP = "apps"
BATCH_GROUP = "batch"
ADMISSION_REGISTRATION_GROUP = "admissionregistration.k8s.io"
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
NODE_GROUP = "NodeGroup"  # Deckhouse node-manager's: a group's node type and fencing
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
PRIORITY_CLASS = "PriorityClass"
CUSTOM_RESOURCE_DEFINITION = "CustomResourceDefinition"
DAEMON_SET = "DaemonSet"  # the module's virt-handler runs as one
DEPLOYMENT = "Deployment"  # ... and its virt-controller as this
REPLICA_SET = "ReplicaSet"  # a Deployment's pods are a ReplicaSet's
STATEFUL_SET = "StatefulSet"
CONTROLLER_REVISION = "ControllerRevision"  # a DaemonSet's or StatefulSet's template history
JOB = "Job"
CRON_JOB = "CronJob"
VALIDATING_WEBHOOK_CONFIGURATION = "ValidatingWebhookConfiguration"  # which webhooks kube-apiserver calls, and how
MUTATING_WEBHOOK_CONFIGURATION = "MutatingWebhookConfiguration"

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
    PRIORITY_CLASS: "priorityclasses",
    CUSTOM_RESOURCE_DEFINITION: "customresourcedefinitions",
    DAEMON_SET: "daemonsets",
    DEPLOYMENT: "deployments",
    REPLICA_SET: "replicasets",
    STATEFUL_SET: "statefulsets",
    CONTROLLER_REVISION: "controllerrevisions",
    JOB: "jobs",
    CRON_JOB: "cronjobs",
    NODE_GROUP: "nodegroups",
    VALIDATING_WEBHOOK_CONFIGURATION: "validatingwebhookconfigurations",
    MUTATING_WEBHOOK_CONFIGURATION: "mutatingwebhookconfigurations",
}
GROUPS = {
    MODULE_CONFIG: DECKHOUSE_GROUP,
    NODE_GROUP: DECKHOUSE_GROUP,
    **dict.fromkeys((NODE, POD, SECRET, NAMESPACE, CONFIG_MAP, SERVICE, EVENT, PERSISTENT_VOLUME_CLAIM, PERSISTENT_VOLUME), CORE_GROUP),
    STORAGE_CLASS: STORAGE_GROUP,
    POD_DISRUPTION_BUDGET: POLICY_GROUP,
    LEASE: COORDINATION_GROUP,
    PRIORITY_CLASS: SCHEDULING_GROUP,
    CUSTOM_RESOURCE_DEFINITION: APIEXTENSIONS_GROUP,
    DAEMON_SET: APPS_GROUP,
    DEPLOYMENT: APPS_GROUP,
    REPLICA_SET: APPS_GROUP,
    STATEFUL_SET: APPS_GROUP,
    CONTROLLER_REVISION: APPS_GROUP,
    JOB: BATCH_GROUP,
    CRON_JOB: BATCH_GROUP,
    VALIDATING_WEBHOOK_CONFIGURATION: ADMISSION_REGISTRATION_GROUP,
    MUTATING_WEBHOOK_CONFIGURATION: ADMISSION_REGISTRATION_GROUP,
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
COND_DISRUPTION_TARGET = "DisruptionTarget"  # a Pod about to be deleted by a disruption (PodGC, eviction, preemption)

# -- condition reasons ---------------------------------------------------------------------------------------
REASON_UNKNOWN = "Unknown"
REASON_DATASOURCE_READY = "DatasourceReady"
REASON_PROVISIONING = "Provisioning"
REASON_WAIT_FOR_USER_UPLOAD = "WaitForUserUpload"
REASON_WAIT_FOR_USER_UPLOAD_TIMEOUT = "WaitForUserUploadTimeout"
REASON_PROVISIONING_FAILED = "ProvisioningFailed"
REASON_PROVISIONING_FAILED_TERMINALLY = "ProvisioningFailedTerminally"
# a VirtualDisk's or VirtualImage's claim (or importer pod) refused by a project's ResourceQuota: Ready stays False
# until the quota changes (BEHAVIOUR.md §2.1, §2.2); the Warning event of a VM whose virt-launcher pod was refused
REASON_QUOTA_EXCEEDED = "QuotaExceeded"
EVENT_FAILED_CREATE = "FailedCreate"
REASON_READY = "Ready"
REASON_IMAGE_LOST = "ImageLost"
EVENT_IMAGE_LOST_RECOVERED = "ImageLostRecovered"  # an image back in DVCR after ImageLost (BEHAVIOUR.md §1.4)
EVENT_VD_SPEC_CHANGED = "VDSpecHasBeenChanged"  # a disk's spec changed before Ready: the import restarts (§2.4)
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

# -- storage, VirtualDisk, VirtualImage (issue 8: disks and images) --------------------------------------------
STORAGE_PROFILE_ACCESS_MODES_ANNOTATION = "storageprofile.dvp-sim.deckhouse.io/access-modes"  # CDI StorageProfile stand-in
STORAGE_PROFILE_VOLUME_MODE_ANNOTATION = "storageprofile.dvp-sim.deckhouse.io/volume-mode"
STORAGE_CAPACITY_ANNOTATION = "storage.dvp-sim.deckhouse.io/capacity"  # the simulated pool's size, on a StorageClass
VOLUME_DATA_ANNOTATION = "storage.dvp-sim.deckhouse.io/data"  # on a PVC: `<dvcr repository>:<uid>` its data references
DEPRECATED_SC_LABEL = "module"  # SC label key marking a deprecated class (value local-path-provisioner)
DEPRECATED_SC_VALUE = "local-path-provisioner"
VD_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vd-cleanup"
VD_PROTECTION_FINALIZER = "virtualization.deckhouse.io/vd-protection"
VI_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vi-cleanup"
VI_PROTECTION_FINALIZER = "virtualization.deckhouse.io/vi-protection"
VIRTUALIZATION_MODULE = "virtualization"  # the ModuleConfig's name
RWO, RWX, ROX, RWOP = "ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"
VOLUME_MODE_BLOCK, VOLUME_MODE_FILESYSTEM = "Block", "Filesystem"
BINDING_IMMEDIATE, BINDING_WFFC = "Immediate", "WaitForFirstConsumer"
STORAGE_PVC = "PersistentVolumeClaim"
STORAGE_KUBERNETES = "Kubernetes"  # deprecated alias of PersistentVolumeClaim
PVC_BOUND, PVC_PENDING, PVC_LOST = "Bound", "Pending", "Lost"
# phases
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
RESIZING = "Resizing"
PVC_LOST_PHASE = "PVCLost"
MIGRATING = "Migrating"
EXPORTING = "Exporting"
# condition types
COND_STORAGE_CLASS_READY = "StorageClassReady"
COND_RESIZING = "Resizing"
# condition reasons
REASON_STORAGE_CLASS_READY = "StorageClassReady"
REASON_STORAGE_CLASS_NOT_FOUND = "StorageClassNotFound"
REASON_STORAGE_CLASS_NOT_READY = "StorageClassNotReady"
REASON_STORAGE_CLASS_IS_NOT_READY = "StorageClassIsNotReady"  # VD Ready reason
REASON_WAITING_FOR_FIRST_CONSUMER = "WaitingForFirstConsumer"
REASON_PVC_LOST = "PVCLost"
REASON_DATASOURCE_IS_NOT_READY = "DatasourceIsNotReady"
REASON_DATASOURCE_IS_NOT_FOUND = "DatasourceIsNotFound"
REASON_IMAGE_NOT_FOUND = "ImageNotFound"
REASON_CLUSTER_IMAGE_NOT_FOUND = "ClusterImageNotFound"
REASON_DISK_NOT_READY_FOR_USE = "VirtualDiskNotReadyForUse"
REASON_RESIZING = "InProgress"
REASON_RESIZED = "Resized"
REASON_RESIZING_NOT_REQUESTED = "NotRequested"
# storage (volume) migration, EE (BEHAVIOUR.md §2.2, §7.1): a VirtualDisk's condition Migrating, its reasons, the
# system Evict operation that live-migrates the VM with the disk, the target claim's name prefix
COND_VD_MIGRATING = "Migrating"
REASON_WAIT_FOR_TARGET_READY = "WaitForTargetReady"
REASON_VD_MIGRATION_IN_PROGRESS = "InProgress"
REASON_WAIT_FOR_TARGET_VOLUME_RELEASE = "WaitForTargetVolumeRelease"
REASON_WAIT_FOR_SOURCE_VOLUME_RELEASE = "WaitForSourceVolumeRelease"
REASON_RESIZING_IN_PROGRESS = "ResizingInProgress"
VOLUME_MIGRATION_ANNOTATION = "virtualization.deckhouse.io/volume-migration"  # on volume-migration-* Evict operations
VOLUME_MIGRATION_GENERATE_NAME = "volume-migration-"
VOLUME_MIGRATION_CLAIM_PREFIX = "d8v-vd-"  # the target claim: generateName `d8v-vd-<disk uid>-`
EVENT_VMOP_STARTED = "VirtualMachineOperationStarted"
EVENT_VOLUME_MIGRATION_CANNOT_BE_PROCESSED = "VolumeMigrationCannotBeProcessed"
EVENT_VOLUME_MIGRATION_COMPLETED = "VolumeMigrationCompleted"  # the simulator's own: the disk switched to the target claim
EVENT_VOLUME_MIGRATION_REVERTED = "VolumeMigrationReverted"  # the simulator's own: the target claim was dropped

# -- IP addressing and the module configuration (BEHAVIOUR.md §5, §8) -------------------------------------------
VIRTUAL_MACHINE_IP_ADDRESS = "VirtualMachineIPAddress"
VIRTUAL_MACHINE_IP_ADDRESS_LEASE = "VirtualMachineIPAddressLease"
PLURALS[VIRTUAL_MACHINE_IP_ADDRESS] = "virtualmachineipaddresses"
PLURALS[VIRTUAL_MACHINE_IP_ADDRESS_LEASE] = "virtualmachineipaddressleases"
VMIP_UID_LABEL = "virtualization.deckhouse.io/virtual-machine-ip-address-uid"  # on a lease: the VMIP holding it
VMIP_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vmip-cleanup"
VMIPL_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vmipl-cleanup"
ALLOW_DISABLING_ANNOTATION = "modules.deckhouse.io/allow-disabling"
VMIP_AUTO, VMIP_STATIC = "Auto", "Static"
# phases (VMIP: Pending / Bound / Attached; lease: Bound / Released)
IP_BOUND, IP_ATTACHED, IP_RELEASED = "Bound", "Attached", "Released"
# condition types
COND_BOUND = "Bound"
COND_ATTACHED = "Attached"
# condition reasons
REASON_BOUND = "Bound"
REASON_IP_OUT_OF_RANGE = "VirtualMachineIPAddressIsOutOfTheValidRange"
REASON_LEASE_ALREADY_EXISTS = "VirtualMachineIPAddressLeaseAlreadyExists"
REASON_LEASE_LOST = "VirtualMachineIPAddressLeaseLost"
REASON_LEASE_NOT_FOUND = "VirtualMachineIPAddressLeaseNotFound"
REASON_LEASE_NOT_READY = "VirtualMachineIPAddressLeaseNotReady"
REASON_ATTACHED = "Attached"
REASON_VM_NOT_FOUND = "VirtualMachineNotFound"
REASON_LEASE_RELEASED = "Released"
# ModuleConfigs and the objects the virtualization module's settings concern
VIRTUALIZATION_MODULE = "virtualization"
LOG_SHIPPER_MODULE = "log-shipper"
RUNTIME_AUDIT_ENGINE_MODULE = "runtime-audit-engine"
DVCR_PVC_NAME = "dvcr"  # PersistentVolumeClaim d8-virtualization/dvcr, DVCR's storage
CLUSTER_CONFIGURATION_NAMESPACE = "kube-system"
CLUSTER_CONFIGURATION_SECRET = "d8-cluster-configuration"
CLUSTER_CONFIGURATION_KEY = "cluster-configuration.yaml"
CLUSTER_CONFIGURATION_KIND = "ClusterConfiguration"
CLUSTER_CONFIGURATION_API_VERSION = "deckhouse.io/v1"
EDITION_CE, EDITION_EE = "CE", "EE"
FEATURE_GATES = ("HotplugCPUWithLiveMigration", "HotplugMemoryWithLiveMigration", "HotplugCPUAndMemoryWithInPlaceResize", "GPU")

# -- VirtualMachine, VirtualMachineOperation (issue 8: VMs) ---------------------------------------------------
# VM phases (VM_STOPPED above)
VM_PENDING, VM_STARTING, VM_RUNNING, VM_STOPPING, VM_TERMINATING = "Pending", "Starting", "Running", "Stopping", "Terminating"
# run policies, restart approval
RUN_ALWAYS_ON, RUN_ALWAYS_OFF, RUN_MANUAL, RUN_ALWAYS_ON_UNLESS_STOPPED = "AlwaysOn", "AlwaysOff", "Manual", "AlwaysOnUnlessStoppedManually"
RESTART_APPROVAL_MANUAL, RESTART_APPROVAL_AUTOMATIC = "Manual", "Automatic"
# labels and annotations on the VM's virt-launcher pod and auto VMIP
VM_NAME_LABEL = "vm.kubevirt.internal.virtualization.deckhouse.io/name"
KUBEVIRT_DOMAIN_LABEL = "kubevirt.internal.virtualization.deckhouse.io/domain"
KUBEVIRT_CREATED_BY_LABEL = "kubevirt.internal.virtualization.deckhouse.io/created-by"
KUBEVIRT_VM_UID_LABEL = "kubevirt.internal.virtualization.deckhouse.io/vm"
VIRT_LAUNCHER = "virt-launcher"  # the VIRT_HANDLER_LABEL value on a VM's pod, and its name prefix
VM_UID_LABEL = "virtualization.deckhouse.io/virtual-machine-uid"  # on an auto VMIP and on VMOPs
VM_CLASS_NAME_LABEL = "virtualization.deckhouse.io/virtual-machine-class-name"
VMOP_CLEANUP_FINALIZER = "virtualization.deckhouse.io/vmop-cleanup"
# VM condition types
COND_VMCLASS_READY = "VirtualMachineClassReady"
COND_BLOCK_DEVICES_READY = "BlockDevicesReady"
COND_VMIP_READY = "VirtualMachineIPAddressReady"
COND_PROVISIONING_READY = "ProvisioningReady"
COND_RUNNING = "Running"
COND_SIZING_POLICY_MATCHED = "SizingPolicyMatched"
COND_MIGRATABLE = "Migratable"
COND_AWAITING_RESTART = "AwaitingRestartToApplyConfiguration"
COND_CONFIGURATION_APPLIED = "ConfigurationApplied"
# VM condition reasons
REASON_VMCLASS_READY = "VirtualMachineClassReady"
REASON_VMCLASS_NOT_READY = "VirtualMachineClassNotReady"
REASON_BLOCK_DEVICES_READY = "BlockDevicesReady"
REASON_BLOCK_DEVICES_NOT_READY = "BlockDevicesNotReady"
REASON_WAITING_FOR_WFFC_DEVICES = "WaitingForWaitForFirstConsumerBlockDevicesToBeReady"
REASON_VMIP_READY = "VirtualMachineIPAddressReady"
REASON_VMIP_NOT_READY = "VirtualMachineIPAddressNotReady"
REASON_VMIP_NOT_ASSIGNED = "VirtualMachineIPAddressNotAssigned"
REASON_PROVISIONING_READY = "ProvisioningReady"
REASON_PROVISIONING_NOT_READY = "ProvisioningNotReady"
REASON_RUNNING = "Running"
REASON_NOT_RUNNING = "NotRunning"
REASON_POD_NOT_STARTED = "PodNotStarted"
REASON_SIZING_POLICY_NOT_MATCHED = "SizingPolicyNotMatched"
REASON_VMCLASS_NOT_FOUND = "VirtualMachineClassNotFound"
REASON_VMCLASS_TERMINATING = "VirtualMachineClassTerminating"
REASON_MIGRATABLE = "VirtualMachineMigratable"
REASON_DISKS_NOT_MIGRATABLE = "VirtualMachineDisksNotMigratable"
REASON_DISKS_SHOULD_BE_MIGRATING = "VirtualMachineDisksShouldBeMigrating"  # Migratable=True: EE moves the RWO disks too
REASON_CHANGES_PENDING_RESTART = "ChangesPendingRestart"
REASON_NO_RESTART_REQUIRED = "NoRestartRequired"
# provisioning Secret types
SECRET_TYPE_CLOUD_INIT = "provisioning.virtualization.deckhouse.io/cloud-init"
SECRET_TYPE_SYSPREP = "provisioning.virtualization.deckhouse.io/sysprep"
# VMOP types, phases, conditions, reasons
VMOP_START, VMOP_STOP, VMOP_RESTART, VMOP_MIGRATE, VMOP_EVICT = "Start", "Stop", "Restart", "Migrate", "Evict"
VMOP_RESTORE, VMOP_CLONE = "Restore", "Clone"
VMOP_IN_PROGRESS, VMOP_COMPLETED, VMOP_SUPERSEDED = "InProgress", "Completed", "Superseded"
COND_COMPLETED = "Completed"
COND_SIGNAL_SENT = "SignalSent"
REASON_SUPERSEDED = "Superseded"
REASON_NOT_READY_TO_BE_EXECUTED = "NotReadyToBeExecuted"
REASON_NOT_APPLICABLE_RUN_POLICY = "NotApplicableForVirtualMachineRunPolicy"
REASON_NOT_APPLICABLE_PHASE = "NotApplicableForVirtualMachinePhase"
REASON_OPERATION_COMPLETED = "OperationCompleted"
REASON_OPERATION_FAILED = "OperationFailed"
REASON_SIGNAL_SENT_SUCCESS = "SignalSentSuccess"
REASON_START_IN_PROGRESS, REASON_STOP_IN_PROGRESS, REASON_RESTART_IN_PROGRESS = "StartInProgress", "StopInProgress", "RestartInProgress"
# the simulator's own bookkeeping on a virt-launcher pod: the configuration it runs, the Restart it answers
VM_APPLIED_SPEC_ANNOTATION = "vm.dvp-sim.deckhouse.io/applied-configuration"
VM_RESTART_OPERATION_ANNOTATION = "vm.dvp-sim.deckhouse.io/restart-operation"
VM_SHUTDOWN_REQUESTED_ANNOTATION = "vm.dvp-sim.deckhouse.io/shutdown-requested-at"  # on the virt-launcher pod: graceful stop began
GUEST_SHUTDOWN, GUEST_REBOOT, GUEST_CRASH = "shutdown", "reboot", "crash"  # admin API guest power events (simulator)
GUEST_DIRTY_MEMORY, GUEST_DIRTY_RATE = "dirty-memory", "mibPerSecond"  # admin API: the guest's memory dirty rate (simulator)

# -- node maintenance and live migration (issue 9: vm_operation, node_maintenance; BEHAVIOUR.md §6-7) ----------
EVICTION = "Eviction"  # policy/v1, POSTed to a pod's `eviction` subresource
EVICTION_SUBRESOURCE = "eviction"
POLICY_VERSION = "v1"
DAEMON_SET = "DaemonSet"  # a pod's controller kind that drains leave alone (ignore-daemonsets)
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"  # static pods: drains skip them
POD_SUCCEEDED, POD_FAILED = "Succeeded", "Failed"
EVACUATION_ANNOTATION = "virtualization.deckhouse.io/evacuation"  # on evacuation-* Evict operations (§7.1)
WORKLOAD_UPDATE_ANNOTATION = "virtualization.deckhouse.io/workload-update"  # on nodeplacement-update-* Evict operations (§7.1)
PLACEMENT_SUM_ANNOTATION = "virtualization.deckhouse.io/workload-update-node-placement-sum"  # ... the placement it moves the VM to
# a firmware update (§4.7, §7.1): a VM whose virt-launcher runs another image than the module's current one
WORKLOAD_UPDATE_IMAGE_ANNOTATION = "virtualization.deckhouse.io/workload-update-image"  # on the VM's instance: the image tried
FIRMWARE_UPDATE_GENERATE_NAME = "firmware-update-"  # the workload updater's Evict operations for it
COND_FIRMWARE_UP_TO_DATE = "FirmwareUpToDate"  # VM condition, present only while False
REASON_FIRMWARE_OUT_OF_DATE = "FirmwareOutOfDate"
VIRT_CONTROLLER = "virt-controller"  # the module's Deployment (and container) whose --launcher-image is the firmware
SYSTEM_MIGRATION_POLICY_ANNOTATION = "virtualization.deckhouse.io/system-migration-policy"  # on ModuleConfig virtualization (§7.4)
EVICTION_TRIGGERED_EVACUATION = "Eviction triggered evacuation"  # the interceptor's 429 message: `… of VMI "<ns>/<vm>"`
COND_EVICTION_REQUIRED = "EvictionRequired"
REASON_NOT_APPLICABLE_MIGRATION_POLICY = "NotApplicableForLiveMigrationPolicy"
# liveMigrationPolicy values
LM_ALWAYS_SAFE, LM_PREFER_SAFE, LM_ALWAYS_FORCED, LM_PREFER_FORCED = "AlwaysSafe", "PreferSafe", "AlwaysForced", "PreferForced"
VMOP_PENDING = "Pending"
# -- the simulator's live migration, eviction interceptor and evacuation controller (issue 9; BEHAVIOUR.md §6.5, §7) --
VM_MIGRATING = "Migrating"  # VM phase
COND_MIGRATING = "Migrating"  # VM condition: reasons Pending / ReadyToMigrate / InProgress
REASON_MIGRATING_PENDING, REASON_READY_TO_MIGRATE, REASON_MIGRATING_IN_PROGRESS = "Pending", "ReadyToMigrate", "InProgress"
REASON_EVICTION_REQUIRED = "EvictionRequired"
EVACUATION_FINALIZER = "virtualization.deckhouse.io/vmop-protection-by-evacuation-controller"
EVACUATION_GENERATE_NAME = "evacuation-"
EVICTION_INTERCEPTOR_WEBHOOK = "virt-launcher-eviction-interceptor.kubevirt.io"
# the migration's states (VMOP in-progress reasons, §6.5) and results
MIGRATION_PENDING, TARGET_SCHEDULING, TARGET_UNSCHEDULABLE, TARGET_PREPARING = "MigrationPending", "TargetScheduling", "TargetUnschedulable", "TargetPreparing"
TARGET_DISK_ERROR, WAITING_FOR_SYNC_SLOT, SYNCING = "TargetDiskError", "WaitingForSyncSlot", "Syncing"
SOURCE_SUSPENDED, TARGET_RESUMED = "SourceSuspended", "TargetResumed"
NOT_CONVERGING = "NotConverging"  # also the operation's Failed reason once the progress timeout fired
MIGRATION_SUCCEEDED, MIGRATION_FAILED = "Succeeded", "Failed"
REASON_MIGRATION_COMPLETED, REASON_MIGRATION_ABORTED = "Completed", "Aborted"
REASON_WAITING_READY_TO_MIGRATE = "WaitingForVirtualMachineToBeReadyToMigrate"
REASON_OTHER_MIGRATION_IN_PROGRESS = "OtherMigrationInProgress"
REASON_VM_NOT_MIGRATABLE = "VirtualMachineNotMigratable"
# the simulator's bookkeeping on virt-launcher pods: a migration's target pod (the operation), an evacuation request (the node)
VM_MIGRATION_TARGET_ANNOTATION = "vm.dvp-sim.deckhouse.io/migration-target"
VM_EVACUATION_NODE_ANNOTATION = "vm.dvp-sim.deckhouse.io/evacuation-node"
# the address DVP's IPAM asks the CNI (its patched Cilium) to give a VM's virt-launcher pods: the VM's own IP
CNI_IP_ADDRESS_ANNOTATION = "cni.cilium.io/ipAddress"
# -- rebalancing: the descheduler module (issue 10; BEHAVIOUR.md §7.5) -------------------------------------------
DESCHEDULER_MODULE = "descheduler"  # the ModuleConfig whose spec.enabled switches the descheduler on
DESCHEDULER_COMPONENT = "sigs.k8s.io/descheduler"  # the Events' source, as the descheduler reports its evictions
DEFAULT_SCHEDULER = "default-scheduler"  # kube-scheduler: a pod's default schedulerName, its Events' source
DESCHEDULED_MESSAGE = "pod evicted from {node} node by sigs.k8s.io/descheduler"
LOW_NODE_UTILIZATION = "LowNodeUtilization"
REMOVE_PODS_VIOLATING_INTER_POD_ANTI_AFFINITY = "RemovePodsViolatingInterPodAntiAffinity"
REMOVE_PODS_VIOLATING_NODE_AFFINITY = "RemovePodsViolatingNodeAffinity"
# -- fencing, ColdStandby and node fault injection (issue 10; BEHAVIOUR.md §7.6, §7.7) ---------------------------
NODE_GROUP_LABEL = "node.deckhouse.io/group"  # a node's NodeGroup
NODE_TYPE_LABEL = "node.deckhouse.io/type"  # a node's NodeGroup's nodeType, as node-manager labels it
NODE_TYPE_STATIC, NODE_TYPE_CLOUD_STATIC = "Static", "CloudStatic"  # machines joined by hand (bare metal), or in a cloud
# node types whose Node object a Watchdog fencing keeps (node-manager deletes only the Nodes it can make again)
NODE_TYPES_KEPT_WHEN_FENCED = (NODE_TYPE_STATIC, NODE_TYPE_CLOUD_STATIC)
FENCING_ENABLED_LABEL = "node-manager.deckhouse.io/fencing-enabled"
FENCING_MODE_LABEL = "node-manager.deckhouse.io/fencing-mode"
FENCING_WATCHDOG, FENCING_NOTIFY = "Watchdog", "Notify"
# maintenance annotations that suspend the watchdog (and so the fencing of the node)
FENCING_DISABLE_ANNOTATION = "node-manager.deckhouse.io/fencing-disable"
UPDATE_APPROVED_ANNOTATION = "update.node.deckhouse.io/approved"
UPDATE_DISRUPTION_APPROVED_ANNOTATION = "update.node.deckhouse.io/disruption-approved"
FENCING_SUSPEND_ANNOTATIONS = (FENCING_DISABLE_ANNOTATION, UPDATE_APPROVED_ANNOTATION, UPDATE_DISRUPTION_APPROVED_ANNOTATION)
FENCING_TIMEOUT = 60  # seconds a fencing-enabled node's Lease may go unrenewed (spec.fencing.watchdog.timeout)
NODE_MONITOR_GRACE = 40  # seconds before the node lifecycle controller marks a silent node's conditions Unknown
REASON_NODE_STATUS_UNKNOWN = "NodeStatusUnknown"
NODE_STATUS_UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
UNREACHABLE_TAINT_KEY = "node.kubernetes.io/unreachable"
NODE_FAULT_POWER, NODE_FAULT_NETWORK, NODE_FAULT_KUBELET = "power", "network", "kubelet"  # dvp-sim node fail --mode

# -- the collection's own keys -----------------------------------------------------------------------------------
# Set on every object the collection creates with POST: a retried create whose earlier try had an unknown outcome
# (a 5xx, a timeout, a dropped connection) finds the object that try made instead of making a second one.
CREATE_REQUEST_ANNOTATION = "deckhouse.virtualization/create-request"
