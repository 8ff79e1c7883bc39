"""The HTTP data source: a streaming GET, chunk by chunk into the ImageWriter; never the whole file in memory.

The response body is taken as sent (no Content-Encoding decoding): checksums are defined over the bytes
the server holds, and gz/xz files are decompressed by the writer like any other.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Awaitable, Callable

import aiohttp

from .errors import ImportFailure

CONNECT_TIMEOUT = 30.0  # seconds to reach the server
READ_TIMEOUT = 120.0  # seconds a stalled transfer is waited for


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """System roots, plus the spec's caBundle (base64 of PEM) when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        try:
            context.load_verify_locations(cadata=base64.b64decode(ca_bundle).decode())
        except (ValueError, ssl.SSLError) as exc:
            raise ImportFailure(f"caBundle is not a valid PEM certificate bundle: {exc}") from exc
    return context


async def download(
    url: str,
    ca_bundle: str | None,
    feed: Callable[[bytes], Awaitable[None]],
    expect_total: Callable[[int | None], None],
) -> None:
    """GET url and pass its body to `feed`; `expect_total` learns the Content-Length (None when not sent)."""
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    context = tls_context(ca_bundle) if url.startswith("https://") else True  # True: aiohttp's defaults (plain HTTP)
    try:
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            async with session.get(url, ssl=context) as response:
                if response.status != 200:
                    raise ImportFailure(f"the server answered HTTP {response.status} {response.reason or ''} for {url}".replace("  ", " "))
                expect_total(response.content_length)
                received = 0
                async for chunk in response.content.iter_any():  # as received: the writer batches them
                    received += len(chunk)
                    await feed(chunk)
                if response.content_length is not None and received != response.content_length:
                    raise ImportFailure(f"the download of {url} ended after {received} of {response.content_length} bytes")
    except ImportFailure:
        raise
    except aiohttp.ClientConnectorCertificateError as exc:
        raise ImportFailure(f"the TLS certificate of {url} is not trusted: {exc.certificate_error}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise ImportFailure(f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}") from exc
    except aiohttp.ClientPayloadError as exc:
        raise ImportFailure(f"the download of {url} broke off: {exc}") from exc
    except aiohttp.ClientError as exc:
        raise ImportFailure(f"the download of {url} failed: {exc}") from exc
    except TimeoutError as exc:
        raise ImportFailure(f"the download of {url} timed out") from exc
