"""DatasourceReady for a ClusterVirtualImage, and what the importer needs to know about its source.

HTTP and Upload sources are always ready. A ContainerImage source waits for its imagePullSecret. An ObjectRef
source waits for the referenced object (BEHAVIOUR.md §1.4): a ClusterVirtualImage Ready with a registry URL, a
VirtualImage Ready, a VirtualDisk Ready and not mounted by a running VM, a VirtualDiskSnapshot Ready.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.storage_rules import to_bytes

from ..api.service import ObjectService
from ..store.store import DELETED, Event, Store
from .dvcr import repository

GROUP = v.DVP_GROUP
DOCKER_CONFIG_KEY = ".dockerconfigjson"
VMS = v.resource_key(v.VIRTUAL_MACHINE)
# Secondary indexes (store.add_index), registered by `register_indexes`:
SOURCE_INDEX = "dataSourceRef"  # on images: the object or pull secret the data source waits for
MOUNT_INDEX = "mountedBlockDevice"  # on VMs: the block devices a running VM mounts


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
    blank_bytes: int = 0  # an ObjectRef to a blank disk: a sparse raw image of this size
    min_unpacked: int = 0  # the copy's unpacked size is at least this (a disk grown beyond its image)


@dataclass
class Readiness:
    ready: bool
    reason: str
    message: str = ""
    source: Source | None = None


def _find(service: ObjectService, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    rt = service.registry.by_kind(GROUP, kind)
    return service.find(rt, namespace, name) if rt is not None else None


def object_value(kind: str, namespace: str, name: str) -> str:
    """An object as an index value: `Kind/namespace/name` (namespace "" for cluster-scoped kinds)."""
    return f"{kind}/{'' if kind == v.CLUSTER_VIRTUAL_IMAGE else namespace}/{name}"


def source_refs(obj: dict[str, Any]) -> list[str]:
    """SOURCE_INDEX: the objects an image's data source depends on (its ObjectRef, its imagePullSecret)."""
    source = (obj.get("spec") or {}).get("dataSource") or {}
    ref = source.get("objectRef") or {}
    secret = (source.get("containerImage") or {}).get("imagePullSecret") or {}
    own = (obj.get("metadata") or {}).get("namespace", "")  # namespaced images and disks refer to their own namespace
    out = []
    if ref.get("kind") and ref.get("name"):
        out.append(object_value(ref["kind"], ref.get("namespace") or own, ref["name"]))
    if secret.get("name") and (secret.get("namespace") or own):
        out.append(object_value(v.SECRET, secret.get("namespace") or own, secret["name"]))
    return out


def mounted_devices(vm: dict[str, Any]) -> list[str]:
    """MOUNT_INDEX: the block devices of a VM that mounts them — listed in status.blockDeviceRefs and not Stopped
    (a VM with no phase yet does not count). Namespaced devices are in the VM's namespace."""
    status = vm.get("status") or {}
    if status.get("phase") in (None, "", v.VM_STOPPED):
        return []
    namespace = vm["metadata"].get("namespace", "")
    return [object_value(r["kind"], namespace, r["name"]) for r in status.get("blockDeviceRefs") or [] if r.get("kind") and r.get("name")]


def mount_changes(event: Event) -> set[str]:
    """The block devices (MOUNT_INDEX values) a VM's event mounts or unmounts: its mounted devices before the event
    and after it, those in one but not the other. A VM's other writes (conditions, node, IP: most on its way to
    Running) change no device's users."""
    if event.type == DELETED:
        return set(mounted_devices(event.entry.obj))
    after = set(mounted_devices(event.entry.obj))
    return after ^ set(mounted_devices(event.prev.obj)) if event.prev is not None else after


def register_indexes(store: Store, image_resources: list[str]) -> None:
    store.add_index(VMS, MOUNT_INDEX, mounted_devices)
    for res in image_resources:
        store.add_index(res, SOURCE_INDEX, source_refs)


def source_referrers(store: Store, resource: str) -> Callable[[Event], list[tuple[str, str]]]:
    """A controller's mapper: the images (or disks) of `resource` whose data source is the event's object, from
    SOURCE_INDEX (costs the matches, not the collection)."""

    def referrers(event: Event) -> list[tuple[str, str]]:
        value = object_value(event.entry.obj.get("kind", ""), event.entry.namespace, event.entry.name)
        return [(e.namespace, e.name) for e in store.by_index(resource, SOURCE_INDEX, value)]

    return referrers


def mounted_by(service: ObjectService, kind: str, name: str, namespace: str | None = None) -> list[str]:
    """`<ns>/<vm>` of the virtual machines that mount the block device (see `mounted_devices`), from the index."""
    return [f"{e.namespace}/{e.name}" for e in service.store.by_index(VMS, MOUNT_INDEX, object_value(kind, namespace or "", name))]


def resolve(service: ObjectService, spec: dict[str, Any], namespace: str = "") -> Readiness:
    """`namespace`: that of a namespaced image or disk, whose references (objectRef, imagePullSecret) carry none."""
    source = spec.get("dataSource") or {}
    kind = source.get("type", "")
    if kind == v.SOURCE_HTTP:
        http = source.get("http") or {}
        return Readiness(True, v.REASON_DATASOURCE_READY, source=Source(kind, http.get("checksum") or {}, url=http.get("url", ""), ca_bundle=http.get("caBundle")))
    if kind == v.SOURCE_UPLOAD:
        return Readiness(True, v.REASON_DATASOURCE_READY, source=Source(kind, (source.get("upload") or {}).get("checksum") or {}))
    if kind == v.SOURCE_CONTAINER_IMAGE:
        return _container_image(service, source.get("containerImage") or {}, namespace)
    return _object_ref(service, source.get("objectRef") or {}, namespace)


def _container_image(service: ObjectService, spec: dict[str, Any], namespace: str = "") -> Readiness:
    docker_config = None
    secret_ref = spec.get("imagePullSecret") or {}
    if secret_ref.get("name"):
        ns, name = secret_ref.get("namespace") or namespace, secret_ref["name"]
        secret = service.find(service.registry.types[v.resource_key(v.SECRET)], ns, name) if ns else None
        if secret is None:
            return Readiness(False, v.REASON_REGISTRY_SECRET_NOT_FOUND, f"Container registry secret {ns}/{name} not found.")
        encoded = (secret.get("data") or {}).get(DOCKER_CONFIG_KEY)
        plain = (secret.get("stringData") or {}).get(DOCKER_CONFIG_KEY)
        docker_config = base64.b64decode(encoded) if encoded else plain.encode() if plain else None
    src = Source(v.SOURCE_CONTAINER_IMAGE, image=spec.get("image", ""), ca_bundle=spec.get("caBundle"), docker_config=docker_config)
    return Readiness(True, v.REASON_DATASOURCE_READY, source=src)


def _object_ref(service: ObjectService, ref: dict[str, Any], namespace: str = "") -> Readiness:
    kind, name, ns = ref.get("kind", ""), ref.get("name", ""), ref.get("namespace") or namespace
    obj = _find(service, kind, "" if kind == v.CLUSTER_VIRTUAL_IMAGE else ns, name)
    status = (obj or {}).get("status") or {}
    ready = status.get("phase") == v.READY
    where = name if kind == v.CLUSTER_VIRTUAL_IMAGE else f"{ns}/{name}"
    what = "not found" if obj is None else "not ready yet"
    uid = (obj or {}).get("metadata", {}).get("uid", "")
    if kind == v.CLUSTER_VIRTUAL_IMAGE:
        if not ready or not (status.get("target") or {}).get("registryURL"):
            return Readiness(False, v.REASON_CLUSTER_IMAGE_NOT_READY, f"ClusterVirtualImage {where} {what}.")
        return Readiness(True, v.REASON_DATASOURCE_READY, source=Source(v.SOURCE_OBJECT_REF, copy_from=(repository("cvi", name), uid), source_uid=uid))
    if kind == v.VIRTUAL_IMAGE:
        if not ready:
            return Readiness(False, v.REASON_IMAGE_NOT_READY, f"VirtualImage {where} {what}.")
        if (obj.get("spec") or {}).get("storage", v.STORAGE_CONTAINER_REGISTRY) == v.STORAGE_CONTAINER_REGISTRY:
            return Readiness(True, v.REASON_DATASOURCE_READY, source=Source(v.SOURCE_OBJECT_REF, copy_from=(repository("vi", name, ns), uid), source_uid=uid))
        return Readiness(True, v.REASON_DATASOURCE_READY, source=_pvc_copy(service, obj, kind, where, uid))
    if kind == v.VIRTUAL_DISK:
        if not ready:
            return Readiness(False, v.REASON_DISK_NOT_READY, f"VirtualDisk {where} {what}.")
        users = mounted_by(service, v.VIRTUAL_DISK, name, ns)
        if users:
            return Readiness(False, v.REASON_DISK_ATTACHED, f"VirtualDisk {where} is attached to the running virtual machine {users[0]}.")
        return Readiness(True, v.REASON_DATASOURCE_READY, source=_pvc_copy(service, obj, kind, where, uid))
    if not ready:
        return Readiness(False, v.REASON_SNAPSHOT_NOT_READY, f"VirtualDiskSnapshot {where} {what}.")
    return Readiness(True, v.REASON_DATASOURCE_READY, source=_pvc_copy(service, obj, kind, where, uid))


def volume_data(pvc: dict[str, Any] | None) -> tuple[str, str] | None:
    """The DVCR image (repository, uid) a simulated volume's data references (copy-on-write: the volume holds
    no bytes of its own until written), from the claim's annotation; None for a blank volume."""
    text = ((pvc or {}).get("metadata", {}).get("annotations") or {}).get(v.VOLUME_DATA_ANNOTATION) or ""
    repo, sep, uid = text.rpartition(":")
    return (repo, uid) if sep and repo and uid else None


def _pvc_copy(service: ObjectService, obj: dict[str, Any], kind: str, where: str, uid: str) -> Source:
    """Data held in a PersistentVolumeClaim (a disk, an image on PVC): the image its volume references, grown to
    the claim's capacity; a blank volume gives a sparse raw image of its capacity."""
    status = obj.get("status") or {}
    claim_name = (status.get("target") or {}).get("persistentVolumeClaimName") or ""
    namespace = obj["metadata"].get("namespace", "")
    claim = service.find(service.registry.types[v.resource_key(v.PERSISTENT_VOLUME_CLAIM)], namespace, claim_name) if claim_name else None
    if claim is None:
        return Source(v.SOURCE_OBJECT_REF, copy_refusal=f"the {kind} {where} has no PersistentVolumeClaim", source_uid=uid)
    capacity = to_bytes((claim.get("status", {}).get("capacity") or {}).get("storage")) or 0
    data = volume_data(claim)
    if data is None:
        return Source(v.SOURCE_OBJECT_REF, blank_bytes=capacity, source_uid=uid)
    return Source(v.SOURCE_OBJECT_REF, copy_from=data, source_uid=uid, min_unpacked=capacity)
