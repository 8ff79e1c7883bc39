# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of the collection in Ansible's worker process instead of a module process.

Every module has an action plugin of its name (plugins/action/) over ModuleAction. When the task would run the
module on the controller anyway - the local connection, no `environment:`, no `become`, no `async` - the worker
validates the task's arguments with the module's own spec() and runs the module's own execute() against
InProcessModule, an adapter with what the modules use of AnsibleModule; its result is the one the module process
would print (invocation, warnings, no_log values masked). Otherwise the task runs the module as usual
(ansible.builtin.normal). A task in-process has no AnsiballZ payload, no temporary directory and no Python start,
and its -vvv output says `in-process` (IN_PROCESS below).
"""

from __future__ import annotations

import json
import traceback
from types import ModuleType
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display

from ansible_collections.deckhouse.virtualization.plugins.plugin_utils import bytecode

display = Display()

# The -vvv line of a task run in the worker process (tests and users look for it).
IN_PROCESS = "in-process: the module's logic runs in the worker process, no module process"


class ModuleExit(BaseException):
    """exit_json or fail_json of the adapter, carrying the module's result (a BaseException, as the module
    process's SystemExit, so that no `except Exception` in module code can swallow it)."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("module exit")
        self.result = result


class InProcessModule:
    """What the modules' logic uses of AnsibleModule: params, check_mode, _diff, no_log_values, warn, deprecate,
    log, exit_json and fail_json (which raise ModuleExit to the caller).

    `log` (AnsibleModule's goes to the target's syslog/journal) prints the line on the run's stderr at once (so a
    stdout callback's format stays intact), as
    `<task action> [<host>]: <line>`, so that long work shows progress while it runs (AWX shows it live)."""

    def __init__(self, params: dict[str, Any], check_mode: bool, diff: bool, no_log_values: set[str], label: str = "") -> None:
        self.label = label
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set(no_log_values)
        self.warnings: list[str] = []
        self.deprecations: list[dict[str, Any]] = []

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)

    def deprecate(self, msg: str, version: str | None = None, date: str | None = None, collection_name: str | None = None) -> None:
        self.deprecations.append({"msg": msg, "version": version, "date": date, "collection_name": collection_name})

    def log(self, msg: str, log_args: dict[str, Any] | None = None) -> None:
        display.display(f"{self.label}: {remove_values(msg, self.no_log_values)}", stderr=True)

    def exit_json(self, **result: Any) -> None:
        raise ModuleExit(result)

    def fail_json(self, msg: Any, **result: Any) -> None:
        raise ModuleExit({**result, "failed": True, "msg": str(msg)})

    def formatted(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result as AnsibleModule returns it: with the invocation, warnings and deprecations, every
        no_log value masked except in booleans and None."""
        out = dict(result)
        out.setdefault("invocation", {"module_args": self.params})
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.deprecations:
            out["deprecations"] = [{k: v for k, v in d.items() if v is not None} for d in self.deprecations]
        preserved = {k: v for k, v in out.items() if v is None or isinstance(v, bool)}
        out = masked(out, self.no_log_values)
        out.update(preserved)
        return out


def masked(result: dict[str, Any], no_log_values: set[str]) -> dict[str, Any]:
    """remove_values(result, no_log_values), without its walk when no value occurs anywhere in the result: JSON
    escapes character by character, so a value inside any string (or key) of the result has its escaped form inside
    the result's JSON text. Anything not plain JSON takes the walk. A batch's result (hundreds of objects) walked
    by remove_values costs more than the batch's own work."""
    values = [v for v in no_log_values if v]
    if not values:
        return result
    try:
        text = json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return remove_values(result, no_log_values)
    if any(json.dumps(str(v), ensure_ascii=False)[1:-1] in text for v in values):
        return remove_values(result, no_log_values)
    return result


def plain(value: Any) -> Any:
    """value with Python's own types where Ansible's are (its tagged strings and numbers, its lazy containers), as a
    module process receives its arguments: a deepcopy of Ansible's tagged values takes its slow path (__reduce_ex__)
    for every string, and ArgumentSpecValidator deepcopies what it validates (a 200-VM `vms` list: ~0.3 s of the
    task). What JSON cannot carry is left as it is, for the validation to name."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


def run_module(module: ModuleType, name: str, args: dict[str, Any], check_mode: bool, diff: bool, host: str = "") -> dict[str, Any]:
    """The result of the module file `module` (its spec() and execute(module)) for the task's arguments, as
    AnsibleModule would validate them: defaults, fallbacks (K8S_AUTH_* from this process's environment, which
    is the controller's), aliases, choices, required_if, no_log values; an argument error fails the task."""
    # Imported here, not at the top: the module file imported it already through bytecode.py, so this finds it
    # loaded; a top-level import would load module_utils through Ansible's loader first, which writes no bytecode.
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.argspec import argument_errors
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import hide_credentials

    params = plain(dict(args))
    spec = module.spec()
    type_errors = argument_errors(spec["argument_spec"], params)  # ones the validator would crash on
    validation = ArgumentSpecValidator(**spec).validate(params)
    params.update(validation.validated_parameters)
    adapter = InProcessModule(params, check_mode, diff, validation._no_log_values, f"{name} [{host}]" if host else name)
    hide_credentials(adapter)  # before an argument error returns the options (a kubeconfig dictionary's credentials)
    for w in validation._warnings:
        adapter.warn(f"Both option {w['option']} and its alias {w['alias']} are set.")
    for d in validation._deprecations:
        adapter.deprecate(d["msg"], d.get("version"), d.get("date"), d.get("collection_name"))
    try:
        if type_errors:
            adapter.fail_json(msg=type_errors[0])
        if validation.errors.errors:
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = f"Unsupported parameters for ({name}) module: {msg}"
            adapter.fail_json(msg=msg)
        module.execute(adapter)
    except ModuleExit as done:
        return adapter.formatted(done.result)
    except Exception as exc:  # a defect: reported as a crashed module process would be, secrets masked
        display.vvv(remove_values(traceback.format_exc(), adapter.no_log_values))
        return adapter.formatted({"failed": True, "msg": f"MODULE FAILURE (in-process): {type(exc).__name__}: {exc}"})
    return adapter.formatted({"failed": True, "msg": "MODULE FAILURE (in-process): the module returned no result"})


def load_module(name: str) -> ModuleType:
    """The collection's module file plugins/modules/<name>.py, imported with its bytecode kept between runs
    (bytecode.py). The action plugins call it at class definition: Ansible's linear strategy loads the action's
    class in the controller's main process, so the module is imported once per run, not in each task's worker."""
    return bytecode.load(f"modules.{name}")


class ModuleAction(NormalAction):
    """The action plugin of a module of the collection: MODULE is the module file, load_module(<name>)."""

    MODULE: ModuleType

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        host = self._play_context.remote_addr
        reason = self._needs_module_process()
        if reason:
            display.vvv(f"{self._task.action}: {reason}: running the module in its own process", host=host)
            return super().run(tmp, task_vars)
        ActionBase.run(self, tmp, task_vars)  # the checks every action makes (check mode, async)
        display.vvv(f"{self._task.action}: {IN_PROCESS}", host=host)
        return run_module(self.MODULE, self._task.action, self._task.args, bool(self._task.check_mode), bool(self._task.diff), host or "")

    def _needs_module_process(self) -> str | None:
        """Why the task must run the module as a module (None: it may run in-process). Only a task that would
        run the module on the controller, as the controller's user, with the controller's environment, runs
        in-process."""
        if self._connection.transport != "local":
            return f"connection {self._connection.transport}"
        environment: dict[str, Any] = {}
        self._compute_environment_string(environment)  # the task's, its block's and its play's, templated
        if environment:
            return "the task has an environment"
        if self._play_context.become:
            return "become"
        if self._task.async_val:
            return "async"
        return None
