"""The resource metrics API, `metrics.k8s.io/v1beta1` — what `kubectl top node` and `kubectl top pod` read.

On a cluster an extension API server (metrics-server; on Deckhouse, prometheus-metrics-adapter) serves this group
behind kube-aggregator, from what the kubelets measure. Here the server answers it itself, from the store, with one
documented model instead of measurements: **a running container uses what it requests** (a container without
requests uses nothing), and a node uses the sum of its running pods. So `kubectl top node` shows each node's CPU and
memory reservation — what the scheduler and the descheduler go by — and a VM's virt-launcher pod shows its VM's
share (cores × coreFraction, memory with the overhead).

What metrics-server does, kept (upstream: metrics-server pkg/api/node.go, pod.go, table.go):
- only `get` and `list` (a watch is 405 MethodNotSupported; any other verb 405 MethodNotAllowed);
- only what can be scraped has metrics: a node whose Ready condition is not True has none, nor have the pods bound
  to it, nor any pod that is not Running — absent from a LIST, 404 `nodemetrics.metrics.k8s.io "<name>" not found`
  / `podmetrics.metrics.k8s.io "<ns>/<name>" not found` on a GET, while a node or pod that does not exist at all is
  the core API's own 404 (`nodes "<name>" not found`);
- label selectors as the core API parses them; field selectors on metadata.name and metadata.namespace (any other
  field label is 400, as the default field-label conversion answers);
- items in the core API's order (by namespace, then name), `kubectl get` tables with a Name column, one quantity
  column per resource (sorted: cpu, memory) and Window; quantities in canonical form (CPU in SI units of cores,
  memory in binary units of bytes).

Every answer is made when asked for (nothing is stored, nothing runs in between); a LIST costs the objects it covers
(an equality label selector reads its candidates from the store's label index, a node its pods from the node-name
index).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity
from ansible_collections.deckhouse.virtualization.plugins.module_utils.scheduling import pod_requests

from ..clock import Clock
from ..store.store import NODE_NAME, Store
from . import negotiation
from . import options as params
from .errors import APIError, not_found
from .selectors import equality_labels, parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from .server import APIServer

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
NODES, PODS = v.resource_key(v.NODE), v.resource_key(v.POD)
# metrics-server's default --metric-resolution: the window each usage is averaged over
WINDOW = "15s"
FIELDS = frozenset({"metadata.name", "metadata.namespace"})
RESOURCES = [
    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
]
_NOT_ALLOWED = "the server does not allow this method on the requested resource"


def register(api: APIServer) -> None:
    metrics = Metrics(api.store, api.service.clock)
    api.aggregated[(GROUP, VERSION)] = metrics.serve
    api.discovery.extra[(GROUP, VERSION)] = list(RESOURCES)
    api.discovery.extra_openapi[(GROUP, VERSION)] = openapi()


# -- quantities -----------------------------------------------------------------------------------------------------
def cpu_quantity(millicores: int) -> str:
    """Millicores as resource.Quantity.String() writes a DecimalSI amount: whole cores, else millicores."""
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def memory_quantity(size: int) -> str:
    """Bytes as resource.Quantity.String() writes a BinarySI amount: the largest binary suffix that divides it."""
    if size == 0:
        return "0"
    for power, suffix in ((60, "Ei"), (50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")):
        if size % (1 << power) == 0:
            return f"{size >> power}{suffix}"
    return str(size)


def container_usage(container: dict[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) a running container uses in the simulator: what it requests."""
    cpu, memory = pod_requests({"containers": [container]})
    return cpu, memory


# -- the model ------------------------------------------------------------------------------------------------------
def node_ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == v.COND_NODE_READY and c.get("status") == "True" for c in conditions if isinstance(c, dict))


def pod_running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and bool((pod.get("spec") or {}).get("nodeName"))


class Metrics:
    def __init__(self, store: Store, clock: Clock):
        self.store = store
        self.clock = clock

    # -- objects --------------------------------------------------------------------------------------
    def _scraped(self, pod: dict[str, Any]) -> bool:
        """A pod has metrics when it runs on a node whose kubelet can be scraped (Ready)."""
        if not pod_running(pod):
            return False
        node = self.store.get(NODES, "", pod["spec"]["nodeName"])
        return node is not None and node_ready(node.obj)

    def _meta(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        out: dict[str, Any] = {"name": meta.get("name", "")}
        if meta.get("namespace"):
            out["namespace"] = meta["namespace"]
        out["creationTimestamp"] = self.clock.stamp()
        if meta.get("labels"):
            out["labels"] = dict(meta["labels"])
        return out

    def pod_metrics(self, pod: dict[str, Any]) -> dict[str, Any]:
        containers = []
        for container in (pod.get("spec") or {}).get("containers") or []:
            cpu, memory = container_usage(container)
            containers.append({"name": container.get("name", ""), "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}})
        return {
            "kind": "PodMetrics",
            "apiVersion": API_VERSION,
            "metadata": self._meta(pod),
            "timestamp": self.clock.stamp(),
            "window": WINDOW,
            "containers": containers,
        }

    def node_metrics(self, node: dict[str, Any]) -> dict[str, Any]:
        cpu = memory = 0
        for entry in self.store.by_index(PODS, NODE_NAME, node["metadata"]["name"]):
            pod = entry.obj
            if pod_running(pod):
                for container in (pod.get("spec") or {}).get("containers") or []:
                    c, m = container_usage(container)
                    cpu, memory = cpu + c, memory + m
        return {
            "kind": "NodeMetrics",
            "apiVersion": API_VERSION,
            "metadata": self._meta(node),
            "timestamp": self.clock.stamp(),
            "window": WINDOW,
            "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)},
        }

    # -- requests -------------------------------------------------------------------------------------
    async def serve(self, rest: list[str], request: web.Request) -> web.Response:
        """A request under /apis/metrics.k8s.io/v1beta1/ (`rest`: the path's parts after it)."""
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "pods":
            namespace, rest = rest[1], rest[2:]
        unknown = APIError(404, "the server could not find the requested resource", reason="NotFound", details={})
        if not rest or rest[0] not in ("nodes", "pods") or len(rest) > 2:
            raise unknown
        plural, name = rest[0], (rest[1] if len(rest) == 2 else None)
        if (plural == "nodes" and namespace is not None) or (plural == "pods" and namespace is None and name is not None):
            raise unknown  # nodes have no namespace; a pod is read in its namespace only
        if request.method != "GET":
            raise APIError(405, _NOT_ALLOWED, reason="MethodNotAllowed", details={})
        query = request.query
        if params.query_flag(query, "watch"):  # a watch of one object too (kube makes it a watch by name)
            kind = "nodemetrics" if plural == "nodes" else "podmetrics"
            raise APIError(405, f'watch is not supported on resources of kind "{kind}.{GROUP}"', reason="MethodNotAllowed", details={})
        media = negotiation.negotiate(request.headers.get("Accept", ""), custom=True)
        if name is not None:
            obj = self._get_node(name) if plural == "nodes" else self._get_pod(namespace or "", name)
            return self._answer(request, media, obj, is_list=False)
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), FIELDS)

        def selected(obj: dict[str, Any]) -> bool:
            return labels((obj.get("metadata") or {}).get("labels") or {}) and fields(obj)

        # candidates from the label index where the selector has an equality (`kubectl top pod -l app=web`)
        candidates = self.store.select(NODES if plural == "nodes" else PODS, namespace, equality_labels(query.get("labelSelector")))
        if plural == "nodes":
            items = [self.node_metrics(e.obj) for e in candidates if selected(e.obj) and node_ready(e.obj)]
            kind = "NodeMetricsList"
        else:
            items = [self.pod_metrics(e.obj) for e in candidates if selected(e.obj) and self._scraped(e.obj)]
            kind = "PodMetricsList"
        return self._answer(request, media, {"kind": kind, "apiVersion": API_VERSION, "metadata": {}, "items": items}, is_list=True)

    def _get_node(self, name: str) -> dict[str, Any]:
        entry = self.store.get(NODES, "", name)
        if entry is None:
            raise not_found("", "nodes", name)
        if not node_ready(entry.obj):
            raise not_found(GROUP, "nodemetrics", name)
        return self.node_metrics(entry.obj)

    def _get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        entry = self.store.get(PODS, namespace, name)
        if entry is None:
            raise not_found("", "pods", name)
        if not self._scraped(entry.obj):
            raise not_found(GROUP, "podmetrics", f"{namespace}/{name}")
        return self.pod_metrics(entry.obj)

    def _answer(self, request: web.Request, media: negotiation.MediaType, obj: dict[str, Any], is_list: bool) -> web.Response:
        from .server import MEDIA

        if media.convert == negotiation.TABLE:
            obj = negotiation.table_version(metrics_table(obj["items"] if is_list else [obj], request.query.get("includeObject", "Metadata")), media.version)
        elif media.convert == negotiation.PARTIAL:
            if is_list:
                raise negotiation.wrong_shape(negotiation.PARTIAL, f"*metrics.{obj['kind']}")
            obj = negotiation.partial(obj["metadata"], media.version)
        elif media.convert == negotiation.PARTIAL_LIST:
            if not is_list:
                raise negotiation.wrong_shape(negotiation.PARTIAL_LIST, f"*metrics.{obj['kind']}")
            obj = negotiation.partial_list(obj["metadata"], [item["metadata"] for item in obj["items"]], media.version)
        request[MEDIA] = negotiation.MediaType(media.media)  # converted here; the server's render writes YAML if asked
        return web.json_response(obj)


def metrics_table(items: Iterable[dict[str, Any]], include_object: str) -> dict[str, Any]:
    """A Table as metrics-server's ConvertToTable makes it: Name, a quantity column per resource, Window."""
    rows = []
    for item in items:
        if "usage" in item:
            usage = dict(item["usage"])
        else:  # a pod: its containers' usage summed
            cpu = sum(int(parse_quantity(c["usage"]["cpu"]) * 1000) for c in item["containers"])
            memory = sum(int(parse_quantity(c["usage"]["memory"])) for c in item["containers"])
            usage = {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)} if item["containers"] else {}
        row: dict[str, Any] = {"cells": [item["metadata"]["name"], *(usage.get(r, "0") for r in ("cpu", "memory")), item["window"]]}
        if include_object == "Object":
            row["object"] = item
        elif include_object != "None":
            row["object"] = negotiation.partial(item["metadata"])
        rows.append(row)
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
        {"name": "cpu", "type": "string", "format": "quantity", "description": "", "priority": 0},
        {"name": "memory", "type": "string", "format": "quantity", "description": "", "priority": 0},
        {"name": "Window", "type": "string", "format": "duration", "description": "", "priority": 0},
    ]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}


# -- OpenAPI v3 (kubectl explain) -----------------------------------------------------------------------------------
def openapi() -> dict[str, Any]:
    """The group's OpenAPI v3 document: NodeMetrics and PodMetrics as k8s.io/metrics defines them, with GET paths."""
    from .discovery import OBJECT_META, OBJECT_META_SCHEMA, SERVER_VERSION

    quantities = {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "The memory usage is the memory working set.",
    }
    common = {
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
        "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
        "metadata": {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}], "default": {}, "description": "Standard object's metadata."},
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "description": "The following fields define time interval from which metrics were collected from the interval [Timestamp-Window, Timestamp].",
        },
        "window": {"type": "string"},
    }
    node = {
        "type": "object",
        "description": "NodeMetrics sets resource usage metrics of a node.",
        "required": ["timestamp", "window", "usage"],
        "properties": {**common, "usage": quantities},
        "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": "NodeMetrics"}],
    }
    container = {
        "type": "object",
        "description": "ContainerMetrics sets resource usage metrics of a container.",
        "required": ["name", "usage"],
        "properties": {"name": {"type": "string", "description": "Container name corresponding to the one from pod.spec.containers."}, "usage": quantities},
    }
    pod = {
        "type": "object",
        "description": "PodMetrics sets resource usage metrics of a pod.",
        "required": ["timestamp", "window", "containers"],
        "properties": {
            **common,
            "containers": {
                "type": "array",
                "items": {"allOf": [{"$ref": f"#/components/schemas/{_schema_name('ContainerMetrics')}"}], "default": {}},
                "description": "Metrics for all containers are collected within the same time window.",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": "PodMetrics"}],
    }
    schemas = {OBJECT_META: OBJECT_META_SCHEMA, _schema_name("NodeMetrics"): node, _schema_name("PodMetrics"): pod, _schema_name("ContainerMetrics"): container}
    paths = {}
    for path, kind in (("nodes", "NodeMetrics"), ("pods", "PodMetrics"), ("namespaces/{namespace}/pods", "PodMetrics")):
        gvk = {"group": GROUP, "version": VERSION, "kind": kind}
        ref = {"$ref": f"#/components/schemas/{_schema_name(kind)}"}
        listing = {"type": "object", "properties": {"items": {"type": "array", "items": ref}}}
        paths[f"/apis/{GROUP}/{VERSION}/{path}"] = {"get": _get(f"list{kind}", "list", gvk, listing)}
        if path != "pods":  # a pod is read in its namespace
            paths[f"/apis/{GROUP}/{VERSION}/{path}/{{name}}"] = {"get": _get(f"read{kind}", "get", gvk, ref)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]}, "paths": paths, "components": {"schemas": schemas}}


def _schema_name(kind: str) -> str:
    return f"io.k8s.metrics.pkg.apis.metrics.{VERSION}.{kind}"


def _get(operation: str, action: str, gvk: dict[str, str], schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": operation,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }

