"""Namespace lifecycle: a deleted namespace is Terminating until everything in it is gone, then disappears."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, Admission, AdmissionRequest
from ..api.service import WriteOptions
from ..store.store import Event
from .runtime import Context, Controller, Key, Requeue

NAMESPACES = v.resource_key(v.NAMESPACE)
MANAGER = "namespace-controller"


async def reconcile(ctx: Context, key: Key) -> Requeue | None:
    service = ctx.service
    ns_rt = service.registry.types[NAMESPACES]
    ns = service.find(ns_rt, "", key[1])
    if ns is None or not ns["metadata"].get("deletionTimestamp"):
        return None
    name = ns["metadata"]["name"]
    if ns.get("status", {}).get("phase") != v.TERMINATING:
        status = {**ns, "status": {**ns.get("status", {}), "phase": v.TERMINATING}}
        service.update(ns_rt, "", name, status, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
    left = 0
    for rt in service.registry.stored():
        if not rt.namespaced or rt.read_only:
            continue
        for entry in service.store.list(rt.key, name):
            left += 1
            if not entry.obj["metadata"].get("deletionTimestamp"):
                service.delete(rt, name, entry.name, {"propagationPolicy": "Background"})
    if left:
        return Requeue(after=1.0)
    ns = service.find(ns_rt, "", name)
    if ns is not None and ns.get("spec", {}).get("finalizers"):
        # the namespace controller's own spec finalizer (the real one uses the finalize subresource)
        service.update(ns_rt, "", name, {**ns, "spec": {**ns["spec"], "finalizers": []}}, WriteOptions(version=v.CORE_VERSION, manager=MANAGER))
    return None


def controller(registry, store) -> Controller:
    def terminating_namespace_of(event: Event) -> list[Key]:
        """Content changes matter only to a namespace being deleted (it waits for them to be gone)."""
        ns = event.entry.namespace
        entry = store.get(NAMESPACES, "", ns) if ns else None
        return [("", ns)] if entry is not None and entry.obj["metadata"].get("deletionTimestamp") else []

    secondary = {rt.key: terminating_namespace_of for rt in registry.stored() if rt.namespaced}
    return Controller("namespace", NAMESPACES, reconcile, secondary)


def register_defaults(admission: Admission) -> None:
    """What kube-apiserver sets on every new Namespace: the `kubernetes` finalizer this controller owns, phase
    Active and the `kubernetes.io/metadata.name` label."""

    @admission.mutate(v.CORE_GROUP, v.NAMESPACE, operations=(CREATE,))
    def namespace_defaults(request: AdmissionRequest) -> None:
        # upstream: pkg/registry/core/namespace/strategy.go PrepareForCreate (the status replaced, the finalizer
        # added to those given). A field of the wrong type (a list for spec) is left to the schema check's 4xx.
        obj = request.obj
        if obj.get("spec") is None:
            obj["spec"] = {}
        spec = obj["spec"]
        if isinstance(spec, dict):
            finalizers = spec.get("finalizers")
            if finalizers is None:
                spec["finalizers"] = [v.KUBERNETES_FINALIZER]
            elif isinstance(finalizers, list) and v.KUBERNETES_FINALIZER not in finalizers:
                finalizers.append(v.KUBERNETES_FINALIZER)
        if obj.get("status") is None or isinstance(obj["status"], dict):
            obj["status"] = {"phase": "Active"}
        meta = obj["metadata"]
        if meta.get("labels") is None:
            meta["labels"] = {}
        if isinstance(meta["labels"], dict):
            meta["labels"][v.NAMESPACE_NAME_LABEL] = meta["name"]
