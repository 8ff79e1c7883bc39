"""What a cluster keeps in every namespace and in `default` (api/serviceaccounts.py serves the tokens):

- serviceaccounts (kube-controller-manager's serviceaccounts-controller): a `default` ServiceAccount in every active
  namespace, created with the namespace (existing ones at start) and again when it is deleted;
- root-ca-cert-publisher (kube-controller-manager's): a ConfigMap `kube-root-ca.crt` in every active namespace, its
  `data` exactly {"ca.crt": the simulator's CA certificate} and its `kubernetes.io/description` annotation, recreated
  when deleted and put back when changed;
- kubernetes-service (kube-apiserver's own kubernetesservice controller and endpoint reconciler): Service
  `default/kubernetes` (ClusterIP the first address of the service CIDR, port 443 `https` to the API server's port) and
  its Endpoints (127.0.0.1 and that port), recreated when deleted and their ports kept to the server's (its port may
  change at every start with `--port 0`).

A terminating namespace gets nothing (the namespace controller is emptying it). Each reconcile is a few lookups by key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import WriteOptions
from ..store.store import DELETED, MODIFIED, Event, Store
from .runtime import Context, Controller, Key, Requeue

NAMESPACES, CONFIG_MAPS, SERVICES = v.resource_key(v.NAMESPACE), v.resource_key(v.CONFIG_MAP), v.resource_key(v.SERVICE)
SERVICE_ACCOUNTS, ENDPOINTS, ENDPOINT_SLICES = "/serviceaccounts", "/endpoints", "discovery.k8s.io/endpointslices"
DEFAULT = "default"
CONTROLLER_MANAGER, API_SERVER = "kube-controller-manager", "kube-apiserver"
ROOT_CA = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or "
    "kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)
KUBERNETES = (DEFAULT, "kubernetes")
API_PORT = 6443  # the port named when the server's own is not known (a simulator built without serving)


def _active(store: Store, namespace: str) -> bool:
    entry = store.get(NAMESPACES, "", namespace)
    return entry is not None and not entry.obj["metadata"].get("deletionTimestamp") and (entry.obj.get("status") or {}).get("phase", "Active") == "Active"


def _write(ctx: Context, resource: str, namespace: str, obj: dict[str, Any], manager: str, current: dict[str, Any] | None) -> None:
    rt = ctx.service.registry.types[resource]
    opts = WriteOptions(version="v1", manager=manager)
    if current is None:
        ctx.service.create(rt, namespace, obj, opts)
    else:
        ctx.service.update(rt, namespace, obj["metadata"]["name"], obj, opts)


# -- serviceaccounts --------------------------------------------------------------------------------------------
async def ensure_default_account(ctx: Context, key: Key) -> Requeue | None:
    store, namespace = ctx.service.store, key[1]
    if _active(store, namespace) and store.get(SERVICE_ACCOUNTS, namespace, DEFAULT) is None:
        _write(ctx, SERVICE_ACCOUNTS, namespace, {"metadata": {"name": DEFAULT}}, CONTROLLER_MANAGER, None)
    return None


def serviceaccounts() -> Controller:
    def default_deleted(event: Event) -> list[Key]:
        return [("", event.entry.namespace)] if event.type == DELETED and event.entry.name == DEFAULT else []

    return Controller("serviceaccounts", NAMESPACES, ensure_default_account, {SERVICE_ACCOUNTS: default_deleted})


# -- root-ca-cert-publisher -------------------------------------------------------------------------------------
def root_ca_publisher(ca_file: Path) -> Controller:
    """The publisher of `ca_file` (the simulator's CA certificate, read once: it never changes while serving)."""
    pem: list[str] = []

    async def publish(ctx: Context, key: Key) -> Requeue | None:
        store, namespace = ctx.service.store, key[1]
        if not pem and ca_file.exists():
            pem.append(ca_file.read_text())
        if not pem or not _active(store, namespace):
            return None
        data = {"ca.crt": pem[0]}
        entry = store.get(CONFIG_MAPS, namespace, ROOT_CA)
        if entry is None:
            cm = {"metadata": {"name": ROOT_CA, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}}, "data": data}
            _write(ctx, CONFIG_MAPS, namespace, cm, CONTROLLER_MANAGER, None)
            return None
        annotations = entry.obj["metadata"].get("annotations") or {}
        if entry.obj.get("data") != data or not annotations.get(DESCRIPTION_ANNOTATION):
            meta = {**entry.obj["metadata"], "annotations": {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}}
            _write(ctx, CONFIG_MAPS, namespace, {**entry.obj, "metadata": meta, "data": data}, CONTROLLER_MANAGER, entry.obj)
        return None

    def changed(event: Event) -> list[Key]:
        return [("", event.entry.namespace)] if event.entry.name == ROOT_CA and event.type in (MODIFIED, DELETED) else []

    return Controller("root-ca-cert-publisher", NAMESPACES, publish, {CONFIG_MAPS: changed})


# -- the kubernetes Service -------------------------------------------------------------------------------------
def kubernetes_service(service_cidr: str, address: Callable[[], str]) -> Controller:
    """`address()`: the API server's host:port (known once it listens)."""
    cluster_ip = str(ipaddress.ip_network(service_cidr)[1])

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        store = ctx.service.store
        if not _active(store, DEFAULT):
            return None
        host, _, port_text = address().rpartition(":")
        port = int(port_text) if host and port_text.isdigit() and int(port_text) > 0 else API_PORT
        ports = [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
        svc = store.get(SERVICES, *KUBERNETES)
        if svc is None:
            spec = {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports, "sessionAffinity": "None"}
            obj = {"metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}}, "spec": spec}
            _write(ctx, SERVICES, DEFAULT, obj, API_SERVER, None)
        elif svc.obj.get("spec", {}).get("ports") != ports or svc.obj.get("spec", {}).get("type") != "ClusterIP":
            _write(ctx, SERVICES, DEFAULT, {**svc.obj, "spec": {**svc.obj["spec"], "ports": ports, "type": "ClusterIP"}}, API_SERVER, svc.obj)
        subsets = [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
        ep = store.get(ENDPOINTS, *KUBERNETES)
        if ep is None:
            obj = {"metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}, "subsets": subsets}
            _write(ctx, ENDPOINTS, DEFAULT, obj, API_SERVER, None)
        elif ep.obj.get("subsets") != subsets:
            _write(ctx, ENDPOINTS, DEFAULT, {**ep.obj, "subsets": subsets}, API_SERVER, ep.obj)
        # kube-apiserver's endpoint reconciler writes the service's EndpointSlice too (the mirroring controller skips it)
        endpoints = [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
        slice_ports = [{"name": "https", "port": port, "protocol": "TCP"}]
        eps = store.get(ENDPOINT_SLICES, *KUBERNETES)
        if eps is None:
            labels = {"kubernetes.io/service-name": "kubernetes"}
            obj = {"metadata": {"name": "kubernetes", "labels": labels}, "addressType": "IPv4", "endpoints": endpoints, "ports": slice_ports}
            _write(ctx, ENDPOINT_SLICES, DEFAULT, obj, API_SERVER, None)
        elif eps.obj.get("ports") != slice_ports or eps.obj.get("endpoints") != endpoints:
            _write(ctx, ENDPOINT_SLICES, DEFAULT, {**eps.obj, "endpoints": endpoints, "ports": slice_ports}, API_SERVER, eps.obj)
        return None

    def ours(event: Event) -> list[Key]:
        return [KUBERNETES] if (event.entry.namespace, event.entry.name) == KUBERNETES else []

    def default_namespace(event: Event) -> list[Key]:
        return [KUBERNETES] if event.entry.name == DEFAULT else []

    # no primary kind: the controller starts from the current state of these (the `default` namespace, at least)
    return Controller("kubernetes-service", "", reconcile, {NAMESPACES: default_namespace, SERVICES: ours, ENDPOINTS: ours, ENDPOINT_SLICES: ours})


def controllers(state_dir: Path, service_cidr: str, address: Callable[[], str]) -> list[Controller]:
    """The three controllers, for app.build."""
    return [serviceaccounts(), root_ca_publisher(state_dir / "pki" / "ca.crt"), kubernetes_service(service_cidr, address)]
