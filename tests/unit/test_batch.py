"""The batch machinery (plugins/module_utils/batch.py) and the in-process result masking, without a cluster: element
validation, the shared reads' contract (one bounded LIST, each object served once, memoised reads, fall-backs), the
run's order, failures, waits and diffs."""

from __future__ import annotations

import copy
import threading

import pytest
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.deckhouse.virtualization.plugins.module_utils.batch import (
    WORKERS,
    ElementExit,
    SharedReads,
    batch_spec,
    refused_elements,
    run_batch,
    validated,
)
from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import APIStatusError
from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import arg_spec
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import VIRTUAL_DISK, VIRTUAL_MACHINE, VIRTUAL_MACHINE_CLASS
from ansible_collections.deckhouse.virtualization.plugins.plugin_utils.in_process import masked, plain

SINGLE = {"argument_spec": arg_spec(namespaced=True, size={"type": "int"}, mode={"type": "str", "choices": ["a", "b"]})}


def test_batch_spec_makes_name_or_batch_required_and_keeps_the_single_spec():
    spec = batch_spec(SINGLE)
    assert spec["argument_spec"]["name"]["required"] is False and spec["argument_spec"]["namespace"]["required"] is False
    assert spec["required_by"] == {"name": ["namespace"]}
    assert ["name", "batch"] in spec["mutually_exclusive"] and ["name", "batch"] in spec["required_one_of"]
    assert spec["argument_spec"]["batch"] == {"type": "list", "elements": "dict"}
    assert SINGLE["argument_spec"]["name"]["required"] is True, "the one-object spec is not changed"


def test_elements_take_the_task_options_as_defaults_and_its_connection():
    task = {"kubeconfig": "/k", "host": None, "namespace": "ns", "mode": "a", "wait": False, "batch": [], "name": None}
    elements, problems, no_log = validated(task, [{"name": "x"}, {"name": "y", "mode": "b", "namespace": "other"}], SINGLE)
    assert problems == [] and no_log == set()
    assert [(e["name"], e["namespace"], e["mode"], e["wait"]) for e in elements] == [("x", "ns", "a", False), ("y", "other", "b", False)]
    assert all(e["kubeconfig"] == "/k" and "batch" not in e for e in elements)
    assert elements[0]["state"] == "present" and elements[0]["wait_timeout"] == 300, "the spec's defaults"


def test_every_bad_element_is_named_with_its_option():
    batch = [{"name": "ok"}, {"name": "x", "mode": "c"}, {"mode": "a"}, "text", {"name": "z", "host": "https://evil"}, {"name": "s", "size": "big"}]
    problems = validated({"namespace": "ns"}, batch, SINGLE)[1]
    text = "\n".join(problems)
    assert "batch[1] (ns/x)" in text and "mode" in text
    assert "batch[2]" in text and "name" in text
    assert "batch[3]: must be a dictionary of the module's options, got str" in text
    assert "batch[4] (ns/z)" in text and "host" in text, "connection options are the task's"
    assert "batch[5] (ns/s)" in text and "size" in text
    assert not any(p.startswith("batch[0]") for p in problems)


def test_refused_elements_are_the_batchs_own_refusals_with_the_secrets_to_mask():
    """What the vms module checks of every step before the first writes: the task's other arguments as defaults, the
    one-object spec, and the no_log values of an element's misplaced connection options."""
    task = {"kubeconfig": "/k", "namespace": "ns", "batch": [{"name": "ok", "mode": "a"}, {"name": "x", "colour": "red"}, {"name": "t", "api_key": "s3cret"}]}
    problems, no_log = refused_elements(task, SINGLE)
    assert [p.split(":")[0] for p in problems] == ["batch[1] (ns/x)", "batch[2] (ns/t)"], problems
    assert "Unsupported parameters: colour" in problems[0] and "s3cret" in no_log
    default_refused = refused_elements({"namespace": "ns", "mode": "c", "batch": [{"name": "y"}]}, SINGLE)[0]
    assert default_refused[0].startswith("batch[0] (ns/y): value of mode"), "a task default is checked too"
    assert refused_elements({"batch": [{"name": "y", "namespace": "n"}]}, SINGLE) == ([], set())


def test_an_element_with_a_number_for_a_dict_option_is_refused_with_its_type_error():
    """ansible-core's validator raises a TypeError on it (ansible/ansible#81631): the element's problem instead."""
    single = {"argument_spec": arg_spec(namespaced=True, pvc={"type": "dict", "options": {"size": {"type": "str"}}})}
    problems = validated({"namespace": "ns"}, [{"name": "a", "pvc": {"size": "1Gi"}}, {"name": "b", "pvc": 5}], single)[1]
    assert problems == ["batch[1] (ns/b): argument 'pvc' is of type int and we were unable to convert to dict: <class 'int'> cannot be converted to a dict"]


class FakeClient:
    """The two calls SharedReads makes of DVPClient: request (the LIST) and read (one GET)."""

    def __init__(self, objects, refuse_list=False):
        self.objects = objects  # (kind, namespace, name) -> object
        self.refuse_list = refuse_list
        self.calls = []

    def path(self, kind, name, namespace):
        return f"{kind.plural}/{namespace}"

    def request(self, method, path, what, query):
        self.calls.append(("LIST", path, dict(query)["limit"]))
        if self.refuse_list:
            raise APIStatusError("forbidden", 403, "Forbidden", None)
        items = [{"metadata": {"name": n, "namespace": ns}, "spec": o} for (k, ns, n), o in sorted(self.objects.items()) if f"{k}s/{ns}" == path]
        limit = int(dict(query)["limit"])
        return {"items": items[:limit], "metadata": {"continue": "more"} if len(items) > limit else {}}

    def read(self, kind, name, namespace):
        self.calls.append(("GET", kind.kind, name))
        found = self.objects.get((kind.plural[:-1], namespace, name))
        return None if found is None else {"metadata": {"name": name}, "spec": found}


def test_shared_reads_list_once_serve_each_object_once_and_memoise():
    client = FakeClient({("virtualmachine", "ns", "a"): 1, ("virtualmachine", "ns", "b"): 2, ("virtualmachineclasse", None, "generic"): "c"})
    reads = SharedReads(listed=(VIRTUAL_MACHINE,), memo=(VIRTUAL_MACHINE_CLASS,), bound=10)
    a = reads.get(client, VIRTUAL_MACHINE, "a", "ns")
    assert a[0] and a[1]["spec"] == 1 and a[1]["kind"] == "VirtualMachine" and a[1]["apiVersion"].startswith("virtualization.deckhouse.io/")
    assert reads.get(client, VIRTUAL_MACHINE, "missing", "ns") == (True, None), "absent from a complete listing: does not exist"
    assert reads.get(client, VIRTUAL_MACHINE, "a", "ns") == (False, None), "served once: a second read asks the server"
    assert reads.get(client, VIRTUAL_MACHINE, "b", "ns")[1]["spec"] == 2
    assert reads.get(client, VIRTUAL_DISK, "d", "ns") == (False, None), "kinds not shared are the client's own reads"
    for attempt in range(3):
        assert reads.get(client, VIRTUAL_MACHINE_CLASS, "generic", None)[1]["spec"] == "c", attempt
    assert client.calls == [("LIST", "virtualmachines/ns", "10"), ("GET", "VirtualMachineClass", "generic")]


@pytest.mark.parametrize("refuse", [False, True])
def test_shared_reads_fall_back_to_gets_past_the_bound_or_when_listing_is_refused(refuse):
    objects = {("virtualmachine", "ns", f"vm-{i}"): i for i in range(5)}
    client = FakeClient(objects, refuse_list=refuse)
    reads = SharedReads(listed=(VIRTUAL_MACHINE,), bound=3)
    assert reads.get(client, VIRTUAL_MACHINE, "vm-4", "ns") == (False, None)
    assert reads.get(client, VIRTUAL_MACHINE, "vm-0", "ns") == (False, None)
    assert [c[0] for c in client.calls] == ["LIST"], "listed once, found wanting, not again"


class FakeTask:
    def __init__(self, batch, check_mode=False, diff=False, **params):
        self.params = {"batch": batch, "name": None, "namespace": "ns", **params}
        self.check_mode, self._diff = check_mode, diff
        self.no_log_values = set()
        self.warnings, self.logs = [], []

    def warn(self, msg):
        self.warnings.append(msg)

    def log(self, msg):
        self.logs.append(msg)

    def exit_json(self, **result):
        raise ElementExit(result)

    def fail_json(self, msg, **result):
        raise ElementExit({**result, "failed": True, "msg": msg})


def outcome(task, execute, problems=lambda p: []):
    with pytest.raises(ElementExit) as done:
        run_batch(task, SINGLE, execute, problems)
    return done.value.result


def test_failures_go_on_and_waits_come_after_every_apply_in_order():
    trail = []

    def execute(module):
        p = module.params
        trail.append((p["name"], p["wait"]))
        if p["name"] == "bad":
            module.fail_json(msg="refused by the server")
        if p["name"] == "warns":
            module.warn("careful")
            module.no_log_values.add("s3cret")
        module.exit_json(changed=not p["wait"], resource={"n": p["name"]}, diff={"before": {}, "after": {"n": p["name"]}})

    task = FakeTask([{"name": "one"}, {"name": "bad"}, {"name": "warns", "wait": False}, {"name": "two"}], diff=True, wait=True)
    result = outcome(task, execute)
    # the applies run side by side (in any order), every one before the first wait; the waits one after another
    assert sorted(trail[:4]) == [("bad", False), ("one", False), ("two", False), ("warns", False)]
    assert trail[4:] == [("one", True), ("two", True)]
    assert result["failed"] and result["msg"] == "1 of 4 failed: batch[1] (ns/bad): refused by the server"
    assert [r.get("failed", False) for r in result["results"]] == [False, True, False, False]
    assert [r["changed"] for r in result["results"] if not r.get("failed")] == [True, True, True], "a waited element keeps its apply's change"
    assert [r["item"] for r in result["results"]] == task.params["batch"], "each result carries its element as given"
    assert [d["before_header"] for d in result["diff"]] == ["batch[0] (ns/one)", "batch[2] (ns/warns)", "batch[3] (ns/two)"]
    assert task.warnings == ["batch[2] (ns/warns): careful"] and "s3cret" in task.no_log_values
    assert task.logs == ["waiting for 2 of 4 objects"]


def test_elements_are_applied_side_by_side_and_results_keep_the_batch_order():
    barrier = threading.Barrier(WORKERS, timeout=5)  # lets an element on only while WORKERS are applied at once
    names = [f"vm-{i}" for i in range(WORKERS * 2 + 1)]

    def execute(module):
        if module.params["name"] != names[-1]:  # the last one has no partners left
            barrier.wait()
        module.exit_json(changed=True, resource={"n": module.params["name"]})

    result = outcome(FakeTask([{"name": n} for n in names], wait=False), execute)
    assert not result.get("failed"), result
    assert [r["resource"]["n"] for r in result["results"]] == [r["item"]["name"] for r in result["results"]] == names


def test_a_problem_in_any_element_stops_the_batch_before_the_first_runs():
    ran = []
    task = FakeTask([{"name": "a"}, {"name": "b", "size": -1}])

    def problems(p):
        return [f"size: must be positive, got {p['size']}"] if (p["size"] or 0) < 0 else []

    result = outcome(task, lambda m: ran.append(m.params["name"]), problems=problems)
    assert ran == [] and result["failed"] and result["problems"] == ["batch[1] (ns/b): size: must be positive, got -1"]


def test_check_mode_waits_for_nothing():
    waits = []
    task = FakeTask([{"name": "a"}], check_mode=True, wait=True)

    def execute(module):
        waits.append(module.params["wait"])
        module.exit_json(changed=True)

    assert outcome(task, execute)["changed"] and waits == [False]


@pytest.mark.parametrize(
    "result",
    [
        {"resource": {"token": "abc123"}},
        {"msg": 'quoted "abc123" inside', "list": [1, "x"]},
        {"nested": [{"key abc123": 1}]},
        {"unicode": "ключ abc123"},
        {"clean": "nothing here", "n": 5},
        {"bytes": b"abc123"},
    ],
)
def test_masked_equals_remove_values(result):
    for secrets in ({"abc123"}, {'a"b\\c'}, {"ключ"}, set()):
        assert masked(result, secrets) == remove_values(result, secrets), (result, secrets)


def test_masked_leaves_a_clean_result_untouched_without_a_copy():
    result = {"resources": [{"metadata": {"name": f"vm-{i}"}} for i in range(100)]}
    assert masked(result, {"s3cret-token"}) is result


def _types(value):
    """Every type inside value (containers and leaves)."""
    if isinstance(value, dict):
        return {type(value)} | {t for k, v in value.items() for t in _types(k) | _types(v)}
    if isinstance(value, list):
        return {type(value)} | {t for v in value for t in _types(v)}
    return {type(value)}


def test_plain_gives_python_types_for_what_ansible_read_from_a_vars_file():
    # what a play's vars file gives a task: Ansible's tagged dicts, strings and numbers, whose deepcopy (the
    # validator makes one) takes the slow path for every value
    from ansible.parsing.dataloader import DataLoader

    tagged = DataLoader().load('{"vms": [{"name": "a", "cpu": {"cores": 2, "core_fraction": "10%"}, "on": true, "x": null, "f": 1.5}]}', file_name="/v.json")
    assert _types(tagged) - {dict, list, str, int, float, bool, type(None)}, "the loader tags its values"
    out = plain(tagged)
    assert out == tagged
    assert _types(out) == {dict, list, str, int, float, bool, type(None)}


def test_plain_leaves_what_json_cannot_carry_for_the_validation_to_name():
    import datetime

    value = {"name": datetime.date(2024, 1, 1)}
    assert plain(value) is value


def test_validated_leaves_the_callers_elements_unchanged():
    element = {"name": "x", "size": "5", "mode": "a"}
    before = copy.deepcopy(element)
    elements, problems = validated({"namespace": "ns", "batch": [element]}, [element], SINGLE)[:2]
    assert not problems and elements[0]["size"] == 5
    assert element == before
