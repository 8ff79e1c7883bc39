"""Credentials never reach a playbook's output, even at -vvvv and when the task fails before connecting: a kubeconfig
dictionary that does not resolve (its bearer token, client key, auth-provider tokens), a proxy URL's password, a
credential misplaced in a batch element; in-process and in a module process alike. And a failure after a write
(created or deleted, then a wait that timed out) reports changed=true. Through ansible-playbook → HTTPS → simulator."""

import base64
import json

import yaml

from ..ansible_runner import run_playbook

VM_INFO = "deckhouse.virtualization.vm_info"
VM_CLASS = "deckhouse.virtualization.vm_class"
DISK = "deckhouse.virtualization.virtual_disk"
ARMOUR = "EC PRIVATE KEY" + "-----"  # written apart: the collection tarball is checked for key armour (test_packaging)
KEY_PEM = f"-----BEGIN {ARMOUR}\nMHcCAQEEIKeyMaterialNotARealKeyButSecretAnyway0123456789\n-----END {ARMOUR}\n"
KEY_DATA = base64.b64encode(KEY_PEM.encode()).decode()
PROXY_PASSWORD = "s3cr3tPW-proxy"
OTHER = ("oidc-id-token-value", "oidc-refresh-token-value", "oidc-client-secret-value", "exec-env-secret-value", "cluster-proxy-pw", "batch-api-key-value")


def with_more_users(cfg):
    """The simulator's kubeconfig with users the context does not use: their credentials are the task's option too."""
    cfg = json.loads(json.dumps(cfg))
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----\n").decode()
    cfg["users"] += [
        {"name": "cert", "user": {"client-certificate-data": cert, "client-key-data": KEY_DATA}},
        {
            "name": "oidc",
            "user": {
                "auth-provider": {
                    "name": "oidc",
                    "config": {"client-id": "k8s", "id-token": OTHER[0], "refresh-token": OTHER[1], "client-secret": OTHER[2]},
                }
            },
        },
        {"name": "exec", "user": {"exec": {"command": "get-token", "env": [{"name": "VAULT_TOKEN", "value": OTHER[3]}]}}},
    ]
    cfg["clusters"].append({"name": "behind", "cluster": {"server": "https://b:6443", "proxy-url": f"http://px:{OTHER[4]}@proxy:3128"}})
    return cfg


def report(run):
    """The task results of a verbose run: verbose lines come before the json callback's report."""
    doc = json.loads(run.stdout[run.stdout.index("\n{\n") + 1 :])
    return {t["task"]["name"]: next(iter(t["hosts"].values())) for play in doc["plays"] for t in play["tasks"]}


def both_ways(name, task):
    """The task in-process (the local connection) and in a module process (an `environment` makes one)."""
    return [
        {"name": name, **task, "ignore_errors": True},
        {"name": f"{name} (module process)", **task, "environment": {"DVP_TEST": "1"}, "ignore_errors": True},
    ]


def test_credentials_never_reach_the_output_at_vvvv(sim, tmp_path):
    cfg = with_more_users(yaml.safe_load(sim.kubeconfig.read_text()))
    unresolvable = {**cfg, "current-context": "nope"}
    no_server = json.loads(json.dumps(cfg))
    del no_server["clusters"][0]["cluster"]["server"]
    tasks = [
        *both_ways("bad context", {VM_INFO: {"namespace": "default", "kubeconfig": unresolvable}}),
        *both_ways("no server", {VM_INFO: {"namespace": "default", "kubeconfig": no_server}}),
        *both_ways("works", {VM_INFO: {"namespace": "default", "kubeconfig": cfg}}),
        *both_ways("proxy", {VM_INFO: {"namespace": "default", "proxy": f"http://bob:{PROXY_PASSWORD}@127.0.0.1:9", "wait_timeout": 2}}),
        *both_ways("refused", {VM_INFO: {"namespace": "default", "proxy": f"http://bob:{PROXY_PASSWORD}@127.0.0.1:9", "wait_timeout": -1}}),
        *both_ways("batch", {DISK: {"batch": [{"name": "bd-1", "namespace": "default", "api_key": OTHER[5]}]}}),
        # arguments that do not validate: the module fails before it runs, returning the options
        *both_ways("invalid", {VM_INFO: {"namespace": "default", "kubeconfig": cfg, "wait_timeout": "abc", "proxy": f"http://bob:{PROXY_PASSWORD}@x:9"}}),
    ]
    run = run_playbook(tmp_path, sim.kubeconfig, tasks, extra_args=("-vvvv",))
    results = report(run)
    for name in ("bad context", "no server", "proxy", "refused", "batch", "invalid"):
        for task in (name, f"{name} (module process)"):
            assert results[task].get("failed"), task  # (a result could show a credential: none in the report)
    for task in ("works", "works (module process)"):
        assert results[task].get("resources") == [] and not results[task].get("failed"), (task, results[task].get("msg"))
    assert results["bad context"]["msg"] == "kubeconfig: current-context: no entry named 'nope' in contexts", results["bad context"]["msg"]
    assert results["no server"]["msg"] == "kubeconfig: clusters[dvp-sim].cluster.server: missing"
    assert results["refused"]["msg"] == "wait_timeout: must be 0 or more seconds, got -1"
    for task in ("invalid", "invalid (module process)"):
        assert "wait_timeout" in results[task]["msg"], results[task]["msg"]
    for task in ("bad context", "bad context (module process)", "works", "works (module process)", "invalid", "invalid (module process)"):
        users = {u["name"]: u["user"] for u in results[task]["invocation"]["module_args"]["kubeconfig"]["users"]}
        token_masked = users["dvp-sim-admin"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        key_masked = users["cert"]["client-key-data"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert token_masked and key_masked, f"{task}: a credential of the kubeconfig dictionary is shown in invocation"
        assert users["oidc"]["auth-provider"]["config"]["client-id"] == "k8s", "what is not a credential is shown"
    for task in ("proxy", "proxy (module process)", "refused"):
        proxy_masked = results[task]["invocation"]["module_args"]["proxy"] == "http://bob:********@127.0.0.1:9"
        assert proxy_masked, f"{task}: the proxy's password is shown in invocation"
    batch = results["batch"]
    assert batch["msg"].startswith("batch[0] (default/bd-1): Unsupported parameters: api_key (connection options are set on the task"), batch["msg"]
    key_masked = batch["invocation"]["module_args"]["batch"][0]["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert key_masked, "the element's api_key is shown in invocation"
    text = run.stdout + run.stderr
    for secret in (sim.token, KEY_DATA, KEY_PEM.strip(), PROXY_PASSWORD, *OTHER):
        assert secret not in text, "a credential reached the output"


def test_a_wait_that_times_out_after_the_write_reports_changed(sim, namespace, tmp_path):
    tasks = [
        {"name": "create, no time to wait", VM_CLASS: {"name": "t-secrets-cls", "cpu": {"type": "Host"}, "wait_timeout": 0}, "ignore_errors": True},
        {"name": "again, nothing to write", VM_CLASS: {"name": "t-secrets-cls", "cpu": {"type": "Host"}, "wait_timeout": 0}, "ignore_errors": True},
        {"name": "delete, no time to wait", VM_CLASS: {"name": "t-secrets-cls", "state": "absent", "wait_timeout": 0}, "ignore_errors": True},
        {
            "name": "module process",
            DISK: {"name": "d", "namespace": namespace, "persistent_volume_claim": {"size": "1Gi"}, "wait_timeout": 0},
            "environment": {"DVP_TEST": "1"},
            "ignore_errors": True,
        },
        {"name": "check mode", VM_CLASS: {"name": "t-secrets-cls2", "cpu": {"type": "Host"}, "wait_timeout": 0}, "check_mode": True},
    ]
    run = run_playbook(tmp_path, sim.kubeconfig, tasks)
    created, again, deleted = run["create, no time to wait"], run["again, nothing to write"], run["delete, no time to wait"]
    assert created["failed"] and created["changed"] is True, created
    assert created["resource"]["metadata"]["name"] == "t-secrets-cls", "the object as the write returned it"
    assert created["msg"].startswith("VirtualMachineClass t-secrets-cls: timed out after 0s waiting; last seen: phase "), created["msg"]
    assert "the time was up before the wait's first read" in created["msg"] and "did not answer" not in created["msg"]
    assert again["failed"] and again["changed"] is False and "did not answer" not in again["msg"], again
    assert deleted["failed"] and deleted["changed"] is True and "did not answer" not in deleted["msg"], deleted
    disk = run["module process"]
    assert disk["failed"] and disk["changed"] is True and disk["resource"]["metadata"]["name"] == "d", disk
    assert run["check mode"]["changed"] is True and not run["check mode"].get("failed"), "a dry run does not wait"
    assert sim.kubectl("get", "vd", "-n", namespace, "d", "-o", "name").stdout.strip() == "virtualdisk.virtualization.deckhouse.io/d"
