"""DVCR, the platform's image registry, as folders in the state dir.

An image lives at `<state-dir>/dvcr/<repository>/<uid>/`: `disk.img` (the decompressed disk file, sparse) and
`meta.json` (format and sizes). The repository is `cvi/<name>` for a ClusterVirtualImage (`vi/<ns>/<name>` for a
VirtualImage), so the registry URL `dvcr.d8-virtualization.svc/<repository>:<uid>` maps to one folder. An
import writes into its own `<uid>.importing.<random>/` and renames it into place only when complete, so a crash,
a restart or a cancelled attempt never leaves a half image that looks whole, nor disturbs the next attempt.

Deleting an image object removes its folder at once; on the platform the data stays until DVCR garbage
collection runs, which nothing here can observe differently.

DVCR's volume (Space): the images kept in the registry — ClusterVirtualImages and VirtualImages stored in DVCR —
take their stored bytes from the capacity of DVCR's claim (d8-virtualization/dvcr, sized by the ModuleConfig's
`dvcr.storage.persistentVolumeClaim.size`; no limit while there is none). An import that would go past it fails as
the platform's importer does when its POST to DVCR meets ENOSPC ("DVCR is out of space"); growing the setting grows
the claim, and the room. What a disk or an image on a claim passes through DVCR here is not counted: on the platform
it lands on its own volume.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

DVCR_HOST = "dvcr.d8-virtualization.svc"
IMAGE_REPOS = ("cvi/", "vi/")  # the repositories of images kept in the registry; the others hold disks' data (uncharged)
DISK_FILE = "disk.img"
META_FILE = "meta.json"


@dataclass(frozen=True)
class StoredImage:
    format: str  # qcow2, raw, vmdk, vdi or iso
    stored_bytes: int  # size of the disk file kept in DVCR
    unpacked_bytes: int  # virtual size: the smallest disk that can hold the image
    charged: int = 0  # bytes it takes from DVCR's volume (Space): an image kept in the registry; 0 for a disk's data

    @property
    def cdrom(self) -> bool:
        return self.format.lower() == "iso"


def repository(kind: str, name: str, namespace: str = "") -> str:
    """`cvi/<name>` or `vi/<namespace>/<name>`."""
    return "/".join(p for p in (kind, namespace, name) if p)


def registry_url(repo: str, uid: str) -> str:
    return f"{DVCR_HOST}/{repo}:{uid}"


class Space:
    """DVCR's volume: the bytes the registry's images take against its capacity. `take` is called from the import
    threads as bytes are written (OSError ENOSPC past the capacity, as a full volume answers), `give` when an image or
    an unfinished import goes. `capacity` (bytes; None: no limit) is set from the event loop, before each import and
    as it goes, from the DVCR claim's capacity (images/jobs.py)."""

    def __init__(self) -> None:
        self.capacity: int | None = None
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        with self._lock:
            if self.capacity is not None and self.used + n > self.capacity:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.used += n

    def give(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


class DVCR:
    def __init__(self, root: Path):
        self.root = root
        # Images may hold private data: the registry folder is its owner's alone (also one an older version left open).
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        root.chmod(0o700)
        # lookup's answers, and commit's: reading meta.json back for the lookup that follows a disk's clone was ~2%
        # of the event loop in a build-up. Every change goes through commit or discard, which replace or drop the
        # entry; a file lost meanwhile (deleted by hand) is still found by lookup's stat.
        # By repository, then uid: a whole repository's answers go with it in one step (every disk's deletion discards
        # its repository).
        self._known: dict[str, dict[str, tuple[StoredImage, tuple[int, int]]]] = {}
        self.space = Space()
        self.space.used = sum(
            self._charged(meta.parent)
            for kind in ("cvi/*", "vi/*/*")  # the IMAGE_REPOS' image folders
            for meta in root.glob(f"{kind}/*/{META_FILE}")
            if ".importing." not in meta.parent.name  # an attempt a crash left: not an image
        )

    @staticmethod
    def _charged(folder: Path) -> int:
        """What the image in `folder` takes from the volume (0 when unreadable or none)."""
        try:
            return int(json.loads((folder / META_FILE).read_text()).get("charged") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            return 0

    def folder(self, repo: str, uid: str) -> Path:
        return self.root / repo / uid

    def disk(self, repo: str, uid: str) -> Path:
        return self.folder(repo, uid) / DISK_FILE

    def staging(self, repo: str, uid: str) -> Path:
        """A new, empty folder for one import attempt."""
        path = self.root / repo / f"{uid}.importing.{secrets.token_hex(4)}"
        path.mkdir(parents=True, mode=0o700)
        return path

    def commit(self, staging: Path, repo: str, uid: str, image: StoredImage) -> None:
        """Publish a complete import: metadata written, then the folder renamed into place atomically."""
        (staging / META_FILE).write_text(json.dumps(asdict(image)))
        final = self.folder(repo, uid)
        self._forget(repo, uid)
        if repo.startswith(IMAGE_REPOS):
            self.space.give(self._charged(final))  # the image it replaces, if any
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        # known from here: a disk's first lookup comes right after its clone (later ones go to its claim instead)
        files = (os.stat(final / META_FILE).st_ino, os.stat(final / DISK_FILE).st_ino)
        self._known.setdefault(repo, {})[uid] = (image, files)

    def lookup(self, repo: str, uid: str) -> StoredImage | None:
        """The stored image, or None when it is missing (never imported, deleted, or its files lost)."""
        folder = f"{self.root}/{repo}/{uid}/"  # strings: two Paths cost as much as the two stats
        try:
            files = (os.stat(folder + META_FILE).st_ino, os.stat(folder + DISK_FILE).st_ino)
        except OSError:
            return None
        known = self._known.get(repo, {}).get(uid)
        if known is not None and known[1] == files:
            return known[0]
        try:
            image = StoredImage(**json.loads(Path(folder, META_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        self._known.setdefault(repo, {})[uid] = (image, files)
        return image

    def _forget(self, repo: str, uid: str) -> None:
        known = self._known.get(repo)
        if known is not None:
            known.pop(uid, None)
            if not known:
                del self._known[repo]

    def clone(self, source_repo: str, source_uid: str, repo: str, uid: str, min_unpacked: int = 0, charge: bool = False) -> StoredImage | None:
        """Store a copy of another image (a hard link where possible: DVCR blobs are immutable). None when the
        source is missing. `min_unpacked`: the copy of a disk grown beyond its image records the disk's size as
        its unpacked size (the smallest disk that can hold it). `charge`: the copy is an image kept in the registry,
        which takes its stored bytes from the volume (OSError ENOSPC when they do not fit)."""
        image = self.lookup(source_repo, source_uid)
        if image is None:
            return None
        charged = image.stored_bytes if charge else 0
        image = StoredImage(image.format, image.stored_bytes, max(image.unpacked_bytes, min_unpacked), charged)
        self.space.take(charged)
        staging = self.staging(repo, uid)
        try:
            try:
                os.link(self.disk(source_repo, source_uid), staging / DISK_FILE)
            except OSError:
                shutil.copyfile(self.disk(source_repo, source_uid), staging / DISK_FILE)
            self.commit(staging, repo, uid, image)
        except BaseException:
            self.space.give(charged)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return image

    def blank(self, repo: str, uid: str, size: int) -> StoredImage:
        """Store an empty raw disk of `size` bytes (sparse: it takes no space)."""
        staging = self.staging(repo, uid)
        with open(staging / DISK_FILE, "wb") as out:
            out.truncate(size)
        image = StoredImage("raw", size, size)
        self.commit(staging, repo, uid, image)
        return image

    def discard(self, repo: str, uid: str | None = None) -> None:
        """Remove one image with its unfinished imports, or the whole repository when uid is None."""
        if uid is None:
            self._known.pop(repo, None)
            for meta in (self.root / repo).glob(f"*/{META_FILE}") if repo.startswith(IMAGE_REPOS) else ():
                self.space.give(self._charged(meta.parent))
            shutil.rmtree(self.root / repo, ignore_errors=True)
            return
        self._forget(repo, uid)
        if repo.startswith(IMAGE_REPOS):
            self.space.give(self._charged(self.folder(repo, uid)))
        shutil.rmtree(self.folder(repo, uid), ignore_errors=True)
        for attempt in (self.root / repo).glob(f"{uid}.importing.*"):
            shutil.rmtree(attempt, ignore_errors=True)
