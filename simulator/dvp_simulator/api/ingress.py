"""kube-apiserver's validation of an Ingress (networking.k8s.io/v1), as an admission hook. Upstream:
pkg/apis/networking/validation/validation.go (ValidateIngressSpec, validateIngressRules, validateHTTPIngressPath,
validateIngressBackend, validateIngressTLS).

- A default backend or rules; a rule's host a DNS-1123 subdomain (a wildcard `*.example.com` as a wildcard one),
  never an IP address; a rule's http paths not empty, each with a pathType (Exact and Prefix paths absolute, without
  `//`, `/./`, `/../` or an encoded slash, not ending in `/.` or `/..`), and a backend: a Service (its name a DNS-1035
  label, a port by name or by number, not both) or a typed resource, not both; TLS hosts as rule hosts; the class's
  name a DNS-1123 subdomain.

Nothing runs an Ingress here (there is no ingress controller): it is stored and served, its status left empty."""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from .admission import CREATE, UPDATE, Admission, AdmissionRequest
from .errors import cause, invalid
from .golang import quote
from .networkpolicy import port_name_errors
from .objectmeta import name_errors

GROUP, KIND = "networking.k8s.io", "Ingress"
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_SUFFIXES = ("/..", "/.")
WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric "
    "characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is "
    r"'\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _invalid(path: str, value: Any, message: str) -> dict[str, str]:
    return cause(path, f"Invalid value: {quote(value) if isinstance(value, str) else value}: {message}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_causes(host: str, path: str, ip_allowed: bool = False) -> list[dict[str, str]]:
    """A rule's host (never an IP address) or a TLS host (ip_allowed: upstream checks only the DNS name rule there)."""
    out = []
    if not ip_allowed and _is_ip(host):
        out.append(_invalid(path, host, "must be a DNS name, not an IP address"))
    if "*" in host:
        rest = host[2:] if host.startswith("*.") else None
        if rest is None or name_errors(v.SECRET, rest):
            out.append(_invalid(path, host, WILDCARD_MSG))
    else:
        out += [_invalid(path, host, m) for m in name_errors(v.SECRET, host)]  # a Secret's name rule: a DNS-1123 subdomain
    return out


def backend_causes(backend: dict[str, Any], path: str) -> list[dict[str, str]]:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [_invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        out = []
        for field in ("kind", "name"):
            if not resource.get(field):
                out.append(cause(f"{path}.resource.{field}", "Required value", "FieldValueRequired"))
        return out
    if service is None:
        return [_invalid(path, "", "resource or service backend is required")]
    out = []
    name = service.get("name") or ""
    if not name:
        out.append(cause(f"{path}.service.name", "Required value", "FieldValueRequired"))
    else:
        out += [_invalid(f"{path}.service.name", name, m) for m in name_errors(v.SERVICE, name)]
    port = service.get("port") or {}
    port_name, number = port.get("name") or "", port.get("number") or 0
    if port_name and number:
        out.append(_invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        out += [_invalid(f"{path}.service.port.name", port_name, m) for m in port_name_errors(port_name)]
    elif number:
        if not 1 <= number <= 65535:
            out.append(_invalid(f"{path}.service.port.number", number, "must be between 1 and 65535, inclusive"))
    else:
        out.append(cause(path, "Required value: port name or number is required", "FieldValueRequired"))
    return out


def http_path_causes(item: dict[str, Any], path: str) -> list[dict[str, str]]:
    kind, value = item.get("pathType"), item.get("path") or ""
    if kind is None:
        return [cause(f"{path}.pathType", "Required value: pathType must be specified", "FieldValueRequired")]
    out = []
    if kind in ("Exact", "Prefix"):
        if not value.startswith("/"):
            out.append(_invalid(f"{path}.path", value, "must be an absolute path"))
        out += [_invalid(f"{path}.path", value, f"must not contain '{seq}'") for seq in INVALID_SEQUENCES if value and seq in value]
        out += [_invalid(f"{path}.path", value, f"cannot end with '{suffix}'") for suffix in INVALID_SUFFIXES if value and value.endswith(suffix)]
    elif kind == "ImplementationSpecific":
        if value and not value.startswith("/"):
            out.append(_invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        supported = ", ".join(f'"{t}"' for t in PATH_TYPES)
        out.append(cause(f"{path}.pathType", f"Unsupported value: {quote(str(kind))}: supported values: {supported}", "FieldValueNotSupported"))
    return out + backend_causes(item.get("backend") or {}, f"{path}.backend")


def spec_causes(spec: dict[str, Any]) -> list[dict[str, str]]:
    """ValidateIngressSpec."""
    out = []
    rules = spec.get("rules") or []
    if not rules and spec.get("defaultBackend") is None:
        out.append(cause("spec", "Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        out += backend_causes(spec["defaultBackend"], "spec.defaultBackend")
    for i, rule in enumerate(rules):
        at = f"spec.rules[{i}]"
        if rule.get("host"):
            out += host_causes(rule["host"], f"{at}.host")
        http = rule.get("http")
        if http is not None:
            paths = http.get("paths") or []
            if not paths:
                out.append(cause(f"{at}.http.paths", "Required value", "FieldValueRequired"))
            for j, item in enumerate(paths):
                out += http_path_causes(item, f"{at}.http.paths[{j}]")
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate(tls.get("hosts") or []):
            out += host_causes(host, f"spec.tls[{i}].hosts[{j}]", ip_allowed=True)
        secret = tls.get("secretName")
        if secret:
            out += [_invalid(f"spec.tls[{i}].secretName", secret, m) for m in name_errors(v.SECRET, secret)]
    name = spec.get("ingressClassName")
    if name is not None:
        out += [_invalid("spec.ingressClassName", name, m) for m in name_errors(v.SECRET, name)]
    return out


def validate_ingress(request: AdmissionRequest) -> None:
    obj = request.obj or {}
    causes = spec_causes(obj.get("spec") or {})
    if causes:
        raise invalid(GROUP, KIND, obj["metadata"]["name"], causes)


def register(admission: Admission) -> None:
    admission.validate(GROUP, KIND, operations=(CREATE, UPDATE))(validate_ingress)
