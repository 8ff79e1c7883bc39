# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module shares: the common argument spec and the run wrapper that turns errors into fail_json.

`module` below is an AnsibleModule, or the action plugin's in-process adapter (plugin_utils/in_process.py) with the
same interface: params, check_mode, _diff, no_log_values, warn, exit_json and fail_json (neither returns)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .client import DVPClient
from .compare import without_managed_fields
from .connection import connection_arg_spec, secrets, transport
from .ensure import Ensurer
from .errors import DVPError


def arg_spec(namespaced: bool, **specific: Any) -> dict[str, Any]:
    spec: dict[str, Any] = dict(connection_arg_spec())
    spec.update(
        name={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 300},
        labels={"type": "dict"},
        annotations={"type": "dict"},
        force_conflicts={"type": "bool", "default": False},
    )
    if namespaced:
        spec["namespace"] = {"type": "str", "required": True}
    spec.update(specific)
    return spec


def info_arg_spec(namespaced: bool, **specific: Any) -> dict[str, Any]:
    spec: dict[str, Any] = dict(connection_arg_spec())
    spec.update(
        name={"type": "str"},
        label_selectors={"type": "list", "elements": "str", "default": []},
        field_selectors={"type": "list", "elements": "str", "default": []},
        wait={"type": "bool", "default": False},
        wait_timeout={"type": "int", "default": 120},
        wait_condition={
            "type": "dict",
            "options": {
                "type": {"type": "str", "required": True},
                "status": {"type": "str", "choices": ["True", "False", "Unknown"], "default": "True"},
                "reason": {"type": "str"},
            },
        },
    )
    if namespaced:
        spec["namespace"] = {"type": "str"}
    spec.update(specific)
    return spec


# Options of every applying module that only mean something when the object is to exist.
PRESENT_ONLY = ("labels", "annotations", "force_conflicts")


def option_problems(params: dict[str, Any], present_only: tuple[str, ...] = ()) -> list[str]:
    """Problems with the shared options, each naming the options and the rule ([] when fine): a negative
    wait_timeout, options of state=present given with state=absent (PRESENT_ONLY plus the module's own),
    wait_condition without wait (the _info modules). Checked before any request."""
    problems: list[str] = []
    timeout = params.get("wait_timeout")
    if timeout is not None and timeout < 0:
        problems.append(f"wait_timeout: must be 0 or more seconds, got {timeout}")
    if params.get("state") == "absent":
        given = [option for option in PRESENT_ONLY + present_only if _given(params.get(option))]
        if given:
            problems.append(f"{', '.join(given)}: only used with state=present, not with state=absent")
    if params.get("wait_condition") and not params.get("wait"):
        problems.append("wait_condition: only used with wait=true")
    return problems


def _given(value: Any) -> bool:
    """Set by the task: not None and not a false flag (bool options default to false)."""
    return value is not None and value is not False


def refuse(module: Any, problems: list[str]) -> None:
    """Fail the task, before anything is sent, when there is any problem."""
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems)


def metadata(params: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": params["name"]}
    if namespaced:
        meta["namespace"] = params["namespace"]
    for key in ("labels", "annotations"):
        if params.get(key):
            meta[key] = params[key]
    return meta


def run(module: Any, body: Callable[[DVPClient, Ensurer], dict[str, Any]]) -> None:
    """Build the client, run the module's body, and report: exit_json with its result or fail_json with the
    error's message and details (the server's object among them when there is one).

    Credentials read from a kubeconfig are masked in everything the module returns. The client's retries
    share one budget, the task's wait_timeout (when the module has one), counted from here. An element of a
    batch brings the reads the batch's elements share (module_utils/batch.py)."""
    try:
        api = transport(module.params)
        module.no_log_values.update(secrets(api.settings))
        budget = module.params.get("wait_timeout")
        deadline = None if budget is None else time.monotonic() + budget
        client = DVPClient(api, deadline=deadline, reads=getattr(module, "shared_reads", None))
        result = body(client, Ensurer(client, module.check_mode))
    except DVPError as err:
        module.fail_json(msg=err.message, **shown({k: v for k, v in err.details.items() if k not in ("msg", "changed")}))
    module.exit_json(**shown(result))


def shown(result: dict[str, Any]) -> dict[str, Any]:
    """A module's result with its objects (`resource`, `resources`) as the modules return them: without
    metadata.managedFields (compare.without_managed_fields)."""
    out = dict(result)
    if isinstance(out.get("resource"), dict):
        out["resource"] = without_managed_fields(out["resource"])
    if isinstance(out.get("resources"), list):
        out["resources"] = [without_managed_fields(o) if isinstance(o, dict) else o for o in out["resources"]]
    return out
