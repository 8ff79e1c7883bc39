"""The role deckhouse.virtualization.node_maintenance through ansible-playbook → HTTPS → the simulator with the admin
guide's nodes: a rolling maintenance of three nodes with two VMs on each (disks on the RWX default class, so they
live-migrate) while `kubectl get vm -w` records every phase — never Stopped — with the user's task file and handler
run while each node is cordoned and empty, every node uncordoned at the end; check mode changes nothing; a failing
user task stops the rollout with that node left cordoned and the next one untouched."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
import yaml

from ..ansible_runner import run_playbook
from ..simulator_process import BIN
from . import test_module_vm
from .test_module_node_maintenance import node, prefer
from .test_module_vm import get_vm, linux_vm, make_disk

guide = test_module_vm.guide  # the fixture: class, images, CIDRs, a namespace


@pytest.fixture(scope="module")
def cluster(own_cluster):
    """This file's own cluster: it drains nodes (conftest.py own_cluster)."""
    return own_cluster


ROLE = "deckhouse.virtualization.node_maintenance"
SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"
NODES = ["blue-0", "blue-1", "green-0"]


class PhaseWatch:
    """`kubectl get vm -n NS -w` in the background: every (vm, phase, node) row it prints."""

    def __init__(self, cluster, ns):
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        columns = "custom-columns=NAME:.metadata.name,PHASE:.status.phase,NODE:.status.nodeName"
        self.proc = subprocess.Popen(
            [str(BIN / "kubectl"), "get", "vm", "-n", ns, "-w", "-o", columns, "--no-headers"], stdout=subprocess.PIPE, text=True, env=env
        )
        self.rows: list[tuple[str, str, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 3:
                self.rows.append((parts[0], parts[1], parts[2]))

    def stop(self) -> list[tuple[str, str, str]]:
        time.sleep(1.0)  # the last events reach the stream
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(5)
        return self.rows


def hook_file(tmp_path, ns, kubeconfig):
    """The user's task file: records what it sees of the node (cordoned? VM pods still Running there?), fails on fail_at."""
    tasks = [
        {
            "name": "hook: the node",
            "kubernetes.core.k8s_info": {"kind": "Node", "name": "{{ node_maintenance_node }}", "kubeconfig": str(kubeconfig)},
            "register": "hook_node",
        },
        {
            "name": "hook: VM pods on it",
            "kubernetes.core.k8s_info": {
                "kind": "Pod",
                "namespace": ns,
                "label_selectors": [SELECTOR],
                "field_selectors": ["spec.nodeName={{ node_maintenance_node }}"],
                "kubeconfig": str(kubeconfig),
            },
            "register": "hook_pods",
        },
        {
            "name": "hook: record",
            "ansible.builtin.set_fact": {
                "hook_seen": "{{ hook_seen | default([]) + [{'node': node_maintenance_node, "
                "'unschedulable': hook_node.resources[0].spec.unschedulable | default(false), "
                "'running_vm_pods': hook_pods.resources | selectattr('status.phase', 'equalto', 'Running') | map(attribute='metadata.name') | list}] }}"
            },
        },
        {
            "name": "hook: firmware update fails",
            "ansible.builtin.fail": {"msg": "firmware update failed on {{ node_maintenance_node }}"},
            "when": "node_maintenance_node == (fail_at | default(''))",
        },
    ]
    path = tmp_path / "hook.yml"
    path.write_text(yaml.safe_dump(tasks, sort_keys=False))
    return path


HANDLERS = [
    {
        "name": "reboot record",
        "listen": "node serviced",
        "ansible.builtin.set_fact": {"handled": "{{ handled | default([]) + [node_maintenance_current_node] }}"},
    }
]


def role(tmp_path, ns, kubeconfig, nodes, **extra):
    """include_role, then the facts it leaves (in a rescue too, so a failed rollout still reports them)."""
    facts = (
        "{{ {'report': node_maintenance_report | default([]), 'failed_node': node_maintenance_failed_node | default(''), "
        "'hook_seen': hook_seen | default([]), 'handled': handled | default([])} }}"
    )
    show = {"name": "facts", "ansible.builtin.debug": {"msg": facts}}
    include = {
        "name": "rollout",
        "ansible.builtin.include_role": {"name": ROLE},
        "vars": {
            "node_maintenance_nodes": nodes,
            "node_maintenance_tasks_file": str(hook_file(tmp_path, ns, kubeconfig)),
            "node_maintenance_handlers": ["node serviced"],
            "node_maintenance_connection": {"kubeconfig": str(kubeconfig)},
            "node_maintenance_max_concurrent": 2,
            "node_maintenance_drain_timeout": 120,
            "node_maintenance_ready_timeout": 60,
            **extra,
        },
    }
    rescue = [
        {"name": "rollout failed", "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}},
        {**show, "name": "facts after failure"},
        {"name": "fail again", "ansible.builtin.fail": {"msg": "rollout failed"}},
    ]
    block = {"name": "the rollout", "block": [include], "rescue": rescue}
    return [block, show]


def test_rolling_maintenance_keeps_every_vm_running(cluster, guide, tmp_path):
    ns = guide["namespace"]
    vms = {f"roll-{n}-{i}": n for n in NODES for i in range(2)}
    setup = run_playbook(
        tmp_path,
        cluster.kubeconfig,
        [{"name": f"vm {v}", **linux_vm(v, ns, make_disk(cluster, ns, f"{v}-root"), state="running", affinity=prefer(n))} for v, n in vms.items()],
    )
    assert setup.returncode == 0, setup.stdout[-6000:]
    placed = {v: setup[f"vm {v}"]["vm"]["node"] for v in vms}
    assert placed == vms, placed

    # check mode: every step runs as a dry run, nothing is cordoned and nothing moves
    check = run_playbook(tmp_path, cluster.kubeconfig, role(tmp_path, ns, cluster.kubeconfig, NODES), extra_args=("--check",), handlers=HANDLERS)
    assert check.returncode == 0, check.stdout[-6000:]
    facts = check["facts"]["msg"]
    assert [r["node"] for r in facts["report"]] == NODES
    for r in facts["report"]:
        assert {v["name"] for v in r["vms"] if v["result"] == "would move"} >= {v for v, n in vms.items() if n == r["node"]}, r
    assert {v: get_vm(cluster, ns, v)["status"]["nodeName"] for v in vms} == vms, "check mode moved nothing"
    assert all(not node(cluster, n)["spec"].get("unschedulable") for n in NODES)

    watch = PhaseWatch(cluster, ns)
    started = time.perf_counter()
    run = run_playbook(tmp_path, cluster.kubeconfig, role(tmp_path, ns, cluster.kubeconfig, NODES), handlers=HANDLERS)
    took = time.perf_counter() - started
    rows = watch.stop()
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-3000:]
    facts = run["facts"]["msg"]
    # one node at a time, in order, each drained of its VMs and back
    assert [r["node"] for r in facts["report"]] == NODES and facts["failed_node"] == ""
    for r in facts["report"]:
        assert r["drain_changed"] and r["uncordon_changed"], r
        assert all(v["result"] == "moved" and v["target"] != r["node"] for v in r["vms"]), r["vms"]
    moved = {v["name"] for r in facts["report"] for v in r["vms"]}
    assert moved >= set(vms), moved
    # the user's tasks and handler ran while each node was cordoned with no VM running on it
    assert [(h["node"], h["unschedulable"], h["running_vm_pods"]) for h in facts["hook_seen"]] == [(n, True, []) for n in NODES], facts["hook_seen"]
    assert facts["handled"] == NODES
    # every VM kept Running throughout: the watch saw Running and Migrating only, and each VM migrating
    seen = {v: {phase for name, phase, _unused in rows if name == v} for v in vms}
    assert all(phases and phases <= {"Running", "Migrating"} for phases in seen.values()), seen
    assert all("Migrating" in phases for phases in seen.values()), seen
    for v in vms:
        now = get_vm(cluster, ns, v)["status"]
        assert now["phase"] == "Running" and now["nodeName"], (v, now)
    # every node ends uncordoned, Ready
    for n in NODES:
        obj = node(cluster, n)
        assert not obj["spec"].get("unschedulable"), n
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"]["conditions"]), n
    print(f"rolling maintenance of {len(NODES)} nodes with {len(vms)} VMs: {took:.1f} s, {len(rows)} watch rows")


def test_a_failing_user_task_stops_the_rollout_with_the_node_cordoned(cluster, guide, tmp_path):
    ns = guide["namespace"]
    order = ["green-1", "blue-1", "blue-0"]
    run = run_playbook(tmp_path, cluster.kubeconfig, role(tmp_path, ns, cluster.kubeconfig, order, fail_at="blue-1"), handlers=HANDLERS)
    try:
        assert run.returncode != 0, run.stdout[-6000:]
        msg = run["rollout failed"]["msg"]
        assert "the rollout stopped at blue-1 (your tasks failed: firmware update failed on blue-1)" in msg, msg
        assert "blue-1 is left cordoned" in msg and "Done: green-1." in msg and "Not started: blue-0." in msg, msg
        facts = run["facts after failure"]["msg"]
        assert [r["node"] for r in facts["report"]] == ["green-1"] and facts["failed_node"] == "blue-1"
        assert [h["node"] for h in facts["hook_seen"]] == ["green-1", "blue-1"] and facts["handled"] == ["green-1"]
        assert not node(cluster, "green-1")["spec"].get("unschedulable")
        assert node(cluster, "blue-1")["spec"].get("unschedulable") is True
        assert not node(cluster, "blue-0")["spec"].get("unschedulable")
    finally:
        cluster.kubectl("uncordon", "blue-1")


def test_the_play_module_defaults_reach_the_role(cluster, guide, tmp_path):
    """With node_maintenance_connection left empty, the connection comes from the play's module_defaults (the role's
    own defaults add to them per module, they do not replace the play's group defaults). Check mode: nothing moves."""
    ns = guide["namespace"]
    tasks = role(tmp_path, ns, cluster.kubeconfig, ["blue-0"], node_maintenance_connection={})
    tasks[0]["module_defaults"] = {"group/kubernetes.core.k8s": {"kubeconfig": str(cluster.kubeconfig)}}
    env = {"KUBECONFIG": "/nonexistent", "K8S_AUTH_KUBECONFIG": "/nonexistent"}  # no other way to the cluster
    run = run_playbook(tmp_path, cluster.kubeconfig, tasks, extra_args=("--check",), extra_env=env, handlers=HANDLERS)
    assert run.returncode == 0, run.stdout[-6000:]
    assert [r["node"] for r in run["facts"]["msg"]["report"]] == ["blue-0"]
    assert not node(cluster, "blue-0")["spec"].get("unschedulable")
