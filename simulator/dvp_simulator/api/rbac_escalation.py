"""RBAC's privilege-escalation prevention, as kube-apiserver's RBAC storage enforces it (pkg/registry/rbac/*/policybased,
pkg/registry/rbac/validation/rule.go, component-helpers/auth/rbac/validation/policy_comparator.go): a user can grant
only what they already hold.

- A Role or ClusterRole is written (create, or an update that changes more than ownerReferences and finalizers) only
  when every one of its rules is covered by the writer's own rules where it applies (a Role's namespace; a ClusterRole:
  the cluster-wide rules), unless the writer may `escalate` that role. Setting or changing a ClusterRole's
  aggregationRule takes full authority (`*` on everything): it can gather anything.
- A RoleBinding or ClusterRoleBinding is written only when the writer may `bind` the role it refers to (in the binding's
  namespace; a ClusterRoleBinding's at the cluster scope), or already holds every rule of that role there. A binding to a
  role that does not exist is then 404, as upstream's rule resolver answers.
- Members of system:masters skip all of it; so do the simulator's own controllers (no requester).

The refusal is upstream's 403: `<resource> "<name>" is forbidden: user "u" (groups=["g"]) is attempting to grant RBAC
permissions not currently held:` and the missing rules, broken down to one verb, group, resource and name each, the ones
differing only by verb merged back, each as rbacv1helpers.CompactString writes it, sorted, one per line.

`covers` and `compact_string` are pure (unit-tested directly); `register(admission, authorizer)` installs the check as a
validating hook on the four kinds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .authz import MASTERS, Attributes, UserInfo
from .errors import APIError, not_found

GROUP = "rbac.authorization.k8s.io"
FULL_AUTHORITY = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, {"verbs": ["*"], "nonResourceURLs": ["*"]}]
GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "selfLink", "resourceVersion")
PLURAL = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings"}


# -- the comparison (policy_comparator.go) ------------------------------------------------------------------------
def _list(rule: dict[str, Any], key: str) -> list[str]:
    value = rule.get(key) or []
    return [str(v) for v in value] if isinstance(value, list) else []


def breakdown(rule: dict[str, Any]) -> list[dict[str, list[str]]]:
    """BreakdownRule: one rule per group × resource × verb (× resource name), then per non-resource URL × verb."""
    out: list[dict[str, list[str]]] = []
    verbs, names = _list(rule, "verbs"), _list(rule, "resourceNames")
    for group in _list(rule, "apiGroups"):
        for resource in _list(rule, "resources"):
            for verb in verbs:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                out += [{**base, "resourceNames": [n]} for n in names] if names else [base]
    for url in _list(rule, "nonResourceURLs"):
        out += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs]
    return out


def _has_all(owned: list[str], wanted: list[str]) -> bool:
    return all(w in owned for w in wanted)


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned or _has_all(owned, wanted):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owned:  # `*/sub` covers any resource's sub
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _rule_covers(owner: dict[str, Any], sub: dict[str, list[str]]) -> bool:
    verbs, groups = _list(owner, "verbs"), _list(owner, "apiGroups")
    names, sub_names = _list(owner, "resourceNames"), sub.get("resourceNames", [])
    owner_urls = _list(owner, "nonResourceURLs")
    return (
        ("*" in verbs or _has_all(verbs, sub.get("verbs", [])))
        and ("*" in groups or _has_all(groups, sub.get("apiGroups", [])))
        and _resources_cover(_list(owner, "resources"), sub.get("resources", []))
        and (not names if not sub_names else (not names or _has_all(names, sub_names)))
        and all(any(_url_covers(o, u) for o in owner_urls) for u in sub.get("nonResourceURLs", []))
    )


def covers(owner_rules: Iterable[dict[str, Any]], servant_rules: Iterable[dict[str, Any]]) -> list[dict[str, list[str]]]:
    """Covers: the broken-down servant rules no owner rule covers (empty: the owner holds all of them)."""
    owners = [r for r in owner_rules if isinstance(r, dict)]
    missing = []
    for rule in servant_rules:
        for sub in breakdown(rule if isinstance(rule, dict) else {}):
            if not any(_rule_covers(o, sub) for o in owners):
                missing.append(sub)
    return missing


def compact(rules: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """CompactRules: the simple rules (one group, one resource, at most one name) that differ only by verb, merged."""
    simple: dict[tuple[str, str, str | None], dict[str, list[str]]] = {}
    out = []
    for rule in rules:
        names = rule.get("resourceNames", [])
        if rule.get("nonResourceURLs") or len(names) > 1 or len(rule.get("apiGroups", [])) != 1 or len(rule.get("resources", [])) != 1:
            out.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], names[0] if names else None)
        if key in simple:
            simple[key]["verbs"] = simple[key]["verbs"] + rule.get("verbs", [])
        else:
            simple[key] = {k: list(v) for k, v in rule.items()}
    return out + list(simple.values())


def _go_strings(values: list[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: dict[str, list[str]]) -> str:
    """rbacv1helpers.CompactString: {APIGroups:["g"], Resources:["r"], NonResourceURLs:[...], ResourceNames:[...], Verbs:["v"]}."""
    parts = [
        f"{label}:{_go_strings(rule[key])}"
        for label, key in (("APIGroups", "apiGroups"), ("Resources", "resources"), ("NonResourceURLs", "nonResourceURLs"), ("ResourceNames", "resourceNames"), ("Verbs", "verbs"))
        if rule.get(key)
    ]
    return "{" + ", ".join(parts) + "}"


def escalation_message(user: UserInfo, missing: list[dict[str, list[str]]]) -> str:
    described = sorted({compact_string(r) for r in compact(missing)})
    return f"user {json.dumps(user.username)} (groups={_go_strings(list(user.groups))}) is attempting to grant RBAC permissions not currently held:\n" + "\n".join(described)


# -- the check on writes ------------------------------------------------------------------------------------------
def _only_gc_fields(obj: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """IsOnlyMutatingGCFields: the update changes nothing but ownerReferences and finalizers (so the garbage collector
    and finalizers can always finish a role or binding, whoever holds what)."""
    if old is None:
        return False

    def bare(o: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (o.get("metadata") or {}).items() if k not in GC_FIELDS}
        return {**o, "metadata": meta}

    return bare(obj) == bare(old)


def register(admission: Admission, authorizer: Any) -> None:
    """The escalation checks as validating hooks; `authorizer` is the RBAC authorizer (with its `rules(user, ns)`)."""

    def forbidden(kind: str, name: str, message: str) -> APIError:
        return APIError(403, f'{PLURAL[kind]}.{GROUP} "{name}" is forbidden: {message}', reason="Forbidden", details={"name": name, "group": GROUP, "kind": PLURAL[kind]})

    def held(user: UserInfo, namespace: str) -> list[dict[str, Any]]:
        resource_rules, non_resource, _ = authorizer.rules(user, namespace)
        return [*resource_rules, *non_resource]

    def exempt(request: AdmissionRequest) -> bool:
        user = request.user
        return user is None or MASTERS in user.groups or _only_gc_fields(request.obj or {}, request.old)

    def check_role(request: AdmissionRequest) -> None:
        if exempt(request):
            return
        obj, kind = request.obj or {}, request.rt.kind
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", "") if kind == "Role" else "", meta.get("name", "")
        user = request.user
        if authorizer(user, Attributes("escalate", GROUP, "*", PLURAL[kind], namespace=namespace, name=name)).allowed:
            return
        owned = held(user, namespace)
        missing = covers(owned, obj.get("rules") or [])
        if missing:
            raise forbidden(kind, name, escalation_message(user, missing))
        aggregation = obj.get("aggregationRule")
        if kind == "ClusterRole" and aggregation and aggregation != (request.old or {}).get("aggregationRule") and covers(owned, FULL_AUTHORITY):
            raise forbidden(kind, name, "must have cluster-admin privileges to use the aggregationRule")

    def check_binding(request: AdmissionRequest) -> None:
        if exempt(request):
            return
        obj, kind = request.obj or {}, request.rt.kind
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", "") if kind == "RoleBinding" else "", meta.get("name", "")
        ref = obj.get("roleRef") or {}
        ref_kind, ref_name = ref.get("kind", ""), ref.get("name", "")
        if ref_kind not in ("Role", "ClusterRole"):
            return  # validation refuses it
        user = request.user
        if authorizer(user, Attributes("bind", ref.get("apiGroup", GROUP), "*", PLURAL[ref_kind], namespace=namespace, name=ref_name)).allowed:
            return
        role = authorizer.source.role(ref_kind, namespace, ref_name)
        if role is None:
            raise not_found(GROUP, PLURAL[ref_kind], ref_name)
        missing = covers(held(user, namespace), role.get("rules") or [])
        if missing:
            raise forbidden(kind, name, escalation_message(user, missing))

    for kind in ("Role", "ClusterRole"):
        admission.validate(GROUP, kind, operations=(CREATE, UPDATE))(check_role)
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        admission.validate(GROUP, kind, operations=(CREATE, UPDATE))(check_binding)
