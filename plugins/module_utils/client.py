# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every Kubernetes API call of the collection goes through DVPClient: paths, retries with backoff on
429 / 5xx / connection errors, timeouts, watch streams, and API errors turned into one clear message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from .errors import DVPError, api_error_message
from .kinds import Kind

RETRY_STATUSES = (429, 500, 502, 503, 504)
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "deckhouse.virtualization"


def backoff_delays(attempts: int = 5, base: float = 0.2, cap: float = 5.0) -> list[float]:
    """Pauses between tries: 0.2, 0.4, 0.8, 1.6 … capped. Pure, for tests and for Retry-After free servers."""
    return [min(cap, base * 2**i) for i in range(attempts - 1)]


class APIStatusError(DVPError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int, reason: str, body: Any):
        super().__init__(message, status=status, reason=reason)
        self.status = status
        self.reason = reason
        self.body = body


class DVPClient:
    def __init__(self, api_client: Any, request_timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.api = api_client
        self.request_timeout = request_timeout
        self.sleep = sleep

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
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        delays = backoff_delays()
        for attempt in range(len(delays) + 1):
            serialized = self.api.param_serialize(method, path, query_params=query or [], header_params=headers, auth_settings=["BearerToken"])
            url, hdrs = serialized[1], serialized[2]
            try:
                response = self.api.call_api(method, url, header_params=hdrs, body=body, _request_timeout=timeout or self.request_timeout)
            except Exception as exc:  # urllib3 connection / TLS / timeout errors
                if attempt < len(delays) and _transient(exc):
                    self.sleep(delays[attempt])
                    continue
                raise DVPError(f"{what}: cannot reach the Kubernetes API at {self.api.configuration.host}: {exc}") from exc
            if response.status in RETRY_STATUSES and attempt < len(delays):
                retry_after = response.getheader("Retry-After")
                response.read()
                self.sleep(float(retry_after) if retry_after and retry_after.isdigit() else delays[attempt])
                continue
            if stream and response.status < 300:
                return response
            data = response.read()
            if response.status >= 300:
                raise APIStatusError(api_error_message(what, response.status, response.reason, data), response.status, response.reason, data)
            return json.loads(data) if data else None
        raise DVPError(f"{what}: gave up after {len(delays) + 1} tries")  # unreachable: the last try returns or raises

    # -- verbs ---------------------------------------------------------------------------------------------
    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.request("GET", self.path(kind, name, namespace), kind.describe(name, namespace))
        except APIStatusError as err:
            if err.status == 404:
                return None
            raise

    def list(self, kind: Kind, namespace: str | None = None, label_selector: str | None = None, field_selector: str | None = None) -> dict[str, Any]:
        query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
        return self.request("GET", self.path(kind, None, namespace), f"{kind.kind} list", query)

    def create(self, kind: Kind, body: dict[str, Any], namespace: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        what = kind.describe(body["metadata"].get("name", ""), namespace)
        return self.request("POST", self.path(kind, None, namespace), what, _write_query(dry_run), body)

    def patch(
        self, kind: Kind, name: str, body: Any, namespace: str | None = None, dry_run: bool = False, content_type: str = MERGE, subresource: str | None = None
    ) -> dict[str, Any]:
        return self.request("PATCH", self.path(kind, name, namespace, subresource), kind.describe(name, namespace), _write_query(dry_run), body, content_type)

    def delete(self, kind: Kind, name: str, namespace: str | None = None, dry_run: bool = False, propagation: str = "Background") -> dict[str, Any] | None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            return self.request("DELETE", self.path(kind, name, namespace), kind.describe(name, namespace), [("dryRun", "All")] if dry_run else [], body)
        except APIStatusError as err:
            if err.status == 404:
                return None
            raise

    def watch(self, kind: Kind, name: str, namespace: str | None, resource_version: str, timeout: float) -> Iterator[dict[str, Any]]:
        """Events for one object from resource_version on, until timeout (seconds) or the stream ends."""
        query = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={name}"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(max(1, int(timeout)))),
        ]
        response = self.request("GET", self.path(kind, None, namespace), kind.describe(name, namespace), query, timeout=timeout + 10, stream=True)
        buffer = b""
        try:
            for chunk in response.response.stream(4096, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.response.release_conn()


def _write_query(dry_run: bool) -> list[tuple[str, str]]:
    query = [("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict")]
    if dry_run:
        query.append(("dryRun", "All"))
    return query


def _transient(exc: Exception) -> bool:
    text = type(exc).__name__ + str(exc)
    return any(word in text for word in ("Connection", "Timeout", "timed out", "Protocol", "RemoteDisconnected", "MaxRetry"))
