"""DVCR, the platform's image registry, as folders in the state dir.

An image lives at `<state-dir>/dvcr/<repository>/<uid>/`: `disk.img` (the decompressed disk file, sparse) and
`meta.json` (format and sizes). The repository is `cvi/<name>` for a ClusterVirtualImage (`vi/<ns>/<name>` for a
VirtualImage), so the registry URL `dvcr.d8-virtualization.svc/<repository>:<uid>` maps to one folder. An
import writes into `<uid>.importing/` and renames it into place only when complete, so a crash or a restart
never leaves a half image that looks whole.

Deleting an image object removes its folder at once; on the platform the data stays until DVCR garbage
collection runs, which nothing here can observe differently.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

DVCR_HOST = "dvcr.d8-virtualization.svc"
DISK_FILE = "disk.img"
META_FILE = "meta.json"


@dataclass
class StoredImage:
    format: str  # qcow2, raw, vmdk, vdi or iso
    stored_bytes: int  # size of the disk file kept in DVCR
    unpacked_bytes: int  # virtual size: the smallest disk that can hold the image

    @property
    def cdrom(self) -> bool:
        return self.format.lower() == "iso"


def repository(kind: str, name: str, namespace: str = "") -> str:
    """`cvi/<name>` or `vi/<namespace>/<name>`."""
    return "/".join(p for p in (kind, namespace, name) if p)


def registry_url(repo: str, uid: str) -> str:
    return f"{DVCR_HOST}/{repo}:{uid}"


class DVCR:
    def __init__(self, root: Path):
        self.root = root

    def folder(self, repo: str, uid: str) -> Path:
        return self.root / repo / uid

    def disk(self, repo: str, uid: str) -> Path:
        return self.folder(repo, uid) / DISK_FILE

    def staging(self, repo: str, uid: str) -> Path:
        """A fresh, empty folder for an import in progress (whatever an earlier attempt left is removed)."""
        path = self.root / repo / f"{uid}.importing"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def commit(self, staging: Path, repo: str, uid: str, image: StoredImage) -> None:
        """Publish a complete import: metadata written, then the folder renamed into place atomically."""
        (staging / META_FILE).write_text(json.dumps(asdict(image)))
        final = self.folder(repo, uid)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)

    def lookup(self, repo: str, uid: str) -> StoredImage | None:
        """The stored image, or None when it is missing (never imported, deleted, or its files lost)."""
        folder = self.folder(repo, uid)
        try:
            meta = json.loads((folder / META_FILE).read_text())
        except (OSError, ValueError):
            return None
        if not (folder / DISK_FILE).is_file():
            return None
        return StoredImage(**meta)

    def discard(self, repo: str, uid: str | None = None) -> None:
        """Remove one image (with its unfinished import), or the whole repository when uid is None."""
        if uid is None:
            shutil.rmtree(self.root / repo, ignore_errors=True)
            return
        shutil.rmtree(self.folder(repo, uid), ignore_errors=True)
        shutil.rmtree(self.root / repo / f"{uid}.importing", ignore_errors=True)
