"""Imports in flight, one `Job` per image: an asyncio task reading its source, or — for Upload — a session
waiting for the user's PUT. Jobs are keyed by the image's identity (resource, namespace, name; the uid and
generation say which incarnation and spec the job imports), so a VirtualImage `ns/x` and a ClusterVirtualImage
`x` never share one. The CVI controller starts, reads and cancels jobs; a job never writes objects. It
wakes the controller, which turns the job's state into status: at once when the state changes, and at most
every WAKE_INTERVAL seconds while bytes flow (progress is real transfer progress, so these are real seconds).

Bandwidth (`dvp-sim serve --image-bandwidth`, topology `cluster.imageSourceBandwidth`, or at run time
`dvp-sim image-bandwidth set`): each import that moves bytes from outside — an HTTP download, the disk file of a
ContainerImage (after skopeo's pull), an Upload's PUT body — is held to `Importer.bandwidth` bytes per second,
measured on the wall clock like progress and downloadSpeed (the bytes really move in real time; the simulated
clock may be stepped or scaled, and a transfer paced on it would arrive in bursts). The source is simply read
no faster: TCP flow control slows the sender, as a slow link would. ObjectRef copies stay inside DVCR and are
not held back. 0 means no limit; a change applies to imports already running.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from aiohttp import web

from ansible_collections.deckhouse.virtualization.plugins.module_utils.vocabulary import SOURCE_HTTP, SOURCE_OBJECT_REF, SOURCE_UPLOAD

from .checksums import Checksums
from .datasource import Source
from .dvcr import DISK_FILE, DVCR, StoredImage, registry_url
from .errors import ImportFailure
from .http_source import download
from .imageinfo import inspect
from .pipeline import ImageWriter, disk_failure
from .registry_source import find_disk, pull, stream_disk

log = logging.getLogger("dvp_simulator.images")

WAKE_INTERVAL = 0.5
SPEED_WINDOW = 1.0
PACE_SLICE = 0.1  # seconds of transfer fed at a time when throttled: progress moves smoothly, not by whole chunks
PACE_MIN_SLICE = 4096
PACE_SLACK = 0.25  # a source that fell behind the pace may catch up by at most this many seconds' worth of bytes
RUNNING, WAITING, SUCCEEDED, FAILED = "Running", "WaitingForUpload", "Succeeded", "Failed"

Feed = Callable[[bytes], Awaitable[None]]
Expect = Callable[[int | None], None]
Slot = tuple[str, str, str]  # (resource, namespace, name): at most one job per object


@dataclass(frozen=True)
class ImageRef:
    """The identity of the object a job imports for: the store's resource key, namespace ("" when cluster-wide),
    name, and the uid of this incarnation of it."""

    resource: str
    namespace: str
    name: str
    uid: str

    @property
    def slot(self) -> Slot:
        return (self.resource, self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.resource} {self.namespace}/{self.name}" if self.namespace else f"{self.resource} {self.name}"


class UploadInterrupted(Exception):
    """The client went away before sending the whole file; the image waits for another upload."""


@dataclass(eq=False)
class Job:
    ref: ImageRef
    generation: int
    repo: str
    source: Source
    state: str = RUNNING
    total: int | None = None  # raw bytes expected (Content-Length), when known
    done: int = 0
    began: float | None = None  # loop time of the first byte
    ended: float | None = None
    samples: deque = field(default_factory=deque)  # (loop time, done) over the last SPEED_WINDOW
    image: StoredImage | None = None
    error: str = ""
    token: str = ""
    registry: bool = False  # an image kept in DVCR: its bytes are taken from DVCR's volume (dvcr.Space)
    task: asyncio.Task | None = None
    last_wake: float = 0.0
    # Set with each progress wake-up, cleared when the controller publishes it: a reconcile caused by the
    # controller's own status write must not publish again, or progress writes would chase their own events.
    report_due: bool = False

    @property
    def progress(self) -> float:
        """Percent of the raw bytes received; 0 while the size is unknown."""
        return min(100.0, self.done * 100.0 / self.total) if self.total else 0.0

    def speeds(self, now: float) -> tuple[float, float | None]:
        """(average, current) bytes per second; current is None once the transfer is over."""
        if self.began is None:
            return 0.0, None if self.ended else 0.0
        elapsed = max((self.ended or now) - self.began, 1e-6)
        average = self.done / elapsed
        if self.ended is not None or not self.samples:
            return average, None
        t0, d0 = self.samples[0]
        return average, (self.done - d0) / max(now - t0, 1e-6)

    def advance(self, count: int, now: float) -> None:
        if self.began is None:
            self.began = now
        self.done += count
        self.samples.append((now, self.done))
        while len(self.samples) > 1 and now - self.samples[0][0] > SPEED_WINDOW:
            self.samples.popleft()

    def restart_upload(self) -> None:
        self.state, self.total, self.done, self.began, self.ended = WAITING, None, 0, None, None
        self.samples.clear()


class Pace:
    """Holds one transfer to a rate on the event loop's (wall) clock: `wait` returns when `count` more bytes
    may have arrived. A rate change, or a source that fell more than PACE_SLACK behind, starts a new reckoning."""

    def __init__(self) -> None:
        self.rate, self.origin, self.sent = 0, 0.0, 0

    async def wait(self, count: int, rate: int, now: float) -> None:
        if rate != self.rate or self.origin + self.sent / rate < now - PACE_SLACK:
            self.rate, self.origin, self.sent = rate, now, 0
        self.sent += count
        delay = self.origin + self.sent / rate - now
        if delay > 0:
            await asyncio.sleep(delay)


class Importer:
    def __init__(self, dvcr: DVCR, bandwidth: int = 0, capacity: Callable[[], int | None] = lambda: None):
        """`capacity`: DVCR's volume now (bytes; None: no limit), read on the event loop as imports go."""
        self.dvcr = dvcr
        self.capacity = capacity
        self.bandwidth = bandwidth  # bytes per second each import's source is read at, at most; 0: no limit
        self.wake: Callable[[ImageRef], None] = lambda ref: None  # set by the controller's assembly
        self.jobs: dict[Slot, Job] = {}
        self.uploads: dict[str, Job] = {}  # by upload token

    # -- the controller's side -----------------------------------------------------------------------------
    def job(self, ref: ImageRef, generation: int) -> Job | None:
        """The job importing this generation of this incarnation of the object, if one exists."""
        job = self.jobs.get(ref.slot)
        return job if job is not None and (job.ref, job.generation) == (ref, generation) else None

    def start(self, ref: ImageRef, generation: int, repo: str, source: Source, token: str = "", registry: bool = False) -> Job:
        """Start importing (any other job for the object is cancelled). An Upload job waits for its token's PUT.
        `registry`: the image is kept in DVCR (a ClusterVirtualImage, a VirtualImage on ContainerRegistry) and its
        bytes count against DVCR's volume."""
        self.cancel(ref.slot)
        job = Job(ref, generation, repo, source, registry=registry)
        self.jobs[ref.slot] = job
        if source.type == SOURCE_UPLOAD:
            job.state, job.token = WAITING, token or secrets.token_urlsafe(24)
            self.uploads[job.token] = job
        elif source.type == SOURCE_OBJECT_REF:
            job.task = asyncio.create_task(self._copy(job))
        else:
            produce = self._download if source.type == SOURCE_HTTP else self._pull
            job.task = asyncio.create_task(self._import(job, partial(produce, job)))
        return job

    def cancel(self, slot: Slot) -> None:
        """Stop and forget the object's job, whichever incarnation it was for; whatever it had written is
        discarded by its task."""
        job = self.jobs.pop(slot, None)
        if job is None:
            return
        self.uploads.pop(job.token, None)
        if job.task is not None and not job.task.done():
            job.task.cancel()

    def forget(self, slot: Slot) -> None:
        """The controller has recorded the outcome; the job is no longer needed."""
        job = self.jobs.pop(slot, None)
        if job is not None:
            self.uploads.pop(job.token, None)

    async def stop(self) -> None:
        tasks = [job.task for job in self.jobs.values() if job.task is not None and not job.task.done()]
        for slot in list(self.jobs):
            self.cancel(slot)
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the upload endpoint's side ------------------------------------------------------------------------
    async def receive_upload(self, token: str, request: web.Request) -> tuple[int, str]:
        """Stream a PUT body into the waiting job; (HTTP status, message) for the client."""
        job = self.uploads.get(token)
        if job is None:
            return 404, "no image is waiting for an upload at this address"
        if job.state != WAITING:
            return 409, "an upload to this image is already in progress or finished"
        job.state, job.task, job.report_due = RUNNING, asyncio.current_task(), True
        self.wake(job.ref)

        async def body(feed: Feed, expect: Expect, staging: Path) -> None:
            expect(request.content_length)
            chunks = request.content.iter_any()  # as received: the writer batches them
            received = 0
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # whatever the transport says, the client is gone
                    raise UploadInterrupted(str(exc) or type(exc).__name__) from exc
                received += len(chunk)
                await feed(chunk)
            if request.content_length is not None and received < request.content_length:
                raise UploadInterrupted(f"{received} of {request.content_length} bytes received")

        await self._import(job, body)
        if job.state == SUCCEEDED:
            return 200, f"upload complete: {job.image.format} image stored as {registry_url(job.repo, job.ref.uid)}"
        if job.state == WAITING:
            return 400, "the upload broke off; the image is waiting for another upload"
        return 400, f"the upload was refused: {job.error}"

    # -- the sources ---------------------------------------------------------------------------------------
    async def _download(self, job: Job, feed: Feed, expect: Expect, staging: Path) -> None:
        await download(job.source.url, job.source.ca_bundle, feed, expect)

    async def _pull(self, job: Job, feed: Feed, expect: Expect, staging: Path) -> None:
        workdir = staging / "pull"
        workdir.mkdir()
        layers = await pull(job.source.image, job.source.ca_bundle, job.source.docker_config, workdir)
        layer, member = await asyncio.get_running_loop().run_in_executor(None, find_disk, layers, job.source.image)
        await stream_disk(layer, member, feed, expect)

    async def _import(self, job: Job, produce: Callable[[Feed, Expect, Path], Awaitable[None]]) -> None:
        """Source bytes → checked, decompressed disk file → inspected → committed to DVCR; outcome on the job."""
        staging = self.dvcr.staging(job.repo, job.ref.uid)
        space = self.dvcr.space if job.registry else None
        if space is not None:
            space.capacity = self.capacity()
        writer = ImageWriter(staging / DISK_FILE, Checksums(job.source.checksum), space=space)
        closed = False
        loop = asyncio.get_running_loop()
        pace = Pace()

        async def feed(chunk: bytes) -> None:
            start = 0
            while start < len(chunk):
                rate = self.bandwidth  # read per piece: a change applies at once
                step = max(int(rate * PACE_SLICE), PACE_MIN_SLICE) if rate else len(chunk)
                piece = chunk[start : start + step]
                start += len(piece)
                if rate:
                    if job.began is None:  # the transfer began with its first bytes, not when the pace let them through
                        job.began = loop.time()
                    await pace.wait(len(piece), rate, loop.time())
                if space is not None:
                    space.capacity = self.capacity()  # a claim grown meanwhile makes room at once
                await writer.feed(piece)
                now = loop.time()
                job.advance(len(piece), now)
                if now - job.last_wake >= WAKE_INTERVAL:
                    job.last_wake, job.report_due = now, True
                    self.wake(job.ref)

        def expect(total: int | None) -> None:
            job.total = total

        try:
            await produce(feed, expect, staging)
            written = await writer.finish()
            closed = True
            job.ended = loop.time()
            shutil.rmtree(staging / "pull", ignore_errors=True)
            info = await inspect(staging / DISK_FILE)
            job.image = StoredImage(info.format, written.size, info.virtual_size, writer.taken)
            self.dvcr.commit(staging, job.repo, job.ref.uid, job.image)
            job.state = SUCCEEDED
        except ImportFailure as failure:
            job.state, job.error = FAILED, failure.message
        except UploadInterrupted as why:
            log.info("upload to %s interrupted: %s", job.ref, why)
            job.restart_upload()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: the image fails visibly instead of hanging in Provisioning
            log.exception("import of %s failed unexpectedly", job.ref)
            job.state, job.error = FAILED, f"internal error of the simulator's importer: {exc}"
        finally:
            if not closed:
                await writer.aclose()
            if job.state != SUCCEEDED:
                shutil.rmtree(staging, ignore_errors=True)
                if space is not None:
                    space.give(writer.taken)  # an attempt that left nothing takes nothing
            if job.state != WAITING:
                self.uploads.pop(job.token, None)
            self.wake(job.ref)

    async def _copy(self, job: Job) -> None:
        """ObjectRef: the referenced image's DVCR data, copied (hard-linked) under this image's name."""
        source = job.source
        try:
            if source.copy_refusal:
                raise ImportFailure(source.copy_refusal)
            loop = asyncio.get_running_loop()
            if source.copy_from is None:  # a blank volume: a sparse raw image of its size
                image = await loop.run_in_executor(None, self.dvcr.blank, job.repo, job.ref.uid, source.blank_bytes)
            else:
                repo, uid = source.copy_from
                if job.registry:
                    self.dvcr.space.capacity = self.capacity()
                clone = partial(self.dvcr.clone, repo, uid, job.repo, job.ref.uid, source.min_unpacked, job.registry)
                image = await loop.run_in_executor(None, clone)
                if image is None:
                    raise ImportFailure(f"the source image {registry_url(repo, uid)} is missing from DVCR")
            job.image, job.total, job.done, job.state = image, image.stored_bytes, image.stored_bytes, SUCCEEDED
        except ImportFailure as failure:
            job.state, job.error = FAILED, failure.message
        except OSError as exc:  # the copy did not fit in DVCR's volume (or could not be written)
            job.state, job.error = FAILED, disk_failure(exc).message
        finally:
            self.wake(job.ref)
