"""`pods/portforward`: `kubectl port-forward` and the kubernetes Python client's `portforward()`, served as
kube-apiserver and the kubelet serve them, in the three ways clients ask:

- a WebSocket whose subprotocol is `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+): a SPDY session tunnelled in the
  WebSocket's binary messages (KEP-4006), which kube-apiserver unwraps for the kubelet;
- `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version: portforward.k8s.io` (kubectl's fallback, older clients): the
  same SPDY session on the connection itself;
- a WebSocket with the channel protocol (`v4.channel.k8s.io`, its base64 form, or none) and the ports in the query
  (the Python client): two channels per port, data and error, each opening with the port as two little-endian bytes.

Over SPDY the client opens, per local connection, an error stream and a data stream (headers `streamtype`, `port`,
`requestid`); the kubelet replies to each, pairs them by request id and connects to the port inside the pod. Here
nothing listens inside a pod — the simulator runs no processes — so the node's runtime refuses (Fleet.port_dialer),
and the kubelet writes that on the error stream and closes both: kubectl reports "an error occurred forwarding …
connection refused", as it does against a real cluster for a port nothing listens on. Malformed streams are reset as
the kubelet resets them (no port, a bad port, an unknown stream type); a stream whose pair does not come within
STREAM_CREATION_TIMEOUT gets the kubelet's timeout message. PINGs are answered; the session ends with the client's
GOAWAY, its close, a protocol error (GOAWAY PROTOCOL_ERROR) or IDLE seconds of silence.

Before the upgrade, kube-apiserver's and the kubelet's checks answer as Status errors: 404 no pod, 400 a pod without
a node or not running, the node unreachable; 400 "Upgrade request required" for a request that is neither upgrade; a
WebSocket of the channel protocol without valid ports in the query. Authorization of a WebSocket's GET needs `create`
on pods/portforward too (authz.Gate)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from ..nodes.fleet import ExecError, Fleet
from . import spdy
from .errors import APIError, bad_request

if TYPE_CHECKING:
    from .server import APIServer, Call

PROTOCOL = "portforward.k8s.io"
TUNNEL = "SPDY/3.1+" + PROTOCOL
CHANNELS, CHANNELS_BASE64 = "v4.channel.k8s.io", "v4.base64.channel.k8s.io"
WEBSOCKET_PROTOCOLS = (TUNNEL, CHANNELS, CHANNELS_BASE64, "channel.k8s.io", "base64.channel.k8s.io")
STREAM_CREATION_TIMEOUT = 30.0  # seconds a stream waits for its pair (the kubelet's streamCreationTimeout)
IDLE = 3600.0  # seconds a session may stay silent (the kubelet's streaming idle timeout is 4 h)
MAX_PENDING = 4 << 20  # bytes of a raw SPDY connection read and not yet handled before it is cut


def register(api: APIServer, fleet: Fleet) -> None:
    api.subresource_streams[("/pods", "portforward")] = lambda call: port_forward(api, fleet, call)


@dataclass
class _Pair:
    port: int
    since: float
    error: int = 0  # stream ids, 0 until that stream comes
    data: int = 0


class Forwarding:
    """The kubelet's side of one SPDY port-forward session (its httpStreamHandler), sans-IO: `receive(bytes)` and
    `expire(now)` give the bytes to send back and whether the session is over."""

    def __init__(self, dial: Callable[[int], str], clock: Callable[[], float] = time.monotonic):
        self.session = spdy.Session()
        self.dial = dial
        self.clock = clock
        self.pairs: dict[str, _Pair] = {}
        self.last_stream = 0

    def receive(self, data: bytes) -> tuple[bytes, bool]:
        try:
            frames = self.session.feed(data)
        except spdy.ProtocolError:
            return spdy.goaway(self.last_stream, 1), True
        out = bytearray()
        for frame in frames:
            if frame.kind == spdy.SYN_STREAM:
                out += self._stream(frame)
            elif frame.kind == spdy.PING:
                out += spdy.ping(frame.value)
            elif frame.kind == spdy.RST_STREAM:
                self._forget(frame.stream)
            elif frame.kind == spdy.GOAWAY:
                return bytes(out), True
            # DATA: what the client writes to a port nothing listens on, dropped; its FIN on the error stream (it
            # writes nothing there) and on the data stream need no answer
        return bytes(out), False

    def _stream(self, frame: spdy.Frame) -> bytes:
        """A new stream: reset when the kubelet would refuse it (httpStreamReceived), else replied to and paired."""
        self.last_stream = max(self.last_stream, frame.stream)
        headers = frame.headers
        port_text, kind = headers.get("port", ""), headers.get("streamtype", "")
        if not port_text or not port_text.isdigit() or not 0 < int(port_text) < 65536 or kind not in ("error", "data"):
            return spdy.rst_stream(frame.stream, spdy.CANCEL)
        out = self.session.syn_reply(frame.stream)
        # a client too old to send a request id pairs a data stream with the error stream created just before it
        request = headers.get("requestid") or str(frame.stream if kind == "error" else frame.stream - 2)
        pair = self.pairs.setdefault(request, _Pair(int(port_text), self.clock()))
        if getattr(pair, kind):
            return out + self._error(pair, f"error processing stream for request {request}: {kind} stream already assigned")
        setattr(pair, kind, frame.stream)
        if pair.error and pair.data:
            del self.pairs[request]
            out += spdy.data(pair.error, self.dial(pair.port).encode())
            out += spdy.data(pair.error, fin=True) + spdy.data(pair.data, fin=True)
        return out

    def _error(self, pair: _Pair, message: str) -> bytes:
        return spdy.data(pair.error, message.encode()) if pair.error else b""

    def _forget(self, stream: int) -> None:
        for request, pair in list(self.pairs.items()):
            if stream in (pair.error, pair.data):
                del self.pairs[request]

    def next_deadline(self) -> float | None:
        return min((p.since + STREAM_CREATION_TIMEOUT for p in self.pairs.values()), default=None)

    def expire(self, now: float) -> bytes:
        """The pairs whose second stream did not come in time: the kubelet's message on the error stream, both closed."""
        out = bytearray()
        for request, pair in list(self.pairs.items()):
            if pair.since + STREAM_CREATION_TIMEOUT <= now:
                del self.pairs[request]
                out += self._error(pair, f"(request={request}) timed out waiting for streams")
                out += b"".join(spdy.data(s, fin=True) for s in (pair.error, pair.data) if s)
        return bytes(out)


async def serve(forwarding: Forwarding, recv: Callable[[], Awaitable[bytes]], send: Callable[[bytes], Awaitable[None]]) -> None:
    """Run one session over a byte transport: `recv()` gives the next bytes (b"" when the client is gone)."""
    while True:
        deadline = forwarding.next_deadline()
        wait = IDLE if deadline is None else max(0.0, min(IDLE, deadline - forwarding.clock()))
        try:
            async with asyncio.timeout(wait):
                data = await recv()
        except TimeoutError:
            if deadline is None:
                return  # idle
            out = forwarding.expire(forwarding.clock())
            if out:
                await send(out)
            continue
        if not data:
            return
        out, done = forwarding.receive(data)
        if out:
            await send(out)
        if done:
            return
        await asyncio.sleep(0)  # a client streaming frames fast does not hold the loop


def _ports(call: Call) -> list[int]:
    """The channel protocol's ports, from the query (`ports=80&ports=443` or `ports=80,443`): the kubelet's checks."""
    texts = [p.strip() for value in call.request.query.getall("ports", []) for p in value.split(",") if p.strip()]
    if not texts:
        raise bad_request('query parameter "port" is required')
    ports = []
    for text in texts:
        if not text.isdigit() or int(text) > 65535:
            raise bad_request(f'unable to parse "{text}" as a port: strconv.ParseUint: parsing "{text}": invalid syntax')
        if int(text) < 1:
            raise bad_request(f'port "{text}" must be > 0')
        ports.append(int(text))
    return ports


async def port_forward(api: APIServer, fleet: Fleet, call: Call) -> web.StreamResponse:
    pod = api.service.get(call.rt, call.namespace, call.name)
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {call.name} does not have a host assigned")
    request = call.request
    ws = web.WebSocketResponse(protocols=WEBSOCKET_PROTOCOLS, autoping=True, max_msg_size=spdy.MAX_FRAME + 16)
    websocket = ws.can_prepare(request)
    spdy_upgrade = request.headers.get("Upgrade", "").lower() == "spdy/3.1"
    if not websocket.ok and not spdy_upgrade:
        raise bad_request("Upgrade request required")
    if spdy_upgrade and PROTOCOL not in [p.strip() for v in request.headers.getall("X-Stream-Protocol-Version", []) for p in v.split(",")]:
        offered = request.headers.getall("X-Stream-Protocol-Version", [])
        raise APIError(403, f"unable to upgrade: unable to negotiate protocol: client supports {offered}, server supports [{PROTOCOL}]", reason="Forbidden")
    ports = _ports(call) if websocket.ok and websocket.protocol != TUNNEL else []
    try:  # the node's refusals come before the upgrade, as the kubelet's
        dial = fleet.port_dialer(pod)
    except ExecError as exc:
        raise APIError(exc.code, str(exc)) from exc
    if not websocket.ok:
        return await _raw_spdy(request, Forwarding(dial))
    await ws.prepare(request)
    try:
        if ws.ws_protocol == TUNNEL:
            await serve(Forwarding(dial), lambda: _binary(ws), ws.send_bytes)
        else:
            await _channels(ws, ports, dial, base64_text=bool(ws.ws_protocol and "base64" in ws.ws_protocol))
        await ws.close()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return ws


async def _binary(ws: web.WebSocketResponse) -> bytes:
    """The tunnel's next bytes: its binary messages are the SPDY byte stream, cut anywhere."""
    while True:
        msg = await ws.receive()
        if msg.type == WSMsgType.BINARY:
            if msg.data:
                return bytes(msg.data)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return b""


async def _channels(ws: web.WebSocketResponse, ports: list[int], dial: Callable[[int], str], base64_text: bool) -> None:
    """The channel protocol (the kubelet's websocket.go): each channel opens with its port, then every port's
    refusal on its error channel, then the connection closes."""

    async def write(channel: int, payload: bytes) -> None:
        if base64_text:
            await ws.send_str(chr(ord("0") + channel) + base64.b64encode(payload).decode())
        else:
            await ws.send_bytes(bytes([channel]) + payload)

    for i, port in enumerate(ports):
        for channel in (2 * i, 2 * i + 1):
            await write(channel, port.to_bytes(2, "little"))
    for i, port in enumerate(ports):
        await write(2 * i + 1, dial(port).encode())


class _Feed:
    """The protocol's parser slot for a raw SPDY connection (aiohttp only switches itself for WebSocket and TCP
    upgrades): the connection's bytes go to a queue."""

    def __init__(self, request: web.BaseRequest) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.pending = 0
        self.transport = request.transport

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.pending += len(data)
        if self.pending > MAX_PENDING and self.transport is not None:
            self.transport.close()  # a client writing faster than anything reads: cut, not buffered without bound
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")

    async def recv(self) -> bytes:
        data = await self.queue.get()
        self.pending -= len(data)
        return data


async def _raw_spdy(request: web.Request, forwarding: Forwarding) -> web.StreamResponse:
    """`Upgrade: SPDY/3.1`: 101, then SPDY on the connection itself (closed after, never kept alive)."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("Connection lost")
    feed = _Feed(request)
    request.protocol.set_parser(feed)  # type: ignore[arg-type]  # before the 101: the client frames only after it
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": PROTOCOL})
    response.force_close()
    await response.prepare(request)

    async def send(data: bytes) -> None:
        if not transport.is_closing():
            transport.write(data)

    try:
        await serve(forwarding, feed.recv, send)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    transport.close()
    return response
