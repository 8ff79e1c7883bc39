# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every Kubernetes API call of the collection goes through DVPClient: paths, retries with backoff on
429 / 5xx / connection errors within the caller's time budget, timeouts, watch streams, and API errors turned
into one clear message. The wire is plugins/module_utils/transport.py's Transport."""

from __future__ import annotations

import json
import os
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from .errors import DVPError, StreamBroken, api_error_message
from .kinds import POD, VIRTUAL_MACHINE_OPERATION, Kind
from .transport import Transport, TransportErrors
from .vocabulary import CREATE_REQUEST_ANNOTATION as CREATE_REQUEST
from .vocabulary import EVICTION, EVICTION_SUBRESOURCE, POLICY_GROUP, POLICY_VERSION

RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_CAP = 10.0  # seconds: a server asking for longer is not waited on longer than this per try
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "deckhouse.virtualization"
UNKNOWN_OUTCOME = (500, 502, 504)  # the server may have carried the write out (429 and 503: it did not)


def backoff_delays(attempts: int = 5, base: float = 0.2, cap: float = 5.0) -> list[float]:
    """Pauses between tries: 0.2, 0.4, 0.8, 1.6 … capped. Pure, for tests and for Retry-After free servers."""
    return [min(cap, base * 2**i) for i in range(attempts - 1)]


def conflict_is_retriable(status: int, data: Any) -> bool:
    """A 409 that asks the client to re-read and try again ("the object has been modified"): reason Conflict,
    neither AlreadyExists nor a server-side apply FieldManagerConflict (those need a decision, not a retry)."""
    if status != 409:
        return False
    try:
        body = json.loads(data) if isinstance(data, (bytes, bytearray, str)) else data
    except ValueError:
        return False
    if not isinstance(body, dict) or body.get("reason") != "Conflict":
        return False
    causes = (body.get("details") or {}).get("causes") or []
    return not any(c.get("reason") == "FieldManagerConflict" for c in causes if isinstance(c, dict))


def retry_pause(retry_after: str | None, backoff: float) -> float:
    """The pause before the next try: the server's Retry-After (delta-seconds) capped at RETRY_AFTER_CAP,
    else the backoff. An HTTP-date Retry-After counts as absent."""
    if retry_after and retry_after.strip().isdigit():
        return min(RETRY_AFTER_CAP, float(retry_after.strip()))
    return backoff


class APIStatusError(DVPError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int, reason: str, body: Any):
        super().__init__(message, status=status, reason=reason)
        self.status = status
        self.reason = reason
        self.body = body


class DVPClient:
    """Requests through one Transport (`api`). `deadline` (a `clock()` time, e.g. the task's start plus its
    wait_timeout) bounds the whole retry budget: no pause between tries ends after it; a try that would
    have to wait past it is not made, and the last answer or error is reported instead."""

    def __init__(
        self,
        transport: Transport,
        request_timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        reads: Any = None,
    ):
        self.api = transport
        # A batch's shared reads (batch.SharedReads): `get` asks it first; None: every get is a request.
        self.reads = reads
        # DVP_REQUEST_TIMEOUT (seconds) overrides the 30 s default per request, as kubectl's --request-timeout.
        self.request_timeout = request_timeout or _env_seconds("DVP_REQUEST_TIMEOUT", 30.0)
        self.sleep = sleep
        self.deadline = deadline
        self.clock = clock

    # -- paths ---------------------------------------------------------------------------------------------
    @staticmethod
    def path(kind: Kind, name: str | None = None, namespace: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{kind.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base

    # -- transport -----------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        what: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        stream: bool = False,
        retry: tuple[int, ...] = RETRY_STATUSES,
        resolve: Callable[[], Any] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one), or with stream=True the open transport Stream of a
        2xx answer. APIStatusError for an error status, DVPError when the server cannot be reached; both
        after the retries that `retry` statuses (429 and 5xx unless told) and connection errors get within the budget.
        A 409 Conflict ("modified, try again") is retried for unconditional writes: merge patches and deletes.
        `resolve` (for non-idempotent writes) is asked, before a retry that follows a try of unknown outcome and
        on a later 409, for what that try did: an answer other than None is returned as the request's."""
        target = path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        payload = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        delays = backoff_delays()
        unknown = False  # an earlier try may have been carried out
        for attempt in range(len(delays) + 1):
            last = attempt == len(delays)
            if unknown and resolve is not None:
                done = resolve()
                if done is not None:
                    return done
            try:
                if stream:
                    answer: Any = self.api.stream(method, target, headers, timeout or self.request_timeout)
                else:
                    answer = self.api.request(method, target, headers, payload, timeout or self.request_timeout)
            except DVPError:
                raise
            except TransportErrors as exc:
                message = f"{what}: cannot reach the Kubernetes API at {self.api.display}: {exc}"
                if last or isinstance(exc, ssl.SSLCertVerificationError) or not self._may_wait(delays[attempt]):
                    raise DVPError(message) from exc
                unknown = unknown or method != "GET"
                self.sleep(delays[attempt])
                continue
            if answer.status < 300:
                return answer if stream else (json.loads(answer.data) if answer.data else None)
            data = answer.read() if stream else answer.data
            if answer.status == 409 and unknown and resolve is not None:
                done = resolve()
                if done is not None:
                    return done
            conflict = method == "DELETE" or (method == "PATCH" and content_type == MERGE)
            if (answer.status in retry or (conflict and conflict_is_retriable(answer.status, data))) and not last:
                unknown = unknown or answer.status in UNKNOWN_OUTCOME
                pause = retry_pause(answer.header("Retry-After"), delays[attempt])
                if self._may_wait(pause):
                    self.sleep(pause)
                    continue
            raise APIStatusError(api_error_message(what, answer.status, answer.reason, data), answer.status, answer.reason, data)
        raise AssertionError("unreachable: the last try returns or raises")

    def _may_wait(self, pause: float) -> bool:
        return self.deadline is None or self.clock() + pause <= self.deadline

    # -- verbs ---------------------------------------------------------------------------------------------
    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, None when it does not exist."""
        if self.reads is not None:
            hit, obj = self.reads.get(self, kind, name, namespace)
            if hit:
                return obj
        return self.read(kind, name, namespace)

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as the server holds it now (one GET), None when it does not exist. Without a name (or a
        namespaced kind's namespace) the GET would read a collection: refused, as a defect of the caller."""
        if not name or (kind.namespaced and not namespace):
            raise DVPError(f"{kind.describe(name, namespace)}: cannot be read without a name" + (" and a namespace" if kind.namespaced else ""))
        try:
            return self.request("GET", self.path(kind, name, namespace), kind.describe(name, namespace))
        except APIStatusError as err:
            if err.status == 404:
                return None
            raise

    def list(self, kind: Kind, namespace: str | None = None, label_selector: str | None = None, field_selector: str | None = None) -> dict[str, Any]:
        query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
        return self.request("GET", self.path(kind, None, namespace), f"{kind.kind} list", query)

    def create(self, kind: Kind, body: dict[str, Any], namespace: str | None = None, dry_run: bool = False, what: str | None = None) -> dict[str, Any]:
        """POST an object. It carries a CREATE_REQUEST annotation, so that a retry after a try of unknown outcome
        returns the object that try created (by name, or among the namespace's objects for a generateName)
        rather than creating a second one or failing with AlreadyExists. `what` names the request in errors; by
        default the object, or for a generateName the attempt (the server has not named the object yet)."""
        what = what or creation(kind, body, namespace)
        if dry_run:
            return self.request("POST", self.path(kind, None, namespace), what, _write_query(dry_run), body)
        token = uuid.uuid4().hex
        meta = {**body["metadata"], "annotations": {**(body["metadata"].get("annotations") or {}), CREATE_REQUEST: token}}
        body = {**body, "metadata": meta}

        def resolve() -> dict[str, Any] | None:
            if meta.get("name"):
                candidates = [self.get(kind, meta["name"], namespace)]
            else:
                candidates = self.list(kind, namespace).get("items") or []
            for obj in candidates:
                if obj and ((obj.get("metadata") or {}).get("annotations") or {}).get(CREATE_REQUEST) == token:
                    return obj
            return None

        return self.request("POST", self.path(kind, None, namespace), what, _write_query(dry_run), body, resolve=resolve)

    def patch(
        self, kind: Kind, name: str, body: Any, namespace: str | None = None, dry_run: bool = False, content_type: str = MERGE, subresource: str | None = None
    ) -> dict[str, Any]:
        return self.request("PATCH", self.path(kind, name, namespace, subresource), kind.describe(name, namespace), _write_query(dry_run), body, content_type)

    def delete(self, kind: Kind, name: str, namespace: str | None = None, dry_run: bool = False, propagation: str = "Background") -> dict[str, Any] | None:
        # With a body, kube-apiserver reads DeleteOptions from it alone (query parameters are ignored): dryRun goes here.
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation, **({"dryRun": ["All"]} if dry_run else {})}
        try:
            return self.request("DELETE", self.path(kind, name, namespace), kind.describe(name, namespace), [("dryRun", "All")] if dry_run else [], body)
        except APIStatusError as err:
            if err.status == 404:
                return None
            raise

    def watch(self, kind: Kind, name: str, namespace: str | None, resource_version: str, timeout: float) -> Iterator[dict[str, Any]]:
        """Events for one object from resource_version on, until timeout (seconds) or the server ends the
        stream. A stream that breaks instead (connection reset, server restart, truncated chunk, a garbled
        line) raises StreamBroken carrying the last resourceVersion seen, never a transport exception."""
        return self.watch_list(kind, namespace, resource_version, timeout, field_selector=f"metadata.name={name}", what=kind.describe(name, namespace))

    def watch_list(
        self, kind: Kind, namespace: str | None, resource_version: str, timeout: float,
        field_selector: str | None = None, label_selector: str | None = None, what: str | None = None,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Events for the objects a list with these selectors holds (all namespaces when namespace is None), as
        `watch` does for one object."""
        query = [("watch", "true")]
        query += [(k, val) for k, val in (("fieldSelector", field_selector), ("labelSelector", label_selector)) if val]
        query += [("resourceVersion", resource_version), ("timeoutSeconds", str(max(1, int(timeout))))]
        what = what or f"{kind.kind} watch"
        return self._events(kind, namespace, query, what, timeout)

    def _events(self, kind: Kind, namespace: str | None, query: list[tuple[str, str]], what: str, timeout: float) -> Iterator[dict[str, Any]]:
        seen = dict(query)["resourceVersion"]
        stream = self.request("GET", self.path(kind, None, namespace), what, query, timeout=timeout + 10, stream=True)
        try:
            for line in stream.lines():
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise StreamBroken(f"{what}: the watch stream broke after resourceVersion {seen}: a garbled event", resource_version=seen) from exc
                seen = ((event.get("object") or {}).get("metadata") or {}).get("resourceVersion") or seen
                yield event
        except TransportErrors as exc:  # connection reset, server gone, truncated chunk, read timeout
            raise StreamBroken(f"{what}: the watch stream broke after resourceVersion {seen}: {type(exc).__name__}: {exc}", resource_version=seen) from exc
        finally:
            stream.close()

    def evict(self, name: str, namespace: str, grace_period: int | None = None, dry_run: bool = False) -> dict[str, Any] | None:
        """POST a policy/v1 Eviction for a pod. The answer (a Status) when the pod is evicted; None when the pod is
        gone (404). A 429 (disruption budget, or the platform's evacuation interceptor) is raised at once as an
        APIStatusError, not retried: the caller decides when to ask again."""
        body: dict[str, Any] = {"apiVersion": f"{POLICY_GROUP}/{POLICY_VERSION}", "kind": EVICTION, "metadata": {"name": name, "namespace": namespace}}
        options: dict[str, Any] = {}
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        if dry_run:
            options["dryRun"] = ["All"]
        if options:
            body["deleteOptions"] = options
        path = self.path(POD, name, namespace, EVICTION_SUBRESOURCE)
        try:
            return self.request("POST", path, f"Eviction of Pod {namespace}/{name}", body=body, retry=tuple(s for s in RETRY_STATUSES if s != 429))
        except APIStatusError as err:
            if err.status == 404:
                return None
            raise


def creation(kind: Kind, body: dict[str, Any], namespace: str | None, about: str = "") -> str:
    """`VirtualDisk ns/name`, or for an object named by the server (generateName) the attempt:
    `create VirtualMachineOperation<about> in namespace ns (name generated from 'stop-vm-')`."""
    meta = body.get("metadata") or {}
    if meta.get("name") or not meta.get("generateName"):
        return kind.describe(meta.get("name", ""), namespace)
    where = f" in namespace {namespace}" if kind.namespaced and namespace else ""
    return f"create {kind.kind}{about}{where} (name generated from {meta['generateName']!r})"


def operation_attempt(body: dict[str, Any]) -> str:
    """What creating the VirtualMachineOperation `body` attempts, for the server's refusals (a 403 names no object: the
    server generates its name): `create VirtualMachineOperation Stop of VirtualMachine ns/vm in namespace ns (name
    generated from 'stop-vm-')`. Here, beside `creation`, so that the vm and vm_operation modules share it without
    one loading the other's service."""
    meta, spec = body["metadata"], body["spec"]
    about = f" {spec['type']} of VirtualMachine {meta['namespace']}/{spec['virtualMachineName']}"
    return creation(VIRTUAL_MACHINE_OPERATION, body, meta["namespace"], about)


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _write_query(dry_run: bool) -> list[tuple[str, str]]:
    query = [("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict")]
    if dry_run:
        query.append(("dryRun", "All"))
    return query
