"""A hostile client against the live simulator: every malformed request gets the 4xx Status kube-apiserver gives,
nothing is written on a refusal, and the server's log shows no traceback. Requests go over HTTPS with the
kubeconfig's token and CA (`requests`), and through kubectl where a client is involved."""

from __future__ import annotations

import base64
import json
import stat
import time
import uuid

import pytest
import requests

NS_PATH = "/api/v1/namespaces"
VMCLASS = "/apis/virtualization.deckhouse.io/v1alpha2/virtualmachineclasses"
CVI = "/apis/virtualization.deckhouse.io/v1alpha2/clustervirtualimages"
MODULECONFIGS = "/apis/deckhouse.io/v1alpha1/moduleconfigs"
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


class Raw:
    """Raw HTTP to the simulator, as a hand-written client would send it."""

    def __init__(self, sim):
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.token}"

    def call(self, method: str, path: str, body=None, content_type: str = "application/json", params=None, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        return self.session.request(method, self.sim.server + path, data=data, headers=headers, params=params, timeout=30, verify=str(self.sim.ca_file))


@pytest.fixture(scope="module")
def http(sim):
    return Raw(sim)


def status_of(resp: requests.Response, code: int, reason: str, message: str = "") -> dict:
    assert resp.status_code == code, resp.text
    status = resp.json()
    assert status["kind"] == "Status" and status["code"] == code and status["reason"] == reason, status
    assert message in status["message"], status["message"]
    return status


def secret_path(namespace: str, name: str = "") -> str:
    return f"{NS_PATH}/{namespace}/secrets" + (f"/{name}" if name else "")


def make_secret(http, namespace: str, name: str, **fields) -> dict:
    resp = http.call("POST", secret_path(namespace), {"metadata": {"name": name}, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


def list_rv(http, path: str) -> str:
    return http.call("GET", path).json()["metadata"]["resourceVersion"]


# -- malformed parameters ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, code, reason, message",
    [
        ({"limit": "abc"}, 400, "BadRequest", 'parsing "abc": invalid syntax'),
        ({"timeoutSeconds": "soon"}, 400, "BadRequest", 'parsing "soon": invalid syntax'),
        ({"continue": "%%%not-base64"}, 400, "BadRequest", "continue key is not valid"),
        ({"continue": base64.urlsafe_b64encode(b"not json").decode()}, 400, "BadRequest", "continue key is not valid"),
        ({"continue": base64.urlsafe_b64encode(b"[1,2]").decode()}, 400, "BadRequest", "cannot unmarshal array into Go value of type storage.continueToken"),
        (
            {"continue": base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": "x", "ns": "", "name": "a"}).encode()).decode()},
            400,
            "BadRequest",
            "cannot unmarshal string into Go struct field continueToken.rv of type int64",
        ),
        (
            {"continue": base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": 0, "ns": "", "name": "a"}).encode()).decode()},
            400,
            "BadRequest",
            "incorrect encoded start resourceVersion",
        ),
        (
            {"continue": base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": 5, "ns": 1, "name": None}).encode()).decode()},
            400,
            "BadRequest",
            "encoded start key empty",
        ),
        ({"resourceVersion": "abc"}, 400, "BadRequest", "invalid resource version"),
        ({"resourceVersion": "-5"}, 400, "BadRequest", "invalid resource version"),
        ({"resourceVersionMatch": "Sometimes", "resourceVersion": "1"}, 422, "Invalid", 'resourceVersionMatch: Unsupported value: "Sometimes"'),
        ({"resourceVersionMatch": "Exact"}, 422, "Invalid", "resourceVersionMatch is forbidden unless resourceVersion is provided"),
        ({"fieldSelector": "spec.nodeName=n1"}, 400, "BadRequest", "field label not supported: spec.nodeName"),
        ({"fieldSelector": "data.password=x"}, 400, "BadRequest", "field label not supported: data.password"),
    ],
)
def test_list_parameters_are_refused_as_kube_apiserver_refuses_them(http, namespace, params, code, reason, message):
    status_of(http.call("GET", secret_path(namespace), params=params), code, reason, message)


def test_negative_limit_means_no_limit_as_upstream(http, namespace):
    for name in ("a", "b"):
        make_secret(http, namespace, name)
    listing = http.call("GET", secret_path(namespace), params={"limit": "-3"}).json()
    assert [s["metadata"]["name"] for s in listing["items"]] == ["a", "b"] and "continue" not in listing["metadata"]


def test_field_selectors_kube_apiserver_supports_keep_working(http, namespace):
    make_secret(http, namespace, "typed", type="kubernetes.io/basic-auth", stringData={"username": "u", "password": "p"})
    make_secret(http, namespace, "plain")

    def names(sel):
        return [s["metadata"]["name"] for s in http.call("GET", secret_path(namespace), params={"fieldSelector": sel}).json()["items"]]

    assert names("type=kubernetes.io/basic-auth") == ["typed"]
    assert names(f"metadata.name=plain,metadata.namespace={namespace}") == ["plain"]
    pods = http.call("GET", "/api/v1/pods", params={"fieldSelector": "spec.nodeName=nowhere,status.phase!=Failed"})
    assert pods.status_code == 200 and pods.json()["items"] == []
    events = http.call("GET", "/api/v1/events", params={"fieldSelector": "involvedObject.kind=Node,type=Normal,source=x"})
    assert events.status_code == 200
    assert http.call("GET", "/api/v1/nodes", params={"fieldSelector": "spec.unschedulable=false"}).status_code == 200


def test_dry_run_other_than_all_is_refused_and_deletes_nothing(http, namespace):
    make_secret(http, namespace, "keep")
    status = status_of(
        http.call("DELETE", secret_path(namespace, "keep"), params={"dryRun": "true"}),
        422,
        "Invalid",
        'dryRun: Unsupported value: []string{"true"}: supported values: "All"',
    )
    assert status["message"].startswith('DeleteOptions.meta.k8s.io "" is invalid')
    assert http.call("GET", secret_path(namespace, "keep")).status_code == 200
    status_of(http.call("POST", secret_path(namespace), {"metadata": {"name": "dry"}}, params={"dryRun": "yes"}), 422, "Invalid", "CreateOptions.meta.k8s.io")
    assert http.call("GET", secret_path(namespace, "dry")).status_code == 404
    # dryRun=All really is a dry run, from the query or from a DeleteOptions body
    assert http.call("DELETE", secret_path(namespace, "keep"), params={"dryRun": "All"}).status_code == 200
    assert http.call("DELETE", secret_path(namespace, "keep"), {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}).status_code == 200
    assert http.call("GET", secret_path(namespace, "keep")).status_code == 200


def test_write_options_are_validated(http, namespace):
    status_of(
        http.call("POST", secret_path(namespace), {"metadata": {"name": "fv"}}, params={"fieldValidation": "Loose"}),
        422,
        "Invalid",
        'fieldValidation: Unsupported value: "Loose"',
    )
    status_of(
        http.call("POST", secret_path(namespace), {"metadata": {"name": "fm"}}, params={"fieldManager": "x" * 129}), 422, "Invalid", "fieldManager: Too long"
    )
    make_secret(http, namespace, "p")
    status_of(
        http.call("PATCH", secret_path(namespace, "p"), {"metadata": {"labels": {"a": "b"}}}, MERGE, params={"force": "true"}),
        422,
        "Invalid",
        "force: Forbidden: may not be specified for non-apply patch",
    )
    status_of(
        http.call("PATCH", secret_path(namespace, "p"), {"data": {}}, MERGE, params={"fieldManager": "m", "force": "maybe"}), 400, "BadRequest", "ParseBool"
    )


def test_apply_requires_a_field_manager_other_writes_take_the_user_agent(http, namespace):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "applied"}}
    status = status_of(
        http.call("PATCH", secret_path(namespace, "applied"), body, APPLY), 422, "Invalid", "fieldManager: Required value: is required for apply patch"
    )
    assert status["message"].startswith('PatchOptions.meta.k8s.io "" is invalid')
    assert http.call("GET", secret_path(namespace, "applied")).status_code == 404
    created = http.call("POST", secret_path(namespace), {"metadata": {"name": "ua"}}).json()
    assert created["metadata"]["managedFields"][0]["manager"] == "python-requests"


def test_apply_without_field_manager_through_kubectl_is_named_by_kubectl(sim, namespace):
    # kubectl always sends fieldManager=kubectl(-client-side-apply); the server-side one must work end to end.
    manifest = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kubectl-ssa", "namespace": namespace}, "stringData": {"k": "v"}})
    sim.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    got = json.loads(sim.kubectl("get", "secret", "-n", namespace, "kubectl-ssa", "-o", "json", "--show-managed-fields").stdout)
    assert got["data"] == {"k": base64.b64encode(b"v").decode()} and "stringData" not in got
    assert any(m["manager"] == "kubectl" and m["operation"] == "Apply" for m in got["metadata"]["managedFields"])


# -- bodies ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_and_never_stored(http, constant):
    name = "nan-" + uuid.uuid4().hex[:6]
    raw = ('{"metadata":{"name":"' + name + '"},"spec":{"cpu":{"type":"Host"},"sizingPolicies":[{"cores":{"min":1,"max":' + constant + "}}]}}").encode()
    status_of(http.call("POST", VMCLASS, raw=raw), 400, "BadRequest", "couldn't get version/kind; json parse error: invalid character")
    assert http.call("GET", f"{VMCLASS}/{name}").status_code == 404
    yaml_inf = b"apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata: {name: yaml-inf}\nspec: {cpu: {type: Host}, x: .inf}\n"
    status_of(http.call("PATCH", VMCLASS + "/yaml-inf", raw=yaml_inf, content_type=APPLY, params={"fieldManager": "t"}), 400, "BadRequest", "not a JSON number")
    # the list still decodes as strict JSON, as a Go client reads it
    json.loads(http.call("GET", VMCLASS).content, parse_constant=lambda c: pytest.fail(f"{c} in a list"))


def test_bodies_over_3_mib_get_413(http, namespace):
    big = {"metadata": {"name": "big"}, "data": {"blob": base64.b64encode(b"x" * (3 * 1024 * 1024)).decode()}}
    status_of(http.call("POST", secret_path(namespace), big), 413, "RequestEntityTooLarge", "limit is 3145728")
    # without Content-Length (chunked), too
    chunks = (json.dumps(big).encode()[i : i + 65536] for i in range(0, len(json.dumps(big)), 65536))
    resp = http.session.post(
        http.sim.server + secret_path(namespace), data=chunks, headers={"Content-Type": "application/json"}, timeout=30, verify=str(http.sim.ca_file)
    )
    status_of(resp, 413, "RequestEntityTooLarge")
    assert http.call("GET", secret_path(namespace, "big")).status_code == 404


def test_deep_nesting_is_refused_with_400(http, namespace):
    for depth in (150, 5000):
        raw = b'{"metadata":{"name":"deep"},"data":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
        status_of(http.call("POST", secret_path(namespace), raw=raw), 400, "BadRequest", "nested deeper")
    # depth well inside the limit, under a field that keeps unknown fields (ModuleConfig settings)
    nested: dict = {"leaf": 1}
    for _unused in range(80):
        nested = {"n": nested}
    body = {"metadata": {"name": "deep-settings"}, "spec": {"version": 1, "settings": nested}}
    resp = http.call("POST", MODULECONFIGS, body)
    assert resp.status_code == 201, resp.text
    http.call("DELETE", MODULECONFIGS + "/deep-settings")


def test_yaml_bombs_and_non_json_yaml_are_refused(http):
    bomb = (
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    )
    status_of(http.call("PATCH", VMCLASS + "/bomb", raw=bomb, content_type=APPLY, params={"fieldManager": "t"}), 400, "BadRequest", "excessive aliasing")
    binary = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: bin, labels: {a: !!binary aGVsbG8=}}\n"
    status_of(http.call("PATCH", NS_PATH + "/bin", raw=binary, content_type=APPLY, params={"fieldManager": "t"}), 400, "BadRequest", "no JSON form")
    # a timestamp-looking scalar stays a string, as sigs.k8s.io/yaml keeps it
    stamp = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: stamped, annotations: {when: 2024-01-02}}\n"
    resp = http.call("PATCH", NS_PATH + "/stamped", raw=stamp, content_type=APPLY, params={"fieldManager": "t"})
    assert resp.status_code == 201 and resp.json()["metadata"]["annotations"]["when"] == "2024-01-02", resp.text
    http.call("DELETE", NS_PATH + "/stamped")


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"name": 5}, "cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string"),
        ({"generateName": ["x"]}, "ObjectMeta.metadata.generateName of type string"),
        ({"name": "x", "labels": ["a"]}, "metadata.labels of type map[string]string"),
        ({"name": "x", "annotations": {"a": 1}}, "metadata.annotations of type string"),
        ({"name": "x", "finalizers": "f"}, "metadata.finalizers of type []string"),
        ({"name": "x", "ownerReferences": [{"uid": 7}]}, "ownerReferences.uid of type string"),
        ({"name": "x", "managedFields": [1]}, "metadata.managedFields of type v1.ManagedFieldsEntry"),
        ("not-an-object", "cannot unmarshal string into Go struct field .metadata of type v1.ObjectMeta"),
    ],
)
def test_metadata_of_the_wrong_type_is_400(http, namespace, metadata, message):
    status_of(http.call("POST", secret_path(namespace), {"metadata": metadata}), 400, "BadRequest", message)


@pytest.mark.parametrize(
    "labels, annotations, message",
    [
        ({"a/b/c": "x"}, {}, "a qualified name must consist of"),
        ({"Bad_Prefix.io/x": "v"}, {}, "prefix part a lowercase RFC 1123 subdomain"),
        ({"/x": "v"}, {}, "prefix part must be non-empty"),
        ({"p.io/" + "n" * 64: "v"}, {}, "name part must be no more than 63 characters"),
        ({"ok": "-bad-"}, {}, "a valid label must be an empty string"),
        ({}, {"x" * 254 + "/a": "v"}, "prefix part must be no more than 253 characters"),
        ({}, {"a": "v" * (256 * 1024)}, "metadata.annotations: Too long: may not be more than 262144 bytes"),
        ({}, {"has space": "v"}, "name part must consist of"),
    ],
)
def test_label_and_annotation_keys_are_validated(http, namespace, labels, annotations, message):
    status_of(http.call("POST", secret_path(namespace), {"metadata": {"name": "lab", "labels": labels, "annotations": annotations}}), 422, "Invalid", message)


def test_owner_references_and_finalizers_are_validated(http, namespace):
    status_of(
        http.call("POST", secret_path(namespace), {"metadata": {"name": "o", "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "x"}]}}),
        422,
        "Invalid",
        "metadata.ownerReferences[0].uid",
    )
    status_of(http.call("POST", secret_path(namespace), {"metadata": {"name": "o", "finalizers": ["a b"]}}), 422, "Invalid", "metadata.finalizers[0]")


# -- patches -----------------------------------------------------------------------------------------------
def test_patches_may_not_rename_move_or_re_uid_an_object(http, namespace):
    secret = make_secret(http, namespace, "fixed", data={"k": base64.b64encode(b"hunter2").decode()})
    path = secret_path(namespace, "fixed")
    status_of(
        http.call("PATCH", path, {"metadata": {"name": "other"}}, MERGE),
        400,
        "BadRequest",
        "the name of the object (other) does not match the name on the URL (fixed)",
    )
    status_of(
        http.call("PATCH", path, {"metadata": {"namespace": "default"}}, MERGE), 400, "BadRequest", f"does not match the namespace on the URL ({namespace})"
    )
    status_of(http.call("PATCH", path, {"metadata": {"uid": "forged"}}, MERGE), 422, "Invalid", 'metadata.uid: Invalid value: "forged": field is immutable')
    status_of(http.call("PATCH", path, [{"op": "replace", "path": "/metadata/uid", "value": "forged"}], JSONPATCH), 422, "Invalid", "field is immutable")
    status_of(http.call("PATCH", path, [{"op": "remove", "path": "/metadata"}], JSONPATCH), 400, "BadRequest", "does not match the name on the URL")
    status_of(http.call("PATCH", path, {"metadata": None}, MERGE), 400, "BadRequest", "does not match the name on the URL")
    for bad in ({"metadata": 5}, {"metadata": {"labels": "x"}}):
        status = status_of(http.call("PATCH", path, bad, MERGE), 422, "Invalid", "patch: Invalid value")
        assert "hunter2" not in json.dumps(status) and base64.b64encode(b"hunter2").decode() not in json.dumps(status)
    status_of(http.call("PATCH", path, [{"op": "replace", "path": "/metadata", "value": []}], JSONPATCH), 422, "Invalid", "patch: Invalid value")
    status_of(http.call("PATCH", path, {"metadata": {"name": "fixed", "uid": "forged"}}, "application/strategic-merge-patch+json"), 422, "Invalid", "immutable")
    status_of(http.call("PATCH", path, {"kind": "ConfigMap"}, MERGE), 422, "Invalid", 'kind "ConfigMap" does not match')
    status_of(http.call("PATCH", path, [{"op": "replace", "path": "/apiVersion", "value": "v2"}], JSONPATCH), 422, "Invalid", 'apiVersion "v2" does not match')
    # a PUT's uid is a precondition
    body = {**secret, "metadata": {**secret["metadata"], "uid": "forged"}}
    status_of(http.call("PUT", path, body), 409, "Conflict", "Precondition failed: UID in precondition: forged")
    after = http.call("GET", path).json()
    assert after["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"]


# -- DELETE bodies -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, code, message",
    [
        ([1, 2], 400, "decoded object cannot be converted to DeleteOptions"),
        ({"kind": "Pod", "apiVersion": "v1"}, 400, "cannot be converted to DeleteOptions"),
        ({"propagationPolicy": 5}, 400, "DeleteOptions.propagationPolicy of type v1.DeletionPropagation"),
        ({"gracePeriodSeconds": "soon"}, 400, "DeleteOptions.gracePeriodSeconds of type int64"),
        ({"gracePeriodSeconds": True}, 400, "gracePeriodSeconds"),
        ({"preconditions": "x"}, 400, "DeleteOptions.preconditions"),
        ({"preconditions": {"uid": 5}}, 400, "preconditions.uid of type string"),
        ({"orphanDependents": "yes"}, 400, "orphanDependents of type bool"),
        ({"dryRun": "All"}, 400, "dryRun"),
        ({"propagationPolicy": "Sideways"}, 422, 'propagationPolicy: Unsupported value: "Sideways"'),
        ({"propagationPolicy": "Orphan", "orphanDependents": True}, 422, "orphanDependents and deletionPropagation cannot be both set"),
    ],
)
def test_delete_bodies_that_are_not_delete_options(http, namespace, body, code, message):
    make_secret(http, namespace, "victim")
    status_of(http.call("DELETE", secret_path(namespace, "victim"), body), code, "BadRequest" if code == 400 else "Invalid", message)
    assert http.call("GET", secret_path(namespace, "victim")).status_code == 200
    status_of(http.call("DELETE", secret_path(namespace), body), code, "BadRequest" if code == 400 else "Invalid", message)
    assert http.call("GET", secret_path(namespace, "victim")).status_code == 200


def test_delete_query_parameters_are_parsed(http, namespace):
    make_secret(http, namespace, "q")
    status_of(http.call("DELETE", secret_path(namespace, "q"), params={"gracePeriodSeconds": "x"}), 400, "BadRequest", "ParseInt")
    status_of(http.call("DELETE", secret_path(namespace, "q"), params={"propagationPolicy": "Up"}), 422, "Invalid", "propagationPolicy")
    assert http.call("DELETE", secret_path(namespace, "q"), params={"propagationPolicy": "Foreground"}).status_code == 200


# -- Secrets and ConfigMaps --------------------------------------------------------------------------------
def test_string_data_is_merged_into_data_and_never_stored(http, namespace):
    secret = make_secret(http, namespace, "sd", data={"a": base64.b64encode(b"old").decode()}, stringData={"a": "new", "b": "two"})
    assert "stringData" not in secret
    assert {k: base64.b64decode(v) for k, v in secret["data"].items()} == {"a": b"new", "b": b"two"}
    patched = http.call("PATCH", secret_path(namespace, "sd"), {"stringData": {"c": "three"}}, MERGE).json()
    assert "stringData" not in patched and base64.b64decode(patched["data"]["c"]) == b"three" and set(patched["data"]) == {"a", "b", "c"}
    status = status_of(
        http.call("POST", secret_path(namespace), {"metadata": {"name": "b64"}, "data": {"k": "s3cr3t-not-base64!"}}), 400, "BadRequest", "illegal base64"
    )
    assert "s3cr3t" not in json.dumps(status)


def test_immutable_secrets_and_configmaps(http, namespace):
    make_secret(http, namespace, "frozen", immutable=True, stringData={"k": "v"})
    path = secret_path(namespace, "frozen")
    for patch, field in (
        ({"stringData": {"k": "w"}}, "data"),
        ({"data": {"k": None}}, "data"),
        ({"immutable": False}, "immutable"),
        ({"immutable": None}, "immutable"),
    ):
        status = status_of(http.call("PATCH", path, patch, MERGE), 422, "Invalid", f"{field}: Forbidden: field is immutable when `immutable` is set")
        assert '"v"' not in status["message"] and base64.b64encode(b"w").decode() not in status["message"]
    status_of(http.call("PATCH", path, {"type": "kubernetes.io/tls"}, MERGE), 422, "Invalid", "type: Invalid value")
    assert http.call("PATCH", path, {"metadata": {"labels": {"may": "change"}}}, MERGE).status_code == 200
    cms = f"{NS_PATH}/{namespace}/configmaps"
    assert http.call("POST", cms, {"metadata": {"name": "cm"}, "data": {"a": "1"}, "immutable": True}).status_code == 201
    status_of(http.call("PATCH", cms + "/cm", {"data": {"a": "2"}}, MERGE), 422, "Invalid", "data: Forbidden: field is immutable when `immutable` is set")
    status_of(http.call("POST", cms, {"metadata": {"name": "cm2"}, "data": {"bad key": "1"}}), 422, "Invalid", "a valid config key must consist of")
    assert http.call("DELETE", cms + "/cm").status_code == 200  # immutable objects can still be deleted


def test_typed_secrets_need_their_keys_through_kubectl(sim, namespace):
    sim.kubectl("create", "secret", "docker-registry", "pull", "-n", namespace, "--docker-server=r.example", "--docker-username=u", "--docker-password=pw")
    got = json.loads(sim.kubectl("get", "secret", "-n", namespace, "pull", "-o", "json").stdout)
    assert got["type"] == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" in got["data"]
    manifest = json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": namespace}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "c"}}
    )
    result = sim.kubectl("create", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0 and "data[tls.key]: Required value" in result.stderr
    typed = [
        ("kubernetes.io/service-account-token", {}, "metadata.annotations[kubernetes.io/service-account.name]: Required value"),
        ("kubernetes.io/dockercfg", {".dockercfg": "not json"}, 'data[.dockercfg]: Invalid value: "<secret contents redacted>"'),
        ("kubernetes.io/basic-auth", {"other": "x"}, "data[username]: Required value"),
    ]
    for secret_type, data, message in typed:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "typed", "namespace": namespace}, "type": secret_type, "stringData": data}
        refused = sim.kubectl("create", "-f", "-", input=json.dumps(body), check=False)
        assert refused.returncode != 0 and message in refused.stderr and "not json" not in refused.stderr, (secret_type, refused.stderr)
    basic = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "basic", "namespace": namespace}, "type": "kubernetes.io/basic-auth",
             "stringData": {"password": ""}}  # fmt: skip
    assert sim.kubectl("create", "-f", "-", input=json.dumps(basic), check=False).returncode == 0, "either key present, even empty"


# -- server health and state files -------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"labelSelector": "env=a=b"}, {"labelSelector": "a,"}, {"labelSelector": "a=-b"}, {"fieldSelector": "metadata.name=a=b"}])
def test_a_selector_kube_apiserver_cannot_parse_is_a_400_on_list_watch_and_deletecollection(http, params):
    """Not a 200 with an empty list (a DELETE with it deletes nothing either)."""
    path = NS_PATH + "/default/configmaps"
    for method, extra in (("GET", {}), ("GET", {"watch": "1", "timeoutSeconds": "1"}), ("DELETE", {})):
        status_of(http.call(method, path, params={**params, **extra}), 400, "BadRequest")


def test_list_query_numbers_and_flags_are_converted_as_go_converts_them(http):
    """int64 parameters through strconv.ParseInt (no underscores or spaces, a range), resourceVersion a uint64,
    ListOptions booleans as the API server converts them (only "0" and "false" are false), and sendInitialEvents is
    for watches only."""
    path = NS_PATH + "/default/configmaps"
    for value in ("99999999999999999999999", "9223372036854775808", "-9223372036854775809"):
        status_of(http.call("GET", path, params={"limit": value}), 400, "BadRequest", "value out of range")
    for value in ("1_000", " 5", "5 "):
        status_of(http.call("GET", path, params={"timeoutSeconds": value}), 400, "BadRequest", "invalid syntax")
    status_of(http.call("GET", path, params={"resourceVersion": str(2**64)}), 400, "BadRequest", "value out of range")
    assert http.call("GET", path, params={"limit": "+2"}).json()["kind"] == "ConfigMapList"
    assert http.call("POST", path, {"metadata": {"name": "flags-" + uuid.uuid4().hex[:6]}}).status_code == 201  # one ADDED to see
    for value in ("yes", "True", "maybe"):
        watched = http.call("GET", path, params={"watch": value, "timeoutSeconds": "1"})
        assert watched.status_code == 200 and '"type":' in watched.text and '"kind": "ConfigMapList"' not in watched.text, watched.text[:200]
    for value in ("0", "false", "FALSE"):
        assert http.call("GET", path, params={"watch": value}).json()["kind"] == "ConfigMapList"
    status_of(http.call("GET", path, params={"sendInitialEvents": "true"}), 422, "Invalid", "sendInitialEvents is forbidden for list")


def test_a_create_carrying_a_resource_version_fails_as_on_a_real_cluster(http):
    """kube-apiserver's storage layer refuses it with a 500 and no reason (a manifest read back from a cluster fed to
    `kubectl create`); an unparsable version is ignored there, and a dry run never reaches the check."""
    path = NS_PATH + "/default/configmaps"
    name = "rv-" + uuid.uuid4().hex[:6]
    resp = http.call("POST", path, {"metadata": {"name": name, "resourceVersion": "5"}})
    assert resp.status_code == 500 and resp.json()["message"] == "resourceVersion should not be set on objects to be created", resp.text
    assert "reason" not in resp.json()
    assert http.call("GET", path + "/" + name).status_code == 404
    assert http.call("POST", path, {"metadata": {"name": name, "resourceVersion": "5"}}, params={"dryRun": "All"}).status_code == 201
    created = http.call("POST", path, {"metadata": {"name": name, "resourceVersion": "-1"}})
    assert created.status_code == 201 and created.json()["metadata"]["resourceVersion"] != "-1", created.text


def test_every_response_for_a_deprecated_version_carries_its_warning(http):
    """As kube-apiserver's handler of a deprecated CRD version: reads, lists, watches, refusals and deletes too,
    once each (a write's admission adds it to its own warnings)."""
    deprecated = [(p, v) for p, v in ((VMCLASS, "v1alpha2"),) if http.call("GET", "/apis/virtualization.deckhouse.io/" + v).status_code == 200]
    assert deprecated, "v1alpha2 is served"
    name = "dep-" + uuid.uuid4().hex[:6]
    responses = [
        http.call("GET", VMCLASS),
        http.call("GET", VMCLASS + "/missing"),
        http.call("GET", VMCLASS, params={"watch": "1", "timeoutSeconds": "1"}),
        http.call("POST", VMCLASS, {"metadata": {"name": name}, "spec": {"cpu": {"type": "Bogus"}}}),
        http.call("DELETE", VMCLASS + "/missing"),
    ]
    for resp in responses:
        warning = resp.headers.get("Warning", "")
        assert warning.count("deprecated") == 1, (resp.request.method, resp.url, resp.status_code, warning)
    current = http.call("GET", "/apis/virtualization.deckhouse.io/v1alpha3/virtualmachineclasses")
    assert "Warning" not in current.headers


def test_a_patch_of_no_patch_type_is_a_415_listing_the_resources_patch_types(http):
    built_in = status_of(http.call("PATCH", NS_PATH + "/default/configmaps/x", raw=b"{}", content_type="text/plain"), 415, "UnsupportedMediaType")
    types = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    assert built_in["message"].endswith(types), built_in
    for ctype in ("text/plain", "application/json", "application/strategic-merge-patch+json"):
        custom = status_of(http.call("PATCH", VMCLASS + "/x", raw=b"{}", content_type=ctype), 415, "UnsupportedMediaType")
        assert custom["message"].endswith("application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"), custom


def _pod(http, namespace: str, name: str) -> str:
    path = f"{NS_PATH}/{namespace}/pods"
    resp = http.call("POST", path, {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert resp.status_code == 201, resp.text
    return f"{path}/{name}"


def test_status_serves_no_delete(http, namespace):
    """kube-apiserver registers GET, PUT and PATCH on status: a DELETE there is 405 and deletes nothing (RBAC saw it
    as `delete pods/status`, which a status writer may hold)."""
    pod = _pod(http, namespace, "st")
    status_of(http.call("DELETE", pod + "/status"), 405, "MethodNotAllowed")
    assert http.call("GET", pod).status_code == 200
    name = "st-" + uuid.uuid4().hex[:6]
    assert http.call("POST", VMCLASS, {"metadata": {"name": name}, "spec": {"cpu": {"type": "Host"}}}).status_code == 201
    status_of(http.call("DELETE", f"{VMCLASS}/{name}/status"), 405, "MethodNotAllowed")
    assert http.call("GET", f"{VMCLASS}/{name}").status_code == 200


def test_a_custom_resource_is_not_replaced_without_its_resource_version(http):
    """A custom resource refuses an unconditional update (upstream's CR strategy); a ConfigMap allows it."""
    name = "uc-" + uuid.uuid4().hex[:6]
    created = http.call("POST", VMCLASS, {"metadata": {"name": name}, "spec": {"cpu": {"type": "Host"}}}).json()
    del created["metadata"]["resourceVersion"]
    created["metadata"]["labels"] = {"blind": "replace"}
    status_of(http.call("PUT", f"{VMCLASS}/{name}", created), 422, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
    assert "labels" not in http.call("GET", f"{VMCLASS}/{name}").json()["metadata"]
    cm = NS_PATH + "/default/configmaps"
    assert http.call("POST", cm, {"metadata": {"name": name}}).status_code == 201
    assert http.call("PUT", f"{cm}/{name}", {"metadata": {"name": name}, "data": {"k": "v"}}).status_code == 200


def test_service_names_are_dns_1035_labels(http, namespace):
    for bad in ("1abc", "a.b"):
        resp = http.call("POST", f"{NS_PATH}/{namespace}/services", {"metadata": {"name": bad}, "spec": {"ports": [{"port": 80}]}})
        status_of(resp, 422, "Invalid", "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character")
    long_name = "a" * 254
    status_of(http.call("POST", f"{NS_PATH}/{namespace}/configmaps", {"metadata": {"name": long_name}}), 422, "Invalid", "must be no more than 253 characters")


def test_a_service_needs_ports_unless_headless_or_external_name(http, namespace):
    services = f"{NS_PATH}/{namespace}/services"
    for spec in ({"selector": {"a": "b"}}, {"type": "NodePort"}, {"type": "LoadBalancer", "ports": []}):
        resp = http.call("POST", services, {"metadata": {"name": "bare"}, "spec": spec})
        refused = status_of(resp, 422, "Invalid", 'Service "bare" is invalid: spec.ports: Required value')
        assert refused["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports"}]
    assert http.call("GET", f"{services}/bare").status_code == 404
    assert http.call("POST", services, {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None"}}).status_code == 201
    assert http.call("POST", services, {"metadata": {"name": "outside"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}).status_code == 201
    made = http.call("POST", services, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    assert made.status_code == 201
    patched = http.call("PATCH", f"{services}/web", {"spec": {"ports": None}}, content_type="application/merge-patch+json")
    status_of(patched, 422, "Invalid", "spec.ports: Required value")


def test_request_shapes_kube_apiserver_refuses(http, namespace):
    cm = f"{NS_PATH}/{namespace}/configmaps"
    assert http.call("POST", cm, {"metadata": {"name": "c"}}).status_code == 201
    ops = [{"op": "add", "path": f"/metadata/labels/l{i}", "value": "x"} for i in range(10001)]
    status_of(http.call("PATCH", cm + "/c", [{"op": "add", "path": "/metadata/labels", "value": {}}, *ops], JSONPATCH), 413, "RequestEntityTooLarge",
              "The allowed maximum operations in a JSON patch is 10000, got 10002")  # fmt: skip
    for ctype in (MERGE, "text/json", APPLY):
        status_of(http.call("POST", cm, {"metadata": {"name": "m"}}, content_type=ctype), 415, "UnsupportedMediaType")
    status_of(http.call("PUT", cm + "/c", {"metadata": {"name": "c"}}, content_type=JSONPATCH), 415, "UnsupportedMediaType")
    assert http.call("GET", cm + "/m").status_code == 404
    pod = _pod(http, namespace, "ev")
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "ev", "namespace": "default"}}
    mismatch = "the namespace of the provided object does not match the namespace sent on the request"
    status_of(http.call("POST", pod + "/eviction", eviction), 400, "BadRequest", mismatch)
    assert http.call("GET", pod).status_code == 200
    status_of(http.call("GET", pod + "/log", params={"sinceTime": "garbage"}), 400, "BadRequest", 'parsing time "garbage"')


def test_watch_flag_and_bearer_scheme_read_as_upstream_reads_them(sim, http, namespace, tmp_path):
    """`?watch=` is a watch for anything but 0/false, for RBAC as for the handler (a list-only user may not watch with
    watch=yes); the Authorization scheme is case-insensitive, and a doubled space leaves the token empty."""
    user = "w-" + uuid.uuid4().hex[:6]
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace
    rule = {"verbs": ["list"], "apiGroups": [""], "resources": ["configmaps"]}
    assert http.call("POST", rbac + "/roles", {"metadata": {"name": user}, "rules": [rule]}).status_code == 201
    subject = {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
    ref = {"kind": "Role", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
    assert http.call("POST", rbac + "/rolebindings", {"metadata": {"name": user}, "roleRef": ref, "subjects": [subject]}).status_code == 201
    kc = tmp_path / "kc"
    sim.add_user(user, kc)
    token = __import__("yaml").safe_load(kc.read_text())["users"][0]["user"]["token"]
    path = sim.server + f"{NS_PATH}/{namespace}/configmaps"

    def get(auth: str, **params) -> requests.Response:
        return requests.get(path, headers={"Authorization": auth}, params=params, timeout=10, verify=str(sim.ca_file))

    assert get(f"Bearer {token}").status_code == 200
    for flag in ("yes", "2", "on", "True"):
        status_of(get(f"Bearer {token}", watch=flag, timeoutSeconds="1"), 403, "Forbidden", "cannot watch resource")
    assert get(f"bearer {token}").status_code == 200
    assert get(f"Bearer  {token}").status_code == 401


def test_watch_list_with_send_initial_events_1_ends_its_initial_events(sim, namespace):
    params = {"watch": "1", "sendInitialEvents": "1", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
    resp = requests.get(sim.server + f"{NS_PATH}/{namespace}/configmaps", params=params, headers={"Authorization": f"Bearer {sim.token}"}, timeout=10,
                        verify=str(sim.ca_file))  # fmt: skip
    events = [json.loads(line) for line in resp.text.splitlines() if line]
    assert any(e["type"] == "BOOKMARK" and e["object"]["metadata"].get("annotations", {}).get("k8s.io/initial-events-end") == "true" for e in events), events


def test_undecodable_managed_fields_are_not_stored(http, namespace):
    """managedFields a typed client could not read (a bad time, an unknown fieldsType) are ignored and the live ones
    kept; entries of the same manager are one."""
    cm = f"{NS_PATH}/{namespace}/configmaps"
    assert http.call("POST", cm, {"metadata": {"name": "mf"}, "data": {"k": "v"}}).status_code == 201
    live = http.call("GET", cm + "/mf").json()["metadata"]["managedFields"]
    entry = {"manager": "evil", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}}
    for bad in ({"time": "not-a-time"}, {"fieldsType": "FieldsV2"}, {"apiVersion": ""}):
        resp = http.call("PATCH", cm + "/mf", {"metadata": {"managedFields": [{**entry, **bad}]}}, MERGE)
        assert resp.status_code == 200 and resp.json()["metadata"]["managedFields"] == live, resp.text
    twice = http.call("PATCH", cm + "/mf", {"metadata": {"managedFields": [entry, {**entry, "fieldsV1": {"f:data": {}}}]}}, MERGE)
    assert [e["manager"] for e in twice.json()["metadata"]["managedFields"]] == ["evil"], twice.text


def test_a_continued_list_is_the_snapshot_its_first_page_was_taken_from(http, namespace):
    """Pages after the first are read at the first one's resourceVersion (etcd's read at a revision): an object
    deleted since is still listed, one created since is not, one changed since is listed as it was; a watch from
    that version then brings every change, so a reflector misses none."""
    cm = f"{NS_PATH}/{namespace}/configmaps"
    for name in ("a", "b", "c"):
        assert http.call("POST", cm, {"metadata": {"name": name}, "data": {"v": "old"}}).status_code == 201
    first = http.call("GET", cm, params={"limit": "1"}).json()
    rv, token = first["metadata"]["resourceVersion"], first["metadata"]["continue"]
    assert [i["metadata"]["name"] for i in first["items"]] == ["a"]
    assert http.call("DELETE", cm + "/b").status_code == 200
    assert http.call("POST", cm, {"metadata": {"name": "bb"}}).status_code == 201
    assert http.call("PATCH", cm + "/c", {"data": {"v": "new"}}, MERGE).status_code == 200
    rest, items = token, []
    while rest:
        page = http.call("GET", cm, params={"limit": "1", "continue": rest}).json()
        assert page["metadata"]["resourceVersion"] == rv, page["metadata"]
        items += page["items"]
        rest = page["metadata"].get("continue")
    items = [i for i in items if i["metadata"]["name"] != "kube-root-ca.crt"]  # the root CA ConfigMap every namespace has
    assert [(i["metadata"]["name"], i["data"]["v"]) for i in items] == [("b", "old"), ("c", "old")]
    assert all(int(i["metadata"]["resourceVersion"]) <= int(rv) for i in items)
    selected = http.call("GET", cm, params={"limit": "5", "continue": token, "fieldSelector": "metadata.name=c"}).json()
    assert [i["data"]["v"] for i in selected["items"]] == ["old"], "selectors read the versions of then too"
    watched = requests.get(http.sim.server + cm, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"},
                           headers={"Authorization": f"Bearer {http.sim.token}"}, timeout=10, verify=str(http.sim.ca_file))  # fmt: skip
    events = [(e["type"], e["object"]["metadata"]["name"]) for e in map(json.loads, watched.text.splitlines())]
    assert events == [("DELETED", "b"), ("ADDED", "bb"), ("MODIFIED", "c")], events


def test_a_continue_token_from_the_future_is_not_served(http, namespace):
    cm = f"{NS_PATH}/{namespace}/configmaps"
    rv = int(list_rv(http, cm))
    token = base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": rv + 1000, "ns": namespace, "name": "a"}).encode()).decode().rstrip("=")
    status_of(http.call("GET", cm, params={"limit": "1", "continue": token}), 504, "Timeout", "Too large resource version")


def test_a_field_named_twice_is_refused_under_strict_and_warned_of_otherwise(http, namespace):
    cm = f"{NS_PATH}/{namespace}/configmaps"
    raw = b'{"metadata": {"name": "a", "name": "b"}, "data": {"k": "1", "k": "2"}}'
    strict = http.call("POST", cm, raw=raw, params={"fieldValidation": "Strict"})
    status_of(strict, 400, "BadRequest", 'strict decoding error: duplicate field "data.k", duplicate field "metadata.name"')
    assert http.call("GET", cm + "/b").status_code == 404
    warned = http.call("POST", cm, raw=raw)
    assert warned.status_code == 201 and warned.json()["metadata"]["name"] == "b" and warned.json()["data"] == {"k": "2"}, "the last value wins"
    assert warned.headers["Warning"] == '299 - "duplicate field \\"data.k\\"", 299 - "duplicate field \\"metadata.name\\""', warned.headers
    ignored = http.call("POST", cm, raw=raw.replace(b'"b"', b'"c"'), params={"fieldValidation": "Ignore"})
    assert ignored.status_code == 201 and "Warning" not in ignored.headers


DECODE = 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal '
QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"  # resource.ErrFormatWrong


def test_integer_fields_hold_integers_every_client_can_read(http, namespace):
    """A built-in kind's integer is decoded into a Go int64 or int32: a number beyond it or with a fraction is the
    decoder's 400, nothing stored. A custom resource's body is decoded as it is written: an integer beyond int64 (a
    float to Go) is no integer and is refused (422), an integral number written as 1e0 is the integer 1 (Go writes its
    float64 back so). (The simulator reads every body so, and a built-in kind's 3e1 is then 30 too, where Go's
    ParseInt refuses the literal.)"""
    pods = f"{NS_PATH}/{namespace}/pods"
    for i, number in enumerate((b"99999999999999999999999", b"1e23", b"-1e300", b"30.5")):
        raw = b'{"metadata": {"name": "big%d"}, "spec": {"terminationGracePeriodSeconds": %s, "containers": [{"name": "c", "image": "i"}]}}' % (i, number)
        status = status_of(http.call("POST", pods, raw=raw), 400, "BadRequest", DECODE + "number ")
        assert status["message"].endswith(" into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64"), status
        assert http.call("GET", f"{pods}/big{i}").status_code == 404
    assert "number 30.5 " in status["message"], status
    vmclass = b'{"metadata": {"name": "%s"}, "spec": {"cpu": {"type": "Discovery"}, "sizingPolicies": [{"cores": {"min": %s, "max": 4}}]}}'
    big = http.call("POST", VMCLASS, raw=vmclass % (b"big", b"99999999999999999999999"), params={"dryRun": "All"})
    status_of(big, 422, "Invalid", "spec.sizingPolicies[0].cores.min in body must be of type integer")
    created = http.call("POST", VMCLASS, raw=vmclass % (b"small", b"1e0"), params={"dryRun": "All"})
    assert created.status_code == 201 and created.json()["spec"]["sizingPolicies"][0]["cores"]["min"] == 1, created.text
    assert b'"min":1,' in created.content, created.text


def test_mistyped_bodies_are_refused_before_admission_reads_them(http, namespace):
    """A value of the wrong JSON type anywhere in a body never reaches the mutating hooks (which read fields by type,
    as the platform's webhooks decode them): a built-in kind's is the Go decoder's 400 on create and replace and a 422
    on the field `patch` on a patch, a server-side apply's a 400 from its typed conversion, a custom resource's the
    schema's 422. Every verb of every kind here once answered such bodies with a 500 from a hook."""
    pods, services = f"{NS_PATH}/{namespace}/pods", f"{NS_PATH}/{namespace}/services"
    vms = f"/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{namespace}/virtualmachines"
    status = status_of(http.call("POST", pods, {"metadata": {"name": "p"}, "spec": {"containers": "c"}}), 400, "BadRequest")
    assert status["message"] == DECODE + "string into Go struct field PodSpec.spec.containers of type []v1.Container"
    status = status_of(http.call("POST", services, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": True}]}}), 400, "BadRequest")
    assert status["message"].endswith("json: cannot unmarshal bool into Go value of type int32"), status
    # a null spec decodes as Go's zero value (not the decoder's 400): a ClusterIP Service without ports, which
    # ValidateService refuses
    status_of(http.call("POST", services, {"metadata": {"name": "s"}, "spec": None}), 422, "Invalid", 'Service "s" is invalid: spec.ports: Required value')
    created = http.call("POST", services, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    assert created.status_code == 201, created.text
    status = status_of(http.call("POST", vms, {"metadata": {"name": "v"}, "spec": ""}), 422, "Invalid")
    why = 'Invalid value: "string": spec in body must be of type object: "string"'
    assert status["details"]["causes"] == [{"reason": "FieldValueTypeInvalid", "message": why, "field": "spec"}]
    applied = http.call(
        "PATCH",
        f"{services}/s",
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ["http"]}},
        content_type="application/apply-patch+yaml",
        params={"fieldManager": "t"},
    )
    status_of(applied, 400, "BadRequest", f"failed to create typed patch object (/v1, Kind=Service) {namespace}/s: .spec.ports[0]: expected map, got string")
    patched = http.call("PATCH", f"{services}/s", {"spec": {"ports": 80}}, content_type="application/merge-patch+json")
    why = "json: cannot unmarshal number into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort"
    assert status_of(patched, 422, "Invalid")["message"] == f' "" is invalid: patch: Invalid value: "{{...}}": {why}', "the patched object's decoding"
    assert http.call("GET", f"{services}/s").json()["metadata"]["resourceVersion"] == created.json()["metadata"]["resourceVersion"], "nothing written"


def test_posted_reviews_and_subresources_decode_as_their_go_structs(http, namespace):
    """A review's or a subresource's body is decoded before its handler reads it: a value of the wrong JSON type is
    the decoder's 400 (two of these once reached a handler that answered with a 500)."""
    posts = {
        "/apis/authorization.k8s.io/v1/subjectaccessreviews": (
            {"spec": "s"},
            "SubjectAccessReview",
            "string into Go struct field SubjectAccessReview.spec of type v1.SubjectAccessReviewSpec",
        ),
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews": (
            {"spec": 7},
            "SelfSubjectRulesReview",
            "number into Go struct field SelfSubjectRulesReview.spec of type v1.SelfSubjectRulesReviewSpec",
        ),
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews": (
            {"spec": {"resourceAttributes": {"verb": 7}}},
            "SelfSubjectAccessReview",
            "number into Go struct field ResourceAttributes.spec.resourceAttributes.verb of type string",
        ),
        f"{NS_PATH}/{namespace}/pods/nobody/eviction": (
            {"metadata": {"name": "nobody"}, "deleteOptions": {"gracePeriodSeconds": "0"}},
            "Eviction",
            "string into Go struct field DeleteOptions.deleteOptions.gracePeriodSeconds of type int64",
        ),
        f"{NS_PATH}/{namespace}/serviceaccounts/default/token": (
            {"spec": {"expirationSeconds": "3600"}},
            "TokenRequest",
            "string into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64",
        ),
    }
    for path, (body, kind, why) in posts.items():
        status = status_of(http.call("POST", path, body), 400, "BadRequest")
        assert status["message"] == f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal {why}', status


def test_a_built_in_kinds_quantities_are_decoded_and_written_back_canonical(http, namespace):
    """resource.Quantity takes a JSON number as well as a string (`cpu: 0.5` in YAML) and is written back in its
    canonical form, as kube-apiserver writes it."""
    pods = f"{NS_PATH}/{namespace}/pods"
    resources = {"limits": {"cpu": 0.5, "memory": 1073741824}, "requests": {"memory": "1024Mi"}}
    body = {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "i", "resources": resources}]}}
    created = http.call("POST", pods, body, params={"dryRun": "All"})
    assert created.status_code == 201, created.text
    written = created.json()["spec"]["containers"][0]["resources"]
    assert written == {"limits": {"cpu": "500m", "memory": "1073741824"}, "requests": {"cpu": "500m", "memory": "1Gi"}}, "requests default to limits"
    body["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "half"
    status = status_of(http.call("POST", pods, body), 400, "BadRequest")
    assert status["message"] == 'Pod in version "v1" cannot be handled as a Pod: ' + QUANTITY_FORMAT


def test_health_endpoints_answer_as_kube_apiservers(sim):
    verbose = sim.kubectl("get", "--raw", "/readyz?verbose").stdout
    assert verbose.splitlines()[0] == "[+]ping ok" and verbose.rstrip().endswith("readyz check passed"), verbose
    assert sim.kubectl("get", "--raw", "/livez/ping").stdout == "ok"
    assert "[+]etcd excluded: ok" in sim.kubectl("get", "--raw", "/healthz?verbose&exclude=etcd").stdout
    assert "NotFound" in sim.kubectl("get", "--raw", "/readyz/no-such-check", check=False).stderr


def test_odd_request_targets_are_a_404_not_an_internal_error(sim):
    for head in (b"CONNECT 127.0.0.1:443 HTTP/1.1", b"OPTIONS * HTTP/1.1"):
        answer = _raw_exchange(sim, head + b"\r\nHost: x\r\nAuthorization: Bearer " + sim.token.encode() + b"\r\nContent-Length: 0\r\n\r\n", b"", False)
        assert answer.startswith(b"HTTP/1.1 404"), answer[:200]


def _raw_exchange(sim, head: bytes, body: bytes, close_early: bool) -> bytes:
    """Send head and body over TLS on a socket of its own; what the server answered ("" when the client hung up)."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    url = urlsplit(sim.server)
    tls = ssl.create_default_context(cafile=str(sim.ca_file))
    with socket.create_connection((url.hostname, url.port), timeout=10) as plain, tls.wrap_socket(plain, server_hostname=url.hostname) as conn:
        conn.sendall(head + body)
        if close_early:
            return b""
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_body_cut_short_or_badly_chunked_is_a_400_and_no_traceback(sim, http):
    """A client that hangs up before its announced body ended, and a chunked body with a malformed chunk size: the
    request is refused (400 where the client is still there to read it), nothing is written, and the log stays
    clean (test_the_log_has_no_traceback, next)."""
    name = "cut-" + uuid.uuid4().hex[:6]
    path = secret_path("default").encode()
    auth = f"Authorization: Bearer {sim.token}\r\n".encode()
    body = json.dumps({"metadata": {"name": name}}).encode()
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    _raw_exchange(sim, head, body[:10], close_early=True)
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _raw_exchange(sim, head, b"ZZ\r\n" + body + b"\r\n0\r\n\r\n", close_early=False)
    assert answer.split(b" ")[1] == b"400", answer[:200]
    assert http.call("GET", secret_path("default", name)).status_code == 404


def test_the_log_has_no_traceback(sim, http):
    assert http.call("GET", "/healthz").status_code == 200
    log = (sim.state_dir / "server.log").read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]


def test_state_files_are_private(sim):
    assert stat.S_IMODE(sim.state_dir.stat().st_mode) == 0o700
    private = [
        sim.state_dir / "store.sqlite",
        sim.state_dir / "pki" / "token",
        sim.state_dir / "pki" / "server.key",
        sim.state_dir / "pki" / "ca.key",
        sim.kubeconfig,
    ]
    private += [p for p in (sim.state_dir / "store.sqlite-wal", sim.state_dir / "store.sqlite-shm") if p.exists()]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((sim.state_dir / "dvcr").stat().st_mode) == 0o700


@pytest.mark.parametrize("fields", [{"status": None}, {"spec": None}, {"status": None, "spec": None, "metadata_labels": None},
                                    {"spec": {"finalizers": ["example.com/keep"]}}])  # fmt: skip
def test_a_namespace_with_null_parts_is_created_as_upstream_prepares_it(http, fields):
    """Namespace PrepareForCreate: the status replaced (phase Active), the kubernetes finalizer added to those given,
    the name label set; null parts are a client's zero values, never a 500 (found by the fuzz test)."""
    name = "null-" + uuid.uuid4().hex[:6]
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, **{k: val for k, val in fields.items() if k != "metadata_labels"}}
    if "metadata_labels" in fields:
        body["metadata"]["labels"] = None
    resp = http.call("POST", "/api/v1/namespaces", body)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["status"] == {"phase": "Active"} and "kubernetes" in created["spec"]["finalizers"], created
    assert created["metadata"]["labels"]["kubernetes.io/metadata.name"] == name
    if "spec" in fields and fields["spec"]:
        assert created["spec"]["finalizers"] == ["example.com/keep", "kubernetes"]


def test_a_namespace_whose_status_is_a_list_is_a_4xx(http):
    resp = http.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bad-status"}, "status": []})
    assert 400 <= resp.status_code < 500, resp.text


def test_a_watcher_that_stops_reading_is_cut_off_not_buffered(sim, http, namespace):
    """A client that opens a watch and stops reading while a 1 MiB ConfigMap is rewritten 80 times: the server cuts
    its watch off (the events it holds for a client are bounded in bytes, store.MAX_QUEUED_BYTES), as kube-apiserver
    terminates a watcher that cannot keep up, instead of keeping every version alive for it; once the client reads
    again, its stream ends early and a new watch works."""
    import socket
    import ssl
    from urllib.parse import urlparse

    cms = f"{NS_PATH}/{namespace}/configmaps"
    url = urlparse(sim.server)
    raw = socket.create_connection((url.hostname, url.port), timeout=30)
    tls = ssl.create_default_context(cafile=str(sim.ca_file)).wrap_socket(raw, server_hostname=url.hostname)
    request = f"GET {cms}?watch=true&timeoutSeconds=300 HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {sim.token}\r\n\r\n"
    tls.sendall(request.encode())
    updates = 80  # 80 MiB: past the bound with what the kernel's socket buffers hold besides
    for i in range(updates):
        body = {"metadata": {"name": "big"}, "data": {"d": str(i % 10) * 2**20}}
        resp = http.call("PUT" if i else "POST", cms + ("/big" if i else ""), body)
        assert resp.status_code in (200, 201), resp.text[:300]
    received = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not received.endswith(b"\r\n0\r\n\r\n"):  # the chunked body's end
        chunk = tls.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    tls.close()
    events_seen = received.count(b'"type":')
    assert received.endswith(b"\r\n0\r\n\r\n"), f"the watch was not ended: {len(received)} bytes, {events_seen} events"
    events = received.count(b'{"type":"ADDED"') + received.count(b'{"type":"MODIFIED"')
    assert 0 < events < updates, f"{events} of {updates} events sent before the cut"
    again = http.call("GET", cms, params={"watch": "true", "timeoutSeconds": "1"})
    assert again.status_code == 200 and b'"type":"ADDED"' in again.content, "a new watch starts with the object"
