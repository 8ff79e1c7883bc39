# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images (ClusterVirtualImage now, VirtualImage later): client-side rules, the desired object, the guard
against in-place changes the platform forbids, and the summary modules return. Pure Python."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from . import vocabulary as v
from .errors import DVPError
from .image_rules import name_problem, spec_change_problem
from .naming import to_api

SOURCE_BLOCKS = {v.SOURCE_HTTP: "http", v.SOURCE_CONTAINER_IMAGE: "container_image", v.SOURCE_OBJECT_REF: "object_ref", v.SOURCE_UPLOAD: "upload"}
CHECKSUM_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128, "streebog256": 64, "streebog512": 128}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IMAGE_REFERENCE = re.compile(
    r"^(?:(?:(?:localhost|[\w-]+(?:\.[\w-]+)+)(?::\d+)?|[\w]+:\d+)/)?"  # registry[:port]/
    r"[a-z0-9_.-]+(?:/[a-z0-9_.-]+)*"  # repository
    r"(?::[\w][\w.-]{0,127})?"  # :tag
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[+.-_][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"  # @digest
)
NAMESPACED_REF_KINDS = (v.VIRTUAL_IMAGE, v.VIRTUAL_DISK, v.VIRTUAL_DISK_SNAPSHOT)


def data_source_spec(ref_kinds: list[str], cluster_scoped: bool) -> dict[str, Any]:
    """The argument spec of `data_source`, shared by the image and disk modules: a cluster-scoped image names the
    namespace of its pull secret and of the object it copies; namespaced ones use their own namespace."""
    namespace = {"namespace": {"type": "str"}} if cluster_scoped else {}
    checksum = {"type": "dict", "options": {k: {"type": "str"} for k in CHECKSUM_LENGTHS}}
    return {
        "type": "dict",
        "options": {
            "type": {"type": "str", "required": True, "choices": list(SOURCE_BLOCKS)},
            "http": {"type": "dict", "options": {"url": {"type": "str", "required": True}, "ca_bundle": {"type": "str"}, "checksum": checksum}},
            "container_image": {
                "type": "dict",
                "options": {
                    "image": {"type": "str", "required": True},
                    "ca_bundle": {"type": "str"},
                    "image_pull_secret": {"type": "dict", "no_log": False, "options": {"name": {"type": "str"}, **namespace}},
                },
            },
            "object_ref": {
                "type": "dict",
                "options": {"kind": {"type": "str", "required": True, "choices": ref_kinds}, "name": {"type": "str", "required": True}, **namespace},
            },
            "upload": {"type": "dict", "options": {"checksum": checksum}},
        },
    }


def validate_image_params(params: dict[str, Any], namespaced: bool = False) -> list[str]:
    """Every problem with the options, each naming the option and the rule ([] when fine). `namespaced`: a
    VirtualImage's or VirtualDisk's, whose objectRef and pull secret are in its own namespace."""
    problems: list[str] = []
    name = params.get("name") or ""
    dotted = name_problem(name)
    if dotted is not None:
        problems.append(f"name: {dotted}")
    elif not NAME.match(name) or len(name) > 253:
        problems.append(f"name: {name!r} must be lower-case letters, digits and '-', starting and ending with a letter or digit")
    if params.get("state") == "absent":
        return problems
    source = params.get("data_source") or {}
    kind = source.get("type")
    if not kind:
        return problems + ["data_source.type is required (HTTP, ContainerImage, ObjectRef or Upload)"]
    for other_type, block in SOURCE_BLOCKS.items():
        if other_type != kind and source.get(block):
            problems.append(f"data_source.{block} is not allowed with data_source.type={kind}")
    block = SOURCE_BLOCKS[kind]
    if kind != "Upload" and not source.get(block):
        problems.append(f"data_source.{block} is required with data_source.type={kind}")
    http = source.get("http") or {}
    if http:
        url = http.get("url") or ""
        if not re.match(r"^https?://\S+$", url):
            problems.append(f"data_source.http.url: {url!r} must be an http:// or https:// URL")
        problems += _ca_bundle("data_source.http.ca_bundle", http.get("ca_bundle"))
    for block_name in ("http", "upload"):
        for algo, value in ((source.get(block_name) or {}).get("checksum") or {}).items():
            if value is None:
                continue
            want = CHECKSUM_LENGTHS[algo]
            if len(value) != want or not re.fullmatch(r"[0-9a-fA-F]+", value):
                problems.append(f"data_source.{block_name}.checksum.{algo}: must be {want} hexadecimal characters, got {len(value)}")
    image = source.get("container_image") or {}
    if image:
        ref = image.get("image") or ""
        if not IMAGE_REFERENCE.match(ref):
            problems.append(f"data_source.container_image.image: {ref!r} is not a container image reference (registry/repository[:tag][@digest])")
        problems += _ca_bundle("data_source.container_image.ca_bundle", image.get("ca_bundle"))
    ref = source.get("object_ref") or {}
    if ref and ref.get("kind") in NAMESPACED_REF_KINDS and not namespaced:
        ns = ref.get("namespace") or ""
        if not ns:
            problems.append(f"data_source.object_ref.namespace is required for kind {ref['kind']}")
        elif len(ns) > 63:
            problems.append("data_source.object_ref.namespace must be at most 63 characters")
    if kind != "Upload" and params.get("upload_file"):
        problems.append("upload_file is only used with data_source.type=Upload")
    if kind != "Upload" and params.get("upload_url"):
        problems.append("upload_url is only used with data_source.type=Upload")
    return problems


def _ca_bundle(option: str, value: str | None) -> list[str]:
    if not value:
        return []
    try:
        base64.b64decode(value, validate=True)
        return []
    except (binascii.Error, ValueError):
        return [f"{option}: must be base64 (the PEM bundle, base64-encoded)"]


def desired_cluster_image(params: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    source = to_api(params["data_source"])
    if source.get("type") == "Upload" and not source.get("upload"):
        source.pop("upload", None)
    return {"metadata": metadata, "spec": {"dataSource": source}}


# spec.storage of a VirtualImage: `Kubernetes` is the deprecated spelling of `PersistentVolumeClaim`, the same storage.
PVC_STORAGE_SPELLINGS = (v.STORAGE_PVC, v.STORAGE_KUBERNETES)


def keep_storage_spelling(desired: dict[str, Any], actual: dict[str, Any] | None) -> dict[str, Any]:
    """`desired` with spec.storage spelled as the server holds it when both are PVC storage (`Kubernetes` and
    `PersistentVolumeClaim`), so that switching between the two spellings compares equal: no change, no write. A new
    dict when the spelling is taken; `desired` otherwise."""
    want = (desired.get("spec") or {}).get("storage")
    have = ((actual or {}).get("spec") or {}).get("storage")
    if want == have or want not in PVC_STORAGE_SPELLINGS or have not in PVC_STORAGE_SPELLINGS:
        return desired
    return {**desired, "spec": {**desired["spec"], "storage": have}}


def image_guard(kind_name: str):
    """The platform refuses spec changes once an image is Ready: ask for re-creation instead."""

    def guard(actual: dict[str, Any], desired: dict[str, Any], changed: list[str]) -> str | None:
        if spec_change_problem(actual, any(path.startswith("spec") for path in changed)) is not None:
            return "recreate"
        return None

    return guard


def users(obj: dict[str, Any] | None) -> list[str]:
    """`<ns>/<vm>` names from the InUse condition (the platform lists them in its message)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "InUse" and cond.get("status") == "True":
            return re.findall(r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?", cond.get("message", ""))
    return []


def summary(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The image's state as modules return it; upload URLs as obj holds them (see hide_upload_urls)."""
    status = (obj or {}).get("status") or {}
    size = status.get("size") or {}
    urls = status.get("imageUploadURLs") or {}
    return {
        "phase": status.get("phase"),
        "progress": status.get("progress"),
        "format": status.get("format"),
        "cdrom": status.get("cdrom"),
        "size": {
            "stored": size.get("stored"),
            "stored_bytes": size.get("storedBytes"),
            "unpacked": size.get("unpacked"),
            "unpacked_bytes": size.get("unpackedBytes"),
        },
        "registry_url": (status.get("target") or {}).get("registryURL"),
        "upload_urls": {"external": urls.get("external"), "in_cluster": urls.get("inCluster")},
        "conditions": status.get("conditions") or [],
    }


def upload_url(obj: dict[str, Any], which: str) -> str:
    urls = ((obj or {}).get("status") or {}).get("imageUploadURLs") or {}
    url = urls.get("inCluster" if which == "in_cluster" else "external")
    if not url:
        raise DVPError(f"the image has no {which} upload URL (status.imageUploadURLs: {sorted(urls)})")
    return url


# Path segments of upload URLs that are routes, not credentials: every other segment of 8 characters or more
# (the platform's random path, the simulator's `/in-cluster/<token>/upload`) and any query string is the
# secret part. Shorter segments are no credential, and masking them (no_log_values) would mangle other output.
UPLOAD_ROUTE_WORDS = frozenset({"upload", "uploads", "in-cluster"})
SECRET_MIN_LENGTH = 8
HIDDEN = "********"  # what Ansible itself prints for a no_log value


def _secret_segment(segment: str) -> bool:
    return len(segment) >= SECRET_MIN_LENGTH and segment not in UPLOAD_ROUTE_WORDS


def url_secrets(url: str) -> list[str]:
    """The unguessable parts of an upload URL (they are credentials): the secret path segments and the query."""
    rest = url.split("://", 1)[-1]
    path, query = rest.partition("?")[::2]
    segments = path.split("/")[1:]  # [0] is host[:port]
    return [seg for seg in segments if _secret_segment(seg)] + ([query] if query else [])


def mask_upload_url(url: str) -> str:
    """The URL with its secret parts replaced by HIDDEN: `https://h/upload/********`."""
    head, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    path, qmark, query = path.partition("?")
    masked = "/".join(HIDDEN if _secret_segment(seg) else seg for seg in path.split("/"))
    return f"{head}{sep}{host}{slash}{masked}{qmark}{HIDDEN if query else ''}"


def hide_upload_urls(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of obj with status.imageUploadURLs masked (obj itself untouched); obj when it has none."""
    urls = ((obj or {}).get("status") or {}).get("imageUploadURLs")
    if not urls:
        return obj
    masked = {k: mask_upload_url(v) if isinstance(v, str) and v else v for k, v in urls.items()}
    return {**obj, "status": {**obj["status"], "imageUploadURLs": masked}}


def mask_secrets(text: str, secrets: list[str]) -> str:
    """text with every secret replaced by HIDDEN."""
    for secret in secrets:
        text = text.replace(secret, HIDDEN)
    return text


def upload_url_secrets(obj: dict[str, Any] | None) -> list[str]:
    """Every secret part of obj's upload URLs, for the module's no_log_values."""
    urls = ((obj or {}).get("status") or {}).get("imageUploadURLs") or {}
    return [secret for url in urls.values() if isinstance(url, str) for secret in url_secrets(url)]
