"""Class status follows nodes joining (a topology that grows across a restart) and leaving (a deleted Node: PodGC
collects its pods after the quarantine); discovered features stay frozen. Bad topologies stop the simulator with a clear message."""

import json
import subprocess
import time

import yaml

from ..simulator_process import BIN, Simulator


def topology(*nodes):
    return {"cluster": {"podSubnetCIDR": "10.111.0.0/16", "serviceSubnetCIDR": "10.222.0.0/16"}, "nodes": list(nodes)}


def worker(name, model, *features):
    return {"name": name, "labels": {"pool": "workers"}, "cpu": {"vendor": "Intel", "model": model, "features": list(features), "cores": 8}, "memory": "16Gi"}


def status(sim, name, predicate, timeout=20):
    end = time.time() + timeout
    while True:
        obj = json.loads(sim.kubectl("get", "vmclass", name, "-o", "json").stdout)
        if predicate(obj.get("status") or {}):
            return obj["status"]
        assert time.time() < end, obj.get("status")
        time.sleep(0.2)


def daemonset_counts(sim, predicate, timeout=20):
    """(desired, current, ready, available) of the virt-handler DaemonSet once `predicate` holds for them."""
    end = time.time() + timeout
    while True:
        s = json.loads(sim.kubectl("get", "daemonset", "virt-handler", "-n", "d8-virtualization", "-o", "json").stdout).get("status") or {}
        counts = (s.get("desiredNumberScheduled"), s.get("currentNumberScheduled"), s.get("numberReady"), s.get("numberAvailable"))
        if predicate(counts):
            return counts
        assert time.time() < end, s
        time.sleep(0.2)


def test_nodes_join_and_leave(tmp_path):
    first = tmp_path / "two.yaml"
    first.write_text(yaml.safe_dump(topology(worker("w-0", "Haswell-noTSX", "vme"), worker("w-1", "Skylake-Client-noTSX-IBRS", "vme"))))
    state = tmp_path / "state"
    sim = Simulator.start(state, "--topology", str(first), time_scale=10.0)
    try:
        sim.kubectl(
            "apply",
            "-f",
            "-",
            input="{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: common}, "
            "spec: {cpu: {type: Discovery, discovery: {}}}}",
        )
        before = status(sim, "common", lambda s: s.get("phase") == "Ready")
        assert before["availableNodes"] == ["w-0", "w-1"]
        assert daemonset_counts(sim, lambda c: c[0] == 2) == (2, 2, 2, 2)
    finally:
        assert sim.stop() == 0
    second = tmp_path / "three.yaml"
    second.write_text(
        yaml.safe_dump(topology(worker("w-0", "Haswell-noTSX", "vme"), worker("w-1", "Skylake-Client-noTSX-IBRS", "vme"), worker("w-2", "Nehalem")))
    )
    sim = Simulator.start(state, "--topology", str(second), time_scale=10.0)
    try:
        # w-2 joins, but it lacks the discovered (frozen) features: not available.
        joined = status(sim, "common", lambda s: True)
        assert joined["cpuFeatures"]["enabled"] == before["cpuFeatures"]["enabled"]
        assert joined["availableNodes"] == ["w-0", "w-1"]
        assert daemonset_counts(sim, lambda c: c[0] == 3) == (3, 3, 3, 3)  # the virt-handler DaemonSet counts the new node
        sim.kubectl(
            "apply",
            "-f",
            "-",
            input="{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: nehalem}, "
            "spec: {cpu: {type: Model, model: Nehalem}}}",
        )
        assert status(sim, "nehalem", lambda s: s.get("phase") == "Ready")["availableNodes"] == ["w-0", "w-1", "w-2"]
        watch_pods = [str(BIN / "kubectl"), "get", "pods", "-A", "--watch-only", "-o", "json"]
        watch = subprocess.Popen(watch_pods, stdout=subprocess.PIPE, text=True, env={"KUBECONFIG": str(sim.kubeconfig)})
        sim.kubectl("run", "ghost", "--image=x", "--overrides", json.dumps({"spec": {"nodeName": "nowhere"}}))  # bound to a node that never was
        sim.kubectl("delete", "node", "w-1")  # w-1 leaves
        left = time.time()
        assert status(sim, "common", lambda s: s.get("availableNodes") == ["w-0"])
        assert status(sim, "nehalem", lambda s: s.get("availableNodes") == ["w-0", "w-2"])
        # the DaemonSet no longer counts the node that left, nor its pod there while it lingers
        assert daemonset_counts(sim, lambda c: c[0] == 2) == (2, 2, 2, 2)
        assert sim.kubectl("get", "pod", "-n", "d8-virtualization", "virt-handler-w-1", check=False).returncode == 0, "kept through the quarantine"
        # PodGC: pods of a node gone for 40 simulated seconds (4 s at this time scale) are marked Failed and deleted
        orphans = ("-n", "d8-virtualization", "virt-handler-w-1"), ("-n", "default", "ghost")
        while any(sim.kubectl("get", "pod", *o, check=False).returncode == 0 for o in orphans):
            assert time.time() - left < 20, "orphaned pods were not collected"
            time.sleep(0.2)
        assert time.time() - left >= 3.5, "not before the quarantine"
        watch.terminate()
        events, text, at = [], watch.communicate(timeout=10)[0], 0
        while text[at:].strip():
            obj, at = json.JSONDecoder().raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
            events.append(obj)
        for name in ("virt-handler-w-1", "ghost"):
            last = [e for e in events if e["metadata"]["name"] == name][-1]
            gc = next(c for c in last["status"]["conditions"] if c["type"] == "DisruptionTarget")
            assert (last["status"]["phase"], gc["reason"], gc["message"]) == ("Failed", "DeletionByPodGC", "PodGC: node no longer exists"), last["status"]
        columns = sim.kubectl("get", "daemonset", "virt-handler", "-n", "d8-virtualization", "--no-headers").stdout.split()
        assert columns[:6] == ["virt-handler", "2", "2", "2", "2", "2"], columns
        wide = sim.kubectl("get", "daemonset", "virt-handler", "-n", "d8-virtualization", "--no-headers", "-o", "wide").stdout.split()
        assert wide[6] == "<none>" and wide[-3:] == ["virt-handler", "dvp-sim/virt-handler", "kubevirt.internal.virtualization.deckhouse.io=virt-handler"], wide
    finally:
        assert sim.stop() == 0


def test_bad_topology_is_refused_with_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(topology(worker("w-0", "Haswel"))))
    out = subprocess.run(
        [str(BIN / "dvp-sim"), "serve", "--port", "0", "--state-dir", str(tmp_path / "s"), "--kubeconfig", str(tmp_path / "k"), "--topology", str(bad)],
        capture_output=True, check=False, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "nodes[0] (w-0).cpu.model: unknown CPU model 'Haswel'; did you mean 'Haswell'" in out.stderr
    bad.write_text(yaml.safe_dump(topology({"name": "w", "cpu": {"model": "Nehalem", "features": ["warp-drive"]}})))
    out = subprocess.run(
        [str(BIN / "dvp-sim"), "serve", "--port", "0", "--state-dir", str(tmp_path / "s"), "--kubeconfig", str(tmp_path / "k"), "--topology", str(bad)],
        capture_output=True, check=False, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "cpu.features: unknown CPU feature 'warp-drive'" in out.stderr
