# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module shares: the common argument spec and the run wrapper that turns errors into fail_json.

`module` below is an AnsibleModule, or the action plugin's in-process adapter (plugin_utils/in_process.py) with the
same interface: params, check_mode, _diff, no_log_values, warn, exit_json and fail_json (neither returns)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .argspec import argument_errors
from .client import DVPClient
from .compare import without_managed_fields
from .connection import connection_arg_spec, option_secrets, secrets, transport
from .ensure import Ensurer
from .errors import DVPError
from .references import References


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


def hide_credentials(module: Any) -> None:
    """Mask the credentials in the connection options (connection.option_secrets: a kubeconfig dictionary's, the
    proxy URL's password ...) in everything the module returns, its `invocation` among them. Called first (refuse,
    run), as any failure returns the options."""
    module.no_log_values.update(option_secrets(getattr(module, "params", None) or {}))


def masking(base: type) -> type:
    """`base` (AnsibleModule) whose failures mask the connection options' credentials (hide_credentials) also when
    the task's arguments do not validate: AnsibleModule fails those before the module runs, returning the options
    (a kubeconfig dictionary, a proxy URL with its password) in `invocation`. A dict option given a number, a boolean
    or a list fails with its type error (argument_errors) instead of AnsibleModule's crash."""

    class Masking(base):  # type: ignore[misc, valid-type]
        _type_errors: list[str] = []

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self._type_errors:
                self.fail_json(msg=self._type_errors[0])

        def _load_params(self) -> None:
            super()._load_params()
            self._type_errors = argument_errors(self.argument_spec, self.params)

        def fail_json(self, msg: str, **kwargs: Any) -> Any:
            hide_credentials(self)
            return super().fail_json(self._type_errors[0] if self._type_errors else msg, **kwargs)

    return Masking


def refuse(module: Any, problems: list[str]) -> None:
    """Fail the task, before anything is sent, when there is any problem."""
    hide_credentials(module)
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

    Credentials of the connection options and those read from a kubeconfig are masked in everything the module
    returns, the former before anything can fail. The client's retries share one budget, the task's wait_timeout
    (when the module has one), counted from here. An element of a batch brings the reads the batch's elements
    share (module_utils/batch.py). A failure after a write the server carried out (an object created, changed
    or deleted, then a wait that timed out) reports changed=true (see failure). A wait says how the object moves on
    through module.log (the task's progress lines), unless the module says `reports_waits = False` (a batch's
    element: hundreds of objects would drown the task's own lines)."""
    hide_credentials(module)
    client: RecordingClient | None = None
    try:
        api = transport(module.params)
        module.no_log_values.update(secrets(api.settings))
        budget = module.params.get("wait_timeout")
        deadline = None if budget is None else time.monotonic() + budget
        client = RecordingClient(api, deadline=deadline, reads=getattr(module, "shared_reads", None), check_mode=module.check_mode)
        log = module.log if getattr(module, "reports_waits", True) else None
        result = body(client, Ensurer(client, module.check_mode, References(module.check_mode, module.warn), log=log, warn=module.warn))
    except DVPError as err:
        module.fail_json(**failure(err, client))
    module.exit_json(**shown(result))


def failure(err: DVPError, client: RecordingClient | None = None) -> dict[str, Any]:
    """fail_json's arguments for an error of the module's body: its message and details (the server's object among
    them when there is one, without managedFields), and `changed`: whether a write was carried out first
    (client.changed; a write answered with an error, or a dry run, changes nothing). An error about an object
    without the object (after a write, any error naming the object) gets the object as the API server last returned
    it. The message is the error's own (a wait's timeout is worded by waiter.timed_out)."""
    details = {k: v for k, v in err.details.items() if k not in ("msg", "changed")}
    changed = bool(client is not None and client.changed)
    subject = err.message.split(": ", 1)[0]  # `VirtualDisk ns/name`, as Kind.describe and the waiter name it
    last = client.seen.get(subject) if client is not None else None
    if (changed or "resource" in details) and details.get("resource") is None and last is not None:
        details["resource"] = last
    return {"msg": err.message, "changed": changed, **shown(details)}


class RecordingClient(DVPClient):
    """DVPClient noting, for the task's report, what its answers showed: `changed`, whether a write was carried out
    (POST, PUT, PATCH or DELETE answered with success, not a dry run, nor a patch answered with the object's
    resourceVersion unchanged), and `seen`, each object as the server last returned it, by Kind.describe
    (`VirtualDisk ns/name`; a delete answered without the object forgets it)."""

    def __init__(self, *args: Any, check_mode: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.check_mode = check_mode
        self.changed = False
        self.seen: dict[str, dict[str, Any] | None] = {}

    def request(self, method: str, path: str, what: str, query: list[tuple[str, str]] | None = None, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        answer = super().request(method, path, what, query, body, *args, **kwargs)
        obj = answer if _is_object(answer) else None  # not a watch's open stream, a list, a Status
        key = _subject(obj) if obj is not None else what
        if method != "GET" and not self.check_mode and not _dry_run(query, body):
            before = self.seen.get(key)
            same = method == "PATCH" and obj is not None and before is not None and _version(obj) is not None and _version(before) == _version(obj)
            self.changed = self.changed or not same
            if method == "DELETE" and obj is None:
                self.seen.pop(key, None)
        if obj is not None:
            self.seen[key] = obj
        return answer

    def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        obj = super().get(kind, name, namespace)  # the batch's shared reads answer some without a request
        self.seen[kind.describe(name, namespace)] = obj
        return obj


def _is_object(answer: Any) -> bool:
    """An API object (not a Status, not a list)."""
    meta = answer.get("metadata") if isinstance(answer, dict) else None
    return isinstance(meta, dict) and bool(meta.get("name")) and answer.get("kind") != "Status" and "items" not in answer


def _subject(obj: dict[str, Any]) -> str:
    """`Kind ns/name` or `Kind name`, as Kind.describe."""
    meta = obj["metadata"]
    return f"{obj.get('kind')} {meta['namespace']}/{meta['name']}" if meta.get("namespace") else f"{obj.get('kind')} {meta['name']}"


def _version(obj: dict[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _dry_run(query: list[tuple[str, str]] | None, body: Any) -> bool:
    """A write the server only pretended to make: dryRun in the query, or in the body's DeleteOptions (a delete's,
    an eviction's)."""
    if any(k == "dryRun" for k, _unused in query or []):
        return True
    if isinstance(body, dict):
        return bool(body.get("dryRun") or (body.get("deleteOptions") or {}).get("dryRun"))
    return False


def shown(result: dict[str, Any]) -> dict[str, Any]:
    """A module's result with its objects (`resource`, `resources`) as the modules return them: without
    metadata.managedFields (compare.without_managed_fields)."""
    out = dict(result)
    if isinstance(out.get("resource"), dict):
        out["resource"] = without_managed_fields(out["resource"])
    if isinstance(out.get("resources"), list):
        out["resources"] = [without_managed_fields(o) if isinstance(o, dict) else o for o in out["resources"]]
    return out
