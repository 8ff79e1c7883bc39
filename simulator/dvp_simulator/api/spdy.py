"""SPDY/3 framing as Kubernetes' streams speak it (moby/spdystream under client-go's httpstream/spdy): what
`kubectl port-forward` sends — inside a WebSocket (the tunnel of kubectl 1.31+) or after an `Upgrade: SPDY/3.1` — and
what the kubelet answers. Sans-IO: `Session.feed(bytes)` gives the frames read; its writers give the bytes to send.

The wire (draft-mbelshe-httpbis-spdy-00, SPDY/3): a control frame is the bit C=1 with the version 3 (16 bits), its
type (16), flags (8), length (24) and its fields; a data frame is its stream id (31 bits), flags (8), length (24) and
the bytes. Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are a count and name/value pairs with 32-bit lengths,
compressed by one zlib stream per direction for the whole session, with SPDY/3's dictionary and a sync flush after
each block — so every block a peer sends is inflated, even one this side ignores, or the next would not decode.

A hostile peer cannot make the server work without bound: a frame longer than MAX_FRAME, a header block inflating past
MAX_HEADERS, another version, a malformed frame, undecodable compression end the session (ProtocolError)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 0, 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
# RST_STREAM status codes (spdystream's spdy.RstStreamStatus)
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
MAX_FRAME = 1 << 20  # bytes of one frame's payload; port-forward's frames are up to 32 KiB (io.Copy's buffer)
MAX_HEADERS = 64 * 1024  # bytes of one inflated header block; the port-forward streams' are ~60


def _dictionary() -> bytes:
    """SPDY/3's zlib dictionary (the draft's section 2.6.10.1): header names and values, each with its 32-bit length,
    then a run of status codes, reason phrases, dates and media types. zlib checks its Adler-32, so a peer using
    another dictionary fails on the first header block."""
    words = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age allow "
        "authorization cache-control connection content-base content-encoding content-language content-length "
        "content-location content-md5 content-range content-type date etag expect expires from host if-match "
        "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
        "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status"
    ).split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer broke the framing: the session ends (a GOAWAY with PROTOCOL_ERROR, then the connection closes)."""


@dataclass
class Frame:
    """One frame read. `kind` is DATA or a control type; `value` is RST_STREAM's and GOAWAY's status or PING's id."""

    kind: int
    flags: int = 0
    stream: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    value: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Session:
    """One SPDY session's two compression contexts and its read buffer."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    # -- reading ---------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data` (a frame may arrive in pieces, several in one piece)."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes, more than {MAX_FRAME}")
            if len(self._buffer) < 8 + length:
                break
            body = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if not first & 0x80000000:
                frames.append(Frame(DATA, flags, stream=first & 0x7FFFFFFF, data=body))
                continue
            version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
            if version != VERSION:
                raise ProtocolError(f"SPDY version {version} is not spoken here (only {VERSION})")
            frame = self._control(kind, flags, body)
            if frame is not None:
                frames.append(frame)
        return frames

    def _control(self, kind: int, flags: int, body: bytes) -> Frame | None:
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise ProtocolError("SYN_STREAM shorter than its fields")
            stream = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
            headers = self._headers(body[10:])
            if stream == 0:
                raise ProtocolError("SYN_STREAM with stream id 0")
            return Frame(kind, flags, stream, headers)
        if kind in (SYN_REPLY, HEADERS):
            if len(body) < 4:
                raise ProtocolError("header frame shorter than its stream id")
            return Frame(kind, flags, struct.unpack_from(">I", body)[0] & 0x7FFFFFFF, self._headers(body[4:]))
        if kind in (RST_STREAM, GOAWAY):
            if len(body) < 8:
                raise ProtocolError(f"control frame {kind} shorter than its fields")
            stream, status = struct.unpack_from(">II", body)
            return Frame(kind, flags, stream & 0x7FFFFFFF, value=status)
        if kind == PING:
            if len(body) != 4:
                raise ProtocolError("PING of other than 4 bytes")
            return Frame(kind, flags, value=struct.unpack(">I", body)[0])
        return None  # SETTINGS, WINDOW_UPDATE (spdystream does no flow control) and unknown types: ignored, as the draft says

    def _headers(self, block: bytes) -> dict[str, str]:
        """A header block inflated and parsed: names lowercase, a name's several values (NUL-separated) kept whole."""
        try:
            raw = self._inflate.decompress(block, MAX_HEADERS)
        except zlib.error as exc:
            raise ProtocolError(f"header block does not inflate: {exc}") from exc
        if self._inflate.unconsumed_tail:
            raise ProtocolError(f"header block inflates past {MAX_HEADERS} bytes")
        try:
            (count,) = struct.unpack_from(">I", raw)
            at, headers = 4, {}
            for _ in range(count):
                (size,) = struct.unpack_from(">I", raw, at)
                name = raw[at + 4 : at + 4 + size]
                at += 4 + size
                (size,) = struct.unpack_from(">I", raw, at)
                value = raw[at + 4 : at + 4 + size]
                at += 4 + size
                if at > len(raw):
                    raise ProtocolError("header block shorter than its pairs")
                headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        except struct.error as exc:
            raise ProtocolError("header block shorter than its pairs") from exc
        return headers

    # -- writing ---------------------------------------------------------------------------------------------
    def syn_reply(self, stream: int, headers: dict[str, str] | None = None, fin: bool = False) -> bytes:
        return _control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream) + self._block(headers or {}))

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            for text in (name.lower(), value):
                raw += struct.pack(">I", len(text)) + text.encode("latin-1")
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def _control(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def data(stream: int, payload: bytes = b"", fin: bool = False) -> bytes:
    return struct.pack(">II", stream & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload


def rst_stream(stream: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream & 0x7FFFFFFF, status))


def ping(ident: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ident))


def goaway(last_stream: int, status: int) -> bytes:
    """GOAWAY: status 0 OK, 1 PROTOCOL_ERROR, 2 INTERNAL_ERROR."""
    return _control(GOAWAY, 0, struct.pack(">II", last_stream & 0x7FFFFFFF, status))
