# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One task, many objects: the `batch` option of the applying modules.

`batch` is a list of objects, each given as the module's own options (name, namespace, spec fields, state, wait ...);
the task's other options are defaults for every element, its connection options are the one connection of all.
The contract, which a loop of the same tasks also keeps:

- every element is validated with the module's own argument spec (required options, types, choices, the module's
  rules) before anything is sent: one bad element fails the task, names `batch[i]`, the option and the rule, and
  nothing changes on the server;
- the elements are applied side by side by up to WORKERS threads, each request on a keep-alive connection of its
  own, so the module's own work on one element overlaps the server's on others (a write is a round trip through
  admission and the store; one after another, a batch waited for each); no element waits for another, as the
  objects of one batch do not depend on each other (a step that needs others to exist first is a batch of its own,
  as the vms role's disks before its VMs); the results stay in the batch's order. One element failing does not
  stop the others (as a loop goes on after a failed item) and the task fails at the end naming each failed element;
- elements asking to `wait` are waited for after every element has been applied, so N imports or N VM starts
  progress side by side instead of one after another; the wait is the element's task run again (idempotent: it
  finds nothing to write and waits);
- the result is `results`, one per element in order (`changed`, `resource`, the module's own keys, `item`: the
  element as given, and `failed` / `msg` when it failed), as a loop registers it; `changed` is any element's, and
  with --diff `diff` is the list of every changed element's diff, each headed `batch[i] (namespace/name)`.

Why not a loop: each loop item is a task execution of its own in Ansible (templating every option, a result
through the callbacks, ~10-15 ms of the controller's time per item); a batch is one.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from .argspec import argument_errors
from .connection import CONNECTION_KEYS, connection_arg_spec, misplaced_secrets, option_secrets
from .errors import DVPError

BATCH_OPTION = {"type": "list", "elements": "dict"}
# Elements applied side by side: enough to keep the API server busy while this process works on the next ones
# (docs/benchmarks.md, the playbook section, has the figures for 1, 2, 4 and 8).
WORKERS = 4

# problems(params) -> what is wrong with one object's options, found without the cluster ([] when nothing is).
Problems = Callable[[dict[str, Any]], list[str]]


def batch_spec(single: dict[str, Any]) -> dict[str, Any]:
    """The task's spec from the module's one-object spec (spec() keyword arguments of AnsibleModule): the `batch`
    option added, `name` (and `namespace`) no longer required by themselves - one of `name` and `batch` is, and
    `name` still requires `namespace` for a namespaced kind."""
    spec = copy.deepcopy(single)
    options = spec["argument_spec"]
    options["name"] = {**options["name"], "required": False}
    if options.get("namespace", {}).get("required"):
        options["namespace"] = {**options["namespace"], "required": False}
        spec.setdefault("required_by", {})["name"] = ["namespace"]
    options["batch"] = dict(BATCH_OPTION)
    spec.setdefault("mutually_exclusive", []).append(["name", "batch"])
    spec.setdefault("required_one_of", []).append(["name", "batch"])
    return spec


def element_spec(single: dict[str, Any]) -> dict[str, Any]:
    """What one element is validated against: the one-object spec without the connection options."""
    spec = copy.deepcopy(single)
    spec["argument_spec"] = {k: v for k, v in spec["argument_spec"].items() if k not in CONNECTION_KEYS}
    return spec


class SharedReads:
    """The reads a batch's elements share while they are applied, each a decision the element makes anyway:

    - `listed` kinds (the module's own kind, and kinds each element reads one object of, as a VM its disks): the first
      read in a namespace LISTs the namespace once, its first page bounded by `bound` (so a batch costs the server
      what its size does, not what the namespace holds; a namespace holding more, or a LIST the caller may not make,
      leaves reads to one GET each); each listed object is served once, a second read of it asks the server;
    - `memo` kinds (what many elements read alike: a VM class, an image) are read once per batch.

    A read served here is as fresh as the listing, taken moments before: the same as a GET made then. The waits
    after the apply pass read the server."""

    def __init__(self, listed: tuple[Any, ...] = (), memo: tuple[Any, ...] = (), bound: int = 500) -> None:
        self._lock = threading.Lock()  # the elements' threads share these reads: a namespace is listed once
        self.listed = {k.kind for k in listed}
        self.memo = {k.kind for k in memo}
        self.bound = bound
        self._lists: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._served: set[tuple[str, str, str]] = set()
        self._memo: dict[tuple[str, str, str | None], Any] = {}

    def get(self, client: Any, kind: Any, name: str, namespace: str | None) -> tuple[bool, dict[str, Any] | None]:
        """(True, the object or None when it does not exist) when served here; (False, None): ask the server."""
        with self._lock:
            return self._get(client, kind, name, namespace)

    def _get(self, client: Any, kind: Any, name: str, namespace: str | None) -> tuple[bool, dict[str, Any] | None]:
        if kind.kind in self.memo:
            key = (kind.kind, name, namespace)
            if key not in self._memo:
                self._memo[key] = client.read(kind, name, namespace)
            return True, copy.deepcopy(self._memo[key])
        if kind.kind not in self.listed or not (namespace and kind.namespaced):
            return False, None
        item = (kind.kind, namespace, name)
        if item in self._served:
            return False, None
        if (kind.kind, namespace) not in self._lists:
            self._lists[(kind.kind, namespace)] = self._listing(client, kind, namespace)
        listing = self._lists[(kind.kind, namespace)]
        if listing is None:
            return False, None
        self._served.add(item)
        return True, listing.pop(name, None)

    def _listing(self, client: Any, kind: Any, namespace: str) -> dict[str, Any] | None:
        """name -> object of the namespace's `kind`, None when it holds more than `bound` or the LIST is refused."""
        try:
            answer = client.request("GET", client.path(kind, None, namespace), f"{kind.kind} list", [("limit", str(self.bound))])
        except DVPError:
            return None
        if not isinstance(answer, dict) or (answer.get("metadata") or {}).get("continue"):
            return None
        out = {}
        for obj in answer.get("items") or []:
            out[obj["metadata"]["name"]] = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        return out


class ElementExit(BaseException):
    """exit_json / fail_json of one element (a BaseException, as the task's own exit, so that no `except
    Exception` in module code swallows it)."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("element exit")
        self.result = result


class ElementModule:
    """The module interface (params, check_mode, _diff, no_log_values, warn, deprecate, log, exit_json, fail_json)
    for one element. no_log_values is the task's own set, so a secret one element registers (an upload URL, a
    kubeconfig's token) is masked in the whole result; warnings go to the task, prefixed with the element."""

    reports_waits = False  # the batch says `waiting for N of M objects` once, not each object's phases

    def __init__(self, task: Any, params: dict[str, Any], label: str, shared_reads: SharedReads | None = None, waits_after: bool = False) -> None:
        self.task = task
        self.shared_reads = shared_reads  # common.run gives them to the element's client
        self.params = params
        # The apply pass of an element that will be waited for in the wait pass (its params say wait=false meanwhile):
        # a check that depends on the wait (virtual_disk's missing source) decides as the element's wait does.
        self.waits_after = waits_after
        self.label = label
        self.check_mode = task.check_mode
        self._diff = task._diff
        self.no_log_values = task.no_log_values

    def warn(self, warning: str) -> None:
        self.task.warn(f"{self.label}: {warning}")

    def deprecate(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.task.deprecate(f"{self.label}: {msg}", *args, **kwargs)

    def log(self, msg: str, log_args: dict[str, Any] | None = None) -> None:
        self.task.log(f"{self.label}: {msg}")

    def exit_json(self, **result: Any) -> None:
        raise ElementExit(result)

    def fail_json(self, msg: Any, **result: Any) -> None:
        raise ElementExit({**result, "failed": True, "msg": str(msg)})


def label(element: dict[str, Any], index: int) -> str:
    """How messages name an element: `batch[3] (ns/name)`."""
    name = element.get("name")
    ns = element.get("namespace")
    return f"batch[{index}] ({ns}/{name})" if ns and name else f"batch[{index}] ({name})" if name else f"batch[{index}]"


def validated(task_params: dict[str, Any], batch: list[Any], single: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], set[str]]:
    """(every element's options, problems, no_log values): each element over the task's options (those set, the
    connection and `batch` itself left out), validated with the one-object spec, then given the task's connection
    options (an element cannot name another cluster: one connection serves the task). Problems name `batch[i]`."""
    spec = element_spec(single)
    defaults = {k: task_params[k] for k in spec["argument_spec"] if task_params.get(k) is not None}
    connection = {k: task_params.get(k) for k in CONNECTION_KEYS}
    validator = ArgumentSpecValidator(**spec)
    elements: list[dict[str, Any]] = []
    problems: list[str] = []
    no_log: set[str] = set()
    for index, element in enumerate(batch):
        if not isinstance(element, dict):
            problems.append(f"batch[{index}]: must be a dictionary of the module's options, got {type(element).__name__}")
            elements.append({})
            continue
        given = {**defaults, **element}
        problems.extend(f"{label(given, index)}: {error}" for error in argument_errors(spec["argument_spec"], given))
        result = validator.validate(given)  # it validates a deep copy
        no_log.update(result._no_log_values)
        # options the element may not have (a connection option, a token ...) are shown with its rejection: their
        # credentials are masked as the task's own are
        no_log.update(misplaced_secrets({k: element[k] for k in result._unsupported_parameters if isinstance(k, str) and k in element}))
        problems.extend(f"{label({**defaults, **element}, index)}: {error}" for error in _messages(result))
        elements.append({**result.validated_parameters, **connection})
    return elements, problems, no_log


def refused_elements(task_args: dict[str, Any], single: dict[str, Any]) -> tuple[list[str], set[str]]:
    """(problems, no_log values): what validated() refuses in task_args['batch'] (each element over the task's other
    arguments, with the one-object spec: unknown options, types, choices, required options), without the module's
    own rules and without the cluster. For a caller that runs several batches one after another and must refuse a
    bad element of any of them before the first batch writes (the vms module's steps). Mask the problems with the
    no_log values before showing them."""
    params = {k: v for k, v in task_args.items() if k != "batch"}
    _elements, found, no_log = validated(params, task_args["batch"], single)
    return found, no_log


def _messages(result: Any) -> list[str]:
    """The validation's messages; that of unknown options says so (the validator's text is only `<names>. Supported
    parameters include: ...`), and that connection options belong to the task."""
    out = []
    for error in result.errors.errors:
        text = str(error)
        if isinstance(error, UnsupportedError):
            names = sorted(".".join(n) if isinstance(n, tuple) else str(n) for n in result._unsupported_parameters)
            connection = [n for n in names if n in _connection_names()]
            head, sep, supported = text.partition(". Supported parameters include: ")
            text = f"Unsupported parameters: {head}"
            if connection:
                which = "" if connection == names else f"{', '.join(connection)}: "
                text += f" ({which}connection options are set on the task, beside batch: one connection serves every element)"
            if sep:
                text += f". Supported parameters include: {supported}"
        out.append(text)
    return out


def _connection_names() -> set[str]:
    """The connection options' names and aliases."""
    names = set(CONNECTION_KEYS)
    for option in connection_arg_spec().values():
        names.update(option.get("aliases") or [])
    return names


def run_batch(task: Any, single: dict[str, Any], execute: Callable[[Any], None], problems: Problems, listed: tuple[Any, ...] = (),
              memo: tuple[Any, ...] = ()) -> None:  # fmt: skip
    """Run `execute` (the module's one-object logic) for every element of task.params['batch'] and exit the task
    with the results (see the module docstring for the contract); `listed` and `memo`: the kinds of SharedReads.
    Never returns."""
    batch = task.params["batch"]
    elements, found, no_log = validated(task.params, batch, single)
    task.no_log_values.update(no_log)
    labels = [label(e, i) for i, e in enumerate(elements)]
    if not found:
        found = [f"{name}: {problem}" for params, name in zip(elements, labels, strict=True) for problem in problems(params)]
    if found:
        task.fail_json(msg="; ".join(found), problems=found)
    reads = SharedReads(listed, memo, bound=2 * len(elements) + 100)
    applies = [lambda p=params, n=name: _one(task, execute, {**p, "wait": False}, n, reads, waits_after=bool(p.get("wait")))
               for params, name in zip(elements, labels, strict=True)]  # fmt: skip
    results = _side_by_side(applies)
    waiting = [i for i, params in enumerate(elements) if params.get("wait") and not task.check_mode and not results[i].get("failed")]
    if waiting:
        task.log(f"waiting for {len(waiting)} of {len(elements)} objects")
    for i in waiting:
        waited = _one(task, execute, elements[i], labels[i])
        waited["changed"] = bool(results[i].get("changed")) or bool(waited.get("changed"))
        if results[i].get("diff") and not waited.get("failed"):
            waited["diff"] = results[i]["diff"]
        results[i] = waited
    for result, element in zip(results, batch, strict=True):
        result["item"] = element
    failed = [(name, r) for name, r in zip(labels, results, strict=True) if r.get("failed")]
    out: dict[str, Any] = {"changed": any(r.get("changed") for r in results), "results": results}
    if task._diff:
        out["diff"] = [_headed(r["diff"], name) for name, r in zip(labels, results, strict=True) if r.get("changed") and r.get("diff")]
    if failed:
        out["msg"] = f"{len(failed)} of {len(results)} failed: " + "; ".join(f"{name}: {r.get('msg')}" for name, r in failed)
        task.fail_json(**out)
    task.exit_json(**out)


def _side_by_side(calls: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each call's result, in order, the calls made by up to WORKERS threads (one call: in this thread)."""
    if len(calls) < 2:
        return [call() for call in calls]
    from concurrent.futures import ThreadPoolExecutor  # here: only a batch of two or more pays for the import

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(calls)), thread_name_prefix="batch") as pool:
        return list(pool.map(lambda call: call(), calls))


def _one(task: Any, execute: Callable[[Any], None], params: dict[str, Any], name: str, reads: SharedReads | None = None,
         waits_after: bool = False) -> dict[str, Any]:  # fmt: skip
    element = ElementModule(task, params, name, reads, waits_after)
    try:
        execute(element)
    except ElementExit as done:
        return done.result
    return {"failed": True, "msg": "the module returned no result"}


def _headed(diff: dict[str, Any], name: str) -> dict[str, Any]:
    return {**diff, "before_header": name, "after_header": name}


def execute_batched(task: Any, single: dict[str, Any], execute: Callable[[Any], None], problems: Problems, listed: tuple[Any, ...] = (),
                    memo: tuple[Any, ...] = ()) -> None:  # fmt: skip
    """The module's entry: `execute` for the task itself, or for each element of its `batch` (`problems`: the
    module's checks of one object's options that need no cluster, made for every element before any is run;
    `listed` and `memo`: the kinds whose reads the elements share, see SharedReads)."""
    task.no_log_values.update(option_secrets(task.params))  # before anything can fail (common.hide_credentials)
    if task.params.get("batch") is None:
        execute(task)
    else:
        run_batch(task, single, execute, problems, listed, memo)
