# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) to the Kubernetes API over the standard library (http.client + ssl): one keep-alive connection,
TLS from a CA file or data, a client certificate, bearer token or basic auth, impersonation headers, and an
HTTP proxy (CONNECT tunnel for https, absolute URLs for http) unless no_proxy matches the host.

Importing this module costs a few milliseconds: the `kubernetes` package is never imported here.
Nothing in this module puts a credential into an error message: errors name the host, never headers or URLs
with their query or path.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import DVPError

TransportErrors = (OSError, http.client.HTTPException)  # what a request can raise; ssl.SSLError is an OSError


@dataclass
class Settings:
    """Where and how to connect. `auth` (when set) returns the Authorization header's value for each request,
    so credentials that expire (exec plugins, in-cluster tokens) are refreshed by whoever made them."""

    server: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    verify: bool = True
    token: str | None = None
    username: str | None = None
    password: str | None = None
    auth: Callable[[], str | None] | None = None
    proxy: str | None = None
    no_proxy: str | None = None
    proxy_headers: dict[str, str] = field(default_factory=dict)
    impersonate_user: str | None = None
    impersonate_groups: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    data: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class Transport:
    """Requests to one API server. `request` reuses keep-alive connections: it takes an idle one (or opens one)
    and gives it back when the answer is read, so requests made one after another share one connection and
    requests made side by side (a batch's worker threads) each have their own. `stream` and `put_file` open their
    own, so a long read never blocks or corrupts a shared one."""

    def __init__(self, settings: Settings):
        self.settings = settings
        url = urlsplit(settings.server)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise DVPError(f"host: not an http(s) URL: {settings.server!r}")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")  # an API server behind a path (Rancher, a gateway)
        self.display = f"{url.scheme}://{url.hostname}:{self.port}{self.prefix}"
        self._tls: ssl.SSLContext | None = None
        # idle keep-alive connections, each with whether it has carried a request (list.pop / append are atomic)
        self._idle: list[tuple[http.client.HTTPConnection, bool]] = []

    # -- requests --------------------------------------------------------------------------------------------
    def request(self, method: str, target: str, headers: dict[str, str], body: bytes | None, timeout: float) -> Answer:
        """Send one request on an idle keep-alive connection (a new one when none is idle) and read the whole
        answer. A reused connection the server has closed while idle is replaced once, transparently (nothing
        was received by then), by a new connection: the other idle ones are likely closed as well."""
        for fresh in (False, True):
            try:
                conn, reused = self._idle.pop() if not fresh else (None, False)
            except IndexError:
                conn, reused = None, False
            if conn is None:
                conn = self._connect(self.scheme, self.host, self.port, timeout)
            try:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                self._send(conn, method, self._target(target), headers, body)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and not fresh:
                    continue
                raise
            except BaseException:
                conn.close()  # the connection's state is unknown now
                raise
            if response.will_close:
                conn.close()
            else:
                self._idle.append((conn, True))
            return Answer(response.status, response.reason, response.headers, data)
        raise AssertionError("unreachable")

    def stream(self, method: str, target: str, headers: dict[str, str], timeout: float) -> Stream:
        """Send a request on a connection of its own and return the open answer for reading line by line."""
        conn = self._connect(self.scheme, self.host, self.port, timeout)
        try:
            self._send(conn, method, self._target(target), headers, None)
            return Stream(conn, conn.getresponse())
        except BaseException:
            conn.close()
            raise

    def put_file(self, url: str, path: str, timeout: float, chunk: int = 256 * 1024) -> Answer:
        """PUT a file, streamed in chunks, to a URL of another endpoint (an upload URL) with this server's TLS
        and proxy settings but without its credentials. The URL is a credential: it appears in no error.

        The chunk stays small enough for the CPU's cache: each is read, then encrypted, then sent, and a 4 MiB chunk is
        read back from memory to be encrypted. 1 GiB to the simulator (alternating with curl -T, which sends 64 KiB at
        a time), Provisioning -> Ready as the server saw it, medians: 4 MiB 1.56 s, 1 MiB 1.31 s, 256 KiB 1.28 s,
        64 KiB 1.36 s, curl 1.28 s."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise DVPError("upload URL: not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        conn = self._connect(parts.scheme, parts.hostname, port, timeout)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if self._proxied(parts.hostname) and parts.scheme == "http":
                target = url
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(os.path.getsize(path))}
            conn.putrequest("PUT", target, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            buffer = bytearray(chunk)  # one buffer for the whole file: a fresh block per read is fresh pages to fault in
            view = memoryview(buffer)
            with open(path, "rb", buffering=0) as handle:
                while size := handle.readinto(buffer):
                    conn.send(view[:size])
            response = conn.getresponse()
            return Answer(response.status, response.reason, response.headers, response.read())
        finally:
            conn.close()

    def close(self) -> None:
        """Close the idle connections (one in use is closed by its request when it fails, or kept when it ends)."""
        while self._idle:
            try:
                conn = self._idle.pop()[0]
            except IndexError:
                break
            conn.close()

    # -- pieces ----------------------------------------------------------------------------------------------
    def _target(self, target: str) -> str:
        target = self.prefix + target
        if self.scheme == "http" and self._proxied(self.host):
            return f"http://{self.host}:{self.port}{target}"  # a plain-HTTP proxy takes the absolute URL
        return target

    def _send(self, conn: http.client.HTTPConnection, method: str, target: str, headers: dict[str, str], body: bytes | None) -> None:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {**headers, **self._auth_headers()}.items():
            conn.putheader(name, value)
        for group in self.settings.impersonate_groups:
            conn.putheader("Impersonate-Group", group)  # one header per group, as client-go sends them
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)

    def _auth_headers(self) -> dict[str, str]:
        s = self.settings
        headers: dict[str, str] = {}
        value = s.auth() if s.auth else (f"Bearer {s.token}" if s.token else None)
        if value:
            headers["Authorization"] = value
        elif s.username is not None and s.password is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{s.username}:{s.password}".encode()).decode()
        if s.impersonate_user:
            headers["Impersonate-User"] = s.impersonate_user
        return headers

    def _connect(self, scheme: str, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
        proxy = self.settings.proxy if self._proxied(host) else None
        tls = self._context() if scheme == "https" else None
        if proxy:
            p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if p.scheme != "http" or not p.hostname:
                raise DVPError(f"proxy: only http:// proxies are supported, not {p.scheme}://")
            headers = dict(self.settings.proxy_headers)
            if p.username is not None:
                creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
                headers.setdefault("Proxy-Authorization", "Basic " + base64.b64encode(creds).decode())
            if tls is None:
                return _ProxyHTTP(p.hostname, p.port or 8080, headers, timeout=timeout)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(p.hostname, p.port or 8080, timeout=timeout, context=tls)
            conn.set_tunnel(host, port, headers=headers)
        elif tls is None:
            return http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
        return conn

    def _proxied(self, host: str) -> bool:
        return bool(self.settings.proxy) and not bypasses_proxy(host, self.settings.no_proxy)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context(self.settings)
        return self._tls


class _ProxyHTTP(http.client.HTTPConnection):
    """Plain HTTP through a proxy: requests carry absolute URLs and the proxy's headers."""

    def __init__(self, host: str, port: int, proxy_headers: dict[str, str], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.proxy_headers = proxy_headers

    def endheaders(self, message_body: Any = None, *, encode_chunked: bool = False) -> None:
        for name, value in self.proxy_headers.items():
            self.putheader(name, value)
        super().endheaders(message_body, encode_chunked=encode_chunked)


class Stream:
    """An open streaming answer on its own connection; `lines()` yields each non-empty line, raw."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self.conn, self.response = conn, response
        self.status, self.reason = response.status, response.reason

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def read(self) -> bytes:
        try:
            return self.response.read()
        finally:
            self.close()

    def lines(self) -> Iterator[bytes]:
        """Non-empty lines until the server ends the answer properly. A cut stream raises IncompleteRead:
        a truncated chunk or a missing last chunk (http.client's read1 raises it; its readline would not),
        bytes after the last newline, or a Content-Length not reached."""
        buffer = b""
        while True:
            data = self.response.read1(65536)
            if not data:
                if buffer.strip() or self.response.length:
                    raise http.client.IncompleteRead(buffer)
                return
            *complete, buffer = (buffer + data).split(b"\n")
            yield from (line for line in complete if line.strip())

    def close(self) -> None:
        self.response.close()
        self.conn.close()


def tls_context(s: Settings) -> ssl.SSLContext:
    """Verification from the CA file or data (else the system's CAs), or none when verify is off; the client
    certificate from files, or from inline data written to 0600 temporary files that are removed at once."""
    if s.verify:
        context = ssl.create_default_context(cafile=s.ca_file, cadata=s.ca_data.decode("ascii", "replace") if s.ca_data else None)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if s.cert_file or s.cert_data:
        with _pem_file(s.cert_data, s.cert_file) as cert, _pem_file(s.key_data, s.key_file) as key:
            try:
                context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise DVPError(
                    f"client_cert / client_key: cannot load the client certificate and key: {exc.__class__.__name__}: {exc.strerror or exc}"
                ) from exc
    return context


class _pem_file:
    """The path of `path`, or of a 0600 temporary file holding `data` for the duration of the block."""

    def __init__(self, data: bytes | None, path: str | None):
        self.data, self.path, self.temp = data, path, None

    def __enter__(self) -> str | None:
        if self.data is None:
            return self.path
        fd, self.temp = tempfile.mkstemp(prefix="dvp-tls-", suffix=".pem")  # mkstemp creates it 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.data)
        return self.temp

    def __exit__(self, *exc: Any) -> None:
        if self.temp:
            os.unlink(self.temp)


def bypasses_proxy(host: str, no_proxy: str | None) -> bool:
    """no_proxy as curl and Go read it: `*`, host names (a leading dot or not: the domain and its
    subdomains), IP addresses and CIDR ranges, comma separated; ports are ignored."""
    if not no_proxy:
        return False
    host = host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False
