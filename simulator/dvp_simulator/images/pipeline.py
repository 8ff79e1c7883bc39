"""Raw source bytes → the disk file in DVCR.

One `ImageWriter` per import: it checksums the raw bytes, decompresses gz/xz on the fly (detected by magic
bytes, concatenated members/streams included), guards against decompression bombs and writes the result with
all-zero blocks left as holes (`DiskFile`), so a sparse 200 GiB raw image costs what its data costs. The CPU work
of a chunk runs in a worker thread while the caller is already receiving the next chunk; memory use is bounded by
`BATCH`, `OUTPUT_PIECE` and the disk file's `STAGE` buffer, whatever the image size or compression ratio.

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
import fcntl
import lzma
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .checksums import Checksums
from .dvcr import Space
from .errors import ImportFailure

CHUNK = 1024 * 1024  # what sources read at a time
BATCH = 4 * CHUNK  # what one worker-thread hand-off processes
OUTPUT_PIECE = 4 * 1024 * 1024  # the most one decompress call may return
HOLE_BLOCK = 64 * 1024  # granularity of sparse writing: an all-zero block at a multiple of it is a hole
STAGE = 4 * 1024 * 1024  # the disk file's aligned buffer: the most one write to the device covers
ALIGN = 4096  # O_DIRECT: buffer address, file offset and length are multiples of the device's logical block
O_DIRECT = getattr(os, "O_DIRECT", 0)  # Linux's; where there is none, every write is an ordinary one
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


class DiskFile:
    """The image file, written past the page cache (O_DIRECT) where the filesystem allows it, with holes.

    Why direct: an import writes gigabytes once and reads back a header. Through the page cache every byte is a
    copy into pages the kernel must find and zero first (0.25 CPU-s per GiB on this machine, and 2 CPU-s when the
    freed pages have gone back to the hypervisor in the meantime, as they have seconds after the last import),
    then write back; a direct write is the device reading our buffer (~0.07 CPU-s per GiB). Bytes are gathered
    in one page-aligned buffer of STAGE bytes; when it is full, its all-zero HOLE_BLOCKs are left as holes and
    the runs between them written at their offsets. The last bytes (not a whole ALIGN) go through the page cache
    (O_DIRECT switched off on the descriptor). Where O_DIRECT is refused (older tmpfs, some FUSE filesystems:
    EINVAL at open or at the first write), every write is an ordinary one. Used by one thread at a time."""

    def __init__(self, path: Path):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self.fd, self.direct = -1, bool(O_DIRECT)
        if self.direct:
            try:
                self.fd = os.open(path, flags | O_DIRECT, 0o666)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False
        if self.fd < 0:
            self.fd = os.open(path, flags, 0o666)
        self.buffer = mmap.mmap(-1, STAGE)  # anonymous memory is page-aligned, as O_DIRECT wants
        self.view = memoryview(self.buffer)
        self.fill = 0  # bytes in the buffer
        self.offset = 0  # the file offset of the buffer's first byte

    def write(self, data: bytes | memoryview) -> None:
        data = memoryview(data)
        while data:
            n = min(len(data), STAGE - self.fill)
            self.view[self.fill : self.fill + n] = data[:n]
            self.fill += n
            data = data[n:]
            if self.fill == STAGE:
                self._write_runs(0, STAGE)
                self.offset, self.fill = self.offset + STAGE, 0

    def close(self, size: int) -> None:
        """Write what the buffer holds, make the file `size` bytes long (the trailing holes) and close it."""
        try:
            whole = self.fill - self.fill % ALIGN
            self._write_runs(0, whole)
            if whole < self.fill:
                self._buffered()
                self._write_runs(whole, self.fill)
            os.ftruncate(self.fd, size)
        finally:
            self.abandon()

    def abandon(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.view.release()
            try:
                self.buffer.close()
            except BufferError:  # a traceback still holds a view of it: freed with the traceback
                pass

    def _write_runs(self, start: int, end: int) -> None:
        """Write buffer[start:end] at its offset, leaving out its all-zero HOLE_BLOCKs (HOLE_BLOCK-aligned in the
        buffer, so in the file)."""
        run = -1  # where the current run of data blocks began, -1 outside one
        for block in range(start, end, HOLE_BLOCK):
            zero = ZEROS.startswith(self.view[block : min(block + HOLE_BLOCK, end)])
            if zero and run >= 0:
                self._pwrite(run, block)
                run = -1
            elif not zero and run < 0:
                run = block
        if run >= 0:
            self._pwrite(run, end)

    def _pwrite(self, start: int, end: int) -> None:
        while start < end:
            try:
                start += os.pwrite(self.fd, self.view[start:end], self.offset + start)
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self.direct:
                    raise
                self._buffered()  # the filesystem opened the file O_DIRECT but will not write it so

    def _buffered(self) -> None:
        if self.direct:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~O_DIRECT)
            self.direct = False


@dataclass
class Written:
    raw_bytes: int  # as received (compressed)
    size: int  # of the disk file (decompressed)
    compression: str  # "", "gz" or "xz"
    head: bytes


class ImageWriter:
    def __init__(self, path: Path, checksums: Checksums, guard: ExpansionGuard | None = None, space: Space | None = None):
        """`space`: DVCR's volume, which the written bytes are taken from (an image kept in the registry); `taken`
        says how many, for the caller to give back if the image is not kept."""
        self.path = path
        self.checksums = checksums
        self.guard = guard or ExpansionGuard()
        self.space = space
        self.taken = 0
        self.file = DiskFile(path)  # closed by finish() or aclose()
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
        self.file.abandon()

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
            if self.space is not None:
                self.space.take(len(data))
                self.taken += len(data)
            self.file.write(data)
        except OSError as exc:
            raise disk_failure(exc) from exc
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
            self.file.close(self.size)
        except OSError as exc:
            raise disk_failure(exc) from exc


def disk_failure(exc: OSError) -> ImportFailure:
    """The import's failure for an error writing its image (DVCR's volume full: the platform's words)."""
    if exc.errno == errno.ENOSPC:
        return ImportFailure("DVCR is out of space; please contact the cluster administrator")
    return ImportFailure(f"writing the image to DVCR failed: {exc}")
