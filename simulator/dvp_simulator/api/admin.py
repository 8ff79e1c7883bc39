"""The simulator's own admin API, outside /api and /apis, behind the same bearer token as the Kubernetes API:

- `POST /simulator/v1/clock/advance` with `{"seconds": N}` steps the simulated clock N seconds forward and fires
  every timer that falls due (upload timeouts, lease renewals, requeues), in deadline order;
- `GET /simulator/v1/clock` reads it;
- `GET /simulator/v1/nodes/<node>` describes the node's hypervisor as libvirt sees it (its own test-driver
  connection: URI, CPU model, cores, memory, domains) and its `state` (Up, PoweredOff, NetworkPartitioned,
  KubeletStopped, Fenced); a powered-off or fenced node has no domains; `GET /simulator/v1/nodes` describes every
  node of the topology in one answer, read in one step of the event loop (nothing runs between two nodes' reads, so
  a domain moving between nodes is never seen on both, nor on neither);
- `POST /simulator/v1/nodes/<node>/fail` with `{"mode": "power" | "network" | "kubelet"}` injects a node fault
  (nodes/agent.py) and `POST /simulator/v1/nodes/<node>/recover` brings the node back: 404 for a node not in the
  topology, 400 for a bad body or mode;
- `POST /simulator/v1/vms/<namespace>/<name>/guest` with `{"action": "shutdown" | "reboot" | "crash"}` makes the
  guest of a running VM do that on its node's hypervisor (fault injection; the VM controller reacts per run
  policy); `{"action": "dirty-memory", "mibPerSecond": N}` sets how fast the guest writes to its memory (0 by
  default), which decides whether a live migration's pre-copy converges (controllers/migration.py): 404 for a VM
  that does not exist, 409 for one without a running guest;
- `GET /simulator/v1/images/bandwidth` reads the bandwidth image imports read their sources at, and
  `POST /simulator/v1/images/bandwidth` with `{"bandwidth": "20Mi"}` (a quantity of bytes per second, 0: no limit)
  sets it, also for imports already running (images/jobs.py).
- `GET /simulator/v1/module` reads the virtualization module's release (`launcherImage`: the virt-launcher image,
  the VMs' firmware), and `POST /simulator/v1/module/upgrade` with `{"launcherImage": "dvp-sim/virt-launcher:v1.1.0"}`
  rolls a release with that image out, as Deckhouse updating the module would: the VMs running the old image are
  out of date and the workload updater live-migrates them (controllers/firmware.py).

Answers are Status-shaped JSON (`kind: Status`); bad input gets 400 BadRequest, an unknown path 404, a wrong
method 405, as the API server answers its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..clock import Clock
from ..images.jobs import Importer
from ..images.units import humanize_ibytes, parse_bandwidth
from ..nodes.agent import NODE_FAULT_POWER
from ..nodes.fleet import Fleet
from ..store.store import dumps
from .errors import APIError, bad_request

PREFIX = "/simulator/v1/"
MAX_ADVANCE = 10 * 365 * 86400.0  # ten years: far beyond any timer, short of float trouble in timestamps


GuestEvent = Callable[[str, str, dict[str, Any]], str]  # (namespace, VM name, {"action": A, parameters…}) → message


def register(
    server: Any,
    clock: Clock,
    fleet: Fleet,
    guest: GuestEvent | None = None,
    importer: Importer | None = None,
    node_changed: Callable[[str], None] | None = None,
    release: tuple[Callable[[], str], Callable[[str], str]] | None = None,
) -> None:
    """Serve the admin API on `server` (an APIServer) under PREFIX; `guest` carries out guest power events,
    `importer` is whose bandwidth images/bandwidth reads and sets; `node_changed(node)` is told of every injected
    node fault and recovery (what the node's peers notice at once: a live migration to or from it loses its link);
    `release` reads the module's launcher image and rolls a new one out (its message; ValueError for a bad image)."""
    admin = Admin(clock, fleet, guest, importer)
    admin.node_changed = node_changed or admin.node_changed
    admin.release = release
    server.admin_handlers[PREFIX] = admin.handle


class Admin:
    def __init__(self, clock: Clock, fleet: Fleet, guest: GuestEvent | None = None, importer: Importer | None = None):
        self.clock, self.fleet, self.guest, self.importer = clock, fleet, guest, importer
        self.node_changed: Callable[[str], None] = lambda node: None
        self.release: tuple[Callable[[], str], Callable[[str], str]] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        parts = request.path[len(PREFIX) :].strip("/").split("/")
        if parts == ["clock", "advance"]:
            _method(request, "POST")
            seconds = _seconds(await request.read())
            fired = self.clock.advance(seconds)
            return _success(f"the clock advanced {seconds:g} s to {self._reading()}; {fired} timers fired")
        if parts == ["clock"]:
            _method(request, "GET")
            return _success(f"the clock reads {self._reading()}")
        if parts == ["nodes"]:
            _method(request, "GET")
            items = [self._describe(name) for name in sorted(self.fleet.agents)]
            return web.Response(body=dumps({"kind": "NodeHypervisorList", "apiVersion": "simulator/v1", "items": items}), content_type="application/json")
        if len(parts) == 2 and parts[0] == "nodes":
            _method(request, "GET")
            return web.Response(body=dumps(self._describe(self._agent(parts[1]).spec.name)), content_type="application/json")
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] in ("fail", "recover"):
            _method(request, "POST")
            agent = self._agent(parts[1])
            if parts[2] == "recover":
                message = agent.recover()
            else:
                mode = _mode(await request.read())
                try:
                    message = agent.fail(mode)
                except ValueError as exc:
                    raise bad_request(str(exc)) from None
            self.node_changed(agent.spec.name)
            return _success(message)
        if parts == ["images", "bandwidth"] and self.importer is not None:
            if request.method == "POST":
                self.importer.bandwidth = _bandwidth(await request.read())
            else:
                _method(request, "GET")
            return _success(bandwidth_message(self.importer.bandwidth))
        if parts == ["module"] and self.release is not None:
            _method(request, "GET")
            body = {"kind": "ModuleRelease", "apiVersion": "simulator/v1", "launcherImage": self.release[0]()}
            return web.Response(body=dumps(body), content_type="application/json")
        if parts == ["module", "upgrade"] and self.release is not None:
            _method(request, "POST")
            try:
                return _success(self.release[1](_launcher_image(await request.read())))
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        if len(parts) == 4 and parts[0] == "vms" and parts[3] == "guest" and self.guest is not None:
            _method(request, "POST")
            return _success(self.guest(parts[1], parts[2], _action(await request.read())))
        raise APIError(404, "the server could not find the requested resource", details={})

    def _reading(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _agent(self, name: str) -> Any:
        agent = self.fleet.agents.get(name)
        if agent is None:
            raise APIError(404, f'node "{name}" is not in the topology', details={"name": name, "kind": "nodes"})
        return agent

    def _describe(self, name: str) -> dict[str, Any]:
        agent = self.fleet.agents[name]
        hv = agent.hypervisor
        body = {"kind": "NodeHypervisor", "apiVersion": "simulator/v1", "metadata": {"name": name}, "state": agent.state, "uri": hv.uri}
        if agent.fault == NODE_FAULT_POWER or agent.fenced:  # a powered-off host: nothing runs, nothing to ask
            body |= {"cpu": {"model": None, "cpus": 0}, "memoryMiB": 0, "domains": []}
        else:
            conn = hv.connection
            model, memory_mib, cpus = conn.getInfo()[:3]
            body |= {"uri": conn.getURI(), "cpu": {"model": model, "cpus": cpus}, "memoryMiB": memory_mib, "domains": hv.domains()}
        return body


def _method(request: web.Request, allowed: str) -> None:
    if request.method != allowed:
        raise APIError(405, f"the server does not allow this method on the requested resource (only {allowed})", reason="MethodNotAllowed")


def _object(raw: bytes, keys: set[str], usage: str) -> dict[str, Any]:
    """The request body as a JSON object of exactly `keys` (400 naming `usage` otherwise)."""
    try:
        body = json.loads(raw or b"null", parse_constant=_reject_constant)
    except ValueError as exc:
        raise bad_request(f"the request body could not be decoded: {exc}") from exc
    if not isinstance(body, dict) or set(body) != keys:
        raise bad_request(f"the request body must be {usage}")
    return body


def _seconds(raw: bytes) -> float:
    """`{"seconds": N}` with N a finite number, 0 <= N <= MAX_ADVANCE."""
    seconds = _object(raw, {"seconds"}, '{"seconds": N}')["seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise bad_request(f"seconds: must be a number, not {json.dumps(seconds)}")
    if not 0 <= seconds <= MAX_ADVANCE:
        raise bad_request(f"seconds: must be between 0 and {MAX_ADVANCE:.0f} (the clock never goes backwards), not {seconds:g}")
    return float(seconds)


def _action(raw: bytes) -> dict[str, Any]:
    """`{"action": A, …}` with A a string and any other member a finite number (which actions exist, and which
    parameters each takes, is the guest handler's business)."""
    try:
        body = json.loads(raw or b"null", parse_constant=_reject_constant)
    except ValueError as exc:
        raise bad_request(f"the request body could not be decoded: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise bad_request('the request body must be {"action": "shutdown" | "reboot" | "crash"} or {"action": "dirty-memory", "mibPerSecond": N}')
    for key, value in body.items():
        if key != "action" and (isinstance(value, bool) or not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value))):
            raise bad_request(f"{key}: must be a finite number, not {json.dumps(value)}")
    return body


def bandwidth_message(rate: int) -> str:
    if not rate:
        return "image sources are read without a bandwidth limit"
    return f"image sources are read at up to {humanize_ibytes(rate)}/s ({rate} bytes per second) per import"


def _bandwidth(raw: bytes) -> int:
    """`{"bandwidth": Q}` with Q a quantity of bytes per second (`20Mi`, 1048576; 0: no limit)."""
    body = _object(raw, {"bandwidth"}, '{"bandwidth": "20Mi"} (bytes per second; 0: no limit)')
    try:
        return parse_bandwidth(body["bandwidth"], "bandwidth")
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def _mode(raw: bytes) -> str:
    """`{"mode": M}` with M a string (the agent checks it is a known fault mode)."""
    usage = '{"mode": "power" | "network" | "kubelet"}'
    mode = _object(raw, {"mode"}, usage)["mode"]
    if not isinstance(mode, str):
        raise bad_request(f"the request body must be {usage}")
    return mode


def _launcher_image(raw: bytes) -> str:
    """`{"launcherImage": I}` (controllers/firmware.py checks I is an image reference)."""
    return _object(raw, {"launcherImage"}, '{"launcherImage": "<image reference>"}')["launcherImage"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _success(message: str) -> web.Response:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "message": message, "code": 200}
    return web.Response(body=dumps(status), content_type="application/json")
