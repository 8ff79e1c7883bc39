"""The kubeconfig reader: contexts, file vs inline data fields, merging of KUBECONFIG lists, errors naming the
field. Pure: files in tmp_path, no server."""

import base64
import json
import os

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import kubeconfig as kc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def config(**over):
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "prod", "cluster": {"server": "https://prod:6443", "certificate-authority-data": b64(b"PROD-CA")}},
            {"name": "lab", "cluster": {"server": "https://lab:6443", "certificate-authority": "ca.crt", "insecure-skip-tls-verify": True}},
        ],
        "users": [
            {"name": "admin", "user": {"token": "admin-token"}},
            {"name": "cert", "user": {"client-certificate": "c.crt", "client-key-data": b64(b"KEY")}},
            {"name": "basic", "user": {"username": "alice", "password": "wonderland"}},
            {"name": "sso", "user": {"exec": {"command": "get-token", "apiVersion": "client.authentication.k8s.io/v1"}}},
        ],
        "contexts": [
            {"name": "prod-admin", "context": {"cluster": "prod", "user": "admin", "namespace": "ops"}},
            {"name": "lab-cert", "context": {"cluster": "lab", "user": "cert"}},
            {"name": "lab-basic", "context": {"cluster": "lab", "user": "basic"}},
            {"name": "prod-sso", "context": {"cluster": "prod", "user": "sso"}},
        ],
        "current-context": "prod-admin",
    }
    doc.update(over)
    return doc


def test_current_context_with_inline_ca_and_token():
    assert kc.resolve(config()) == {"server": "https://prod:6443", "ca_data": b"PROD-CA", "namespace": "ops", "token": "admin-token"}


def test_named_context_with_file_fields_and_inline_key():
    got = kc.resolve(config(), "lab-cert")
    assert got == {"server": "https://lab:6443", "ca_file": "ca.crt", "insecure": True, "cert_file": "c.crt", "key_data": b"KEY"}


def test_basic_credentials_and_plugins_marked_for_delegation():
    assert kc.resolve(config(), "lab-basic")["username"] == "alice"
    assert kc.resolve(config(), "lab-basic")["password"] == "wonderland"
    assert kc.resolve(config(), "prod-sso")["delegate"] == "exec"


def test_inline_data_wins_over_the_file_whichever_comes_first():
    for cluster in (
        {"certificate-authority": "x.crt", "certificate-authority-data": b64(b"A")},
        {"certificate-authority-data": b64(b"A"), "certificate-authority": "x.crt"},
    ):
        doc = config(clusters=[{"name": "prod", "cluster": {"server": "https://p", **cluster}}])
        got = kc.resolve(doc)
        assert got["ca_data"] == b"A" and "ca_file" not in got


@pytest.mark.parametrize(
    "doc,context,field",
    [
        (config(**{"current-context": ""}), None, "current-context: not set"),
        (config(), "nope", "context: no entry named 'nope' in contexts"),
        (config(**{"current-context": "nope"}), None, "current-context: no entry named 'nope' in contexts"),
        (config(contexts=[{"name": "x", "context": {"user": "admin"}}], **{"current-context": "x"}), None, "contexts[x].context.cluster: missing"),
        (
            config(contexts=[{"name": "x", "context": {"cluster": "gone", "user": "admin"}}], **{"current-context": "x"}),
            None,
            "contexts[x].context.cluster: no entry named 'gone' in clusters",
        ),
        (config(clusters=[{"name": "prod", "cluster": {"certificate-authority-data": "QQ=="}}]), None, "clusters[prod].cluster.server: missing"),
        (
            config(clusters=[{"name": "prod", "cluster": {"server": "https://p", "certificate-authority-data": "not base64!"}}]),
            None,
            "clusters[prod].cluster.certificate-authority-data: not valid base64",
        ),
        (config(users=[{"name": "admin", "user": {"client-key-data": "@@"}}]), None, "users[admin].user.client-key-data: not valid base64"),
        (config(users=[{"name": "admin", "user": {"client-certificate": "c.crt"}}]), None, "users[admin].user.client-key(-data): missing"),
        (config(users=[{"name": "admin", "user": {"client-key": "k.key"}}]), None, "users[admin].user.client-certificate(-data): missing"),
        (config(users=[{"name": "admin"}]), None, "users[admin].user: missing or not a mapping"),
    ],
)
def test_errors_name_the_field(doc, context, field):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.resolve(doc, context)
    assert err.value.message.startswith("kubeconfig: ") and field in err.value.message


def test_errors_never_quote_credentials(tmp_path):
    path = tmp_path / "config"
    path.write_text("users: [{name: a, user: {token: s3cr3t-token\n")  # broken YAML holding a token
    with pytest.raises(kc.KubeconfigError) as err:
        kc.load_files(str(path))
    assert "not valid YAML" in err.value.message and "s3cr3t" not in err.value.message


def test_file_fields_are_relative_to_the_file_and_lists_merge_first_wins(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "config"
    second = tmp_path / "b" / "config.json"
    first.write_text(
        "clusters: [{name: lab, cluster: {server: 'https://lab:6443', certificate-authority: ca.crt}}]\n"
        "users: [{name: admin, user: {tokenFile: ~/token}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: admin}}]\n"
    )
    second.write_text(json.dumps(config()))  # JSON kubeconfigs are read without a YAML parser
    merged = kc.load_files(f"{first}{os.pathsep}{tmp_path / 'missing'}{os.pathsep}{second}")
    assert merged["current-context"] == "prod-admin", "the first file that sets it"
    lab = kc.resolve(merged, "lab")
    assert lab["ca_file"] == str(tmp_path / "a" / "ca.crt")
    assert lab["token_file"] == os.path.expanduser("~/token"), "home-relative paths are expanded, not joined"
    assert kc.resolve(merged, "lab-cert")["cert_file"] == str(tmp_path / "b" / "c.crt")
    assert kc.resolve(merged, "lab-basic")["server"] == "https://lab:6443", "cluster lab from the first file wins"


def test_a_single_named_file_must_exist(tmp_path):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.load_files(str(tmp_path / "nope"))
    assert "kubeconfig: cannot read" in err.value.message and "nope" in err.value.message
