# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming a local file to an image's upload URL (HTTP PUT, as `curl -T` does), never reading it whole."""

from __future__ import annotations

import os

from .errors import DVPError
from .transport import Transport, TransportErrors


def upload_file(transport: Transport, url: str, path: str, timeout: float) -> None:
    """PUT the file to url with the API connection's TLS and proxy settings (CA, client certificate,
    verification), without its credentials. The URL is a credential: no message here contains it."""
    if not os.path.isfile(path):
        raise DVPError(f"upload_file: no such file: {path}")
    try:
        answer = transport.put_file(url, path, timeout)
    except TransportErrors as exc:
        raise DVPError(f"upload of {path} failed: {type(exc).__name__}: {exc}") from exc
    if answer.status >= 300:
        text = answer.data.decode("utf-8", "replace")[:500]
        raise DVPError(f"upload of {path} failed: HTTP {answer.status}: {text}")
