"""The fault-injection invariant (issue 10), checked against a live simulator over HTTPS:

1. a VM's domain never runs on two nodes at once (asked of each node's own libvirt connection,
   GET /simulator/v1/nodes/<node>);
2. a powered-off or fenced node runs no domain;
3. the API and libvirt agree: on a node that is up, the running domains are exactly the VMs whose status.nodeName is
   that node, and each such VM's virt-launcher pod is bound to it; on a node cut off (network, kubelet) every domain
   still running belongs to a VM the API binds to that node (a VM bound to a powered-off node has no domain: the API
   cannot know yet).

`check_invariant(sim, nodes)` samples until (3) holds (reads are not atomic: a sample may fall between two writes),
but fails at once on (1) or (2), and returns the last sample: {node: {"state", "domains"}}, {vm key: nodeName}."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

LAUNCHER_SELECTOR = "kubevirt.internal.virtualization.deckhouse.io=virt-launcher"
DOWN = ("PoweredOff", "Fenced")


class InvariantViolation(AssertionError):
    pass


def node_view(sim: Any, node: str) -> dict[str, Any]:
    req = urllib.request.Request(sim.server + f"/simulator/v1/nodes/{node}", headers={"Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=30) as r:
        body = json.load(r)
    return {"state": body["state"], "domains": sorted(d["name"] for d in body["domains"] if d["state"] in ("Running", "Paused"))}


def api_view(sim: Any) -> tuple[dict[str, str | None], dict[str, set[str]]]:
    vms = json.loads(sim.kubectl("get", "vm", "-A", "-o", "json").stdout)["items"]
    pods = json.loads(sim.kubectl("get", "pods", "-A", "-l", LAUNCHER_SELECTOR, "-o", "json").stdout)["items"]
    bound = {f"{o['metadata']['namespace']}_{o['metadata']['name']}": (o.get("status") or {}).get("nodeName") for o in vms}
    pod_nodes: dict[str, set[str]] = {}
    for p in pods:
        if p["metadata"].get("deletionTimestamp") or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
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


def check_invariant(sim: Any, nodes: list[str], timeout: float = 10.0) -> tuple[dict[str, dict[str, Any]], dict[str, str | None]]:
    end = time.time() + timeout
    while True:
        nodes_seen = {n: node_view(sim, n) for n in nodes}
        bound, pod_nodes = api_view(sim)
        hard, soft = violations(nodes_seen, bound, pod_nodes)
        if hard:
            raise InvariantViolation("; ".join(hard))
        if not soft:
            return nodes_seen, bound
        if time.time() > end:
            raise InvariantViolation("; ".join(soft))
        time.sleep(0.2)
