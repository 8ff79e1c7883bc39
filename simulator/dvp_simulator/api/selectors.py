"""Label selectors (every operator of the Kubernetes selector grammar) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import APIError

Predicate = Callable[[dict[str, Any]], bool]

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


# -- label selectors: apimachinery's labels.Parse -----------------------------------------------------------------
_SPECIAL = "!=,()<>"  # with whitespace, what ends an identifier
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator: = != in notin exists !exists gt lt, values)


def _tokens(text: str) -> list[str]:
    """The selector's tokens: identifiers, keywords (in, notin) and the operators ! = == != ( ) , < >."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith(("==", "!="), i):
            out.append(text[i : i + 2])
            i += 2
        elif ch in _SPECIAL:
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _bad(message: str) -> APIError:
    return APIError(400, f"unable to parse requirement: {message}")


def _found(token: str | None) -> str:
    return f"found '{token if token is not None else ''}'"


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    problem = ""
    if key.count("/") > 1:
        problem = "a qualified name " + _NAME_RULE.removeprefix("name part ") + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    elif "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        problem = "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
    elif not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        problem = "name part must be no more than 63 characters" if len(name) > 63 else _NAME_RULE
    if problem:
        raise _bad(f'key: Invalid value: "{key}": {problem}')


def _check_value(key: str, value: str, index: int) -> None:
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        problem = "must be no more than 63 characters" if len(value) > 63 else _VALUE_RULE
        raise _bad(f'values[{index}][{key}]: Invalid value: "{value}": {problem}')


def parse_requirements(text: str | None) -> list[Requirement]:
    """A label selector string as kube-apiserver parses it (labels.Parse): requirements separated by commas — `key`,
    `!key`, `key=v` / `key==v` / `key!=v`, `key in (v1,v2)` / `key notin (…)`, `key>1` / `key<1` — with keys and
    values validated as label keys and values. Anything else is a 400 naming what was found where, as upstream."""
    tokens = _tokens(text or "")
    out: list[Requirement] = []
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    while i < len(tokens):
        negated = peek() == "!"
        if negated:
            i += 1
        key = peek()
        if key is None or key in _SPECIAL or key in ("==", "!="):
            raise _bad(f"{_found(key)}, expected: identifier")
        _check_key(key)
        i += 1
        op = peek()
        if negated:
            out.append((key, "!exists", ()))
        elif op is None or op == ",":
            out.append((key, "exists", ()))
        elif op in ("=", "==", "!="):
            i += 1
            value = peek()
            if value is not None and value not in _SPECIAL and value not in ("==", "!="):
                i += 1
            else:
                value = ""
            _check_value(key, value, 0)
            out.append((key, "!=" if op == "!=" else "=", (value,)))
        elif op in ("in", "notin"):
            i += 1
            if peek() != "(":
                raise _bad(f"{_found(peek())}, expected: '('")
            i += 1
            values: list[str] = []
            while True:
                value = peek()
                if value == ")":
                    i += 1
                    break
                if value is None:
                    raise _bad("found '', expected: ',', or ')'")
                if value == ",":
                    values.append("")  # an empty value before a comma
                    i += 1
                    continue
                if value in _SPECIAL or value in ("==", "!="):
                    raise _bad(f"{_found(value)}, expected: ',', or identifier")
                values.append(value)
                i += 1
                if peek() == ",":
                    i += 1
                    if peek() == ")":
                        values.append("")
                elif peek() != ")":
                    raise _bad(f"{_found(peek())}, expected: ',' or ')'")
            if not values:
                raise _bad(f"for 'in', 'notin' operators, values set can't be empty (key {key})")
            for n, value in enumerate(values):
                _check_value(key, value, n)
            out.append((key, op, tuple(values)))
        elif op in ("<", ">"):
            i += 1
            value = peek()
            try:
                int(value or "")
            except ValueError:
                raise _bad(f"for 'Gt', 'Lt' operators, the value must be an integer (key {key})") from None
            i += 1
            out.append((key, "gt" if op == ">" else "lt", (value,)))  # type: ignore[arg-type]
        else:
            raise _bad(f"{_found(op)}, expected: in, notin, =, ==, !=, gt, lt")
        if i < len(tokens):
            if tokens[i] != ",":
                raise _bad(f"{_found(tokens[i])}, expected: ',' or 'end of string'")
            i += 1
            if i == len(tokens) or tokens[i] == ",":
                raise _bad(f"{_found(peek())}, expected: identifier after ','")
    return out


def _check(req: Requirement) -> Predicate:
    key, op, values = req
    if op == "exists":
        return lambda lab: key in lab
    if op == "!exists":
        return lambda lab: key not in lab
    if op == "=":
        return lambda lab: lab.get(key) == values[0]
    if op == "!=":
        return lambda lab: lab.get(key) != values[0]
    if op == "in":
        return lambda lab: lab.get(key) in values
    if op == "notin":
        return lambda lab: lab.get(key) not in values
    return lambda lab: _compare(lab.get(key), int(values[0]), ">" if op == "gt" else "<")


def parse_label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda labels: True
    checks = [_check(req) for req in parse_requirements(text)]
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


def format_label_selector(selector: dict[str, Any] | None) -> str:
    """metav1.FormatLabelSelector without its "<none>": matchLabels as k=v, then each expression ("k in (a,b)", "k",
    "!k"); "" for no selector (a Scale's status.selector, a table's column)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or ():
        op, values = e.get("operator", ""), ",".join(e.get("values") or ())
        parts.append({"In": f"{e.get('key')} in ({values})", "NotIn": f"{e.get('key')} notin ({values})", "Exists": e.get("key", ""), "DoesNotExist": f"!{e.get('key')}"}.get(op, f"{e.get('key')} {op} ({values})"))
    return ",".join(parts)


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


# Field labels kube-apiserver serves beyond metadata.name and metadata.namespace, per built-in (group, kind)
# (upstream: each kind's ToSelectableFields / GetAttrs in pkg/registry); custom resources offer their CRD version's
# selectableFields instead.
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
        "spec.host",  # the v1 field label conversion's old name of spec.nodeName
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
    ("", "Service"): ("spec.clusterIP", "spec.type"),
    ("", "ReplicationController"): ("status.replicas",),
    ("", "PersistentVolumeClaim"): (),
}
# A field label whose value sits elsewhere in the object.
# events.k8s.io Events are evaluated in their stored (core/v1) form, as kube-apiserver converts their field labels.
FIELD_PATHS = {
    "status.podIPs": "status.podIP",
    "spec.host": "spec.nodeName",
    **{f"regarding.{f}": f"involvedObject.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reportingController": "reportingComponent",
}


def _pod_ip(obj: dict[str, Any]) -> str:
    """The first of status.podIPs (status.podIP when the pod has no list)."""
    ips = ((obj.get("status") or {}).get("podIPs")) or []
    first = ips[0].get("ip") if ips and isinstance(ips[0], dict) else None
    return str(first or _field_value(obj, "status.podIP"))


def _or(path: str, fallback: str) -> Callable[[dict[str, Any]], str]:
    return lambda obj: _field_value(obj, path) or fallback


def _either(path: str, other: str) -> Callable[[dict[str, Any]], str]:
    return lambda obj: _field_value(obj, path) or _field_value(obj, other)


# Field labels whose value is computed, per built-in (group, kind), as upstream sets it: a bool is
# strconv.FormatBool of the Go field (an unset one is "false"), a defaulted field its default.
FIELD_VALUES: dict[tuple[str, str], dict[str, Callable[[dict[str, Any]], str]]] = {
    ("", "Node"): {"spec.unschedulable": _or("spec.unschedulable", "false")},
    ("", "Pod"): {"spec.hostNetwork": _or("spec.hostNetwork", "false"), "status.podIP": _pod_ip, "status.podIPs": _pod_ip},
    ("", "Event"): {"source": _either("source.component", "reportingComponent")},  # the component, else the reporting controller
    ("", "Service"): {"spec.type": _or("spec.type", "ClusterIP")},
}


class SelectableFields(frozenset):
    """The field labels a kind's lists may select on, with `readers`: how the value of those that are not simply
    the field at their path is read (FIELD_VALUES)."""

    readers: dict[str, Callable[[dict[str, Any]], str]]

    def __new__(cls, labels: Any, readers: dict[str, Callable[[dict[str, Any]], str]] | None = None) -> SelectableFields:
        out = super().__new__(cls, labels)
        out.readers = dict(readers or {})
        return out


def selectable_fields(group: str, kind: str, crd_version: dict[str, Any] | None) -> SelectableFields:
    """Field labels a list of this kind may select on (the CRD version's selectableFields for custom kinds)."""
    fields = {"metadata.name", "metadata.namespace"}
    fields.update(BUILTIN_FIELDS.get((group, kind), ()))
    for entry in (crd_version or {}).get("selectableFields") or []:
        fields.add(str(entry.get("jsonPath", "")).lstrip("."))
    return SelectableFields(fields, FIELD_VALUES.get((group, kind)))


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
        if re.search(r"(?<!\\)=", value):  # fields.UnescapeValue: a literal '=' in a value is written '\='
            raise APIError(400, f"invalid field selector: {part.strip()!r}: the value holds an unescaped '='")
        value = re.sub(r"\\([=,\\])", r"\1", value)
        if supported is not None and label not in supported:
            raise APIError(400, f"field label not supported: {label}")
        path = FIELD_PATHS.get(label, label)
        read = getattr(supported, "readers", {}).get(label) or (lambda o, p=path: _field_value(o, p))
        if op == "!=":
            checks.append(lambda o, r=read, v=value: r(o) != v)
        else:
            checks.append(lambda o, r=read, v=value: r(o) == v)
    return lambda obj: all(c(obj) for c in checks)


def equality_labels(text: str | None) -> dict[str, str]:
    """The `key=value` / `key==value` requirements of a label selector, for reading candidates from the store's
    label index; the full selector still filters them. A selector that does not parse gives none (parse_label_selector
    refuses it)."""
    try:
        return {key: values[0] for key, op, values in parse_requirements(text) if op == "="}
    except APIError:
        return {}
