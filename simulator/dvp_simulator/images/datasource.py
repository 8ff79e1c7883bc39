"""DatasourceReady for a ClusterVirtualImage, and what the importer needs to know about its source.

HTTP and Upload sources are always ready. A ContainerImage source waits for its imagePullSecret. An ObjectRef
source waits for the referenced object (BEHAVIOUR.md §1.4): a ClusterVirtualImage Ready with a registry URL, a
VirtualImage Ready, a VirtualDisk Ready and not mounted by a running VM, a VirtualDiskSnapshot Ready.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ..api.service import ObjectService
from .dvcr import repository

GROUP = "virtualization.deckhouse.io"
DOCKER_CONFIG_KEY = ".dockerconfigjson"


@dataclass
class Source:
    """A resolved data source: everything the importer needs, nothing it must look up."""

    type: str  # HTTP | ContainerImage | ObjectRef | Upload
    checksum: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    ca_bundle: str | None = None
    image: str = ""
    docker_config: bytes | None = None
    copy_from: tuple[str, str] | None = None  # DVCR (repository, uid) of an ObjectRef source held in DVCR
    copy_refusal: str = ""  # why an ObjectRef source cannot be copied by the simulator
    source_uid: str = ""


@dataclass
class Readiness:
    ready: bool
    reason: str
    message: str = ""
    source: Source | None = None


def _find(service: ObjectService, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    rt = service.registry.by_kind(GROUP, kind)
    return service.find(rt, namespace, name) if rt is not None else None


def mounted_by(service: ObjectService, kind: str, name: str, namespace: str | None = None) -> list[str]:
    """`<ns>/<vm>` of the virtual machines that mount the block device: listed in status.blockDeviceRefs and not
    Stopped (a VM with no phase yet does not count)."""
    rt = service.registry.by_kind(GROUP, "VirtualMachine")
    if rt is None:
        return []
    out = []
    for entry in service.store.list(rt.key, namespace):
        status = entry.obj.get("status") or {}
        if status.get("phase") in (None, "", "Stopped"):
            continue
        if any(ref.get("kind") == kind and ref.get("name") == name for ref in status.get("blockDeviceRefs") or []):
            out.append(f"{entry.namespace}/{entry.name}")
    return out


def resolve(service: ObjectService, spec: dict[str, Any]) -> Readiness:
    source = spec.get("dataSource") or {}
    kind = source.get("type", "")
    if kind == "HTTP":
        http = source.get("http") or {}
        return Readiness(True, "DatasourceReady", source=Source(kind, http.get("checksum") or {}, url=http.get("url", ""), ca_bundle=http.get("caBundle")))
    if kind == "Upload":
        return Readiness(True, "DatasourceReady", source=Source(kind, (source.get("upload") or {}).get("checksum") or {}))
    if kind == "ContainerImage":
        return _container_image(service, source.get("containerImage") or {})
    return _object_ref(service, source.get("objectRef") or {})


def _container_image(service: ObjectService, spec: dict[str, Any]) -> Readiness:
    docker_config = None
    secret_ref = spec.get("imagePullSecret") or {}
    if secret_ref.get("name"):
        ns, name = secret_ref.get("namespace", ""), secret_ref["name"]
        secret = service.find(service.registry.types["/secrets"], ns, name) if ns else None
        if secret is None:
            return Readiness(False, "ContainerRegistrySecretNotFound", f"Container registry secret {ns}/{name} not found.")
        encoded = (secret.get("data") or {}).get(DOCKER_CONFIG_KEY)
        plain = (secret.get("stringData") or {}).get(DOCKER_CONFIG_KEY)
        docker_config = base64.b64decode(encoded) if encoded else plain.encode() if plain else None
    src = Source("ContainerImage", image=spec.get("image", ""), ca_bundle=spec.get("caBundle"), docker_config=docker_config)
    return Readiness(True, "DatasourceReady", source=src)


def _object_ref(service: ObjectService, ref: dict[str, Any]) -> Readiness:
    kind, name, ns = ref.get("kind", ""), ref.get("name", ""), ref.get("namespace", "")
    obj = _find(service, kind, "" if kind == "ClusterVirtualImage" else ns, name)
    status = (obj or {}).get("status") or {}
    ready = status.get("phase") == "Ready"
    where = name if kind == "ClusterVirtualImage" else f"{ns}/{name}"
    what = "not found" if obj is None else "not ready yet"
    uid = (obj or {}).get("metadata", {}).get("uid", "")
    if kind == "ClusterVirtualImage":
        if not ready or not (status.get("target") or {}).get("registryURL"):
            return Readiness(False, "ClusterImageNotReady", f"ClusterVirtualImage {where} {what}.")
        return Readiness(True, "DatasourceReady", source=Source("ObjectRef", copy_from=(repository("cvi", name), uid), source_uid=uid))
    if kind == "VirtualImage":
        if not ready:
            return Readiness(False, "ImageNotReady", f"VirtualImage {where} {what}.")
        if (obj.get("spec") or {}).get("storage", "ContainerRegistry") == "ContainerRegistry":
            return Readiness(True, "DatasourceReady", source=Source("ObjectRef", copy_from=(repository("vi", name, ns), uid), source_uid=uid))
        return Readiness(True, "DatasourceReady", source=_pvc_copy(kind, where, uid))
    if kind == "VirtualDisk":
        if not ready:
            return Readiness(False, "VirtualDiskNotReady", f"VirtualDisk {where} {what}.")
        users = mounted_by(service, "VirtualDisk", name, ns)
        if users:
            return Readiness(False, "VirtualDiskAttachedToVirtualMachine", f"VirtualDisk {where} is attached to the running virtual machine {users[0]}.")
        return Readiness(True, "DatasourceReady", source=_pvc_copy(kind, where, uid))
    if not ready:
        return Readiness(False, "VirtualDiskSnapshotNotReady", f"VirtualDiskSnapshot {where} {what}.")
    return Readiness(True, "DatasourceReady", source=_pvc_copy(kind, where, uid))


def _pvc_copy(kind: str, where: str, uid: str) -> Source:
    """Data held in a PVC: the simulator has no volume data to copy yet (disks arrive with the VM work)."""
    return Source(
        "ObjectRef", copy_refusal=f"copying from the {kind} {where} (data in a PersistentVolumeClaim) is not supported by the simulator", source_uid=uid
    )
