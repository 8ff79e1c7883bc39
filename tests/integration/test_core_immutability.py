"""What kube-apiserver refuses on an update of a built-in kind, through the kubectl an admin types (api/core_updates.py):
a pod's spec beyond its images, deadline and tolerations, requests above limits, a Service's clusterIP, a bound
claim's class or a shrink of its request, a StorageClass's provisioner, parameters and policies, a Node's podCIDR."""

from __future__ import annotations

import json

from .test_kubectl_builtin import _phase, claim, eventually, kget

FORBIDDEN_POD = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def refused(sim, *args: str, **kwargs) -> str:
    result = sim.kubectl(*args, check=False, **kwargs)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_a_pod_changes_only_its_images_deadline_and_tolerations(sim, namespace):
    overrides = {"spec": {"nodeName": "node-a", "tolerations": [{"key": "a", "operator": "Exists"}]}}
    sim.kubectl("run", "p1", "-n", namespace, "--image=busybox:1", f"--overrides={json.dumps(overrides)}")

    error = refused(sim, "patch", "pod", "p1", "-n", namespace, "-p", '{"spec":{"nodeName":"node-b"}}')
    assert f'The Pod "p1" is invalid: {FORBIDDEN_POD}' in error
    assert '- \tNodeName: "node-a",' in error and '+ \tNodeName: "node-b",' in error
    add = [{"op": "add", "path": "/spec/containers/-", "value": {"name": "x", "image": "y"}}]
    error = refused(sim, "patch", "pod", "p1", "-n", namespace, "--type=json", "-p", json.dumps(add))
    assert 'The Pod "p1" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers' in error
    error = refused(sim, "set", "env", "pod/p1", "-n", namespace, "A=1", "--dry-run=server")
    assert FORBIDDEN_POD in error
    error = refused(sim, "patch", "pod", "p1", "-n", namespace, "-p", '{"spec":{"tolerations":[]}}')
    assert "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds" in error

    sim.kubectl("set", "image", "pod/p1", "-n", namespace, "p1=busybox:2")
    # a list patched whole, as upstream: the existing tolerations (the DefaultTolerationSeconds ones too) and one more
    tolerations = [*kget(sim, "pod", "p1", "-n", namespace)["spec"]["tolerations"], {"key": "b", "operator": "Exists"}]
    sim.kubectl("patch", "pod", "p1", "-n", namespace, "-p", json.dumps({"spec": {"activeDeadlineSeconds": 600, "tolerations": tolerations}}))
    pod = kget(sim, "pod", "p1", "-n", namespace)
    assert pod["spec"]["containers"][0]["image"] == "busybox:2" and pod["spec"]["activeDeadlineSeconds"] == 600
    keys = [t["key"] for t in pod["spec"]["tolerations"]]
    assert keys == ["a", "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "b"] and pod["spec"]["nodeName"] == "node-a"
    error = refused(sim, "patch", "pod", "p1", "-n", namespace, "-p", '{"spec":{"activeDeadlineSeconds":700}}')
    assert "spec.activeDeadlineSeconds: Invalid value: 700: must be less than or equal to previous value" in error
    # labels and annotations stay free
    sim.kubectl("label", "pod", "p1", "-n", namespace, "tier=web")


def test_requests_above_limits_are_refused_on_create(sim, namespace):
    resources = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    overrides = {"spec": {"containers": [{"name": "badpod", "image": "busybox", "resources": resources}]}}
    error = refused(sim, "run", "badpod", "-n", namespace, "--image=busybox", f"--overrides={json.dumps(overrides)}")
    assert 'The Pod "badpod" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1' in error
    assert "badpod" not in sim.kubectl("get", "pods", "-n", namespace).stdout


def test_a_service_keeps_its_cluster_ip(sim, namespace):
    sim.kubectl("create", "service", "clusterip", "s1", "-n", namespace, "--tcp=80:8080")
    ip = kget(sim, "svc", "s1", "-n", namespace)["spec"]["clusterIP"]
    error = refused(sim, "patch", "svc", "s1", "-n", namespace, "-p", '{"spec":{"clusterIP":"10.222.0.99"}}')
    assert 'The Service "s1" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.222.0.99"}: may not change once set' in error
    error = refused(sim, "patch", "svc", "s1", "-n", namespace, "-p", '{"spec":{"clusterIPs":["10.222.0.98"]}}')
    assert 'spec.clusterIPs[0]: Invalid value: []string{"10.222.0.98"}: may not change once set' in error
    # a replace that leaves the address out keeps it, as kube-apiserver's patchAllocatedValues does
    body = kget(sim, "svc", "s1", "-n", namespace)
    del body["spec"]["clusterIP"], body["spec"]["clusterIPs"]
    body["metadata"]["labels"] = {"replaced": "yes"}
    sim.kubectl("replace", "-f", "-", input=json.dumps(body))
    spec = kget(sim, "svc", "s1", "-n", namespace)["spec"]
    assert spec["clusterIP"] == ip and spec["clusterIPs"] == [ip]


STORAGE = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: %(name)s}
provisioner: sim.dvp/hostpath
parameters: {tier: gold}
allowVolumeExpansion: true
"""


def test_a_bound_claim_and_its_class_keep_what_binding_depends_on(sim, namespace):
    sc = f"{namespace}-sc"
    sim.kubectl("apply", "-f", "-", input=STORAGE % {"name": sc})
    claim(sim, namespace, "data", sc, "1Gi")
    eventually(lambda: _phase(kget(sim, "pvc", "data", "-n", namespace), "Bound"))

    error = refused(sim, "patch", "pvc", "data", "-n", namespace, "-p", '{"spec":{"storageClassName":"other"}}')
    assert (
        'The PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and '
        "volumeAttributesClassName for bound claims"
    ) in error
    error = refused(sim, "patch", "pvc", "data", "-n", namespace, "-p", '{"spec":{"resources":{"requests":{"storage":"500Mi"}}}}')
    assert 'The PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity' in error
    sim.kubectl("patch", "pvc", "data", "-n", namespace, "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    eventually(lambda: _capacity(kget(sim, "pvc", "data", "-n", namespace), "2Gi"))

    error = refused(sim, "patch", "sc", sc, "-p", '{"provisioner":"x","reclaimPolicy":"Retain","parameters":{"tier":"silver"}}')
    assert f'The StorageClass "{sc}" is invalid: ' in error
    for message in (
        "parameters: Forbidden: updates to parameters are forbidden.",
        "provisioner: Forbidden: updates to provisioner are forbidden.",
        "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
    ):
        assert message in error
    error = refused(sim, "patch", "sc", sc, "-p", '{"volumeBindingMode":"WaitForFirstConsumer"}')
    assert 'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable' in error
    sim.kubectl("patch", "sc", sc, "-p", '{"allowVolumeExpansion":false}')
    sim.kubectl("delete", "pvc", "data", "-n", namespace)
    sim.kubectl("delete", "sc", sc)


def _capacity(obj: dict, size: str) -> dict:
    assert obj["status"]["capacity"]["storage"] == size, obj["status"]
    return obj


def test_a_node_keeps_its_pod_cidr(sim, namespace):
    name = f"{namespace}-node"
    sim.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}))
    try:
        sim.kubectl("patch", "node", name, "-p", '{"spec":{"podCIDR":"10.1.0.0/24","podCIDRs":["10.1.0.0/24"]}}')  # from unset: allowed
        error = refused(sim, "patch", "node", name, "-p", '{"spec":{"podCIDR":"10.1.1.0/24"}}')
        assert f'The Node "{name}" is invalid: spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid' in error
        sim.kubectl("label", "node", name, "rack=r1")
    finally:
        sim.kubectl("delete", "node", name)
