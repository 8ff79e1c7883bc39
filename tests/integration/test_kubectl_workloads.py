"""Deployments, ReplicaSets and Ingresses through the commands an admin types with the real kubectl (protobuf bodies included):
create, rollout status / restart / undo / history / pause / resume, scale (the scale subresource), set image, the
Recreate strategy, cascading and orphaning deletes, dry runs, and kube-apiserver's validation of their specs and of a
pod's spec, refused with its words and nothing stored. The kubernetes Python client reads and writes the scale
subresource too."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from .polling import eventually


@pytest.fixture
def sim(cluster):
    """The admin guide's nodes: pods need nodes to run on (the bare simulator has none)."""
    return cluster


@pytest.fixture
def api(cluster):
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@contextmanager
def fresh_namespace(cluster, prefix: str) -> Iterator[str]:
    """A namespace of its own for one test, deleted after it without waiting."""
    name = prefix + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def namespace(cluster):
    with fresh_namespace(cluster, "w-") as name:
        yield name


def kget(sim, *args: str) -> dict:
    return json.loads(sim.kubectl("get", *args, "-o", "json").stdout)


def rollout(sim, namespace: str, name: str) -> None:
    done = sim.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=30s")
    assert "successfully rolled out" in done.stdout, done.stdout


def replicasets(sim, namespace: str) -> dict[str, dict]:
    return {rs["metadata"]["name"]: rs for rs in kget(sim, "rs", "-n", namespace)["items"]}


def running_pods(sim, namespace: str, selector: str) -> list[dict]:
    pods = kget(sim, "pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def events(sim, namespace: str, name: str) -> list[str]:
    """The messages of the Events about `name`, in the order they were written."""
    items = kget(sim, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["message"] for e in sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))]


def test_create_deployment_rolls_out_through_a_replicaset_and_scales(sim, namespace):
    created = sim.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "-n", namespace, "-v=8")
    assert "application/vnd.kubernetes.protobuf" in created.stderr  # kubectl's body, decoded by the simulator
    rollout(sim, namespace, "web")

    deployment = kget(sim, "deployment", "web", "-n", namespace)
    spec = deployment["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["spec"]["restartPolicy"] == "Always" and "enableServiceLinks" not in spec["template"]["spec"]
    status = deployment["status"]
    assert {k: status[k] for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")} == dict.fromkeys(
        ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"), 3
    )
    assert {c["type"]: c["reason"] for c in status["conditions"]} == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

    [(rs_name, rs)] = replicasets(sim, namespace).items()
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs_name == f"web-{digest}" and rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment" and rs["metadata"]["ownerReferences"][0]["controller"] is True
    pods = running_pods(sim, namespace, "app=web")
    assert len(pods) == 3 and all(p["metadata"]["ownerReferences"][0]["name"] == rs_name and p["spec"].get("nodeName") for p in pods)

    sim.kubectl("scale", "deployment/web", "--replicas=5", "-n", namespace)
    rollout(sim, namespace, "web")
    assert len(running_pods(sim, namespace, "app=web")) == 5
    scale = kget(sim, "deployment", "web", "-n", namespace, "--subresource=scale")
    assert (scale["kind"], scale["apiVersion"], scale["spec"], scale["status"]) == (
        "Scale",
        "autoscaling/v1",
        {"replicas": 5},
        {"replicas": 5, "selector": "app=web"},
    )
    table = sim.kubectl("get", "deployment", "web", "-n", namespace, "--subresource=scale").stdout.split("\n")
    assert table[0].split() == ["NAME", "DESIRED", "AVAILABLE", "AGE"] and table[1].split()[:3] == ["web", "5", "5"]

    sim.kubectl("scale", "rs", rs_name, "--replicas=1", "-n", namespace)  # the Deployment owns the count: back to 5
    eventually(lambda: replicasets(sim, namespace)[rs_name]["spec"]["replicas"] == 5, bool)
    sim.kubectl("scale", "deployment/web", "--replicas=1", "-n", namespace)
    eventually(lambda: len(running_pods(sim, namespace, "app=web")) == 1, bool)
    messages = events(sim, namespace, "web")
    assert messages == [f"Scaled up replica set {rs_name} from {a} to {b}" for a, b in ((0, 3), (3, 5), (1, 5))] + [
        f"Scaled down replica set {rs_name} from 5 to 1"
    ]
    assert any(m.startswith("Created pod: web-") for m in events(sim, namespace, rs_name))


def test_rollout_set_image_restart_history_and_undo(sim, namespace):
    sim.kubectl("create", "deployment", "app", "--image=nginx:1.26", "--replicas=4", "-n", namespace)
    rollout(sim, namespace, "app")
    sim.kubectl("set", "image", "deployment/app", "nginx=nginx:1.27", "-n", namespace)
    rollout(sim, namespace, "app")
    sim.kubectl("rollout", "restart", "deployment/app", "-n", namespace)
    rollout(sim, namespace, "app")

    sets = replicasets(sim, namespace)
    by_revision = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets.values()}
    assert sorted(by_revision) == ["1", "2", "3"]
    assert by_revision["3"]["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert [by_revision[r]["spec"]["replicas"] for r in ("1", "2", "3")] == [0, 0, 4]
    images = {p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, "app=app")}
    assert images == {"nginx:1.27"} and len(running_pods(sim, namespace, "app=app")) == 4
    history = sim.kubectl("rollout", "history", "deployment/app", "-n", namespace).stdout
    assert [line.split()[0] for line in history.strip().split("\n")[2:]] == ["1", "2", "3"]

    sim.kubectl("rollout", "undo", "deployment/app", "--to-revision=1", "-n", namespace)
    rollout(sim, namespace, "app")
    deployment = kget(sim, "deployment", "app", "-n", namespace)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    first = replicasets(sim, namespace)[by_revision["1"]["metadata"]["name"]]
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4" and first["spec"]["replicas"] == 4
    assert {p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, "app=app")} == {"nginx:1.26"}


def test_recreate_takes_the_old_pods_down_before_the_new_ones_come_up(sim, namespace):
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "pg", "image": "postgres:16", "ports": [{"containerPort": 5432}]}]},
            },
        },
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    rollout(sim, namespace, "db")
    unchanged = sim.kubectl("apply", "-f", "-", input=json.dumps(manifest))  # the ports merge by containerPort
    assert "unchanged" in unchanged.stdout, unchanged.stdout
    old = next(iter(replicasets(sim, namespace)))
    sim.kubectl("set", "env", "deployment/db", "MODE=replica", "-n", namespace)
    rollout(sim, namespace, "db")
    [new] = [name for name in replicasets(sim, namespace) if name != old]
    assert events(sim, namespace, "db") == [
        f"Scaled up replica set {old} from 0 to 2",
        f"Scaled down replica set {old} from 2 to 0",
        f"Scaled up replica set {new} from 0 to 2",
    ]


def test_paused_deployment_rolls_nothing_out_until_resumed(sim, namespace):
    sim.kubectl("create", "deployment", "p", "--image=busybox:1", "-n", namespace)
    rollout(sim, namespace, "p")
    sim.kubectl("rollout", "pause", "deployment/p", "-n", namespace)
    sim.kubectl("set", "image", "deployment/p", "busybox=busybox:2", "-n", namespace)
    eventually(lambda: _condition(sim, namespace, "p", "Progressing")["reason"] == "DeploymentPaused", bool)
    assert len(replicasets(sim, namespace)) == 1
    sim.kubectl("scale", "deployment/p", "--replicas=2", "-n", namespace)  # a paused Deployment still scales
    eventually(lambda: len(running_pods(sim, namespace, "app=p")), lambda n: n == 2)
    assert {p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, "app=p")} == {"busybox:1"}
    sim.kubectl("rollout", "resume", "deployment/p", "-n", namespace)
    rollout(sim, namespace, "p")
    assert len(replicasets(sim, namespace)) == 2
    assert {p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, "app=p")} == {"busybox:2"}


def _condition(sim, namespace: str, name: str, kind: str) -> dict:
    conditions = kget(sim, "deployment", name, "-n", namespace)["status"].get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def test_delete_cascades_or_orphans(sim, namespace):
    for name in ("gone", "kept"):
        sim.kubectl("create", "deployment", name, "--image=nginx", "--replicas=2", "-n", namespace)
        rollout(sim, namespace, name)
    sim.kubectl("delete", "deployment", "gone", "-n", namespace)
    eventually(lambda: not kget(sim, "pods", "-n", namespace, "-l", "app=gone")["items"], bool)
    assert not [rs for rs in replicasets(sim, namespace) if rs.startswith("gone-")]

    sim.kubectl("delete", "deployment", "kept", "--cascade=orphan", "-n", namespace)
    eventually(lambda: not kget(sim, "deployments", "-n", namespace)["items"], bool)
    [rs] = [rs for name, rs in replicasets(sim, namespace).items() if name.startswith("kept-")]
    assert not rs["metadata"].get("ownerReferences") and rs["spec"]["replicas"] == 2
    assert len(running_pods(sim, namespace, "app=kept")) == 2


def test_dry_runs_store_nothing(sim, namespace):
    dry = sim.kubectl("create", "deployment", "dry", "--image=nginx", "--dry-run=server", "-n", namespace, "-o", "json")
    assert json.loads(dry.stdout)["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted, as a real create
    assert sim.kubectl("get", "deployment", "dry", "-n", namespace, check=False).returncode != 0
    sim.kubectl("create", "deployment", "wet", "--image=nginx", "-n", namespace)
    rollout(sim, namespace, "wet")
    sim.kubectl("scale", "deployment/wet", "--replicas=4", "--dry-run=server", "-n", namespace)
    time.sleep(0.5)
    assert kget(sim, "deployment", "wet", "-n", namespace)["spec"]["replicas"] == 1 and len(running_pods(sim, namespace, "app=wet")) == 1


INVALID = [
    (
        {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`',
    ),
    (
        {"selector": {}, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "empty selector is invalid for deployment",
    ),
    (
        {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}},
        },
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ),
    (
        {
            "selector": {"matchLabels": {"app": "a"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
    ),
    (
        {
            "selector": {"matchLabels": {"app": "a"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "1x"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        """spec.strategy.rollingUpdate.maxSurge: Invalid value: "1x": a valid percent string must be a numeric string followed by an ending '%'""",
    ),
    (
        {
            "replicas": -1,
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}}},
        "spec.template.spec.containers[0].image: Required value",
    ),
    (
        {
            "selector": {"matchLabels": {"app": "a"}},
            "strategy": {"type": "Recreate", "rollingUpdate": {}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ),
]


@pytest.mark.parametrize(("spec", "message"), INVALID)
def test_invalid_deployments_are_refused_as_kube_apiserver_words_it(sim, namespace, spec, message):
    refused_create(sim, namespace, "apps/v1", "Deployment", spec, message)
    assert not kget(sim, "rs", "-n", namespace)["items"]


def test_selector_is_immutable_and_scale_refuses_negative(sim, api, namespace):
    sim.kubectl("create", "deployment", "s", "--image=nginx", "-n", namespace)
    patch = json.dumps({"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}})
    refused = sim.kubectl("patch", "deployment", "s", "-n", namespace, "-p", patch, check=False)
    assert refused.returncode != 0 and "spec.selector: Invalid value:" in refused.stderr and "field is immutable" in refused.stderr, refused.stderr

    apps = client.AppsV1Api(api)
    scale = apps.read_namespaced_deployment_scale("s", namespace)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=s"
    with pytest.raises(ApiException) as negative:
        apps.patch_namespaced_deployment_scale("s", namespace, {"spec": {"replicas": -2}})
    assert negative.value.status == 422 and "spec.replicas: Invalid value: -2: must be greater than or equal to 0" in negative.value.body
    stale = client.V1Scale(metadata=client.V1ObjectMeta(name="s", resource_version="1"), spec=client.V1ScaleSpec(replicas=3))
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_scale("s", namespace, stale)
    assert conflict.value.status == 409
    done = apps.replace_namespaced_deployment_scale("s", namespace, client.V1Scale(metadata=client.V1ObjectMeta(name="s"), spec=client.V1ScaleSpec(replicas=3)))
    assert done.spec.replicas == 3 and apps.read_namespaced_deployment("s", namespace).spec.replicas == 3
    entry = [m for m in apps.read_namespaced_deployment("s", namespace).metadata.managed_fields if m.subresource == "scale"]
    assert entry and entry[0].fields_v1 == {"f:spec": {"f:replicas": {}}}
    [rs] = eventually(lambda: [r for r in apps.list_namespaced_replica_set(namespace).items if r.spec.replicas == 3], lambda found: len(found) == 1)
    assert apps.read_namespaced_replica_set_scale(rs.metadata.name, namespace).spec.replicas == 3


POD_SPECS = [
    ({"containers": []}, "spec.containers: Required value"),
    ({"containers": [{"name": "a"}]}, "spec.containers[0].image: Required value"),
    ({"containers": [{"name": "Bad_Name", "image": "i"}]}, 'spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label'),
    ({"containers": [{"name": "a", "image": "i"}, {"name": "a", "image": "j"}]}, 'spec.containers[1].name: Duplicate value: "a"'),
    (
        {"containers": [{"name": "a", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]},
        'spec.containers[0].volumeMounts[0].name: Not found: "v"',
    ),
    (
        {"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 70000}]}]},
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ),
    ({"containers": [{"name": "a", "image": "i"}], "volumes": [{"name": "v"}]}, "spec.volumes[0]: Required value: must specify a volume type"),
    (
        {"containers": [{"name": "a", "image": "i"}], "restartPolicy": "Sometimes"},
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ),
]


@pytest.mark.parametrize(("spec", "message"), POD_SPECS)
def test_pod_spec_rules_refuse_a_pod_as_kube_apiserver_words_them(sim, namespace, spec, message):
    refused_create(sim, namespace, "v1", "Pod", spec, message)


def test_create_ingress_stores_and_prints_it(sim, namespace):
    created = sim.kubectl(
        "create", "ingress", "web", "--class=nginx", "--rule=foo.com/bar=svc1:80", "--rule=*.bar.com/*=svc2:http,tls=cert", "-n", namespace, "-v=8"
    )
    assert "application/vnd.kubernetes.protobuf" in created.stderr
    ingress = kget(sim, "ingress", "web", "-n", namespace)
    rules = ingress["spec"]["rules"]
    assert (rules[0]["host"], rules[0]["http"]["paths"][0]) == (
        "foo.com",
        {"path": "/bar", "pathType": "Exact", "backend": {"service": {"name": "svc1", "port": {"number": 80}}}},
    )
    assert rules[1]["http"]["paths"][0]["pathType"] == "Prefix" and ingress["spec"]["tls"] == [{"hosts": ["*.bar.com"], "secretName": "cert"}]
    table = sim.kubectl("get", "ingress", "-n", namespace).stdout.split("\n")
    assert table[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert table[1].split()[:5] == ["web", "nginx", "foo.com,*.bar.com", "80,", "443"]
    assert "cert terminates *.bar.com" in sim.kubectl("describe", "ingress", "web", "-n", namespace).stdout
    sim.kubectl("delete", "ingress", "web", "-n", namespace)
    assert not kget(sim, "ingress", "-n", namespace)["items"]


def _ingress_rule(path: dict) -> dict:
    return {"rules": [{"host": "a.example.com", "http": {"paths": [path]}}]}


INGRESSES = [
    ({}, "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"),
    ({"rules": [{"host": "10.0.0.1", "http": {"paths": []}}]}, 'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address'),
    ({"rules": [{"host": "a.example.com", "http": {"paths": []}}]}, "spec.rules[0].http.paths: Required value"),
    (
        _ingress_rule({"path": "/", "backend": {"service": {"name": "s", "port": {"number": 80}}}}),
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
    ),
    (
        _ingress_rule({"path": "x", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}),
        'spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path',
    ),
    (
        _ingress_rule({"path": "/a//b", "pathType": "Exact", "backend": {"service": {"name": "s", "port": {"number": 80}}}}),
        """spec.rules[0].http.paths[0].path: Invalid value: "/a//b": must not contain '//'""",
    ),
    (
        _ingress_rule({"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"name": "http", "number": 80}}}}),
        'spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both port name & port number',
    ),
    (
        _ingress_rule({"path": "/", "pathType": "Prefix", "backend": {}}),
        'spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required',
    ),
    ({"rules": [{"host": "*.*.example.com"}]}, 'spec.rules[0].host: Invalid value: "*.*.example.com": a wildcard DNS-1123 subdomain must start with'),
]


@pytest.mark.parametrize(("spec", "message"), INGRESSES)
def test_invalid_ingresses_are_refused_as_kube_apiserver_words_it(sim, namespace, spec, message):
    refused_create(sim, namespace, "networking.k8s.io/v1", "Ingress", spec, message)


SCALE_REQUESTS = [
    ("PUT", b"[1,2]", "application/json", 400, "the body of the request must be a Scale object"),
    ("PUT", b'{"spec": {"replicas": "3"}}', "application/json", 400, "cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32"),
    ("PUT", b'{"metadata": {"name": "other"}, "spec": {"replicas": 1}}', "application/json", 400, "does not match the name on the URL"),
    ("PUT", b'{"spec": {"replicas": -1}}', "application/json", 422, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    ("PATCH", b'{"spec": {"replicas": true}}', "application/merge-patch+json", 422, "patch: Invalid value"),
    ("PATCH", b'{"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 4}}', "application/merge-patch+json", 409, "the object has been modified"),
    ("PATCH", b'{"spec": {"replicas": 4}}', "text/plain", 415, "unknown format"),
    ("PATCH", b'{"metadata": {"resourceVersion": 5}}', "application/merge-patch+json", 422, "patch: Invalid value"),
    ("PATCH", b'{"spec": [1]}', "application/apply-patch+yaml", 400, "cannot unmarshal array into Go struct field Scale.spec"),
    ("PATCH", b'{"metadata": {"name": 5}, "spec": {"replicas": 2}}', "application/apply-patch+yaml", 400, "cannot be handled as a Scale"),
    ("DELETE", b"", "application/json", 405, "does not allow this method"),
    ("POST", b'{"spec": {"replicas": 4}}', "application/json", 405, "does not allow this method"),
]


@pytest.mark.parametrize(("method", "body", "content_type", "code", "message"), SCALE_REQUESTS)
def test_a_hostile_scale_request_gets_the_api_servers_4xx_and_changes_nothing(sim, namespace, method, body, content_type, code, message):
    sim.kubectl("create", "deployment", "h", "--image=nginx", "--replicas=2", "-n", namespace)
    before = kget(sim, "deployment", "h", "-n", namespace)["spec"]["replicas"]
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    request = urllib.request.Request(
        f"{sim.server}/apis/apps/v1/namespaces/{namespace}/deployments/h/scale" + ("?fieldManager=sweep" if "apply" in content_type else ""),
        data=body or None,
        method=method,
        headers={"Authorization": f"Bearer {sim.token}", "Content-Type": content_type, "Accept": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=context, timeout=10)
    status = json.loads(refused.value.read())
    assert (refused.value.code, status["kind"], status["code"]) == (code, "Status", code) and message in status["message"], status
    assert kget(sim, "deployment", "h", "-n", namespace)["spec"]["replicas"] == before


def test_a_deployment_made_again_adopts_the_replicaset_an_orphaning_delete_left(sim, namespace):
    sim.kubectl("create", "deployment", "again", "--image=nginx", "--replicas=2", "-n", namespace)
    rollout(sim, namespace, "again")
    [name] = replicasets(sim, namespace)
    pods = {p["metadata"]["name"] for p in running_pods(sim, namespace, "app=again")}
    sim.kubectl("delete", "deployment", "again", "--cascade=orphan", "-n", namespace)
    eventually(lambda: not replicasets(sim, namespace)[name]["metadata"].get("ownerReferences"), bool)
    sim.kubectl("create", "deployment", "again", "--image=nginx", "--replicas=2", "-n", namespace)
    rollout(sim, namespace, "again")
    [(adopted, rs)] = replicasets(sim, namespace).items()
    uid = kget(sim, "deployment", "again", "-n", namespace)["metadata"]["uid"]
    assert adopted == name and rs["metadata"]["ownerReferences"][0]["uid"] == uid
    assert {p["metadata"]["name"] for p in running_pods(sim, namespace, "app=again")} == pods  # the same pods: nothing restarted


def refused_create(sim, namespace: str, api_version: str, kind: str, spec: dict, message: str) -> None:
    """`kubectl create` of a `kind` named "bad" with `spec` fails with kube-apiserver's 422 naming `message`, and
    nothing is stored."""
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "bad", "namespace": namespace}, "spec": spec}
    refused = sim.kubectl("create", "-f", "-", input=json.dumps(manifest), check=False)
    assert refused.returncode != 0 and f'The {kind} "bad" is invalid' in refused.stderr and message in refused.stderr, refused.stderr
    assert sim.kubectl("get", kind.lower(), "bad", "-n", namespace, check=False).returncode != 0


def job_manifest(namespace: str, name: str, **spec) -> str:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace}, "spec": {"template": template, **spec}})


def test_create_job_runs_its_pod_to_completion(sim, namespace):
    created = sim.kubectl("create", "job", "once", "--image=busybox", "-n", namespace, "-v=8", "--", "echo", "hi")
    assert "application/vnd.kubernetes.protobuf" in created.stderr
    sim.kubectl("wait", "--for=condition=complete", "job/once", "-n", namespace, "--timeout=30s")
    job = kget(sim, "job", "once", "-n", namespace)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "once",
        "controller-uid": uid,
        "job-name": "once",
    }
    assert (job["spec"]["completions"], job["spec"]["parallelism"], job["spec"]["backoffLimit"]) == (1, 1, 6)
    status = job["status"]
    assert status["succeeded"] == 1 and "active" not in status and status["startTime"] <= status["completionTime"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    [pod] = kget(sim, "pods", "-n", namespace, "-l", "job-name=once")["items"]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded" and (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job" and pod["metadata"]["ownerReferences"][0]["apiVersion"] == "batch/v1"
    table = sim.kubectl("get", "job", "once", "-n", namespace).stdout.split("\n")
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"] and table[1].split()[:3] == ["once", "Complete", "1/1"]
    assert sim.kubectl("get", "pods", "-n", namespace).stdout.split("\n")[1].split()[1:3] == ["0/1", "Completed"]
    assert events(sim, namespace, "once") == [f"Created pod: {pod['metadata']['name']}", "Job completed"]


def test_a_parallel_job_runs_its_completions_parallelism_at_a_time(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=job_manifest(namespace, "batch", completions=4, parallelism=2))
    seen_active: list[int] = []

    def complete(status: dict) -> bool:
        seen_active.append(status.get("active", 0))
        return status.get("succeeded") == 4

    eventually(lambda: kget(sim, "job", "batch", "-n", namespace)["status"], complete)
    assert max(seen_active) <= 2
    assert len(kget(sim, "pods", "-n", namespace, "-l", "job-name=batch")["items"]) == 4


def test_a_suspended_job_waits_and_a_finished_one_expires(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=job_manifest(namespace, "later", suspend=True))
    eventually(lambda: any(c["type"] == "Suspended" for c in kget(sim, "job", "later", "-n", namespace)["status"].get("conditions", [])), bool)
    assert not kget(sim, "pods", "-n", namespace)["items"] and "startTime" not in kget(sim, "job", "later", "-n", namespace)["status"]
    assert sim.kubectl("get", "job", "later", "-n", namespace).stdout.split("\n")[1].split()[1] == "Suspended"
    sim.kubectl("patch", "job", "later", "-n", namespace, "-p", '{"spec": {"suspend": false}}')
    sim.kubectl("wait", "--for=condition=complete", "job/later", "-n", namespace, "--timeout=30s")
    assert events(sim, namespace, "later")[0] == "Job suspended" and "Job resumed" in events(sim, namespace, "later")

    sim.kubectl("apply", "-f", "-", input=job_manifest(namespace, "brief", ttlSecondsAfterFinished=0))
    eventually(lambda: sim.kubectl("get", "job", "brief", "-n", namespace, check=False).returncode != 0, bool, timeout=30)
    eventually(lambda: not kget(sim, "pods", "-n", namespace, "-l", "job-name=brief")["items"], bool)


def test_a_job_past_its_deadline_fails(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=job_manifest(namespace, "slow", completions=50, activeDeadlineSeconds=2))
    sim.kubectl("wait", "--for=condition=failed", "job/slow", "-n", namespace, "--timeout=30s")
    status = kget(sim, "job", "slow", "-n", namespace)["status"]
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [("FailureTarget", "DeadlineExceeded"), ("Failed", "DeadlineExceeded")]
    assert 0 < status.get("succeeded", 0) < 50 and "active" not in status and "completionTime" not in status
    assert not [p for p in kget(sim, "pods", "-n", namespace, "-l", "job-name=slow")["items"] if p["status"]["phase"] != "Succeeded"]
    assert sim.kubectl("get", "job", "slow", "-n", namespace).stdout.split("\n")[1].split()[1] == "Failed"


def test_invalid_jobs_are_refused_and_their_template_is_immutable(sim, namespace):
    always = json.loads(job_manifest(namespace, "bad"))
    del always["spec"]["template"]["spec"]["restartPolicy"]
    refused = sim.kubectl("create", "-f", "-", input=json.dumps(always), check=False)
    assert refused.returncode != 0 and 'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"' in refused.stderr
    negative = sim.kubectl("create", "-f", "-", input=job_manifest(namespace, "bad", parallelism=-1), check=False)
    assert negative.returncode != 0 and "spec.parallelism: Invalid value: -1: must be greater than or equal to 0" in negative.stderr
    assert sim.kubectl("get", "job", "bad", "-n", namespace, check=False).returncode != 0

    sim.kubectl("apply", "-f", "-", input=job_manifest(namespace, "fixed", suspend=True))
    patch = json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})
    changed = sim.kubectl("patch", "job", "fixed", "-n", namespace, "-p", patch, check=False)
    assert changed.returncode != 0 and "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable" in changed.stderr, changed.stderr


def cronjob_manifest(namespace: str, name: str, schedule: str = "*/1 * * * *", job: dict | None = None, **spec) -> str:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    body = {"schedule": schedule, "jobTemplate": {"spec": {"template": template, **(job or {})}}, **spec}
    return json.dumps({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": namespace}, "spec": body})


def jobs_of(sim, namespace: str, cronjob: str) -> list[dict]:
    items = kget(sim, "jobs", "-n", namespace)["items"]
    return [j for j in items if any(r["kind"] == "CronJob" and r["name"] == cronjob for r in j["metadata"].get("ownerReferences") or [])]


def test_a_cronjob_makes_its_jobs_on_schedule_and_keeps_its_history(sim, namespace):
    """The session's cluster runs at time scale 20: a minutely schedule fires every 3 real seconds."""
    created = sim.kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "-n", namespace, "-v=8", "--", "date")
    assert "application/vnd.kubernetes.protobuf" in created.stderr
    spec = kget(sim, "cronjob", "tick", "-n", namespace)["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    jobs = eventually(lambda: jobs_of(sim, namespace, "tick"), lambda found: len(found) >= 2 and all(j["status"].get("succeeded") for j in found))
    for job in jobs:
        scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        minutes = int(datetime.fromisoformat(scheduled.replace("Z", "+00:00")).timestamp() // 60)
        assert job["metadata"]["name"] == f"tick-{minutes}" and scheduled.endswith(":00Z")
    status = eventually(lambda: kget(sim, "cronjob", "tick", "-n", namespace)["status"], lambda s: "lastSuccessfulTime" in s)
    assert status["lastScheduleTime"] >= max(j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] for j in jobs)
    table = sim.kubectl("get", "cronjob", "tick", "-n", namespace).stdout.split("\n")
    assert table[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert table[1].split()[:4] == ["tick", "*/1", "*", "*"]

    manual = sim.kubectl("create", "job", "by-hand", "--from=cronjob/tick", "-n", namespace)
    assert manual.returncode == 0
    assert kget(sim, "job", "by-hand", "-n", namespace)["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}

    sim.kubectl("patch", "cronjob", "tick", "-n", namespace, "-p", '{"spec": {"successfulJobsHistoryLimit": 1}}')
    eventually(lambda: jobs_of(sim, namespace, "tick"), lambda found: len(found) == 1)
    assert any(m.startswith("Deleted job tick-") for m in events(sim, namespace, "tick"))


def test_concurrency_policy_forbid_skips_and_replace_replaces(sim, namespace):
    """The jobs are made suspended, so they never finish: each stays running."""
    for name, policy in (("forbid", "Forbid"), ("replace", "Replace")):
        sim.kubectl("apply", "-f", "-", input=cronjob_manifest(namespace, name, job={"suspend": True}, concurrencyPolicy=policy))
    eventually(lambda: events(sim, namespace, "forbid"), lambda seen: any(m.startswith("Not starting job") for m in seen))
    assert len(jobs_of(sim, namespace, "forbid")) == 1
    eventually(lambda: events(sim, namespace, "replace"), lambda seen: any(m.startswith("Deleted job replace-") for m in seen))
    [running] = eventually(lambda: jobs_of(sim, namespace, "replace"), lambda found: len(found) == 1)
    status = kget(sim, "cronjob", "replace", "-n", namespace)["status"]
    assert [a["name"] for a in status["active"]] == [running["metadata"]["name"]]


def test_a_suspended_cronjob_makes_nothing(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=cronjob_manifest(namespace, "idle", suspend=True))
    sim.kubectl("apply", "-f", "-", input=cronjob_manifest(namespace, "busy"))
    eventually(lambda: jobs_of(sim, namespace, "busy"), lambda found: len(found) >= 2)  # two minutes passed
    assert not jobs_of(sim, namespace, "idle") and "lastScheduleTime" not in kget(sim, "cronjob", "idle", "-n", namespace).get("status", {})


CRONJOBS = [
    ("61 * * * *", {}, 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
    ("* * * *", {}, 'spec.schedule: Invalid value: "* * * *": expected exactly 5 fields, found 4: [* * * *]'),
    ("CRON_TZ=UTC 0 * * * *", {}, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    ("0 * * * *", {"timeZone": "Mars/Olympus"}, 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
    ("0 * * * *", {"startingDeadlineSeconds": -5}, "spec.startingDeadlineSeconds: Invalid value: -5: must be greater than or equal to 0"),
]


@pytest.mark.parametrize(("schedule", "extra", "message"), CRONJOBS)
def test_invalid_cronjobs_are_refused(sim, namespace, schedule, extra, message):
    spec = json.loads(cronjob_manifest(namespace, "bad", schedule, **extra))["spec"]
    refused_create(sim, namespace, "batch/v1", "CronJob", spec, message)


def test_a_cronjob_name_leaves_room_for_its_jobs(sim, namespace):
    name = "n" * 53
    refused = sim.kubectl("create", "-f", "-", input=cronjob_manifest(namespace, name), check=False)
    assert refused.returncode != 0 and f'metadata.name: Invalid value: "{name}": must be no more than 52 characters' in refused.stderr


def daemonset_manifest(namespace: str, name: str, pod: dict | None = None, **spec) -> str:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "agent", "image": "busybox"}], **(pod or {})}}
    body = {"selector": {"matchLabels": {"app": name}}, "template": template, **spec}
    return json.dumps({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace}, "spec": body})


def daemon_pods(sim, namespace: str, name: str) -> dict[str, dict]:
    """The DaemonSet's running pods by node."""
    return {p["spec"]["nodeName"]: p for p in running_pods(sim, namespace, f"app={name}")}


def test_a_daemonset_runs_a_pod_on_every_node_it_tolerates(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "agent"))
    done = sim.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=30s")
    assert "successfully rolled out" in done.stdout
    workers = {"blue-0", "blue-1", "green-0", "green-1"}  # master-0 is tainted NoSchedule (control-plane)
    pods = daemon_pods(sim, namespace, "agent")
    assert set(pods) == workers
    pod = pods["blue-0"]
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["blue-0"]}]}]
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1" and pod["metadata"]["labels"]["controller-revision-hash"]
    status = kget(sim, "daemonset", "agent", "-n", namespace)["status"]
    assert {
        k: status[k] for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled", "numberAvailable")
    } == dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled", "numberAvailable"), 4)
    assert status["numberMisscheduled"] == 0
    table = sim.kubectl("get", "ds", "agent", "-n", namespace).stdout.split("\n")
    assert table[1].split()[:6] == ["agent", "4", "4", "4", "4", "4"]

    before = {node: p["metadata"]["name"] for node, p in pods.items()}
    sim.kubectl("rollout", "restart", "daemonset/agent", "-n", namespace)
    sim.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=30s")
    after = eventually(
        lambda: daemon_pods(sim, namespace, "agent"),
        lambda now: set(now) == workers and not set(before.values()) & {p["metadata"]["name"] for p in now.values()},
    )
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in after.values()} == {"2"}

    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "everywhere", {"tolerations": [{"operator": "Exists"}]}))
    eventually(lambda: set(daemon_pods(sim, namespace, "everywhere")), lambda nodes: nodes == workers | {"master-0"})


def test_a_daemonset_follows_its_node_selector_and_the_nodes_labels(sim, namespace):
    mark = f"daemon-test/{namespace}"
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "green", {"nodeSelector": {"group": "green"}}))
    eventually(lambda: set(daemon_pods(sim, namespace, "green")), lambda nodes: nodes == {"green-0", "green-1"})
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "marked", {"nodeSelector": {mark: "yes"}}))
    try:
        sim.kubectl("label", "node", "blue-1", f"{mark}=yes")
        eventually(lambda: set(daemon_pods(sim, namespace, "marked")), lambda nodes: nodes == {"blue-1"})
    finally:
        sim.kubectl("label", "node", "blue-1", f"{mark}-")
    eventually(lambda: kget(sim, "pods", "-n", namespace, "-l", "app=marked")["items"], lambda left: not left)
    assert kget(sim, "daemonset", "marked", "-n", namespace)["status"]["desiredNumberScheduled"] == 0


def test_on_delete_replaces_a_pod_only_once_it_is_deleted(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "manual", {"nodeSelector": {"group": "blue"}}, updateStrategy={"type": "OnDelete"}))
    pods = eventually(lambda: daemon_pods(sim, namespace, "manual"), lambda found: set(found) == {"blue-0", "blue-1"})
    sim.kubectl("set", "image", "daemonset/manual", "agent=busybox:2", "-n", namespace)
    eventually(lambda: kget(sim, "daemonset", "manual", "-n", namespace)["status"], lambda s: s.get("observedGeneration") == 2)
    assert {p["metadata"]["name"] for p in daemon_pods(sim, namespace, "manual").values()} == {p["metadata"]["name"] for p in pods.values()}
    sim.kubectl("delete", "pod", pods["blue-0"]["metadata"]["name"], "-n", namespace)
    now = eventually(
        lambda: daemon_pods(sim, namespace, "manual"),
        lambda found: set(found) == {"blue-0", "blue-1"} and found["blue-0"]["metadata"]["name"] != pods["blue-0"]["metadata"]["name"],
    )
    assert (now["blue-0"]["spec"]["containers"][0]["image"], now["blue-1"]["spec"]["containers"][0]["image"]) == ("busybox:2", "busybox")
    assert kget(sim, "daemonset", "manual", "-n", namespace)["status"]["updatedNumberScheduled"] == 1


DAEMONSETS = [
    ({"restartPolicy": "Never"}, {}, 'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    (
        {},
        {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}},
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: cannot be 0 when maxSurge is 0",
    ),
    ({}, {"updateStrategy": {"type": "Sometimes"}}, 'spec.updateStrategy.type: Unsupported value: "Sometimes": supported values: "RollingUpdate", "OnDelete"'),
    ({"activeDeadlineSeconds": 5}, {}, "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"),
]


@pytest.mark.parametrize(("pod", "extra", "message"), DAEMONSETS)
def test_invalid_daemonsets_are_refused(sim, namespace, pod, extra, message):
    spec = json.loads(daemonset_manifest(namespace, "bad", pod, **extra))["spec"]
    refused_create(sim, namespace, "apps/v1", "DaemonSet", spec, message)


def statefulset_manifest(namespace: str, name: str, replicas: int = 3, **spec) -> str:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]},
    }
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    body = {
        "replicas": replicas,
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": template,
        "volumeClaimTemplates": [claim],
        **spec,
    }
    return json.dumps({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": namespace}, "spec": body})


def sts_rollout(sim, namespace: str, name: str) -> None:
    done = sim.kubectl("rollout", "status", f"statefulset/{name}", "-n", namespace, "--timeout=40s")
    assert "roll out complete" in done.stdout, done.stdout


def test_a_statefulset_makes_its_pods_and_claims_in_order(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=statefulset_manifest(namespace, "db"))
    sts_rollout(sim, namespace, "db")
    pods = {p["metadata"]["name"]: p for p in running_pods(sim, namespace, "app=db")}
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    pod = pods["db-1"]
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-1", "db")
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1" and pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in pod["spec"]["volumes"]
    claims = {c["metadata"]["name"]: c for c in kget(sim, "pvc", "-n", namespace)["items"]}
    assert sorted(claims) == ["data-db-0", "data-db-1", "data-db-2"] and {c["status"]["phase"] for c in claims.values()} == {"Bound"}
    assert claims["data-db-0"]["metadata"]["labels"] == {"app": "db"} and not claims["data-db-0"]["metadata"].get("ownerReferences")
    made = [m for m in events(sim, namespace, "db") if m.startswith("create Pod")]
    assert made == [f"create Pod db-{i} in StatefulSet db successful" for i in range(3)]
    status = kget(sim, "statefulset", "db", "-n", namespace)["status"]
    assert (status["replicas"], status["readyReplicas"], status["currentRevision"]) == (3, 3, status["updateRevision"])
    assert sim.kubectl("get", "sts", "db", "-n", namespace).stdout.split("\n")[1].split()[:2] == ["db", "3/3"]

    sim.kubectl("set", "image", "statefulset/db", "c=nginx:2", "-n", namespace)
    sts_rollout(sim, namespace, "db")
    eventually(
        lambda: kget(sim, "statefulset", "db", "-n", namespace)["status"],
        lambda s: s.get("updatedReplicas") == 3 and s["currentRevision"] == s["updateRevision"],
    )
    deleted = [m for m in events(sim, namespace, "db") if m.startswith("delete Pod")]
    assert deleted == [f"delete Pod db-{i} in StatefulSet db successful" for i in (2, 1, 0)]  # highest ordinal first
    assert {p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, "app=db")} == {"nginx:2"}

    sim.kubectl("scale", "statefulset/db", "--replicas=1", "-n", namespace)
    eventually(lambda: sorted(p["metadata"]["name"] for p in kget(sim, "pods", "-n", namespace, "-l", "app=db")["items"]), lambda names: names == ["db-0"])
    # the same words again are counted on the rolling update's Events (client-go's correlator): db-2, then db-1, twice
    items = kget(sim, "events", "-n", namespace, "--field-selector", "involvedObject.name=db")["items"]
    counted = {e["message"]: e["count"] for e in items if e["message"].startswith("delete Pod")}
    assert counted == {f"delete Pod db-{i} in StatefulSet db successful": n for i, n in ((2, 2), (1, 2), (0, 1))}, counted
    assert len(kget(sim, "pvc", "-n", namespace)["items"]) == 3  # claims outlive their pods (Retain)


def test_a_partition_holds_the_lower_ordinals_back(sim, namespace):
    sim.kubectl(
        "apply", "-f", "-", input=statefulset_manifest(namespace, "canary", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    )
    sts_rollout(sim, namespace, "canary")
    sim.kubectl("set", "image", "statefulset/canary", "c=nginx:2", "-n", namespace)
    sts_rollout(sim, namespace, "canary")
    images = eventually(
        lambda: {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, "app=canary")},
        lambda found: found.get("canary-2") == "nginx:2" and len(found) == 3,
    )
    assert images == {"canary-0": "nginx:1", "canary-1": "nginx:1", "canary-2": "nginx:2"}


def test_claims_go_with_the_statefulset_or_its_scaled_down_pods_when_asked(sim, namespace):
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    sim.kubectl("apply", "-f", "-", input=statefulset_manifest(namespace, "tidy", persistentVolumeClaimRetentionPolicy=policy, podManagementPolicy="Parallel"))
    sts_rollout(sim, namespace, "tidy")
    sim.kubectl("scale", "statefulset/tidy", "--replicas=1", "-n", namespace)
    eventually(lambda: sorted(c["metadata"]["name"] for c in kget(sim, "pvc", "-n", namespace)["items"]), lambda names: names == ["data-tidy-0"])
    sim.kubectl("delete", "statefulset", "tidy", "-n", namespace)
    eventually(lambda: kget(sim, "pvc", "-n", namespace)["items"], lambda left: not left)


def test_a_statefulsets_spec_is_fixed_but_for_its_mutable_fields(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=statefulset_manifest(namespace, "fixed", replicas=0))
    changed = sim.kubectl("patch", "statefulset", "fixed", "-n", namespace, "-p", '{"spec": {"serviceName": "other"}}', check=False)
    assert changed.returncode != 0 and "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'" in changed.stderr, changed.stderr
    negative = json.loads(statefulset_manifest(namespace, "bad", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}))["spec"]
    refused_create(
        sim, namespace, "apps/v1", "StatefulSet", negative, "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"
    )
