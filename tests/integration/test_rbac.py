"""RBAC through real clients: kubectl (auth can-i/--list/whoami, the exact 403, a platform use role bound per
namespace) and the collection's modules with a project user's kubeconfig."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from ..ansible_runner import run_playbook
from ..simulator_process import BIN

VZ = "virtualization.deckhouse.io"


def kubectl(kubeconfig, *args, stdin=None, check=True):
    p = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {args}: {p.stderr}")
    return p


@pytest.fixture(scope="module")
def project(sim, tmp_path_factory):
    d = tmp_path_factory.mktemp("rbac")
    user = "u-" + uuid.uuid4().hex[:6]
    ns, other = "p-" + uuid.uuid4().hex[:6], "o-" + uuid.uuid4().hex[:6]
    kc = d / "user.kubeconfig"
    out = subprocess.run(
        [str(BIN / "dvp-sim"), "user", "add", user, "--group", "devs", "--admin-kubeconfig", str(sim.kubeconfig), "--kubeconfig", str(kc)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    token = __import__("yaml").safe_load(kc.read_text())["users"][0]["user"]["token"]
    assert token not in out.stdout + out.stderr and oct(os.stat(kc).st_mode & 0o777) == "0o600"
    assert oct(os.stat(sim.state_dir / "users.json").st_mode & 0o777) == "0o600" and token not in (sim.state_dir / "users.json").read_text()
    for n in (ns, other):
        kubectl(sim.kubeconfig, "create", "namespace", n)
    return {"user": user, "ns": ns, "other": other, "kc": kc, "dir": d}


def test_kubectl_rbac(sim, project):
    user, ns, other, kc = project["user"], project["ns"], project["other"], project["kc"]
    who = kubectl(kc, "auth", "whoami", "-o", "json")
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == user
    assert kubectl(kc, "auth", "can-i", "create", "virtualdisks", "-n", ns, check=False).stdout.strip() == "no"
    vd = f"apiVersion: {VZ}/v1alpha2\nkind: VirtualDisk\nmetadata: {{name: d1}}\nspec: {{persistentVolumeClaim: {{size: 1Gi}}}}\n"
    denied = kubectl(kc, "create", "-n", ns, "-f", "-", stdin=vd, check=False)
    assert denied.returncode != 0
    assert (
        f'Error from server (Forbidden): error when creating "STDIN": virtualdisks.{VZ} is forbidden: User "{user}" cannot create resource '
        f'"virtualdisks" in API group "{VZ}" in the namespace "{ns}"'
    ) in denied.stderr
    kubectl(sim.kubeconfig, "create", "rolebinding", "vm-user", "--clusterrole", "d8:use:role:manager:virtualization", "--user", user, "-n", ns)
    assert kubectl(kc, "auth", "can-i", "create", "virtualdisks", "-n", ns).stdout.strip() == "yes"
    assert kubectl(sim.kubeconfig, "auth", "can-i", "create", "virtualdisks", "-n", ns, "--as", user).stdout.strip() == "yes"
    assert kubectl(kc, "auth", "can-i", "create", "virtualdisks", "-n", other, check=False).stdout.strip() == "no"
    kubectl(kc, "create", "-n", ns, "-f", "-", stdin=vd)
    assert "d1" in kubectl(kc, "get", "vd", "-n", ns).stdout
    listed = kubectl(kc, "auth", "can-i", "--list", "-n", ns).stdout
    assert f"virtualdisks.{VZ}" in listed and "/apis" in listed
    refused = kubectl(kc, "get", "vd", "-n", other, check=False)
    assert f'cannot list resource "virtualdisks" in API group "{VZ}" in the namespace "{other}"' in refused.stderr
    for args, text in (
        (("get", "cvi"), f'User "{user}" cannot list resource "clustervirtualimages" in API group "{VZ}" at the cluster scope'),
        (("get", "vmclass", "generic"), f'virtualmachineclasses.{VZ} "generic" is forbidden: User "{user}" cannot get resource "virtualmachineclasses"'),
        (("get", "nodes"), f'nodes is forbidden: User "{user}" cannot list resource "nodes" in API group "" at the cluster scope'),
    ):
        out = kubectl(kc, *args, check=False)
        assert out.returncode != 0 and text in out.stderr, out.stderr
    imp = kubectl(kc, "get", "vd", "-n", ns, "--as", "someone-else", check=False)
    assert f'users "someone-else" is forbidden: User "{user}" cannot impersonate resource "users"' in imp.stderr
    assert kubectl(sim.kubeconfig, "auth", "can-i", "create", "cvi", "--as", user, check=False).stdout.strip() == "no"


def test_modules_as_project_user(sim, project, tmp_path):
    user, ns, kc = project["user"], project["ns"], project["kc"]
    kubectl(sim.kubeconfig, "create", "rolebinding", "vm-user2", "--clusterrole", "d8:use:role:manager:virtualization", "--user", user, "-n", ns, check=False)
    cvi, vmclass = "x-" + uuid.uuid4().hex[:6], "c-" + uuid.uuid4().hex[:6]
    tasks = [
        # no StorageClass in this cluster: the disk is written and stays Pending, so the task does not wait for it
        {"name": "disk", "deckhouse.virtualization.virtual_disk": {"name": "d2", "namespace": ns, "persistent_volume_claim": {"size": "1Gi"}, "wait": False}},
        {"name": "vms", "deckhouse.virtualization.vm_info": {"namespace": ns}},
        {
            "name": "cvi",
            "ignore_errors": True,
            "deckhouse.virtualization.cluster_virtual_image": {
                "name": cvi,
                "data_source": {"type": "HTTP", "http": {"url": "https://example.invalid/x.img"}},
            },
        },
        {
            "name": "class",
            "ignore_errors": True,
            "deckhouse.virtualization.vm_class": {"name": vmclass, "cpu": {"type": "Discovery", "discovery": {}}},
        },
    ]
    run = run_playbook(tmp_path, kc, tasks)
    assert not run["disk"].get("failed"), run["disk"]
    assert run["vms"].get("failed") is not True, run["vms"]
    for task, plural in (("cvi", "clustervirtualimages"), ("class", "virtualmachineclasses")):
        msg = run[task]["msg"]
        assert run[task]["failed"] and "Forbidden (403)" in msg and f'User "{user}"' in msg and f'resource "{plural}"' in msg, msg
        assert "at the cluster scope" in msg
    token = __import__("yaml").safe_load(kc.read_text())["users"][0]["user"]["token"]
    assert token not in run.stdout + run.stderr
    for kind, name in (("cvi", cvi), ("vmclass", vmclass)):
        assert "NotFound" in kubectl(sim.kubeconfig, "get", kind, name, check=False).stderr, "a refused task writes nothing"
    assert kubectl(sim.kubeconfig, "get", "vd", "d2", "-n", ns, "-o", "name").stdout.strip() == "virtualdisk.virtualization.deckhouse.io/d2"


def test_node_maintenance_role_as_project_user(sim, tmp_path):
    """A project user (only d8:use:role:user:virtualization in a namespace) may not drain: the role stops at its
    first step (preflight) with the API's 403 naming the user, the verb and the resource."""
    user, ns = "u-" + uuid.uuid4().hex[:6], "p-" + uuid.uuid4().hex[:6]
    kc = tmp_path / "user.kubeconfig"
    out = subprocess.run(
        [str(BIN / "dvp-sim"), "user", "add", user, "--admin-kubeconfig", str(sim.kubeconfig), "--kubeconfig", str(kc), "--namespace", ns],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    kubectl(sim.kubeconfig, "create", "namespace", ns)
    kubectl(sim.kubeconfig, "create", "rolebinding", "vm-user", "--clusterrole", "d8:use:role:user:virtualization", "--user", user, "-n", ns)
    node_name = "worker-0"  # this simulator has no nodes: authorization comes first, as on a real API server
    include = {
        "name": "rollout",
        "ansible.builtin.include_role": {"name": "deckhouse.virtualization.node_maintenance"},
        "vars": {"node_maintenance_nodes": [node_name], "node_maintenance_connection": {"kubeconfig": str(kc)}},
    }
    rescue = [
        {"name": "rollout failed", "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}},
        {"name": "failed node", "ansible.builtin.debug": {"msg": "{{ node_maintenance_failed_node }}"}},
    ]
    run = run_playbook(tmp_path, kc, [{"name": "the rollout", "block": [include], "rescue": rescue}])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    msg = run["rollout failed"]["msg"]
    assert (
        f'the rollout stopped at {node_name} (preflight failed: Node {node_name}: Forbidden (403): permission denied: nodes "{node_name}" is '
        f'forbidden: User "{user}" cannot get resource "nodes" in API group "" at the cluster scope'
    ) in msg, msg
    assert f"{node_name} was not touched (not cordoned)" in msg, msg
    assert run["failed node"]["msg"] == node_name
