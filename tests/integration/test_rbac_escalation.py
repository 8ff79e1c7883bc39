"""RBAC's privilege-escalation prevention through real kubectl: a user who may write Roles and RoleBindings grants only
what they hold, unless they may `escalate` the role or `bind` the role referred to; system:masters may do anything."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.test_rbac import apply_rbac, binding, can, kubectl, role

GRANT = 'is attempting to grant RBAC permissions not currently held:'


@pytest.fixture(scope="module")
def delegate(sim):
    """A user who may create Roles and RoleBindings in their namespace and read configmaps there, nothing more."""
    uid = uuid.uuid4().hex[:6]
    user, ns = f"esc-{uid}", f"esc-{uid}"
    kubectl(sim.kubeconfig, "create", "namespace", ns)
    kubectl(sim.kubeconfig, "create", "secret", "generic", "s", "--from-literal=k=v", "-n", ns)
    apply_rbac(
        sim,
        role("Role", "delegate", [{"verbs": ["create", "update", "patch", "get", "list"], "apiGroups": ["rbac.authorization.k8s.io"],
                                   "resources": ["roles", "rolebindings"]},
                                  {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]}], ns),  # fmt: skip
        binding("RoleBinding", "delegate", "Role", "delegate", user, ns),
    )
    return {"user": user, "ns": ns, "uid": uid}


def as_user(sim, d, *args, stdin=None):
    return kubectl(sim.kubeconfig, *args, "-n", d["ns"], "--as", d["user"], stdin=stdin, check=False)


def create(sim, d, obj, *extra):
    return as_user(sim, d, "create", *extra, "-f", "-", stdin=json.dumps(obj))


def test_a_role_granting_more_than_its_writer_holds_is_refused(sim, delegate):
    d = delegate
    wide = create(sim, d, role("Role", "all", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], d["ns"]))
    assert wide.returncode != 0
    assert f'roles.rbac.authorization.k8s.io "all" is forbidden: user "{d["user"]}" (groups=["system:authenticated"]) {GRANT}' in wide.stderr
    assert '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}' in wide.stderr
    dry = create(sim, d, role("Role", "all", [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}], d["ns"]), "--dry-run=server")
    assert dry.returncode != 0 and '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}' in dry.stderr, "a dry run is checked alike"
    held = create(sim, d, role("Role", "cm-reader", [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["x"]}], d["ns"]))
    assert held.returncode == 0, held.stderr
    widened = as_user(sim, d, "patch", "role", "cm-reader", "--type", "json", "-p",
                      '[{"op": "add", "path": "/rules/-", "value": {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}}]')  # fmt: skip
    assert widened.returncode != 0 and GRANT in widened.stderr, "an update is checked as a create"
    assert kubectl(sim.kubeconfig, "get", "role", "all", "-n", d["ns"], check=False).returncode != 0, "nothing was stored"


def test_a_binding_to_a_role_its_writer_does_not_hold_is_refused(sim, delegate):
    d = delegate
    pwn = as_user(sim, d, "create", "rolebinding", "pwn", "--clusterrole=cluster-admin", f"--user={d['user']}")
    assert pwn.returncode != 0 and f'rolebindings.rbac.authorization.k8s.io "pwn" is forbidden: user "{d["user"]}"' in pwn.stderr
    assert not can(sim, d["user"], "get", "secrets", ns=d["ns"]), "still no secrets"
    missing = as_user(sim, d, "create", "rolebinding", "ghost", "--role=no-such-role", f"--user={d['user']}")
    assert missing.returncode != 0 and 'roles.rbac.authorization.k8s.io "no-such-role" not found' in missing.stderr
    kubectl(sim.kubeconfig, "create", "role", "cm-get", "--verb=get", "--resource=configmaps", "-n", d["ns"])
    ok = as_user(sim, d, "create", "rolebinding", "cm-get", "--role=cm-get", "--user=someone-else")
    assert ok.returncode == 0, "binding a role whose rules the writer holds is allowed: " + ok.stderr


def test_escalate_and_bind_verbs_lift_the_check(sim, delegate):
    d = delegate
    apply_rbac(
        sim,
        role("Role", "may-escalate", [{"verbs": ["escalate"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"]}], d["ns"]),
        binding("RoleBinding", "may-escalate", "Role", "may-escalate", d["user"], d["ns"]),
        role("ClusterRole", f"may-bind-{d['uid']}", [{"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                                                      "resourceNames": ["cluster-admin"]}]),  # fmt: skip
        binding("RoleBinding", "may-bind", "ClusterRole", f"may-bind-{d['uid']}", d["user"], d["ns"]),
    )
    wide = create(sim, d, role("Role", "everything", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], d["ns"]))
    assert wide.returncode == 0, wide.stderr
    bound = as_user(sim, d, "create", "rolebinding", "admins", "--clusterrole=cluster-admin", "--user=ops")
    assert bound.returncode == 0, "bind on that ClusterRole by name: " + bound.stderr


def test_a_cluster_role_with_an_aggregation_rule_takes_full_authority(sim):
    uid = uuid.uuid4().hex[:6]
    user = f"agg-{uid}"
    apply_rbac(
        sim,
        role("ClusterRole", f"cr-writer-{uid}", [{"verbs": ["create"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"]}]),
        binding("ClusterRoleBinding", f"cr-writer-{uid}", "ClusterRole", f"cr-writer-{uid}", user),
    )
    agg = role("ClusterRole", f"gather-{uid}", [], aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]})
    out = kubectl(sim.kubeconfig, "create", "-f", "-", "--as", user, stdin=json.dumps(agg), check=False)
    assert out.returncode != 0 and "must have cluster-admin privileges to use the aggregationRule" in out.stderr
    plain = kubectl(sim.kubeconfig, "create", "-f", "-", "--as", user, stdin=json.dumps(role("ClusterRole", f"empty-{uid}", [])), check=False)
    assert plain.returncode == 0, plain.stderr
    admin = kubectl(sim.kubeconfig, "create", "-f", "-", stdin=json.dumps(agg), check=False)
    assert admin.returncode == 0, "system:masters may: " + admin.stderr


def test_the_check_holds_for_a_users_own_token(sim, delegate, tmp_path):
    d = delegate
    kc = tmp_path / "user.kubeconfig"
    sim.add_user(d["user"], kc)
    apply_rbac(sim, role("ClusterRole", f"secrets-{d['uid']}", [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]))
    out = kubectl(kc, "create", "rolebinding", "pwn2", f"--clusterrole=secrets-{d['uid']}", f"--user={d['user']}", "-n", d["ns"], check=False)
    assert out.returncode != 0 and GRANT in out.stderr
