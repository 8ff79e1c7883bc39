"""Chaos (issue 10): five fencing-enabled (Watchdog) workers running 30 migratable VMs of every run policy; one node
drained by a real `kubectl drain` in the background while another loses its power, then a third its network, the
clock stepped with `dvp-sim clock advance`. The invariant sampler of tests/invariants.py (a domain never on two nodes,
a down node runs nothing, the API and libvirt agree) checks the whole time, not only at the end. At the
end every AlwaysOn / AlwaysOnUnlessStoppedManually VM runs exactly once, the Manual VMs that ran on a failed node are
Stopped, the other Manual ones are as they were, and no VM object is lost."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import pytest
import yaml

from ..image_sources import FileServer, iso_image
from ..invariants import InvariantSampler, check_invariant, nodes_view
from ..simulator_process import BIN, Simulator
from .test_fencing import MC, G, advance, dvp_sim, eventually, fail, get, ready

WORKERS = [f"worker-{c}" for c in "abcde"]
NODES = ["master", *WORKERS]
SELECTOR = "vm.kubevirt.internal.virtualization.deckhouse.io/name"
NS = "chaos"
POLICIES = ["AlwaysOn", "AlwaysOnUnlessStoppedManually", "Manual"]


def topology() -> dict:
    worker = {"cpu": {"model": "Nehalem", "cores": 32}, "memory": "64Gi", "fencing": {"enabled": True, "mode": "Watchdog"}}
    master = {"name": "master", "cpu": {"model": "Nehalem", "cores": 4}, "memory": "8Gi",
              "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}  # fmt: skip
    return {"nodes": [master, *({"name": n, **worker} for n in WORKERS)]}


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chaos")
    (tmp / "topology.yaml").write_text(yaml.safe_dump(topology()))
    sim = Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=0.05)  # the test steps the clock
    root = tmp / "images"
    root.mkdir()
    iso_image(root / "boot.iso")
    server = FileServer(root)
    sim.kubectl("apply", "-f", "-", input=json.dumps(MC))
    cvi = {"apiVersion": G, "kind": "ClusterVirtualImage", "metadata": {"name": "boot"},
           "spec": {"dataSource": {"type": "HTTP", "http": {"url": server.url("boot.iso")}}}}  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(cvi))
    eventually(lambda: get(sim, "cvi", "boot"), lambda o: (o.get("status") or {}).get("phase") == "Ready", 60)
    yield sim
    server.stop()
    assert sim.stop() == 0


def vms(sim):
    items = json.loads(sim.kubectl("get", "vm", "-n", NS, "-o", "json").stdout)["items"]
    return {o["metadata"]["name"]: o for o in items}


def status(vm):
    s = vm.get("status") or {}
    return s.get("phase"), s.get("nodeName")


def domain_count(sim):
    return Counter(d.split("_", 1)[1] for seen in nodes_view(sim, NODES).values() for d in seen["domains"] if d.startswith(NS + "_"))


def step_until(sim, predicate, timeout, seconds=5):
    end = time.time() + timeout
    while not predicate():
        assert time.time() < end, "timed out while stepping the clock"
        advance(sim, seconds)
        time.sleep(0.1)


def test_drain_power_and_network_faults_keep_every_vm_once(chaos):
    sim = chaos
    started = time.time()
    sim.kubectl("create", "namespace", NS)
    policy, should_run = {}, {}
    for i in range(30):
        name, pol = f"vm-{i:02d}", POLICIES[i % 3]
        spec = {"virtualMachineClassName": "generic", "runPolicy": pol, "cpu": {"cores": 1}, "memory": {"size": "1Gi"},
                "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "boot"}]}  # fmt: skip
        sim.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps({"apiVersion": G, "kind": "VirtualMachine", "metadata": {"name": name}, "spec": spec}))
        policy[name], should_run[name] = pol, pol != "Manual" or i % 2 == 0  # half of the Manual VMs started
        if pol == "Manual" and should_run[name]:
            op = {
                "apiVersion": G,
                "kind": "VirtualMachineOperation",
                "metadata": {"name": f"start-{name}"},
                "spec": {"virtualMachineName": name, "type": "Start"},
            }
            sim.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(op))
    assert Counter(policy.values()) == {"AlwaysOn": 10, "AlwaysOnUnlessStoppedManually": 10, "Manual": 10}

    def settled():
        now = vms(sim)
        return all((status(now[n])[0] == "Running" and status(now[n])[1]) if run else status(now[n])[0] == "Stopped" for n, run in should_run.items())

    step_until(sim, settled, 60)
    check_invariant(sim, NODES)
    before = {n: status(o)[1] for n, o in vms(sim).items()}
    per_node = {w: [n for n, node in before.items() if node == w] for w in WORKERS}
    manual_on = {w: [n for n in per_node[w] if policy[n] == "Manual"] for w in WORKERS}
    # the power and network victims: the nodes with the most running Manual VMs; the drained one: the fullest of the rest
    power, network = sorted(WORKERS, key=lambda w: (-len(manual_on[w]), w))[:2]
    drained = max((w for w in WORKERS if w not in (power, network)), key=lambda w: len(per_node[w]))
    assert per_node[drained] and per_node[power] and per_node[network]
    lost_manual = manual_on[power] + manual_on[network]
    assert lost_manual, f"no running Manual VM on the failed nodes: {per_node}"

    with InvariantSampler(sim, NODES) as sampler:
        env = {"KUBECONFIG": str(sim.kubeconfig), "PATH": f"{BIN}:/usr/bin:/bin"}
        drain = subprocess.Popen([str(BIN / "kubectl"), "drain", drained, "--pod-selector", SELECTOR, "--delete-emptydir-data", "--ignore-daemonsets",
                                  "--timeout=150s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        time.sleep(1)  # the drain has evicted (429: evacuations started)
        fail(sim, power, "power")
        step_until(sim, lambda: drain.poll() is not None, 100)
        out, err = drain.communicate()
        assert drain.returncode == 0 and f"node/{drained} drained" in out, out + err
        assert "Eviction triggered evacuation" in err
        step_until(sim, lambda: sim.kubectl("get", "node", power, check=False).returncode != 0, 60)  # fenced: the Node deleted
        fail(sim, network, "network")
        step_until(sim, lambda: sim.kubectl("get", "node", network, check=False).returncode != 0, 60)
        alive = [w for w in WORKERS if w not in (power, network, drained)]

        def final():
            now = vms(sim)
            for n, o in now.items():
                phase, node = status(o)
                if n in lost_manual or not should_run[n]:
                    if (phase, node) != ("Stopped", None):
                        return False
                elif phase != "Running" or node not in alive:
                    return False
            return True

        step_until(sim, final, 60)
        assert sampler.samples >= 5 and sampler.is_alive(), f"the sampler checked the invariant during the run: {sampler.samples} samples"

    seen, bound = check_invariant(sim, NODES)
    assert seen[power]["state"] == "Fenced" and seen[network]["state"] == "Fenced" and not seen[power]["domains"] and not seen[network]["domains"]
    now = vms(sim)
    assert sorted(now) == sorted(policy), "no VM object is lost"
    counts = domain_count(sim)
    for n, o in now.items():
        if n in lost_manual:
            assert status(o) == ("Stopped", None) and counts[n] == 0, f"Manual {n} ran on a failed node: it stays Stopped"
        elif should_run[n]:
            assert status(o)[0] == "Running" and status(o)[1] in alive and counts[n] == 1, f"{n} runs exactly once: {status(o)}, {counts[n]}"
        else:
            assert status(o) == ("Stopped", None) and counts[n] == 0
    assert all(status(now[n])[1] != drained for n in now), "nothing went back to the cordoned node"
    assert get(sim, "node", drained)["spec"]["unschedulable"] is True

    # the failed nodes come back: nothing moves, nothing runs twice
    with InvariantSampler(sim, NODES):
        for node in (power, network):
            assert "recovered" in dvp_sim(sim, "node", "recover", node).stdout
            eventually(lambda n=node: get(sim, "node", n), lambda o: ready(o) == "True" and not (o.get("spec") or {}).get("taints"))
    assert domain_count(sim) == counts
    assert {n: status(o) for n, o in vms(sim).items()} == {n: status(o) for n, o in now.items()}
    assert time.time() - started < 150, "bounded"
