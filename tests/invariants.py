"""The fault-injection invariant (issue 10), checked against a live simulator over HTTPS:

1. a VM's domain never runs on two nodes at once (asked of each node's own libvirt connection; all nodes are read in
   one answer of GET /simulator/v1/nodes, so a domain moving between two nodes cannot be seen on both);
2. a powered-off or fenced node runs no domain;
3. the API and libvirt agree: on a node that is up, the running domains are exactly the VMs whose status.nodeName is
   that node, and each such VM's virt-launcher pod is bound to it (a live migration's target pod, before the switch,
   is not where the VM runs); on a node cut off (network, kubelet) every domain
   still running belongs to a VM the API binds to that node (a VM bound to a powered-off node has no domain: the API
   cannot know yet).

`check_invariant(sim, nodes)` samples until (3) holds (the API reads are not atomic with the libvirt one: a sample
may fall between two writes), but fails at once on (1) or (2), and returns the last sample: {node: {"state",
"domains"}}, {vm key: nodeName}.

`InvariantSampler(sim, nodes)` checks the same over and over in a background thread while a test runs (a context
manager): the first violation seen at any sample is kept and fails the test when the sampler stops; stopping also
checks once more, so a sampler always has at least one complete sample."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

LAUNCHER_SELECTOR = "kubevirt.internal.virtualization.deckhouse.io=virt-launcher"
DOWN = ("PoweredOff", "Fenced")
MIGRATION_TARGET = "vm.dvp-sim.deckhouse.io/migration-target"  # the simulator's mark on a migration's target pod
VMS_PATH = "/apis/virtualization.deckhouse.io/v1alpha2/virtualmachines"


class InvariantViolation(AssertionError):
    pass


def _get(sim: Any, path: str) -> Any:
    req = urllib.request.Request(sim.server + path, headers={"Authorization": f"Bearer {sim.token}", "Accept": "application/json"})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
        return json.load(r)


def _seen(body: dict[str, Any]) -> dict[str, Any]:
    return {"state": body["state"], "domains": sorted(d["name"] for d in body["domains"] if d["state"] in ("Running", "Paused"))}


def node_view(sim: Any, node: str) -> dict[str, Any]:
    """One node's state and running (or paused) domains."""
    return _seen(_get(sim, f"/simulator/v1/nodes/{node}"))


def nodes_view(sim: Any, nodes: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every node's (or the named nodes') state and domains, read at one instant."""
    items = {o["metadata"]["name"]: _seen(o) for o in _get(sim, "/simulator/v1/nodes")["items"]}
    missing = sorted(set(nodes or ()) - set(items))
    assert not missing, f"not in the simulator's topology: {missing}"
    return {n: items[n] for n in nodes} if nodes is not None else items


def api_view(sim: Any) -> tuple[dict[str, str | None], dict[str, set[str]]]:
    vms = _get(sim, VMS_PATH)["items"]
    pods = _get(sim, "/api/v1/pods?" + urllib.parse.urlencode({"labelSelector": LAUNCHER_SELECTOR}))["items"]
    bound = {f"{o['metadata']['namespace']}_{o['metadata']['name']}": (o.get("status") or {}).get("nodeName") for o in vms}
    pod_nodes: dict[str, set[str]] = {}
    for p in pods:
        if p["metadata"].get("deletionTimestamp") or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if MIGRATION_TARGET in (p["metadata"].get("annotations") or {}):
            continue  # a live migration's target pod: the VM does not run there before the switch
        owner = next((r["name"] for r in p["metadata"].get("ownerReferences") or [] if r.get("kind") == "VirtualMachine"), None)
        if owner:
            pod_nodes.setdefault(f"{p['metadata']['namespace']}_{owner}", set()).add(p["spec"].get("nodeName"))
    return bound, pod_nodes


def violations(nodes_seen: dict[str, dict[str, Any]], bound: dict[str, str | None], pod_nodes: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(hard violations: rules 1 and 2, disagreements: rule 3)."""
    hard, soft = [], []
    where: dict[str, list[str]] = {}
    for node, seen in nodes_seen.items():
        for d in seen["domains"]:
            where.setdefault(d, []).append(node)
        if seen["state"] in DOWN and seen["domains"]:
            hard.append(f"{node} is {seen['state']} yet runs {seen['domains']}")
    hard += [f"domain {d} runs on {sorted(ns)} at once" for d, ns in where.items() if len(ns) > 1]
    for node, seen in nodes_seen.items():
        here = set(seen["domains"])
        if seen["state"] == "Up":
            api_here = {k for k, n in bound.items() if n == node}
            if here != api_here:
                soft.append(f"{node}: libvirt runs {sorted(here)}, the API places {sorted(api_here)}")
        elif seen["state"] not in DOWN:
            stray = sorted(d for d in here if bound.get(d) != node)
            if stray:
                soft.append(f"{node} ({seen['state']}) runs {stray}, which the API places elsewhere")
    for key, node in bound.items():
        if node and pod_nodes.get(key) and pod_nodes[key] != {node}:
            soft.append(f"VM {key} is on {node} but its virt-launcher pods are on {sorted(pod_nodes[key])}")
    return hard, soft


def check_invariant(sim: Any, nodes: list[str] | None = None, timeout: float = 10.0) -> tuple[dict[str, dict[str, Any]], dict[str, str | None]]:
    """Rules 1 and 2 at once, rule 3 given `timeout` seconds to settle; `nodes`: all of the topology's when None."""
    end = time.time() + timeout
    while True:
        nodes_seen = nodes_view(sim, nodes)
        bound, pod_nodes = api_view(sim)
        hard, soft = violations(nodes_seen, bound, pod_nodes)
        if hard:
            raise InvariantViolation("; ".join(hard))
        if not soft:
            return nodes_seen, bound
        if time.time() > end:
            raise InvariantViolation("; ".join(soft))
        time.sleep(0.2)


class InvariantSampler(threading.Thread):
    """Checks the invariant continuously (check_invariant, rule 3 given `settle` seconds) until stopped. Use as a
    context manager around the part of a test that changes things; a violation seen at any sample fails the test
    on leaving the block (or at `stop()`), naming what was seen and when."""

    def __init__(self, sim: Any, nodes: list[str] | None = None, settle: float = 20.0, pause: float = 0.2):
        super().__init__(daemon=True, name="invariant-sampler")
        self.sim, self.nodes, self.settle, self.pause = sim, nodes, settle, pause
        self.samples = 0
        self.error: BaseException | None = None
        self.started_at = time.time()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set() and self.error is None:
            try:
                check_invariant(self.sim, self.nodes, self.settle)
                self.samples += 1
            except Exception as exc:  # noqa: BLE001 - a read failing is a failure too
                self.error = exc
                self.failed_after = time.time() - self.started_at
            self.halt.wait(self.pause)

    def check_now(self) -> None:
        """Fail at once if the sampler has seen a violation (for a test that wants to know before its end)."""
        if self.error is not None:
            raise InvariantViolation(f"the invariant broke {self.failed_after:.1f} s into the sampling: {self.error}") from self.error

    def stop(self) -> None:
        self.halt.set()
        self.join(self.settle + 60)
        assert not self.is_alive(), "the invariant sampler did not stop"
        self.check_now()
        check_invariant(self.sim, self.nodes, self.settle)  # and once more, at the end
        self.samples += 1

    def __enter__(self) -> InvariantSampler:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.stop()
            return
        self.halt.set()
        self.join(self.settle + 60)
        if self.error is not None:  # the test failed too: say what the sampler saw before
            exc.add_note(f"the invariant sampler had seen: {self.error}")
