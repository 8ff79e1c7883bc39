"""images/dvcr.py's Space: what the images kept in DVCR take from its volume — charged as written or copied, given
back when an image goes or is replaced, counted again from the images' metadata when the simulator starts; disks'
data (not in the registry on the platform) is never charged."""

from __future__ import annotations

import errno

import pytest

from dvp_simulator.images.dvcr import DISK_FILE, DVCR, StoredImage


def commit(dvcr, repo, uid, charged, size=10):
    staging = dvcr.staging(repo, uid)
    (staging / DISK_FILE).write_bytes(b"x" * size)
    dvcr.space.take(charged)  # what the writer took as it wrote
    dvcr.commit(staging, repo, uid, StoredImage("raw", size, size, charged))


def test_images_are_charged_replaced_and_discarded_and_counted_again_at_start(tmp_path):
    dvcr = DVCR(tmp_path / "dvcr")
    dvcr.space.capacity = 100
    commit(dvcr, "cvi/a", "u1", 40)
    commit(dvcr, "vi/ns/b", "u2", 30)
    assert dvcr.space.used == 70
    with pytest.raises(OSError) as exc:
        dvcr.space.take(31)
    assert exc.value.errno == errno.ENOSPC and dvcr.space.used == 70, "a refused take takes nothing"
    commit(dvcr, "cvi/a", "u1", 20)  # the same image imported again replaces the old one
    assert dvcr.space.used == 50
    copy = dvcr.clone("cvi/a", "u1", "cvi/c", "u3", charge=True)
    assert copy is not None and copy.charged == 10 and dvcr.space.used == 60
    disk = dvcr.clone("cvi/a", "u1", "vd/ns/d", "u4")
    assert disk is not None and disk.charged == 0 and dvcr.space.used == 60, "a disk's data is not the registry's"
    assert DVCR(tmp_path / "dvcr").space.used == 60, "counted again from the metadata at start"
    dvcr.discard("cvi/a", "u1")
    dvcr.discard("vi/ns/b")
    assert dvcr.space.used == 10 and DVCR(tmp_path / "dvcr").space.used == 10


def test_a_copy_that_does_not_fit_is_refused_and_leaves_nothing(tmp_path):
    dvcr = DVCR(tmp_path / "dvcr")
    commit(dvcr, "cvi/a", "u1", 10)
    dvcr.space.capacity = 15
    with pytest.raises(OSError) as exc:
        dvcr.clone("cvi/a", "u1", "cvi/b", "u2", charge=True)
    assert exc.value.errno == errno.ENOSPC and dvcr.space.used == 10
    assert dvcr.lookup("cvi/b", "u2") is None and not list((tmp_path / "dvcr" / "cvi" / "b").glob("*"))
