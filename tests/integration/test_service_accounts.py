"""ServiceAccounts through real clients (kubectl and the kubernetes Python client) against a simulator subprocess of
their own (its clock is stepped here): the `default` account, `kube-root-ca.crt` and Service `default/kubernetes`
kept by their controllers; `kubectl create serviceaccount` / `create token`; the token as a bearer credential under
RBAC (allowed and refused), its expiry on the simulated clock, its revocation with its ServiceAccount or its bound pod,
its survival across a restart; TokenReview; the pods' ServiceAccount admission. No token ever reaches the server's
log or its state files."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import uuid
from functools import partial

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ..simulator_process import BIN, Simulator
from .polling import eventually

AUDIENCE = "https://kubernetes.default.svc.cluster.local"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "d8-virtualization")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("sa"), "--log-level", "DEBUG")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def core(sim):
    return client.CoreV1Api(config.new_client_from_config(config_file=str(sim.kubeconfig)))


@pytest.fixture
def ns(sim):
    name = "sa-" + uuid.uuid4().hex[:6]
    sim.kubectl("create", "namespace", name)
    return name


def as_bearer(sim, token):
    """A Python client authenticating with `token` alone."""
    cfg = client.Configuration()
    cfg.host, cfg.ssl_ca_cert = sim.server, str(sim.ca_file)
    cfg.api_key = {"authorization": "Bearer " + token}
    return client.ApiClient(cfg)


def with_token(sim, token, *args, stdin=None):
    """kubectl with `token` as its only credential (no kubeconfig user)."""
    command = [str(BIN / "kubectl"), "--server", sim.server, "--certificate-authority", str(sim.ca_file), "--token", token, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, input=stdin, env={**os.environ, "KUBECONFIG": "/dev/null"})


def create_token(sim, ns, sa, *extra):
    return sim.kubectl("create", "token", sa, "-n", ns, *extra).stdout.strip()


def review(core_client, token, audiences=None):
    spec = {"token": token, **({"audiences": audiences} if audiences else {})}
    return client.AuthenticationV1Api(core_client.api_client).create_token_review({"spec": spec}).status


def advance(sim, seconds):
    command = [str(BIN / "dvp-sim"), "clock", "advance", str(seconds), "--kubeconfig", str(sim.kubeconfig)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr


# -- what every namespace has -----------------------------------------------------------------------------------
def test_every_namespace_has_its_default_account_and_the_root_ca(sim, core, ns):
    listed = sim.kubectl("get", "sa", "-A").stdout.splitlines()
    assert listed[0].split() == ["NAMESPACE", "NAME", "SECRETS", "AGE"]
    assert {tuple(line.split()[:3]) for line in listed[1:]} >= {(n, "default", "0") for n in SYSTEM_NAMESPACES}

    def accounts() -> list[str]:
        return sim.kubectl("get", "sa", "-n", ns, "-o", "name").stdout.split()

    eventually(accounts, lambda names: names == ["serviceaccount/default"])
    ca = sim.ca_file.read_text()
    cm = eventually(partial(core.list_namespaced_config_map, ns), lambda result: [c.metadata.name for c in result.items] == ["kube-root-ca.crt"]).items[0]
    assert cm.data == {"ca.crt": ca}
    assert cm.metadata.annotations["kubernetes.io/description"].startswith("Contains a CA bundle that can be used to verify the kube-apiserver")
    cms = sim.kubectl("get", "cm", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}").stdout.split()
    assert {f"{n}/kube-root-ca.crt" for n in SYSTEM_NAMESPACES} <= set(cms)


def test_the_controllers_put_back_what_is_deleted_or_changed(sim, core, ns):
    first = eventually(lambda: _sa_uid(core, ns, "default"), bool)
    sim.kubectl("delete", "sa", "default", "-n", ns)
    eventually(lambda: _sa_uid(core, ns, "default"), lambda uid: uid not in (None, first))
    eventually(lambda: _cm_data(core, ns), bool)
    sim.kubectl("patch", "cm", "kube-root-ca.crt", "-n", ns, "-p", '{"data": {"ca.crt": "forged", "extra": "x"}}')
    eventually(lambda: _cm_data(core, ns), lambda data: data == {"ca.crt": sim.ca_file.read_text()})
    sim.kubectl("delete", "cm", "kube-root-ca.crt", "-n", ns)
    eventually(lambda: _cm_data(core, ns), lambda data: data == {"ca.crt": sim.ca_file.read_text()})


def _sa_uid(core, ns, name):
    try:
        return core.read_namespaced_service_account(name, ns).metadata.uid
    except ApiException as err:
        assert err.status == 404
        return None


def _cm_data(core, ns):
    try:
        return core.read_namespaced_config_map("kube-root-ca.crt", ns).data
    except ApiException as err:
        assert err.status == 404
        return None


def test_the_kubernetes_service_points_at_the_api_server(sim, core):
    port = int(sim.server.rsplit(":", 1)[1])
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == str(ipaddress.ip_network("10.222.0.0/16")[1]) and svc.spec.type == "ClusterIP"
    assert [(p.name, p.port, p.protocol, p.target_port) for p in svc.spec.ports] == [("https", 443, "TCP", port)]
    assert svc.metadata.labels == {"component": "apiserver", "provider": "kubernetes"}
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    assert [a.ip for a in ep.subsets[0].addresses] == ["127.0.0.1"] and [(p.name, p.port) for p in ep.subsets[0].ports] == [("https", port)]
    eps = client.DiscoveryV1Api(core.api_client).read_namespaced_endpoint_slice("kubernetes", "default")
    assert eps.address_type == "IPv4" and eps.metadata.labels == {"kubernetes.io/service-name": "kubernetes"}
    assert [(e.addresses, e.conditions.ready) for e in eps.endpoints] == [(["127.0.0.1"], True)]
    assert [(p.name, p.port, p.protocol) for p in eps.ports] == [("https", port, "TCP")]
    listed = sim.kubectl("get", "endpointslices", "-n", "default").stdout.splitlines()  # other tests' Services may have slices too
    assert listed[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert [row.split()[:4] for row in listed[1:] if row.split()[0] == "kubernetes"] == [["kubernetes", "IPv4", str(port), "127.0.0.1"]]
    shown = sim.kubectl("get", "endpoints", "kubernetes", "-n", "default", "--no-headers").stdout.split()
    assert shown[:2] == ["kubernetes", f"127.0.0.1:{port}"], shown
    first = svc.metadata.uid
    sim.kubectl("delete", "svc", "kubernetes", "-n", "default")
    again = eventually(lambda: _service(core), lambda s: s is not None and s.metadata.uid != first)
    assert again.spec.cluster_ip == svc.spec.cluster_ip
    assert "kubernetes" in sim.kubectl("get", "svc", "-A").stdout


def _service(core):
    try:
        return core.read_namespaced_service("kubernetes", "default")
    except ApiException as err:
        assert err.status == 404
        return None


# -- accounts and their tokens ----------------------------------------------------------------------------------
def test_kubectl_creates_an_account_and_a_token_that_rbac_governs(sim, core, ns):
    assert sim.kubectl("create", "serviceaccount", "ci", "-n", ns).stdout.strip() == "serviceaccount/ci created"
    described = sim.kubectl("describe", "sa", "ci", "-n", ns).stdout
    assert "Name:" in described and "ci" in described and f"Namespace:           {ns}" in described
    token = create_token(sim, ns, "ci")
    assert len(token.split(".")) == 3 and token not in (sim.state_dir / "server.log").read_text()
    who = json.loads(with_token(sim, token, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["username"] == f"system:serviceaccount:{ns}:ci"
    assert who["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
    assert who["uid"] == core.read_namespaced_service_account("ci", ns).metadata.uid
    assert who["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    refused = with_token(sim, token, "get", "configmaps", "-n", ns)
    assert refused.returncode != 0
    who_cannot = f'configmaps is forbidden: User "system:serviceaccount:{ns}:ci" cannot list resource "configmaps"'
    assert f'{who_cannot} in API group "" in the namespace "{ns}"' in refused.stderr
    sim.kubectl("create", "role", "cm-reader", "-n", ns, "--verb=get,list", "--resource=configmaps")
    sim.kubectl("create", "rolebinding", "ci-reads", "-n", ns, "--role=cm-reader", f"--serviceaccount={ns}:ci")
    assert "kube-root-ca.crt" in with_token(sim, token, "get", "configmaps", "-n", ns).stdout
    assert with_token(sim, token, "auth", "can-i", "delete", "configmaps", "-n", ns).stdout.strip() == "no"
    assert "cannot list resource" in with_token(sim, token, "get", "configmaps", "-n", "default").stderr
    # the Python client with the same token, and a group binding for every account of the namespace
    bearer = client.CoreV1Api(as_bearer(sim, token))
    assert [c.metadata.name for c in bearer.list_namespaced_config_map(ns).items] == ["kube-root-ca.crt"]
    with pytest.raises(ApiException) as err:
        bearer.list_namespaced_secret(ns)
    assert err.value.status == 403
    sim.kubectl("create", "rolebinding", "all-accounts", "-n", ns, "--clusterrole=d8:use:role:viewer:virtualization", f"--group=system:serviceaccounts:{ns}")
    assert with_token(sim, token, "auth", "can-i", "list", "virtualmachines.virtualization.deckhouse.io", "-n", ns).stdout.strip() == "yes"


def test_token_requests_are_checked_as_upstream(sim, core, ns):
    too_short = sim.kubectl("create", "token", "default", "-n", ns, "--duration=1m", check=False)
    assert too_short.returncode != 0
    expected = 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes'
    assert expected in too_short.stderr
    missing = sim.kubectl("create", "token", "nobody", "-n", ns, check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr
    answered = core.create_namespaced_service_account_token("default", ns, {"spec": {}})
    assert (answered.metadata.name, answered.metadata.namespace) == ("default", ns)
    assert answered.spec.expiration_seconds == 3600 and answered.spec.audiences == [AUDIENCE]
    issued = answered.metadata.creation_timestamp.timestamp()
    assert answered.status.expiration_timestamp.timestamp() - issued == pytest.approx(3600, abs=2)
    # a token for another audience is no credential for the API server, but TokenReview accepts it for its audience
    vault = core.create_namespaced_service_account_token("default", ns, {"spec": {"audiences": ["vault"]}}).status.token
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(as_bearer(sim, vault)).list_namespaced_config_map(ns)
    assert err.value.status == 401
    status = review(core, vault)
    assert not status.authenticated and "token audiences" in status.error and vault not in status.error
    status = review(core, vault, ["vault", "other"])
    assert status.authenticated and status.audiences == ["vault"] and status.user.username == f"system:serviceaccount:{ns}:default"


def test_token_review_answers_for_every_kind_of_token(sim, core, ns):
    token = create_token(sim, ns, "default")
    status = review(core, token)
    assert status.authenticated and status.audiences == [AUDIENCE]
    assert status.user.username == f"system:serviceaccount:{ns}:default" and "system:authenticated" in status.user.groups
    unknown = review(core, "not-a-token")
    assert not unknown.authenticated and unknown.error == "invalid bearer token" and unknown.user.username is None
    admin = review(core, sim.token)
    assert admin.authenticated and admin.user.username == "dvp-sim-admin"
    empty = sim.kubectl("create", "-f", "-", input='{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}}', check=False)
    assert "token is required for TokenReview in authentication" in empty.stderr
    # a reviewer needs `create tokenreviews`, as system:auth-delegator grants
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    denied = with_token(sim, token, "create", "-f", "-", "-o", "json", stdin=body)
    assert f'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:{ns}:default" cannot create resource "tokenreviews"' in denied.stderr
    delegator = json.loads(sim.kubectl("get", "clusterrole", "system:auth-delegator", "-o", "json").stdout)  # bootstrapped, as upstream's
    assert {(r["apiGroups"][0], r["resources"][0]) for r in delegator["rules"]} == {
        ("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews")}  # fmt: skip
    sim.kubectl("create", "clusterrolebinding", f"delegator-{ns}", "--clusterrole=system:auth-delegator", f"--serviceaccount={ns}:default")
    reviewed = json.loads(with_token(sim, token, "create", "-f", "-", "-o", "json", stdin=body).stdout)["status"]
    assert reviewed["authenticated"] is True and reviewed["user"]["username"] == f"system:serviceaccount:{ns}:default"


def test_tokens_expire_on_the_simulated_clock(sim, ns):
    token = create_token(sim, ns, "default", "--duration=10m")
    assert with_token(sim, token, "auth", "whoami").returncode == 0
    advance(sim, 600)
    assert with_token(sim, token, "auth", "whoami").returncode == 0, "go-jose's 60 s leeway past exp"
    advance(sim, 70)
    expired = with_token(sim, token, "auth", "whoami")
    assert expired.returncode != 0 and "Unauthorized" in expired.stderr


def test_deleting_the_account_revokes_its_tokens(sim, core, ns):
    sim.kubectl("create", "sa", "gone", "-n", ns)
    token = create_token(sim, ns, "gone")
    assert with_token(sim, token, "auth", "whoami").returncode == 0
    sim.kubectl("delete", "sa", "gone", "-n", ns)
    assert "Unauthorized" in with_token(sim, token, "auth", "whoami").stderr
    assert review(core, token).error == '[invalid bearer token, serviceaccount "gone" not found]'
    sim.kubectl("create", "sa", "gone", "-n", ns)  # the same name again is another account
    assert "Unauthorized" in with_token(sim, token, "auth", "whoami").stderr
    assert "does not match claim" in review(core, token).error


def test_a_token_bound_to_a_pod_lives_as_long_as_the_pod(sim, core, ns):
    sim.kubectl("create", "sa", "runner", "-n", ns)
    sim.kubectl("run", "job", "-n", ns, "--image=busybox", "--overrides", '{"spec": {"serviceAccountName": "runner"}}')
    pod = core.read_namespaced_pod("job", ns)
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "job", "uid": pod.metadata.uid}
    token = core.create_namespaced_service_account_token("runner", ns, {"spec": {"boundObjectRef": ref}}).status.token
    who = json.loads(with_token(sim, token, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["extra"]["authentication.kubernetes.io/pod-name"] == ["job"] and who["extra"]["authentication.kubernetes.io/pod-uid"] == [pod.metadata.uid]
    with pytest.raises(ApiException) as err:  # a pod running as another account
        core.create_namespaced_service_account_token("default", ns, {"spec": {"boundObjectRef": ref}})
    assert err.value.status == 400 and 'cannot bind token for serviceaccount \\"default\\" to pod running with different serviceaccount name.' in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token("runner", ns, {"spec": {"boundObjectRef": {**ref, "uid": "0"}}})
    assert err.value.status == 409
    sim.kubectl("delete", "pod", "job", "-n", ns, "--wait=false")
    eventually(lambda: with_token(sim, token, "auth", "whoami").returncode, lambda code: code != 0)


# -- pods -------------------------------------------------------------------------------------------------------
def test_pods_run_as_an_account_that_exists(sim, core, ns):
    sim.kubectl("run", "plain", "-n", ns, "--image=busybox")
    spec = core.read_namespaced_pod("plain", ns).spec
    assert (spec.service_account_name, spec.service_account) == ("default", "default")
    refused = sim.kubectl("run", "orphan", "-n", ns, "--image=busybox", "--overrides", '{"spec": {"serviceAccountName": "nope"}}', check=False)
    expected = f'Error from server (Forbidden): pods "orphan" is forbidden: error looking up service account {ns}/nope: serviceaccount "nope" not found'
    assert expected in refused.stderr
    core.create_namespaced_service_account(ns, {"metadata": {"name": "puller"}, "imagePullSecrets": [{"name": "registry"}]})
    body = {"metadata": {"name": "pulls"}, "spec": {"serviceAccount": "puller", "containers": [{"name": "c", "image": "busybox"}]}}
    created = core.create_namespaced_pod(ns, body).spec
    assert (created.service_account_name, created.service_account) == ("puller", "puller")
    assert [s.name for s in created.image_pull_secrets] == ["registry"]
    selected = sim.kubectl("get", "pods", "-n", ns, "--field-selector", "spec.serviceAccountName=puller", "-o", "name").stdout.split()
    assert selected == ["pod/pulls"]


# -- secrets stay secret ----------------------------------------------------------------------------------------
def test_no_token_is_logged_or_stored(sim, ns):
    tokens = [create_token(sim, ns, "default") for _round in range(3)]
    for token in tokens:
        with_token(sim, token, "get", "pods", "-n", ns)
    state = sim.state_dir / "serviceaccount-tokens.jsonl"
    assert oct(os.stat(state).st_mode & 0o777) == "0o600"
    for text in (state.read_text(), (sim.state_dir / "server.log").read_text()):
        assert not any(token in text or token.rsplit(".", 1)[1] in text for token in tokens)


def test_tokens_survive_a_restart(tmp_path):
    first = Simulator.start(tmp_path)
    try:
        first.kubectl("create", "sa", "keeper", "-n", "default")
        token = create_token(first, "default", "keeper")
        assert with_token(first, token, "auth", "whoami").returncode == 0
    finally:
        assert first.stop() == 0
    again = Simulator.start(tmp_path)
    try:
        who = json.loads(with_token(again, token, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
        assert who["username"] == "system:serviceaccount:default:keeper"
        port = int(again.server.rsplit(":", 1)[1])  # the server's new port, and the kubernetes Service follows it
        eventually(lambda: json.loads(again.kubectl("get", "svc", "kubernetes", "-o", "json").stdout)["spec"]["ports"][0]["targetPort"], lambda p: p == port)
    finally:
        assert again.stop() == 0
