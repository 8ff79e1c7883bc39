# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_operation's flow: one VirtualMachineOperation created with generateName and followed to a terminal phase,
refused up front when the platform would fail it (§6.2 supersede table, §6.3 applicability, §7.4 force ×
liveMigrationPolicy, a migration with no feasible target), or aborted by deletion (§6.4)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import vm_rules
from . import vocabulary as v
from .client import APIStatusError, DVPClient, operation_attempt
from .disk_holders import held_disk_problems
from .errors import DVPError
from .kinds import MODULE_CONFIG, NODE, VIRTUAL_MACHINE, VIRTUAL_MACHINE_OPERATION
from .maintenance_service import ClusterView, cpu_checker, move_report
from .migration_rules import describe_refusal, force_problem, plan_moves
from .references import References
from .waiter import Outcome, condition, gone, wait_for

MIGRATIONS = (v.VMOP_MIGRATE, v.VMOP_EVICT)
TERMINAL = (v.VMOP_COMPLETED, v.FAILED, v.VMOP_SUPERSEDED)
NEVER_DONE = {
    v.VMOP_RESTART: "a Restart is never already done",
    v.VMOP_EVICT: "an Evict moves the VM off whatever node it is on, so it is never already done",
}


def _status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def static_problems(p: dict[str, Any]) -> list[str]:
    """What the task alone contradicts, each naming the option and the rule."""
    problems = []
    if p["wait_timeout"] < 0:
        problems.append(f"wait_timeout: must be 0 or more seconds, got {p['wait_timeout']}")
    if p["state"] == "absent":
        for option in ("force", "migrate", "generate_name"):
            if p.get(option) is not None:
                problems.append(f"{option}: only used with state=present, not with state=absent")
        if p.get("unless_done"):
            problems.append("unless_done: only used with state=present")
        return problems
    if p.get("name"):
        problems.append("name: an operation is created with generateName (its spec is immutable, each run is a new object); use generate_name, "
                        "or name with state=absent to abort one")  # fmt: skip
    kind = p["type"]
    if kind == v.VMOP_START and p.get("force"):
        problems.append("force: a Start cannot be forced (the platform's CRD rule)")
    if p.get("migrate") is not None and kind != v.VMOP_MIGRATE:
        problems.append(f"migrate: only with type=Migrate, not type={kind}")
    if p.get("unless_done"):
        if kind in NEVER_DONE:
            problems.append(f"unless_done: {NEVER_DONE[kind]}; leave unless_done unset to run it on every run")
        elif kind == v.VMOP_MIGRATE and not (p.get("migrate") or {}).get("node_selector"):
            problems.append("unless_done: a Migrate without migrate.node_selector is never already done")
    return problems


def system_policy(client: DVPClient) -> str | None:
    """The ModuleConfig's system migration policy override (§7.4); None when unset or not readable."""
    try:
        mc = client.get(MODULE_CONFIG, v.VIRTUALIZATION_MODULE)
    except APIStatusError as err:
        if err.status in (401, 403):
            return None
        raise
    return ((mc or {}).get("metadata", {}).get("annotations") or {}).get(v.SYSTEM_MIGRATION_POLICY_ANNOTATION)


def unfinished(client: DVPClient, namespace: str, vm: str) -> list[dict[str, Any]]:
    ops = [op for op in client.list(VIRTUAL_MACHINE_OPERATION, namespace)["items"]
           if (op.get("spec") or {}).get("virtualMachineName") == vm and _status(op).get("phase", "") in vm_rules.UNFINISHED_PHASES]  # fmt: skip
    return sorted(ops, key=lambda op: (op["metadata"].get("creationTimestamp") or "", op["metadata"]["name"]))


def desired_spec(p: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": p["type"], "virtualMachineName": p["virtual_machine_name"]}
    if p.get("force") is not None:
        spec["force"] = p["force"]
    selector = (p.get("migrate") or {}).get("node_selector")
    if selector:
        spec["migrate"] = {"nodeSelector": selector}
    return spec


def done_already(client: DVPClient, kind: str, vm: dict[str, Any], selector: dict[str, str] | None) -> str | None:
    """With unless_done: why the VM already is where the operation would put it, or None."""
    phase = _status(vm).get("phase")
    if kind == v.VMOP_START and phase == v.VM_RUNNING:
        return "the VM is already Running"
    if kind == v.VMOP_STOP and phase == v.VM_STOPPED:
        return "the VM is already Stopped"
    if kind == v.VMOP_MIGRATE and selector and phase == v.VM_RUNNING:
        try:
            node = client.get(NODE, _status(vm).get("nodeName") or "") if _status(vm).get("nodeName") else None
        except APIStatusError as err:
            if err.status != 403:
                raise
            return None  # a user who may not read Nodes cannot tell: the operation is made
        labels = ((node or {}).get("metadata") or {}).get("labels") or {}
        if node is not None and all(labels.get(k) == val for k, val in selector.items()):
            return f"the VM already runs on {node['metadata']['name']}, which matches migrate.node_selector"
    return None


def server_problems(client: DVPClient, p: dict[str, Any], vm: dict[str, Any], pending: list[dict[str, Any]],
                    warn: Callable[[str], None]) -> tuple[list[str], dict[str, Any] | None]:  # fmt: skip
    """What the platform would fail: ([problems], the migration preflight for Evict/Migrate or None; None too when
    the user may not read what the preflight reads, which `warn` says)."""
    kind, force = p["type"], p.get("force")
    spec = vm.get("spec") or {}
    policy = spec.get("runPolicy") or v.RUN_ALWAYS_ON_UNLESS_STOPPED
    phase = _status(vm).get("phase") or v.VM_PENDING
    problems = []
    for op in pending:
        ospec = op.get("spec") or {}
        if not vm_rules.can_supersede(ospec.get("type"), bool(ospec.get("force")), kind, bool(force)):
            problems.append(f"type: the unfinished {ospec.get('type')} operation {op['metadata']['name']} ({_status(op).get('phase') or 'new'}) "
                            f"should finish first (a {kind} cannot supersede it); wait for it or abort it with state=absent")  # fmt: skip
    bad = vm_rules.vmop_not_applicable(kind, bool(force), policy, phase)
    if bad:
        field_name, message = bad
        problems.append(f"type: {message} ({'spec.runPolicy' if field_name == 'runPolicy' else 'status.phase'} of VirtualMachine "
                        f"{vm['metadata']['namespace']}/{vm['metadata']['name']})")  # fmt: skip
    if kind == v.VMOP_START and not bad:
        # a Start the platform accepts but cannot carry out: the VM would wait in Pending for a disk another VM holds
        where = f"VirtualMachine {vm['metadata']['namespace']}/{vm['metadata']['name']}"
        problems += [f"type: Start of {where}: {problem}" for problem in held_disk_problems(client, vm["metadata"]["namespace"], vm, starting=True)]
    preflight = None
    if kind in MIGRATIONS:
        override = system_policy(client)
        why = force_problem(spec.get("liveMigrationPolicy"), force, override)
        if why:
            problems.append(f"force: {why}")
        if not bad and _status(vm).get("nodeName"):
            try:
                view = ClusterView(client)
                check = cpu_checker()[0]
                selector = (p.get("migrate") or {}).get("node_selector") or {}
                moves = plan_moves([view.leaver(vm, node_selector=selector)], view.states(), _status(vm)["nodeName"], check)
            except APIStatusError as err:
                if err.status != 403:
                    raise
                # a project user may create the operation (RBAC.md: use roles write VirtualMachineOperations) but not
                # read the cluster's Nodes: the platform still checks the target, the task only cannot check it first
                warn(f"the target of the {kind} was not checked before the request: this user may not read the cluster's Nodes and pods")
                return problems, None
            preflight = move_report(moves[0])
            problems += [f"type: {kind} of {line}" for line in describe_refusal(moves)]
    return problems, preflight


def op_summary(op: dict[str, Any] | None) -> dict[str, Any]:
    status = _status(op)
    meta = (op or {}).get("metadata") or {}
    return {"name": meta.get("name") or meta.get("generateName"), "namespace": meta.get("namespace"), "type": ((op or {}).get("spec") or {}).get("type"),
            "phase": status.get("phase"), "progress": status.get("progress"), "conditions": status.get("conditions") or []}  # fmt: skip


def _seconds(start: str | None, end: str | None) -> float | None:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 3)


def follow(module: Any, seen: dict[str, Any]):
    """A predicate for wait_for: a terminal phase ends the wait (success or not: the caller reports); phase and
    progress changes are logged as they come."""

    def check(obj: dict[str, Any] | None) -> Outcome:
        if obj is None:
            return Outcome(failed=True, message="the operation was deleted while waiting (aborted)")
        status = _status(obj)
        now = (status.get("phase"), status.get("progress"))
        if now != seen.get("last"):
            seen["last"] = now
            module.log(f"vm_operation {obj['metadata']['name']}: {now[0] or 'new'}" + (f" {now[1]}" if now[1] else ""))
        return Outcome(done=status.get("phase") in TERMINAL)

    return check


def ensure_operation(module: Any, client: DVPClient, refs: References) -> dict[str, Any]:
    """The operation created (and followed) or aborted. Its VirtualMachine must exist; in check mode a missing one is a
    reference not verified (`refs`: an earlier task may create it), and the result is the operation the task would
    create, not sent as a dry run."""
    p = module.params
    if p["state"] == "absent":
        return abort(module, client)
    namespace, vm_name, kind = p["namespace"], p["virtual_machine_name"], p["type"]
    vm = client.get(VIRTUAL_MACHINE, vm_name, namespace)
    if vm is None and refs.missing(f"virtual_machine_name: VirtualMachine {namespace}/{vm_name} does not exist"):
        op = {**operation_body(p), "status": {}}
        return {"changed": True, "would": f"create a {kind} operation for VirtualMachine {namespace}/{vm_name} (which does not exist yet)",
                "operation": op_summary(op), "resource": op, "preflight": None, "node_after": None, "node_before": None, "vm_phase_before": None}  # fmt: skip
    if vm is None:
        raise DVPError(f"virtual_machine_name: VirtualMachine {namespace}/{vm_name} does not exist")
    node_before = _status(vm).get("nodeName") or None
    base: dict[str, Any] = {"node_before": node_before, "vm_phase_before": _status(vm).get("phase")}
    pending = unfinished(client, namespace, vm_name)
    selector = (p.get("migrate") or {}).get("node_selector")
    if p.get("unless_done"):
        done = done_already(client, kind, vm, selector)
        if done:
            return {"changed": False, "skipped_reason": done, "operation": {}, "resource": {}, "node_after": node_before, **base}
        same = [op for op in pending if (op.get("spec") or {}) == desired_spec(p)]
        if same:
            module.log(f"vm_operation: the same {kind} operation {same[-1]['metadata']['name']} is unfinished; following it instead of creating another")
            return finish(module, client, same[-1], vm, base, adopted=True)
    problems, preflight = server_problems(client, p, vm, pending, module.warn)
    if problems:
        raise DVPError("; ".join(problems), problems=problems, preflight=preflight, **base)
    body = operation_body(p)
    op = client.create(VIRTUAL_MACHINE_OPERATION, body, namespace, dry_run=module.check_mode, what=operation_attempt(body))
    if module.check_mode:
        target = (preflight or {}).get("target")
        would = f"create a {kind} operation for VirtualMachine {namespace}/{vm_name} ({_status(vm).get('phase')} on {node_before or 'no node'})"
        if target:
            would += f"; the scheduler would pick node {target}"
        return {"changed": True, "would": would, "operation": op_summary(op), "resource": op, "preflight": preflight, "node_after": target or node_before,
                **base}  # fmt: skip
    module.log(f"vm_operation: created {kind} {op['metadata']['name']} for {namespace}/{vm_name}")
    return finish(module, client, op, vm, {**base, "preflight": preflight}, adopted=False)


def operation_body(p: dict[str, Any]) -> dict[str, Any]:
    """The VirtualMachineOperation the task creates (generateName `<type>-<vm>-` unless generate_name)."""
    return {
        "apiVersion": VIRTUAL_MACHINE_OPERATION.api_version,
        "kind": VIRTUAL_MACHINE_OPERATION.kind,
        "metadata": {"generateName": p.get("generate_name") or f"{p['type'].lower()}-{p['virtual_machine_name']}-", "namespace": p["namespace"]},
        "spec": desired_spec(p),
    }


def finish(module: Any, client: DVPClient, op: dict[str, Any], vm: dict[str, Any], base: dict[str, Any], adopted: bool) -> dict[str, Any]:
    p = module.params
    meta = op["metadata"]
    started = time.monotonic()
    if p["wait"]:
        op = wait_for(client, VIRTUAL_MACHINE_OPERATION, meta["name"], meta["namespace"], follow(module, {}), p["wait_timeout"]) or op
    after = client.get(VIRTUAL_MACHINE, vm["metadata"]["name"], vm["metadata"]["namespace"])
    status = _status(after)
    migrates = (op.get("spec") or {}).get("type") in MIGRATIONS
    migration = (status.get("migrationState") or {}) if migrates else {}
    result: dict[str, Any] = {
        "changed": not adopted,
        "adopted": adopted,
        "operation": op_summary(op),
        "resource": op,
        "node_after": status.get("nodeName") or None,
        "vm_phase_after": status.get("phase"),
        "duration": round(time.monotonic() - started, 3) if p["wait"] else None,
        "migration": migration,
        "migration_duration": _seconds(migration.get("startTimestamp"), migration.get("endTimestamp")) if migrates else None,
        **base,
    }
    phase = _status(op).get("phase")
    if p["wait"] and phase != v.VMOP_COMPLETED:
        cond = condition(op, v.COND_COMPLETED) or {}
        why = f"{cond.get('reason', '')}: {cond.get('message', '')}".rstrip(": ")
        raise DVPError(f"VirtualMachineOperation {meta['namespace']}/{meta['name']}: phase {phase}: {why}",
                       **{k: val for k, val in result.items() if k != "changed"})  # fmt: skip
    return result


def abort(module: Any, client: DVPClient) -> dict[str, Any]:
    """state=absent: delete the named operation, or every unfinished one of the VM (of `type` when given); a
    Migrate/Evict that was Pending/InProgress is cancelled by the platform (its migration deleted)."""
    p = module.params
    namespace = p["namespace"]
    if p.get("name"):
        op = client.get(VIRTUAL_MACHINE_OPERATION, p["name"], namespace)
        ops = [op] if op is not None else []
    else:
        ops = [op for op in unfinished(client, namespace, p["virtual_machine_name"]) if not p.get("type") or op["spec"]["type"] == p["type"]]
    aborted = []
    for op in ops:
        meta = op["metadata"]
        vm_name = op["spec"]["virtualMachineName"]
        vm = client.get(VIRTUAL_MACHINE, vm_name, namespace)
        before = _status(vm).get("nodeName") or None
        was_unfinished = _status(op).get("phase", "") in vm_rules.UNFINISHED_PHASES
        client.delete(VIRTUAL_MACHINE_OPERATION, meta["name"], namespace, dry_run=module.check_mode)
        entry = {**op_summary(op), "was_unfinished": was_unfinished, "node_before": before, "node_after": before, "migration_cancelled": False}
        if not module.check_mode and p["wait"]:
            wait_for(client, VIRTUAL_MACHINE_OPERATION, meta["name"], namespace, gone, p["wait_timeout"])
            vm = client.get(VIRTUAL_MACHINE, vm_name, namespace)
            entry["node_after"] = _status(vm).get("nodeName") or None
            entry["migration_cancelled"] = op["spec"]["type"] in MIGRATIONS and was_unfinished and entry["node_after"] == before
            module.log(f"vm_operation {meta['name']}: deleted" + (" (migration cancelled)" if entry["migration_cancelled"] else ""))
        aborted.append(entry)
    return {"changed": bool(aborted), "aborted": aborted, "migration_cancelled": any(a["migration_cancelled"] for a in aborted)}
