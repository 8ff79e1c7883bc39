"""NetworkPolicy (networking.k8s.io/v1): its defaulting (upstream: pkg/apis/networking/v1/defaults.go — a port's
protocol TCP; policyTypes [Ingress], plus Egress when the policy has egress rules) and its validation
(pkg/apis/networking/validation/validation.go ValidateNetworkPolicySpec: label selectors, ports and port ranges,
peers, ipBlock CIDRs and their exceptions, policy types). The simulator stores policies; nothing enforces them (the
simulated network has no packets)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, invalid
from .objectmeta import label_value_errors
from .rbac_validation import label_selector_causes

GROUP, KIND = "networking.k8s.io", "NetworkPolicy"
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile(r"[a-z]")
PORT_RANGE = "must be between 1 and 65535, inclusive"
CIDR_FORMAT = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def defaults(request: AdmissionRequest) -> None:
    spec = (request.obj or {}).get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("podSelector") is None:
        spec["podSelector"] = {}  # a struct, never omitted: the empty selector selects every pod
    for rules in (spec.get("ingress"), spec.get("egress")):
        for rule in rules or []:
            ports = rule.get("ports") if isinstance(rule, dict) else None
            for port in ports or []:
                if isinstance(port, dict) and port.get("protocol") is None:
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def port_name_errors(name: str) -> list[str]:
    """IsValidPortName."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    elif not _PORT_NAME_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _valid_port(value: int) -> bool:
    return 1 <= value <= 65535


def port_causes(port: dict[str, Any], path: str) -> list[dict[str, str]]:
    """ValidateNetworkPolicyPort."""
    out = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        out.append(cause(f"{path}.protocol", f"Unsupported value: {json.dumps(protocol)}: supported values: " + ", ".join(f'"{p}"' for p in PROTOCOLS),
                         "FieldValueNotSupported"))  # fmt: skip
    value, end = port.get("port"), port.get("endPort")
    if value is not None:
        if isinstance(value, int) and not isinstance(value, bool):
            if not _valid_port(value):
                out.append(cause(f"{path}.port", f"Invalid value: {value}: {PORT_RANGE}"))
            if isinstance(end, int):
                if end < value:
                    out.append(cause(f"{path}.endPort", f"Invalid value: {end}: must be greater than or equal to `port`"))
                if not _valid_port(end):
                    out.append(cause(f"{path}.endPort", f"Invalid value: {end}: {PORT_RANGE}"))
        else:
            if end is not None:
                out.append(cause(f"{path}.endPort", f"Invalid value: {end}: may not be specified when `port` is non-numeric"))
            out += [cause(f"{path}.port", f"Invalid value: {json.dumps(str(value))}: {m}") for m in port_name_errors(str(value))]
    elif end is not None:
        out.append(cause(f"{path}.endPort", f"Invalid value: {end}: may not be specified when `port` is not specified"))
    return out


def selector_causes(selector: Any, path: str) -> list[dict[str, str]]:
    """ValidateLabelSelector (label values of In / NotIn expressions included)."""
    if not isinstance(selector, dict):
        return []
    out = label_selector_causes(selector, path)
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        values = expr.get("values") if isinstance(expr, dict) else None
        for j, value in enumerate(values or []):
            out += [cause(f"{path}.matchExpressions[{i}].values[{j}]", f"Invalid value: {json.dumps(value)}: {m}") for m in label_value_errors(str(value))]
    return out


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """netutils.ParseCIDRSloppy: a CIDR whose address may have host bits (and, for IPv4, leading zeros)."""
    if not isinstance(text, str) or "/" not in text:
        return None
    address, _, prefix = text.partition("/")
    if "." in address and ":" not in address:
        address = ".".join(part.lstrip("0") or "0" for part in address.split("."))
    try:
        return ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    except ValueError:
        return None


def ip_block_causes(block: dict[str, Any], path: str) -> list[dict[str, str]]:
    """ValidateIPBlock."""
    cidr = block.get("cidr") or ""
    if not cidr:
        return [cause(f"{path}.cidr", "Required value", "FieldValueRequired")]
    network = _network(cidr)
    if network is None:
        return [cause(f"{path}.cidr", f"Invalid value: {json.dumps(cidr)}: {CIDR_FORMAT}")]
    out = []
    for i, text in enumerate(block.get("except") or []):
        where = f"{path}.except[{i}]"
        excepted = _network(text)
        if excepted is None:
            out.append(cause(where, f"Invalid value: {json.dumps(text)}: {CIDR_FORMAT}"))
            continue
        if excepted.version != network.version or not excepted.subnet_of(network) or excepted.prefixlen <= network.prefixlen:  # type: ignore[arg-type]
            out.append(cause(where, f"Invalid value: {json.dumps(text)}: must be a strict subset of `cidr`"))
    return out


def peer_causes(peer: dict[str, Any], path: str) -> list[dict[str, str]]:
    """ValidateNetworkPolicyPeer: one peer at least; an ipBlock alone."""
    out = []
    count = 0
    for field in ("podSelector", "namespaceSelector"):
        if peer.get(field) is not None:
            count += 1
            out += selector_causes(peer[field], f"{path}.{field}")
    if peer.get("ipBlock") is not None:
        count += 1
        out += ip_block_causes(peer["ipBlock"] if isinstance(peer["ipBlock"], dict) else {}, f"{path}.ipBlock")
    if count == 0:
        out.append(cause(path, "Required value: must specify a peer", "FieldValueRequired"))
    elif count > 1 and peer.get("ipBlock") is not None:
        out.append(cause(path, "Forbidden: may not specify both ipBlock and another peer", "FieldValueForbidden"))
    return out


def spec_causes(spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidateNetworkPolicySpec."""
    out = selector_causes(spec.get("podSelector") or {}, "spec.podSelector")
    for field, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(field) or []):
            rule = rule if isinstance(rule, dict) else {}
            for j, port in enumerate(rule.get("ports") or []):
                out += port_causes(port if isinstance(port, dict) else {}, f"spec.{field}[{i}].ports[{j}]")
            for j, peer in enumerate(rule.get(peers) or []):
                out += peer_causes(peer if isinstance(peer, dict) else {}, f"spec.{field}[{i}].{peers}[{j}]")
    types = spec.get("policyTypes") or []
    if len(types) > len(POLICY_TYPES):
        rendered = "[]networking.PolicyType{" + ", ".join(json.dumps(t) for t in types) + "}"
        out.append(cause("spec.policyTypes", f"Invalid value: {rendered}: may not specify more than two policyTypes"))
        return out
    for i, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            out.append(cause(f"spec.policyTypes[{i}]", f'Unsupported value: {json.dumps(kind)}: supported values: "Ingress", "Egress"', "FieldValueNotSupported"))
    return out


def validate(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    causes = spec_causes(obj.get("spec") if isinstance(obj.get("spec"), dict) else {})
    if causes:
        raise invalid(GROUP, KIND, obj["metadata"]["name"], causes)


def register(admission: Admission) -> None:
    admission.mutate(GROUP, KIND, operations=(CREATE, UPDATE))(defaults)
    admission.validate(GROUP, KIND, operations=(CREATE, UPDATE))(validate)
