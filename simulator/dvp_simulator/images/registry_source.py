"""The ContainerImage data source: `skopeo copy` from a TLS registry, then the single file under /disk/.

The image is pulled into a `dir:` layout with uncompressed layers (`--dest-decompress`, whatever the registry
compression), so every layer is a plain tar that can be scanned header by header. Layers apply in order,
whiteouts included; exactly one regular file must remain under `disk/`. The image is refused, naming the layer
and entry, when any entry has an absolute name or a `..` component, or when a symlink or hardlink under
`disk/` points outside `disk/` — a layer like that was made to escape, even though nothing here ever writes an
entry's name to the filesystem (the chosen file's bytes are streamed into DVCR).
"""

from __future__ import annotations

import asyncio
import base64
import json
import posixpath
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from .errors import ImportFailure
from .pipeline import CHUNK
from .tools import run_tool

DISK_DIR = "disk"
OPAQUE_WHITEOUT = ".wh..wh..opq"


def normalize_reference(image: str) -> str:
    """A docker reference with its registry spelled out (`ubuntu` → `docker.io/library/ubuntu`), as docker does."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return image
    return "docker.io/" + (image if rest else "library/" + image)


async def pull(image: str, ca_bundle: str | None, docker_config: bytes | None, workdir: Path) -> list[Path]:
    """Copy the image into workdir/image; return its layer files, bottom first."""
    auth = workdir / "auth.json"
    auth.write_bytes(docker_config or b'{"auths": {}}')
    argv = ["skopeo", "--insecure-policy", "copy", "--quiet", "--retry-times", "2", "--src-tls-verify=true", "--src-authfile", str(auth)]
    if ca_bundle:
        certs = workdir / "certs"
        certs.mkdir()
        (certs / "ca.crt").write_bytes(base64.b64decode(ca_bundle))
        argv += ["--src-cert-dir", str(certs)]
    target = workdir / "image"
    argv += ["--dest-decompress", f"docker://{normalize_reference(image)}", f"dir:{target}"]
    code, _, err = await run_tool(*argv)
    if code != 0:
        lines = err.strip().splitlines()
        raise ImportFailure(f"cannot pull {image}: {lines[-1] if lines else 'skopeo copy failed'}")
    manifest = json.loads((target / "manifest.json").read_text())
    layers = []
    for layer in manifest.get("layers") or []:
        digest = layer["digest"].split(":", 1)[-1]
        path = next((p for p in (target / digest, target / f"{digest}.tar") if p.exists()), None)
        if path is None:
            raise ImportFailure(f"cannot pull {image}: layer {layer['digest']} is missing from the copy")
        layers.append(path)
    return layers


def _checked_name(name: str, where: str) -> str:
    """The entry name without `./`; absolute names and `..` components are refused."""
    if name.startswith("/") or ".." in name.split("/"):
        raise ImportFailure(f"unsafe layer: {where} has the entry {name!r}, which escapes the image root")
    return posixpath.normpath(name) if name not in ("", ".") else "."


def _under_disk(path: str) -> bool:
    return path == DISK_DIR or path.startswith(DISK_DIR + "/")


def _check_link(member: tarfile.TarInfo, name: str, where: str) -> None:
    target = member.linkname
    if member.issym() and not target.startswith("/"):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    else:  # absolute symlinks and hardlinks are relative to the image root
        resolved = posixpath.normpath(target.lstrip("/")) if ".." not in target.split("/") else ".."
    if not _under_disk(resolved):
        kind = "symlink" if member.issym() else "hardlink"
        raise ImportFailure(f"unsafe layer: {where} has the {kind} {name} -> {target}, which points outside /{DISK_DIR}/")


def find_disk(layers: list[Path], image: str) -> tuple[Path, tarfile.TarInfo]:
    """The layer and tar entry of the single regular file under disk/ once every layer is applied."""
    found: dict[str, tuple[Path, tarfile.TarInfo]] = {}
    for index, layer in enumerate(layers, 1):
        where = f"layer {index} of {image}"
        try:
            with tarfile.open(layer, "r:*") as tar:
                for member in tar:
                    name = _checked_name(member.name, where)
                    base, parent = posixpath.basename(name), posixpath.dirname(name)
                    if base == OPAQUE_WHITEOUT:
                        found = {k: v for k, v in found.items() if not k.startswith(parent + "/")}
                        continue
                    if base.startswith(".wh."):
                        gone = posixpath.join(parent, base[4:])
                        found = {k: v for k, v in found.items() if k != gone and not k.startswith(gone + "/")}
                        continue
                    if not _under_disk(name):
                        continue
                    found.pop(name, None)
                    if member.issym() or member.islnk():
                        _check_link(member, name, where)
                    elif member.isreg():
                        found[name] = (layer, member)
                    elif not member.isdir():
                        raise ImportFailure(f"{where}: /{name} is not a regular file")
        except tarfile.TarError as exc:
            raise ImportFailure(f"{where} is not a valid tar archive: {exc}") from exc
    if not found:
        raise ImportFailure(f"{image} has no file under /{DISK_DIR}/")
    if len(found) > 1:
        raise ImportFailure(f"{image} has more than one file under /{DISK_DIR}/: " + ", ".join("/" + k for k in sorted(found)))
    return next(iter(found.values()))


async def stream_disk(layer: Path, member: tarfile.TarInfo, feed: Callable[[bytes], Awaitable[None]], expect_total: Callable[[int | None], None]) -> None:
    """Pass the disk file's bytes to `feed`, reading the layer in a worker thread."""
    loop = asyncio.get_running_loop()
    expect_total(member.size)
    with tarfile.open(layer, "r:*") as tar:
        source = tar.extractfile(member)
        assert source is not None  # find_disk only returns regular files
        while chunk := await loop.run_in_executor(None, source.read, CHUNK):
            await feed(chunk)
