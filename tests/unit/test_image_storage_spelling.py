"""virtual_image: `Kubernetes` is the deprecated spelling of `PersistentVolumeClaim` storage; a task giving one
spelling over an image stored with the other compares equal (images.keep_storage_spelling): no change, no write."""

from __future__ import annotations

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils.ensure import unchanged
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import keep_storage_spelling

SOURCE = {"type": "HTTP", "http": {"url": "https://example.com/x.img"}}


def image(storage, **spec):
    return {"metadata": {"name": "img", "namespace": "ns"}, "spec": {"storage": storage, "dataSource": SOURCE, **spec}}


@pytest.mark.parametrize("given, stored", [("Kubernetes", "PersistentVolumeClaim"), ("PersistentVolumeClaim", "Kubernetes")])
def test_the_two_pvc_spellings_compare_equal(given, stored):
    desired, actual = image(given), image(stored)
    assert not unchanged(desired, actual), "the premise: compared as given, the spellings differ"
    kept = keep_storage_spelling(desired, actual)
    assert kept["spec"]["storage"] == stored and unchanged(kept, actual)
    assert desired["spec"]["storage"] == given, "desired itself is not changed"


@pytest.mark.parametrize(
    "given, stored",
    [
        ("ContainerRegistry", "PersistentVolumeClaim"),
        ("Kubernetes", "ContainerRegistry"),
        ("PersistentVolumeClaim", "PersistentVolumeClaim"),
        ("Kubernetes", None),
    ],
)
def test_other_storages_are_compared_as_given(given, stored):
    desired = image(given)
    actual = image(stored) if stored else None
    assert keep_storage_spelling(desired, actual) is desired


def test_other_differences_still_count():
    desired = image("Kubernetes", persistentVolumeClaim={"storageClassName": "fast"})
    actual = image("PersistentVolumeClaim", persistentVolumeClaim={"storageClassName": "slow"})
    assert not unchanged(keep_storage_spelling(desired, actual), actual)
