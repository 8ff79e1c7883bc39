"""The Kubernetes protobuf wire format for the built-in kinds the simulator serves.

kubectl (client-go) sends request bodies of built-in kinds as `application/vnd.kubernetes.protobuf`: the four
bytes `k8s\\0`, then a `runtime.Unknown` envelope {typeMeta{apiVersion, kind}, raw, contentEncoding, contentType}
whose `raw` is the object's own message. `decode` turns such a body into the JSON-shaped dict the rest of the
server works with; `encode` is its inverse (tests, and clients of the simulator that speak protobuf).

The messages are described below in a compact table of our own (field number, JSON name, type), written from
the public API definitions, and compiled at import into protobuf descriptors for the `protobuf` runtime.

Type notation of the table:
  string bytes bool int32 int64    scalars; a leading `*` marks a Go pointer field, kept in JSON even when zero
                                   (other scalars are omitted when zero, as Go's `omitempty` does)
  []T  map[K]V                     repeated field, map field
  Name                             another message of the table; `^Name` is embedded inline (its fields
                                   appear in the parent's JSON object, as Go's embedded structs do)
  Time MicroTime                   metav1 times {seconds, nanos} ↔ RFC 3339 strings
  Quantity IntOrString RawJSON     resource quantities (string), int-or-string, raw JSON (FieldsV1, RawExtension)
A field of the wire message that the table does not know is accepted only if it is empty (Go marshals every
non-pointer field, so zero values of fields we do not model arrive all the time); anything else is refused
with 400 rather than silently dropped.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from .errors import APIError

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
PACKAGE = "dvpsim.k8s"
_GO_ZERO_TIME = -62135596800  # seconds of Go's zero time.Time (0001-01-01T00:00:00Z)

# fmt: off
MESSAGES: dict[str, str] = {
    # envelope (k8s.io/apimachinery runtime)
    "Unknown": "1 typeMeta TypeMeta; 2 raw bytes; 3 contentEncoding string; 4 contentType string",
    "TypeMeta": "1 apiVersion string; 2 kind string",
    # special values (their JSON form is not an object)
    "Time": "1 seconds int64; 2 nanos int32",
    "MicroTime": "1 seconds int64; 2 nanos int32",
    "Quantity": "1 string string",
    "IntOrString": "1 type int64; 2 intVal int32; 3 strVal string",
    "RawJSON": "1 raw bytes",
    # meta/v1
    "ObjectMeta": "1 name string; 2 generateName string; 3 namespace string; 4 selfLink string; 5 uid string; "
                  "6 resourceVersion string; 7 generation int64; 8 creationTimestamp Time; 9 deletionTimestamp Time; "
                  "10 deletionGracePeriodSeconds *int64; 11 labels map[string]string; 12 annotations map[string]string; "
                  "13 ownerReferences []OwnerReference; 14 finalizers []string; 17 managedFields []ManagedFieldsEntry",
    "OwnerReference": "5 apiVersion string; 1 kind string; 3 name string; 4 uid string; 6 controller *bool; 7 blockOwnerDeletion *bool",
    "ManagedFieldsEntry": "1 manager string; 2 operation string; 3 apiVersion string; 4 time Time; 6 fieldsType string; "
                          "7 fieldsV1 RawJSON; 8 subresource string",
    "LabelSelector": "1 matchLabels map[string]string; 2 matchExpressions []LabelSelectorRequirement",
    "LabelSelectorRequirement": "1 key string; 2 operator string; 3 values []string",
    "Condition": "1 type string; 2 status string; 3 observedGeneration int64; 4 lastTransitionTime Time; 5 reason string; 6 message string",
    "DeleteOptions": "1 gracePeriodSeconds *int64; 2 preconditions Preconditions; 3 orphanDependents *bool; 4 propagationPolicy *string; "
                     "5 dryRun []string; 6 ignoreStoreReadErrorWithClusterBreakingPotential *bool",
    "Preconditions": "1 uid *string; 2 resourceVersion *string",
    # core/v1
    "Namespace": "1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus",
    "NamespaceSpec": "1 finalizers []string",
    "NamespaceStatus": "1 phase string; 2 conditions []Condition",
    "Secret": "1 metadata ObjectMeta; 5 immutable *bool; 2 data map[string]bytes; 4 stringData map[string]string; 3 type string",
    "ConfigMap": "1 metadata ObjectMeta; 4 immutable *bool; 2 data map[string]string; 3 binaryData map[string]bytes",
    "Service": "1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus",
    "ServiceSpec": "1 ports []ServicePort; 2 selector map[string]string; 3 clusterIP string; 18 clusterIPs []string; 4 type string; "
                   "5 externalIPs []string; 7 sessionAffinity string; 8 loadBalancerIP string; 9 loadBalancerSourceRanges []string; "
                   "10 externalName string; 11 externalTrafficPolicy string; 12 healthCheckNodePort int32; 13 publishNotReadyAddresses bool; "
                   "14 sessionAffinityConfig SessionAffinityConfig; 19 ipFamilies []string; 17 ipFamilyPolicy *string; "
                   "20 allocateLoadBalancerNodePorts *bool; 21 loadBalancerClass *string; 22 internalTrafficPolicy *string; "
                   "23 trafficDistribution *string",
    "ServicePort": "1 name string; 2 protocol string; 6 appProtocol *string; 3 port int32; 4 targetPort IntOrString; 5 nodePort int32",
    "SessionAffinityConfig": "1 clientIP ClientIPConfig",
    "ClientIPConfig": "1 timeoutSeconds *int32",
    "ServiceStatus": "1 loadBalancer LoadBalancerStatus; 2 conditions []Condition",
    "LoadBalancerStatus": "1 ingress []LoadBalancerIngress",
    "LoadBalancerIngress": "1 ip string; 2 hostname string; 3 ipMode *string",
    "PersistentVolumeClaim": "1 metadata ObjectMeta; 2 spec PersistentVolumeClaimSpec; 3 status PersistentVolumeClaimStatus",
    "PersistentVolumeClaimSpec": "1 accessModes []string; 4 selector LabelSelector; 2 resources VolumeResourceRequirements; 3 volumeName string; "
                                 "5 storageClassName *string; 6 volumeMode *string; 7 dataSource TypedLocalObjectReference; "
                                 "8 dataSourceRef TypedObjectReference; 9 volumeAttributesClassName *string",
    "PersistentVolumeClaimStatus": "1 phase string; 2 accessModes []string; 3 capacity map[string]Quantity",
    "VolumeResourceRequirements": "1 limits map[string]Quantity; 2 requests map[string]Quantity",
    "TypedLocalObjectReference": "1 apiGroup *string; 2 kind string; 3 name string",
    "TypedObjectReference": "1 apiGroup *string; 2 kind string; 3 name string; 4 namespace *string",
    "PersistentVolume": "1 metadata ObjectMeta; 2 spec PersistentVolumeSpec; 3 status PersistentVolumeStatus",
    "PersistentVolumeSpec": "1 capacity map[string]Quantity; 2 source ^PersistentVolumeSource; 3 accessModes []string; 4 claimRef ObjectReference; "
                            "5 persistentVolumeReclaimPolicy string; 6 storageClassName string; 7 mountOptions []string; 8 volumeMode *string",
    "PersistentVolumeSource": "3 hostPath HostPathVolumeSource",
    "PersistentVolumeStatus": "1 phase string; 2 message string; 3 reason string; 4 lastPhaseTransitionTime Time",
    "HostPathVolumeSource": "1 path string; 2 type *string",
    "ObjectReference": "1 kind string; 2 namespace string; 3 name string; 4 uid string; 5 apiVersion string; 6 resourceVersion string; 7 fieldPath string",
    "Event": "1 metadata ObjectMeta; 2 involvedObject ObjectReference; 3 reason string; 4 message string; 5 source EventSource; "
             "6 firstTimestamp Time; 7 lastTimestamp Time; 8 count int32; 9 type string; 10 eventTime MicroTime; 11 series EventSeries; "
             "12 action string; 13 related ObjectReference; 14 reportingComponent string; 15 reportingInstance string",
    "EventSource": "1 component string; 2 host string",
    "EventSeries": "1 count int32; 2 lastObservedTime MicroTime",
    "Node": "1 metadata ObjectMeta; 2 spec NodeSpec; 3 status NodeStatus",
    "NodeSpec": "1 podCIDR string; 7 podCIDRs []string; 3 providerID string; 4 unschedulable bool; 5 taints []Taint",
    "Taint": "1 key string; 2 value string; 3 effect string; 4 timeAdded Time",
    "NodeStatus": "1 capacity map[string]Quantity; 2 allocatable map[string]Quantity; 3 phase string; 4 conditions []NodeCondition; "
                  "5 addresses []NodeAddress",
    "NodeCondition": "1 type string; 2 status string; 3 lastHeartbeatTime Time; 4 lastTransitionTime Time; 5 reason string; 6 message string",
    "NodeAddress": "1 type string; 2 address string",
    "Binding": "1 metadata ObjectMeta; 2 target ObjectReference",
    "ServiceAccount": "1 metadata ObjectMeta; 2 secrets []ObjectReference; 3 imagePullSecrets []LocalObjectReference; "
                      "4 automountServiceAccountToken *bool",
    "Pod": "1 metadata ObjectMeta; 2 spec PodSpec; 3 status PodStatus",
    "PodSpec": "1 volumes []Volume; 20 initContainers []Container; 2 containers []Container; 3 restartPolicy string; "
               "4 terminationGracePeriodSeconds *int64; 5 activeDeadlineSeconds *int64; 6 dnsPolicy string; 7 nodeSelector map[string]string; "
               "8 serviceAccountName string; 9 serviceAccount string; 21 automountServiceAccountToken *bool; 10 nodeName string; "
               "11 hostNetwork bool; 12 hostPID bool; 13 hostIPC bool; 27 shareProcessNamespace *bool; 14 securityContext PodSecurityContext; "
               "15 imagePullSecrets []LocalObjectReference; 16 hostname string; 17 subdomain string; 19 schedulerName string; "
               "22 tolerations []Toleration; 24 priorityClassName string; 25 priority *int32; 29 runtimeClassName *string; "
               "30 enableServiceLinks *bool; 31 preemptionPolicy *string; 35 setHostnameAsFQDN *bool; 37 hostUsers *bool",
    "PodSecurityContext": "2 runAsUser *int64; 6 runAsGroup *int64; 3 runAsNonRoot *bool; 4 supplementalGroups []int64; 5 fsGroup *int64",
    "Container": "1 name string; 2 image string; 3 command []string; 4 args []string; 5 workingDir string; 6 ports []ContainerPort; "
                 "19 envFrom []EnvFromSource; 7 env []EnvVar; 8 resources ResourceRequirements; 24 restartPolicy *string; "
                 "9 volumeMounts []VolumeMount; 13 terminationMessagePath string; 20 terminationMessagePolicy string; "
                 "14 imagePullPolicy string; 15 securityContext SecurityContext; 16 stdin bool; 17 stdinOnce bool; 18 tty bool",
    "SecurityContext": "1 capabilities Capabilities; 2 privileged *bool; 4 runAsUser *int64; 8 runAsGroup *int64; 5 runAsNonRoot *bool; "
                       "6 readOnlyRootFilesystem *bool; 7 allowPrivilegeEscalation *bool",
    "Capabilities": "1 add []string; 2 drop []string",
    "ContainerPort": "1 name string; 2 hostPort int32; 3 containerPort int32; 4 protocol string; 5 hostIP string",
    "EnvVar": "1 name string; 2 value string; 3 valueFrom EnvVarSource",
    "EnvVarSource": "1 fieldRef ObjectFieldSelector; 3 configMapKeyRef KeySelector; 4 secretKeyRef KeySelector",
    "ObjectFieldSelector": "1 apiVersion string; 2 fieldPath string",
    "KeySelector": "1 ref ^LocalObjectReference; 2 key string; 3 optional *bool",
    "EnvFromSource": "1 prefix string; 2 configMapRef EnvSource; 3 secretRef EnvSource",
    "EnvSource": "1 ref ^LocalObjectReference; 2 optional *bool",
    "LocalObjectReference": "1 name string",
    "ResourceRequirements": "1 limits map[string]Quantity; 2 requests map[string]Quantity",
    "VolumeMount": "1 name string; 2 readOnly bool; 3 mountPath string; 4 subPath string; 5 mountPropagation *string; 6 subPathExpr string",
    "Volume": "1 name string; 2 source ^VolumeSource",
    "VolumeSource": "1 hostPath HostPathVolumeSource; 2 emptyDir EmptyDirVolumeSource; 6 secret SecretVolumeSource; "
                    "10 persistentVolumeClaim PersistentVolumeClaimVolumeSource; 19 configMap ConfigMapVolumeSource",
    "EmptyDirVolumeSource": "1 medium string; 2 sizeLimit Quantity",
    "SecretVolumeSource": "1 secretName string; 2 items []KeyToPath; 3 defaultMode *int32; 4 optional *bool",
    "ConfigMapVolumeSource": "1 ref ^LocalObjectReference; 2 items []KeyToPath; 3 defaultMode *int32; 4 optional *bool",
    "PersistentVolumeClaimVolumeSource": "1 claimName string; 2 readOnly bool",
    "KeyToPath": "1 key string; 2 path string; 3 mode *int32",
    "Toleration": "1 key string; 2 operator string; 3 value string; 4 effect string; 5 tolerationSeconds *int64",
    "PodStatus": "1 phase string; 2 conditions []PodCondition; 3 message string; 4 reason string; 11 nominatedNodeName string; "
                 "5 hostIP string; 6 podIP string; 7 startTime Time; 9 qosClass string",
    "PodCondition": "1 type string; 2 status string; 3 lastProbeTime Time; 4 lastTransitionTime Time; 5 reason string; 6 message string",
    "ResourceQuota": "1 metadata ObjectMeta; 2 spec ResourceQuotaSpec; 3 status ResourceQuotaStatus",
    "ResourceQuotaSpec": "1 hard map[string]Quantity; 2 scopes []string; 3 scopeSelector ScopeSelector",
    "ScopeSelector": "1 matchExpressions []ScopedResourceSelectorRequirement",
    "ScopedResourceSelectorRequirement": "1 scopeName string; 2 operator string; 3 values []string",
    "ResourceQuotaStatus": "1 hard map[string]Quantity; 2 used map[string]Quantity",
    "LimitRange": "1 metadata ObjectMeta; 2 spec LimitRangeSpec",
    "LimitRangeSpec": "1 limits []LimitRangeItem",
    "LimitRangeItem": "1 type string; 2 max map[string]Quantity; 3 min map[string]Quantity; 4 default map[string]Quantity; "
                      "5 defaultRequest map[string]Quantity; 6 maxLimitRequestRatio map[string]Quantity",
    "PodTemplateSpec": "1 metadata ObjectMeta; 2 spec PodSpec",
    # apps/v1
    "Deployment": "1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus",
    "DeploymentSpec": "1 replicas *int32; 2 selector LabelSelector; 3 template PodTemplateSpec; 4 strategy DeploymentStrategy; "
                      "5 minReadySeconds int32; 6 revisionHistoryLimit *int32; 7 paused bool; 9 progressDeadlineSeconds *int32",
    "DeploymentStrategy": "1 type string; 2 rollingUpdate RollingUpdateDeployment",
    "RollingUpdateDeployment": "1 maxUnavailable *IntOrString; 2 maxSurge *IntOrString",
    "DeploymentStatus": "1 observedGeneration int64; 2 replicas int32; 3 updatedReplicas int32; 7 readyReplicas int32; "
                        "4 availableReplicas int32; 5 unavailableReplicas int32; 6 conditions []DeploymentCondition; 8 collisionCount *int32",
    "DeploymentCondition": "1 type string; 2 status string; 6 lastUpdateTime Time; 7 lastTransitionTime Time; 4 reason string; 5 message string",
    "StatefulSet": "1 metadata ObjectMeta; 2 spec StatefulSetSpec; 3 status StatefulSetStatus",
    "StatefulSetSpec": "1 replicas *int32; 2 selector LabelSelector; 3 template PodTemplateSpec; 4 volumeClaimTemplates []PersistentVolumeClaim; "
                       "5 serviceName string; 6 podManagementPolicy string; 7 updateStrategy StatefulSetUpdateStrategy; 8 revisionHistoryLimit *int32; "
                       "9 minReadySeconds int32; 10 persistentVolumeClaimRetentionPolicy StatefulSetPersistentVolumeClaimRetentionPolicy; "
                       "11 ordinals StatefulSetOrdinals",
    "StatefulSetUpdateStrategy": "1 type string; 2 rollingUpdate RollingUpdateStatefulSetStrategy",
    "RollingUpdateStatefulSetStrategy": "1 partition *int32; 2 maxUnavailable *IntOrString",
    "StatefulSetPersistentVolumeClaimRetentionPolicy": "1 whenDeleted string; 2 whenScaled string",
    "StatefulSetOrdinals": "1 start int32",
    "StatefulSetStatus": "1 observedGeneration int64; 2 replicas *int32; 3 readyReplicas int32; 4 currentReplicas int32; 5 updatedReplicas int32; "
                         "6 currentRevision string; 7 updateRevision string; 9 collisionCount *int32; 11 availableReplicas *int32",
    "DaemonSet": "1 metadata ObjectMeta; 2 spec DaemonSetSpec; 3 status DaemonSetStatus",
    "DaemonSetSpec": "1 selector LabelSelector; 2 template PodTemplateSpec; 3 updateStrategy DaemonSetUpdateStrategy; 4 minReadySeconds int32; "
                     "6 revisionHistoryLimit *int32",
    "DaemonSetUpdateStrategy": "1 type string; 2 rollingUpdate RollingUpdateDaemonSet",
    "RollingUpdateDaemonSet": "1 maxUnavailable *IntOrString; 2 maxSurge *IntOrString",
    "DaemonSetStatus": "1 currentNumberScheduled *int32; 2 numberMisscheduled *int32; 3 desiredNumberScheduled *int32; 4 numberReady *int32; "
                       "5 observedGeneration int64; 6 updatedNumberScheduled int32; 7 numberAvailable int32; 8 numberUnavailable int32; "
                       "9 collisionCount *int32",
    "ControllerRevision": "1 metadata ObjectMeta; 2 data RawJSON; 3 revision *int64",
    # admissionregistration/v1
    "ValidatingWebhookConfiguration": "1 metadata ObjectMeta; 2 webhooks []ValidatingWebhook",
    "MutatingWebhookConfiguration": "1 metadata ObjectMeta; 2 webhooks []MutatingWebhook",
    "ValidatingWebhook": "1 name string; 2 clientConfig WebhookClientConfig; 3 rules []RuleWithOperations; 4 failurePolicy *string; "
                         "9 matchPolicy *string; 5 namespaceSelector LabelSelector; 10 objectSelector LabelSelector; 6 sideEffects *string; "
                         "7 timeoutSeconds *int32; 8 admissionReviewVersions []string; 11 matchConditions []MatchCondition",
    "MutatingWebhook": "1 name string; 2 clientConfig WebhookClientConfig; 3 rules []RuleWithOperations; 4 failurePolicy *string; "
                       "9 matchPolicy *string; 5 namespaceSelector LabelSelector; 11 objectSelector LabelSelector; 6 sideEffects *string; "
                       "7 timeoutSeconds *int32; 8 admissionReviewVersions []string; 10 reinvocationPolicy *string; 12 matchConditions []MatchCondition",
    "RuleWithOperations": "1 operations []string; 2 rule ^AdmissionRule",
    "AdmissionRule": "1 apiGroups []string; 2 apiVersions []string; 3 resources []string; 4 scope *string",
    "WebhookClientConfig": "3 url *string; 1 service WebhookServiceReference; 2 caBundle bytes",
    "WebhookServiceReference": "1 namespace string; 2 name string; 3 path *string; 4 port *int32",
    "MatchCondition": "1 name string; 2 expression string",
    "ReplicaSet": "1 metadata ObjectMeta; 2 spec ReplicaSetSpec; 3 status ReplicaSetStatus",
    "ReplicaSetSpec": "1 replicas *int32; 4 minReadySeconds int32; 2 selector LabelSelector; 3 template PodTemplateSpec",
    "ReplicaSetStatus": "1 replicas int32; 2 fullyLabeledReplicas int32; 4 readyReplicas int32; 5 availableReplicas int32; "
                        "3 observedGeneration int64; 6 conditions []ReplicaSetCondition",
    "ReplicaSetCondition": "1 type string; 2 status string; 3 lastTransitionTime Time; 4 reason string; 5 message string",
    # batch/v1
    "Job": "1 metadata ObjectMeta; 2 spec JobSpec; 3 status JobStatus",
    "JobSpec": "1 parallelism *int32; 2 completions *int32; 3 activeDeadlineSeconds *int64; 7 backoffLimit *int32; 4 selector LabelSelector; "
               "5 manualSelector *bool; 6 template PodTemplateSpec; 8 ttlSecondsAfterFinished *int32; 9 completionMode *string; 10 suspend *bool; "
               "14 podReplacementPolicy *string",
    "JobStatus": "1 conditions []JobCondition; 2 startTime Time; 3 completionTime Time; 4 active int32; 5 succeeded int32; 6 failed int32; "
                 "11 terminating *int32; 8 uncountedTerminatedPods UncountedTerminatedPods; 9 ready *int32",
    "JobCondition": "1 type string; 2 status string; 3 lastProbeTime Time; 4 lastTransitionTime Time; 5 reason string; 6 message string",
    "UncountedTerminatedPods": "1 succeeded []string; 2 failed []string",
    "CronJob": "1 metadata ObjectMeta; 2 spec CronJobSpec; 3 status CronJobStatus",
    "CronJobSpec": "1 schedule string; 8 timeZone *string; 2 startingDeadlineSeconds *int64; 3 concurrencyPolicy string; 4 suspend *bool; "
                   "5 jobTemplate JobTemplateSpec; 6 successfulJobsHistoryLimit *int32; 7 failedJobsHistoryLimit *int32",
    "JobTemplateSpec": "1 metadata ObjectMeta; 2 spec JobSpec",
    "CronJobStatus": "1 active []ObjectReference; 4 lastScheduleTime Time; 5 lastSuccessfulTime Time",
    # autoscaling/v1 (replicas is not omitempty in Go: kept when zero)
    "Scale": "1 metadata ObjectMeta; 2 spec ScaleSpec; 3 status ScaleStatus",
    "ScaleSpec": "1 replicas *int32",
    "ScaleStatus": "1 replicas *int32; 2 selector string",
    # networking.k8s.io/v1
    "NetworkPolicy": "1 metadata ObjectMeta; 2 spec NetworkPolicySpec",
    "NetworkPolicySpec": "1 podSelector LabelSelector; 2 ingress []NetworkPolicyIngressRule; 3 egress []NetworkPolicyEgressRule; 4 policyTypes []string",
    "NetworkPolicyIngressRule": "1 ports []NetworkPolicyPort; 2 from []NetworkPolicyPeer",
    "NetworkPolicyEgressRule": "1 ports []NetworkPolicyPort; 2 to []NetworkPolicyPeer",
    "NetworkPolicyPeer": "1 podSelector LabelSelector; 2 namespaceSelector LabelSelector; 3 ipBlock IPBlock",
    "NetworkPolicyPort": "1 protocol *string; 2 port IntOrString; 3 endPort *int32",
    "IPBlock": "1 cidr string; 2 except []string",
    "Ingress": "1 metadata ObjectMeta; 2 spec IngressSpec; 3 status IngressStatus",
    "IngressSpec": "4 ingressClassName *string; 1 defaultBackend IngressBackend; 2 tls []IngressTLS; 3 rules []IngressRule",
    "IngressBackend": "4 service IngressServiceBackend; 3 resource TypedLocalObjectReference",
    "IngressServiceBackend": "1 name string; 2 port ServiceBackendPort",
    "ServiceBackendPort": "1 name string; 2 number int32",
    "IngressTLS": "1 hosts []string; 2 secretName string",
    "IngressRule": "1 host string; 2 ingressRuleValue ^IngressRuleValue",
    "IngressRuleValue": "1 http HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "1 paths []HTTPIngressPath",
    "HTTPIngressPath": "1 path string; 3 pathType *string; 2 backend IngressBackend",
    "IngressStatus": "1 loadBalancer IngressLoadBalancerStatus",
    "IngressLoadBalancerStatus": "1 ingress []IngressLoadBalancerIngress",
    "IngressLoadBalancerIngress": "1 ip string; 2 hostname string",
    # policy/v1
    "Eviction": "1 metadata ObjectMeta; 2 deleteOptions DeleteOptions",
    "PodDisruptionBudget": "1 metadata ObjectMeta; 2 spec PodDisruptionBudgetSpec; 3 status PodDisruptionBudgetStatus",
    "PodDisruptionBudgetSpec": "1 minAvailable *IntOrString; 2 selector LabelSelector; 3 maxUnavailable *IntOrString; 4 unhealthyPodEvictionPolicy *string",
    "PodDisruptionBudgetStatus": "1 observedGeneration int64; 2 disruptedPods map[string]Time; 3 disruptionsAllowed int32; 4 currentHealthy int32; "
                                 "5 desiredHealthy int32; 6 expectedPods int32; 7 conditions []Condition",
    # scheduling.k8s.io/v1 (value is not omitempty in Go: kept when zero)
    "PriorityClass": "1 metadata ObjectMeta; 2 value *int32; 3 globalDefault bool; 4 description string; 5 preemptionPolicy *string",
    # storage.k8s.io/v1
    "StorageClass": "1 metadata ObjectMeta; 2 provisioner string; 3 parameters map[string]string; 4 reclaimPolicy *string; "
                    "5 mountOptions []string; 6 allowVolumeExpansion *bool; 7 volumeBindingMode *string",
    # authorization.k8s.io/v1, authentication.k8s.io/v1 (the review resources; `extra` maps are not modelled)
    "SelfSubjectAccessReview": "1 metadata ObjectMeta; 2 spec SelfSubjectAccessReviewSpec; 3 status SubjectAccessReviewStatus",
    "SelfSubjectAccessReviewSpec": "1 resourceAttributes ResourceAttributes; 2 nonResourceAttributes NonResourceAttributes",
    "SubjectAccessReview": "1 metadata ObjectMeta; 2 spec SubjectAccessReviewSpec; 3 status SubjectAccessReviewStatus",
    "SubjectAccessReviewSpec": "1 resourceAttributes ResourceAttributes; 2 nonResourceAttributes NonResourceAttributes; 3 user string; "
                               "4 groups []string; 6 uid string",
    "ResourceAttributes": "1 namespace string; 2 verb string; 3 group string; 4 version string; 5 resource string; 6 subresource string; "
                          "7 name string; 8 fieldSelector FieldSelectorAttributes; 9 labelSelector LabelSelectorAttributes",
    "FieldSelectorAttributes": "1 rawSelector string; 2 requirements []FieldSelectorRequirement",
    "FieldSelectorRequirement": "1 key string; 2 operator string; 3 values []string",
    "LabelSelectorAttributes": "1 rawSelector string; 2 requirements []LabelSelectorRequirement",
    "NonResourceAttributes": "1 path string; 2 verb string",
    "SubjectAccessReviewStatus": "1 allowed bool; 4 denied bool; 2 reason string; 3 evaluationError string",
    "SelfSubjectRulesReview": "1 metadata ObjectMeta; 2 spec SelfSubjectRulesReviewSpec; 3 status SubjectRulesReviewStatus",
    "SelfSubjectRulesReviewSpec": "1 namespace string",
    "SubjectRulesReviewStatus": "1 resourceRules []ResourceRule; 2 nonResourceRules []NonResourceRule; 3 incomplete bool; 4 evaluationError string",
    "ResourceRule": "1 verbs []string; 2 apiGroups []string; 3 resources []string; 4 resourceNames []string",
    "NonResourceRule": "1 verbs []string; 2 nonResourceURLs []string",
    "SelfSubjectReview": "1 metadata ObjectMeta; 2 status SelfSubjectReviewStatus",
    "SelfSubjectReviewStatus": "1 userInfo UserInfo",
    "UserInfo": "1 username string; 2 uid string; 3 groups []string",
    "TokenRequest": "1 metadata ObjectMeta; 2 spec TokenRequestSpec; 3 status TokenRequestStatus",
    "TokenRequestSpec": "1 audiences []string; 4 expirationSeconds *int64; 3 boundObjectRef BoundObjectReference",
    "BoundObjectReference": "1 kind string; 2 apiVersion string; 3 name string; 4 uid string",
    "TokenRequestStatus": "1 token string; 2 expirationTimestamp Time",
    "TokenReview": "1 metadata ObjectMeta; 2 spec TokenReviewSpec; 3 status TokenReviewStatus",
    "TokenReviewSpec": "1 token string; 2 audiences []string",
    "TokenReviewStatus": "1 authenticated bool; 2 user UserInfo; 4 audiences []string; 3 error string",
    # rbac.authorization.k8s.io/v1
    "PolicyRule": "1 verbs []string; 2 apiGroups []string; 3 resources []string; 4 resourceNames []string; 5 nonResourceURLs []string",
    "Role": "1 metadata ObjectMeta; 2 rules []PolicyRule",
    "ClusterRole": "1 metadata ObjectMeta; 2 rules []PolicyRule; 3 aggregationRule AggregationRule",
    "AggregationRule": "1 clusterRoleSelectors []LabelSelector",
    "Subject": "1 kind string; 2 apiGroup string; 3 name string; 4 namespace string",
    "RoleRef": "1 apiGroup string; 2 kind string; 3 name string",
    "RoleBinding": "1 metadata ObjectMeta; 2 subjects []Subject; 3 roleRef RoleRef",
    "ClusterRoleBinding": "1 metadata ObjectMeta; 2 subjects []Subject; 3 roleRef RoleRef",
    # events.k8s.io/v1
    "EventsEvent": "1 metadata ObjectMeta; 2 eventTime MicroTime; 3 series EventSeries; 4 reportingController string; 5 reportingInstance string; "
                   "6 action string; 7 reason string; 8 regarding ObjectReference; 9 related ObjectReference; 10 note string; 11 type string; "
                   "12 deprecatedSource EventSource; 13 deprecatedFirstTimestamp Time; 14 deprecatedLastTimestamp Time; 15 deprecatedCount int32",
}

# (API group, kind) → message; DeleteOptions is accepted under any group (clients send it as v1 or meta.k8s.io/v1).
KINDS: dict[tuple[str, str], str] = {
    ("", "Namespace"): "Namespace", ("", "Secret"): "Secret", ("", "ConfigMap"): "ConfigMap", ("", "Service"): "Service",
    ("", "PersistentVolumeClaim"): "PersistentVolumeClaim", ("", "PersistentVolume"): "PersistentVolume", ("", "Event"): "Event",
    ("", "Node"): "Node", ("", "Pod"): "Pod", ("", "Binding"): "Binding",
    ("", "ResourceQuota"): "ResourceQuota", ("", "LimitRange"): "LimitRange", ("networking.k8s.io", "NetworkPolicy"): "NetworkPolicy",
    ("policy", "Eviction"): "Eviction", ("policy", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("storage.k8s.io", "StorageClass"): "StorageClass", ("events.k8s.io", "Event"): "EventsEvent",
    ("scheduling.k8s.io", "PriorityClass"): "PriorityClass",
    ("networking.k8s.io", "Ingress"): "Ingress",
    ("batch", "Job"): "Job", ("batch", "CronJob"): "CronJob",
    ("apps", "Deployment"): "Deployment", ("apps", "DaemonSet"): "DaemonSet", ("apps", "StatefulSet"): "StatefulSet", ("apps", "ReplicaSet"): "ReplicaSet", ("apps", "ControllerRevision"): "ControllerRevision",
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): "ValidatingWebhookConfiguration",
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): "MutatingWebhookConfiguration", ("autoscaling", "Scale"): "Scale",
    ("authorization.k8s.io", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authentication.k8s.io", "SelfSubjectReview"): "SelfSubjectReview",
    ("", "ServiceAccount"): "ServiceAccount", ("authentication.k8s.io", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io", "TokenReview"): "TokenReview",
    **{("rbac.authorization.k8s.io", k): k for k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")},
}
# fmt: on
SPECIAL = ("Time", "MicroTime", "Quantity", "IntOrString", "RawJSON")
SCALARS = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
}


class ProtobufError(ValueError):
    """The body is not a protobuf encoding of a kind we decode."""


@dataclass(frozen=True)
class Field:
    number: int
    name: str
    type: str  # scalar name or message name (for a map: the value's type)
    pointer: bool = False
    repeated: bool = False
    map: bool = False
    inline: bool = False


def parse_field(text: str) -> Field:
    number, name, spec = text.split()
    pointer = spec.startswith("*")
    spec = spec.lstrip("*")
    inline = spec.startswith("^")
    spec = spec.lstrip("^")
    if spec.startswith("[]"):
        return Field(int(number), name, spec[2:], repeated=True)
    if spec.startswith("map[string]"):
        return Field(int(number), name, spec[len("map[string]") :], map=True)
    return Field(int(number), name, spec, pointer=pointer, inline=inline)


FIELDS: dict[str, list[Field]] = {msg: [parse_field(f) for f in spec.split(";")] for msg, spec in MESSAGES.items()}


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    label = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="dvpsim_k8s.proto", package=PACKAGE, syntax="proto2")

    def set_type(fd: descriptor_pb2.FieldDescriptorProto, type_name: str) -> None:
        if type_name in SCALARS:
            fd.type = SCALARS[type_name]
        elif type_name in MESSAGES:
            fd.type, fd.type_name = label.TYPE_MESSAGE, f".{PACKAGE}.{type_name}"
        else:
            raise ValueError(f"protobuf table: unknown type {type_name!r}")

    for msg, fields in FIELDS.items():
        mdp = fdp.message_type.add(name=msg)
        for f in fields:
            fd = mdp.field.add(name=f.name, number=f.number, label=label.LABEL_REPEATED if (f.repeated or f.map) else label.LABEL_OPTIONAL)
            if f.map:
                entry = mdp.nested_type.add(name=f.name[0].upper() + f.name[1:] + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, label=label.LABEL_OPTIONAL, type=label.TYPE_STRING)
                set_type(entry.field.add(name="value", number=2, label=label.LABEL_OPTIONAL), f.type)
                fd.type, fd.type_name = label.TYPE_MESSAGE, f".{PACKAGE}.{msg}.{entry.name}"
            else:
                set_type(fd, f.type)
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())
CLASSES: dict[str, type[Message]] = {m: message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{m}")) for m in MESSAGES}


# -- decoding -----------------------------------------------------------------------------------------------------
def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body → the object as JSON would carry it (apiVersion and kind from the envelope).
    Raises ProtobufError for anything else: no magic, an envelope we cannot read, a kind or a non-empty field
    we do not model."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    envelope = _parse("Unknown", body[len(MAGIC) :])
    if envelope.contentEncoding:
        raise ProtobufError(f"unsupported content encoding {envelope.contentEncoding!r}")
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    group = api_version.rpartition("/")[0]
    msg = "DeleteOptions" if kind == "DeleteOptions" else KINDS.get((group, kind))
    if msg is None:
        raise ProtobufError(f"the simulator does not decode {kind} ({api_version}) from protobuf; send it as JSON")
    obj = to_dict(msg, _parse(msg, envelope.raw))
    return {"apiVersion": api_version, "kind": kind, **obj}


def _parse(msg: str, data: bytes) -> Message:
    out = CLASSES[msg]()
    try:
        out.ParseFromString(data)
    except DecodeError as exc:
        raise ProtobufError(f"malformed {msg} message: {exc}") from exc
    return out


def to_dict(msg: str, message: Message) -> dict[str, Any]:
    """A message of the table → its JSON form (zero values of non-pointer scalars omitted, as Go's omitempty)."""
    _refuse_unknown(msg, message)
    out: dict[str, Any] = {}
    for f in FIELDS[msg]:
        value = getattr(message, f.name)
        if f.repeated:
            if value:
                out[f.name] = [_value(f.type, v) for v in value]
        elif f.map:
            if value:
                out[f.name] = {k: _value(f.type, v) for k, v in value.items()}
        elif message.HasField(f.name):
            converted = _value(f.type, value)
            if f.inline:
                out.update(converted)
            elif converted is not None and (f.pointer or converted not in ("", 0, False) or isinstance(converted, dict)):
                out[f.name] = converted
    return out


def _value(type_name: str, value: Any) -> Any:
    if type_name == "bytes":
        return base64.b64encode(value).decode()
    if type_name in SCALARS:
        return value
    if type_name in ("Time", "MicroTime"):
        if not (value.HasField("seconds") or value.HasField("nanos")) or value.seconds == _GO_ZERO_TIME:
            return None  # Go's zero time (marshalled as an empty message) is JSON's null
        stamp = dt.datetime.fromtimestamp(value.seconds, dt.UTC) + dt.timedelta(microseconds=value.nanos // 1000)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if type_name == "MicroTime" else "%Y-%m-%dT%H:%M:%SZ")
    if type_name == "Quantity":
        return value.string
    if type_name == "IntOrString":
        return value.strVal if value.type == 1 else value.intVal
    if type_name == "RawJSON":
        try:
            return json.loads(value.raw) if value.raw else None
        except ValueError as exc:
            raise ProtobufError(f"an embedded raw JSON value does not parse: {exc}") from exc
    return to_dict(type_name, value)


def _refuse_unknown(msg: str, message: Message) -> None:
    for field in UnknownFieldSet(message):
        if field.data not in (b"", 0):
            raise ProtobufError(f"field {field.field_number} of {msg} is not decoded by the simulator; send the object as JSON")


# -- encoding -----------------------------------------------------------------------------------------------------
def encode(obj: dict[str, Any]) -> bytes:
    """The inverse of `decode`: a JSON-shaped object of a kind in KINDS → the protobuf wire form."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    msg = "DeleteOptions" if kind == "DeleteOptions" else KINDS.get((api_version.rpartition("/")[0], kind))
    if msg is None:
        raise ProtobufError(f"no protobuf message for {kind} ({api_version})")
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    envelope = CLASSES["Unknown"](raw=from_dict(msg, body).SerializeToString())
    envelope.typeMeta.apiVersion, envelope.typeMeta.kind = api_version, kind
    return MAGIC + envelope.SerializeToString()


def from_dict(msg: str, obj: dict[str, Any]) -> Message:
    """A JSON-shaped dict → a message of the table; a key the table does not know is an error."""
    message = CLASSES[msg]()
    known: set[str] = set()
    for f in FIELDS[msg]:
        if f.inline:
            part = {k: obj[k] for k in _json_names(f.type) if k in obj}
            known.update(part)
            if part:
                getattr(message, f.name).CopyFrom(from_dict(f.type, part))
            continue
        known.add(f.name)
        if obj.get(f.name) is None:
            continue
        value = obj[f.name]
        target = getattr(message, f.name)
        if f.repeated:
            for item in value:
                if f.type in SCALARS:
                    target.append(_scalar(f.type, item))
                else:
                    target.add().CopyFrom(_message(f.type, item))
        elif f.map:
            for k, item in value.items():
                if f.type in SCALARS:
                    target[k] = _scalar(f.type, item)
                else:
                    target[k].CopyFrom(_message(f.type, item))
        elif f.type in SCALARS:
            setattr(message, f.name, _scalar(f.type, value))
        else:
            target.CopyFrom(_message(f.type, value))
    extra = set(obj) - known
    if extra:
        raise ProtobufError(f"{msg} has no field {sorted(extra)[0]!r} in the simulator's protobuf table")
    return message


def _json_names(msg: str) -> list[str]:
    return [n for f in FIELDS[msg] for n in (_json_names(f.type) if f.inline else [f.name])]


def _scalar(type_name: str, value: Any) -> Any:
    return base64.b64decode(value) if type_name == "bytes" else value


def _message(type_name: str, value: Any) -> Message:
    cls = CLASSES[type_name]
    if type_name in ("Time", "MicroTime"):
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return cls(seconds=int(stamp.timestamp()), nanos=stamp.microsecond * 1000)
    if type_name == "Quantity":
        return cls(string=str(value))
    if type_name == "IntOrString":
        return cls(type=1, strVal=value) if isinstance(value, str) else cls(type=0, intVal=value)
    if type_name == "RawJSON":
        return cls(raw=json.dumps(value, separators=(",", ":")).encode())
    return from_dict(type_name, value)


def http_error(exc: ProtobufError) -> APIError:
    """How a body that does not decode is answered (kube-apiserver: 400 BadRequest)."""
    return APIError(400, f"the body of the request could not be decoded as {CONTENT_TYPE}: {exc}")
