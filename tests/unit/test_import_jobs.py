"""The importer's jobs are keyed by object identity: (resource, namespace, name) picks the slot, and the uid and
generation say which incarnation and spec a job imports. Upload jobs start no task, so the importer is used
as the CVI controller uses it, with a real DVCR folder."""

from __future__ import annotations

import asyncio

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from dvp_simulator.images.datasource import Source
from dvp_simulator.images.dvcr import DVCR
from dvp_simulator.images.jobs import WAITING, ImageRef, Importer

CVIS, VIS = v.resource_key(v.CLUSTER_VIRTUAL_IMAGE), v.resource_key(v.VIRTUAL_IMAGE)
UPLOAD = Source(type=v.SOURCE_UPLOAD)


def upload_status(importer: Importer, token: str) -> int:
    """What the upload endpoint answers for a token (404: no image waits for it), before reading any body."""
    status, _unused = asyncio.run(importer.receive_upload(token, None))  # type: ignore[arg-type]
    return status


def test_same_name_in_other_resources_or_namespaces_never_shares_a_job(tmp_path):
    importer = Importer(DVCR(tmp_path / "dvcr"))
    refs = [ImageRef(CVIS, "", "x", "u1"), ImageRef(VIS, "ns1", "x", "u2"), ImageRef(VIS, "ns2", "x", "u3")]
    jobs = [importer.start(ref, 1, "repo", UPLOAD) for ref in refs]
    assert len({id(job) for job in jobs}) == 3 and len({job.token for job in jobs}) == 3
    for ref, job in zip(refs, jobs, strict=True):
        assert importer.job(ref, 1) is job and job.state == WAITING
    importer.cancel(refs[1].slot)  # one VI deleted: the CVI and the other namespace's VI keep theirs
    assert importer.job(refs[1], 1) is None and upload_status(importer, jobs[1].token) == 404
    assert importer.job(refs[0], 1) is jobs[0] and importer.job(refs[2], 1) is jobs[2]
    # the same name and uid in another resource is still another object
    assert importer.job(ImageRef(VIS, "", "x", "u1"), 1) is None


def test_a_recreated_object_or_a_new_generation_does_not_inherit_the_old_job(tmp_path):
    importer = Importer(DVCR(tmp_path / "dvcr"))
    old = ImageRef(CVIS, "", "img", "uid-old")
    old_job = importer.start(old, 1, "repo", UPLOAD)
    new = ImageRef(CVIS, "", "img", "uid-new")  # deleted and created again under the same name
    assert new.slot == old.slot
    assert importer.job(new, 1) is None, "a new incarnation must start its own import"
    assert importer.job(old, 2) is None, "a spec change (new generation) must start its own import"
    new_job = importer.start(new, 1, "repo", UPLOAD)
    assert importer.job(new, 1) is new_job and importer.job(old, 1) is None
    assert upload_status(importer, old_job.token) == 404, "the old incarnation's upload URL is dead"
    assert new_job.token != old_job.token


def test_dvcr_lookup_answers_from_memory_only_what_is_still_on_disk(tmp_path):
    """lookup keeps its answers, but a commit over the image, a discard and a file lost by hand are all seen."""
    dvcr = DVCR(tmp_path / "dvcr")
    assert dvcr.lookup("cvi/a", "u1") is None
    first = dvcr.blank("cvi/a", "u1", 1024)
    meta = dvcr.folder("cvi/a", "u1") / "meta.json"
    meta.write_text(meta.read_text().replace("1024", "1"))  # in place (same file): only commit and discard change images
    assert dvcr.lookup("cvi/a", "u1") == first and dvcr.lookup("cvi/a", "u1") == first, "known from the commit: not read back"
    second = dvcr.blank("cvi/a", "u1", 4096)  # a commit over it
    assert dvcr.lookup("cvi/a", "u1") == second != first
    grown = dvcr.clone("cvi/a", "u1", "vd/ns/d", "u2", min_unpacked=8192)
    assert dvcr.lookup("vd/ns/d", "u2") == grown and grown.unpacked_bytes == 8192
    dvcr.disk("vd/ns/d", "u2").unlink()  # lost by hand: lookup's stat sees it
    assert dvcr.lookup("vd/ns/d", "u2") is None
    dvcr.discard("cvi/a", "u1")
    assert dvcr.lookup("cvi/a", "u1") is None
    dvcr.blank("cvi/b", "u3", 10)
    assert dvcr.lookup("cvi/b", "u3") is not None
    dvcr.discard("cvi/b")  # the whole repository
    assert dvcr.lookup("cvi/b", "u3") is None
