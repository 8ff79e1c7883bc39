"""Credentials in the connection options are masked before anything can fail (kubeconfig dictionaries, the proxy
URL's password, options misplaced in a batch element), and a failure after a write reports changed=true with the
object as last seen. Pure: fake modules and a scripted transport, no server."""

from __future__ import annotations

import base64
import http.client
import json

import pytest
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.deckhouse.virtualization.plugins.module_utils import common, connection
from ansible_collections.deckhouse.virtualization.plugins.module_utils import kubeconfig as kc
from ansible_collections.deckhouse.virtualization.plugins.module_utils.batch import ElementExit, execute_batched, run_batch, validated
from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import DVPError
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import VIRTUAL_DISK
from ansible_collections.deckhouse.virtualization.plugins.module_utils.transport import Answer, Settings
from ansible_collections.deckhouse.virtualization.plugins.module_utils.waiter import gone, phase_in, wait_for

TOKEN = "tok-5f0c1d2e3a4b"
ARMOUR = "EC PRIVATE KEY" + "-----"  # written apart: the collection tarball is checked for key armour (test_packaging)
KEY_PEM = f"-----BEGIN {ARMOUR}\nMHcCAQEEIFAKEFAKEFAKEkeyMaterial0123456789abcdef\n-----END {ARMOUR}\n"
KEY_DATA = base64.b64encode(KEY_PEM.encode()).decode()
CERT_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----\n").decode()


def kubeconfig(**over):
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": "https://api.example:6443", "certificate-authority-data": CERT_DATA}},
            {"name": "behind", "cluster": {"server": "https://b:6443", "proxy-url": "http://px:pr0xy-pw%21@proxy:3128"}},
        ],
        "users": [
            {"name": "admin", "user": {"token": TOKEN}},
            {"name": "cert", "user": {"client-certificate-data": CERT_DATA, "client-key-data": KEY_DATA}},
            {"name": "basic", "user": {"username": "alice", "password": "wonder-pw"}},
            {
                "name": "oidc",
                "user": {
                    "auth-provider": {
                        "name": "oidc",
                        "config": {"client-id": "kubernetes", "client-secret": "oidc-client-secret", "id-token": "oidc-id-token", "refresh-token": "oidc-rt"},
                    }
                },
            },
            {"name": "gcp", "user": {"auth-provider": {"name": "gcp", "config": {"access-token": "gcp-at", "token-key": "{.credential.access_token}"}}}},
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "command": "aws",
                        "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "aws-secret-value"}, {"name": "AWS_REGION", "value": "eu-west-1"}],
                    }
                },
            },
        ],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "admin"}}],
        "current-context": "main",
    }
    doc.update(over)
    return doc


# -- what is found -------------------------------------------------------------------------------------------------
def test_every_credential_of_a_kubeconfig_dictionary_is_found_in_every_user():
    found = kc.credentials(kubeconfig())
    expected = {TOKEN, KEY_DATA, KEY_PEM.strip(), "wonder-pw", "oidc-client-secret", "oidc-id-token", "oidc-rt", "gcp-at", "aws-secret-value"}
    assert expected <= found
    assert {"pr0xy-pw%21", "pr0xy-pw!"} <= found, "the proxy-url's password, as written and decoded"
    not_secret = {CERT_DATA, "kubernetes", "{.credential.access_token}", "eu-west-1", "alice", "https://api.example:6443", "admin", "v1"}
    assert not (found & not_secret), found & not_secret


@pytest.mark.parametrize(
    "config",
    [
        None,
        "/path/to/config",
        [],
        {"users": "x"},
        {"users": [None, "u", {"user": None}, {"user": {"token": 7, "password": ""}}]},
        {"clusters": [{"cluster": 1}]},
    ],
)
def test_credentials_never_fail_whatever_the_dictionary_holds(config):
    assert kc.credentials(config) <= {"7"}


def test_a_client_key_that_is_not_base64_is_masked_as_written():
    assert kc.credentials({"users": [{"name": "u", "user": {"client-key-data": "not base64 !"}}]}) == {"not base64 !"}


@pytest.mark.parametrize(
    "url,passwords",
    [
        ("http://bob:s3cr3tPW@127.0.0.1:9", ["s3cr3tPW"]),
        ("bob:s3cr3tPW@proxy:3128", ["s3cr3tPW"]),
        ("http://bob:p%40ss@proxy", ["p%40ss", "p@ss"]),
        ("http://bob@proxy:3128", []),
        ("http://proxy:3128", []),
        ("http://bob:pw@[::1", ["pw"]),  # urlsplit refuses it; the password is found anyway
        (None, []),
        (3128, []),
    ],
)
def test_url_password(url, passwords):
    assert kc.url_password(url) == passwords


@pytest.mark.parametrize(
    "name", ["token", "api_key", "API-KEY", "password", "client-secret", "id-token", "AWS_SESSION_TOKEN", "client_key_data", "bearer_token"]
)
def test_secret_names(name):
    assert kc.secret_name(name)


@pytest.mark.parametrize("name", ["name", "namespace", "host", "client-id", "token-key", "expiry-key", "AWS_REGION", "colour", "upload_url"])
def test_names_that_are_not_secret(name):
    assert not kc.secret_name(name)


def test_option_secrets():
    params = {
        "kubeconfig": kubeconfig(),
        "api_key": "key-1",
        "password": "pw-1",
        "username": "bob",
        "proxy": "http://u:proxy-pw@p:1",
        "proxy_headers": {"proxy_basic_auth": "carol:tunnel-pw", "basic_auth": None, "user_agent": "agent/1.0"},
        "host": "https://h",
    }
    found = connection.option_secrets(params)
    assert {TOKEN, KEY_DATA, "key-1", "pw-1", "proxy-pw", "carol:tunnel-pw"} <= found
    assert not found & {"bob", "agent/1.0", "https://h"}
    assert connection.option_secrets({"kubeconfig": "/home/me/.kube/config", "proxy": None}) == set(), "a path holds no credential"
    assert connection.option_secrets({}) == set()


def test_settings_secrets_take_the_proxy_password_of_a_kubeconfig_file():
    s = Settings(server="https://h", token="t", key_data=KEY_PEM.encode(), proxy="http://u:file-proxy-pw@p:1")
    assert set(connection.secrets(s)) == {"t", KEY_PEM.strip(), "file-proxy-pw"}


def test_misplaced_secrets_of_a_batch_element():
    element = {"name": "x", "api_key": "SECRET-1", "token": "SECRET-2", "kubeconfig": kubeconfig(), "colour": "red", "my_password": ["SECRET-3", {"a": 4}]}
    found = connection.misplaced_secrets(element)
    assert {"SECRET-1", "SECRET-2", "SECRET-3", "4", TOKEN, KEY_DATA} <= found
    assert not found & {"x", "red"}


# -- masked before anything can fail ----------------------------------------------------------------------------------
class Exit(BaseException):
    def __init__(self, result):
        super().__init__("exit")
        self.result = result


class FakeModule:
    """The module interface common.run uses; exit_json / fail_json raise Exit with the result AnsibleModule would
    return (invocation included, no_log values masked)."""

    def __init__(self, check_mode=False, **params):
        self.params = {k: None for k in connection.CONNECTION_KEYS}
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = False
        self.no_log_values = set()
        self.warnings = []
        self.logged = []

    def warn(self, msg):
        self.warnings.append(msg)

    def log(self, msg):
        self.logged.append(msg)

    def _out(self, result):
        return remove_values({**result, "invocation": {"module_args": self.params}}, self.no_log_values)

    def exit_json(self, **result):
        raise Exit(self._out(result))

    def fail_json(self, msg, **result):
        raise Exit(self._out({**result, "failed": True, "msg": msg}))


@pytest.mark.parametrize(
    "broken",
    [
        {"current-context": "nope"},
        {"contexts": [{"name": "main", "context": {"cluster": "missing", "user": "admin"}}]},
        {"clusters": [{"name": "c", "cluster": {"certificate-authority-data": CERT_DATA}}]},  # no server
        {"current-context": None},
    ],
)
def test_an_unresolvable_kubeconfig_dictionary_comes_back_masked(broken):
    module = FakeModule(kubeconfig=kubeconfig(**broken))
    with pytest.raises(Exit) as done:
        common.run(module, lambda client, ensurer: pytest.fail("the body must not run"))
    result = done.value.result
    assert result["failed"] and result["msg"].startswith("kubeconfig: ")
    text = json.dumps(result)
    for secret in (TOKEN, KEY_DATA, "oidc-id-token", "oidc-rt", "oidc-client-secret", "aws-secret-value", "wonder-pw", "pr0xy-pw"):
        assert secret not in text, secret
    users = {u["name"]: u["user"] for u in result["invocation"]["module_args"]["kubeconfig"]["users"]}
    assert users["admin"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert users["cert"]["client-key-data"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert users["cert"]["client-certificate-data"] == CERT_DATA, "a certificate is not a secret"


def test_refused_options_come_back_with_the_proxy_password_masked():
    module = FakeModule(proxy="http://bob:s3cr3tPW@127.0.0.1:9", wait_timeout=-1)
    with pytest.raises(Exit) as done:
        common.refuse(module, common.option_problems(module.params))
    result = done.value.result
    assert result["failed"] and result["invocation"]["module_args"]["proxy"] == "http://bob:********@127.0.0.1:9"


def test_a_failing_proxy_comes_back_with_its_password_masked():
    module = FakeModule(host="http://127.0.0.1:9", api_key="k", proxy="ftp://bob:s3cr3tPW@127.0.0.1:9")
    with pytest.raises(Exit) as done:
        common.run(module, lambda client, ensurer: client.get(VIRTUAL_DISK, "d", "ns"))
    assert "s3cr3tPW" not in json.dumps(done.value.result) and "only http:// proxies" in done.value.result["msg"]


# -- batch elements ----------------------------------------------------------------------------------------------------
SINGLE = {"argument_spec": common.arg_spec(namespaced=True, size={"type": "int"})}


def test_a_connection_option_in_a_batch_element_is_masked_and_named_clearly():
    batch = [
        {"name": "bd-1", "api_key": "SECRET-KEY"},
        {"name": "bd-2", "token": "SECRET-TOKEN", "colour": "red"},
        {"name": "bd-3", "kubeconfig": kubeconfig()},
    ]
    _elements, problems, no_log = validated({"namespace": "p1"}, batch, SINGLE)
    assert {"SECRET-KEY", "SECRET-TOKEN", TOKEN, KEY_DATA} <= no_log and "red" not in no_log
    first, second, third = problems
    assert first.startswith(
        "batch[0] (p1/bd-1): Unsupported parameters: api_key (connection options are set on the task, beside batch: one connection serves every element). "
        "Supported parameters include: "
    ), first
    assert second.startswith("batch[1] (p1/bd-2): Unsupported parameters: colour, token. Supported parameters include: "), second
    assert third.startswith("batch[2] (p1/bd-3): Unsupported parameters: kubeconfig (connection options are set on the task"), third


def test_a_mixed_rejection_names_the_connection_options():
    problems = validated({"namespace": "p1"}, [{"name": "x", "password": "pw", "colour": "red"}], SINGLE)[1]
    assert problems[0].startswith("batch[0] (p1/x): Unsupported parameters: colour, password (password: connection options are set on the task"), problems


class FakeTask(FakeModule):
    def __init__(self, batch, **params):
        super().__init__(batch=batch, name=None, namespace="p1", **params)

    def warn(self, msg):
        pass

    def log(self, msg):
        pass


def test_a_rejected_batch_element_comes_back_masked():
    task = FakeTask([{"name": "bd-1", "api_key": "SECRET-KEY"}], proxy="http://bob:s3cr3tPW@127.0.0.1:9")
    with pytest.raises(Exit) as done:
        execute_batched(task, SINGLE, lambda element: pytest.fail("nothing runs"), lambda p: [])
    result = done.value.result
    assert result["failed"] and "Unsupported parameters: api_key" in result["msg"]
    assert result["invocation"]["module_args"]["batch"][0]["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "SECRET-KEY" not in json.dumps(result) and "s3cr3tPW" not in json.dumps(result)


# -- changed after a write ------------------------------------------------------------------------------------------------
def disk(rv, phase=None, **meta):
    obj = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualDisk"}
    obj["metadata"] = {"name": "d", "namespace": "ns", "resourceVersion": rv, **meta}
    if phase:
        obj["status"] = {"phase": phase}
    return obj


class ScriptedAPI:
    """A Transport answering each request with the next scripted (status, body); records (method, target)."""

    display = "https://api.example:6443"
    settings = Settings(server="https://api.example:6443")

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def request(self, method, target, headers, body, timeout):
        self.requests.append((method, target))
        status, answer = self.answers.pop(0)
        return Answer(status, "OK" if status < 300 else "Error", http.client.HTTPMessage(), json.dumps(answer).encode() if answer is not None else b"")


def recording(*answers, check_mode=False):
    return common.RecordingClient(ScriptedAPI(*answers), check_mode=check_mode)


NOT_FOUND = (404, {"kind": "Status", "code": 404, "reason": "NotFound"})


def test_a_create_then_a_wait_that_times_out_before_its_first_read_is_changed_with_the_written_object():
    client = recording(NOT_FOUND, (201, disk("5")))
    assert client.get(VIRTUAL_DISK, "d", "ns") is None
    client.request("PATCH", client.path(VIRTUAL_DISK, "d", "ns"), "VirtualDisk ns/d", [("fieldManager", "x")], disk("5"))
    with pytest.raises(DVPError) as err:
        wait_for(client, VIRTUAL_DISK, "d", "ns", phase_in(), 0)
    words = (
        "VirtualDisk ns/d: timed out after 0s waiting; last seen: phase <none> (in the API server's answer before the wait; "
        "the time was up before the wait's first read)"
    )
    assert err.value.message == words and err.value.details["resource"] == disk("5"), "the waiter's words are the module's"
    out = common.failure(err.value, client)
    assert out["changed"] is True and out["resource"] == disk("5")
    assert out["msg"] == words, "failure() rewrites nothing"


def test_a_delete_then_a_wait_is_changed_and_the_deleted_object_is_not_shown_as_last_seen():
    client = recording((200, disk("5", "Ready")), (200, {"kind": "Status", "status": "Success"}))
    client.get(VIRTUAL_DISK, "d", "ns")
    client.delete(VIRTUAL_DISK, "d", "ns")
    with pytest.raises(DVPError) as err:
        wait_for(client, VIRTUAL_DISK, "d", "ns", gone, 0)
    out = common.failure(err.value, client)
    assert out["changed"] is True and out["resource"] is None
    assert out["msg"] == "VirtualDisk ns/d: timed out after 0s waiting; last seen: nothing (the time was up before the first read)"


def test_a_delete_answered_with_the_object_shows_it():
    client = recording((200, disk("5", "Ready")), (200, disk("6", "Terminating", deletionTimestamp="now")))
    client.get(VIRTUAL_DISK, "d", "ns")
    client.delete(VIRTUAL_DISK, "d", "ns")
    with pytest.raises(DVPError) as err:
        wait_for(client, VIRTUAL_DISK, "d", "ns", gone, 0)
    out = common.failure(err.value, client)
    assert out["changed"] and out["resource"]["metadata"]["resourceVersion"] == "6" and "phase Terminating" in out["msg"]


def test_no_write_no_change_and_the_read_object_is_last_seen():
    client = recording((200, disk("5", "Pending")))
    client.get(VIRTUAL_DISK, "d", "ns")
    with pytest.raises(DVPError) as err:
        wait_for(client, VIRTUAL_DISK, "d", "ns", phase_in(), 0)
    out = common.failure(err.value, client)
    assert out["changed"] is False and out["resource"] == disk("5", "Pending") and "last seen: phase Pending (in the API server's answer" in out["msg"]


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.request("PATCH", c.path(VIRTUAL_DISK, "d", "ns"), "VirtualDisk ns/d", [("dryRun", "All")], disk("5")),  # a dry run
        lambda c: c.delete(VIRTUAL_DISK, "d", "ns", dry_run=True),
        lambda c: c.request("PATCH", c.path(VIRTUAL_DISK, "d", "ns"), "VirtualDisk ns/d", [], disk("5")),  # same resourceVersion: a no-op apply
    ],
)
def test_writes_that_change_nothing(write):
    client = recording((200, disk("5", "Ready")), (200, disk("5", "Ready")))
    client.get(VIRTUAL_DISK, "d", "ns")
    write(client)
    assert client.changed is False and common.failure(DVPError("VirtualDisk ns/d: refused"), client)["changed"] is False


def test_check_mode_writes_change_nothing_and_a_refused_write_neither():
    client = recording((201, disk("5")), check_mode=True)
    client.request("POST", client.path(VIRTUAL_DISK, None, "ns"), "VirtualDisk ns/d", [], disk("5"))
    assert client.changed is False
    client = recording((422, {"kind": "Status", "code": 422, "message": "no"}))
    with pytest.raises(DVPError):
        client.request("POST", client.path(VIRTUAL_DISK, None, "ns"), "VirtualDisk ns/d", [], disk("5"))
    assert client.changed is False


def test_an_interrupted_connection_says_the_server_did_not_answer():
    clock = {"now": 0.0}

    def sleep(seconds):
        clock["now"] += seconds

    client = recording((201, disk("5")))
    client.request("POST", client.path(VIRTUAL_DISK, None, "ns"), "VirtualDisk ns/d", [], disk("5"))

    def reset(*args):
        raise ConnectionResetError(104, "reset")

    client.api.request = reset
    client.sleep = sleep
    client.clock = lambda: clock["now"]
    with pytest.raises(DVPError) as err:
        wait_for(client, VIRTUAL_DISK, "d", "ns", phase_in(), 5, clock=lambda: clock["now"], sleep=sleep)
    message = err.value.message
    assert message.startswith("VirtualDisk ns/d: timed out after 5s waiting; last seen: nothing (the API server did not answer); "
                              "the API connection last broke with: VirtualDisk ns/d: cannot reach the Kubernetes API"), message  # fmt: skip
    out = common.failure(err.value, client)
    assert out["msg"] == message and out["changed"] and out["resource"] == disk("5")


def test_details_are_kept_and_an_error_about_another_object_gets_none_of_this_one():
    client = recording((201, disk("5")))
    client.request("POST", client.path(VIRTUAL_DISK, None, "ns"), "VirtualDisk ns/d", [], disk("5"))
    out = common.failure(DVPError("VirtualMachine ns/vm: refused", changed=False, msg="x", conflicts=[1]), client)
    assert out == {"msg": "VirtualMachine ns/vm: refused", "changed": True, "conflicts": [1]}


def test_run_reports_changed_when_the_wait_after_a_create_fails(monkeypatch):
    api = ScriptedAPI(NOT_FOUND, (201, disk("5", managedFields=[{"manager": "m"}])))
    monkeypatch.setattr(common, "transport", lambda params: api)

    def body(client, ensurer):
        desired = {"metadata": {"name": "d", "namespace": "ns"}, "spec": {"persistentVolumeClaim": {"size": "1Gi"}}}
        return ensurer.present(VIRTUAL_DISK, desired, wait=phase_in(), wait_timeout=0).result(False)

    module = FakeModule(wait_timeout=0)
    with pytest.raises(Exit) as done:
        common.run(module, body)
    result = done.value.result
    assert result["failed"] and result["changed"] is True, result
    assert result["resource"]["metadata"]["name"] == "d" and "managedFields" not in result["resource"]["metadata"]
    assert "the time was up before the wait's first read" in result["msg"] and "did not answer" not in result["msg"]
    assert [m for m, _unused in api.requests] == ["GET", "PATCH"], "no read after the write: the wait had no time"


def test_run_in_check_mode_never_reports_a_change_on_failure(monkeypatch):
    monkeypatch.setattr(common, "transport", lambda params: ScriptedAPI(NOT_FOUND, (201, disk("5"))))

    def body(client, ensurer):
        ensurer.present(VIRTUAL_DISK, {"metadata": {"name": "d", "namespace": "ns"}, "spec": {}})
        raise DVPError("VirtualDisk ns/d: something after the dry run")

    with pytest.raises(Exit) as done:
        common.run(FakeModule(check_mode=True, wait_timeout=0), body)
    assert done.value.result["failed"] and done.value.result["changed"] is False


def test_a_batch_element_failing_after_its_write_makes_the_task_changed(monkeypatch):
    monkeypatch.setattr(common, "transport", lambda params: ScriptedAPI((201, disk("5")), (409, {"kind": "Status", "code": 409, "message": "later"})))

    def execute(element):
        def body(client, ensurer):
            client.request("POST", client.path(VIRTUAL_DISK, None, "ns"), "VirtualDisk ns/d", [], disk("5"))
            client.request("POST", client.path(VIRTUAL_DISK, None, "ns"), "VirtualDisk ns/d", [], disk("5"))
            return {"changed": True}

        common.run(element, body)

    task = FakeTask([{"name": "d"}], wait_timeout=5)
    with pytest.raises(Exit) as done:
        run_batch(task, SINGLE, execute, lambda p: [])
    result = done.value.result
    assert result["failed"] and result["changed"] is True and result["results"][0]["changed"] is True, result
    assert isinstance(done.value, Exit) and not isinstance(done.value, ElementExit)
