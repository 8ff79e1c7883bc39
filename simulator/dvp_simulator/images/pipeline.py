"""Raw source bytes → the disk file in DVCR.

One `ImageWriter` per import: it checksums the raw bytes, decompresses gz/xz on the fly (detected by magic
bytes, concatenated members/streams included), guards against decompression bombs and writes the result with
all-zero blocks left as holes, so a sparse 200 GiB raw image costs what its data costs. The CPU work of a chunk
runs in a worker thread while the caller is already receiving the next chunk; memory use is bounded by the
chunk size and `OUTPUT_PIECE`, whatever the image size or compression ratio.

The decompression-bomb rule (`ExpansionGuard`), checked after every decompressed piece:
  1. no image may exceed `MAX_IMAGE_BYTES` (1 TiB) once decompressed;
  2. a compressed source may not expand beyond `EXPANSION_RATIO` (2000) times the compressed bytes received
     so far, once past `EXPANSION_FLOOR` (1 GiB). gzip cannot exceed ~1032:1, so this only stops xz bombs;
  3. a qcow2, VMDK or VDI header declares the disk's virtual size; the file may not grow beyond twice that plus
     64 MiB (room for metadata and internal snapshots). A "qcow2 of 1 MiB" that inflates to gigabytes is a bomb.
"""

from __future__ import annotations

import asyncio
import errno
import lzma
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .checksums import Checksums
from .errors import ImportFailure

CHUNK = 1024 * 1024  # what sources read at a time
BATCH = 4 * CHUNK  # what one worker-thread hand-off processes
OUTPUT_PIECE = 4 * 1024 * 1024  # the most one decompress call may return
HOLE_BLOCK = 1024 * 1024  # granularity of sparse writing
HEAD_BYTES = 64 * 1024  # decompressed head kept for header checks
MAX_IMAGE_BYTES = 1024**4
EXPANSION_RATIO = 2000
EXPANSION_FLOOR = 1024**3
DECLARED_SLACK = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZEROS = bytes(HOLE_BLOCK)


def declared_virtual_size(head: bytes) -> int | None:
    """The virtual size a qcow2, VMDK (sparse) or VDI header claims, or None for formats without one (raw, iso)."""
    if head[:4] == b"QFI\xfb" and len(head) >= 32:
        return struct.unpack(">Q", head[24:32])[0]
    if head[:4] == b"KDMV" and len(head) >= 20:
        return struct.unpack("<Q", head[12:20])[0] * 512
    if head[64:68] == b"\x7f\x10\xda\xbe" and len(head) >= 376:
        return struct.unpack("<Q", head[368:376])[0]
    return None


@dataclass
class ExpansionGuard:
    """The decompression-bomb rule (see the module docstring)."""

    compressed: bool = False
    declared: int | None = None
    max_bytes: int = MAX_IMAGE_BYTES
    ratio: int = EXPANSION_RATIO
    floor: int = EXPANSION_FLOOR

    def check(self, raw_in: int, out: int) -> None:
        if out > self.max_bytes:
            raise ImportFailure(f"the image expands beyond {self.max_bytes} bytes, the most a single image may hold")
        if self.compressed and out > self.floor and out > self.ratio * raw_in:
            raise ImportFailure(
                f"decompression bomb: {raw_in} compressed bytes expanded to more than {out - 1} bytes (limit: {self.ratio}x beyond {self.floor} bytes)"
            )
        if self.declared is not None and out > 2 * self.declared + DECLARED_SLACK:
            raise ImportFailure(
                f"decompression bomb: the image header declares a virtual size of {self.declared} bytes "
                f"but the data grows beyond {2 * self.declared + DECLARED_SLACK} bytes"
            )


class _Decoder:
    """A gz or xz stream, member after member, producing output in pieces of at most OUTPUT_PIECE bytes."""

    def __init__(self, kind: str):
        self.kind = kind
        self.engine = self._new()

    def _new(self):
        return zlib.decompressobj(16 + zlib.MAX_WBITS) if self.kind == "gz" else lzma.LZMADecompressor(lzma.FORMAT_XZ)

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            if self.engine.eof:  # the previous member ended exactly at a chunk boundary
                data = data.lstrip(b"\x00")
                if not data:
                    return
                self.engine = self._new()
            while True:
                out = self.engine.decompress(data, OUTPUT_PIECE)
                if self.kind == "gz":
                    data = self.engine.unconsumed_tail
                    more = bool(data) or len(out) == OUTPUT_PIECE
                else:
                    data = b""
                    more = not self.engine.needs_input and not self.engine.eof
                if out:
                    yield out
                if self.engine.eof:
                    # Another member/stream may follow; zero bytes between or after them are padding.
                    rest = self.engine.unused_data.lstrip(b"\x00")
                    if not rest:
                        return
                    self.engine, data, more = self._new(), rest, True
                if not more:
                    return
        except (zlib.error, lzma.LZMAError) as exc:
            raise ImportFailure(f"the {self.kind} data is corrupt: {exc}") from exc

    @property
    def complete(self) -> bool:
        return self.engine.eof


@dataclass
class Written:
    raw_bytes: int  # as received (compressed)
    size: int  # of the disk file (decompressed)
    compression: str  # "", "gz" or "xz"
    head: bytes


class ImageWriter:
    def __init__(self, path: Path, checksums: Checksums, guard: ExpansionGuard | None = None):
        self.path = path
        self.checksums = checksums
        self.guard = guard or ExpansionGuard()
        self.file = open(path, "wb")  # closed by finish() or aclose()
        self.raw_bytes = 0
        self.size = 0
        self.head = b""
        self.undecided = b""  # first bytes, kept until the compression magic can be read
        self.decided = False
        self.decoder: _Decoder | None = None
        self.pending: asyncio.Future | None = None
        # Network chunks gathered into one hand-off to the worker thread, as they came: joining them on the event
        # loop cost two copies of every byte (half of the loop's time in a 1 GiB import); the worker never copies.
        self.batch: list[bytes] = []
        self.batched = 0

    # -- called on the event loop --------------------------------------------------------------------------
    async def feed(self, chunk: bytes) -> None:
        """Queue a chunk; returns once the previous batch is processed (so one is in flight while the next
        arrives). Chunks are gathered to BATCH bytes first: each hand-off to a thread costs ~0.1 ms."""
        self.batch.append(chunk)
        self.batched += len(chunk)
        if self.batched >= BATCH:
            await self._dispatch()

    async def _dispatch(self) -> None:
        if self.pending is not None:
            await self.pending
        chunks, self.batch, self.batched = self.batch, [], 0
        self.pending = asyncio.get_running_loop().run_in_executor(None, self._process_all, chunks)

    async def finish(self) -> Written:
        """Process what is left, verify the checksums, and close the file."""
        if self.batch:
            await self._dispatch()
        if self.pending is not None:
            await self.pending
            self.pending = None
        await asyncio.get_running_loop().run_in_executor(None, self._finish)
        return Written(self.raw_bytes, self.size, self.decoder.kind if self.decoder else "", self.head)

    async def aclose(self) -> None:
        """Abandon the import: wait for the worker thread to let go of the file, then close it."""
        if self.pending is not None:
            try:
                await self.pending
            except Exception:  # the failure that got us here was reported already
                pass
            self.pending = None
        self.file.close()

    # -- worker thread -------------------------------------------------------------------------------------
    def _process_all(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self._process(chunk)

    def _process(self, chunk: bytes) -> None:
        self.checksums.update(chunk)
        self.raw_bytes += len(chunk)
        if not self.decided:
            self.undecided += chunk
            if len(self.undecided) < len(XZ_MAGIC):
                return
            chunk, self.undecided = self.undecided, b""
            self._decide(chunk)
        self._consume(chunk)

    def _decide(self, start: bytes) -> None:
        self.decided = True
        if start.startswith(GZIP_MAGIC):
            self.decoder = _Decoder("gz")
        elif start.startswith(XZ_MAGIC):
            self.decoder = _Decoder("xz")
        self.guard.compressed = self.decoder is not None

    def _consume(self, chunk: bytes) -> None:
        if self.decoder is None:
            self._emit(chunk)
        else:
            for piece in self.decoder.feed(chunk):
                self._emit(piece)

    def _emit(self, data: bytes) -> None:
        self.guard.check(self.raw_bytes, self.size + len(data))
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
            if self.guard.declared is None and len(self.head) >= 512:
                self.guard.declared = declared_virtual_size(self.head)
        try:
            # Holes at the granularity of what arrives (a network chunk, a decompressed piece), at most HOLE_BLOCK:
            # views, not slices (a slice is a copy), and ZEROS.startswith(block) compares without making a block of
            # zeros. The write of a block releases the GIL; nothing else here holds it for long.
            if len(data) <= HOLE_BLOCK:
                blocks: Iterable[bytes | memoryview] = (data,)
            else:
                view = memoryview(data)
                blocks = (view[start : start + HOLE_BLOCK] for start in range(0, len(data), HOLE_BLOCK))
            for block in blocks:
                if ZEROS.startswith(block):
                    self.file.seek(len(block), 1)
                else:
                    self.file.write(block)
        except OSError as exc:
            raise _disk_failure(exc) from exc
        self.size += len(data)

    def _finish(self) -> None:
        if not self.decided and self.undecided:
            chunk, self.undecided = self.undecided, b""
            self._decide(chunk)
            self._consume(chunk)
        if self.decoder is not None and not self.decoder.complete:
            raise ImportFailure(f"the {self.decoder.kind} data ends early: the file is truncated")
        if self.guard.declared is None:
            self.guard.declared = declared_virtual_size(self.head)
        self.checksums.verify()
        try:
            self.file.truncate(self.size)  # the trailing holes
            self.file.close()
        except OSError as exc:
            raise _disk_failure(exc) from exc


def _disk_failure(exc: OSError) -> ImportFailure:
    if exc.errno == errno.ENOSPC:
        return ImportFailure("DVCR is out of space; please contact the cluster administrator")
    return ImportFailure(f"writing the image to DVCR failed: {exc}")
