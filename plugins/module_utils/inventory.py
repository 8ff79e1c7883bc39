# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the inventory plugin deckhouse.virtualization.dvp does with VirtualMachines, as pure Python (no Ansible
import): the options' rules, host names, group names, host variables, and the paged list (limit / continue, one
page in memory at a time) through DVPClient. plugins/inventory/dvp.py only hands the results to Ansible."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import Any

from .client import APIStatusError, DVPClient
from .compare import without_managed_fields
from .errors import DVPError
from .kinds import VIRTUAL_MACHINE

HOST_FIELDS = ("namespace", "name", "uid")  # what host_format may name
DEFAULT_HOST_FORMAT = "{namespace}-{name}"
GROUP_KINDS = ("namespace", "class", "node", "phase", "label")
DEFAULT_PREFIXES = {"namespace": "namespace_", "class": "class_", "node": "node_", "phase": "phase_", "label": "label_"}
DEFAULT_PAGE_SIZE = 500  # kubectl's chunk size
MAX_PAGE_SIZE = 10000
HOST_VAR_PREFIX = "dvp_"
# A namespace name: an RFC 1123 label, as the API server requires.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NOT_IN_GROUP_NAME = re.compile(r"[^A-Za-z0-9_]")


# -- options ---------------------------------------------------------------------------------------------------
def option_problems(options: dict[str, Any]) -> list[str]:
    """Problems with the plugin's own options, each naming the option and the rule ([] when fine). Checked
    before any request."""
    problems = host_format_problems(options.get("host_format"))
    namespaces = options.get("namespaces") or []
    for namespace in namespaces:
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
            problems.append(
                f"namespaces: {namespace!r} is not a namespace name (lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)"
            )
    if len(set(map(str, namespaces))) != len(namespaces):
        problems.append("namespaces: a namespace is listed twice")
    size = options.get("page_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE):
        problems.append(f"page_size: must be a whole number from 1 to {MAX_PAGE_SIZE}, got {size!r}")
    problems += prefix_problems(options.get("group_prefixes"))
    return problems


def unknown_option_problems(given: Any, known: Any) -> list[str]:
    """A key of the inventory file that is no option (a typo would otherwise be ignored), with the closest option."""
    import difflib

    problems = []
    for key in sorted(set(map(str, given)) - set(known)):
        close = difflib.get_close_matches(key, sorted(known), n=1)
        problems.append(f"{key}: not an option of this plugin" + (f"; did you mean {close[0]}?" if close else ""))
    return problems


def host_format_problems(fmt: Any) -> list[str]:
    """host_format is a str.format pattern naming only {namespace}, {name} and {uid} (no conversions, format
    specifications, attributes or indexes), with {name} or {uid}."""
    if not isinstance(fmt, str) or not fmt:
        return [f"host_format: must be a non-empty string such as {DEFAULT_HOST_FORMAT!r}"]
    allowed = ", ".join("{" + f + "}" for f in HOST_FIELDS)
    try:
        parts = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        return [f"host_format: {fmt!r} is not a valid pattern ({exc}); use {allowed}, and {{{{ }}}} for a literal brace"]
    fields = [(f, conv, spec) for _literal, f, spec, conv in parts if f is not None]
    problems = []
    for field, conversion, spec in fields:
        if field not in HOST_FIELDS or conversion or spec:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            problems.append(f"host_format: {shown} is not allowed; the fields are {allowed}")
    if not problems and not {"name", "uid"} & {field for field, _conversion, _spec in fields}:
        problems.append(f"host_format: {fmt!r} names no VM; it needs {{name}} or {{uid}}")
    return problems


def prefix_problems(prefixes: Any) -> list[str]:
    if prefixes is None:
        return []
    if not isinstance(prefixes, dict):
        return [f"group_prefixes: must be a dictionary with keys among {', '.join(GROUP_KINDS)}"]
    problems = [f"group_prefixes: unknown key {key!r}; the keys are {', '.join(GROUP_KINDS)}" for key in prefixes if key not in GROUP_KINDS]
    problems += [
        f"group_prefixes.{key}: must be a string, got {value!r}" for key, value in prefixes.items() if key in GROUP_KINDS and not isinstance(value, str)
    ]
    return problems


def prefixes_with_defaults(prefixes: dict[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_PREFIXES, **(prefixes or {})}


# -- hosts and groups ------------------------------------------------------------------------------------------
def host_name(fmt: str, vm: dict[str, Any]) -> str:
    """The inventory host name of a VM by host_format (checked by host_format_problems)."""
    meta = vm.get("metadata") or {}
    return fmt.format(namespace=meta.get("namespace") or "", name=meta.get("name") or "", uid=meta.get("uid") or "")


def sanitize_group_name(name: str) -> str:
    """A group name Ansible takes as it is: every character other than an ASCII letter, digit or `_` becomes `_`,
    and a name starting with a digit gets a leading `_` (rather than losing the digit)."""
    name = _NOT_IN_GROUP_NAME.sub("_", name)
    return "_" + name if name[:1].isdigit() else name


def group_names(vm: dict[str, Any], group_by: list[str] | tuple[str, ...], prefixes: dict[str, str]) -> list[str]:
    """The VM's groups, in the order of group_by: `<prefix><value>` for namespace, class, node and phase (none
    when the VM has no such value, e.g. a stopped VM has no node), `<prefix><key>_<value>` per label (the key
    alone for an empty value); sanitized, without duplicates."""
    meta, spec, status = vm.get("metadata") or {}, vm.get("spec") or {}, vm.get("status") or {}
    values = {
        "namespace": [meta.get("namespace")],
        "class": [spec.get("virtualMachineClassName")],
        "node": [status.get("nodeName")],
        "phase": [status.get("phase")],
        "label": [f"{k}_{v}" if v else k for k, v in sorted((meta.get("labels") or {}).items())],
    }
    names: list[str] = []
    for kind in group_by:
        for value in values[kind]:
            if value:
                group = sanitize_group_name(f"{prefixes[kind]}{value}")
                if group not in names:
                    names.append(group)
    return names


def compact(vm: dict[str, Any]) -> dict[str, Any]:
    """The VM as the inventory keeps it: without metadata.managedFields, as the modules return objects."""
    return without_managed_fields(vm)


def host_vars(vm: dict[str, Any], include_object: bool = True) -> dict[str, Any]:
    """The variables of a VM's host: ansible_host (the VM's IP address, when it has one) and dvp_* fields, with
    the whole object as dvp_vm unless include_object is false."""
    meta, spec, status = vm.get("metadata") or {}, vm.get("spec") or {}, vm.get("status") or {}
    fields = {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "phase": status.get("phase"),
        "node": status.get("nodeName"),
        "class": spec.get("virtualMachineClassName"),
        "ip": status.get("ipAddress"),
        "run_policy": spec.get("runPolicy"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        **({"vm": vm} if include_object else {}),
    }
    result = {HOST_VAR_PREFIX + key: value for key, value in fields.items()}
    if status.get("ipAddress"):
        result["ansible_host"] = status["ipAddress"]
    return result


def selected(vm: dict[str, Any], phases: list[str] | tuple[str, ...]) -> bool:
    """Whether the VM's phase is among `phases` (every VM when it is empty)."""
    return not phases or (vm.get("status") or {}).get("phase") in phases


class HostNames:
    """Host names already given, to refuse a host_format that names two VMs alike (which would make one host of
    two VMs, with one VM's address)."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.owners: dict[str, str] = {}

    def claim(self, vm: dict[str, Any]) -> str:
        name = host_name(self.fmt, vm)
        meta = vm.get("metadata") or {}
        owner = f"{meta.get('namespace')}/{meta.get('name')}"
        if name in self.owners and self.owners[name] != owner:
            raise DVPError(
                f"host_format: {self.fmt!r} gives VirtualMachines {self.owners[name]} and {owner} the same host name {name!r}; "
                f"use a pattern that tells them apart, such as {DEFAULT_HOST_FORMAT!r}"
            )
        self.owners[name] = owner
        return name


# -- listing ---------------------------------------------------------------------------------------------------
def describe_scope(namespace: str | None) -> str:
    return f"VirtualMachine list in namespace {namespace}" if namespace else "VirtualMachine list in all namespaces"


def pages(
    client: DVPClient, namespace: str | None, label_selector: str | None = None, field_selector: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[list[dict[str, Any]]]:
    """The VMs of a namespace (of every namespace when None), one page (at most page_size VMs) at a time, following
    the list's continue token; the caller holds one page at a time. API errors are DVPErrors naming the list; a 403
    says which option helps."""
    what = describe_scope(namespace)
    path = client.path(VIRTUAL_MACHINE, None, namespace)
    query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
    token = None
    while True:
        paged = [("limit", str(page_size)), *query, *([("continue", token)] if token else [])]
        try:
            answer = client.request("GET", path, what, paged) or {}
        except APIStatusError as err:
            raise DVPError(err.message + forbidden_hint(namespace) if err.status == 403 else err.message, status=err.status) from err
        yield answer.get("items") or []
        token = (answer.get("metadata") or {}).get("continue")
        if not token:
            return


def forbidden_hint(namespace: str | None) -> str:
    """What helps after a 403: a cluster-wide list is what a project user may not make (the namespaces option
    lists their namespaces one by one); a namespace the user may not read is left out."""
    if namespace is None:
        return "; or set the inventory's `namespaces` option to the namespaces the user may read"
    return f"; or remove {namespace} from the inventory's `namespaces` option"


def virtual_machines(
    client: DVPClient,
    namespaces: list[str] | tuple[str, ...],
    label_selector: str | None = None,
    field_selector: str | None = None,
    phases: list[str] | tuple[str, ...] = (),
    page_size: int = DEFAULT_PAGE_SIZE,
    stats: dict[str, int] | None = None,
) -> Iterator[dict[str, Any]]:
    """The selected VMs (compacted) of the namespaces in order, or of every namespace (one cluster-wide list) when
    `namespaces` is empty. `stats` (when given) counts `pages` and `listed` VMs."""
    counts = stats if stats is not None else {}
    counts.setdefault("pages", 0)
    counts.setdefault("listed", 0)
    for namespace in list(namespaces) or [None]:
        for page in pages(client, namespace, label_selector, field_selector, page_size):
            counts["pages"] += 1
            counts["listed"] += len(page)
            for vm in page:
                if selected(vm, phases):
                    yield compact(vm)
