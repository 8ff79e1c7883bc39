"""A fake node: its Node object, its kubelet's heartbeats (Lease renewals, Ready condition), its virt-handler
pod, and its own libvirt test-driver instance — the node's hypervisor (hypervisor.py) that later issues run
domains on."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api import quantities
from ..api.errors import APIError
from ..api.service import ObjectService, WriteOptions
from ..clock import Clock
from ..pod_logs import PodLogs
from ..store.store import NODE_NAME
from .cpu import cpu_labels
from .hypervisor import Hypervisor
from .pod_network import pod_ip
from .topology import NodeSpec

log = logging.getLogger("dvp_simulator.nodes")
LEASE_DURATION = 40  # seconds, as the kubelet's default
LEASE_RENEW = 10.0  # simulated seconds between renewals
STATUS_HEARTBEAT = 300.0  # simulated seconds between unchanged node-status posts: the kubelet's nodeStatusReportFrequency (5m)
MODULE_NAMESPACE = v.MODULE_NAMESPACE
NODES, PODS, LEASES = v.resource_key(v.NODE), v.resource_key(v.POD), v.resource_key(v.LEASE)
KUBELET = "kubelet"
NODE_FAULT_POWER = v.NODE_FAULT_POWER
FAULT_MODES = (v.NODE_FAULT_POWER, v.NODE_FAULT_NETWORK, v.NODE_FAULT_KUBELET)
FAULT_STATES = {v.NODE_FAULT_POWER: "PoweredOff", v.NODE_FAULT_NETWORK: "NetworkPartitioned", v.NODE_FAULT_KUBELET: "KubeletStopped"}
DAEMONSET, APPS_VERSION = v.DAEMON_SET, f"{v.APPS_GROUP}/{v.CORE_VERSION}"
VIRT_HANDLER_IMAGE = "dvp-sim/virt-handler"
LOG_EVERY_RENEWALS = 60  # one virt-handler log line per this many Lease renewals (every 10 simulated minutes)


@dataclass
class NodeAgent:
    spec: NodeSpec
    service: ObjectService
    clock: Clock
    hypervisor: Hypervisor
    logs: PodLogs
    # fraction of LEASE_RENEW before the first renewal, so a fleet's renewals spread over the interval
    phase: float = 0.0
    since_status: float = 0.0  # simulated seconds since the last unchanged node-status post
    status_due: bool = False  # the status is posted at the next round (a restart found it unchanged but for its times)
    stats: dict[str, int] = field(default_factory=lambda: {"renewals": 0})
    # an injected fault (FAULT_MODES) or None; `fenced`: the watchdog fired (the node is down until recovered)
    fault: str | None = None
    fenced: bool = False

    # -- objects -------------------------------------------------------------------------------------------
    def node_object(self) -> dict[str, Any]:
        s = self.spec
        labels = {v.HOSTNAME_LABEL: s.name, v.OS_LABEL: "linux", v.ARCH_LABEL: "amd64", **cpu_labels(s.cpu), **s.labels}
        if s.fencing_enabled:  # what the fencing-agent DaemonSet labels its nodes with (§7.7)
            labels[v.FENCING_ENABLED_LABEL] = ""
            labels[v.FENCING_MODE_LABEL] = s.fencing_mode
        pod_cidr = s.pod_cidr
        uid = hashlib.sha256(s.name.encode()).hexdigest()
        now = self.clock.stamp()
        capacity = {"cpu": str(s.cpu.cores), "memory": _ki(s.memory_bytes), "pods": "110", v.KVM_DEVICE_RESOURCE: "1k"}
        return {
            "apiVersion": v.CORE_VERSION,
            "kind": v.NODE,
            "metadata": {"name": s.name, "labels": labels},
            "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "providerID": f"dvp-sim://{s.name}", **({"taints": s.taints} if s.taints else {})},
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": [_condition(v.COND_NODE_READY, "True", "KubeletReady", "kubelet is posting ready status", now)]
                + [
                    _condition(t, "False", f"KubeletHasSufficient{t.replace('Pressure', '')}" if t != "PIDPressure" else "KubeletHasSufficientPID", "", now)
                    for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
                ],
                "addresses": [{"type": "InternalIP", "address": s.address}, {"type": "Hostname", "address": s.name}],
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": uid[:36],
                    "containerRuntimeVersion": "containerd://1.7.27",
                    "kernelVersion": "6.1.0-dvp-sim",
                    "kubeProxyVersion": "",
                    "kubeletVersion": "v1.33.0",
                    "machineID": uid[:32],
                    "operatingSystem": "linux",
                    "osImage": f"DVP simulated node ({s.cpu.vendor} {s.cpu.model})",
                    "systemUUID": uid[32:64],
                },
            },
        }

    def register(self) -> None:
        """Create or refresh the Node (labels and capacity follow the topology), its virt-handler pod and Lease."""
        nodes = self.service.registry.types[NODES]
        desired = self.node_object()
        current = self.service.find(nodes, "", self.spec.name)
        if current is None:
            self.service.create(nodes, "", desired, _opts(v.CORE_VERSION))
        else:
            merged = {**current, "metadata": {**current["metadata"], "labels": {**current["metadata"].get("labels", {}), **desired["metadata"]["labels"]}}}
            merged["spec"] = {**current.get("spec", {}), **{k: value for k, value in desired["spec"].items() if k != "unschedulable"}}
            # Most restarts find the labels and spec as the topology has them: an update that changes nothing would
            # still go through admission (~0.6 ms for a Node, 1,000 of them before the simulator serves).
            if merged["metadata"]["labels"] != current["metadata"].get("labels", {}) or merged["spec"] != current.get("spec", {}):
                self.service.update(nodes, "", self.spec.name, merged, _opts(v.CORE_VERSION))
            if _times_aside(current.get("status")) == _times_aside(desired["status"]):
                # A restart: the status is as the topology has it but for its heartbeat times, which the node's first
                # round posts (within a Lease interval, its transition times kept): 1,000 Node status writes before
                # the simulator served were ~1.5 s of a 10,000-VM restart (bench/scale.py's fixes).
                self.status_due = True
            else:
                status = {**self.service.find(nodes, "", self.spec.name), "status": desired["status"]}
                self.service.update(nodes, "", self.spec.name, status, _opts(v.CORE_VERSION, "status"))
        self._ensure_virt_handler()
        self._renew_lease()

    def _ensure_virt_handler(self) -> None:
        pods = self.service.registry.types[PODS]
        name = f"{v.VIRT_HANDLER}-{self.spec.name}"
        pod = self.service.find(pods, MODULE_NAMESPACE, name)
        if pod is None:
            self._create_virt_handler(pods, name)
        elif not pod["metadata"].get("ownerReferences"):  # made by a simulator before its DaemonSet existed
            pod = {**pod, "metadata": {**pod["metadata"], "ownerReferences": [virt_handler_owner(self.service)]}}
            self.service.update(pods, MODULE_NAMESPACE, name, pod, _opts(v.CORE_VERSION))
        self._log("virt-handler started", node=self.spec.name)
        self._log("connected to the hypervisor", uri=self.hypervisor.uri)

    def _create_virt_handler(self, pods: Any, name: str) -> None:
        """The node's virt-handler pod, created Running: the node starts it within its registration, so a version of
        the pod without that status is one nobody could have acted on (one write of the pod per node at start-up,
        not two; managedFields as the create and the status write would have them)."""
        pod = {
            "apiVersion": v.CORE_VERSION,
            "kind": v.POD,
            "metadata": {"name": name, "labels": {v.VIRT_HANDLER_LABEL: v.VIRT_HANDLER}, "ownerReferences": [virt_handler_owner(self.service)]},
            "spec": {"nodeName": self.spec.name, "containers": [{"name": "virt-handler", "image": VIRT_HANDLER_IMAGE}]},
            "status": {
                "phase": "Running",
                "hostIP": self.spec.address,
                "conditions": [{"type": v.COND_NODE_READY, "status": "True"}],
                "containerStatuses": [{"name": "virt-handler", "ready": True, "restartCount": 0}],
            },
        }
        node = self.service.find(self.service.registry.types[NODES], "", self.spec.name)
        ip = pod_ip(self.service.store, node, pod) if node is not None else ""
        if ip:
            pod["status"].update(podIP=ip, podIPs=[{"ip": ip}])
        self.service.create(pods, MODULE_NAMESPACE, pod, _opts(v.CORE_VERSION, with_status=True))

    def _renew_lease(self) -> None:
        leases = self.service.registry.types[LEASES]
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        current = self.service.find(leases, v.NODE_LEASE_NAMESPACE, self.spec.name)
        spec = {"holderIdentity": self.spec.name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now}
        if current is None:
            self.service.create(leases, v.NODE_LEASE_NAMESPACE, {"metadata": {"name": self.spec.name}, "spec": spec}, _opts(v.CORE_VERSION))
        else:
            self.service.update(leases, v.NODE_LEASE_NAMESPACE, self.spec.name, {**current, "spec": {**current.get("spec", {}), **spec}}, _opts(v.CORE_VERSION))
        if self.stats["renewals"] % LOG_EVERY_RENEWALS == 0:
            self._log("node heartbeat: Lease renewed", renewals=self.stats["renewals"] + 1)
        self.stats["renewals"] += 1

    def _log(self, message: str, **fields: Any) -> None:
        """One line of the virt-handler pod's log (JSON, as virt-handler writes), if the pod exists."""
        pod = self.service.find(self.service.registry.types[PODS], MODULE_NAMESPACE, f"{v.VIRT_HANDLER}-{self.spec.name}")
        if pod is None:
            return
        line = json.dumps({"component": v.VIRT_HANDLER, "level": "info", "msg": message, **fields, "timestamp": self.clock.stamp()}, separators=(",", ":"))
        self.logs.write(MODULE_NAMESPACE, pod["metadata"]["name"], pod["metadata"]["uid"], "virt-handler", self.clock.time(), line)

    def _heartbeat(self, force: bool = False) -> None:
        """Post the node status: heartbeat times every STATUS_HEARTBEAT, and at once (`force`) when the node
        lifecycle controller marked the conditions Unknown while the Lease was stale (the kubelet posts them again)."""
        nodes = self.service.registry.types[NODES]
        node = self.service.find(nodes, "", self.spec.name)
        if node is None:
            return
        conditions = node.get("status", {}).get("conditions", [])
        ready = any(c.get("type") == v.COND_NODE_READY and c.get("status") == "True" for c in conditions)
        if force and ready:
            return
        if not ready:
            conditions = self.node_object()["status"]["conditions"]
        conditions = [dict(c, lastHeartbeatTime=self.clock.stamp()) for c in conditions]
        self.service.update(nodes, "", self.spec.name, {**node, "status": {**node["status"], "conditions": conditions}}, _opts(v.CORE_VERSION, "status"))

    # -- life (driven by the fleet's beat loop: fleet.py) --------------------------------------------------------
    def first_beat(self) -> float:
        """When this node's first round falls due: its phase of LEASE_RENEW from now, so a fleet's renewals spread
        over the interval (status heartbeats are spread the same way)."""
        self.since_status = (1.0 - self.phase) * LEASE_RENEW
        return self.clock.time() + self.phase * LEASE_RENEW

    def beat(self, due: float) -> float:
        """One kubelet round, due at `due`: renew the Lease (unless a fault stopped the kubelet or cut it off),
        repost the node status when its heartbeat is due. Returns when the next round falls due: on the node's
        own phase (due + LEASE_RENEW), not "an interval after this one", so a round made late under load does not
        shift the node's phase and a busy fleet's renewals do not bunch up; a node that fell behind by more than an
        interval (the clock advanced) skips ahead."""
        if self.fault is None:
            try:
                self._renew_lease()
                self._heartbeat(force=not self.status_due)
                self.since_status += LEASE_RENEW
                if self.status_due:
                    self.status_due, self.since_status = False, 0.0
                elif self.since_status >= STATUS_HEARTBEAT:
                    self.since_status = 0.0
                    self._heartbeat()
            except APIError as exc:  # e.g. the Node was deleted by hand: log, keep beating
                log.warning("node %s: heartbeat failed: %s", self.spec.name, exc.message)
        deadline, now = due + LEASE_RENEW, self.clock.time()
        if deadline < now:
            deadline += (now - deadline) // LEASE_RENEW * LEASE_RENEW + LEASE_RENEW
        return deadline

    # -- faults (api/admin.py: POST /simulator/v1/nodes/<node>/fail, /recover) ---------------------------------
    @property
    def reachable(self) -> bool:
        """Whether the control plane can reach this node's libvirt (no fault, not fenced)."""
        return self.fault is None and not self.fenced

    @property
    def state(self) -> str:
        """What the node is, for GET /simulator/v1/nodes/<node>: Up, Fenced, or the fault's state."""
        return "Fenced" if self.fenced else FAULT_STATES.get(self.fault or "", "Up")

    def fail(self, mode: str) -> str:
        """Inject a fault. power: the agent stops and the hypervisor loses every domain (the test driver's state
        lives as long as its connection); network: the Lease can no longer be renewed, domains keep running;
        kubelet: the agent stops, domains keep running. Returns a message; ValueError for an unknown mode."""
        if mode not in FAULT_MODES:
            raise ValueError(f"mode: must be one of {', '.join(FAULT_MODES)}, not {mode!r}")
        self.fault = mode if self.fault != v.NODE_FAULT_POWER else self.fault  # a powered-off node stays off
        if mode == v.NODE_FAULT_POWER:
            self.hypervisor.close()
        return f"node {self.spec.name}: {mode} fault injected"

    def fence(self) -> None:
        """The watchdog fired (kernel panic, no auto-reboot): the node is down and its domains gone."""
        self.fenced = True
        self.hypervisor.close()

    def recover(self) -> str:
        """The node comes back: Node re-registered (Ready), virt-handler recreated, Lease renewed; virt-handler
        then destroys every domain of this node whose VM the API no longer places here (an orphan of a fencing
        in Notify mode or of a restart elsewhere)."""
        if self.fault is None and not self.fenced:
            return f"node {self.spec.name}: nothing to recover"
        rebooted = self.fault == v.NODE_FAULT_POWER or self.fenced
        self.fault, self.fenced = None, False
        self.register()
        if rebooted:
            self._fail_lost_pods()
        orphans = self.destroy_orphans()
        return f"node {self.spec.name}: recovered" + (f"; orphaned domains destroyed: {', '.join(orphans)}" if orphans else "")

    def _fail_lost_pods(self) -> None:
        """After a power loss the kubelet finds the containers of its virt-launcher pods gone (restartPolicy
        Never): the pods fail, and the VM controller treats that as a crash (§4.6)."""
        pods = self.service.registry.types[PODS]
        for entry in list(self.service.store.by_index(PODS, NODE_NAME, self.spec.name)):
            pod = entry.obj
            labels = pod["metadata"].get("labels") or {}
            if labels.get(v.VIRT_HANDLER_LABEL) != v.VIRT_LAUNCHER or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            status = {**(pod.get("status") or {}), "phase": "Failed", "reason": "NodeRebooted", "message": "The node rebooted: the container is gone."}
            self.service.update(pods, entry.namespace, entry.name, {**pod, "status": status}, _opts(v.CORE_VERSION, "status"))

    def destroy_orphans(self) -> list[str]:
        vms = self.service.registry.types.get(v.resource_key(v.VIRTUAL_MACHINE))
        out = []
        for domain in self.hypervisor.domains():
            ns, _, name = domain["name"].partition("_")
            vm = self.service.find(vms, ns, name) if vms is not None else None
            if vm is None or (vm.get("status") or {}).get("nodeName") != self.spec.name:
                self.hypervisor.undefine(domain["name"])
                out.append(domain["name"])
        return out

    def start(self) -> None:
        """Register the node (its rounds are the fleet's to run); the hypervisor opens on first use."""
        self.register()

    def stop(self) -> None:
        self.hypervisor.close()


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now}


def _times_aside(status: dict[str, Any] | None) -> dict[str, Any]:
    """A node status without its conditions' heartbeat and transition times."""
    status = status or {}
    times = ("lastHeartbeatTime", "lastTransitionTime")
    return {**status, "conditions": [{k: value for k, value in c.items() if k not in times} for c in status.get("conditions") or []]}


def _ki(n: int) -> str:
    """Memory in KiB as the kubelet counts it, in the canonical form kube-apiserver writes a quantity back in (what
    the node status is compared with: "134217728Ki" is stored as "128Gi")."""
    return quantities.normalized(f"{n // 1024}Ki")  # type: ignore[return-value]


def virt_handler_owner(service: ObjectService) -> dict[str, Any]:
    """The controller reference of a virt-handler pod: the module's `virt-handler` DaemonSet, made here if it is not
    there yet. `kubectl drain --ignore-daemonsets` skips a pod only when its controller is a DaemonSet it can read;
    a virt-handler pod without one stopped every drain ("cannot delete Pods that declare no controller").
    DaemonSets are served read-only: nothing but the simulator makes or changes this one; its status is counted by
    controllers/daemonset.py."""
    rt = service.registry.types[v.resource_key(DAEMONSET)]
    daemonset = service.find(rt, MODULE_NAMESPACE, v.VIRT_HANDLER)
    if daemonset is None:
        labels = {v.VIRT_HANDLER_LABEL: v.VIRT_HANDLER}
        template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "virt-handler", "image": VIRT_HANDLER_IMAGE}]}}
        body = {"apiVersion": APPS_VERSION, "kind": DAEMONSET, "metadata": {"name": v.VIRT_HANDLER, "labels": labels}, "spec": {"selector": {"matchLabels": labels}, "template": template}}
        daemonset = service.create(rt, MODULE_NAMESPACE, body, WriteOptions(version="v1", manager=KUBELET)).obj
    meta = daemonset["metadata"]
    return {"apiVersion": APPS_VERSION, "kind": DAEMONSET, "name": meta["name"], "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def _opts(version: str, subresource: str | None = None, with_status: bool = False) -> WriteOptions:
    return WriteOptions(version=version, manager=KUBELET, subresource=subresource, with_status=with_status)
