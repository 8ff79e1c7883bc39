"""Verify of the `images` scenario: the cluster images from HTTP and from an upload, and the namespaced copy of the
first, are Ready on the cluster with the qcow2 disk the create step made (64 MiB virtual size), their sources as
the role declared them."""

from __future__ import annotations

import pytest

IMAGES = [
    ("clustervirtualimage", "molecule-http", "", "HTTP"),
    ("clustervirtualimage", "molecule-upload", "", "Upload"),
    ("virtualimage", "molecule-copy", "images", "ObjectRef"),
]


@pytest.mark.parametrize("kind, name, namespace, source", IMAGES)
def test_the_image_is_ready(platform, kind, name, namespace, source):
    image = platform.get(kind, name, namespace)
    assert image["spec"]["dataSource"]["type"] == source, image["spec"]
    status = image["status"]
    assert status["phase"] == "Ready", (name, status.get("phase"), status.get("conditions"))
    assert status["format"] == "qcow2" and status["size"]["unpacked"] == "64Mi", (name, status.get("format"), status.get("size"))
    assert status["progress"] == "100%", (name, status.get("progress"))


def test_the_http_source_is_the_image_server(platform):
    url = platform.get("clustervirtualimage", "molecule-http")["spec"]["dataSource"]["http"]["url"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/disk.qcow2"), url


def test_the_copy_refers_to_the_cluster_image(platform):
    ref = platform.get("virtualimage", "molecule-copy", "images")["spec"]["dataSource"]["objectRef"]
    assert ref == {"kind": "ClusterVirtualImage", "name": "molecule-http"}, ref
