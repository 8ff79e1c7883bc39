"""kube-controller-manager's endpoints and endpointslice controllers, for the Services with a selector: the pods the
selector matches in the Service's namespace, once they have an address (nodes/pod_network.py: a VM's virt-launcher
pod holds the VM's IP) and while they are not being deleted — ready ones (condition Ready True, or all of them with
publishNotReadyAddresses) as `addresses`, the others as `notReadyAddresses` — with each Service port's targetPort
resolved against the pod (a number, or the name of one of its containers' ports; a port the pod does not name is left
out for that pod). They go to the Endpoints named after the Service (its labels, subsets grouped by their ports,
addresses sorted) and to EndpointSlices (label kubernetes.io/service-name, owned by the Service, one per group of
ports). A Service without a selector or of type ExternalName gets none from them (Endpoints are read-only to
clients here); a deleted Service's Endpoints and slices are deleted with it. `default/kubernetes` is kube-apiserver's own
(serviceaccounts.kubernetes_service).

Costs: a pod's write wakes the Services of its namespace whose selector matched it before or after, and only when
what endpoints show of it changed (its address, readiness, labels, node, deletion); a reconcile reads the selector's
pods through the store's label index and writes only what differs."""

from __future__ import annotations

import hashlib
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.selectors import match_label_selector
from ..api.service import WriteOptions
from ..store.store import DELETED, Entry, Event, Store
from .runtime import Context, Controller, Key, Requeue, controller_ref

PODS, SERVICES = v.resource_key(v.POD), v.resource_key(v.SERVICE)
ENDPOINTS, ENDPOINT_SLICES = "/endpoints", "discovery.k8s.io/endpointslices"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL, SLICE_MANAGER = "endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"
ENDPOINTS_MANAGER, SLICES_MANAGER = "endpoint-controller", "endpointslice-controller"
APISERVER_OWN = ("default", "kubernetes")

Port = tuple[str, int, str]  # (name, port, protocol)


def _selector(svc: dict[str, Any]) -> dict[str, str] | None:
    """The Service's selector when the controllers act on it: not ExternalName, a non-empty selector."""
    spec = svc.get("spec") or {}
    selector = spec.get("selector")
    if spec.get("type") == "ExternalName" or not isinstance(selector, dict) or not selector:
        return None
    return {str(k): str(val) for k, val in selector.items()}


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def _ports(svc: dict[str, Any], pod: dict[str, Any]) -> tuple[Port, ...]:
    """The Service's ports as they reach this pod: targetPort a number (or, absent, the port itself) or a named
    container port of the pod's."""
    named = {
        p.get("name"): p.get("containerPort")
        for c in (pod.get("spec") or {}).get("containers") or []
        for p in c.get("ports") or []
        if isinstance(p, dict) and p.get("name")
    }
    out: list[Port] = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            target = named.get(target)
        if target is None:
            continue  # the pod names no such port: not an endpoint of this one
        out.append((str(port.get("name") or ""), int(target), str(port.get("protocol") or "TCP")))
    return tuple(out)


def endpoint_groups(svc: dict[str, Any], pods: list[dict[str, Any]]) -> dict[tuple[Port, ...], list[tuple[dict[str, Any], bool]]]:
    """The selected pods that are endpoints, grouped by the ports they serve: {ports: [(pod, ready)]}, pods by address
    (pure)."""
    publish_all = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[Port, ...], list[tuple[dict[str, Any], bool]]] = {}
    for pod in pods:
        status = pod.get("status") or {}
        if not status.get("podIP") or pod["metadata"].get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        groups.setdefault(_ports(svc, pod), []).append((pod, publish_all or _ready(pod)))
    for members in groups.values():
        members.sort(key=lambda m: tuple(int(x) if x.isdigit() else 0 for x in m[0]["status"]["podIP"].split(".")))
    return dict(sorted(groups.items()))


def _target(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": meta.get("uid", "")}


def subsets(groups: dict[tuple[Port, ...], list[tuple[dict[str, Any], bool]]]) -> list[dict[str, Any]]:
    """The Endpoints' subsets (pure): one per group of ports, ready and not-ready addresses apart."""
    out = []
    for ports, members in groups.items():
        subset: dict[str, Any] = {}
        for key, wanted in (("addresses", True), ("notReadyAddresses", False)):
            addresses = [
                {"ip": pod["status"]["podIP"], **({"nodeName": pod["spec"]["nodeName"]} if pod["spec"].get("nodeName") else {}), "targetRef": _target(pod)}
                for pod, ready in members
                if ready == wanted
            ]
            if addresses:
                subset[key] = addresses
        if ports:
            subset["ports"] = [{**({"name": name} if name else {}), "port": port, "protocol": protocol} for name, port, protocol in ports]
        out.append(subset)
    return out


def slice_body(svc: dict[str, Any], ports: tuple[Port, ...], members: list[tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    """One EndpointSlice of the Service (pure): its name fixed by the Service's uid and the ports."""
    meta = svc["metadata"]
    digest = hashlib.sha256(f"{meta.get('uid', '')}/{ports}".encode()).hexdigest()[:5]
    labels = {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: SLICE_MANAGER}
    endpoints = [
        {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            **({"nodeName": pod["spec"]["nodeName"]} if pod["spec"].get("nodeName") else {}),
            "targetRef": _target(pod),
        }
        for pod, ready in members
    ]
    return {
        "metadata": {
            "name": f"{meta['name']}-{digest}",
            "labels": labels,
            "ownerReferences": [{**controller_ref(v.CORE_VERSION, v.SERVICE, meta["name"], meta.get("uid", "")), "blockOwnerDeletion": True}],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": name, "port": port, "protocol": protocol} for name, port, protocol in ports],
    }


def _shown(pod: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What the endpoints show of a pod: a write changing none of it wakes no Service."""
    if pod is None:
        return None
    status = pod.get("status") or {}
    meta = pod["metadata"]
    return (meta.get("labels"), status.get("podIP"), _ready(pod), status.get("phase"), meta.get("deletionTimestamp"), (pod.get("spec") or {}).get("nodeName"))


def controller(store: Store) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        if key == APISERVER_OWN:
            return None
        namespace, name = key
        entry = store.get(SERVICES, namespace, name)
        slices = [e for e in store.select(ENDPOINT_SLICES, namespace, {SERVICE_NAME_LABEL: name}) if (e.obj["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == SLICE_MANAGER]
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            _delete(ctx, ENDPOINTS, namespace, name)
            for e in slices:
                _delete(ctx, ENDPOINT_SLICES, namespace, e.name)
            return None
        svc = entry.obj
        selector = _selector(svc)
        if selector is None:
            for e in slices:
                _delete(ctx, ENDPOINT_SLICES, namespace, e.name)
            return None  # a Service without a selector: its Endpoints are left as they are (upstream: its user's)
        groups = endpoint_groups(svc, [e.obj for e in store.select(PODS, namespace, selector)])
        labels = dict(svc["metadata"].get("labels") or {})
        found = subsets(groups)
        _put(ctx, store, ENDPOINTS, namespace, {"metadata": {"name": name, "labels": labels}, **({"subsets": found} if found else {})}, ENDPOINTS_MANAGER, ("subsets",))
        # no endpoint yet: one empty slice, as upstream keeps a placeholder
        bodies = [slice_body(svc, ports, members) for ports, members in groups.items()] or [slice_body(svc, (), [])]
        wanted = {body["metadata"]["name"]: body for body in bodies}
        for body in wanted.values():
            _put(ctx, store, ENDPOINT_SLICES, namespace, body, SLICES_MANAGER, ("endpoints", "ports"))
        for e in slices:
            if e.name not in wanted:
                _delete(ctx, ENDPOINT_SLICES, namespace, e.name)
        return None

    def of_pod(event: Event) -> list[Key]:
        if event.type == DELETED:  # a deletion's event carries the object's last version, no previous one
            before, after = event.entry.obj, None
        else:
            before, after = (event.prev.obj if event.prev else None), event.entry.obj
        if _shown(before) == _shown(after):
            return []
        keys = []
        for svc in store.list(SERVICES, event.entry.namespace):
            selector = _selector(svc.obj)
            if selector is None:
                continue
            if any(pod is not None and match_label_selector({"matchLabels": selector}, pod["metadata"].get("labels") or {}) for pod in (before, after)):
                keys.append((svc.namespace, svc.name))
        return keys

    def of_endpoints(event: Event) -> list[Key]:
        """An Endpoints changed or deleted by someone else: put back what its Service selects."""
        svc = store.get(SERVICES, event.entry.namespace, event.entry.name)
        return [(event.entry.namespace, event.entry.name)] if svc is not None and _selector(svc.obj) is not None else []

    def of_slice(event: Event) -> list[Key]:
        labels = event.entry.obj["metadata"].get("labels") or {}
        name = labels.get(SERVICE_NAME_LABEL)
        return [(event.entry.namespace, name)] if name and labels.get(MANAGED_BY_LABEL) == SLICE_MANAGER else []

    return Controller("endpoints", SERVICES, reconcile, {PODS: of_pod, ENDPOINTS: of_endpoints, ENDPOINT_SLICES: of_slice})


def _put(ctx: Context, store: Store, resource: str, namespace: str, body: dict[str, Any], manager: str, compared: tuple[str, ...]) -> None:
    current: Entry | None = store.get(resource, namespace, body["metadata"]["name"])
    rt = ctx.service.registry.types[resource]
    opts = WriteOptions(version="v1", manager=manager)
    try:
        if current is None:
            ctx.service.create(rt, namespace, body, opts)
            return
        obj = current.obj
        if all(obj.get(k) == body.get(k) for k in compared) and (obj["metadata"].get("labels") or {}) == body["metadata"]["labels"]:
            return
        new = {**obj, "metadata": {**obj["metadata"], "labels": body["metadata"]["labels"]}}
        for k in compared:
            if body.get(k) is None:
                new.pop(k, None)
            else:
                new[k] = body[k]
        ctx.service.update(rt, namespace, body["metadata"]["name"], new, opts)
    except APIError as exc:
        if exc.code not in (404, 409):  # raced with a client's write or delete: that event brings the key back
            raise


def _delete(ctx: Context, resource: str, namespace: str, name: str) -> None:
    if ctx.service.store.get(resource, namespace, name) is None:
        return
    try:
        ctx.service.delete(ctx.service.registry.types[resource], namespace, name, {})
    except APIError as exc:
        if exc.code not in (404, 409):
            raise
