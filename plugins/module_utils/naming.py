# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module options are the snake_case form of the API's camelCase fields, nested the same way. Pure Python."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# words of a camelCase name: `URLs` (an acronym's plural), `Upload`, `IP` (an acronym before a word)
_WORDS = re.compile(r"[A-Z]+s(?=[A-Z]|$)|[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

# Words the API spells as acronyms after the first word of a field name (`virtualMachineIPAddressName`,
# `virtualMachineCIDRs`, `gatewayAPIGateway`, `registryURL`, `sourceUID`), the one place camel() knows them. The
# first word stays lower case (`ipAddress`, `osType`). tests/unit/test_naming_acronyms.py holds camel(snake(field))
# to every field of the served CRDs and of the module's settings schema.
ACRONYMS = {
    "api": "API",
    "cidr": "CIDR",
    "cidrs": "CIDRs",
    "dns": "DNS",
    "ip": "IP",
    "ips": "IPs",
    "mac": "MAC",
    "os": "OS",
    "pvc": "PVC",
    "uid": "UID",
    "url": "URL",
    "urls": "URLs",
}


def camel(name: str) -> str:
    """`data_source` → `dataSource`, `ca_bundle` → `caBundle`, `in_cluster` → `inCluster`; acronyms as the API
    writes them: `virtual_machine_ip_address_name` → `virtualMachineIPAddressName`, `virtual_machine_cidrs` →
    `virtualMachineCIDRs`."""
    head, *rest = name.split("_")
    return head + "".join(ACRONYMS.get(part, part[:1].upper() + part[1:]) for part in rest)


def snake(name: str) -> str:
    """`dataSource` → `data_source`, `imageUploadURLs` → `image_upload_urls`, `caBundle` → `ca_bundle`."""
    return "_".join(word.lower() for word in _WORDS.findall(name))


def to_api(value: Any, passthrough: Iterable[str] = ()) -> Any:
    """Module options to API fields, recursively; None values are dropped (an option not given).

    Keys listed in `passthrough` (snake_case, at any depth) keep their value untouched: standard Kubernetes
    types such as affinity or tolerations are written by the user exactly as the API writes them.
    """
    keep = set(passthrough)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            out[camel(key)] = item if key in keep else to_api(item, keep)
        return out
    if isinstance(value, list):
        return [to_api(item, keep) for item in value]
    return value


def from_api(value: Any) -> Any:
    """API objects as snake_case (for return values that mirror options)."""
    if isinstance(value, dict):
        return {snake(k): from_api(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_api(v) for v in value]
    return value


# Fields of the Kubernetes types the modules pass through as the API writes them (affinity and its terms, label and
# node selectors, tolerations, topology spread constraints) whose names have more than one word: the ones a user
# writing snake_case around them may write in snake_case by habit (`match_expressions`). Not the keys of label maps.
API_SPELLED = frozenset(
    {
        "nodeAffinity", "podAffinity", "podAntiAffinity", "virtualMachineAndPodAffinity", "virtualMachineAndPodAntiAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms",
        "matchExpressions", "matchFields", "matchLabels", "matchLabelKeys", "mismatchLabelKeys", "labelSelector", "namespaceSelector",
        "topologyKey", "podAffinityTerm", "virtualMachineAndPodAffinityTerm", "tolerationSeconds", "maxSkew", "whenUnsatisfiable",
        "minDomains", "nodeAffinityPolicy", "nodeTaintsPolicy",
    }
)  # fmt: skip
LABEL_MAPS = ("matchLabels", "nodeSelector")  # their keys are label keys, which may hold `_`


def snake_spelled(value: Any, option: str) -> list[str]:
    """Problems for keys of a passed-through Kubernetes type (`value`, given as option `option`) written in
    snake_case where the API has a camelCase field (`match_expressions`): the server would refuse them as unknown
    fields naming its own path; this names the option and the spelling it takes."""
    problems: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                spelled = camel(key) if isinstance(key, str) and "_" in key else None
                if spelled in API_SPELLED:
                    problems.append(f"{path}.{key}: a Kubernetes type is written as the API writes it: {spelled}")
                if key not in LABEL_MAPS and spelled not in LABEL_MAPS:
                    walk(item, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(value, option)
    return problems
