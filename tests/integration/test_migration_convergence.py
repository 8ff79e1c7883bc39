"""Pre-copy convergence of a live migration against the simulator as a subprocess (BEHAVIOUR.md §6.5, §7.2, §7.4):
a guest's memory dirty rate set through the admin API (`dirty-memory`), a migration that stops converging
(`NotConverging`) and fails after the 150 s progress timeout with the VM still on its source, AutoConverge (force ×
liveMigrationPolicy) throttling the guest until it converges, and a light dirty rate that converges by itself, later
than a still guest. Timeouts are reached with `dvp-sim clock advance`."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid

import pytest

from . import test_vms
from .test_migration import advance, op_done, pods_of
from .test_vms import apply, condition, domains, get, phase, running, vm_body, vmop, wait

env, images = test_vms.env, test_vms.images  # the fixtures of test_vms.py
HEAVY, LIGHT = 2000, 400  # MiB/s: above and below the 640 MiB/s bandwidth


@pytest.fixture
def ns(cluster):
    name = "conv-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "vm", "--all", "-n", name, "--wait=false", check=False)


def guest(cluster, ns, name, body, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{cluster.server}/simulator/v1/vms/{ns}/{name}/guest",
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(cluster.ca_file)), timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def dirty(cluster, ns, name, mib):
    code, body = guest(cluster, ns, name, {"action": "dirty-memory", "mibPerSecond": mib})
    assert code == 200, body
    return body["message"]


def reason(op):
    return (condition(op, "Completed") or {}).get("reason")


def seconds(stamp):
    from datetime import datetime

    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def duration(vm):
    state = vm["status"]["migrationState"]
    return seconds(state["endTimestamp"]) - seconds(state["startTimestamp"])


def test_dirty_memory_is_validated(cluster, env, ns):
    apply(cluster, ns, vm_body("busy", env["iso"]))
    apply(cluster, ns, vm_body("off", env["iso"], runPolicy="AlwaysOff"))
    running(cluster, ns, "busy")
    assert "dirties 300 MiB/s" in dirty(cluster, ns, "busy", 300)
    for body in ({"action": "dirty-memory"}, {"action": "dirty-memory", "mibPerSecond": -1}, {"action": "dirty-memory", "mibPerSecond": "fast"},
                 {"action": "dirty-memory", "mibPerSecond": True}, {"action": "dirty-memory", "mibPerSecond": 10**30},
                 {"action": "dirty-memory", "mibPerSecond": 1, "x": 2}, {"action": "crash", "mibPerSecond": 1}):  # fmt: skip
        code, answer = guest(cluster, ns, "busy", body)
        assert code == 400 and answer["kind"] == "Status", (body, answer)
    for raw in (b'{"action": "dirty-memory", "mibPerSecond": NaN}', b'{"action": "dirty-memory", "mibPerSecond": 1e400}'):
        code, answer = guest(cluster, ns, "busy", None, raw)
        assert code == 400, (raw, answer)
    assert guest(cluster, ns, "nobody", {"action": "dirty-memory", "mibPerSecond": 1})[0] == 404
    wait(lambda: get(cluster, "vm", "off", ns), lambda o: phase(o) == "Stopped")
    code, answer = guest(cluster, ns, "off", {"action": "dirty-memory", "mibPerSecond": 1})
    assert code == 409 and "no running guest" in answer["message"]


def test_a_heavy_dirty_rate_without_force_stops_converging_and_fails_after_the_progress_timeout(cluster, env, ns):
    apply(cluster, ns, vm_body("hot", env["iso"], memory="4Gi"))
    vm = running(cluster, ns, "hot")
    source, pod = vm["status"]["nodeName"], vm["status"]["virtualMachinePods"][0]["name"]
    dirty(cluster, ns, "hot", HEAVY)
    name, _unused = vmop(cluster, ns, "hot", "Evict")  # PreferSafe, force unset: no AutoConverge
    op = wait(lambda: get(cluster, "vmop", name, ns), lambda o: reason(o) == "NotConverging")
    assert phase(op) == "InProgress" and op["status"]["progress"] == "10%" and "stopped shrinking" in condition(op, "Completed")["message"]
    vm = get(cluster, "vm", "hot", ns)
    migrating = condition(vm, "Migrating")
    assert phase(vm) == "Migrating" and migrating["reason"] == "InProgress" and migrating["message"].startswith("NotConverging")
    advance(cluster, 150)  # no new low of the remaining data for 150 s: the progress timeout
    op = op_done(cluster, ns, name)
    assert phase(op) == "Failed" and reason(op) == "NotConverging" and "no progress for 150 s" in condition(op, "Completed")["message"]
    vm = running(cluster, ns, "hot")
    assert vm["status"]["nodeName"] == source and vm["status"]["virtualMachinePods"] == [{"name": pod, "active": True}]
    assert vm["status"]["migrationState"]["result"] == "Failed" and duration(vm) >= 150
    assert condition(vm, "Migrating") is None
    pods = wait(lambda: pods_of(cluster, ns, "hot"), lambda p: len(p) == 1)
    assert pods[0]["spec"]["nodeName"] == source
    target = vm["status"]["migrationState"]["target"]["node"]
    assert domains(cluster, source)[f"{ns}_hot"] == "Running" and f"{ns}_hot" not in domains(cluster, target)


@pytest.mark.parametrize(("policy", "force"), [("PreferSafe", True), ("AlwaysForced", None)])
def test_auto_converge_throttles_a_heavy_guest_until_it_converges(cluster, env, ns, policy, force):
    apply(cluster, ns, vm_body("hot", env["iso"], memory="4Gi", liveMigrationPolicy=policy))
    source = running(cluster, ns, "hot")["status"]["nodeName"]
    dirty(cluster, ns, "hot", HEAVY)
    name, _unused = vmop(cluster, ns, "hot", "Evict", force=force)
    wait(lambda: get(cluster, "vmop", name, ns), lambda o: reason(o) in ("Syncing", "NotConverging", "SourceSuspended", "TargetResumed", "Completed"))
    advance(cluster, 100)  # throttled 20 % → 99 % round by round: converged well within the progress timeout
    op = op_done(cluster, ns, name)
    assert phase(op) == "Completed" and op["status"]["progress"] == "100%", op["status"]
    vm = running(cluster, ns, "hot")
    target = vm["status"]["nodeName"]
    assert target != source and vm["status"]["migrationState"]["result"] == "Succeeded"
    assert f"{ns}_hot" in domains(cluster, target) and f"{ns}_hot" not in domains(cluster, source)


def test_a_light_dirty_rate_converges_without_force_but_later_than_a_still_guest(cluster, env, ns):
    apply(cluster, ns, vm_body("still", env["iso"], memory="8Gi"))
    apply(cluster, ns, vm_body("light", env["iso"], memory="8Gi"))
    running(cluster, ns, "still")
    running(cluster, ns, "light")
    dirty(cluster, ns, "light", LIGHT)
    took = {}
    for vm_name in ("still", "light"):  # one after the other: no wait for a migration slot in the figures
        name, _unused = vmop(cluster, ns, vm_name, "Evict")
        seen = wait(lambda n=name: get(cluster, "vmop", n, ns), lambda o: reason(o) in ("Syncing", "SourceSuspended", "TargetResumed", "Completed"))
        if reason(seen) == "Syncing":
            assert 10 <= int(seen["status"]["progress"].rstrip("%")) <= 90
        op = op_done(cluster, ns, name, timeout=90)
        assert phase(op) == "Completed", op["status"]
        took[vm_name] = duration(running(cluster, ns, vm_name))
    # 8 GiB at 640 MiB/s: 12.8 s still; at 400 MiB/s dirtied, rounds shrink by 400/640 each: about 33 s
    assert took["light"] >= took["still"] + 15, took
