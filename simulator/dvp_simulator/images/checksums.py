"""Checksums of the raw source bytes (before decompression), all computed in one pass over the stream.

md5/sha1/sha256/sha512 come from hashlib. Streebog (GOST R 34.11-2012) is not in hashlib; it comes from the
`gostcrypto` package, a pure-Python implementation (about 0.2 MB/s — much slower than the platform's 17 MB/s,
so it is only computed when the spec asks for it). Its `update` is only correct on whole 64-byte blocks, so
the bytes are handed over in multiples of 64 with the remainder carried to the next call.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gostcrypto import gosthash

from .errors import ImportFailure

HASHLIB = ("md5", "sha1", "sha256", "sha512")
STREEBOG = ("streebog256", "streebog512")
STREEBOG_BLOCK = 64


class _Streebog:
    def __init__(self, name: str):
        self.hash = gosthash.new(name)
        self.carry = b""

    def update(self, data: bytes) -> None:
        data = self.carry + data if self.carry else data
        whole = len(data) - len(data) % STREEBOG_BLOCK
        if whole:
            self.hash.update(data[:whole])
        self.carry = data[whole:]

    def hexdigest(self) -> str:
        if self.carry:
            self.hash.update(self.carry)
            self.carry = b""
        return self.hash.hexdigest()


class Checksums:
    """Hashes for every algorithm named in a spec's `checksum` block; `verify` raises on any mismatch."""

    def __init__(self, expected: dict[str, Any] | None):
        self.expected = {k: str(v).lower() for k, v in (expected or {}).items() if k in HASHLIB + STREEBOG and v}
        self.hashes: dict[str, Any] = {}
        for name in self.expected:
            self.hashes[name] = _Streebog(name) if name in STREEBOG else hashlib.new(name)

    def update(self, data: bytes) -> None:
        for h in self.hashes.values():
            h.update(data)

    def verify(self) -> None:
        wrong = []
        for name, h in self.hashes.items():
            actual = h.hexdigest()
            if actual != self.expected[name]:
                wrong.append(f"{name}: expected {self.expected[name]}, got {actual}")
        if wrong:
            raise ImportFailure("checksum mismatch (" + "; ".join(wrong) + ")")
