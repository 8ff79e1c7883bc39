"""The eviction interceptor of a VM's virt-launcher pod (BEHAVIOUR.md §7.1, KubeVirt's
`virt-launcher-eviction-interceptor.kubevirt.io`): a validating hook on CREATE of `pods/eviction`.

An eviction of the running pod of a Running or Migrating VM is refused with 429 TooManyRequests, `Eviction triggered
evacuation of VMI "<ns>/<vm>"`, and the evacuation is requested: the node is recorded on the pod (the simulator's
stand-in for the instance's `status.evacuationNodeName`, kept with the pod across restarts), which the VM controller
reports as `EvictionRequired` and the evacuation controller turns into an `evacuation-*` Evict operation. Every
further eviction of that pod gets the same 429 until the VM has left it: then the pod has completed and is deleted,
and the eviction is answered as any other (404 for a pod gone, 201 for a pod that is no longer running). Pods of no
VM, a migration's target pod, and pods already terminating or finished pass (PodDisruptionBudgets still apply to
them in pod_subresources.py). A dry run records nothing. Costs: the pod and its VM by key."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, Admission, AdmissionRequest
from ..api.errors import webhook_denied
from ..api.service import WriteOptions
from ..store.store import Store

PODS = v.resource_key(v.POD)
VMS = v.resource_key(v.VIRTUAL_MACHINE)
WEBHOOK = v.EVICTION_INTERCEPTOR_WEBHOOK
MANAGER = "virt-api"


def register(admission: Admission, store: Store) -> None:
    @admission.validate("", v.POD, operations=(CREATE,), subresources=(v.EVICTION_SUBRESOURCE,))
    def intercept(request: AdmissionRequest) -> None:
        meta = (request.obj or {}).get("metadata") or {}
        entry = store.get(PODS, meta.get("namespace") or "", meta.get("name") or "")
        if entry is None:
            return
        pod = entry.obj
        labels, annotations = pod["metadata"].get("labels") or {}, pod["metadata"].get("annotations") or {}
        vm_name = labels.get(v.VM_NAME_LABEL)
        if not vm_name or v.VM_MIGRATION_TARGET_ANNOTATION in annotations or pod["metadata"].get("deletionTimestamp"):
            return
        if (pod.get("status") or {}).get("phase") in (v.POD_SUCCEEDED, v.POD_FAILED):
            return
        ns = pod["metadata"]["namespace"]
        vm = store.get(VMS, ns, vm_name)
        if vm is None or ((vm.obj.get("status") or {}).get("phase")) not in (v.VM_RUNNING, v.VM_MIGRATING):
            return
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if not request.dry_run and annotations.get(v.VM_EVACUATION_NODE_ANNOTATION) != node:
            rt = request.service.registry.types[PODS]
            body = {**pod, "metadata": {**pod["metadata"], "annotations": {**annotations, v.VM_EVACUATION_NODE_ANNOTATION: node}}}
            request.service.update(rt, ns, pod["metadata"]["name"], body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER))
        raise webhook_denied(WEBHOOK, f'{v.EVICTION_TRIGGERED_EVACUATION} of VMI "{ns}/{vm_name}"', 429)
