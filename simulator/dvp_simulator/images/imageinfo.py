"""Format and virtual size of an imported disk file, as the platform's importer finds them.

`qemu-img info --output=json` names the format; when it says raw, `file -b` output starting with "iso" makes it
an ISO (qemu has no ISO driver). The virtual size of raw and ISO images is their length in bytes.

What "not a disk image" means here. A raw disk has no header, so to qemu every byte sequence is a raw image —
random bytes included, and the platform accepts them as such. Two cases are refused instead, because they are
the mistakes users make, not disks: an empty file, and a text document (`file -b` says HTML, XML, JSON or
"… text"), typically the error or login page a web server returned with status 200. Formats qemu knows but
the platform does not accept (vpc, vhdx, …) and qcow2 images with a backing file (their data is elsewhere;
the backing path could name any file on the host) are refused too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ImportFailure
from .tools import run_tool

ACCEPTED_FORMATS = ("qcow2", "raw", "vmdk", "vdi", "iso")
TEXT_MARKERS = ("HTML", "XML", "JSON", "SGML", "text")


@dataclass
class ImageInfo:
    format: str
    virtual_size: int


async def inspect(path: Path) -> ImageInfo:
    length = path.stat().st_size
    if length == 0:
        raise ImportFailure("the source is empty (0 bytes): not a disk image")
    code, out, err = await run_tool("qemu-img", "info", "--output=json", str(path))
    if code != 0:
        raise ImportFailure(f"not a readable disk image: {err.strip().splitlines()[-1] if err.strip() else 'qemu-img info failed'}")
    info = json.loads(out)
    fmt = info.get("format", "")
    if info.get("backing-filename"):
        raise ImportFailure(f"{fmt} images with a backing file are not accepted (backing file: {info['backing-filename']})")
    if fmt != "raw":
        if fmt not in ACCEPTED_FORMATS:
            raise ImportFailure(f"unsupported image format {fmt!r}: accepted are qcow2, vmdk, vdi, raw and iso")
        return ImageInfo(fmt, int(info["virtual-size"]))
    code, described, _ = await run_tool("file", "-b", str(path))
    described = described.strip()
    if described.lower().startswith("iso"):
        return ImageInfo("iso", length)
    if any(marker in described for marker in TEXT_MARKERS):
        raise ImportFailure(f"the source is not a disk image: it is a text document ({described})")
    return ImageInfo("raw", length)
