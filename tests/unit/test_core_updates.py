"""kube-apiserver's update rules of built-in kinds (api/core_updates.py), as pure functions of the old and new object."""

from __future__ import annotations

import copy

import pytest

from dvp_simulator.api.admission import UPDATE, AdmissionRequest
from dvp_simulator.api.core_updates import (
    POD_UPDATE_FORBIDDEN,
    PVC_SPEC_FORBIDDEN,
    keep_allocated,
    pod_update_causes,
    pvc_update_causes,
    resource_causes,
    validate_node_update,
    validate_service_update,
    validate_storage_class_update,
)
from dvp_simulator.api.errors import APIError

POD_SPEC = {
    "nodeName": "node-a",
    "containers": [{"name": "c", "image": "busybox:1", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}],
    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
    "terminationGracePeriodSeconds": 30,
}


def messages(causes):
    return [f"{c['field']}: {c['message']}" for c in causes]


def changed(**edits):
    spec = copy.deepcopy(POD_SPEC)
    spec.update(edits)
    return spec


def test_a_pod_may_change_its_images_deadline_and_add_tolerations():
    spec = copy.deepcopy(POD_SPEC)
    spec["containers"][0]["image"] = "busybox:2"
    spec["activeDeadlineSeconds"] = 600
    spec["tolerations"] = [{**POD_SPEC["tolerations"][0], "tolerationSeconds": 60}, {"key": "new", "operator": "Exists"}]
    assert pod_update_causes(spec, POD_SPEC) == []
    # semantic equality: an empty list is no list, quantities compare by value
    same = copy.deepcopy(POD_SPEC)
    same["containers"][0]["resources"]["limits"]["cpu"] = "1000m"
    assert pod_update_causes({**same, "volumes": []}, POD_SPEC) == []


def test_a_pod_may_not_move_nor_change_its_containers():
    causes = pod_update_causes(changed(nodeName="node-b"), POD_SPEC)
    assert len(causes) == 1 and causes[0]["field"] == "spec" and causes[0]["reason"] == "FieldValueForbidden"
    text = causes[0]["message"]
    assert text.startswith(f"Forbidden: {POD_UPDATE_FORBIDDEN}\n  core.PodSpec{{")
    assert '- \tNodeName: "node-a",' in text and '+ \tNodeName: "node-b",' in text
    assert POD_UPDATE_FORBIDDEN.startswith("pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,")
    added = changed(containers=POD_SPEC["containers"] + [{"name": "d", "image": "x"}])
    assert messages(pod_update_causes(added, POD_SPEC)) == ["spec.containers: Forbidden: pod updates may not add or remove containers"]
    env = copy.deepcopy(POD_SPEC)
    env["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    assert pod_update_causes(env, POD_SPEC)[0]["message"].startswith("Forbidden: pod updates may not change fields other than")


def test_a_pod_keeps_its_tolerations_and_deadline_rules():
    assert messages(pod_update_causes(changed(tolerations=[]), POD_SPEC)) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    ]
    with_deadline = changed(activeDeadlineSeconds=100)
    assert messages(pod_update_causes(changed(activeDeadlineSeconds=200), with_deadline)) == [
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"
    ]
    assert messages(pod_update_causes(POD_SPEC, with_deadline)) == [
        "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"
    ]
    assert pod_update_causes(changed(terminationGracePeriodSeconds=1), changed(terminationGracePeriodSeconds=-1)) == []


def test_requests_above_limits_are_refused():
    spec = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}
    assert messages(resource_causes(spec)) == ['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1']
    hugepages = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"hugepages-2Mi": "2Mi"}, "limits": {"hugepages-2Mi": "4Mi"}}}]}
    assert messages(resource_causes(hugepages)) == ['spec.containers[0].resources.requests: Invalid value: "2Mi": must be equal to hugepages-2Mi limit of 4Mi']


def claim(storage="1Gi", phase="Bound", capacity="1Gi", **spec):
    body = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}, "storageClassName": "fast", "volumeName": "pv1", **spec},
        "status": {"phase": phase, "capacity": {"storage": capacity}},
    }
    return body


def test_a_bound_claim_grows_but_keeps_the_rest_of_its_spec():
    assert pvc_update_causes(claim("2Gi"), claim()) == []
    causes = messages(pvc_update_causes(claim(storageClassName="slow"), claim()))
    assert len(causes) == 1 and causes[0].startswith(f"spec: Forbidden: {PVC_SPEC_FORBIDDEN}\n  core.PersistentVolumeClaimSpec{{")
    assert messages(pvc_update_causes(claim("500Mi"), claim())) == ["spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"]
    # lowering a failed expansion back above the capacity is allowed
    assert pvc_update_causes(claim("5Gi"), claim("10Gi")) == []
    pending = claim(phase="Pending", capacity="0")
    assert messages(pvc_update_causes(claim("2Gi", phase="Pending", capacity="0"), pending))[0].startswith(f"spec: Forbidden: {PVC_SPEC_FORBIDDEN}")


def test_the_binder_sets_volume_name_and_default_class_once():
    unbound = claim(phase="Pending", capacity="0")
    del unbound["spec"]["volumeName"], unbound["spec"]["storageClassName"]
    bound = claim()
    assert pvc_update_causes(bound, unbound) == []
    assert pvc_update_causes(claim(volumeName="pv2"), claim())[0]["field"] == "spec"
    no_class = copy.deepcopy(unbound)
    no_class["spec"]["storageClassName"] = ""
    assert pvc_update_causes({**unbound, "spec": {**unbound["spec"], "storageClassName": "fast"}}, no_class)[0]["field"] == "spec"


def request(obj, old):
    return AdmissionRequest(UPDATE, None, obj, old, None, False, None, "v1")


def refused(hook, obj, old) -> list[str]:
    with pytest.raises(APIError) as err:
        hook(request(obj, old))
    assert err.value.code == 422
    return messages(err.value.details["causes"])


def test_a_storage_class_keeps_its_provisioner_parameters_and_policies():
    old = {"metadata": {"name": "fast"}, "provisioner": "a", "parameters": {"x": "1"}, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
    validate_storage_class_update(request({**old, "allowVolumeExpansion": True}, old))
    new = {**old, "provisioner": "b", "parameters": {}, "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"}
    assert refused(validate_storage_class_update, new, old) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        "provisioner: Forbidden: updates to provisioner are forbidden.",
        "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable',
    ]


def service(**spec):
    return {"metadata": {"name": "s1"}, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], **spec}}


def test_a_service_keeps_its_cluster_ip():
    old = service(ports=[{"port": 80, "nodePort": 30001, "name": "http"}], type="NodePort")
    left_out = {"metadata": {"name": "s1"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "name": "http"}]}}
    keep_allocated(request(left_out, old))
    assert left_out["spec"]["clusterIP"] == "10.0.0.5" and left_out["spec"]["clusterIPs"] == ["10.0.0.5"]
    assert left_out["spec"]["ports"][0]["nodePort"] == 30001
    validate_service_update(request(left_out, old))
    moved = service(clusterIP="10.0.0.99")
    keep_allocated(request(moved, service()))
    assert moved["spec"]["clusterIPs"] == ["10.0.0.99"]
    assert refused(validate_service_update, moved, service()) == ['spec.clusterIPs[0]: Invalid value: []string{"10.0.0.99"}: may not change once set']


def test_a_node_keeps_its_pod_cidr_and_provider():
    old = {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.1.0.0/24", "podCIDRs": ["10.1.0.0/24"], "providerID": "x://n"}}
    validate_node_update(request(copy.deepcopy(old), old))
    validate_node_update(request({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.1.0.0/24"}}, {"metadata": {"name": "n"}, "spec": {}}))
    moved = {"metadata": {"name": "n"}, "spec": {**old["spec"], "podCIDR": "10.9.0.0/24", "providerID": "y://n"}}
    assert refused(validate_node_update, moved, old) == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
        'spec.providerID: Forbidden: node updates may not change providerID except from "" to valid',
    ]
