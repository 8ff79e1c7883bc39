"""The pure pieces of the image importer: status formats, checksums, decompression and its bomb guard, the
qcow2/VMDK/VDI header sizes, and the layer rules of container images."""

import asyncio
import errno
import fcntl
import gzip
import hashlib
import io
import lzma
import os
import struct
import tarfile

import pytest
from gostcrypto import gosthash

from dvp_simulator.images import pipeline
from dvp_simulator.images.checksums import Checksums
from dvp_simulator.images.errors import ImportFailure
from dvp_simulator.images.pipeline import ALIGN, HOLE_BLOCK, STAGE, DiskFile, ExpansionGuard, ImageWriter, declared_virtual_size
from dvp_simulator.images.registry_source import find_disk, normalize_reference
from dvp_simulator.images.units import format_percent, humanize_ibytes


def test_sizes_and_progress_are_printed_the_platforms_way():
    assert [humanize_ibytes(n) for n in (0, 9, 512, 1024, 299_800_000, 2 * 1024**3, 2684354560)] == ["0B", "9B", "512B", "1Ki", "285.9Mi", "2Gi", "2.5Gi"]
    assert [format_percent(v) for v in (0, 0.04, 28.2, 99.9, 100)] == ["0%", "0.0%", "28.2%", "99.9%", "100%"]


def test_checksums_in_any_chunking_including_streebog():
    data = bytes(range(256)) * 40 + b"tail"
    expected = {a: hashlib.new(a, data).hexdigest() for a in ("md5", "sha256")}
    expected["streebog256"] = gosthash.new("streebog256", data=data).hexdigest()
    sums = Checksums(expected)
    for start in range(0, len(data), 1000):  # 1000 is not a multiple of Streebog's 64-byte block
        sums.update(data[start : start + 1000])
    sums.verify()
    bad = Checksums({"sha1": "0" * 40})
    bad.update(data)
    with pytest.raises(ImportFailure, match=f"sha1: expected 0{{40}}, got {hashlib.sha1(data).hexdigest()}"):
        bad.verify()


def test_header_declared_sizes():
    qcow2 = b"QFI\xfb" + bytes(20) + struct.pack(">Q", 5 * 1024**3) + bytes(480)
    vmdk = b"KDMV" + bytes(8) + struct.pack("<Q", 2048) + bytes(492)
    vdi = bytes(64) + b"\x7f\x10\xda\xbe" + bytes(300) + struct.pack("<Q", 10 * 1024**2) + bytes(136)
    assert [declared_virtual_size(h) for h in (qcow2, vmdk, vdi, bytes(512))] == [5 * 1024**3, 1024**2, 10 * 1024**2, None]


def test_expansion_guard_rules():
    ExpansionGuard(compressed=True, floor=100, ratio=10).check(raw_in=50, out=500)
    with pytest.raises(ImportFailure, match="decompression bomb"):
        ExpansionGuard(compressed=True, floor=100, ratio=10).check(raw_in=50, out=501)
    ExpansionGuard(compressed=False, floor=100, ratio=10).check(raw_in=1, out=10_000)  # only compressed sources
    with pytest.raises(ImportFailure, match="declares a virtual size of 1000"):
        ExpansionGuard(declared=1000).check(raw_in=1, out=2000 + 64 * 1024**2 + 1)
    with pytest.raises(ImportFailure, match="beyond 10 bytes"):
        ExpansionGuard(max_bytes=10).check(raw_in=1, out=11)


def _write(tmp_path, chunks, checksums=None, guard=None):
    async def run():
        writer = ImageWriter(tmp_path / "disk.img", Checksums(checksums), guard)
        try:
            for chunk in chunks:
                await writer.feed(chunk)
            return await writer.finish()
        except BaseException:
            await writer.aclose()
            raise

    return asyncio.run(run())


def test_writer_decompresses_concatenated_members_and_leaves_holes(tmp_path):
    data = b"x" * 3000 + bytes(3 * 1024 * 1024) + b"y" * 10
    packed = gzip.compress(data[:5000]) + gzip.compress(data[5000:])  # two gzip members
    written = _write(tmp_path, [packed[i : i + 777] for i in range(0, len(packed), 777)], {"sha256": hashlib.sha256(packed).hexdigest()})
    assert (written.compression, written.raw_bytes, written.size) == ("gz", len(packed), len(data))
    assert (tmp_path / "disk.img").read_bytes() == data
    xz = lzma.compress(data)
    assert _write(tmp_path, [xz[:10], xz[10:]]).compression == "xz" and (tmp_path / "disk.img").read_bytes() == data


def test_writer_leaves_zero_runs_as_holes_whatever_the_chunking(tmp_path):
    """Raw data arriving in network-sized chunks (and a decompressed piece bigger than a hole block): the content is
    exact and the zero runs take no disk blocks."""
    MiB = 1024 * 1024
    data = b"a" * 5000 + bytes(8 * MiB) + b"b" * (MiB + 3) + bytes(4 * MiB)
    for size in (256 * 1024, 777, 3 * MiB + 1):
        written = _write(tmp_path, [data[i : i + size] for i in range(0, len(data), size)])
        disk = tmp_path / "disk.img"
        assert (written.compression, written.size) == ("", len(data))
        assert disk.read_bytes() == data
        assert disk.stat().st_blocks * 512 <= 4 * MiB, f"chunks of {size}: {disk.stat().st_blocks * 512} bytes allocated"
    packed = gzip.compress(data)  # decompressed in pieces of up to OUTPUT_PIECE (4 MiB)
    assert _write(tmp_path, [packed]).compression == "gz"
    assert (tmp_path / "disk.img").read_bytes() == data and (tmp_path / "disk.img").stat().st_blocks * 512 <= 4 * MiB


def _disk_image():
    """Data, zero runs that are whole hole blocks and runs that are not, across buffer boundaries, ending
    with data that is not a whole ALIGN and then a zero tail."""
    return (
        b"a" * 5000
        + bytes(STAGE + 3 * HOLE_BLOCK)
        + os.urandom(STAGE + 7)
        + bytes(HOLE_BLOCK - 1)
        + b"b" * (2 * ALIGN + 5)
        + bytes(2 * HOLE_BLOCK + 11)
    )


def _write_disk(path, data, piece):
    disk = DiskFile(path)
    direct = disk.direct
    for start in range(0, len(data), piece):
        disk.write(data[start : start + piece])
    disk.close(len(data))
    return direct


def test_disk_file_writes_past_the_page_cache_with_holes(tmp_path):
    """On a filesystem that takes O_DIRECT (the tests' tmp is ext4 or tmpfs) the file is written so; the content
    is exact for any piece size, and the whole zero blocks take no disk blocks."""
    data = _disk_image()
    probe = DiskFile(tmp_path / "probe")
    assert probe.direct and fcntl.fcntl(probe.fd, fcntl.F_GETFL) & os.O_DIRECT
    probe.close(0)
    for piece in (777, HOLE_BLOCK, 3 * STAGE):
        path = tmp_path / f"disk-{piece}.img"
        assert _write_disk(path, data, piece)
        assert path.read_bytes() == data, piece
        zero_blocks = sum(
            1 for start in range(0, len(data) - len(data) % HOLE_BLOCK, HOLE_BLOCK) if data[start : start + HOLE_BLOCK] == bytes(HOLE_BLOCK)
        )
        assert path.stat().st_blocks * 512 <= len(data) - zero_blocks * HOLE_BLOCK + ALIGN, piece


def test_disk_file_falls_back_to_ordinary_writes_where_o_direct_is_refused(tmp_path, monkeypatch):
    """EINVAL for O_DIRECT at open (an older tmpfs) or only at the first write (some FUSE filesystems): the same
    file, written through the page cache."""
    data = _disk_image()
    real_open, real_pwrite = os.open, os.pwrite

    def open_refusing_direct(path, flags, mode=0o777):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(pipeline.os, "open", open_refusing_direct)
    assert not _write_disk(tmp_path / "a.img", data, HOLE_BLOCK)
    assert (tmp_path / "a.img").read_bytes() == data
    monkeypatch.setattr(pipeline.os, "open", real_open)

    refused = []

    def pwrite_refusing_direct(fd, view, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, view, offset)

    monkeypatch.setattr(pipeline.os, "pwrite", pwrite_refusing_direct)
    assert _write_disk(tmp_path / "b.img", data, 777)
    assert refused == [0] and (tmp_path / "b.img").read_bytes() == data


def test_disk_file_errors_other_than_einval_are_the_callers(tmp_path, monkeypatch):
    def full(fd, view, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline.os, "pwrite", full)
    with pytest.raises(ImportFailure, match="DVCR is out of space"):
        _write(tmp_path, [b"x" * (STAGE + 1)])


def test_writer_refuses_truncated_and_corrupt_and_bombs(tmp_path):
    packed = gzip.compress(b"z" * 100_000)
    with pytest.raises(ImportFailure, match="gz data ends early"):
        _write(tmp_path, [packed[: len(packed) // 2]])
    xz = lzma.compress(bytes(range(256)) * 400)
    with pytest.raises(ImportFailure, match="xz data is corrupt"):
        _write(tmp_path, [xz[:100] + bytes(b ^ 0xFF for b in xz[100:300]) + xz[300:]])
    bomb = lzma.compress(bytes(8 * 1024 * 1024))
    with pytest.raises(ImportFailure, match="decompression bomb"):
        _write(tmp_path, [bomb], guard=ExpansionGuard(floor=1024 * 1024, ratio=100))


def _layer(tmp_path, name, *entries):
    path = tmp_path / name
    with tarfile.open(path, "w") as tar:
        for entry_name, kind, link in entries:
            info = tarfile.TarInfo(entry_name)
            info.type, info.linkname = kind, link
            data = b"disk" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def test_find_disk_applies_layers_and_whiteouts(tmp_path):
    base = _layer(tmp_path, "1", ("disk", D, ""), ("disk/old.img", F, ""), ("etc/passwd", F, ""), ("bin", S, "/usr/bin"))
    top = _layer(tmp_path, "2", ("disk/.wh.old.img", F, ""), ("./disk/new.qcow2", F, ""), ("disk/alias", S, "new.qcow2"))
    layer, member = find_disk([base, top], "img")
    assert (layer, member.name) == (top, "./disk/new.qcow2")
    with pytest.raises(ImportFailure, match="no file under /disk/"):
        find_disk([_layer(tmp_path, "3", ("disk", D, ""))], "img")
    with pytest.raises(ImportFailure, match="more than one file under /disk/: /disk/a, /disk/b"):
        find_disk([_layer(tmp_path, "4", ("disk/a", F, ""), ("disk/b", F, ""))], "img")


@pytest.mark.parametrize(
    "entry, message",
    [
        (("/disk/abs.img", F, ""), "escapes the image root"),
        (("disk/../../etc/x", F, ""), "escapes the image root"),
        (("disk/a.img", S, "/etc/shadow"), "symlink disk/a.img -> /etc/shadow"),
        (("disk/a.img", S, "../../etc/shadow"), "points outside /disk/"),
        (("disk/a.img", H, "etc/shadow"), "hardlink disk/a.img -> etc/shadow"),
        (("disk", S, "/etc"), "symlink disk -> /etc"),
    ],
)
def test_find_disk_refuses_layers_that_escape(tmp_path, entry, message):
    with pytest.raises(ImportFailure, match=message.replace(".", r"\.")):
        find_disk([_layer(tmp_path, "evil", entry)], "img")


def test_image_references_are_normalised_like_docker():
    assert normalize_reference("ubuntu") == "docker.io/library/ubuntu"
    assert normalize_reference("user/img:1") == "docker.io/user/img:1"
    assert normalize_reference("127.0.0.1:5000/a/b@sha256:" + "0" * 64) == "127.0.0.1:5000/a/b@sha256:" + "0" * 64
    assert normalize_reference("localhost/x") == "localhost/x"


def test_the_simulator_keeps_freed_memory_for_the_next_blocks():
    """glibc's mallopt takes both settings (dvp-sim serve calls this first: see cli.keep_freed_memory)."""
    from dvp_simulator.cli import keep_freed_memory

    assert keep_freed_memory() is True
