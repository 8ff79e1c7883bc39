"""The API fault mode: a fraction of Kubernetes API requests answered with a fault instead of their answer, to
prove that clients retry (`dvp-sim serve --api-faults RATE`, `dvp-sim faults set RATE`, or the admin endpoint).

- `429` TooManyRequests with `Retry-After` (as API Priority and Fairness answers), `500` InternalError, `503`
  ServiceUnavailable, `409` Conflict on writes only ("the object has been modified"), and `delay`: the request
  waits `delay` seconds (by default past the collection's 30 s client timeout), then either gets its normal
  answer or its connection is dropped, unanswered.
- Every fault happens in the middleware, before the handler: a faulted request writes nothing. A delayed request
  whose client has gone away by the end of the delay is not processed either (the API server cancels the request
  of a client that gave up), so a fault never leaves a write behind that its client could not know about.
- Not faulted: the simulator's admin API (/simulator/), the public upload data path, unauthenticated requests.
  Watches get no `delay` (a watch is long by nature).
- Deterministic: one `random.Random(seed)` draws, per request in arrival order, whether to fault and which kind.
- Counted: `GET /simulator/v1/faults` shows the settings, requests seen, and faults injected per kind.

Admin API: `GET /simulator/v1/faults`; `POST /simulator/v1/faults` with `{"rate": 0.1, "kinds": [...], "seed": N,
"delay": S, "retryAfter": S}` (every key but rate optional; rate 0 turns the mode off and resets the counts).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from typing import Any

from aiohttp import web

from ..store.store import dumps
from .errors import APIError, bad_request
from .options import query_flag

KINDS = ("429", "500", "503", "409", "delay")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
PATH = "/simulator/v1/faults"
DEFAULT_DELAY = 35.0  # seconds: past the collection's (and kubectl's usual) 30 s request timeout
DEFAULT_RETRY_AFTER = 1
MAX_DELAY = 600.0


class Faults:
    def __init__(self, rate: float = 0.0, kinds: tuple[str, ...] = KINDS, seed: int | None = None,
                 delay: float = DEFAULT_DELAY, retry_after: int = DEFAULT_RETRY_AFTER):  # fmt: skip
        self.configure(rate, kinds, seed, delay, retry_after)

    def configure(self, rate: float, kinds: tuple[str, ...] = KINDS, seed: int | None = None,
                  delay: float = DEFAULT_DELAY, retry_after: int = DEFAULT_RETRY_AFTER) -> None:  # fmt: skip
        self.rate, self.kinds, self.seed, self.delay, self.retry_after = rate, tuple(kinds), seed, delay, retry_after
        self.random = random.Random(seed)
        self.seen = 0
        self.counts = {kind: 0 for kind in KINDS}
        self.dropped = 0

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "APIFaults",
            "apiVersion": "simulator/v1",
            "rate": self.rate,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "delay": self.delay,
            "retryAfter": self.retry_after,
            "requests": self.seen,
            "injected": dict(self.counts),
            "total": sum(self.counts.values()),
            "dropped": self.dropped,
        }

    # -- the middleware's part ---------------------------------------------------------------------------------
    def draw(self, method: str, watch: bool) -> str | None:
        """The fault for the next request (None: serve it normally); one or two draws per request."""
        if self.rate <= 0:
            return None
        allowed = [k for k in self.kinds if (k != "409" or method in WRITES) and (k != "delay" or not watch)]
        if not allowed:  # the rate is a fraction of the requests a fault can apply to (writes only for 409 alone)
            return None
        self.seen += 1
        if self.random.random() >= self.rate:
            return None
        kind = self.random.choice(allowed)
        self.counts[kind] += 1
        if kind == "delay" and self.random.random() < 0.5:
            return "delay-drop"
        return kind

    async def before(self, request: web.Request) -> None:
        """Raise the fault's APIError, drop the connection, or return (serve normally, maybe after a delay)."""
        if request.path.startswith("/simulator/"):
            return
        watch = query_flag(request.query, "watch")
        kind = self.draw(request.method, watch)
        if kind is None:
            return
        if kind == "429":
            raise APIError(429, "Too many requests, please try again later.", reason="TooManyRequests",
                           details={"retryAfterSeconds": self.retry_after}, headers={"Retry-After": str(self.retry_after)})  # fmt: skip
        if kind == "500":
            raise APIError(500, "Internal error occurred: injected fault (simulator API fault mode)", reason="InternalError")
        if kind == "503":
            raise APIError(503, "the server is currently unable to handle the request (injected fault)", reason="ServiceUnavailable",
                           headers={"Retry-After": str(self.retry_after)})  # fmt: skip
        if kind == "409":
            raise APIError(409, "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
                           reason="Conflict")  # fmt: skip
        await asyncio.sleep(self.delay)
        transport = request.transport
        if kind == "delay-drop" or transport is None or transport.is_closing():
            self.dropped += 1
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError("API fault mode: connection dropped after a delay")  # aiohttp ends it quietly

    # -- admin API -------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        if request.path.rstrip("/") != PATH:
            raise APIError(404, "the server could not find the requested resource", details={})
        if request.method == "POST":
            self.configure(**_settings(await request.read()))
        elif request.method != "GET":
            raise APIError(405, "the server does not allow this method on the requested resource (only GET, POST)", reason="MethodNotAllowed")
        return web.Response(body=dumps(self.describe()), content_type="application/json")


def register(server: Any, rate: float = 0.0, seed: int | None = None) -> Faults:
    """Attach the fault mode to an APIServer: its middleware consults `server.faults`; the admin path is served."""
    faults = Faults(rate, seed=seed)
    server.faults = faults
    server.admin_handlers = {PATH: faults.handle, **server.admin_handlers}  # before the general /simulator/v1/ prefix
    return faults


def _settings(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise bad_request(f"the request body could not be decoded: {exc}") from exc
    if not isinstance(body, dict) or "rate" not in body or set(body) - {"rate", "kinds", "seed", "delay", "retryAfter"}:
        raise bad_request('the request body must be {"rate": R, "kinds": [...], "seed": N, "delay": S, "retryAfter": S} (rate required)')
    out: dict[str, Any] = {"rate": _number(body["rate"], "rate", 0, 1)}
    if body.get("kinds") is not None:
        kinds = body["kinds"]
        if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
            raise bad_request(f"kinds: a non-empty list of {', '.join(KINDS)}")
        out["kinds"] = tuple(dict.fromkeys(kinds))
    if body.get("seed") is not None:
        if isinstance(body["seed"], bool) or not isinstance(body["seed"], int):
            raise bad_request("seed: must be an integer")
        out["seed"] = body["seed"]
    if body.get("delay") is not None:
        out["delay"] = _number(body["delay"], "delay", 0, MAX_DELAY)
    if body.get("retryAfter") is not None:
        out["retry_after"] = int(_number(body["retryAfter"], "retryAfter", 0, 3600))
    return out


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= high:
        raise bad_request(f"{name}: must be a number between {low:g} and {high:g}, not {json.dumps(value)}")
    return float(value)
