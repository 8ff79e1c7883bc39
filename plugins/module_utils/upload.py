# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming a local file to an image's upload URL (HTTP PUT, as `curl -T` does), never reading it whole."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .errors import DVPError

CHUNK = 4 * 1024 * 1024


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                return
            yield block


def upload_file(api_client: Any, url: str, path: str, timeout: float) -> None:
    """PUT the file to url with the API client's TLS settings (CA, client certificate, verification)."""
    import urllib3

    if not os.path.isfile(path):
        raise DVPError(f"upload_file: no such file: {path}")
    cfg = api_client.configuration
    pool = urllib3.PoolManager(
        cert_reqs="CERT_REQUIRED" if cfg.verify_ssl else "CERT_NONE",
        ca_certs=cfg.ssl_ca_cert,
        cert_file=cfg.cert_file,
        key_file=cfg.key_file,
    )
    size = os.path.getsize(path)
    try:
        response = pool.request(
            "PUT",
            url,
            body=_chunks(path),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            timeout=urllib3.Timeout(connect=30, read=timeout),
            retries=False,
            preload_content=True,
        )
    except urllib3.exceptions.HTTPError as exc:
        raise DVPError(f"upload of {path} failed: {exc}") from exc
    if response.status >= 300:
        text = response.data.decode("utf-8", "replace")[:500]
        raise DVPError(f"upload of {path} failed: HTTP {response.status}: {text}")
