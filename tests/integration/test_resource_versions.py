"""resourceVersion semantics and the all-namespaces path, against a live simulator over HTTPS (raw requests, and kubectl
where an admin would meet the answer), as kube-apiserver answers:

- a write on the all-namespaces path of a namespaced resource (/api/v1/pods) is 405 MethodNotAllowed for the API
  server's own kinds and 404 for a custom resource's, before its body is read; a named path there is 404;
- LIST with resourceVersionMatch=Exact serves the list as of exactly that version, or 410 Expired when the simulator
  cannot (something of the resource changed since, or the version is older than its watch window); NotOlderThan is
  never older than asked;
- a resourceVersion beyond the store's waits up to 3 s for a write to reach it (served normally if one does), then is
  504 Timeout "Too large resource version" with a ResourceVersionTooLarge cause and a retry after 1 s.

The simulator here is this module's own and idle (no topology: no controller writes on its own), so every
resourceVersion below moves only with this module's writes."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ..simulator_process import Simulator

VMS = "/apis/virtualization.deckhouse.io/v1alpha2/virtualmachines"
VDS = "/apis/virtualization.deckhouse.io/v1alpha2/virtualdisks"
LEASES = "/apis/coordination.k8s.io/v1/leases"
NOT_ALLOWED = "the server does not allow this method on the requested resource"
NOT_FOUND = "the server could not find the requested resource"
TOO_OLD = "The resourceVersion for the provided list is too old."
MERGE = "application/merge-patch+json"


class Raw:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.token}"

    def call(self, method: str, path: str, body=None, params=None, content_type: str = "application/json", raw: bytes | None = None, **kw):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        return self.session.request(method, self.sim.server + path, data=data, headers=headers, params=params, timeout=30, verify=str(self.sim.ca_file), **kw)

    def rv(self) -> int:
        """The store's resourceVersion now: a LIST without one is served at it."""
        resp = self.call("GET", "/api/v1/namespaces")
        assert resp.status_code == 200, resp.text
        return int(resp.json()["metadata"]["resourceVersion"])

    def create_configmap(self, namespace: str, name: str) -> int:
        resp = self.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": name}, "data": {"k": "v"}})
        assert resp.status_code == 201, resp.text
        return int(resp.json()["metadata"]["resourceVersion"])


@pytest.fixture(scope="module")
def rvsim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("rv"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def http(rvsim):
    return Raw(rvsim)


@pytest.fixture
def ns(http):
    name = "rv-" + uuid.uuid4().hex[:8]
    assert http.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}}).status_code == 201
    return name


def status_of(resp: requests.Response, code: int, reason: str, message: str) -> dict:
    assert resp.status_code == code, resp.text
    status = resp.json()
    assert {k: status.get(k) for k in ("kind", "apiVersion", "status", "code", "reason", "message")} == {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }, status
    return status


def names(listing: dict) -> list[str]:
    """The names listed, but the root CA ConfigMap every namespace has (the root-ca-cert-publisher's)."""
    return [item["metadata"]["name"] for item in listing["items"] if item["metadata"]["name"] != ROOT_CA]


ROOT_CA = "kube-root-ca.crt"


def configmaps(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


# -- 1. writes on the all-namespaces path -------------------------------------------------------------------------
def write_requests(plural_path: str, namespace: str, kind: dict) -> list[tuple[str, dict]]:
    """One request of each write verb on the all-namespaces path, each with a body that would pass on the namespaced
    path, and the refusals' ordering cases: a body no decoder takes, a content type nobody serves."""
    obj = {**kind, "metadata": {"name": "across", "namespace": namespace}}
    return [
        ("POST", {"body": obj}),
        ("POST", {"body": {}}),  # was 422 on /api/v1/pods: admission ran on the all-namespaces path
        ("POST", {"raw": b"{not json"}),
        ("POST", {"raw": b"x", "content_type": "text/plain"}),
        ("PUT", {"body": obj}),
        ("PATCH", {"body": {"metadata": {"labels": {"a": "b"}}}, "content_type": MERGE}),
        ("PATCH", {"raw": b"{}", "content_type": "application/bogus"}),
        ("DELETE", {}),
        ("DELETE", {"body": {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}}),
    ]


CORE_KINDS = {
    "/api/v1/pods": {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    "/api/v1/configmaps": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}},
    LEASES: {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "x"}},
}
CUSTOM_KINDS = {
    VMS: {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachine", "spec": {}},
    VDS: {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualDisk", "spec": {"persistentVolumeClaim": {"size": "1Gi"}}},
}


@pytest.mark.parametrize("path", list(CORE_KINDS))
def test_writes_across_namespaces_of_builtin_kinds_are_405_and_write_nothing(http, ns, path):
    """kube-apiserver registers only GET (list, watch) on /api/v1/pods or /apis/<group>/<version>/leases: every
    other method is go-restful's 405, before the body is read — so a body that is not JSON, or a content type
    nobody serves, is still 405, and DELETE is not a delete-collection across every namespace."""
    http.create_configmap(ns, "keep")
    before = http.rv()
    for method, kw in write_requests(path, ns, CORE_KINDS[path]):
        resp = http.call(method, path, **kw)
        status_of(resp, 405, "MethodNotAllowed", NOT_ALLOWED)
        assert "Allow" not in resp.headers  # kube's service error handler does not copy go-restful's header
    assert http.rv() == before, "a refused write wrote something"
    assert names(http.call("GET", configmaps(ns)).json()) == ["keep"]  # DELETE /api/v1/configmaps deleted nothing
    listing = http.call("GET", path)  # the path itself still lists
    assert listing.status_code == 200 and listing.json()["kind"].endswith("List")


@pytest.mark.parametrize("path", list(CUSTOM_KINDS))
def test_writes_across_namespaces_of_custom_resources_are_404_and_write_nothing(http, ns, path):
    """A custom resource's handler serves only list and watch without a namespace; any other verb goes to the
    not-found handler (apiextensions-apiserver customresource_handler.go, possiblyAcrossAllNamespacesVerbs)."""
    before = http.rv()
    for method, kw in write_requests(path, ns, CUSTOM_KINDS[path]):
        status_of(http.call(method, path, **kw), 404, "NotFound", NOT_FOUND)
    assert http.rv() == before, "a refused write wrote something"
    assert http.call("GET", path).status_code == 200
    watch = http.call("GET", path, params={"watch": "true", "timeoutSeconds": "1"})
    assert watch.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/pods/x", "/api/v1/configmaps/x", f"{LEASES}/x", f"{VMS}/x"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_named_path_across_namespaces_has_no_route(http, path, method):
    kw = {"body": {"metadata": {"name": "x"}}, "content_type": MERGE} if method in ("PUT", "PATCH") else {}
    status_of(http.call(method, path, **kw), 404, "NotFound", NOT_FOUND)


def test_kubectl_create_raw_across_namespaces(rvsim, http, ns, tmp_path):
    """What an admin sees: `kubectl create --raw /api/v1/pods -f pod.json` answered 404 "namespaces not found"."""
    pod = tmp_path / "pod.json"
    pod.write_text(json.dumps({**CORE_KINDS["/api/v1/pods"], "metadata": {"name": "raw", "namespace": ns}}))
    out = rvsim.kubectl("create", "--raw", "/api/v1/pods", "-f", str(pod), check=False)
    assert out.returncode != 0 and f"Error from server (MethodNotAllowed): {NOT_ALLOWED}" in out.stderr, out.stderr
    out = rvsim.kubectl("delete", "--raw", "/api/v1/configmaps", check=False)
    assert out.returncode != 0 and f"Error from server (MethodNotAllowed): {NOT_ALLOWED}" in out.stderr, out.stderr
    vm = tmp_path / "vm.json"
    vm.write_text(json.dumps({**CUSTOM_KINDS[VMS], "metadata": {"name": "raw", "namespace": ns}}))
    out = rvsim.kubectl("create", "--raw", VMS, "-f", str(vm), check=False)
    assert out.returncode != 0 and f"Error from server (NotFound): {NOT_FOUND}" in out.stderr, out.stderr
    assert http.call("GET", f"/api/v1/namespaces/{ns}/pods/raw").status_code == 404


# -- 2. resourceVersionMatch=Exact --------------------------------------------------------------------------------
def exact(http, path: str, rv: int | str, **params) -> requests.Response:
    return http.call("GET", path, params={"resourceVersion": str(rv), "resourceVersionMatch": "Exact", **params})


def test_exact_at_the_current_version_serves_the_current_list(http, ns):
    http.create_configmap(ns, "a")
    current = http.call("GET", configmaps(ns)).json()
    rv = int(current["metadata"]["resourceVersion"])
    for path in (configmaps(ns), "/api/v1/configmaps"):
        resp = exact(http, path, rv)
        assert resp.status_code == 200, resp.text
        assert resp.json()["metadata"]["resourceVersion"] == str(rv)
    assert exact(http, configmaps(ns), rv).json()["items"] == current["items"]


def test_exact_at_an_older_version_with_no_change_of_the_resource_since(http, ns):
    http.create_configmap(ns, "a")
    then = http.call("GET", configmaps(ns)).json()
    rv = int(then["metadata"]["resourceVersion"])
    secret = http.call("POST", f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "s"}})  # another resource moves
    assert secret.status_code == 201 and int(secret.json()["metadata"]["resourceVersion"]) > rv
    resp = exact(http, configmaps(ns), rv)
    assert resp.status_code == 200, resp.text
    assert resp.json()["metadata"]["resourceVersion"] == str(rv) and resp.json()["items"] == then["items"]
    page = exact(http, configmaps(ns), rv, limit="1")
    assert page.status_code == 200 and page.json()["metadata"]["resourceVersion"] == str(rv)


def test_exact_at_an_older_version_after_a_change_is_410_and_not_older_than_is_current(rvsim, http, ns):
    http.create_configmap(ns, "a")
    rv = int(http.call("GET", configmaps(ns)).json()["metadata"]["resourceVersion"])
    other = "rv-" + uuid.uuid4().hex[:8]
    assert http.call("POST", "/api/v1/namespaces", {"metadata": {"name": other}}).status_code == 201
    changed = http.create_configmap(other, "elsewhere")  # the resource changed, in another namespace
    for path in (configmaps(ns), "/api/v1/configmaps"):
        status = status_of(exact(http, path, rv), 410, "Expired", TOO_OLD)
        assert "details" not in status
    out = rvsim.kubectl("get", "--raw", f"/api/v1/configmaps?resourceVersion={rv}&resourceVersionMatch=Exact", check=False)
    assert out.returncode != 0 and f"Error from server (Expired): {TOO_OLD}" in out.stderr, out.stderr
    # NotOlderThan (and no match at all) at that version: the current list, under the current version
    for params in ({"resourceVersionMatch": "NotOlderThan"}, {}):
        resp = http.call("GET", "/api/v1/configmaps", params={"resourceVersion": str(rv), **params})
        assert resp.status_code == 200, resp.text
        assert int(resp.json()["metadata"]["resourceVersion"]) >= changed and "elsewhere" in names(resp.json())
    status_of(exact(http, configmaps(ns), 1), 410, "Expired", TOO_OLD)
    # a paged LIST at that version without a match is Exact too (legacy), a paged one at "0" is not
    resp = http.call("GET", "/api/v1/configmaps", params={"resourceVersion": str(rv), "limit": "1"})
    status_of(resp, 410, "Expired", TOO_OLD)
    assert http.call("GET", "/api/v1/configmaps", params={"resourceVersion": "0", "limit": "1"}).status_code == 200


OPTIONS_INVALID = 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '


@pytest.mark.parametrize(
    "params, code, reason, message",
    [
        ({}, 422, "Invalid", OPTIONS_INVALID + "resourceVersionMatch is forbidden unless resourceVersion is provided"),
        ({"resourceVersion": "0"}, 422, "Invalid", OPTIONS_INVALID + 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
        (
            {"resourceVersion": "abc"},
            400,
            "BadRequest",
            'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax',
        ),
    ],
)
def test_exact_without_a_usable_version_is_refused(http, ns, params, code, reason, message):
    status_of(http.call("GET", configmaps(ns), params={"resourceVersionMatch": "Exact", **params}), code, reason, message)


def test_exact_at_a_version_before_the_restart_is_410(tmp_path):
    """The store knows what changed only since it started (its watch window): an Exact list at a version from before
    is 410 even when that resource did not change, and one at a version since is served."""
    sim = Simulator.start(tmp_path)
    try:
        http = Raw(sim)
        assert http.call("POST", "/api/v1/namespaces", {"metadata": {"name": "r"}}).status_code == 201
        http.create_configmap("r", "a")
        rv = int(http.call("GET", configmaps("r")).json()["metadata"]["resourceVersion"])
        assert exact(http, configmaps("r"), rv).status_code == 200
        assert http.call("POST", "/api/v1/namespaces/r/secrets", {"metadata": {"name": "s"}}).status_code == 201
    finally:
        assert sim.stop() == 0
    sim = Simulator.start(tmp_path)
    try:
        http = Raw(sim)
        status_of(exact(http, configmaps("r"), rv), 410, "Expired", TOO_OLD)
        now = int(http.call("GET", configmaps("r")).json()["metadata"]["resourceVersion"])
        resp = exact(http, configmaps("r"), now)
        assert resp.status_code == 200 and names(resp.json()) == ["a"]
    finally:
        assert sim.stop() == 0


# -- 3. a resourceVersion beyond the store's ----------------------------------------------------------------------
def read_watch(resp: requests.Response) -> list[dict]:
    return [json.loads(line) for line in resp.iter_lines() if line]


def test_a_version_beyond_the_store_is_served_once_a_write_reaches_it(http, ns):
    http.create_configmap(ns, "a")
    start = http.rv()
    wanted = start + 2
    cm = configmaps(ns)

    def timed(fn):
        began = time.monotonic()
        return fn(), time.monotonic() - began

    requests_ = {
        "list": lambda: http.call("GET", cm, params={"resourceVersion": str(wanted)}),
        "not-older-than": lambda: http.call("GET", cm, params={"resourceVersion": str(wanted), "resourceVersionMatch": "NotOlderThan"}),
        "exact": lambda: exact(http, cm, wanted),
        "get": lambda: http.call("GET", f"{cm}/a", params={"resourceVersion": str(wanted)}),
        "watch-list": lambda: http.call(
            "GET",
            cm,
            params={
                "watch": "true",
                "sendInitialEvents": "true",
                "resourceVersionMatch": "NotOlderThan",
                "resourceVersion": str(wanted),
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "1",
            },
        ),
    }
    with ThreadPoolExecutor(len(requests_)) as pool:
        futures = {key: pool.submit(timed, fn) for key, fn in requests_.items()}
        time.sleep(0.6)
        assert not any(f.done() for f in futures.values()), "answered before the store reached the version"
        assert http.rv() == start  # the server answers others meanwhile
        rvs = [http.create_configmap(ns, "b"), http.create_configmap(ns, "c")]
        assert rvs == [start + 1, wanted]
        results = {key: f.result() for key, f in futures.items()}
    for key, (resp, took) in results.items():
        assert resp.status_code == 200, (key, resp.text)
        assert took < 2.9, (key, took)  # woken by the write, not by the end of the wait
    for key in ("list", "not-older-than", "exact"):
        listing = results[key][0].json()
        assert int(listing["metadata"]["resourceVersion"]) >= wanted and names(listing) == ["a", "b", "c"], (key, listing["metadata"])
    assert results["exact"][0].json()["metadata"]["resourceVersion"] == str(wanted)
    assert results["get"][0].json()["metadata"]["name"] == "a"
    events = read_watch(results["watch-list"][0])
    assert [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED" and e["object"]["metadata"]["name"] != ROOT_CA] == ["a", "b", "c"]
    bookmark = [e for e in events if e["type"] == "BOOKMARK"][0]["object"]["metadata"]
    assert int(bookmark["resourceVersion"]) >= wanted and bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_version_beyond_the_store_is_504_after_the_wait(rvsim, http, ns):
    http.create_configmap(ns, "a")
    current = http.rv()
    wanted = current + 1_000_000
    cm = configmaps(ns)
    expected = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"Timeout: Too large resource version: {wanted}, current: {current}",
        "reason": "Timeout",
        "code": 504,
        "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1},
    }
    rv = {"resourceVersion": str(wanted)}
    requests_ = {
        "list": lambda: http.call("GET", cm, params=rv),
        "not-older-than": lambda: http.call("GET", cm, params={**rv, "resourceVersionMatch": "NotOlderThan"}),
        "exact": lambda: exact(http, cm, wanted),
        "get": lambda: http.call("GET", f"{cm}/a", params=rv),
        "list-custom": lambda: http.call("GET", f"/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{ns}/virtualmachines", params=rv),
        "watch-list": lambda: http.call(
            "GET", cm, params={**rv, "watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}
        ),
    }
    began = time.monotonic()
    with ThreadPoolExecutor(len(requests_)) as pool:
        futures = {key: pool.submit(fn) for key, fn in requests_.items()}
        time.sleep(0.5)
        quick = time.monotonic()
        assert http.call("GET", "/api/v1/namespaces").status_code == 200 and time.monotonic() - quick < 1, "the waits block the server"
        results = {key: f.result() for key, f in futures.items()}
    took = time.monotonic() - began
    assert 2.9 < took < 6, took
    for key, resp in results.items():
        if key == "watch-list":  # the stream opens, then ends with the Status in an ERROR event
            assert resp.status_code == 200, resp.text
            assert read_watch(resp) == [{"type": "ERROR", "object": expected}]
            continue
        assert resp.status_code == 504, (key, resp.text)
        assert resp.json() == expected, key
        assert resp.headers.get("Retry-After") == "1", key
    log = (rvsim.state_dir / "server.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_a_watch_from_a_version_beyond_the_store_opens_at_once_and_sends_only_later_events(http, ns):
    """Upstream's watch cache does not wait for a plain watch (only a watch-list): it opens the stream and sends the
    events after the version asked for (cacher.go Watch; cache_watcher.go sends only event.ResourceVersion > rv)."""
    start = http.rv()
    wanted = start + 2
    began = time.monotonic()
    stream = http.call("GET", configmaps(ns), params={"watch": "true", "resourceVersion": str(wanted), "timeoutSeconds": "2"}, stream=True)
    assert stream.status_code == 200 and time.monotonic() - began < 1
    created = {name: http.create_configmap(ns, name) for name in ("a", "b", "c")}
    assert list(created.values()) == [start + 1, start + 2, start + 3]
    events = read_watch(stream)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "c")]


@pytest.mark.parametrize("params", [{"resourceVersion": "abc"}, {"resourceVersion": "-1"}, {"resourceVersion": "1.5"}])
def test_an_unparsable_version_is_400_on_get_list_and_watch(http, ns, params):
    http.create_configmap(ns, "a")
    value = params["resourceVersion"]
    message = f'invalid resource version: resourceVersion: Invalid value: "{value}": strconv.ParseUint: parsing "{value}": invalid syntax'
    for path, extra in ((configmaps(ns), {}), (f"{configmaps(ns)}/a", {}), (configmaps(ns), {"watch": "true"})):
        status_of(http.call("GET", path, params={**params, **extra}), 400, "BadRequest", message)


@pytest.mark.parametrize("rv", ["", "0"])
def test_send_initial_events_false_starts_without_the_state(http, ns, rv):
    """sendInitialEvents=false (with NotOlderThan, as validation requires) from "" or "0": no synthetic ADDED events
    for what exists, only what happens after; without the parameter the same watch starts with the state."""
    http.create_configmap(ns, "there")
    params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}
    quiet = http.call("GET", configmaps(ns), params={**params, "sendInitialEvents": "false", "resourceVersionMatch": "NotOlderThan"}, stream=True)
    state = http.call("GET", configmaps(ns), params=params, stream=True)
    assert quiet.status_code == 200 and state.status_code == 200, (quiet.text, state.text)
    time.sleep(0.2)
    http.create_configmap(ns, "later")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in read_watch(quiet)] == [("ADDED", "later")]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in read_watch(state) if e["object"]["metadata"]["name"] != ROOT_CA] == [
        ("ADDED", "there"),
        ("ADDED", "later"),
    ]
