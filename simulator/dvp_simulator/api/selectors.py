"""Label selectors (every operator of the Kubernetes selector grammar) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import APIError

Predicate = Callable[[dict[str, Any]], bool]

_REQ = re.compile(
    r"""\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s,!=()]+)                                  # !key
      | (?P<key>[^\s,!=()<>]+)\s*
        (?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)                           # key=value, key!=value
          |(?P<setop>in|notin)\s*\((?P<values>[^)]*)\)                      # key in (a,b)
          |(?P<gt>[<>])\s*(?P<num>-?\d+)                                    # key>1 / key<1 (node affinity style)
        )?
    )\s*""",
    re.VERBOSE,
)


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda labels: True
    checks: list[Predicate] = []
    for part in _split(text):
        m = _REQ.fullmatch(part)
        if not m:
            raise APIError(400, f"unable to parse requirement: invalid label selector: {part.strip()!r}")
        if m.group("not"):
            key = m.group("nkey")
            checks.append(lambda lab, k=key: k not in lab)
        elif m.group("op"):
            key, value = m.group("key"), m.group("value")
            if m.group("op") == "!=":
                checks.append(lambda lab, k=key, v=value: lab.get(k) != v)
            else:
                checks.append(lambda lab, k=key, v=value: lab.get(k) == v)
        elif m.group("setop"):
            key = m.group("key")
            values = {v.strip() for v in m.group("values").split(",") if v.strip()}
            if m.group("setop") == "in":
                checks.append(lambda lab, k=key, vs=values: lab.get(k) in vs)
            else:
                checks.append(lambda lab, k=key, vs=values: lab.get(k) not in vs)
        elif m.group("gt"):
            key, num, op = m.group("key"), int(m.group("num")), m.group("gt")
            checks.append(lambda lab, k=key, n=num, o=op: _compare(lab.get(k), n, o))
        else:
            key = m.group("key")
            checks.append(lambda lab, k=key: k in lab)
    return lambda labels: all(c(labels) for c in checks)


def _compare(value: str | None, num: int, op: str) -> bool:
    try:
        v = int(value) if value is not None else None
    except ValueError:
        return False
    return v is not None and (v > num if op == ">" else v < num)


def match_label_selector(selector: dict[str, Any] | None, labels: dict[str, str], node_selector: bool = False) -> bool:
    """A metav1.LabelSelector object (matchLabels / matchExpressions) against labels; `node_selector`: a node
    selector's requirements, which may also compare integers (Gt / Lt with one integer value).

    An invalid requirement matches nothing, as the platform's conversions refuse it (LabelSelectorAsSelector errs;
    the scheduler's node affinity never matches a term it cannot parse): an operator the kind of selector does not
    have, values where none belong or none where some must be, a Gt / Lt value that is not one integer."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not _valid_requirement(op, values, node_selector):
            return False
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op in ("Gt", "Lt") and not _compare(labels.get(key), int(values[0]), ">" if op == "Gt" else "<"):
            return False
    return True


def _valid_requirement(op: Any, values: list[Any], node_selector: bool) -> bool:
    if op in ("In", "NotIn"):
        return bool(values)
    if op in ("Exists", "DoesNotExist"):
        return not values
    if op in ("Gt", "Lt") and node_selector and len(values) == 1:
        try:
            int(values[0])
        except (TypeError, ValueError):
            return False
        return True
    return False


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# Field labels kube-apiserver serves beyond metadata.name and metadata.namespace, per built-in (group, kind);
# custom resources offer their CRD version's selectableFields instead.
BUILTIN_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    ),
    ("", "Node"): ("spec.unschedulable",),
    ("", "Event"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("events.k8s.io", "Event"): (
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ),
    ("", "Secret"): ("type",),
    ("", "Namespace"): ("status.phase",),
    ("", "ReplicationController"): ("status.replicas",),
    ("", "PersistentVolumeClaim"): (),
}
# A field label whose value sits elsewhere in the object.
# events.k8s.io Events are evaluated in their stored (core/v1) form, as kube-apiserver converts their field labels.
FIELD_PATHS = {
    "source": "source.component",
    "status.podIPs": "status.podIP",
    **{f"regarding.{f}": f"involvedObject.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reportingController": "reportingComponent",
}


def selectable_fields(group: str, kind: str, crd_version: dict[str, Any] | None) -> frozenset[str]:
    """Field labels a list of this kind may select on (the CRD version's selectableFields for custom kinds)."""
    fields = {"metadata.name", "metadata.namespace"}
    fields.update(BUILTIN_FIELDS.get((group, kind), ()))
    for entry in (crd_version or {}).get("selectableFields") or []:
        fields.add(str(entry.get("jsonPath", "")).lstrip("."))
    return frozenset(fields)


def parse_field_selector(text: str | None, supported: frozenset[str] | None = None) -> Predicate:
    """`path=value`, `path==value`, `path!=value`, comma-separated. With `supported`, any other field label is
    a 400 'field label not supported', as from kube-apiserver."""
    if not text:
        return lambda obj: True
    checks: list[Predicate] = []
    for part in _split(text):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-/]+)\s*(==|=|!=)\s*([^,]*?)\s*", part)
        if not m:
            raise APIError(400, f"invalid field selector: {part.strip()!r}")
        label, op, value = m.groups()
        if supported is not None and label not in supported:
            raise APIError(400, f"field label not supported: {label}")
        path = FIELD_PATHS.get(label, label)
        if op == "!=":
            checks.append(lambda o, p=path, v=value: _field_value(o, p) != v)
        else:
            checks.append(lambda o, p=path, v=value: _field_value(o, p) == v)
    return lambda obj: all(c(obj) for c in checks)


def equality_labels(text: str | None) -> dict[str, str]:
    """The `key=value` / `key==value` requirements of a label selector, for reading candidates from the store's
    label index; the full selector still filters them. Parts that do not parse are left to parse_label_selector."""
    pairs: dict[str, str] = {}
    for part in _split(text or ""):
        m = _REQ.fullmatch(part)
        if m and m.group("op") in ("=", "==") and m.group("key"):
            pairs[m.group("key")] = m.group("value")
    return pairs
