"""The collection's action plugins (plugins/action, plugin_utils/in_process.py) through ansible-playbook → HTTPS →
simulator: a task on the controller with the local connection runs the module's logic in the worker process;
a task with an `environment:` runs the module as a module. Both give the same results (check mode, diff, argument
errors, the server's errors, warnings, no_log masking), credentials stay out of the output at -vvv, K8S_AUTH_*
variables are read, and which path ran is proved twice over: the -vvv line the action plugin prints only
in-process, and the AnsiballZ payload that ANSIBLE_KEEP_REMOTE_FILES keeps only from a module process."""

from __future__ import annotations

import json
import shutil

from ..ansible_runner import ROOT, run_playbook

VMCLASS = "deckhouse.virtualization.vm_class"
VMCLASS_INFO = "deckhouse.virtualization.vm_class_info"
CVI_INFO = "deckhouse.virtualization.cluster_virtual_image_info"
IN_PROCESS = "in-process: the module's logic runs in the worker process, no module process"  # plugin_utils/in_process.py
AS_MODULE = {"environment": {"DVP_TEST_PATH": "module"}}  # any task environment makes the task run the module as a module
VOLATILE = {"uid", "resourceVersion", "creationTimestamp", "managedFields", "lastTransitionTime", "time", "deletionTimestamp"}


def verbose_results(stdout: str) -> dict[str, dict]:
    """Task results from a -vvv run, whose log lines precede the json callback's report."""
    report, _unused = json.JSONDecoder().raw_decode(stdout[stdout.index("\n{\n") + 1 :])
    return {task["task"]["name"]: next(iter(task["hosts"].values()), {}) for play in report["plays"] for task in play["tasks"]}


def scenario(suffix: str, sim) -> list[dict]:
    """One scenario of tasks on class `ap-<suffix>`: check mode, create, idempotent, diff in check mode, read,
    an argument error, a contradiction the module refuses, an alias warning, the server's 401, delete."""
    name = f"ap-{suffix}"
    host_class = {VMCLASS: {"name": name, "cpu": {"type": "Host"}}}
    return [
        {"name": "check create", **host_class, "check_mode": True, "diff": True},
        {"name": "create", **host_class},
        {"name": "again", **host_class},
        {"name": "diff in check mode", VMCLASS: {"name": name, "cpu": {"type": "Host"}, "labels": {"tier": "gold"}}, "check_mode": True, "diff": True},
        {"name": "read", VMCLASS_INFO: {"name": name}},
        {"name": "unknown option", VMCLASS: {"name": name, "cpu": {"type": "Host"}, "colour": "red"}, "ignore_errors": True},
        {"name": "bad choice", VMCLASS: {"name": name, "cpu": {"type": "Laptop"}}, "ignore_errors": True},
        {"name": "required_if", VMCLASS: {"name": name}, "ignore_errors": True},
        {"name": "null for a required dict", VMCLASS: {"name": name, "cpu": None}, "ignore_errors": True},
        {"name": "a number for a dict", VMCLASS: {"name": name, "cpu": 7}, "ignore_errors": True},
        {"name": "a list for a nested dict", VMCLASS: {"name": name, "cpu": {"type": "Discovery", "discovery": [1]}}, "ignore_errors": True},
        {"name": "refused", VMCLASS: {"name": name, "state": "absent", "cpu": {"type": "Host"}}, "ignore_errors": True},
        {"name": "alias warning", CVI_INFO: {"name": name, "ca_cert": str(sim.ca_file), "ssl_ca_cert": str(sim.ca_file)}},
        {
            "name": "server says 401",
            CVI_INFO: {"name": name, "host": sim.server, "ca_cert": str(sim.ca_file), "api_key": "not-the-token-" + suffix},
            "ignore_errors": True,
        },
        {"name": "delete", VMCLASS: {"name": name, "state": "absent"}},
    ]


def normalized(value, suffix: str):
    """A result with what differs between two objects or two runs taken out: the name's suffix, uids,
    resourceVersions and timestamps."""
    if isinstance(value, dict):
        return {k: normalized(v, suffix) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalized(v, suffix) for v in value]
    if isinstance(value, str):
        return value.replace(f"-{suffix}", "-SUFFIX")
    return value


def test_every_module_has_its_action_plugin():
    modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")}
    actions = {p.stem for p in (ROOT / "plugins" / "action").glob("*.py")}
    assert modules == actions and modules, (modules, actions)
    for name in actions:
        assert f'MODULE = load_module("{name}")\n' in (ROOT / "plugins" / "action" / f"{name}.py").read_text()


def test_same_results_in_process_and_as_a_module(sim, tmp_path):
    remote_tmp = tmp_path / "remote-tmp"
    in_process = scenario("inproc", sim)
    as_module = [{**task, **AS_MODULE} for task in scenario("asmod", sim)]
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [{**t, "name": f"in-process {t['name']}"} for t in in_process] + [{**t, "name": f"module {t['name']}"} for t in as_module],
        extra_args=("-vvv",),
        extra_env={"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": str(remote_tmp)},
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    results = verbose_results(run.stdout)

    # Which path ran: the action plugin's -vvv line, once per in-process task; an AnsiballZ payload per module task.
    assert (run.stdout + run.stderr).count(IN_PROCESS) == len(in_process)
    payloads = sorted(p.name for p in remote_tmp.rglob("AnsiballZ_*.py"))
    assert len(payloads) == len(as_module), payloads
    assert {p.split("_", 1)[1] for p in payloads} == {"vm_class.py", "vm_class_info.py", "cluster_virtual_image_info.py"}

    for task in in_process:
        ours, theirs = results[f"in-process {task['name']}"], results[f"module {task['name']}"]
        assert normalized(ours, "inproc") == normalized(theirs, "asmod"), task["name"]

    r = {t["name"]: results[f"in-process {t['name']}"] for t in in_process}
    assert r["check create"]["changed"] and r["check create"]["diff"]["before"] == {} and r["check create"]["diff"]["after"]["metadata"]["name"] == "ap-inproc"
    assert r["create"]["changed"] and r["create"]["vm_class"]["phase"] == "Ready"
    assert r["again"]["changed"] is False
    diff = r["diff in check mode"]["diff"]
    assert r["diff in check mode"]["changed"] and "labels" not in diff["before"]["metadata"] and diff["after"]["metadata"]["labels"] == {"tier": "gold"}
    assert [o["metadata"]["name"] for o in r["read"]["resources"]] == ["ap-inproc"] and "labels" not in r["read"]["resources"][0]["metadata"]
    assert r["unknown option"]["failed"] and r["unknown option"]["msg"].startswith(f"Unsupported parameters for ({VMCLASS}) module: colour.")
    assert r["bad choice"]["failed"] and "value of type must be one of: Host, HostPassthrough" in r["bad choice"]["msg"]
    assert r["required_if"]["failed"] and r["required_if"]["msg"] == "state is present but all of the following are missing: cpu"
    assert r["null for a required dict"]["failed"] and r["null for a required dict"]["msg"] == "state is present but all of the following are missing: cpu"
    # ansible-core's validator raises a TypeError on these (ansible/ansible#81631); the collection says what it would
    unable = "and we were unable to convert to dict: <class '{0}'> cannot be converted to a dict"
    assert r["a number for a dict"]["msg"] == "argument 'cpu' is of type int " + unable.format("int"), r["a number for a dict"]
    assert r["a list for a nested dict"]["msg"] == "argument 'discovery' is of type list found in 'cpu'. " + unable.format("list")
    assert r["refused"]["failed"] and "cpu: only used with state=present" in r["refused"]["msg"]
    assert r["alias warning"]["warnings"] == ["Both option ca_cert and its alias ssl_ca_cert are set."]
    assert r["server says 401"]["failed"] and "401" in r["server says 401"]["msg"]
    assert r["delete"]["changed"]
    for t in in_process:
        assert r[t["name"]]["invocation"]["module_args"]["name"] == "ap-inproc", "a module's invocation, in-process too"
    assert sim.kubectl("get", "vmclass", "ap-inproc", "ap-asmod", check=False).returncode != 0, "both deleted"


def test_credentials_never_in_the_output_at_vvv(sim, tmp_path):
    """api_key given as an option and the kubeconfig's token, in results, diffs, errors and -vvv lines."""
    wrong = "wrong-token-0123456789abcdef"
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            {"name": "api_key", CVI_INFO: {"host": sim.server, "api_key": sim.token, "ca_cert": str(sim.ca_file)}},
            {"name": "kubeconfig token", VMCLASS: {"name": "ap-secret", "cpu": {"type": "Host"}, "annotations": {"note": "token=" + sim.token}}, "diff": True},
            {"name": "wrong api_key", CVI_INFO: {"host": sim.server, "api_key": wrong, "ca_cert": str(sim.ca_file)}, "ignore_errors": True},
            {"name": "password", CVI_INFO: {"host": sim.server, "username": "u", "password": wrong, "ca_cert": str(sim.ca_file)}, "ignore_errors": True},
            {"name": "cleanup", VMCLASS: {"name": "ap-secret", "state": "absent"}},
        ],
        extra_args=("-vvv",),
    )
    assert run.returncode == 0, run.stdout[-4000:]
    everything = run.stdout + run.stderr
    assert everything.count(IN_PROCESS) == 5, "every task ran in-process"
    assert sim.token not in everything and wrong not in everything, "a credential reached the output"
    r = verbose_results(run.stdout)
    assert r["api_key"]["invocation"]["module_args"]["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    # the api_key authenticates: the images are listed (whatever other tests of this session's simulator made)
    assert not r["api_key"].get("failed") and all(i["kind"] == "ClusterVirtualImage" for i in r["api_key"]["resources"]), r["api_key"]
    assert r["kubeconfig token"]["diff"]["after"]["metadata"]["annotations"]["note"] == "token=********", "the kubeconfig token is masked"
    assert r["wrong api_key"]["failed"] and "401" in r["wrong api_key"]["msg"]
    assert r["password"]["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_k8s_auth_variables_in_process(sim, tmp_path):
    """The options' K8S_AUTH_* fallbacks read the controller's environment (the worker's), as the module does."""
    env = {"K8S_AUTH_HOST": sim.server, "K8S_AUTH_API_KEY": sim.token, "K8S_AUTH_SSL_CA_CERT": str(sim.ca_file), "K8S_AUTH_KUBECONFIG": "/nonexistent"}
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", VMCLASS_INFO: {"kubeconfig": None}}], extra_args=("-vvv",), extra_env=env)
    assert run.returncode == 0, run.stdout[-3000:]
    assert IN_PROCESS in run.stdout + run.stderr and sim.token not in run.stdout + run.stderr
    args = verbose_results(run.stdout)["read"]["invocation"]["module_args"]
    assert args["host"] == sim.server and args["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" and args["ca_cert"] == str(sim.ca_file)

    env = {"K8S_AUTH_CONTEXT": "no-such-context"}
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", VMCLASS_INFO: {}, "ignore_errors": True}], extra_env=env)
    assert run["read"]["failed"] and "no-such-context" in run["read"]["msg"], run["read"]


def test_with_become_the_module_runs_as_a_module(sim, tmp_path):
    """become (another user on the controller) is a reason to run the module as a module, like an environment."""
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [{"name": "become", VMCLASS_INFO: {}, "become": True, "become_method": "su", "become_user": "root"}],
        extra_args=("-vvv",),
    )
    everything = run.stdout + run.stderr
    assert f"{VMCLASS_INFO}: become: running the module in its own process" in everything, run.stdout[-3000:]
    assert IN_PROCESS not in everything and "AnsiballZ_vm_class_info.py" in everything


def test_the_collections_bytecode_is_kept_between_runs(sim, tmp_path):
    """Ansible's collection loader compiles a collection's source on every run and keeps no bytecode; the action
    plugins import the collection's modules through plugin_utils/bytecode.py, so a copy of the collection without any
    bytecode has, after one in-process task, the bytecode of the module file and of the module_utils it imports, and
    a second run reads it instead of writing it again."""
    copy = tmp_path / "collections" / "ansible_collections" / "deckhouse" / "virtualization"
    for part in ("galaxy.yml", "meta", "plugins"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / part)
    env = {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"), "PYTHONDONTWRITEBYTECODE": ""}  # "": Python's default, bytecode written
    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", VMCLASS_INFO: {}}], extra_env=env)
    assert run.returncode == 0 and not run["read"].get("failed"), run.stdout[-3000:]
    written = {p: p.stat().st_mtime_ns for p in copy.glob("plugins/*/__pycache__/*.pyc")}
    names = {p.relative_to(copy).parts[1] + "/" + p.name.split(".")[0] for p in written}
    assert {"modules/vm_class_info", "module_utils/info", "module_utils/client", "module_utils/transport"} <= names, sorted(names)

    run = run_playbook(tmp_path, sim.kubeconfig, [{"name": "read", VMCLASS_INFO: {}}], extra_env=env)
    assert run.returncode == 0 and not run["read"].get("failed"), run.stdout[-3000:]
    assert {p: p.stat().st_mtime_ns for p in copy.glob("plugins/*/__pycache__/*.pyc")} == written
