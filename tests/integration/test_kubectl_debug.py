"""`kubectl debug` against the simulator: an ephemeral container added to a running pod through the
pods/ephemeralcontainers subresource (strategic merge patch), started by the pod's kubelet, shown by `kubectl describe`,
and refused in kube-apiserver's words when ValidatePodEphemeralContainersUpdate refuses it. Also node debugging."""

from __future__ import annotations

import json

import pytest
import requests

from .polling import eventually
from .test_kubectl_workloads import fresh_namespace, kget


@pytest.fixture
def namespace(cluster):
    with fresh_namespace(cluster, "dbg-") as name:
        yield name


@pytest.fixture
def web(cluster, namespace):
    """A running pod with one container, `web` (kubectl run names it after the pod)."""
    cluster.kubectl("run", "web", "--image=nginx", "-n", namespace)
    eventually(lambda: kget(cluster, "pod", "web", "-n", namespace), lambda p: p["status"].get("phase") == "Running")
    return "web"


def subresource(cluster, namespace: str, pod: str, method: str, body=None, content_type: str = "application/strategic-merge-patch+json") -> requests.Response:
    url = f"{cluster.server}/api/v1/namespaces/{namespace}/pods/{pod}/ephemeralcontainers"
    headers = {"Authorization": f"Bearer {cluster.token}", "Content-Type": content_type}
    return requests.request(method, url, data=None if body is None else json.dumps(body), headers=headers, verify=str(cluster.ca_file), timeout=30)


def test_kubectl_debug_adds_a_running_ephemeral_container(cluster, namespace, web):
    before = kget(cluster, "pod", web, "-n", namespace)
    made = cluster.kubectl("debug", web, "-n", namespace, "--image=busybox", "--container=dbg", "--target=web", "--attach=false", "--profile=general")
    assert made.returncode == 0, made.stderr
    pod = eventually(lambda: kget(cluster, "pod", web, "-n", namespace), lambda p: p["status"].get("ephemeralContainerStatuses"))
    [container] = pod["spec"]["ephemeralContainers"]
    assert (container["name"], container["image"], container["targetContainerName"]) == ("dbg", "busybox", "web")
    assert (container["imagePullPolicy"], container["terminationMessagePath"]) == ("Always", "/dev/termination-log")  # a container's defaults
    [status] = pod["status"]["ephemeralContainerStatuses"]
    assert status["name"] == "dbg" and "running" in status["state"] and status["ready"] is False, status
    assert pod["spec"]["containers"] == before["spec"]["containers"] and pod["metadata"]["generation"] == before["metadata"]["generation"] + 1
    described = cluster.kubectl("describe", "pod", web, "-n", namespace).stdout
    assert "Ephemeral Containers:" in described and "dbg:" in described, described

    cluster.kubectl("debug", web, "-n", namespace, "--image=busybox", "--container=dbg2", "--attach=false", "--profile=general")
    pod = eventually(lambda: kget(cluster, "pod", web, "-n", namespace), lambda p: len(p["status"].get("ephemeralContainerStatuses") or []) == 2)
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["dbg", "dbg2"]

    got = subresource(cluster, namespace, web, "GET")
    assert got.status_code == 200 and got.json()["kind"] == "Pod" and len(got.json()["spec"]["ephemeralContainers"]) == 2
    resources = json.loads(cluster.kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    [served] = [r for r in resources if r["name"] == "pods/ephemeralcontainers"]
    assert served["kind"] == "Pod" and sorted(served["verbs"]) == ["get", "patch", "update"]


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        ([], 'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed'),
        ([{"name": "dbg", "image": "other"}], 'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be changed'),
        ([None, {"name": "web", "image": "busybox"}], 'spec.ephemeralContainers[1].name: Duplicate value: "web"'),
        (
            [None, {"name": "p", "image": "busybox", "ports": [{"containerPort": 80}]}],
            "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container",
        ),
        ([None, {"name": "p", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}}], "spec.ephemeralContainers[1].readinessProbe: Forbidden"),
        ([None, {"name": "p", "image": "busybox", "targetContainerName": "nope"}], 'spec.ephemeralContainers[1].targetContainerName: Not found: "nope"'),
        ([None, {"name": "p"}], "spec.ephemeralContainers[1].image: Required value"),
    ],
)
def test_ephemeral_container_updates_kube_apiserver_refuses(cluster, namespace, web, containers, message):
    cluster.kubectl("debug", web, "-n", namespace, "--image=busybox", "--container=dbg", "--attach=false", "--profile=general")
    stored = eventually(lambda: kget(cluster, "pod", web, "-n", namespace), lambda p: p["spec"].get("ephemeralContainers"))
    existing = stored["spec"]["ephemeralContainers"][0]
    wanted = [existing if c is None else c for c in containers]
    if containers and containers[0] is not None and containers[0]["name"] == "dbg":
        wanted = [{**existing, **containers[0]}]
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": web, "resourceVersion": stored["metadata"]["resourceVersion"]},
        "spec": {**stored["spec"], "ephemeralContainers": wanted},
    }
    refused = subresource(cluster, namespace, web, "PUT", body, "application/json")
    assert refused.status_code == 422 and refused.json()["reason"] == "Invalid", refused.text
    assert message in refused.json()["message"], refused.json()["message"]
    assert kget(cluster, "pod", web, "-n", namespace)["spec"]["ephemeralContainers"] == [existing]


def test_ephemeral_containers_come_only_through_their_subresource(cluster, namespace, web):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "born"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "ephemeralContainers": [{"name": "e", "image": "i"}]},
    }
    refused = cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(pod), check=False)
    assert refused.returncode != 0 and "spec.ephemeralContainers: Forbidden: cannot be set on create" in refused.stderr, refused.stderr
    patch = json.dumps({"spec": {"ephemeralContainers": [{"name": "e", "image": "i"}]}})
    refused = cluster.kubectl("patch", "pod", web, "-n", namespace, "-p", patch, check=False)  # the pod itself: its spec is fixed
    assert refused.returncode != 0 and "Forbidden: pod updates may not change fields other than" in refused.stderr, refused.stderr
    # the subresource changes nothing but the ephemeral containers, whatever else the body says
    stored = kget(cluster, "pod", web, "-n", namespace)
    sent = {
        "metadata": {"labels": {"sneaky": "yes"}},
        "spec": {"containers": [{"name": "c", "image": "evil"}], "ephemeralContainers": [{"name": "e", "image": "i"}]},
    }
    patched = subresource(cluster, namespace, web, "PATCH", sent)
    assert patched.status_code == 200, patched.text
    after = kget(cluster, "pod", web, "-n", namespace)
    assert after["spec"]["containers"] == stored["spec"]["containers"] and "sneaky" not in (after["metadata"].get("labels") or {})
    assert [c["name"] for c in after["spec"]["ephemeralContainers"]] == ["e"]


def test_kubectl_debug_node_runs_a_pod_on_that_node(cluster, namespace):
    node = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]["metadata"]["name"]
    made = cluster.kubectl("debug", f"node/{node}", "-n", namespace, "--image=busybox", "--profile=general")
    assert f"on node {node}" in made.stdout, made.stdout
    [pod] = eventually(lambda: kget(cluster, "pods", "-n", namespace)["items"], lambda items: items and items[0]["status"].get("phase") == "Running")
    assert pod["spec"]["nodeName"] == node and pod["spec"]["hostPID"] is True and pod["metadata"]["name"].startswith(f"node-debugger-{node}-")
