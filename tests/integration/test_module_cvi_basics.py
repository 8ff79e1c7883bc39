"""cluster_virtual_image through ansible-playbook → HTTPS → simulator: idempotence, check mode, diff, labels,
client-side errors that change nothing, the server's own errors, _info and absent."""

import json

from ..ansible_runner import run_playbook

HTTP = {"type": "HTTP", "http": {"url": "https://images.example.com/ubuntu.qcow2"}}


def cvi(name, **kw):
    return {"deckhouse.virtualization.cluster_virtual_image": {"name": name, "wait": False, "data_source": HTTP, **kw}}


def get(sim, name):
    out = sim.kubectl("get", "cvi", name, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_create_is_idempotent_check_mode_and_diff(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "check create", **cvi("basics", labels={"os": "ubuntu"}), "check_mode": True, "diff": True},
            {"name": "create", **cvi("basics", labels={"os": "ubuntu"})},
            {"name": "again", **cvi("basics", labels={"os": "ubuntu"})},
            {"name": "check change", **cvi("basics", labels={"os": "debian"}), "check_mode": True, "diff": True},
        ],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["check create"]["changed"] is True
    assert run["check create"]["diff"]["after"]["spec"]["dataSource"]["http"]["url"] == HTTP["http"]["url"]
    assert run["create"]["changed"] is True and run["create"]["resource"]["metadata"]["uid"]
    assert run["again"]["changed"] is False
    assert run["check change"]["changed"] is True
    diff = run["check change"]["diff"]
    assert diff["before"]["metadata"]["labels"] == {"os": "ubuntu"} and diff["after"]["metadata"]["labels"] == {"os": "debian"}
    assert get(sim, "basics")["metadata"]["labels"] == {"os": "ubuntu"}, "check mode changes nothing"


def test_check_mode_create_writes_nothing(sim, tmp_path):
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "check", **cvi("never-created"), "check_mode": True}])
    assert run.returncode == 0 and run["check"]["changed"] is True
    assert get(sim, "never-created") is None


def test_dropped_label_is_removed_but_others_labels_stay(sim, tmp_path):
    run_playbook(tmp_path, sim.kubeconfig, [{"name": "create", **cvi("labels", labels={"a": "1", "b": "2"})}])
    sim.kubectl("label", "cvi", "labels", "team=ops")
    run = run_playbook(
        tmp_path, sim.kubeconfig, [{"name": "drop b", **cvi("labels", labels={"a": "1"})}, {"name": "again", **cvi("labels", labels={"a": "1"})}]
    )
    assert run["drop b"]["changed"] is True and run["again"]["changed"] is False
    assert get(sim, "labels")["metadata"]["labels"] == {"a": "1", "team": "ops"}


def test_bad_inputs_fail_clearly_and_write_nothing(sim, tmp_path):
    before = sim.kubectl("get", "cvi", "-o", "name").stdout
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "dot", **cvi("bad.name"), "ignore_errors": True},
            {"name": "scheme", **cvi("bad-scheme", data_source={"type": "HTTP", "http": {"url": "ftp://x/y.img"}}), "ignore_errors": True},
            {
                "name": "checksum",
                **cvi("bad-sum", data_source={"type": "HTTP", "http": {"url": "https://x/y.img", "checksum": {"sha256": "abc"}}}),
                "ignore_errors": True,
            },
            {"name": "missing block", **cvi("bad-block", data_source={"type": "ContainerImage"}), "ignore_errors": True},
            {"name": "unknown type", **cvi("bad-type", data_source={"type": "FTP"}), "ignore_errors": True},
        ],
    )
    msgs = {name: run[name].get("msg", "") for name in ("dot", "scheme", "checksum", "missing block", "unknown type")}
    assert all(run[name]["failed"] for name in msgs), msgs
    assert "must not contain '.'" in msgs["dot"]
    assert "data_source.http.url" in msgs["scheme"] and "http:// or https://" in msgs["scheme"]
    assert "data_source.http.checksum.sha256" in msgs["checksum"]
    assert "data_source.container_image is required" in msgs["missing block"]
    assert "type" in msgs["unknown type"] and "FTP" in msgs["unknown type"]
    assert sim.kubectl("get", "cvi", "-o", "name").stdout == before


def test_unreachable_api_and_server_errors_are_reported(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "no server", **cvi("x", host="https://127.0.0.1:1", api_key="not-a-real-token-0123456789", kubeconfig=None), "ignore_errors": True},
        ],
    )
    assert run["no server"]["failed"] and "cannot reach the Kubernetes API at https://127.0.0.1:1" in run["no server"]["msg"]


def test_info_by_name_and_selector_and_absent(sim, tmp_path):
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "a", **cvi("info-a", labels={"set": "info"})},
            {"name": "b", **cvi("info-b", labels={"set": "info"})},
            {"name": "by selector", "deckhouse.virtualization.cluster_virtual_image_info": {"label_selectors": ["set=info"]}},
            {"name": "by name", "deckhouse.virtualization.cluster_virtual_image_info": {"name": "info-a"}},
            {"name": "missing", "deckhouse.virtualization.cluster_virtual_image_info": {"name": "nope"}},
            {"name": "delete", "deckhouse.virtualization.cluster_virtual_image": {"name": "info-b", "state": "absent"}},
            {"name": "delete again", "deckhouse.virtualization.cluster_virtual_image": {"name": "info-b", "state": "absent"}},
        ],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert sorted(s["name"] for s in run["by selector"]["summaries"]) == ["info-a", "info-b"]
    assert [r["metadata"]["name"] for r in run["by name"]["resources"]] == ["info-a"]
    assert run["missing"]["resources"] == []
    assert run["delete"]["changed"] is True and run["delete again"]["changed"] is False
    assert get(sim, "info-b") is None


def test_k8s_auth_environment_variables_work(sim, tmp_path):
    import yaml

    cfg = yaml.safe_load(sim.kubeconfig.read_text())
    env = {"K8S_AUTH_HOST": sim.server, "K8S_AUTH_API_KEY": sim.token, "K8S_AUTH_SSL_CA_CERT": str(sim.ca_file)}
    task = {"name": "via env", "deckhouse.virtualization.cluster_virtual_image_info": {"name": "whatever"}}
    play = run_playbook(tmp_path, sim.kubeconfig, [task], extra_env=env)
    assert cfg and play.returncode == 0, play.stdout[-2000:]
