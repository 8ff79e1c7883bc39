"""RBAC through real clients: kubectl (auth can-i/--list/whoami, the exact 403, a platform use role bound per
namespace) and the collection's modules with a project user's kubeconfig; where VMs run (on the session's
`cluster`), the invariant of tests/invariants.py is sampled throughout: what a user is refused changes nothing, what
they may do (operations on their VMs) keeps every domain on one node."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from ..ansible_runner import run_playbook
from ..invariants import InvariantSampler
from ..simulator_process import BIN
from . import test_vms
from .test_vms import get, phase, vm_body, wait

env, images = test_vms.env, test_vms.images  # test_vms' fixtures (over the session's `cluster`, which has nodes)

VZ = "virtualization.deckhouse.io"


def kubectl(kubeconfig, *args, stdin=None, check=True):
    p = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {args}: {p.stderr}")
    return p


@pytest.fixture(scope="module")
def project(sim, tmp_path_factory):
    d = tmp_path_factory.mktemp("rbac")
    user = "u-" + uuid.uuid4().hex[:6]
    ns, other = "p-" + uuid.uuid4().hex[:6], "o-" + uuid.uuid4().hex[:6]
    kc = d / "user.kubeconfig"
    out = sim.add_user(user, kc, groups=("devs",))
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
    sim.add_user(user, kc, namespace=ns)
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


def test_a_project_user_operates_vms_but_may_not_create_or_delete_them(cluster, env, tmp_path):
    """d8:use:role:user:virtualization: VM operations yes (Evict, Stop), VMs themselves read-only (RBAC.md §3.3)."""
    user, ns = "op-" + uuid.uuid4().hex[:6], "p-" + uuid.uuid4().hex[:6]
    kc = tmp_path / "user.kubeconfig"
    cluster.add_user(user, kc, namespace=ns)
    kubectl(cluster.kubeconfig, "create", "namespace", ns)
    kubectl(cluster.kubeconfig, "create", "rolebinding", "vm-user", "--clusterrole", "d8:use:role:user:virtualization", "--user", user, "-n", ns)
    with InvariantSampler(cluster) as sampler:
        denied = kubectl(kc, "create", "-n", ns, "-f", "-", stdin=json.dumps(vm_body("mine", env["iso"])), check=False)
        assert f'User "{user}" cannot create resource "virtualmachines" in API group "{VZ}" in the namespace "{ns}"' in denied.stderr, denied.stderr
        assert not get(cluster, "vm", "mine", ns), "a refused create writes nothing"
        kubectl(cluster.kubeconfig, "create", "-n", ns, "-f", "-", stdin=json.dumps(vm_body("mine", env["iso"])))
        vm = wait(lambda: get(cluster, "vm", "mine", ns), lambda o: phase(o) == "Running" and o["status"].get("nodeName"))
        source = vm["status"]["nodeName"]
        assert kubectl(kc, "get", "vm", "mine", "-n", ns, "-o", "jsonpath={.status.nodeName}").stdout == source, "the user reads their VM"

        def operation(kind):
            body = {"apiVersion": f"{VZ}/v1alpha2", "kind": "VirtualMachineOperation", "metadata": {"name": f"{kind.lower()}-mine"},
                    "spec": {"virtualMachineName": "mine", "type": kind}}  # fmt: skip
            kubectl(kc, "create", "-n", ns, "-f", "-", stdin=json.dumps(body))
            return wait(lambda: get(cluster, "vmop", f"{kind.lower()}-mine", ns), lambda o: phase(o) in ("Completed", "Failed"), 60)

        assert phase(operation("Evict")) == "Completed", "the user may migrate their VM"
        moved = get(cluster, "vm", "mine", ns)["status"]
        assert moved["nodeName"] != source and moved["migrationState"]["result"] == "Succeeded"
        refused = kubectl(kc, "delete", "vm", "mine", "-n", ns, check=False)
        assert f'virtualmachines.{VZ} "mine" is forbidden: User "{user}" cannot delete resource "virtualmachines"' in refused.stderr, refused.stderr
        refused = kubectl(kc, "get", "nodes", check=False)
        assert f'User "{user}" cannot list resource "nodes"' in refused.stderr
        assert phase(get(cluster, "vm", "mine", ns)) == "Running" and not get(cluster, "vm", "mine", ns)["metadata"].get("deletionTimestamp")
        assert phase(operation("Stop")) == "Completed"
        assert wait(lambda: get(cluster, "vm", "mine", ns), lambda o: phase(o) == "Stopped")["status"].get("nodeName") is None
        assert sampler.samples > 0
    kubectl(cluster.kubeconfig, "delete", "vm", "mine", "-n", ns, "--wait=false")


# -- Kubernetes' RBAC decisions and validation, exactly ----------------------------------------------------------------
def can(sim, user, *args, ns=None):
    out = kubectl(sim.kubeconfig, "auth", "can-i", *args, "--as", user, *(["-n", ns] if ns else []), check=False)
    assert out.stdout.strip() in ("yes", "no"), out.stderr
    return out.stdout.strip() == "yes"


def apply_rbac(sim, *objects):
    kubectl(sim.kubeconfig, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))


def role(kind, name, rules, ns=None, **extra):
    meta = {"name": name, **({"namespace": ns} if ns else {}), **extra.pop("meta", {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules, **extra}


def binding(kind, name, role_kind, role_name, user, ns=None):
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}  # fmt: skip


def test_rule_forms_are_decided_as_kubernetes_decides(sim):
    """resourceNames never allow list/watch/create (but a list narrowed to one name by a metadata.name field selector
    is a request for that name); `*/sub` matches a subresource, `res/*` does not; a RoleBinding to a ClusterRole
    grants it in its namespace only; /namespaces/<ns>/status is the namespace's status subresource."""
    uid = uuid.uuid4().hex[:6]
    user, ns, other = f"rf-{uid}", f"rf-{uid}", f"rf2-{uid}"
    for n in (ns, other):
        kubectl(sim.kubeconfig, "create", "namespace", n)
    kubectl(sim.kubeconfig, "create", "configmap", "cm1", "-n", ns)
    kubectl(sim.kubeconfig, "create", "configmap", "cm2", "-n", ns)
    apply_rbac(
        sim,
        role("Role", "named", [{"verbs": ["get", "list", "watch", "create", "delete"], "apiGroups": [""], "resources": ["configmaps"],
                                "resourceNames": ["cm1"]}], ns),  # fmt: skip
        binding("RoleBinding", "named", "Role", "named", user, ns),
        role("ClusterRole", f"sub-{uid}", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/*"]},
                                           {"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}]),  # fmt: skip
        binding("RoleBinding", "sub", "ClusterRole", f"sub-{uid}", user, ns),
        role("ClusterRole", f"nsstatus-{uid}", [{"verbs": ["get"], "apiGroups": [""], "resources": ["namespaces/status"]}]),
        binding("ClusterRoleBinding", f"nsstatus-{uid}", "ClusterRole", f"nsstatus-{uid}", user),
    )
    assert can(sim, user, "get", "configmaps/cm1", ns=ns) and can(sim, user, "delete", "configmaps/cm1", ns=ns)
    assert not can(sim, user, "get", "configmaps/cm2", ns=ns)
    for verb in ("list", "watch", "create"):
        assert not can(sim, user, verb, "configmaps", ns=ns), f"{verb} names no object: resourceNames never allow it"
    one = kubectl(sim.kubeconfig, "get", "cm", "-n", ns, "--field-selector", "metadata.name=cm1", "-o", "name", "--as", user)
    assert one.stdout.split() == ["configmap/cm1"], "a list narrowed to cm1 by its name is a request for cm1"
    refused = kubectl(sim.kubeconfig, "get", "cm", "-n", ns, "--field-selector", "metadata.name=cm2", "--as", user, check=False)
    assert f'User "{user}" cannot list resource "configmaps" in API group "" in the namespace "{ns}"' in refused.stderr
    assert can(sim, user, "get", "pods", "--subresource=log", ns=ns), "*/log"
    assert not can(sim, user, "get", "pods", "--subresource=exec", ns=ns), "pods/* is not a wildcard in Kubernetes"
    assert not can(sim, user, "get", "pods", "--subresource=log", ns=other), "a RoleBinding grants its ClusterRole in its namespace only"
    status = kubectl(sim.kubeconfig, "get", "--raw", f"/api/v1/namespaces/{ns}/status", "--as", user, check=False)
    assert "forbidden" not in status.stderr.lower(), status.stderr
    denied = kubectl(sim.kubeconfig, "get", "--raw", f"/api/v1/namespaces/{ns}", "--as", user, check=False)
    assert f'namespaces \\"{ns}\\" is forbidden' in denied.stderr or f'namespaces "{ns}" is forbidden' in denied.stderr, denied.stderr


def test_aggregation_follows_labelled_cluster_roles(sim):
    uid = uuid.uuid4().hex[:6]
    label = f"example.com/aggregate-{uid}"
    apply_rbac(sim, role("ClusterRole", f"agg-{uid}", [], aggregationRule={"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}))
    rule = {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}
    apply_rbac(sim, role("ClusterRole", f"part-{uid}", [rule], meta={"labels": {label: "true"}}))

    def rules():
        return json.loads(kubectl(sim.kubeconfig, "get", "clusterrole", f"agg-{uid}", "-o", "json").stdout).get("rules") or []

    wait(rules, lambda r: r == [rule])
    wider = {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps", "secrets"]}
    apply_rbac(sim, role("ClusterRole", f"part-{uid}", [wider], meta={"labels": {label: "true"}}))
    wait(rules, lambda r: r == [wider])
    version = json.loads(kubectl(sim.kubeconfig, "get", "clusterrole", f"agg-{uid}", "-o", "json").stdout)["metadata"]["resourceVersion"]
    apply_rbac(sim, role("ClusterRole", f"unrelated-{uid}", [rule]))
    kubectl(sim.kubeconfig, "label", "clusterrole", f"part-{uid}", f"{label}-")
    wait(rules, lambda r: r == [])
    assert json.loads(kubectl(sim.kubeconfig, "get", "clusterrole", f"agg-{uid}", "-o", "json").stdout)["metadata"]["resourceVersion"] != version


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"kind": "RoleBinding", "roleRef": {"apiGroup": "example.com", "kind": "Role", "name": "r"}},
         'roleRef.apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"'),
        ({"kind": "RoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Pod", "name": "r"}},
         'roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"'),
        ({"kind": "ClusterRoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}},
         'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'),
        ({"kind": "RoleBinding"}, "roleRef: Required value"),
        ({"kind": "RoleBinding", "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "Robot", "name": "x"}]},
         'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
        ({"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "ServiceAccount", "name": "x"}]},
         "subjects[0].namespace: Required value"),
        ({"kind": "Role", "rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}]},
         "rules[0].verbs: Required value: verbs must contain at least one value"),
        ({"kind": "Role", "rules": [{"verbs": ["get"], "resources": ["pods"]}]},
         "rules[0].apiGroups: Required value: resource rules must supply at least one api group"),
        ({"kind": "Role", "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}]},
         'rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: namespaced rules cannot apply to non-resource URLs'),
        ({"kind": "ClusterRole", "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/metrics"]}]},
         "rules cannot apply to both regular resources and non-resource URLs"),
        ({"kind": "ClusterRole", "aggregationRule": {"clusterRoleSelectors": []}},
         "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"),
        ({"kind": "ClusterRole", "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]}},
         'aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator'),
    ],
)  # fmt: skip
def test_malformed_rbac_objects_are_refused_as_kube_apiserver_refuses_them(sim, obj, message):
    name, ns = "bad-" + uuid.uuid4().hex[:6], "default"
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": name}, **obj}
    scoped = obj["kind"] in ("Role", "RoleBinding")
    out = kubectl(sim.kubeconfig, "create", "-f", "-", *(["-n", ns] if scoped else []), stdin=json.dumps(body), check=False)
    assert out.returncode != 0 and f'The {obj["kind"]} "{name}" is invalid: ' in out.stderr and message in out.stderr, out.stderr
    assert "NotFound" in kubectl(sim.kubeconfig, "get", obj["kind"].lower(), name, *(["-n", ns] if scoped else []), check=False).stderr


def test_bindings_are_defaulted_and_their_role_ref_never_changes(sim):
    ns, name = "default", "rb-" + uuid.uuid4().hex[:6]
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "someone"}, {"kind": "ServiceAccount", "name": "sa"}]}  # fmt: skip
    kubectl(sim.kubeconfig, "create", "-n", ns, "-f", "-", stdin=json.dumps(body))
    stored = json.loads(kubectl(sim.kubeconfig, "get", "rolebinding", name, "-n", ns, "-o", "json").stdout)
    assert stored["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert [s.get("apiGroup") for s in stored["subjects"]] == ["rbac.authorization.k8s.io", None]
    stored["roleRef"]["name"] = "edit"
    out = kubectl(sim.kubeconfig, "replace", "-n", ns, "-f", "-", stdin=json.dumps(stored), check=False)
    assert out.returncode != 0 and "roleRef: Invalid value" in out.stderr and "cannot change roleRef" in out.stderr, out.stderr
    assert json.loads(kubectl(sim.kubeconfig, "get", "rolebinding", name, "-n", ns, "-o", "json").stdout)["roleRef"]["name"] == "view"


def test_the_default_view_edit_and_admin_roles_grant_what_upstream_grants(sim):
    """view reads a namespace's workloads but not its secrets; edit writes them (and reads secrets); admin manages its
    roles and bindings besides — each gathered from its system:aggregate-to-* role and the level below."""
    uid = uuid.uuid4().hex[:6]
    ns = f"vea-{uid}"
    kubectl(sim.kubeconfig, "create", "namespace", ns)
    for level in ("view", "edit", "admin"):
        kubectl(sim.kubeconfig, "create", "rolebinding", level, f"--clusterrole={level}", f"--user={level}-{uid}", "-n", ns)
    viewer, editor, admin = (f"{level}-{uid}" for level in ("view", "edit", "admin"))
    assert can(sim, viewer, "list", "pods", ns=ns) and can(sim, viewer, "get", "configmaps", ns=ns)
    assert can(sim, viewer, "get", "pods", "--subresource=log", ns=ns)
    assert not can(sim, viewer, "get", "secrets", ns=ns) and not can(sim, viewer, "create", "configmaps", ns=ns)
    assert can(sim, editor, "create", "configmaps", ns=ns) and can(sim, editor, "get", "secrets", ns=ns) and can(sim, editor, "list", "pods", ns=ns)
    assert not can(sim, editor, "create", "rolebindings", ns=ns)
    assert can(sim, admin, "create", "rolebindings", ns=ns) and can(sim, admin, "delete", "pods", ns=ns) and can(sim, admin, "list", "pods", ns=ns)
    assert not can(sim, admin, "list", "pods", ns="default"), "a RoleBinding grants its namespace only"
    rules = json.loads(kubectl(sim.kubeconfig, "get", "clusterrole", "view", "-o", "json").stdout)["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]} in rules
