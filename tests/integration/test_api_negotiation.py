"""What the simulator's API answers in, and in which words, against a live simulator over HTTPS as kube-apiserver 1.33
does it: Accept negotiation (YAML, 406 NotAcceptable, PartialObjectMetadata(List) for the metadata clients, Tables of
either meta.k8s.io version, a watch's stream serializers), undecodable bodies, forged continue tokens and failed JSON
patch tests in upstream's words (no Python parser text), and metadata.generation only on the kinds whose registry
strategy keeps one. Raw requests (`requests`), the kubernetes Python client's dynamic client, and kubectl."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests
import yaml
from kubernetes import client, dynamic

CMS = "/api/v1/namespaces/{ns}/configmaps"
ROOT_CA = "kube-root-ca.crt"  # the ConfigMap every namespace has (the root-ca-cert-publisher's)
NOT_ROOT_CA = {"fieldSelector": f"metadata.name!={ROOT_CA}"}
VMCLASS = "/apis/virtualization.deckhouse.io/v1alpha2/virtualmachineclasses"
YAML = "application/yaml"
POM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
POML = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
ACCEPTED = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
ACCEPTED_WATCH = "only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch"
PYTHON_WORDS = ("Expecting", "line 1 column", "char 0", "codec can't", "<class", "JSONDecodeError", "Traceback")


class Raw:
    """HTTPS to the simulator with the kubeconfig's token and CA, every header as the test sets it."""

    def __init__(self, sim):
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.token}"

    def call(self, method: str, path: str, accept: str | None = None, body=None, raw: bytes | None = None, ctype: str = "application/json", params=None):
        headers = {} if accept is None else {"Accept": accept}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = ctype
        return self.session.request(method, self.sim.server + path, data=data, headers=headers, params=params, timeout=30, verify=str(self.sim.ca_file))


@pytest.fixture(scope="module")
def http(sim):
    return Raw(sim)


def status_of(resp: requests.Response, code: int, reason: str | None, message: str) -> dict:
    """A JSON Status with this code, reason (None: none at all) and exactly this message."""
    assert resp.status_code == code, resp.text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    status = resp.json()
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["code"] == code, status
    assert status.get("reason") == reason, status
    assert status["message"] == message, status["message"]
    assert not any(word in message for word in PYTHON_WORDS), message
    return status


def make_cm(http, ns: str, name: str, **extra) -> dict:
    resp = http.call("POST", CMS.format(ns=ns), body={"metadata": {"name": name, **extra.pop("metadata", {})}, "data": {"a": "b"}, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def make_vmclass(http) -> str:
    name = "neg-" + uuid.uuid4().hex[:6]
    resp = http.call("POST", VMCLASS, body={"metadata": {"name": name}, "spec": {"cpu": {"type": "Host"}}})
    assert resp.status_code == 201, resp.text
    return name


# -- YAML -----------------------------------------------------------------------------------------------------------
def test_yaml_is_served_for_get_list_and_status_errors(http, namespace):
    make_cm(http, namespace, "y1", metadata={"labels": {"n": "123"}})
    path = CMS.format(ns=namespace)
    as_json = http.call("GET", f"{path}/y1").json()
    got = http.call("GET", f"{path}/y1", accept=YAML)
    assert got.status_code == 200 and got.headers["Content-Type"] == YAML, got.headers
    assert yaml.safe_load(got.text) == as_json
    # as go-yaml writes it: what plain would read as another type double-quoted, keys sorted, no JSON braces
    assert 'creationTimestamp: "' in got.text and 'n: "123"' in got.text and not got.text.lstrip().startswith("{")
    assert got.text.index("apiVersion:") < got.text.index("data:") < got.text.index("kind:") < got.text.index("metadata:")
    listed = http.call("GET", path, accept=YAML)
    assert listed.headers["Content-Type"] == YAML and yaml.safe_load(listed.text)["kind"] == "ConfigMapList"
    # a custom resource too, and a Status error
    name = make_vmclass(http)
    cr = http.call("GET", f"{VMCLASS}/{name}", accept="application/yaml, application/json")
    assert cr.headers["Content-Type"] == YAML and yaml.safe_load(cr.text)["metadata"]["name"] == name
    missing = http.call("GET", f"{path}/nope", accept=YAML)
    assert missing.status_code == 404 and missing.headers["Content-Type"] == YAML
    assert yaml.safe_load(missing.text) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps", "group": ""},
        "code": 404,
    }
    # a write's answer, in YAML too
    created = http.call("POST", path, accept=YAML, body={"metadata": {"name": "y2"}})
    assert created.status_code == 201 and created.headers["Content-Type"] == YAML and yaml.safe_load(created.text)["metadata"]["name"] == "y2"


def test_a_long_list_in_yaml_is_whole(http, namespace):
    """More items than one streamed chunk of a JSON LIST: the YAML is one document of all of them."""
    path = CMS.format(ns=namespace)
    for i in range(105):
        assert http.call("POST", path, body={"metadata": {"name": f"c{i:03d}"}}).status_code == 201
    resp = http.call("GET", path, accept=YAML)
    assert resp.headers["Content-Type"] == YAML and resp.text.startswith("apiVersion: v1\nitems:\n"), resp.text[:200]
    listed = yaml.safe_load(resp.text)
    assert [i["metadata"]["name"] for i in listed["items"]] == [f"c{i:03d}" for i in range(105)] + [ROOT_CA]
    assert http.call("GET", path).json()["items"] == listed["items"]


# -- 406 and what is accepted ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "text/*",
        "image/png, text/plain;q=0.9",
        "application/json;as=Table",
        "application/json;as=Frobnicated;g=meta.k8s.io;v=v1",
        "application/xml",
    ],
)
def test_an_accept_nothing_satisfies_is_406(http, namespace, accept):
    path = CMS.format(ns=namespace)
    make_cm(http, namespace, "there")
    status_of(http.call("GET", f"{path}/there", accept=accept), 406, "NotAcceptable", ACCEPTED)
    status_of(http.call("GET", path, accept=accept), 406, "NotAcceptable", ACCEPTED)
    status_of(http.call("GET", VMCLASS, accept=accept), 406, "NotAcceptable", ACCEPTED)
    # refused before anything is written
    status_of(http.call("POST", path, accept=accept, body={"metadata": {"name": "never"}}), 406, "NotAcceptable", ACCEPTED)
    assert http.call("GET", f"{path}/never").status_code == 404


@pytest.mark.parametrize(
    "accept, media",
    [
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("*", "application/json"),
        ("text/html, application/json", "application/json"),
        ("application/yaml;q=0.5, application/json", "application/json"),
        ("application/json;q=0.5, application/yaml", YAML),
        ("text/html, */*;q=0.1", "application/json"),
        ("application/vnd.kubernetes.protobuf, */*", "application/json"),
        ("application/vnd.kubernetes.protobuf", "application/json"),  # protobuf is written as JSON
        ("application/json;stream=watch", "application/json"),
    ],
)
def test_accepted_media_types(http, namespace, accept, media):
    make_cm(http, namespace, "m")
    resp = http.call("GET", CMS.format(ns=namespace) + "/m", accept=accept)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == media, (resp.status_code, resp.headers, resp.text)
    assert (resp.json() if media != YAML else yaml.safe_load(resp.text))["metadata"]["name"] == "m"
    # no Accept at all: JSON
    assert http.call("GET", CMS.format(ns=namespace) + "/m").headers["Content-Type"] == "application/json"


def test_protobuf_alone_is_406_for_custom_resources_only(http):
    """A custom resource's objects have no protobuf form (its StandardSerializers are JSON and YAML)."""
    name = make_vmclass(http)
    status_of(http.call("GET", f"{VMCLASS}/{name}", accept="application/vnd.kubernetes.protobuf"), 406, "NotAcceptable", ACCEPTED)
    assert http.call("GET", f"{VMCLASS}/{name}", accept="application/vnd.kubernetes.protobuf, application/json").status_code == 200
    # ... but its PartialObjectMetadata is asked for in protobuf first by the metadata clients
    resp = http.call("GET", f"{VMCLASS}/{name}", accept="application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
    assert resp.status_code == 200 and resp.json()["kind"] == "PartialObjectMetadata"


def test_a_watch_cannot_be_yaml(http, namespace):
    path = CMS.format(ns=namespace)
    params = {"watch": "1", "timeoutSeconds": "1"}
    resp = http.call("GET", path, accept=YAML, params=params)
    assert resp.status_code == 406 and resp.headers["Content-Type"] == YAML, resp.text  # the Status in YAML
    assert yaml.safe_load(resp.text)["message"] == ACCEPTED_WATCH
    # the first clause that qualifies wins, even without a stream serializer (no fallback to a later one)
    assert yaml.safe_load(http.call("GET", path, accept="application/yaml, application/json", params=params).text)["code"] == 406
    status_of(http.call("GET", path, accept="text/html", params=params), 406, "NotAcceptable", ACCEPTED)
    for accept in ("application/json, application/yaml", "application/json;stream=watch;q=0.5, text/html", "application/vnd.kubernetes.protobuf;stream=watch"):
        ok = http.call("GET", path, accept=accept, params=params)
        assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/json", (accept, ok.text)


# -- PartialObjectMetadata ------------------------------------------------------------------------------------------
def test_partial_object_metadata_get_list_and_watch(http, namespace):
    first = make_cm(http, namespace, "p1", metadata={"labels": {"k": "v"}})
    make_cm(http, namespace, "p2")
    path = CMS.format(ns=namespace)
    got = http.call("GET", f"{path}/p1", accept=POM)
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/json"
    assert got.json() == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": first["metadata"]}
    assert got.json()["metadata"]["managedFields"], "the whole ObjectMeta, managedFields included"
    page = http.call("GET", path, accept=POML, params={"limit": "1", **NOT_ROOT_CA}).json()
    assert page["kind"] == "PartialObjectMetadataList" and page["apiVersion"] == "meta.k8s.io/v1"
    assert page["metadata"]["continue"] and "remainingItemCount" not in page["metadata"], "not counted under a selector, as upstream"
    assert page["items"] == [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": first["metadata"]}]
    rest = http.call("GET", path, accept=POML, params={"limit": "1", "continue": page["metadata"]["continue"], **NOT_ROOT_CA}).json()
    assert [i["metadata"]["name"] for i in rest["items"]] == ["p2"] and "data" not in rest["items"][0]
    # the other shape: 406 after the read, as upstream's transformResponseObject (no fallback to a later clause)
    status_of(
        http.call("GET", f"{path}/p1", accept=POML + ",application/json"),
        406,
        "NotAcceptable",
        "you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)",
    )
    wanted_one = "you requested PartialObjectMetadata, but the requested object is a list"
    status_of(http.call("GET", path, accept=POM), 406, "NotAcceptable", f"{wanted_one} (*core.ConfigMapList)")
    name = make_vmclass(http)
    status_of(http.call("GET", VMCLASS, accept=POM), 406, "NotAcceptable", f"{wanted_one} (*unstructured.UnstructuredList)")
    assert http.call("GET", f"{VMCLASS}/{name}", accept=POM).json()["metadata"]["name"] == name
    # a watch sends PartialObjectMetadata objects
    with http.session.get(
        http.sim.server + path,
        params={"watch": "1", "timeoutSeconds": "1", **NOT_ROOT_CA},
        headers={"Accept": POM},
        stream=True,
        timeout=30,
        verify=str(http.sim.ca_file),
    ) as resp:
        events = [json.loads(line) for line in resp.iter_lines() if line]
    assert {(e["type"], e["object"]["kind"], e["object"]["apiVersion"]) for e in events} == {("ADDED", "PartialObjectMetadata", "meta.k8s.io/v1")}
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["p1", "p2"]
    # a write answers in it too
    created = http.call("POST", path, accept=POM, body={"metadata": {"name": "p3"}, "data": {"secret-ish": "x"}})
    assert created.status_code == 201 and created.json()["kind"] == "PartialObjectMetadata" and "data" not in created.json()
    assert http.call("GET", f"{path}/p3").json()["data"] == {"secret-ish": "x"}


def test_the_python_clients_metadata_requests(api, namespace):
    """The kubernetes client's dynamic client asks for PartialObjectMetadataList as its metadata-only LIST."""
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "meta-only"}, "data": {"k": "v"}})
    configmaps = dynamic.DynamicClient(api).resources.get(api_version="v1", kind="ConfigMap")
    listed = configmaps.get(namespace=namespace, header_params={"Accept": POML})
    assert listed.kind == "PartialObjectMetadataList" and [i.metadata.name for i in listed.items] == [ROOT_CA, "meta-only"]
    one = configmaps.get(namespace=namespace, name="meta-only", header_params={"Accept": POM})
    assert one.kind == "PartialObjectMetadata" and one.metadata.name == "meta-only" and "data" not in one.to_dict()


# -- Tables ---------------------------------------------------------------------------------------------------------
def test_tables_in_either_meta_version_and_in_yaml(http, namespace):
    make_cm(http, namespace, "t1")
    path = CMS.format(ns=namespace)
    v1 = http.call("GET", path, accept=TABLE).json()
    assert v1["kind"] == "Table" and v1["apiVersion"] == "meta.k8s.io/v1" and v1["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1"
    beta = http.call("GET", path, accept="application/json;as=Table;v=v1beta1;g=meta.k8s.io").json()
    assert beta["kind"] == "Table" and beta["apiVersion"] == "meta.k8s.io/v1beta1" and beta["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    as_yaml = http.call("GET", f"{path}/t1", accept="application/yaml;as=Table;v=v1;g=meta.k8s.io")
    assert as_yaml.headers["Content-Type"] == YAML and yaml.safe_load(as_yaml.text)["rows"][0]["cells"][0] == "t1"
    # a Table has no protobuf form: that clause is skipped
    status_of(http.call("GET", path, accept="application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"), 406, "NotAcceptable", ACCEPTED)
    created = http.call("POST", path, accept=TABLE, body={"metadata": {"name": "t2"}})
    assert created.status_code == 201 and created.json()["kind"] == "Table" and created.json()["rows"][0]["cells"][0] == "t2"


def test_kubectl_still_reads_and_writes(sim, namespace):
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kc", "namespace": namespace}, "data": {"a": "b"}})
    sim.kubectl("apply", "-f", "-", input=manifest)
    assert "kc" in sim.kubectl("get", "configmaps", "-n", namespace).stdout
    assert yaml.safe_load(sim.kubectl("get", "configmap", "kc", "-n", namespace, "-o", "yaml").stdout)["data"] == {"a": "b"}
    assert sim.kubectl("get", "configmaps", "-n", namespace, "-o", "name").stdout.split() == ["configmap/kc", f"configmap/{ROOT_CA}"]
    assert "Name:         kc" in sim.kubectl("describe", "configmap", "kc", "-n", namespace).stdout
    edited = sim.kubectl("edit", "configmap", "kc", "-n", namespace, check=False, timeout=60)
    assert edited.returncode == 0 or "Edit cancelled" in edited.stderr + edited.stdout, edited.stderr
    assert "NAME" in sim.kubectl("get", "vmclass").stdout
    watched = sim.kubectl("get", "configmaps", "-n", namespace, "--watch", "--request-timeout=2s", check=False)
    assert "kc" in watched.stdout, watched.stderr


@pytest.fixture(autouse=True)
def _no_editor(monkeypatch):
    monkeypatch.setenv("KUBE_EDITOR", "true")


# -- bodies kube-apiserver cannot decode ----------------------------------------------------------------------------
MERGE, JSONPATCH, SMP = "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PARSE = "couldn't get version/kind; json parse error: "
CM_KIND = "the object provided is unrecognized (must be of type ConfigMap): " + PARSE
REJECTED = "the server rejected our request due to an error in our request"


JS = "application/json"
KEY = "looking for beginning of object key string"


@pytest.mark.parametrize(
    "method, name, ctype, params, body, code, reason, message",
    [
        ("POST", "", JS, {}, b"{bad", 400, "BadRequest", CM_KIND + f"invalid character 'b' {KEY} ({{bad)"),
        ("POST", "", JS, {}, b"", 400, "BadRequest", CM_KIND + "unexpected end of JSON input (<empty>)"),
        ("POST", "", JS, {}, b'{"a": 1} x', 400, "BadRequest", CM_KIND + "invalid character 'x' after top-level value ({\"a\": 1} x)"),
        ("POST", "", JS, {}, b"\xef\xbb\xbf{}", 400, "BadRequest", CM_KIND + "invalid character 'ï' looking for beginning of value (efbbbf7b7d)"),
        ("PUT", "x", JS, {}, b"not json", 400, "BadRequest", CM_KIND + "invalid character 'o' in literal null (expecting 'u') (6e6f74206a736f6e)"),
        ("PUT", "x", JS, {}, b'{"a": "\x01"}', 400, "BadRequest", CM_KIND + 'invalid character \'\\x01\' in string literal ({"a": "\x01"})'),
        ("PATCH", "x", MERGE, {}, b"{x", 400, "BadRequest", f"error decoding patch: invalid character 'x' {KEY}"),
        ("PATCH", "x", MERGE, {"fieldValidation": "Ignore"}, b"{x", 400, "BadRequest", "Invalid JSON Patch"),
        ("PATCH", "x", JSONPATCH, {}, b"[{]", 400, "BadRequest", f"error decoding patch: invalid character ']' {KEY}"),
        ("PATCH", "x", JSONPATCH, {"fieldValidation": "Ignore"}, b"[1,", 400, "BadRequest", "unexpected end of JSON input"),
        ("PATCH", "x", SMP, {}, b"{1: 2}", 400, "BadRequest", f"invalid character '1' {KEY}"),
        ("PATCH", "x", MERGE, {}, b"", 400, "BadRequest", "error decoding patch: unexpected end of JSON input"),
        ("DELETE", "x", JS, {}, b"{oops", 500, None, PARSE + f"invalid character 'o' {KEY}"),
    ],
)
def test_undecodable_bodies_are_worded_as_upstream(http, namespace, method, name, ctype, params, body, code, reason, message):
    make_cm(http, namespace, "x")
    before = http.call("GET", CMS.format(ns=namespace) + "/x").json()
    path = CMS.format(ns=namespace) + (f"/{name}" if name else "")
    status_of(http.call(method, path, raw=body, ctype=ctype, params=params), code, reason, message)
    assert http.call("GET", CMS.format(ns=namespace) + "/x").json() == before, "nothing written"


def test_undecodable_bodies_of_other_endpoints(http, namespace):
    """A custom resource, a subresource and a review say the kind they decode into; an apply patch is YAML's."""
    status_of(
        http.call("POST", VMCLASS, raw=b'{"a": tru}'),
        400,
        "BadRequest",
        "the object provided is unrecognized (must be of type VirtualMachineClass): " + PARSE + "invalid character '}' in literal true (expecting 'e') "
        '({"a": tru})',
    )
    status_of(
        http.call("POST", f"/api/v1/namespaces/{namespace}/pods/any/eviction", raw=b"{"),
        400,
        "BadRequest",
        "the object provided is unrecognized (must be of type Eviction): " + PARSE + "unexpected end of JSON input ({)",
    )
    status_of(
        http.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", raw=b"-"),
        400,
        "BadRequest",
        "the object provided is unrecognized (must be of type SelfSubjectAccessReview): " + PARSE + "invalid character ' ' in numeric literal (2d)",
    )
    make_cm(http, namespace, "ap")
    resp = http.call("PATCH", CMS.format(ns=namespace) + "/ap", raw=b"{x: [}", ctype=APPLY, params={"fieldManager": "t"})
    assert resp.status_code == 400 and resp.json()["message"].startswith("error decoding YAML: error converting YAML to JSON: yaml: line 1: "), resp.text


def test_a_body_that_is_not_utf8_is_read_as_go_reads_it(http, namespace):
    """Go's decoder takes a byte sequence that is not UTF-8 inside a string as U+FFFD; Python's would refuse it."""
    resp = http.call("POST", CMS.format(ns=namespace), raw=b'{"metadata": {"name": "latin"}, "data": {"k": "caf\xe9"}}')
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"] == {"k": "caf\ufffd"}


# -- continue tokens ------------------------------------------------------------------------------------------------
UNMARSHAL_RV = "json: cannot unmarshal number 1.5 into Go struct field continueToken.rv of type int64"


def token(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "value, why",
    [
        ("garbage", "invalid character '\\u0081' looking for beginning of value"),
        ("%%%", "illegal base64 data at input byte 0"),
        ("abcde", "illegal base64 data at input byte 4"),
        (base64.urlsafe_b64encode(b"{").decode(), "unexpected end of JSON input"),
        (token({"v": "meta.k8s.io/v2", "rv": 5, "ns": "", "name": "a"}), "server does not recognize this encoded version meta.k8s.io/v2"),
        (token({"v": "meta.k8s.io/v1", "rv": 1.5, "ns": "", "name": "a"}), UNMARSHAL_RV),
        (token({"v": "meta.k8s.io/v1", "rv": 0, "ns": "", "name": "a"}), "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"),
        (token({"v": "meta.k8s.io/v1", "rv": 5, "ns": "", "name": ""}), "encoded start key empty (version meta.k8s.io/v1)"),
    ],
)
def test_forged_continue_tokens(http, namespace, value, why):
    path, message = CMS.format(ns=namespace), f"invalid continue token: continue key is not valid: {why}"
    status_of(http.call("GET", path, params={"continue": value}), 400, "BadRequest", message)
    # the token is read before the resourceVersion that may not come with it (storage.ValidateListOptions)
    status_of(http.call("GET", path, params={"continue": value, "resourceVersion": "7"}), 400, "BadRequest", message)


def test_continue_tokens_page_as_before(http, namespace):
    for name in ("a", "b", "c"):
        make_cm(http, namespace, name)
    path = CMS.format(ns=namespace)
    names, params = [], {"limit": "1"}
    while True:
        page = http.call("GET", path, params=params).json()
        names += [i["metadata"]["name"] for i in page["items"]]
        if not page["metadata"].get("continue"):
            break
        assert "=" not in page["metadata"]["continue"], "RawURLEncoding, as upstream's tokens"
        params = {"limit": "1", "continue": page["metadata"]["continue"]}
    assert names == ["a", "b", "c", ROOT_CA]
    rv = int(page["metadata"]["resourceVersion"])
    padded = base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "ns": namespace, "name": "a"}).encode())
    assert [i["metadata"]["name"] for i in http.call("GET", path, params={"continue": padded.decode()}).json()["items"]] == ["b", "c", ROOT_CA], "earlier"


# -- JSON patch test operations -------------------------------------------------------------------------------------
def test_a_failed_json_patch_test_is_422_with_upstreams_words(sim, http, namespace):
    make_cm(http, namespace, "jp")
    path = CMS.format(ns=namespace) + "/jp"
    before = http.call("GET", path).json()
    for ops in (
        [{"op": "test", "path": "/data/a", "value": "zz"}, {"op": "replace", "path": "/data/a", "value": "c"}],
        [{"op": "test", "path": "/data/missing/deeper", "value": 1}],
        [{"op": "remove", "path": "/data/nothing"}],
        [{"op": "bogus", "path": "/data"}],
    ):
        status = status_of(http.call("PATCH", path, body=ops, ctype=JSONPATCH), 422, "Invalid", REJECTED)
        assert status["details"] == {}, status
    assert http.call("GET", path).json() == before
    ops = [{"op": "test", "path": "/data/a", "value": "b"}, {"op": "replace", "path": "/data/a", "value": "c"}]
    passed = http.call("PATCH", path, body=ops, ctype=JSONPATCH)
    assert passed.status_code == 200 and passed.json()["data"] == {"a": "c"}
    out = sim.kubectl("patch", "configmap", "jp", "-n", namespace, "--type=json", "-p", '[{"op":"test","path":"/data/a","value":"nope"}]', check=False)
    assert out.returncode != 0 and REJECTED in out.stderr, out.stderr


# -- metadata.generation --------------------------------------------------------------------------------------------
def test_generation_only_on_kinds_whose_strategy_keeps_one(http, namespace):
    ns_path = f"/api/v1/namespaces/{namespace}"
    assert "generation" not in http.call("GET", ns_path).json()["metadata"]
    cm = make_cm(http, namespace, "g1")
    assert "generation" not in cm["metadata"]
    changed = http.call("PATCH", CMS.format(ns=namespace) + "/g1", body={"data": {"a": "changed"}}, ctype=MERGE).json()
    assert changed["data"] == {"a": "changed"} and "generation" not in changed["metadata"]
    for path, body in (
        (f"{ns_path}/secrets", {"metadata": {"name": "g"}, "stringData": {"a": "b"}}),
        (f"{ns_path}/services", {"metadata": {"name": "g"}, "spec": {"ports": [{"port": 80}]}}),
        (f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", {"metadata": {"name": "g"}, "spec": {"holderIdentity": "x"}}),
        (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles", {"metadata": {"name": "g"}, "rules": []}),
    ):
        resp = http.call("POST", path, body=body)
        assert resp.status_code == 201 and "generation" not in resp.json()["metadata"], (path, resp.text)
    # a client's own value on such a kind is kept as sent on create, and never changes after
    kept = make_cm(http, namespace, "g2", metadata={"generation": 5})
    assert kept["metadata"]["generation"] == 5
    again = http.call("PATCH", CMS.format(ns=namespace) + "/g2", body={"metadata": {"generation": 9}, "data": {"a": "x"}}, ctype=MERGE).json()
    assert again["metadata"]["generation"] == 5 and again["data"] == {"a": "x"}
    status_of(
        http.call("POST", CMS.format(ns=namespace), body={"metadata": {"name": "g3", "generation": -1}}),
        422,
        "Invalid",
        'ConfigMap "g3" is invalid: metadata.generation: Invalid value: -1: must be greater than or equal to 0',
    )


def test_generation_on_pods_budgets_and_custom_resources(http, namespace):
    pods = f"/api/v1/namespaces/{namespace}/pods"
    pod = http.call("POST", pods, body={"metadata": {"name": "g", "generation": 7}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert pod.status_code == 201 and pod.json()["metadata"]["generation"] == 1, pod.text  # 1.33: set, a client's value overridden
    labelled = http.call("PATCH", f"{pods}/g", body={"metadata": {"labels": {"x": "y"}}}, ctype=MERGE).json()
    assert labelled["metadata"]["generation"] == 1, "metadata is not the spec"
    bumped = http.call("PATCH", f"{pods}/g", body={"spec": {"activeDeadlineSeconds": 60}}, ctype=MERGE).json()
    assert bumped["metadata"]["generation"] == 2
    pdbs = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
    pdb = http.call("POST", pdbs, body={"metadata": {"name": "g"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}})
    assert pdb.status_code == 201 and pdb.json()["metadata"]["generation"] == 1, pdb.text
    assert http.call("PATCH", f"{pdbs}/g", body={"spec": {"minAvailable": 2}}, ctype=MERGE).json()["metadata"]["generation"] == 2
    name = make_vmclass(http)
    assert http.call("GET", f"{VMCLASS}/{name}").json()["metadata"]["generation"] == 1
    crd = http.call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/virtualmachines.virtualization.deckhouse.io").json()
    assert crd["metadata"]["generation"] >= 1


def test_marking_an_object_deleting_bumps_its_generation(http, namespace):
    """An object kept by a finalizer is only marked deleting, and that bumps its generation (store.go markAsDeleting);
    a kind without a generation gets none."""
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    pdbs = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
    body = {"metadata": {"name": "kept", "finalizers": ["example.com/hold"]}}
    assert http.call("POST", pdbs, body={**body, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}}).status_code == 201
    assert http.call("POST", cms, body=body).status_code == 201
    dry = http.call("DELETE", f"{pdbs}/kept", params={"dryRun": "All"})
    assert dry.status_code == 200 and http.call("GET", f"{pdbs}/kept").json()["metadata"]["generation"] == 1, "a dry run changes nothing"
    for path, generation in ((f"{pdbs}/kept", 2), (f"{cms}/kept", None)):
        deleting = http.call("DELETE", path)
        assert deleting.status_code == 200, deleting.text
        meta = http.call("GET", path).json()["metadata"]
        assert meta.get("deletionTimestamp") and meta.get("generation") == generation, meta
        again = http.call("DELETE", path)  # already deleting: no second bump
        assert again.status_code == 200 and http.call("GET", path).json()["metadata"].get("generation") == generation
        http.call("PATCH", path, body={"metadata": {"finalizers": None}}, ctype=MERGE)
        assert http.call("GET", path).status_code == 404
