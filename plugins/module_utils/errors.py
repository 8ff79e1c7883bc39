# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error type for everything the collection reports. Pure Python."""

from __future__ import annotations

import json
from typing import Any


class DVPError(Exception):
    """A failure with a message fit for the user; `details` go into the module result."""

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


def api_error_message(what: str, status: int | None, reason: str | None, body: Any) -> str:
    """`ClusterVirtualImage ubuntu: Unprocessable Entity (422): <the server's message>`."""
    server = ""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            server = json.loads(body).get("message", "") or body
        except ValueError:
            server = body
    elif isinstance(body, dict):
        server = body.get("message", "")
    head = f"{what}: {reason or 'error'}" + (f" ({status})" if status else "")
    if status == 403 and server:
        if _rbac_denial(server):  # the authorizer's sentence names the user, verb, resource and namespace
            return f"{head}: permission denied: {server} (grant the user a role that allows it; nothing was changed)"
        # admission refused it (a webhook, a quota, a namespace being deleted): no role would help
        return f"{head}: refused: {server} (nothing was changed)"
    return f"{head}: {server}" if server else head


def _rbac_denial(message: str) -> bool:
    """Whether a 403's message is the authorizer's (`… is forbidden: User "u" cannot list resource "nodes" …`),
    not an admission plugin's (`admission webhook "…" denied the request: …`, `exceeded quota: …`), which share the
    status code (upstream: apiserver's endpoints/handlers/responsewriters ForbiddenStatusError vs admission errors)."""
    return 'is forbidden: User "' in message and '" cannot ' in message


class StreamBroken(DVPError):
    """A watch stream ended abnormally (connection reset, server restart, truncated chunk).

    The client raises it from a watch iterator; waiters resume from the last resourceVersion they saw."""


def status_body(body: Any) -> dict[str, Any] | None:
    """An error answer's body (bytes, text or already a mapping) as the Status mapping it holds; None when it is none."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body if isinstance(body, dict) else None
