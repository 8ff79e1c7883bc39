# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deckhouse.virtualization.vms: the vms role's steps in one task.

The plan and the results are the pure functions of plugins/filter/vms.py. With `create_namespaces`, the namespaces
first, one kubernetes.core.k8s module run each; then each of the four steps with anything to do is one run of the vm
or virtual_disk module with the step's `batch`: in this worker process when the modules may run here
(plugin_utils/in_process.py, the same rule as their own action plugins), else as module processes on the task's host.
Why one task and not one per step: each task costs Ansible its own templating, worker, callbacks and a result that
crosses to the controller (the role's step tasks, their skipped siblings and the set_fact of the results cost it more
than the two batches' own work at 200 VMs; docs/benchmarks.md). The steps' results stay here: only `vms_results`
leaves.

Contract: the task's options are validated with the module file's spec(); a malformed `vms` fails the task naming
`vms[i]...` before anything is sent; so does an element of any step that its module's argument spec refuses (an
unknown option, a type, a choice), naming the step and `batch[i] (namespace/name)` as the step's own failure would,
but before the first step writes; a failed step fails the task with the step's name, its message and its
per-element results, and no later step runs; `changed` is any step's; the connection options given to this task
are given to each module, and the modules' own module_defaults (and their group's) apply as for a task of theirs.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.deckhouse.virtualization.plugins.plugin_utils.bytecode import cached_imports

with cached_imports():  # the collection's code imported here keeps its bytecode between runs (plugin_utils/bytecode.py)
    from ansible_collections.deckhouse.virtualization.plugins.filter.vms import vms_batch, vms_plan, vms_results, vms_unchecked
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.argspec import argument_errors
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.batch import refused_elements
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import CONNECTION_KEYS
    from ansible_collections.deckhouse.virtualization.plugins.plugin_utils.in_process import IN_PROCESS, ModuleAction, display, load_module, plain, run_module

try:  # the function ansible.builtin's package and service actions use for the modules they run
    from ansible.executor.module_common import _apply_action_arg_defaults as apply_defaults
except ImportError:  # ansible-core < 2.19
    from ansible.executor.module_common import get_action_args_with_defaults

    def apply_defaults(action: str, task: Any, args: dict[str, Any], templar: Any) -> dict[str, Any]:
        return get_action_args_with_defaults(action, args, task.module_defaults, templar, action_groups=task._parent._play._action_groups)


NAMESPACE_MODULE = "kubernetes.core.k8s"
MODULES = {"vm": ("deckhouse.virtualization.vm", load_module("vm")), "virtual_disk": ("deckhouse.virtualization.virtual_disk", load_module("virtual_disk"))}
# step -> (module, what the task's failure says)
STEPS = {
    "namespaces": ("", "creating the namespaces"),
    "delete_vms": ("vm", "deleting the virtual machines marked absent"),
    "apply_disks": ("virtual_disk", "creating or updating the disks"),
    "apply_vms": ("vm", "creating, updating, starting or stopping the virtual machines"),
    "delete_disks": ("virtual_disk", "deleting the disks of the deleted VMs and the disks marked absent"),
}


class StepFailed(Exception):
    def __init__(self, step: str, result: dict[str, Any]) -> None:
        super().__init__(step)
        self.step, self.result = step, result


class ActionModule(ModuleAction):
    MODULE = load_module("vms")
    _connection_args: dict[str, Any]
    _in_process: bool
    _notes: dict[str, Any]  # the task's result: the steps' warnings and deprecations go there
    _created_namespaces: list[str]

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = ActionBase.run(self, tmp, task_vars)  # the checks every action makes (check mode, async)
        spec, params = self.MODULE.spec(), plain(dict(self._task.args))
        type_errors = argument_errors(spec["argument_spec"], params)
        validation = ArgumentSpecValidator(**spec).validate(params)
        if type_errors or validation.errors.errors:
            return {**result, "failed": True, "msg": type_errors[0] if type_errors else validation.errors.msg}
        p = validation.validated_parameters
        try:
            plan = vms_plan(p["vms"], p["namespace"], p["wait"], p["wait_timeout"])
        except AnsibleFilterError as error:
            return {**result, "failed": True, "msg": str(error).replace("vms_list", "vms")}
        self._connection_args = {k: self._task.args[k] for k in CONNECTION_KEYS if k in self._task.args}
        refused = self._refused(plan)
        if refused:
            step, problems = refused
            return {**result, "failed": True, "changed": False, "step": step, "msg": f"{STEPS[step][1]}: {'; '.join(problems)}", "problems": problems,
                    "results": []}  # fmt: skip
        self._in_process = not self._needs_module_process()
        if self._in_process:
            display.vvv(f"{self._task.action}: {IN_PROCESS}", host=self._play_context.remote_addr)
        check_mode = bool(self._task.check_mode)
        registered: dict[str, dict[str, Any] | None] = {}
        unchecked: list[str] = []
        diffs: list[dict[str, Any]] = []
        self._notes, self._created_namespaces = result, []
        try:
            if p["create_namespaces"]:
                self._namespaces(plan, task_vars, diffs)
            pending = sorted(set(p["pending_namespaces"]) | set(self._created_namespaces)) if check_mode else []
            registered["delete_vms"] = self._step("delete_vms", plan["delete_vms"], task_vars, diffs)
            registered["apply_disks"] = self._step("apply_disks", vms_batch(plan, "apply_disks", pending), task_vars, diffs)
            if check_mode:
                unchecked = vms_unchecked(plan, registered["apply_disks"], pending)
            registered["apply_vms"] = self._step("apply_vms", vms_batch(plan, "apply_vms", unchecked), task_vars, diffs)
            registered["delete_disks"] = self._step("delete_disks", plan["delete_disks"], task_vars, diffs)
        except StepFailed as failed:
            out = failed.result
            changed = self._changed(registered) or bool(out.get("changed"))
            return {**result, "failed": True, "changed": changed,
                    "step": failed.step, "msg": f"{STEPS[failed.step][1]}: {out.get('msg')}", "results": out.get("results", [])}  # fmt: skip
        results = vms_results(plan, registered["delete_vms"], registered["apply_disks"], registered["apply_vms"], registered["delete_disks"], unchecked)
        # changed: any step's (a disk grown under an unchanged VM too), or a VM check mode could not check
        changed = self._changed(registered) or any(r["changed"] for r in results)
        result.update(changed=changed, ansible_facts={"vms_results": results})
        if unchecked:
            result["unchecked"] = unchecked
            names = ", ".join(unchecked)
            display.display(f"{self._task.action}: check mode: these VMs would be created once their namespace and disks exist: {names}", stderr=True)
        if self._task.diff:
            result["diff"] = diffs
        return result

    def _refused(self, plan: dict[str, Any]) -> tuple[str, list[str]] | None:
        """The first step with an element its module's argument spec refuses (an unknown option, a type, a choice),
        and the problems, masked: every step's elements are checked before the first step runs, so a VM's misspelt
        option fails the task before its disks are written. The modules' own rules (CPU topology, sizes, sources) are
        checked by each step's batch before it writes, as a task of theirs checks them."""
        for step in ("delete_vms", "apply_disks", "apply_vms", "delete_disks"):
            if not plan[step]:
                continue
            fqcn, module = MODULES[STEPS[step][0]]
            args = apply_defaults(fqcn, self._task, {**self._connection_args, "batch": vms_batch(plan, step)}, self._templar)
            problems, no_log = refused_elements(args, module.one_spec())
            if problems:
                return step, [remove_values(problem, no_log) for problem in problems]
        return None

    def _changed(self, registered: dict[str, dict[str, Any] | None]) -> bool:
        """Whether a namespace was created or a step that ran reported a change."""
        return bool(self._created_namespaces) or any(r and r.get("changed") for r in registered.values())

    def _pass_notes(self, out: dict[str, Any]) -> None:
        """Move a module run's warnings and deprecations to this task's result (shown for this task, as the step's own
        task would have shown them) and drop its `invocation` (the whole batch again)."""
        out.pop("invocation", None)
        for key in ("warnings", "deprecations"):
            self._notes.setdefault(key, []).extend(out.pop(key, None) or [])

    def _namespaces(self, plan: dict[str, Any], task_vars: Any, diffs: list[dict[str, Any]]) -> None:
        """Create the namespaces of the VMs and disks to apply with kubernetes.core.k8s (a module process per namespace,
        the module's module_defaults applied), noting those it created (or would create, in check mode) in
        _created_namespaces. Raises StepFailed."""
        for namespace in dict.fromkeys(args["namespace"] for args in plan["apply_vms"] + plan["apply_disks"]):
            args = {**self._connection_args, "api_version": "v1", "kind": "Namespace", "name": namespace, "state": "present"}
            out = self._execute_module(module_name=NAMESPACE_MODULE, module_args=apply_defaults(NAMESPACE_MODULE, self._task, args, self._templar),
                                       task_vars=task_vars)  # fmt: skip
            self._pass_notes(out)
            if out.get("failed"):
                raise StepFailed("namespaces", {**out, "msg": f"{namespace}: {out.get('msg')}"})
            if out.get("changed"):
                self._created_namespaces.append(namespace)
                diffs.extend([out["diff"]] if isinstance(out.get("diff"), dict) else [])

    def _step(self, step: str, batch: list[dict[str, Any]], task_vars: Any, diffs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The registered result of the step's module with `batch` (None: nothing to do); raises StepFailed."""
        if not batch:
            return None
        fqcn, module = MODULES[STEPS[step][0]]
        args = apply_defaults(fqcn, self._task, {**self._connection_args, "batch": batch}, self._templar)
        if self._in_process:
            out = run_module(module, fqcn, args, bool(self._task.check_mode), bool(self._task.diff), self._play_context.remote_addr or "")
        else:
            out = self._execute_module(module_name=fqcn, module_args=args, task_vars=task_vars)
        self._pass_notes(out)
        if out.get("failed"):
            raise StepFailed(step, out)
        diffs.extend(out.get("diff") or [])
        return out
