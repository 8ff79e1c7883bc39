"""Property-based fuzzing of a live simulator subprocess (Hypothesis, fixed seed): generated bodies, query
parameters and patches (merge, JSON, strategic, apply) at every verb of a Namespace, a Secret, a
ClusterVirtualImage, a VirtualMachineClass, a PriorityClass, and workloads whose controllers run what is stored (a ReplicaSet,
a Job, a StatefulSet, a CronJob). Properties: never a 5xx, the server stays alive, nothing is written
on a 4xx, and its log holds no traceback afterwards."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..mutations import paths as value_paths
from ..mutations import with_value
from ..simulator_process import Simulator
from .polling import eventually

EXAMPLES = 90  # per kind: a few hundred in all, a few seconds each kind
NAMES = ("fz-a", "fz-b", "fz-c")
CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


POD_SPEC = {"containers": [{"name": "c", "image": "i"}]}


@dataclass(frozen=True)
class Kind:
    path: str  # collection path ("{ns}" is the fuzz namespace)
    api_version: str
    kind: str
    template: dict  # a valid object without metadata
    namespaced: bool = False


KINDS = {
    "namespace": Kind("/api/v1/namespaces", "v1", "Namespace", {}),
    "secret": Kind("/api/v1/namespaces/{ns}/secrets", "v1", "Secret", {"type": "Opaque", "data": {"k": "dg=="}, "stringData": {"s": "v"}}, True),
    "cvi": Kind(
        "/apis/virtualization.deckhouse.io/v1alpha2/clustervirtualimages",
        "virtualization.deckhouse.io/v1alpha2",
        "ClusterVirtualImage",
        {"spec": {"dataSource": {"type": "Upload"}}},
    ),
    "vmclass": Kind(
        "/apis/virtualization.deckhouse.io/v1alpha2/virtualmachineclasses",
        "virtualization.deckhouse.io/v1alpha2",
        "VirtualMachineClass",
        {"spec": {"cpu": {"type": "Discovery", "discovery": {}}, "sizingPolicies": [{"cores": {"min": 1, "max": 4}, "coreFractions": [100]}]}},
    ),
    "priorityclass": Kind("/apis/scheduling.k8s.io/v1/priorityclasses", "scheduling.k8s.io/v1", "PriorityClass", {"value": 100, "description": "fuzz"}),
    # workloads stored for real, their controllers making pods of whatever the fuzz left valid (a name generated again
    # and again, a pod refused, a claim template refused: none may break a controller or leave a traceback)
    "replicaset": Kind(
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        "apps/v1",
        "ReplicaSet",
        {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "f"}}, "template": {"metadata": {"labels": {"app": "f"}}, "spec": POD_SPEC}}},
        True,
    ),
    "job": Kind(
        "/apis/batch/v1/namespaces/{ns}/jobs",
        "batch/v1",
        "Job",
        {"spec": {"parallelism": 2, "template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}}},
        True,
    ),
    "statefulset": Kind(
        "/apis/apps/v1/namespaces/{ns}/statefulsets",
        "apps/v1",
        "StatefulSet",
        {
            "spec": {
                "replicas": 2,
                "serviceName": "s",
                "selector": {"matchLabels": {"app": "s"}},
                "template": {"metadata": {"labels": {"app": "s"}}, "spec": POD_SPEC},
                "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1G"}}}}],
            }
        },
        True,
    ),
    "daemonset": Kind(
        "/apis/apps/v1/namespaces/{ns}/daemonsets",
        "apps/v1",
        "DaemonSet",
        {"spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}, "spec": POD_SPEC}}},
        True,
    ),
    "controllerrevision": Kind(
        "/apis/apps/v1/namespaces/{ns}/controllerrevisions",
        "apps/v1",
        "ControllerRevision",
        {"data": {"spec": {"template": {"metadata": {"labels": {"app": "d"}}, "$patch": "replace"}}}, "revision": 1},
        True,
    ),
    # a webhook no request reaches (its group is no one's) and whose call failing is ignored: whatever the fuzz leaves
    # valid of it must not stop the other kinds' writes
    "webhookconfiguration": Kind(
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        {
            "webhooks": [
                {
                    "name": "fz.example.com",
                    "rules": [{"operations": ["CREATE"], "apiGroups": ["fuzz.example.com"], "apiVersions": ["v1"], "resources": ["none"]}],
                    "clientConfig": {"url": "https://fz.example.com/check"},
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "failurePolicy": "Ignore",
                }
            ]
        },
    ),
    "cronjob": Kind(
        "/apis/batch/v1/namespaces/{ns}/cronjobs",
        "batch/v1",
        "CronJob",
        {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "OnFailure"}}}}}},
        True,
    ),
}

# -- strategies ----------------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "All", "x", "-1", "fz-a", "Orphan", "a/b", "Bad Name", "dg==", "Host", "Upload", "ünï"]),
    st.text(max_size=12),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
paths = st.sampled_from(
    [
        ("metadata",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("metadata", "uid"),
        ("metadata", "generateName"),
        ("metadata", "labels"),
        ("metadata", "labels", "a/b"),
        ("metadata", "annotations"),
        ("metadata", "finalizers"),
        ("metadata", "ownerReferences"),
        ("metadata", "managedFields"),
        ("metadata", "resourceVersion"),
        ("spec",),
        ("spec", "cpu"),
        ("spec", "dataSource", "type"),
        ("spec", "replicas"),
        ("spec", "parallelism"),
        ("spec", "schedule"),
        ("spec", "selector"),
        ("spec", "template", "spec", "containers"),
        ("spec", "volumeClaimTemplates"),
        ("webhooks",),
        ("data",),
        ("data", "k"),
        ("stringData",),
        ("immutable",),
        ("type",),
        ("status",),
        ("kind",),
        ("apiVersion",),
    ]
)
param_values = st.one_of(
    st.sampled_from(["All", "true", "false", "-1", "0", "1", "abc", "Strict", "Warn", "Orphan", "Exact", "metadata.name=fz-a", "a in (b"]), st.text(max_size=8)
)
query = st.dictionaries(
    st.sampled_from(
        [
            "dryRun",
            "fieldManager",
            "fieldValidation",
            "force",
            "limit",
            "continue",
            "timeoutSeconds",
            "resourceVersion",
            "resourceVersionMatch",
            "labelSelector",
            "fieldSelector",
            "propagationPolicy",
            "gracePeriodSeconds",
            "orphanDependents",
        ]
    ),
    param_values,
    max_size=3,
)
json_patch_ops = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
            "path": st.sampled_from(["/metadata", "/metadata/name", "/metadata/uid", "/metadata/labels", "/spec", "/data/k", "", "/", "/x/y/z"]),
        },
        optional={"value": json_values, "from": st.sampled_from(["/metadata", "/spec", "/nope"])},
    ),
    max_size=3,
)


def _set(obj: dict, path: tuple[str, ...], value) -> dict:
    cur = obj
    for part in path[:-1]:
        if not isinstance(cur.get(part), dict):
            cur[part] = {}
        cur = cur[part]
    cur[path[-1]] = value
    return obj


@st.composite
def requests_for(draw, kind: Kind):
    """One request: (method, name or None, content type, body bytes or None, query)."""
    name = draw(st.sampled_from(NAMES))
    obj = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": name}, **json.loads(json.dumps(kind.template))}
    for _unused in range(draw(st.integers(0, 2))):
        obj = _set(obj, draw(paths), draw(json_values))
    verb = draw(st.sampled_from(["create", "update", "merge", "json", "strategic", "apply", "delete", "deletecollection", "get", "list", "raw"]))
    params = draw(query)
    if verb == "raw":  # bytes no JSON decoder should choke on: junk, NaN, deep nesting, wrong media types
        body = draw(
            st.sampled_from(
                [b"{", b"[]", b"null", b'{"metadata":{"name":"fz-a"},"x":NaN}', b'{"a":' * 3000 + b"1" + b"}" * 3000, b"\xff\xfe", b"a: &a [*a]", b"{}"]
            )
            | st.binary(max_size=64)
        )
        method = draw(st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]))
        ctype = draw(st.sampled_from(["application/json", "application/yaml", "text/plain", "application/vnd.kubernetes.protobuf", *CONTENT_TYPES.values()]))
        return method, (None if method == "POST" else name), ctype, body, params
    if verb == "create":
        return "POST", None, "application/json", json.dumps(obj).encode(), params
    if verb == "update":
        return "PUT", name, "application/json", json.dumps(obj).encode(), params
    if verb in ("merge", "strategic", "apply"):
        body = obj if verb == "apply" or draw(st.booleans()) else draw(json_values)
        return "PATCH", name, CONTENT_TYPES[verb], json.dumps(body).encode(), params
    if verb == "json":
        return "PATCH", name, CONTENT_TYPES["json"], json.dumps(draw(json_patch_ops)).encode(), params
    if verb == "delete":
        body = draw(
            st.none()
            | json_values
            | st.fixed_dictionaries(
                {}, optional={"propagationPolicy": json_values, "gracePeriodSeconds": json_values, "preconditions": json_values, "dryRun": json_values}
            )
        )
        return "DELETE", name, "application/json", None if body is None else json.dumps(body).encode(), params
    if verb == "deletecollection" and kind.namespaced:  # never on cluster-scoped kinds: it would wipe the cluster
        return "DELETE", None, "application/json", None, params
    return "GET", (name if verb == "get" else None), "application/json", None, params


# -- the live simulator ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("fuzz"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def http(fuzz_sim):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {fuzz_sim.token}"
    ns = "fz-" + uuid.uuid4().hex[:6]
    resp = session.post(fuzz_sim.server + "/api/v1/namespaces", json={"metadata": {"name": ns}}, verify=str(fuzz_sim.ca_file), timeout=30)
    assert resp.status_code == 201, resp.text
    # a fuzzed replicas of a billion would have the workloads' controllers make pods for as long as the run lasts: the
    # quota an admin would set bounds them (and has the controllers meet refusals too)
    limits = {"metadata": {"name": "fuzz"}, "spec": {"hard": {"pods": "30", "persistentvolumeclaims": "30", "count/jobs.batch": "30"}}}
    resp = session.post(fuzz_sim.server + f"/api/v1/namespaces/{ns}/resourcequotas", json=limits, verify=str(fuzz_sim.ca_file), timeout=30)
    assert resp.status_code == 201, resp.text
    return session, ns


def _snapshot(session, sim, kind: Kind, ns: str) -> dict:
    """The fuzzed objects of the kind, without what controllers change on their own (status, resourceVersion,
    managedFields). Objects being deleted are left out: they vanish when their finalizers are done."""
    resp = session.get(sim.server + kind.path.format(ns=ns), verify=str(sim.ca_file), timeout=30)
    assert resp.status_code == 200, resp.text
    out = {}
    for item in resp.json()["items"]:
        meta = item["metadata"]
        if not kind.namespaced and not meta["name"].startswith("fz-"):
            continue
        if meta.get("deletionTimestamp"):
            continue
        meta = {k: v for k, v in meta.items() if k not in ("resourceVersion", "managedFields")}
        out[meta["name"]] = {**{k: v for k, v in item.items() if k != "status"}, "metadata": meta}
    return out


RV_ON_CREATE = "resourceVersion should not be set on objects to be created"


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_fuzzed_requests_never_5xx_and_write_nothing_on_4xx(fuzz_sim, http, kind_name):
    session, ns = http
    kind = KINDS[kind_name]
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests_for(kind))
    def check(req):
        method, name, ctype, body, params = req
        path = kind.path.format(ns=ns) + (f"/{name}" if name else "")
        before = _snapshot(session, fuzz_sim, kind, ns)
        headers = {"Content-Type": ctype} if body is not None else {}
        resp = session.request(method, fuzz_sim.server + path, data=body, headers=headers, params=params, verify=str(fuzz_sim.ca_file), timeout=30)
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
        if resp.status_code == 500 and method == "POST" and resp.json().get("message") == RV_ON_CREATE:
            assert _snapshot(session, fuzz_sim, kind, ns) == before, f"the refused create wrote: {body!r:.300}"
            return  # kube-apiserver's own answer to a create carrying a resourceVersion (its storage layer's 500)
        assert resp.status_code < 500, f"{method} {path} {params} {ctype} {body!r:.300} -> {resp.status_code} {resp.text[:500]}"
        assert fuzz_sim.process.poll() is None, "the simulator died"
        if 400 <= resp.status_code < 500:
            status = resp.json()
            assert status["kind"] == "Status" and status["code"] == resp.status_code, status
            assert _snapshot(session, fuzz_sim, kind, ns) == before, f"a {resp.status_code} wrote: {method} {path} {params} {body!r:.300}"

    check()
    # the run exercised both sides of the properties, not only refusals
    assert any(200 <= code < 300 for code in seen) and any(400 <= code < 500 for code in seen), seen


# Valid bodies of kinds with mutating admission (defaults, hooks that read the spec), for the sweep below.
V1A2 = "virtualization.deckhouse.io/v1alpha2"
TYPED = {
    "/api/v1/namespaces/{ns}/pods": {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}}}],
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "priorityClassName": "system-node-critical",
        },
    },
    "/api/v1/namespaces/{ns}/services": {"apiVersion": "v1", "kind": "Service", "spec": {"selector": {"a": "b"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    "/api/v1/namespaces/{ns}/persistentvolumeclaims": {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    },
    "/api/v1/namespaces/{ns}/limitranges": {"apiVersion": "v1", "kind": "LimitRange", "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}}]}},
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}],
    },
    "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]},
    },
    "/apis/apps/v1/namespaces/{ns}/deployments": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "a"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}},
        },
    },
    "/apis/apps/v1/namespaces/{ns}/replicasets": {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "r"}},
            "template": {"metadata": {"labels": {"app": "r"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    },
    "/apis/apps/v1/namespaces/{ns}/statefulsets": {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "spec": {
            "replicas": 0,
            "serviceName": "s",
            "selector": {"matchLabels": {"app": "s"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
            "template": {
                "metadata": {"labels": {"app": "s"}},
                "spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    },
    "/apis/apps/v1/namespaces/{ns}/daemonsets": {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"nodeSelector": {"none": "such"}, "containers": [{"name": "c", "image": "i"}]}},
        },
    },
    "/apis/apps/v1/namespaces/{ns}/controllerrevisions": {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "data": {"spec": {"template": {"metadata": {"labels": {"app": "c"}}}}},
        "revision": 3,
    },
    "/apis/batch/v1/namespaces/{ns}/jobs": {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "suspend": True,
            "completions": 2,
            "backoffLimit": 1,
            "template": {"metadata": {"labels": {"app": "j"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}},
        },
    },
    "/apis/batch/v1/namespaces/{ns}/cronjobs": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "spec": {
            "schedule": "0 0 1 1 *",
            "timeZone": "Europe/Berlin",
            "suspend": True,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "i"}]}}}},
        },
    },
    "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["a.example.com"], "secretName": "s"}],
            "rules": [
                {
                    "host": "a.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]},
                }
            ],
        },
    },
    "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{ns}/virtualmachines": {
        "apiVersion": V1A2,
        "kind": "VirtualMachine",
        "spec": {
            "virtualMachineClassName": "generic",
            "cpu": {"cores": 1, "coreFraction": "10%"},
            "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "VirtualDisk", "name": "d"}],
        },
    },
    "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{ns}/virtualdisks": {
        "apiVersion": V1A2,
        "kind": "VirtualDisk",
        "spec": {"dataSource": {"type": "ObjectRef", "objectRef": {"kind": "ClusterVirtualImage", "name": "i"}}, "persistentVolumeClaim": {"size": "1Gi"}},
    },
    "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{ns}/virtualmachineoperations": {
        "apiVersion": V1A2,
        "kind": "VirtualMachineOperation",
        "spec": {"type": "Restart", "virtualMachineName": "vm"},
    },
}
WRONG_TYPES = ("s", 7, 1.5, True, [1], {"x": 1}, None)


def test_every_value_of_the_wrong_json_type_is_a_4xx(fuzz_sim, http):
    """Every value of a valid body, in turn, replaced by a value of each JSON type, created, replaced, merge-patched
    and applied (dry runs, over one stored object): a 4xx Status each time, never a 5xx, nothing written. Mutating
    admission used to read such bodies by type and answer ~100 of them with a 500."""
    session, ns = http
    verify = str(fuzz_sim.ca_file)
    seen: dict[int, int] = {}
    for collection, template in TYPED.items():
        url = fuzz_sim.server + collection.format(ns=ns)
        stored = session.post(url, json={**template, "metadata": {"name": "typed"}}, verify=verify, timeout=30)
        base = stored.json() if stored.status_code == 201 else None
        for path in value_paths(template, skip=("apiVersion", "kind")):
            for wrong in WRONG_TYPES:
                body = with_value(template, path, wrong)
                calls = [("POST", url, {**body, "metadata": {"name": "typed-new"}}, "application/json")]
                if base is not None:
                    meta = {"name": "typed", "resourceVersion": base["metadata"]["resourceVersion"]}
                    calls += [
                        ("PUT", f"{url}/typed", {**body, "metadata": meta}, "application/json"),
                        ("PATCH", f"{url}/typed", {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}, CONTENT_TYPES["merge"]),
                        ("PATCH", f"{url}/typed", {**body, "metadata": {"name": "typed"}}, CONTENT_TYPES["apply"]),
                    ]
                for method, target, sent, ctype in calls:
                    params = {"dryRun": "All", **({"fieldManager": "sweep", "force": "true"} if ctype == CONTENT_TYPES["apply"] else {})}
                    resp = session.request(method, target, data=json.dumps(sent), headers={"Content-Type": ctype}, params=params, verify=verify, timeout=30)
                    seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
                    assert resp.status_code < 500, f"{method} {target} {ctype} {path}={wrong!r} -> {resp.text[:400]}"
                    if resp.status_code >= 400:
                        status = resp.json()
                        assert status["kind"] == "Status" and status["code"] == resp.status_code, status
        if base is not None:
            after = session.get(f"{url}/typed", verify=verify, timeout=30).json()
            assert after["metadata"]["resourceVersion"] == base["metadata"]["resourceVersion"] or after.get("spec") == base.get("spec"), "a dry run wrote"
        assert session.get(f"{url}/typed-new", verify=verify, timeout=30).status_code == 404, "a dry run created"
    assert seen.get(400, 0) > 100 and seen.get(422, 0) > 100, seen


def test_the_fuzzed_server_logged_no_traceback(fuzz_sim, http):
    session, _unused = http
    verify = str(fuzz_sim.ca_file)
    # the workloads' controllers still make pods after whatever the fuzz stored (in a namespace of their own: the
    # fuzz's quota may be used up)
    assert session.post(fuzz_sim.server + "/api/v1/namespaces", json={"metadata": {"name": "fz-after"}}, verify=verify, timeout=30).status_code == 201
    for name in ("replicaset", "job", "statefulset", "daemonset"):
        kind = KINDS[name]
        body = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": "after"}, **kind.template}
        made = session.post(fuzz_sim.server + kind.path.format(ns="fz-after"), json=body, verify=verify, timeout=30)
        assert made.status_code == 201, made.text

    def owners() -> set[str]:
        pods = session.get(fuzz_sim.server + "/api/v1/namespaces/fz-after/pods", verify=verify, timeout=30).json()["items"]
        return {ref["kind"] for pod in pods for ref in pod["metadata"].get("ownerReferences") or []}

    eventually(owners, lambda kinds: {"ReplicaSet", "Job", "StatefulSet"} <= kinds)

    def revision_owners() -> set[str]:  # this simulator has no nodes: a DaemonSet makes no pod, but its history
        items = session.get(fuzz_sim.server + "/apis/apps/v1/namespaces/fz-after/controllerrevisions", verify=verify, timeout=30).json()["items"]
        return {ref["kind"] for item in items for ref in item["metadata"].get("ownerReferences") or []}

    eventually(revision_owners, lambda kinds: kinds == {"StatefulSet", "DaemonSet"})
    assert session.get(fuzz_sim.server + "/healthz", verify=str(fuzz_sim.ca_file), timeout=10).status_code == 200
    log = (fuzz_sim.state_dir / "server.log").read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]
