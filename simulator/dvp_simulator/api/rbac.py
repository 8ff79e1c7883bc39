"""Kubernetes RBAC, as kube-apiserver's RBAC authorizer evaluates it, over the simulator's store.

- `request_attributes(method, path, query)` turns an HTTP request into `authz.Attributes` as apiserver's
  `requestinfo.go` does (verb from method: get/list/watch/create/update/patch/delete/deletecollection; namespace,
  resource, subresource, name — a `metadata.name` fieldSelector names a list/watch; anything that is not
  `/api/v1/…` or `/apis/<g>/<v>/…` is a non-resource URL whose verb is the lowercase method).
- `rule_allows(attributes, rule)` is one PolicyRule's match, as rbacv1helpers' RuleAllows: verbs, apiGroups,
  resources (`*`, `res`, `res/sub`, `*/sub` — there is no `res/*`), resourceNames (a rule naming resources never
  allows a request without a name: list, watch, create, deletecollection), nonResourceURLs (`*`, exact, or a
  trailing `*` as a prefix match).
- `RBACAuthorizer(source)` decides for a user: system:masters may do everything; otherwise allowed iff some rule of
  a role bound to the user (ClusterRoleBindings anywhere; RoleBindings of the request's namespace, resource rules
  only) allows it. RBAC never denies. `source` finds bindings by subject key (`User:alice`, `Group:g`,
  `ServiceAccount:ns:name`): `StoreSource` reads them through a store index, so the cost of a decision is the
  bindings of the asker, not of the cluster.
- `forbidden(user, attributes)` is the 403 Status kube-apiserver answers (responsewriters/errors.go).
- `BOOTSTRAP` are the default discovery roles (system:discovery, system:basic-user, system:public-info-viewer) and
  their bindings to system:authenticated, seeded at start as kube-apiserver's bootstrap policy does.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any, Protocol

from .authz import MASTERS, Attributes, Decision, UserInfo
from .errors import APIError
from .options import query_flag

GROUP = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = f"{GROUP}/roles", f"{GROUP}/clusterroles"
ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS = f"{GROUP}/rolebindings", f"{GROUP}/clusterrolebindings"
SUBJECT_INDEX = "rbac-subject"
READ = ["get", "list", "watch"]
METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
NAMESPACE_SUBRESOURCES = ("status", "finalize")  # requestinfo.go's namespaceSubresources


# -- request attributes --------------------------------------------------------------------------------------
ATTRIBUTES_KEPT = 1024  # request targets remembered: a client polling a few objects hits; a hostile one holds at most ~8 MiB (8 KiB lines)
_attributes: dict[tuple[str, str], Attributes] = {}


def attributes_of(method: str, raw_path: str, path: str, query: Any) -> Attributes:
    """request_attributes of a request, remembered by its method and raw target (`raw_path`, its query included),
    which decide them: an authorization's every request otherwise split and read its path again. The memory is
    bounded, emptied when full (a miss costs what every request cost before)."""
    key = (method, raw_path)
    found = _attributes.get(key)
    if found is None:
        if len(_attributes) >= ATTRIBUTES_KEPT:
            _attributes.clear()
        found = _attributes[key] = request_attributes(method, path, query)
    return found


def request_attributes(method: str, path: str, query: Any) -> Attributes:
    parts = [p for p in path.split("/") if p]
    method = method.upper()
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(verb=method.lower(), path=path or "/")
    watch = False
    if rest[0] == "watch":  # the deprecated /watch/ prefix
        watch, rest = True, rest[1:]
        if not rest:
            return Attributes(verb=method.lower(), path=path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:  # /namespaces/x/status is the namespace's own
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method in ("GET", "HEAD"):
        if name and not watch:
            verb = "get"  # a named GET ignores ?watch, as the server does (requestinfo.go turns only a list into a watch)
        elif watch or query_flag(query, "watch"):  # the server's own reading of the flag: the verb authorized is the one served
            verb = "watch"
        else:
            verb = "list"
        if verb in ("list", "watch") and not name:
            name = _name_from_field_selector(query.get("fieldSelector", ""))
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = METHOD_VERBS.get(method, method.lower())
    return Attributes(verb=verb, group=group, version=version, resource=resource, subresource=subresource, namespace=namespace, name=name)


def _name_from_field_selector(selector: str) -> str:
    for term in (selector or "").split(","):
        key, sep, value = term.partition("=")
        key = key.rstrip("=")
        value = value.lstrip("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!"):
            return value.strip()
    return ""


# -- one rule ------------------------------------------------------------------------------------------------
def _has(values: Iterable[str] | None, wanted: str) -> bool:
    values = values or ()
    return "*" in values or wanted in values


def _resource_matches(resources: Iterable[str] | None, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in resources or ():
        if r == "*" or r == combined:
            return True
        if subresource and r == f"*/{subresource}":  # `*/sub` only: Kubernetes has no `res/*` form
            return True
    return False


def _url_matches(urls: Iterable[str] | None, path: str) -> bool:
    for u in urls or ():
        if u == "*" or u == path or (u.endswith("*") and path.startswith(u.rstrip("*"))):
            return True
    return False


def rule_allows(attributes: Attributes, rule: dict[str, Any]) -> bool:
    if not isinstance(rule, dict) or not _has(rule.get("verbs"), attributes.verb):
        return False
    if attributes.path:  # a non-resource request
        return _url_matches(rule.get("nonResourceURLs"), attributes.path)
    if not _has(rule.get("apiGroups"), attributes.group):
        return False
    if not _resource_matches(rule.get("resources"), attributes.resource, attributes.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


# -- subjects and bindings -----------------------------------------------------------------------------------
def subject_keys(user: UserInfo) -> list[str]:
    keys = [f"User:{user.username}"]
    if user.username.startswith("system:serviceaccount:") and user.username.count(":") == 3:
        _, _, ns, name = user.username.split(":")
        keys.append(f"ServiceAccount:{ns}:{name}")
    keys += [f"Group:{g}" for g in user.groups]
    return keys


def binding_subject_keys(binding: dict[str, Any] | None) -> list[str]:
    """The index function: the keys of a binding's subjects (a ServiceAccount without namespace is the binding's)."""
    if not binding:
        return []
    out = []
    default_ns = (binding.get("metadata") or {}).get("namespace", "")
    for s in binding.get("subjects") or []:
        if not isinstance(s, dict):
            continue
        kind, name = s.get("kind"), s.get("name", "")
        if kind == "ServiceAccount":
            out.append(f"ServiceAccount:{s.get('namespace') or default_ns}:{name}")
        elif kind in ("User", "Group"):
            out.append(f"{kind}:{name}")
    return out


class Source(Protocol):
    def cluster_bindings(self, key: str) -> list[dict[str, Any]]: ...

    def namespace_bindings(self, key: str, namespace: str) -> list[dict[str, Any]]: ...

    def role(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...


class ListSource:
    """Bindings and roles held in lists (unit tests, the pure form)."""

    def __init__(self, objects: Iterable[dict[str, Any]]):
        self.objects = list(objects)

    def _of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def cluster_bindings(self, key: str) -> list[dict[str, Any]]:
        return [b for b in self._of("ClusterRoleBinding") if key in binding_subject_keys(b)]

    def namespace_bindings(self, key: str, namespace: str) -> list[dict[str, Any]]:
        return [b for b in self._of("RoleBinding") if b["metadata"].get("namespace") == namespace and key in binding_subject_keys(b)]

    def role(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        for o in self._of(kind):
            if o["metadata"]["name"] == name and (kind == "ClusterRole" or o["metadata"].get("namespace") == namespace):
                return o
        return None


class StoreSource:
    """Bindings from the store, found through the subject index (registered here)."""

    def __init__(self, store: Any):
        self.store = store
        store.add_index(ROLE_BINDINGS, SUBJECT_INDEX, binding_subject_keys)
        store.add_index(CLUSTER_ROLE_BINDINGS, SUBJECT_INDEX, binding_subject_keys)

    def cluster_bindings(self, key: str) -> list[dict[str, Any]]:
        return [e.obj for e in self.store.by_index(CLUSTER_ROLE_BINDINGS, SUBJECT_INDEX, key)]

    def namespace_bindings(self, key: str, namespace: str) -> list[dict[str, Any]]:
        return [e.obj for e in self.store.by_index(ROLE_BINDINGS, SUBJECT_INDEX, key, namespace)]

    def role(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        entry = self.store.get(CLUSTER_ROLES, "", name) if kind == "ClusterRole" else self.store.get(ROLES, namespace, name)
        return entry.obj if entry else None


class RBACAuthorizer:
    def __init__(self, source: Source):
        self.source = source

    def _roles(self, user: UserInfo, namespace: str) -> Iterable[tuple[dict[str, Any], bool]]:
        """(role, from a RoleBinding) for every role bound to the user, cluster bindings first."""
        keys = subject_keys(user)
        seen: set[tuple[str, str, str]] = set()
        for key in keys:
            for b in self.source.cluster_bindings(key):
                ref = b.get("roleRef") or {}
                if ref.get("kind") == "ClusterRole" and ("", "", ref.get("name", "")) not in seen:
                    seen.add(("", "", ref.get("name", "")))
                    role = self.source.role("ClusterRole", "", ref.get("name", ""))
                    if role:
                        yield role, False
        if not namespace:
            return
        for key in keys:
            for b in self.source.namespace_bindings(key, namespace):
                ref = b.get("roleRef") or {}
                kind, name = ref.get("kind", ""), ref.get("name", "")
                ident = (kind, namespace if kind == "Role" else "*", name)
                if kind not in ("Role", "ClusterRole") or ident in seen:
                    continue
                seen.add(ident)
                role = self.source.role(kind, namespace, name)
                if role:
                    yield role, True

    def __call__(self, user: UserInfo, attributes: Attributes) -> Decision:
        if MASTERS in user.groups:
            return Decision(allowed=True)
        for role, namespaced in self._roles(user, attributes.namespace):
            if namespaced and attributes.path:
                continue
            if any(rule_allows(attributes, r) for r in role.get("rules") or []):
                return Decision(allowed=True)
        return Decision(allowed=False)

    def rules(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        """SelfSubjectRulesReview's answer: the resource rules (cluster-wide and the namespace's) and the
        non-resource rules (cluster bindings only) of the user."""
        masters = MASTERS in user.groups
        resource_rules: list[dict[str, Any]] = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}] if masters else []
        non_resource: list[dict[str, Any]] = [{"verbs": ["*"], "nonResourceURLs": ["*"]}] if masters else []
        for role, namespaced in self._roles(user, namespace):
            for r in role.get("rules") or []:
                if not isinstance(r, dict):
                    continue
                if r.get("nonResourceURLs"):
                    nr = {"verbs": list(r.get("verbs") or []), "nonResourceURLs": list(r["nonResourceURLs"])}
                    if not namespaced and nr not in non_resource:
                        non_resource.append(nr)
                    continue
                out = {k: list(r[k]) for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                out.setdefault("apiGroups", [])
                out.setdefault("resources", [])
                if out not in resource_rules:
                    resource_rules.append(out)
        return resource_rules, non_resource, False


# -- the 403 -------------------------------------------------------------------------------------------------
def forbidden_message(user: UserInfo, a: Attributes) -> tuple[str, dict[str, Any]]:
    who = user.username
    if a.path:
        return html.escape(f'forbidden: User "{who}" cannot {a.verb} path "{a.path}"', quote=False), {}
    gr = f"{a.resource}.{a.group}" if a.group else a.resource
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    head = f'{gr} "{a.name}"' if a.name else gr
    message = f'{head} is forbidden: User "{who}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'
    details: dict[str, Any] = {}
    if a.name:
        details["name"] = a.name
    if a.group:
        details["group"] = a.group
    details["kind"] = a.resource
    return html.escape(message, quote=False), details


def forbidden(user: UserInfo, attributes: Attributes) -> APIError:
    message, details = forbidden_message(user, attributes)
    return APIError(403, message, reason="Forbidden", details=details)


# -- bootstrap policy ----------------------------------------------------------------------------------------
def _cluster_role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None, aggregate: list[dict[str, str]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    obj: dict[str, Any] = {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}
    if aggregate is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": s} for s in aggregate]}
    return obj


def _cluster_binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups],
    }


def _rule(verbs: list[str], group: str, *resources: str) -> dict[str, Any]:
    return {"verbs": list(verbs), "apiGroups": [group], "resources": list(resources)}


DEFAULTS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
AGGREGATE_TO_ADMIN, AGGREGATE_TO_EDIT, AGGREGATE_TO_VIEW = (f"{GROUP}/aggregate-to-{role}" for role in ("admin", "edit", "view"))
BOOTSTRAP: list[dict[str, Any]] = [
    _cluster_role(
        "system:discovery",
        [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}],
        DEFAULTS,
    ),
    _cluster_role(
        "system:basic-user",
        [
            {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
            {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
        ],
        DEFAULTS,
    ),
    # what an aggregated API server or a webhook is bound to for delegated authentication and authorization
    _cluster_role(
        "system:auth-delegator",
        [_rule(["create"], "authentication.k8s.io", "tokenreviews"), _rule(["create"], "authorization.k8s.io", "subjectaccessreviews")],
        DEFAULTS,
    ),
    _cluster_role("system:public-info-viewer", [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]}], DEFAULTS),
    _cluster_role("cluster-admin", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, {"verbs": ["*"], "nonResourceURLs": ["*"]}], DEFAULTS),
    # the user-facing roles: admin gathers edit (labelled to admin), edit gathers view (labelled to edit), each its
    # system:aggregate-to-* role besides (upstream: plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go)
    _cluster_role("admin", [], DEFAULTS, aggregate=[{AGGREGATE_TO_ADMIN: "true"}]),
    _cluster_role("edit", [], {**DEFAULTS, AGGREGATE_TO_ADMIN: "true"}, aggregate=[{AGGREGATE_TO_EDIT: "true"}]),
    _cluster_role("view", [], {**DEFAULTS, AGGREGATE_TO_EDIT: "true"}, aggregate=[{AGGREGATE_TO_VIEW: "true"}]),
    _cluster_role(
        "system:aggregate-to-admin",
        [_rule(["create"], "authorization.k8s.io", "localsubjectaccessreviews"), _rule(READ + WRITE, GROUP, "roles", "rolebindings")],
        {**DEFAULTS, AGGREGATE_TO_ADMIN: "true"},
    ),
    _cluster_role(
        "system:aggregate-to-edit",
        [
            _rule(READ, "", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
            _rule(["impersonate"], "", "serviceaccounts"),
            _rule(WRITE, "", "pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"),
            _rule(["create"], "", "pods/eviction"),
            _rule(WRITE, "", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/proxy",
                  "persistentvolumeclaims", "configmaps", "secrets", "events"),  # fmt: skip
            _rule(["create"], "", "serviceaccounts/token"),
            _rule(WRITE, "apps", "statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale", "deployments/rollback",
                  "replicasets", "replicasets/scale"),  # fmt: skip
            _rule(WRITE, "autoscaling", "horizontalpodautoscalers"),
            _rule(WRITE, "batch", "jobs", "cronjobs"),
            _rule(WRITE, "extensions", "daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses", "replicasets",
                  "replicasets/scale", "replicationcontrollers/scale", "networkpolicies"),  # fmt: skip
            _rule(WRITE, "policy", "poddisruptionbudgets"),
            _rule(WRITE, "networking.k8s.io", "networkpolicies", "ingresses"),
            _rule(READ + WRITE, "coordination.k8s.io", "leases"),
        ],
        {**DEFAULTS, AGGREGATE_TO_EDIT: "true"},
    ),
    _cluster_role(
        "system:aggregate-to-view",
        [
            _rule(READ, "", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status",
                  "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),  # fmt: skip
            _rule(READ, "", "limitranges", "resourcequotas", "bindings", "events", "pods/status", "resourcequotas/status", "namespaces/status",
                  "replicationcontrollers/status", "pods/log"),  # fmt: skip
            _rule(READ, "", "namespaces"),
            _rule(READ, "discovery.k8s.io", "endpointslices"),
            _rule(READ, "apps", "controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale", "daemonsets", "daemonsets/status",
                  "deployments", "deployments/status", "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale"),  # fmt: skip
            _rule(READ, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
            _rule(READ, "batch", "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
            _rule(READ, "extensions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses",
                  "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale", "networkpolicies"),  # fmt: skip
            _rule(READ, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
            _rule(READ, "networking.k8s.io", "networkpolicies", "ingresses", "ingresses/status"),
        ],
        {**DEFAULTS, AGGREGATE_TO_VIEW: "true"},
    ),
    _cluster_binding("system:discovery", "system:discovery", ["system:authenticated"]),
    _cluster_binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    _cluster_binding("system:public-info-viewer", "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
    _cluster_binding("cluster-admin", "cluster-admin", [MASTERS]),
]
