"""The HTTP face of the simulator: authentication, routing, content negotiation, LIST/WATCH streaming.
Everything about objects themselves is in service.py."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError

from ..resources import ResourceType
from ..store.store import Entry, Expired, dumps, loads
from ..turn import Turn, after_io
from . import authz, golang, negotiation, objectmeta, openapi_v2, protobuf, scale, tables, typecheck
from . import options as params
from .decoding import MAX_BODY_BYTES, Undecodable, body_error, too_large
from .decoding import decode as decode_body
from .discovery import SERVER_VERSION, SUBRESOURCE_KINDS, Discovery
from .errors import APIError, bad_request, decode_failure, gone, too_large_resource_version
from .patch import APPLY_PATCH_CBOR, APPLY_PATCH_YAML, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, unsupported_patch
from .pod_spec import EPHEMERAL
from .selectors import equality_labels, parse_field_selector, parse_label_selector, selectable_fields
from .service import ObjectService, WriteOptions
from .tables import table

log = logging.getLogger("dvp_simulator.api")


def _refuse_resource_version_on_create(body: Any) -> None:
    """A create whose body carries a resourceVersion fails in kube-apiserver's storage layer (etcd3 store.Create),
    with a 500 and no reason: a manifest read back from a cluster (`kubectl get -o yaml` fed to `kubectl create`)
    fails on a real cluster, so it fails here too. Only a version that parses as one: an unparsable one is ignored
    there (kubernetes#113847), and a dry run never reaches that check."""
    meta = body.get("metadata") if isinstance(body, dict) else None
    text = meta.get("resourceVersion") if isinstance(meta, dict) else None
    if isinstance(text, str) and text.isascii() and text.isdigit() and 0 < int(text) < 2**64:
        raise APIError(500, "resourceVersion should not be set on objects to be created", reason="")


_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\"\\]+")


class _ClientFaultsInOneLine(logging.Filter):
    """aiohttp logs a request its parser refuses (a malformed chunk size, a bad header) or a client gone mid-request
    with a traceback at ERROR; it answered the client (400) or had no one to answer. Such a fault is the client's, as
    kube-apiserver logs it: one WARNING line naming it, no traceback (the server's own errors keep theirs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (HttpProcessingError, ConnectionError)):
            what = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            what = _CREDENTIAL.sub(r"\1 <redacted>", what)[:200]  # the parser may quote the refused header line
            record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}: {what}", ()
            record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.WARNING, "WARNING"
        return True


logging.getLogger("aiohttp.server").addFilter(_ClientFaultsInOneLine())
JSON = "application/json"
BODY_TYPES = (JSON, "application/yaml")  # the serializers that decode an object's body (protobuf is decoded above)
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH_YAML, APPLY_PATCH_CBOR)
DECODE_WARNINGS = web.RequestKey("dvp_decode_warnings", list)  # the body decoder's warnings (duplicate fields)
DEPRECATION = web.RequestKey("dvp_deprecation", str)  # the deprecation warning of the version a request asks for
BOOKMARK_INTERVAL = 30.0  # real seconds between watch bookmarks
# The resourceVersion of what a response shows, when it is one object's (a GET): the response waits for the writes up to
# it to be on disk, not for every later one (see _durable). Without it a response waits for all.
SHOWN_RV = web.RequestKey("dvp_shown_rv", int)
# The representation a resource request's response takes, negotiated from its Accept header (api/negotiation.py), the
# request's Call, and the kind its body decodes into (for the words of a body that does not: decoding.body_error).
MEDIA = web.RequestKey("dvp_media", negotiation.MediaType)
CALL = web.RequestKey("dvp_call", object)
BODY_KIND = web.RequestKey("dvp_body_kind", str)
LIST_CHUNK = 100  # items per write of a long LIST response (see _stream_list)
# A read asking for a resourceVersion the store has not reached (GET or LIST with resourceVersion=N, a watch-list from
# N) waits this long for a write to reach it, then is 504 Timeout "Too large resource version", with a retry after
# RV_TOO_LARGE_RETRY_SECONDS, as kube-apiserver's watch cache (upstream: staging/src/k8s.io/apiserver/pkg/storage/
# cacher/watch_cache.go, blockTimeout and resourceVersionTooHighRetrySeconds; waitUntilFreshLocked).
# the checks each health endpoint reports (a subset of kube-apiserver's; the simulator has no post-start hooks to list)
HEALTH_CHECKS = {
    "healthz": ("ping", "log", "etcd"),
    "livez": ("ping", "log", "etcd"),
    "readyz": ("ping", "log", "etcd", "etcd-readiness", "informer-sync", "shutdown"),
}
RV_WAIT_SECONDS = 3.0
CONTINUE_TOO_OLD = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
RV_TOO_LARGE_RETRY_SECONDS = 1
LIST_TOO_OLD = "The resourceVersion for the provided list is too old."  # upstream: staging/src/k8s.io/apiserver/pkg/storage/etcd3/errors.go
METHOD_NOT_ALLOWED = "the server does not allow this method on the requested resource"
SubresourceHandler = Callable[["Call", Any], Any]
SubresourceGetter = Callable[["Call"], Awaitable[web.StreamResponse]]
ReviewHandler = Callable[[dict[str, Any], web.Request], dict[str, Any]]
PublicHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AggregatedHandler = Callable[[list[str], web.Request], Awaitable[web.StreamResponse]]


def warning_text(text: str) -> str:
    """A warning's text as a quoted string in the Warning header, as Go's strconv.Quote writes it (golang.quote): a
    field name from a hostile body (`{"\\u001f": 1}` is an unknown field) must never put a control character into a
    header."""
    return golang.quote(text)


@dataclass
class Call:
    """A parsed resource request."""

    rt: ResourceType
    version: str
    namespace: str
    name: str | None
    subresource: str | None
    request: web.Request


class APIServer:
    def __init__(self, service: ObjectService, token: str, address: str):
        self.service = service
        self.registry = service.registry
        self.store = service.store
        self.discovery = Discovery(self.registry)
        self.token = token.strip()
        self.gate = authz.Gate(self.token)
        self.address = address
        # POST handlers of custom subresources, e.g. ("/pods", "eviction"); later issues register theirs.
        self.subresource_handlers: dict[tuple[str, str], SubresourceHandler] = {}
        # GET handlers of custom subresources that answer with their own response, e.g. ("/pods", "log").
        self.subresource_getters: dict[tuple[str, str], SubresourceGetter] = {}
        # Upgrade handlers (GET for a WebSocket, POST for SPDY) that answer with their own stream: ("/pods", "exec").
        self.subresource_streams: dict[tuple[str, str], SubresourceGetter] = {}
        # "apis/<group>/<version>/<plural>" → (kind, handler) of create-only review resources, never stored
        # (api/authz.py): the handler gets the posted object and answers it with a status.
        self.review_handlers: dict[str, tuple[str, ReviewHandler]] = {}
        # Path prefix → handler served without the bearer token, because the handler authenticates the request
        # itself (the image upload URLs carry an unguessable token).
        self.public_handlers: dict[str, PublicHandler] = {}
        # Path prefix → handler of the simulator's own admin API (api/admin.py), behind the bearer token.
        self.admin_handlers: dict[str, PublicHandler] = {}
        # (group, version) → handler of a whole group-version served as kube-aggregator serves an extension API
        # server's (api/metrics.py: metrics.k8s.io): it gets the path's parts after /apis/<group>/<version>/.
        self.aggregated: dict[tuple[str, str], AggregatedHandler] = {}
        self.faults: Any = None  # api/faults.py's Faults once registered
        # The writers' turn, shared with the controllers' workers (controllers/runtime.py, Manager.turn): a write
        # runs its admission and store write while holding it, after its body has arrived (a client trickling a body
        # holds nothing). Reads never take it, so a GET or a LIST waits behind at most one writer's slice of the
        # event loop, not behind every busy controller and every concurrent write (APF's idea on one thread); a
        # client's write waits behind at most one worker's slice (turn.py: client writes and workers alternate).
        self.turn = Turn()
        self.app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY_BYTES)
        self.app.on_response_prepare.append(self._before_response)  # one hook, not three: it runs for every response
        self.app.router.add_route("*", "/{tail:.*}", self._route)

    # -- plumbing -----------------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        try:
            for prefix, public in self.public_handlers.items():
                if request.path.startswith(prefix):
                    return await public(request)
            self.gate.check(request)  # 401 / 403: authentication, impersonation, RBAC (api/authz.py, api/rbac.py)
            if self.faults is not None:  # the API fault mode (api/faults.py): before the handler, so it never half-writes
                await self.faults.before(request)
            return self._render(request, await handler(request))
        except APIError as err:
            return self._status_response(request, err)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except web.HTTPException as exc:  # aiohttp's router refusing a request target no route takes (CONNECT host:port,
            # OPTIONS *): a client's error, answered as the Status kube-apiserver's not-found handler writes, not a 500
            if exc.status < 400:
                raise
            message = "the server could not find the requested resource" if exc.status == 404 else exc.reason
            return self._status_response(request, APIError(exc.status, message, details={}))
        except Exception as exc:  # a bug must still reach the client as a Status, and be logged
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            return self._status_response(request, APIError(500, f"Internal error occurred: {exc}"))

    @staticmethod
    def _status_response(request: web.Request, err: APIError) -> web.Response:
        """A Status error, in YAML when the client prefers it, else JSON, as responsewriters.ErrorNegotiated writes it
        (no conversion applies to a Status; when nothing the client accepts fits, JSON anyway)."""
        if negotiation.error_media(request.headers.get("Accept", "")) == negotiation.YAML:
            return web.Response(body=negotiation.to_yaml(err.status()), status=err.code, content_type=negotiation.YAML, headers=err.headers)
        return web.Response(body=dumps(err.status()), status=err.code, content_type=JSON, headers=err.headers)

    def _render(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """A resource response in the representation its request negotiated (MEDIA): the JSON a handler answered with
        turned into PartialObjectMetadata(List) or a Table where it is not one yet (the answer of a write), then into
        YAML. A streamed response (a long LIST, a watch) is written in its final form by its handler."""
        media = request.get(MEDIA)
        if media is None or media.plain or not isinstance(response, web.Response) or response.content_type != JSON or response.status >= 300:
            return response
        obj = loads(response.body)
        if media.convert and isinstance(obj, dict) and obj.get("kind") not in ("Status", negotiation.TABLE, negotiation.PARTIAL, negotiation.PARTIAL_LIST):
            obj = self._convert(request[CALL], media, obj)
        elif media.convert == negotiation.TABLE and isinstance(obj, dict) and obj.get("kind") == negotiation.TABLE:
            obj = negotiation.table_version(obj, media.version)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
        if media.media == negotiation.YAML:
            return web.Response(body=negotiation.to_yaml(obj), status=response.status, content_type=negotiation.YAML, headers=headers)
        return web.Response(body=dumps(obj), status=response.status, content_type=JSON, headers=headers)

    def _convert(self, call: Call, media: negotiation.MediaType, obj: dict[str, Any]) -> dict[str, Any]:
        """An object or list a handler answered with, as the conversion `media` asks for (upstream: staging/src/k8s.io/
        apiserver/pkg/endpoints/handlers/response.go transformResponseObject)."""
        is_list = isinstance(obj.get("items"), list) and str(obj.get("kind", "")).endswith("List")
        meta = obj.get("metadata") or {}
        if media.convert == negotiation.PARTIAL:
            if is_list:
                raise negotiation.wrong_shape(negotiation.PARTIAL, negotiation.go_type(call.rt.group, call.rt.kind, call.rt.is_crd, True))
            return negotiation.partial(meta, media.version)
        if media.convert == negotiation.PARTIAL_LIST:
            if not is_list:
                raise negotiation.wrong_shape(negotiation.PARTIAL_LIST, negotiation.go_type(call.rt.group, call.rt.kind, call.rt.is_crd, False))
            return negotiation.partial_list(meta, [item.get("metadata") or {} for item in obj["items"]], media.version)
        rows = obj["items"] if is_list else [obj]
        list_meta = meta if is_list else {"resourceVersion": meta.get("resourceVersion", "")}
        include = call.request.query.get("includeObject", "Metadata")
        return negotiation.table_version(table(call.rt, call.version, rows, self.service.clock.time(), include, list_meta), media.version)

    @staticmethod
    def _negotiate(call: Call, watch: bool = False) -> negotiation.MediaType:
        """The representation of the response to `call` (406 when the client accepts none the endpoint serves)."""
        return negotiation.negotiate(call.request.headers.get("Accept", ""), custom=call.rt.is_crd, watch=watch)

    async def _before_response(self, request: web.Request, response: web.StreamResponse) -> None:
        """Before any response starts: its writes on disk (_durable), then its warnings — the decoder's, then a
        deprecation's ahead of them all, as upstream adds them."""
        await self._durable(request)
        self._decode_warnings(request, response)
        self._deprecation(request, response)

    async def _durable(self, request: web.Request) -> None:
        """What a response tells was read from the store, so the writes it may show (a client's own, the controllers'
        pending ones) are on disk first; a client never sees what a kill -9 could lose."""
        await self.store.durable(request.get(SHOWN_RV))

    @staticmethod
    def _decode_warnings(request: web.Request, response: web.StreamResponse) -> None:
        """What the body's decoder warned of (duplicate fields) leads the response's warnings, as upstream's decoder
        adds them before admission adds its own."""
        found = request.get(DECODE_WARNINGS)
        if not found:
            return
        value = ", ".join(f"299 - {warning_text(w)}" for w in found)
        current = response.headers.get("Warning")
        response.headers["Warning"] = f"{value}, {current}" if current else value

    @staticmethod
    def _deprecation(request: web.Request, response: web.StreamResponse) -> None:
        """Every response to a request for a deprecated version carries its deprecation warning, as kube-apiserver's
        handler of a deprecated CRD version adds it before serving anything: reads, watches, deletes and refusals
        too (a write's admission adds it to the write's own warnings: not twice)."""
        text = request.get(DEPRECATION)
        if not text:
            return
        value = f"299 - {warning_text(text)}"
        current = response.headers.get("Warning")
        if current is None:
            response.headers["Warning"] = value
        elif value not in current:
            response.headers["Warning"] = f"{value}, {current}"

    @staticmethod
    def _json(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(f"299 - {warning_text(w)}" for w in warnings)
        body = obj if isinstance(obj, bytes) else dumps(obj)
        return web.Response(body=body, status=status, content_type=JSON, headers=headers)

    # -- routing ------------------------------------------------------------------------------------------
    async def _route(self, request: web.Request) -> web.StreamResponse:
        for prefix, admin in self.admin_handlers.items():
            if request.path.startswith(prefix):
                return await admin(request)
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET":
            static = self._static(parts, request.headers.get("Accept", ""), request.query)
            if static is not None:
                return static
        if parts[:1] == ["apis"] and len(parts) >= 4:
            aggregated = self.aggregated.get((parts[1], parts[2]))
            if aggregated is not None:
                return await aggregated(parts[3:], request)
        review = self.review_handlers.get("/".join(parts))
        if review is not None:
            return await self._review(parts, request, *review)
        call = self._parse(parts, request)
        if call is None:
            raise APIError(404, "the server could not find the requested resource", reason="NotFound", details={})
        version = call.rt.versions.get(call.version)
        if version is not None and version.deprecated and version.deprecation_warning:
            request[DEPRECATION] = version.deprecation_warning
        request[CALL] = call
        request[BODY_KIND] = SUBRESOURCE_KINDS[call.subresource][2] if call.subresource in SUBRESOURCE_KINDS else call.rt.kind
        return await self._dispatch(call)

    def _static(self, parts: list[str], accept: str = "", query: Any = None) -> web.Response | None:
        path = "/".join(parts)
        if path == "version":
            return self._json(SERVER_VERSION)
        if parts and parts[0] in HEALTH_CHECKS and len(parts) <= 2:
            return self._health(parts, query or {})
        if path == "api":
            return self._json(self.discovery.api_versions(self.address))
        if path == "apis":
            return self._json(self.discovery.groups())
        if path == "openapi/v3":
            return self._json(self.discovery.openapi_index())
        if path == "openapi/v2":
            if openapi_v2.PROTOBUF in accept:
                return web.Response(body=openapi_v2.encode(SERVER_VERSION["gitVersion"]), content_type=openapi_v2.PROTOBUF_SERVED)
            return self._json(openapi_v2.document(SERVER_VERSION["gitVersion"]))
        if parts[:2] == ["openapi", "v3"]:
            doc = self.discovery.openapi_documents.get("/".join(parts[2:]))
            if doc is None:
                raise APIError(404, "the server could not find the requested resource")
            return self._json(doc)
        if parts[:1] == ["apis"] and len(parts) == 2:
            group = self.discovery.group(parts[1])
            if group is None:
                raise APIError(404, "the server could not find the requested resource")
            return self._json(group)
        if (parts[:1] == ["api"] and len(parts) == 2) or (parts[:1] == ["apis"] and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            listing = self.discovery.resources(group, version)
            if listing is None:
                raise APIError(404, "the server could not find the requested resource")
            return self._json(listing)
        return None

    @staticmethod
    def _health(parts: list[str], query: Any) -> web.Response:
        """/healthz, /livez, /readyz as kube-apiserver's healthz handlers: "ok", one named check ("/readyz/etcd"; an
        unknown one 404), or with ?verbose every check and the verdict; ?exclude=<check> leaves one out (upstream:
        staging/src/k8s.io/apiserver/pkg/server/healthz/healthz.go). A serving simulator passes every check."""
        kind, checks = parts[0], HEALTH_CHECKS[parts[0]]
        if len(parts) == 2:
            if parts[1] not in checks:
                return web.Response(status=404, text="404 page not found\n")
            return web.Response(text="ok")
        if "verbose" not in query:
            return web.Response(text="ok")
        excluded = set(query.getall("exclude", [])) if hasattr(query, "getall") else set()
        lines = [f"[+]{check} ok" if check not in excluded else f"[+]{check} excluded: ok" for check in checks]
        return web.Response(text="\n".join([*lines, f"{kind} check passed"]) + "\n")

    def _parse(self, parts: list[str], request: web.Request) -> Call | None:
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and self.registry.lookup(group, version, rest[2]):
            rt = self.registry.lookup(group, version, rest[2])
            if rt and rt.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = self.registry.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            return None
        if rt.namespaced and not namespace and len(rest) > 1:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            return None
        return Call(rt, version, namespace, name, sub, request)

    async def _dispatch(self, call: Call) -> web.StreamResponse:
        method = call.request.method
        q = call.request.query
        if call.rt.namespaced and not call.namespace and method != "GET":
            self._refuse_across_namespaces(call)
        if method != "GET" or call.name is not None:  # a LIST or a WATCH negotiates once its options are checked
            call.request[MEDIA] = self._negotiate(call)
        if call.name is None:
            if method == "GET":
                if params.query_flag(q, "watch"):
                    return await self._watch(call)
                return await self._list(call)
            if method == "POST":
                self._writable(call)
                body = await self._body(call.request)
                options = self._options(call)
                if not options.dry_run:
                    _refuse_resource_version_on_create(body)
                async with self.turn:
                    result = self.service.create(call.rt, call.namespace, body, options)
                return self._json(result.obj, 201, result.warnings)
            if method == "DELETE":
                self._writable(call)
                options = params.delete_options(await self._body(call.request, optional=True), q, q.getall("dryRun", []))
                async with self.turn:
                    return self._delete_collection(call, options)
            raise APIError(405, "the server does not allow this method on the requested resource", reason="MethodNotAllowed")
        if call.subresource == "scale":
            return await self._scale(call)
        if call.subresource and call.subresource not in ("status", EPHEMERAL):
            streamer = self.subresource_streams.get((call.rt.key, call.subresource))
            if streamer is not None and method in ("GET", "POST"):
                return await streamer(call)
            getter = self.subresource_getters.get((call.rt.key, call.subresource))
            if method == "GET" and getter is not None:
                return await getter(call)
            handler = self.subresource_handlers.get((call.rt.key, call.subresource))
            if method != "POST" or handler is None:
                raise APIError(405, "the server does not allow this method on the requested resource", reason="MethodNotAllowed")
            body = await self._body(call.request)
            if isinstance(body, dict) and call.subresource in SUBRESOURCE_KINDS:
                self._decode_posted(*SUBRESOURCE_KINDS[call.subresource][:3], body)
            body = self._subresource_body(body)
            async with self.turn:
                out = handler(call, body)
            if asyncio.iscoroutine(out):
                out = await out
            return self._json(out, 201)
        if method == "GET":
            if q.get("resourceVersion"):
                # served from the watch cache upstream, so a version it has not reached waits, then is 504 (upstream:
                # staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go Get, WaitUntilFreshAndGet)
                await self._fresh(params.parse_resource_version(q["resourceVersion"]))
            entry = self.service.entry(call.rt, call.namespace, call.name)
            call.request[SHOWN_RV] = entry.rv  # what the response shows: this version, so the writes up to it
            if self._wants_table(call.request):
                obj = self.service.to_version(call.rt, entry.obj, call.version)
                return self._json(
                    table(call.rt, call.version, [obj], self.service.clock.time(), q.get("includeObject", "Metadata"), {"resourceVersion": str(entry.rv)})
                )
            return self._json(self.service.raw_in_version(call.rt, entry, call.version))
        self._writable(call)
        if method == "PUT":
            body = await self._body(call.request)
            async with self.turn:
                result = self.service.update(call.rt, call.namespace, call.name, body, self._options(call))
            return self._json(result.obj, 200, result.warnings)
        if method == "PATCH":
            ctype = call.request.content_type  # checked first, before the object is looked up, as upstream
            if ctype not in PATCH_TYPES or (ctype == STRATEGIC_PATCH and call.rt.is_crd):
                raise unsupported_patch(strategic_ok=not call.rt.is_crd)
            body = await self._body(call.request)
            async with self.turn:
                result = self.service.patch(call.rt, call.namespace, call.name, call.request.content_type, body, self._options(call))
            return self._json(result.obj, 201 if result.created else 200, result.warnings)
        if method == "DELETE" and call.subresource is None:  # status serves GET, PUT and PATCH only: a DELETE there is 405
            options = params.delete_options(await self._body(call.request, optional=True), q, q.getall("dryRun", []))
            async with self.turn:
                result = self.service.delete(call.rt, call.namespace, call.name, options, bool(options["dryRun"]), call.version)
            return self._json(result.obj, 200)
        raise APIError(405, "the server does not allow this method on the requested resource", reason="MethodNotAllowed")

    async def _scale(self, call: Call) -> web.Response:
        """GET, PUT and PATCH of the scale subresource (api/scale.py): the object as an autoscaling/v1 Scale."""
        method = call.request.method
        if method == "GET":
            got = scale.read(self.service, call)
            if self._wants_table(call.request):
                return self._json(tables.scale_table(got, self.service.clock.time(), call.request.query.get("includeObject", "Metadata")))
            return self._json(got)
        if method not in ("PUT", "PATCH"):
            raise APIError(405, "the server does not allow this method on the requested resource", reason="MethodNotAllowed")
        content_type = call.request.content_type if method == "PATCH" else None
        if content_type is not None and content_type not in PATCH_TYPES:
            raise unsupported_patch(strategic_ok=True)
        body = await self._body(call.request)
        if method == "PUT" and isinstance(body, dict):
            self._decode_posted(*SUBRESOURCE_KINDS["scale"][:3], body)
        async with self.turn:
            return self._json(scale.write(self.service, call, body, self._options(call), content_type))

    @staticmethod
    def _refuse_across_namespaces(call: Call) -> None:
        """A write (POST, PUT, PATCH, DELETE) on the all-namespaces path of a namespaced resource (/api/v1/pods): it
        is refused before its body is read or anything admitted, as upstream. kube-apiserver registers only LIST (and
        WATCH) there for its own kinds (upstream: staging/src/k8s.io/apiserver/pkg/endpoints/installer.go, "list or post
        across namespace"), so go-restful answers any other method 405, through the server's service error handler
        (upstream: staging/src/k8s.io/apiserver/pkg/server/handler.go serviceErrorHandler, NewGenericServerResponse).
        A custom resource's handler passes every verb but list and watch without a namespace to its delegate, the
        not-found handler: 404 (upstream: staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/
        customresource_handler.go, possiblyAcrossAllNamespacesVerbs) — a bare "404 page not found" there, which every
        client reads as this Status. A named path (/api/v1/pods/<name>) has no route at all: _parse makes it 404."""
        if call.rt.is_crd:
            raise APIError(404, "the server could not find the requested resource", reason="NotFound", details={})
        raise APIError(405, METHOD_NOT_ALLOWED, reason="MethodNotAllowed", details={})

    async def _fresh(self, rv: int | None) -> None:
        """Wait, up to RV_WAIT_SECONDS, for the store to reach resourceVersion `rv` (None or 0: any will do); 504 when it
        does not. The event loop runs on meanwhile: the write that reaches `rv` wakes the request (Store.wait_for_rv)."""
        if rv and rv > self.store.rv and not await self.store.wait_for_rv(rv, RV_WAIT_SECONDS):
            raise too_large_resource_version(rv, self.store.rv, RV_TOO_LARGE_RETRY_SECONDS)

    async def _review(self, parts: list[str], request: web.Request, kind: str, handler: ReviewHandler) -> web.Response:
        """POST of a review resource: the posted object answered by its handler (201), nothing stored."""
        if request.method != "POST":
            raise APIError(405, "the server does not allow this method on the requested resource", reason="MethodNotAllowed")
        if request.query.getall("dryRun", []) not in ([], ["All"]):
            raise bad_request(f"Invalid dryRun value: {request.query.getall('dryRun', [])}; only All is supported")
        request[BODY_KIND] = kind
        body = await self._body(request)
        if isinstance(body, dict):
            self._decode_posted(parts[1], parts[2], kind, body)
        review = authz.review_response(kind, parts[1], parts[2], body)
        return self._json(handler(review, request), 201)

    def _decode_posted(self, group: str, version: str, kind: str, body: dict[str, Any]) -> None:
        """A posted review's or subresource's body decoded as kube-apiserver decodes it into its Go struct: a value of
        the wrong JSON type is the decoder's 400, before its handler reads it (api/typecheck.py)."""
        schema = self.registry.posted_schema(group, version, kind)
        why = objectmeta.decode_errors(body["metadata"]) if body.get("metadata") is not None else None
        if why is None and schema is not None:
            why = typecheck.go_decode_error(schema, body)
        if why:
            raise decode_failure(kind, version, why)

    def _writable(self, call: Call) -> None:
        if call.rt.read_only:
            raise APIError(405, f"{call.rt.plural} are read-only in this simulator", reason="MethodNotAllowed")

    def _options(self, call: Call) -> WriteOptions:
        request = call.request
        apply = request.method == "PATCH" and request.content_type in (APPLY_PATCH_YAML, APPLY_PATCH_CBOR)
        p = params.write_params(request.query, request.query.getall("dryRun", []), request.method, request.headers.get("User-Agent", ""), apply)
        return WriteOptions(
            version=call.version,
            dry_run=p.dry_run,
            manager=p.manager,
            field_validation=p.field_validation,
            subresource=call.subresource,
            force=p.force,
            request=True,
            user=authz.requester(request),
        )

    @staticmethod
    def _subresource_body(body: Any) -> dict[str, Any]:
        """A subresource's body is an object (an Eviction, a Binding); an Eviction's deleteOptions are checked
        as any DeleteOptions."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        if body.get("deleteOptions") is not None:
            body["deleteOptions"] = params.delete_options(body["deleteOptions"], {}, [])
        return body

    @staticmethod
    async def _body(request: web.Request, optional: bool = False) -> Any:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise too_large()
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large() from None
        except (BadHttpMessage, ConnectionError) as exc:  # a malformed chunk; the client gone before its body ended
            raise bad_request(f"the request body could not be read: {type(exc).__name__}") from None
        ctype = request.content_type if "Content-Type" in request.headers else JSON  # no header: JSON, as kube-apiserver
        if not raw:
            if optional:
                return None
            if not ctype.endswith(("/json", "+json")):  # an empty JSON body is undecodable JSON (below)
                raise bad_request("the request body is empty")
        if ctype == protobuf.CONTENT_TYPE and request.method != "PATCH":
            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise protobuf.http_error(exc) from exc
        # a PATCH's media type is its patch type (checked against PATCH_TYPES before); any other body is an object in
        # one of the serializers' media types, nothing else (a merge patch's type on a POST is 415, as upstream)
        if not ctype.endswith(("/json", "+json", "/yaml", "+yaml")) or (request.method != "PATCH" and ctype not in BODY_TYPES):
            accepted = ", ".join((JSON, "application/yaml", protobuf.CONTENT_TYPE))
            raise APIError(415, f"the body of the request was in an unknown format - accepted media types include: {accepted}")
        # an object's body (not a patch's) is read by the strict decoder: a field named twice is refused under Strict,
        # warned of under Warn (the default), passed over under Ignore; the last value wins (upstream: the serializer's
        # strict mode, sigs.k8s.io/json)
        validation = request.query.get("fieldValidation", "")
        duplicates: list[str] | None = [] if request.method != "PATCH" and validation != "Ignore" and not ctype.endswith("yaml") else None
        try:
            body = decode_body(raw, yaml_body=ctype.endswith("yaml"), duplicates=duplicates)
        except Undecodable as err:
            raise body_error(err, raw, request.method, ctype, request.get(BODY_KIND, ""), validation) from None
        if duplicates:
            found = [f'duplicate field "{path}"' for path in duplicates]
            if validation == "Strict":
                kind, call = request.get(BODY_KIND, ""), request.get(CALL)
                version = call.version if call is not None else ""
                raise decode_failure(kind, version, f'strict decoding error: {", ".join(found)}')
            request[DECODE_WARNINGS] = found
        return body

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        media = request.get(MEDIA)
        return media is not None and media.convert == negotiation.TABLE

    # -- list ---------------------------------------------------------------------------------------------
    def _filter(self, call: Call) -> Callable[[Entry], bool]:
        q = call.request.query
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"), self._selectable_fields(call))
        namespace = call.namespace

        def keep(entry: Entry) -> bool:
            obj = entry.obj
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return labels(obj["metadata"].get("labels") or {}) and fields(obj)

        return keep

    @staticmethod
    def _selectable_fields(call: Call) -> frozenset[str]:
        crd_version = next((v for v in (call.rt.crd or {}).get("spec", {}).get("versions", []) if v.get("name") == call.version), None)
        return selectable_fields(call.rt.group, call.rt.kind, crd_version)

    async def _list(self, call: Call) -> web.StreamResponse:
        q = call.request.query
        options = params.list_params(q, watch=False)
        media = call.request[MEDIA] = self._negotiate(call)  # after the options, as upstream's ListResource
        await self._fresh(options.resource_version)  # NotOlderThan (or no match) and Exact alike wait for a future version
        keep = self._filter(call)
        list_rv = self.store.rv
        match = q.get("resourceVersionMatch")
        # Exact when asked, and (legacy) for a paged LIST at a version other than "0" without a match: kube-apiserver hands
        # that one to etcd at exactly that revision (upstream: staging/src/k8s.io/apiserver/pkg/storage/cacher/
        # delegator.go shouldDelegateList; the API concepts' "resourceVersion, limit" table)
        if options.resource_version and (match == "Exact" or (not match and options.limit)):
            list_rv = self._exact_rv(call, options.resource_version)
        start_after = options.continue_after
        past = None  # a continued LIST's keys written since its token's version, as they were then
        if options.continue_rv is not None:
            list_rv = options.continue_rv
            await self._fresh(list_rv)  # a token's version the store has not reached (forged): wait, then 504, never a 200 from the future
            if (self.store.last_change(call.rt.key) or 0) > list_rv:
                # the next page is of the list the first one was taken from (etcd's read at the token's revision):
                # the window's record of what changed since; 410 when it no longer reaches back
                past = self.store.versions_at(call.rt.key, list_rv)
                if past is None:
                    raise gone(CONTINUE_TOO_OLD)
            elif list_rv < self.store.start_rv:
                raise gone(CONTINUE_TOO_OLD)
        limit = options.limit
        selected: list[Entry] = []
        more = False
        if past is None and not q.get("labelSelector") and not q.get("fieldSelector"):
            # Every key of the collection (or namespace) after the token matches: the page is a slice of the sorted
            # keys, taken in one step (a 10,000-VM LIST once spent ~20 ms here asking each entry whether it matches).
            selected = self.store.page_after(call.rt.key, call.namespace or None, start_after, limit + 1 if limit else None)
            if limit and len(selected) > limit:
                more = True  # one match past the page is enough to know there is a next one
                del selected[limit:]
        else:
            for entry in self._entries_after(call, start_after) if past is None else self._as_of(call, start_after, past):
                if not keep(entry):
                    continue
                if limit and len(selected) >= limit:
                    more = True
                    break
                selected.append(entry)
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if more:
            last = (selected[-1].namespace, selected[-1].name)
            meta["continue"] = params.encode_continue(list_rv, *last)
            if past is None and not q.get("labelSelector") and not q.get("fieldSelector"):
                # as kube-apiserver: only known without selectors (then it is a count of keys, O(log n))
                meta["remainingItemCount"] = self.store.count_after(call.rt.key, call.namespace or None, last)
        if media.convert == negotiation.PARTIAL:  # asked of a list: 406 (upstream: handlers/response.go)
            raise negotiation.wrong_shape(media.convert, negotiation.go_type(call.rt.group, call.rt.kind, call.rt.is_crd, True))
        if media.convert:  # converted here: what _render has left to do is the media type
            call.request[MEDIA] = negotiation.MediaType(media.media)
        if media.convert == negotiation.PARTIAL_LIST:  # the metadata clients' LIST: every item's metadata, managedFields too
            metas = [self.service.to_version(call.rt, e.full(), call.version)["metadata"] for e in selected]
            return self._json(negotiation.partial_list(meta, metas, media.version))
        if media.convert == negotiation.TABLE:
            objs = [self.service.to_version(call.rt, e.obj, call.version) for e in selected]
            listed = table(call.rt, call.version, objs, self.service.clock.time(), q.get("includeObject", "Metadata"), meta)
            return self._json(negotiation.table_version(listed, media.version))
        head = dumps({"kind": call.rt.list_kind or call.rt.kind + "List", "apiVersion": call.rt.api_version(call.version), "metadata": meta})
        if len(selected) > LIST_CHUNK and media.plain:  # YAML is written whole (_render)
            return await self._stream_list(call, head, selected)
        items = b",".join(self.service.raw_in_version(call.rt, e, call.version) for e in selected)
        return self._json(head[:-1] + b',"items":[' + items + b"]}")

    def _exact_rv(self, call: Call, rv: int) -> int:
        """The resourceVersion of a LIST with resourceVersionMatch=Exact at `rv` (not beyond the store's: _fresh waited
        for it): the list as of exactly `rv`. The store keeps only the current objects, so that list is the current one
        only when no object of the resource changed after `rv`, in any namespace and whatever the selectors (one O(1)
        look at the newest event of its watch window: a change elsewhere makes a list that would have been right 410
        too, never the other way round), and `rv` is still within its watch window; else 410 Expired, as
        kube-apiserver for a version etcd has compacted (upstream: staging/src/k8s.io/apiserver/pkg/storage/etcd3/
        errors.go). Current items under an older version after a change would be a silent wrong answer.
        A NotOlderThan LIST (or one without a match) is never here: it gets the current list and version, which are
        not older than any version asked for."""
        if rv < self.store.rv:
            last = self.store.last_change(call.rt.key)
            if rv < self.store.oldest_rv(call.rt.key) or (last is not None and last > rv):
                raise gone(LIST_TOO_OLD)
        return rv

    async def _stream_list(self, call: Call, head: bytes, selected: list[Entry]) -> web.StreamResponse:
        """A long LIST, written LIST_CHUNK items at a time (chunked transfer encoding, as kube-apiserver streams its
        encoder's output). The items were chosen before the first byte, so the list is one consistent snapshot (stored
        entries never change); between chunks the event loop serves others — a 10,000-VM LIST is ~40 MB of JSON to
        encode and encrypt, and written in one piece it held every GET behind it for tens of milliseconds."""
        resp = web.StreamResponse(status=200)
        resp.content_type = JSON
        await resp.prepare(call.request)
        await resp.write(head[:-1] + b',"items":[')
        for start in range(0, len(selected), LIST_CHUNK):
            part = b",".join(self.service.raw_in_version(call.rt, e, call.version) for e in selected[start : start + LIST_CHUNK])
            await resp.write(part if start == 0 else b"," + part)
            await after_io()
        await resp.write(b"]}")
        await resp.write_eof()
        return resp

    def _entries_after(self, call: Call, after: tuple[str, str] | None) -> Iterator[Entry]:
        """The LIST's candidates after the continue key, lazily, in key order: the matches of the rarest
        equality label when the selector has one, else every key after `after` found by bisection."""
        namespace = call.namespace or None
        labels = equality_labels(call.request.query.get("labelSelector"))
        if not labels:
            return self.store.list_after(call.rt.key, namespace, after)
        matches = self.store.select(call.rt.key, namespace, labels)
        start = bisect.bisect_right(matches, after, key=lambda e: (e.namespace, e.name)) if after else 0
        return itertools.islice(matches, start, None)

    def _as_of(self, call: Call, after: tuple[str, str] | None, past: dict[tuple[str, str], Any]) -> Iterator[Any]:
        """The LIST's candidates after `after` as the collection was at a continue token's version: the live entries in
        key order, each key written since replaced by its version then (skipped when it did not exist), merged with
        the keys deleted since (store.versions_at's `past`)."""
        namespace = call.namespace or None
        table = self.store.objects.get(call.rt.key, {})
        gone_since = sorted(
            key for key, entry in past.items()
            if entry is not None and key not in table and (after is None or key > after) and (namespace is None or key[0] == namespace)
        )  # fmt: skip
        i = 0
        for entry in self.store.list_after(call.rt.key, namespace, after):
            key = (entry.namespace, entry.name)
            while i < len(gone_since) and gone_since[i] < key:
                yield past[gone_since[i]]
                i += 1
            then = past[key] if key in past else entry
            if then is not None:
                yield then
        for key in gone_since[i:]:
            yield past[key]

    def _delete_collection(self, call: Call, options: Any) -> web.Response:
        keep = self._filter(call)
        deleted = []
        for entry in self.store.list(call.rt.key, call.namespace or None):
            if keep(entry):
                result = self.service.delete(call.rt, entry.namespace, entry.name, options, bool(options["dryRun"]), call.version)
                deleted.append(result.obj)
        return self._json(
            {"kind": call.rt.list_kind, "apiVersion": call.rt.api_version(call.version), "metadata": {"resourceVersion": str(self.store.rv)}, "items": deleted}
        )

    # -- watch --------------------------------------------------------------------------------------------
    @staticmethod
    async def _error_stream(call: Call, err: APIError) -> web.StreamResponse:
        """A watch refused past its start, as kube-apiserver's errWatcher: the stream opens, then ends with an ERROR
        event carrying the Status (upstream: staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go Watch)."""
        response = web.StreamResponse(headers={"Content-Type": JSON})
        await response.prepare(call.request)
        await response.write(dumps({"type": "ERROR", "object": err.status()}) + b"\n")
        await response.write_eof()
        return response

    async def _watch(self, call: Call) -> web.StreamResponse:
        q = call.request.query
        keep = self._filter(call)
        options = params.list_params(q, watch=True)
        # a watch needs a stream serializer: YAML has none, 406 (upstream: handlers/watch.go serveWatchHandler)
        media = call.request[MEDIA] = self._negotiate(call, watch=True)
        rv_param = q.get("resourceVersion", "")
        # the state first (synthetic ADDED events) when asked, or, unless sendInitialEvents=false says otherwise, from
        # resourceVersion "" or "0" (upstream: the watch semantics of the API concepts, KEP-3157's table)
        send_initial = params.query_flag(q, "sendInitialEvents") if "sendInitialEvents" in q else rv_param in ("", "0")
        wanted = options.resource_version
        if params.query_flag(q, "sendInitialEvents") and wanted and wanted > self.store.rv:
            # A watch-list waits for the store to reach the version its initial events must not be older than, then
            # fails with an ERROR event (upstream: cacher.go waitUntilWatchCacheFreshAndForceAllEvents). A plain watch
            # from a future version does not wait: it opens at once and sends only the events after that version.
            if not await self.store.wait_for_rv(wanted, RV_WAIT_SECONDS):
                return await self._error_stream(call, too_large_resource_version(wanted, self.store.rv, RV_TOO_LARGE_RETRY_SECONDS))
        since = self.store.rv if send_initial or not wanted else wanted
        try:
            watcher = self.store.watch(call.rt.key, since, keep)
        except Expired as exc:
            return await self._error_stream(call, gone(str(exc)))  # 410 Expired, as a compacted etcd
        as_table = self._wants_table(call.request)
        timeout = float(options.timeout or 1800)
        bookmarks = params.query_flag(q, "allowWatchBookmarks")
        response = web.StreamResponse(headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
        await response.prepare(call.request)
        first_table = [True]

        async def send(event_type: str, entry: Entry) -> None:
            if as_table:
                obj = self.service.to_version(call.rt, entry.obj, call.version)
                payload = table(
                    call.rt,
                    call.version,
                    [obj],
                    self.service.clock.time(),
                    q.get("includeObject", "Metadata"),
                    {"resourceVersion": str(entry.rv)},
                    with_columns=first_table[0],
                )
                first_table[0] = False
                body = dumps({"type": event_type, "object": negotiation.table_version(payload, media.version)})
            elif media.convert == negotiation.PARTIAL:  # (a PartialObjectMetadataList fails upstream and sends the object)
                obj = self.service.to_version(call.rt, entry.full(), call.version)
                body = dumps({"type": event_type, "object": negotiation.partial(obj["metadata"], media.version)})
            else:
                body = b'{"type":"' + event_type.encode() + b'","object":' + self.service.raw_in_version(call.rt, entry, call.version) + b"}"
            await self.store.durable(entry.rv)  # the event may be a controller's pending write (see _durable)
            await response.write(body + b"\n")

        async def bookmark(rv: int, initial_end: bool = False) -> None:
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            obj = {"kind": call.rt.kind, "apiVersion": call.rt.api_version(call.version), "metadata": meta}
            if media.convert == negotiation.PARTIAL:
                obj = negotiation.partial(meta, media.version)
            await self.store.durable(rv)  # the resourceVersion may be a pending write's
            await response.write(dumps({"type": "BOOKMARK", "object": obj}) + b"\n")

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            if send_initial:
                for entry in self.store.select(call.rt.key, call.namespace or None, equality_labels(q.get("labelSelector"))):
                    if keep(entry):
                        await send("ADDED", entry)
                if params.query_flag(q, "sendInitialEvents") and bookmarks:
                    await bookmark(since, initial_end=True)
            last_rv = since
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    event = await watcher.next(min(remaining, BOOKMARK_INTERVAL))
                except TimeoutError:
                    if bookmarks and loop.time() < deadline:
                        await bookmark(max(last_rv, self.store.rv))
                    continue
                if event is None:
                    break
                if event.entry.rv <= since:
                    continue  # a watch from a version the store has not reached yet sees only what comes after it
                last_rv = event.entry.rv
                await send(event.type, event.entry)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unwatch(watcher)
        try:
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response

