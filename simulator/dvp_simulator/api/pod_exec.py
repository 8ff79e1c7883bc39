"""`pods/exec` (GET, or kubectl's POST fallback): a command in a pod's container, streamed over the WebSocket
channel protocol — what `kubectl exec` speaks (v5.channel.k8s.io, kubectl 1.30+) and the kubernetes Python client's
`stream()` (v4.channel.k8s.io).

The protocol (client-go tools/remotecommand; KEP-3396 for v5): one binary message per write, its first byte the
channel — 0 stdin, 1 stdout, 2 stderr, 3 the error channel, 4 terminal resizes; v5 adds 255, "this channel is closed"
(its second byte the channel: how a client ends stdin). The command's outcome is a metav1.Status on the error channel
— Success, or Failure with reason NonZeroExitCode and the code as an ExitCode cause, which kubectl exits with — and
then the server closes the WebSocket normally.

What runs is the node's business (Fleet.exec_runner: `virsh` in a virt-launcher's compute container, answered from
the node's libvirt; with a terminal and stdin and no command, virsh's interactive shell, keystroke by keystroke).
Before the upgrade, kube-apiserver's checks answer as Status errors: 404 no pod, 400 no command or no stream, an
unknown container (or none named in a pod of several), a pod without a node; 400 "Upgrade request required" for a
request that is not a WebSocket upgrade; the node's own refusals (its container not running, the node unreachable)
as the kubelet's proxy reports them. Authorization of the GET needs `create` on pods/exec too (authz.Gate)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ..nodes.fleet import ExecError, Fleet
from .errors import APIError, bad_request
from .pod_subresources import _bool, _container

if TYPE_CHECKING:
    from .server import APIServer, Call

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255
STDIN_WAIT = 30.0  # seconds an exec with stdin waits for the client to close it (v5) before running without the rest
IDLE = 3600.0  # seconds an interactive session may stay silent (upstream's streaming idle timeout is 4 h)
FOLLOW_POLL = 1.0  # real seconds between an attach's checks that its pod is still there
MAX_STDIN = 1 << 20  # bytes of stdin kept: virsh's commands are lines, and a client streaming more only fills memory


def register(api: APIServer, fleet: Fleet) -> None:
    api.subresource_streams[("/pods", "exec")] = lambda call: exec_in_pod(api, fleet, call)
    api.subresource_streams[("/pods", "attach")] = lambda call: attach_to_pod(api, fleet, call)


def status(code: int) -> dict[str, Any]:
    """The error channel's Status for a command that exited with `code` (kubelet: remotecommand's writeStatus)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str, code: int = 500) -> dict[str, Any]:
    """The error channel's Status for a command the runtime could not start (kubelet: apierrors.NewInternalError of
    the runtime's error, its words also as the one cause)."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": code,
    }


async def _open(api: APIServer, fleet: Fleet, call: Call, command: list[str] | None) -> tuple[web.WebSocketResponse, Any, dict[str, Any], str]:
    """kube-apiserver's and the kubelet's checks, then the upgrade: (the WebSocket, the container's runtime, the pod,
    the container). `command` None: an attach, which has none."""
    q = call.request.query
    stdin, stdout, stderr = (_bool(q, k) for k in ("stdin", "stdout", "stderr"))
    if command is not None and not command:
        raise bad_request("you must specify at least 1 command")
    if not (stdin or stdout or stderr):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    pod = api.service.get(call.rt, call.namespace, call.name)
    container = _container(pod, q.get("container"))
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {call.name} does not have a host assigned")
    try:  # the node's refusals come before the upgrade, as the kubelet's
        runner = fleet.exec_runner(pod, container)
    except ExecError as exc:
        raise APIError(exc.code, str(exc)) from exc
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
    if not ws.can_prepare(call.request).ok:
        if call.request.method == "POST" and call.request.headers.get("Upgrade"):
            # kubectl's fallback when the WebSocket was refused: the checks above gave it the same answer; past them,
            # the stream it asks for is SPDY, which this server does not speak
            raise bad_request(f"SPDY streams are not served: {call.subresource} is streamed over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io)")
        raise bad_request("Upgrade request required")
    await ws.prepare(call.request)
    return ws, runner, pod, container


async def attach_to_pod(api: APIServer, fleet: Fleet, call: Call) -> web.StreamResponse:
    """`kubectl attach`: the container's output from now on — what the simulator's components write to it (pod_logs:
    a virt-launcher's domain events, a virt-handler's heartbeats) — until the pod is deleted or replaced, or the
    client leaves. Keystrokes on stdin go nowhere: the simulated processes read none."""
    ws, _runner, pod, container = await _open(api, fleet, call, None)
    namespace, name, uid = call.namespace, call.name, pod["metadata"]["uid"]
    logs = fleet.logs
    last = max((e[0] for e in logs.lines(namespace, name, uid, container)), default=0)
    channel = bytes([STDOUT])
    reader = asyncio.ensure_future(_drain(ws))
    try:
        while not reader.done():
            waiter = asyncio.ensure_future(logs.wait(namespace, name, FOLLOW_POLL))
            await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            fresh = logs.lines(namespace, name, uid, container, after=last)
            if fresh:
                last = fresh[-1][0]
                await ws.send_bytes(channel + b"".join(line.encode() + b"\n" for _, _, line in fresh))
            current = api.service.find(call.rt, namespace, name)
            if current is None or current["metadata"]["uid"] != uid:
                await ws.send_bytes(bytes([ERROR]) + json.dumps(status(0)).encode())
                await ws.close()
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        reader.cancel()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and drop) the client's messages until it closes the connection: an attach's end from its side."""
    async for _msg in ws:
        pass


async def exec_in_pod(api: APIServer, fleet: Fleet, call: Call) -> web.StreamResponse:
    q = call.request.query
    command = q.getall("command", [])
    stdin, stdout, stderr, tty = (_bool(q, k) for k in ("stdin", "stdout", "stderr", "tty"))
    ws, runner, _pod, _container_name = await _open(api, fleet, call, command)
    v5 = ws.ws_protocol == PROTOCOLS[0]
    shell = runner.shell(command) if tty and stdin else None
    try:
        if shell is not None:
            await _interact(ws, shell)
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status(0)).encode())
            await ws.close()
            return ws
        data = await _read_stdin(ws, v5) if stdin and v5 else b""
        try:
            code, out, err = runner.run(command, data)
            outcome = status(code)
        except ExecError as exc:
            code, out, err = 1, b"", b""
            outcome = internal_error(str(exc), exc.code)
        if tty:  # one terminal: what the command writes to either goes to stdout, with CR LF line ends
            out, err = (out + err).replace(b"\n", b"\r\n"), b""
        if stdout and out:
            await ws.send_bytes(bytes([STDOUT]) + out)
        if stderr and err:
            await ws.send_bytes(bytes([STDERR]) + err)
        await ws.send_bytes(bytes([ERROR]) + json.dumps(outcome).encode())
        await ws.close()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return ws


async def _interact(ws: web.WebSocketResponse, shell: Any) -> None:
    """A terminal session: the shell's output as it comes, the client's keystrokes fed to it, until it ends or the
    client closes stdin or the connection, or stays silent IDLE seconds (resize messages are not keystrokes)."""
    await ws.send_bytes(bytes([STDOUT]) + shell.start())
    try:
        async with asyncio.timeout(IDLE) as deadline:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                channel, payload = msg.data[0], msg.data[1:]
                if channel == CLOSE and payload[:1] == bytes([STDIN]):
                    return
                if channel != STDIN:
                    continue
                deadline.reschedule(asyncio.get_running_loop().time() + IDLE)
                out, ended = shell.feed(payload)
                if out:
                    await ws.send_bytes(bytes([STDOUT]) + out)
                if ended:
                    return
    except TimeoutError:
        pass


async def _read_stdin(ws: web.WebSocketResponse, v5: bool) -> bytes:
    """What the client writes on stdin until it closes that channel (v5's CLOSE signal) or the connection."""
    data = bytearray()
    try:
        async with asyncio.timeout(STDIN_WAIT):
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                channel, payload = msg.data[0], msg.data[1:]
                if channel == STDIN:
                    data += payload[: MAX_STDIN - len(data)]
                elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                    break
    except TimeoutError:
        pass
    return bytes(data)
