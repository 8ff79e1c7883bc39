"""The RBAC authorizer as a pure function: every rule form, RoleBinding scope, request attributes, aggregation,
the 403 text."""

from __future__ import annotations

from simulator.dvp_simulator.api import rbac, rbac_roles
from simulator.dvp_simulator.api.access import _settled
from simulator.dvp_simulator.api.authz import ADMIN, Attributes, UserInfo
from simulator.dvp_simulator.api.rbac import BOOTSTRAP, ListSource, RBACAuthorizer, attributes_of, forbidden_message, request_attributes, rule_allows
from simulator.dvp_simulator.controllers.rbac_aggregation import aggregated_rules

VZ = "virtualization.deckhouse.io"
ALICE = UserInfo("alice", ("devs", "system:authenticated"))


def cr(name, rules, labels=None, select=None):
    o = {"kind": "ClusterRole", "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if select:
        o["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": s} for s in select]}
    return o


def rb(ns, role, kind="ClusterRole", subject=("User", "alice")):
    return {
        "kind": "RoleBinding",
        "metadata": {"name": "b", "namespace": ns},
        "roleRef": {"kind": kind, "name": role},
        "subjects": [{"kind": subject[0], "name": subject[1]}],
    }


def crb(role, subject=("User", "alice")):
    return {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "cb"},
        "roleRef": {"kind": "ClusterRole", "name": role},
        "subjects": [{"kind": subject[0], "name": subject[1]}],
    }


def test_rule_forms():
    a = Attributes("get", VZ, "v1", "virtualmachines", "console", "p", "vm1")
    assert rule_allows(a, {"verbs": ["get"], "apiGroups": [VZ], "resources": ["virtualmachines/console"]})
    assert rule_allows(a, {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/console"]})
    assert not rule_allows(a, {"verbs": ["get"], "apiGroups": [VZ], "resources": ["virtualmachines/*"]}), "Kubernetes has */sub, not res/*"
    assert not rule_allows(a, {"verbs": ["get"], "apiGroups": [VZ], "resources": ["virtualmachines"]})
    assert rule_allows(a, {"verbs": ["get"], "apiGroups": [VZ], "resources": ["*"], "resourceNames": ["vm1"]})
    assert not rule_allows(a, {"verbs": ["get"], "apiGroups": [VZ], "resources": ["*"], "resourceNames": ["vm2"]})
    assert not rule_allows(a, {"verbs": ["list"], "apiGroups": [VZ], "resources": ["*"]})
    assert not rule_allows(a, {"verbs": ["get"], "apiGroups": [""], "resources": ["*"]})
    create = Attributes("create", VZ, "v1", "virtualmachines", namespace="p")
    assert not rule_allows(create, {"verbs": ["create"], "apiGroups": [VZ], "resources": ["virtualmachines"], "resourceNames": ["x"]})
    path = Attributes("get", path="/openapi/v3/apis")
    assert rule_allows(path, {"verbs": ["get"], "nonResourceURLs": ["/openapi/*"]})
    assert not rule_allows(path, {"verbs": ["get"], "nonResourceURLs": ["/openapi"]})
    assert not rule_allows(path, {"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]})


def test_request_attributes():
    q = {}
    assert request_attributes("GET", "/api/v1/namespaces/p/pods", q) == Attributes("list", "", "v1", "pods", "", "p", "")
    assert request_attributes("GET", "/api/v1/namespaces/p/pods", {"watch": "true"}).verb == "watch"
    assert request_attributes("GET", "/api/v1/namespaces/p/pods", {"fieldSelector": "metadata.name=x"}).name == "x"
    assert request_attributes("DELETE", f"/apis/{VZ}/v1alpha2/namespaces/p/virtualdisks", q).verb == "deletecollection"
    a = request_attributes("POST", "/api/v1/namespaces/p/pods/x/eviction", q)
    assert (a.verb, a.resource, a.subresource, a.name) == ("create", "pods", "eviction", "x")
    assert request_attributes("PATCH", "/api/v1/nodes/n1", q) == Attributes("patch", "", "v1", "nodes", "", "", "n1")
    assert request_attributes("GET", "/api/v1/namespaces/p", q) == Attributes("get", "", "v1", "namespaces", "", "p", "p")
    assert request_attributes("GET", "/apis/apps/v1", q) == Attributes("get", path="/apis/apps/v1")
    assert request_attributes("GET", "/version", q).path == "/version"


def test_attributes_are_remembered_by_method_and_raw_target_within_a_bound(monkeypatch):
    monkeypatch.setattr(rbac, "_attributes", {})
    monkeypatch.setattr(rbac, "ATTRIBUTES_KEPT", 3)
    path = "/api/v1/namespaces/p/pods"
    first = attributes_of("GET", path + "?watch=1", path, {"watch": "1"})
    assert first == request_attributes("GET", path, {"watch": "1"}) and first.verb == "watch"
    assert attributes_of("GET", path + "?watch=1", path, {}) is first  # the raw target decides: not read again
    assert attributes_of("GET", path, path, {}).verb == "list"  # another query is another target
    assert attributes_of("DELETE", path, path, {}).verb == "deletecollection"  # another method too
    assert len(rbac._attributes) == 3
    attributes_of("GET", "/version", "/version", {})  # full: emptied, then this one kept
    assert list(rbac._attributes) == [("GET", "/version")]


def test_bindings_scope_and_masters():
    role = cr("vd-rw", [{"verbs": ["*"], "apiGroups": [VZ], "resources": ["virtualdisks", "clustervirtualimages"]}])
    authorize = RBACAuthorizer(ListSource([*BOOTSTRAP, role, rb("proj", "vd-rw")]))
    assert authorize(ALICE, Attributes("create", VZ, "v1", "virtualdisks", namespace="proj")).allowed
    assert not authorize(ALICE, Attributes("create", VZ, "v1", "virtualdisks", namespace="other")).allowed
    # a RoleBinding never grants cluster-scoped objects
    assert not authorize(ALICE, Attributes("list", VZ, "v1", "clustervirtualimages")).allowed
    assert authorize(ALICE, Attributes("get", path="/apis")).allowed  # system:discovery via system:authenticated
    assert authorize(ADMIN, Attributes("delete", "x", "v1", "anything")).allowed
    group = RBACAuthorizer(ListSource([role, crb("vd-rw", ("Group", "devs"))]))
    assert group(ALICE, Attributes("list", VZ, "v1", "clustervirtualimages")).allowed
    local = {"kind": "Role", "metadata": {"name": "r", "namespace": "proj"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]}
    byrole = RBACAuthorizer(ListSource([local, rb("proj", "r", kind="Role")]))
    assert byrole(ALICE, Attributes("get", "", "v1", "secrets", namespace="proj", name="s")).allowed
    assert not byrole(ALICE, Attributes("list", "", "v1", "secrets", namespace="proj")).allowed
    res, nonres, _unused = RBACAuthorizer(ListSource([*BOOTSTRAP, role, rb("proj", "vd-rw")])).rules(ALICE, "proj")
    assert {"verbs": ["*"], "apiGroups": [VZ], "resources": ["virtualdisks", "clustervirtualimages"]} in res
    assert any("/apis" in r["nonResourceURLs"] for r in nonres)


def test_aggregation_chain_and_platform_roles():
    a = cr("a", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], {"agg": "x"})
    agg = cr("agg", [], {"agg2": "y"}, select=[{"agg": "x"}])
    top = cr("top", [], select=[{"agg2": "y"}])
    assert aggregated_rules(agg, [a, agg, top]) == a["rules"]
    settled = {o["metadata"]["name"]: o for o in _settled([a, agg, top])}
    assert settled["top"]["rules"] == a["rules"]
    objects = _settled(rbac_roles.platform_roles())
    authorize = RBACAuthorizer(ListSource([*objects, rb("proj", "d8:use:role:user:virtualization")]))
    assert authorize(ALICE, Attributes("create", VZ, "v1alpha2", "virtualmachineoperations", namespace="proj")).allowed
    assert authorize(ALICE, Attributes("list", VZ, "v1alpha2", "virtualmachines", namespace="proj")).allowed
    assert not authorize(ALICE, Attributes("create", VZ, "v1alpha2", "virtualmachines", namespace="proj")).allowed
    assert not authorize(ALICE, Attributes("get", VZ, "v1alpha2", "virtualmachineclasses", name="generic")).allowed
    manager = RBACAuthorizer(ListSource([*objects, crb("d8:manage:virtualization:manager")]))
    assert manager(ALICE, Attributes("create", VZ, "v1alpha2", "clustervirtualimages")).allowed
    assert manager(ALICE, Attributes("patch", "deckhouse.io", "v1alpha1", "moduleconfigs", name="virtualization")).allowed
    assert not manager(ALICE, Attributes("create", "deckhouse.io", "v1alpha1", "moduleconfigs")).allowed
    assert not manager(ALICE, Attributes("list", VZ, "v1alpha2", "virtualmachines", namespace="proj")).allowed


def test_forbidden_message():
    msg, details = forbidden_message(ALICE, Attributes("create", VZ, "v1", "clustervirtualimages"))
    assert msg == (
        'clustervirtualimages.virtualization.deckhouse.io is forbidden: User "alice" cannot create resource "clustervirtualimages"'
        ' in API group "virtualization.deckhouse.io" at the cluster scope'
    )
    assert details == {"group": VZ, "kind": "clustervirtualimages"}
    msg, details = forbidden_message(ALICE, Attributes("get", "subresources." + VZ, "v1", "virtualmachines", "console", "vms", "vm1"))
    assert msg.startswith(
        'virtualmachines.subresources.virtualization.deckhouse.io "vm1" is forbidden: User "alice" cannot get resource "virtualmachines/console"'
    )
    assert msg.endswith('in the namespace "vms"') and details["name"] == "vm1"
    msg, _unused = forbidden_message(ALICE, Attributes("list", "", "v1", "pods", namespace="p"))
    assert msg == 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "p"'
    assert forbidden_message(UserInfo("<b>", ()), Attributes("get", path="/x"))[0] == 'forbidden: User "&lt;b&gt;" cannot get path "/x"'
