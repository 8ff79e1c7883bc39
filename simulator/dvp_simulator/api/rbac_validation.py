"""kube-apiserver's defaulting and validation of the RBAC kinds (pkg/apis/rbac/v1/defaults.go,
pkg/apis/rbac/validation/validation.go), as admission hooks on (rbac.authorization.k8s.io, kind), so that a malformed
Role, ClusterRole, RoleBinding or ClusterRoleBinding is refused with the API server's own 422 (naming the field and
the rule) instead of being stored and then read by the authorizer and the aggregation controller.

Defaulting: a binding's `roleRef.apiGroup` and a User or Group subject's `apiGroup` default to
rbac.authorization.k8s.io (a ServiceAccount's to ""); a RoleBinding's ServiceAccount subject without a namespace is
kept as written (the authorizer reads it as the binding's namespace).

Validation: every rule has verbs; a rule with nonResourceURLs names no apiGroups, resources or resourceNames and is
not in a (namespaced) Role; any other rule names at least one apiGroup and one resource. An aggregationRule has at
least one clusterRoleSelector, each a valid label selector. A binding refers to a Role or ClusterRole (a
ClusterRoleBinding to a ClusterRole only) of rbac.authorization.k8s.io with a valid name, which never changes
("cannot change roleRef"); a subject has a name and a kind among ServiceAccount, User, Group with the apiGroup of
that kind; a ClusterRoleBinding's ServiceAccount names its namespace."""

from __future__ import annotations

import json
from typing import Any

from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, invalid
from .objectmeta import label_value_errors, qualified_name_errors

GROUP = "rbac.authorization.k8s.io"
ROLE_KINDS = ("Role", "ClusterRole")
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _go(value: Any) -> str:
    """A value as Go's %#v prints it in field errors: strings quoted, []string{"a", "b"}."""
    if isinstance(value, list):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    return json.dumps(value)


def _required(field: str, detail: str = "") -> dict[str, str]:
    return cause(field, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def _not_supported(field: str, value: Any, supported: tuple[str, ...]) -> dict[str, str]:
    listed = ", ".join(json.dumps(s) for s in supported)
    return cause(field, f"Unsupported value: {_go(value)}: supported values: {listed}", "FieldValueNotSupported")


def _invalid(field: str, value: Any, detail: str) -> dict[str, str]:
    return cause(field, f"Invalid value: {_go(value)}: {detail}")


def rbac_name_errors(name: str) -> list[str]:
    """ValidateRBACName (path.IsValidPathSegmentName)."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


# -- defaulting ------------------------------------------------------------------------------------------------
def default_binding(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for s in obj.get("subjects") or []:
        if isinstance(s, dict) and not s.get("apiGroup") and s.get("kind") in ("User", "Group"):
            s["apiGroup"] = GROUP


# -- validation ------------------------------------------------------------------------------------------------
def policy_rule_causes(rule: dict[str, Any], namespaced: bool, path: str) -> list[dict[str, str]]:
    out = []
    if not rule.get("verbs"):
        out.append(_required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            out.append(_invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            out.append(_invalid(f"{path}.nonResourceURLs", urls, "rules cannot apply to both regular resources and non-resource URLs"))
        return out
    if not rule.get("apiGroups"):
        out.append(_required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        out.append(_required(f"{path}.resources", "resource rules must supply at least one resource"))
    return out


def label_selector_causes(selector: dict[str, Any], path: str) -> list[dict[str, str]]:
    """ValidateLabelSelector: label keys and values, operators and their values."""
    out = []
    for key, value in (selector.get("matchLabels") or {}).items():
        out += [_invalid(f"{path}.matchLabels", key, m) for m in qualified_name_errors(key)]
        out += [_invalid(f"{path}.matchLabels", value, m) for m in label_value_errors(value if isinstance(value, str) else "")]
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, dict):
            out.append(_invalid(where, expr, "must be an object"))
            continue
        op, values, key = expr.get("operator"), expr.get("values") or [], expr.get("key") or ""
        if op in ("In", "NotIn") and not values:
            out.append(_required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append(cause(f"{where}.values", "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'", "FieldValueForbidden"))
        elif op not in OPERATORS:
            out.append(_invalid(f"{where}.operator", op, "not a valid selector operator"))
        out += [_invalid(f"{where}.key", key, m) for m in qualified_name_errors(key)]
    return out


def validate_role(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    namespaced = request.rt.kind == "Role"
    causes = []
    for i, rule in enumerate(obj.get("rules") or []):
        causes += policy_rule_causes(rule if isinstance(rule, dict) else {}, namespaced, f"rules[{i}]")
    aggregation = obj.get("aggregationRule")
    if not namespaced and aggregation is not None:
        selectors = (aggregation or {}).get("clusterRoleSelectors") or []
        if not selectors:
            causes.append(_required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, selector in enumerate(selectors):
            causes += label_selector_causes(selector, f"aggregationRule.clusterRoleSelectors[{i}]")
    if causes:
        raise invalid(GROUP, request.rt.kind, obj["metadata"]["name"], causes)


def validate_binding(request: AdmissionRequest) -> None:
    obj, old = request.obj or {}, request.old
    kind = request.rt.kind
    namespaced = kind == "RoleBinding"
    ref = obj.get("roleRef") or {}
    causes = []
    if ref.get("apiGroup") != GROUP:
        causes.append(_not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), (GROUP,)))
    allowed = ROLE_KINDS if namespaced else ("ClusterRole",)
    if ref.get("kind") not in allowed:
        causes.append(_not_supported("roleRef.kind", ref.get("kind", ""), allowed))
    name = ref.get("name") or ""
    if not name:
        causes.append(_required("roleRef.name"))
    causes += [_invalid("roleRef.name", name, m) for m in rbac_name_errors(name)]
    for i, s in enumerate(obj.get("subjects") or []):
        causes += subject_causes(s if isinstance(s, dict) else {}, namespaced, f"subjects[{i}]")
    if old is not None and (old.get("roleRef") or {}) != ref:
        value = "rbac.RoleRef{" + f"APIGroup:{json.dumps(ref.get('apiGroup', ''))}, Kind:{json.dumps(ref.get('kind', ''))}, Name:{json.dumps(name)}" + "}"
        causes.append(cause("roleRef", f"Invalid value: {value}: cannot change roleRef"))
    if causes:
        raise invalid(GROUP, kind, obj["metadata"]["name"], causes)


def subject_causes(s: dict[str, Any], namespaced: bool, path: str) -> list[dict[str, str]]:
    out = []
    name, kind, group = s.get("name") or "", s.get("kind") or "", s.get("apiGroup") or ""
    if not name:
        out.append(_required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            out += [_invalid(f"{path}.name", name, m) for m in rbac_name_errors(name)]
        if group:
            out.append(_not_supported(f"{path}.apiGroup", group, ("",)))
        if not namespaced and not s.get("namespace"):
            out.append(_required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            out.append(_not_supported(f"{path}.apiGroup", group, (GROUP,)))
    else:
        out.append(_not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return out


def register(admission: Admission) -> None:
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        admission.mutate(GROUP, kind, operations=(CREATE, UPDATE))(default_binding)
        admission.validate(GROUP, kind, operations=(CREATE, UPDATE))(validate_binding)
    for kind in ("Role", "ClusterRole"):
        admission.validate(GROUP, kind, operations=(CREATE, UPDATE))(validate_role)
