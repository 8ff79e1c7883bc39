"""Discovery documents (/api, /apis, per group-version resource lists) and OpenAPI v3 per group-version."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import cached_property
from typing import Any

from ..resources import Registry, ResourceType
from ..schemas import builtin

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ_VERBS = ["get", "list", "watch"]
# The built-in kinds' schemas come from the kubernetes client installed beside the simulator (schemas/builtin.py),
# which may be generated from a newer Kubernetes than the one reported here: their newer fields are served too.
SERVER_VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-dvp-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24",
    "compiler": "gc",
    "platform": "linux/amd64",
}
SUBRESOURCE_KINDS = {
    "eviction": ("policy", "v1", "Eviction", ["create"]),
    "binding": ("", "v1", "Binding", ["create"]),
    "log": ("", "v1", "Pod", ["get"]),
    "exec": ("", "v1", "PodExecOptions", ["create", "get"]),
    "attach": ("", "v1", "PodAttachOptions", ["create", "get"]),
    "portforward": ("", "v1", "PodPortForwardOptions", ["create", "get"]),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ["create"]),  # serviceaccounts/token (api/serviceaccounts.py)
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "ephemeralcontainers": ("", "v1", "Pod", ["get", "patch", "update"]),  # pods/ephemeralcontainers: kubectl debug  # deployments/scale, replicasets/scale (api/scale.py)
}


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """A sort key putting versions in kube-aware order, highest priority first: GA before beta before alpha, then the
    higher major, then the higher minor (v1 > v1beta2 > v1beta1 > v1alpha3 > v1alpha2); other names after, by name
    (upstream: staging/src/k8s.io/apimachinery/pkg/version/helpers.go CompareKubeAwareVersionStrings)."""
    m = _KUBE_VERSION.match(version)
    if m is None:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), "")


def group_path(group: str, version: str) -> str:
    return f"api/{version}" if group == "" else f"apis/{group}/{version}"


class Discovery:
    def __init__(self, registry: Registry):
        self.registry = registry
        # (group, version) → resource entries served outside the registry, never stored (the review
        # resources of api/authz.py, the metrics of api/metrics.py); listed in discovery after the registry's own.
        self.extra: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # (group, version) of `extra` → its own OpenAPI v3 document (a read-only group such as metrics.k8s.io);
        # the others get create_only_openapi's
        self.extra_openapi: dict[tuple[str, str], dict[str, Any]] = {}

    def _versions(self) -> dict[str, list[str]]:
        """group → served versions (the registry's and those of `extra`), preferred first. The preferred version is
        the highest in kube-aware order, not the storage version: apiextensions-apiserver sorts a group's served
        versions so (upstream: staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/
        customresource_discovery_controller.go, sortGroupDiscoveryByKubeAwareVersion). VirtualMachineClass stores
        v1alpha2 and serves v1alpha3 too, so kubectl reads classes as v1alpha3, without v1alpha2's deprecation warning."""
        out = {g: list(vs) for g, vs in self.registry.groups().items()}
        for group, version in self.extra:
            if version not in out.setdefault(group, []):
                out[group].append(version)
        return {g: sorted(vs, key=version_priority) for g, vs in out.items()}

    def group_versions(self) -> dict[str, list[str]]:
        """group → every version served (the registry's and those served outside it), preferred first."""
        return self._versions()

    def api_versions(self, address: str) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }

    def group(self, name: str) -> dict[str, Any] | None:
        versions = self._versions().get(name)
        if not versions:
            return None
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": entries, "preferredVersion": entries[0]}

    def groups(self) -> dict[str, Any]:
        out = [self.group(g) for g in sorted(self._versions()) if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}

    def resources(self, group: str, version: str) -> dict[str, Any] | None:
        types = self.registry.in_group_version(group, version)
        if not types and (group, version) not in self.extra:
            return None
        out = []
        for rt in sorted(types, key=lambda t: t.plural):
            entry: dict[str, Any] = {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": READ_VERBS if rt.read_only else VERBS,
                "storageVersionHash": hashlib.sha256(rt.key.encode()).hexdigest()[:12],
            }
            if rt.short_names:
                entry["shortNames"] = rt.short_names
            if rt.categories:
                entry["categories"] = rt.categories
            out.append(entry)
            for sub in rt.subresources:
                if sub == "status":
                    out.append(
                        {"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced, "kind": rt.kind, "verbs": ["get", "patch", "update"]}
                    )
                elif sub in SUBRESOURCE_KINDS:
                    g, v, kind, verbs = SUBRESOURCE_KINDS[sub]
                    out.append(
                        {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced, "group": g, "version": v, "kind": kind, "verbs": verbs}
                    )
        out += self.extra.get((group, version), [])
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}

    # -- OpenAPI v3 --------------------------------------------------------------------------------------
    @cached_property
    def openapi_documents(self) -> dict[str, bytes]:
        docs: dict[str, bytes] = {}
        by_gv: dict[tuple[str, str], list[ResourceType]] = {}
        for rt in self.registry.types.values():
            for v in rt.versions:
                by_gv.setdefault((rt.group, v), []).append(rt)
        lib = builtin_library(self.registry.types.values())
        for (group, version), types in by_gv.items():
            docs[group_path(group, version)] = json.dumps(openapi_v3(group, version, types, lib), separators=(",", ":")).encode()
        for (group, version), entries in self.extra.items():
            doc = self.extra_openapi.get((group, version)) or create_only_openapi(group, version, entries)
            docs[group_path(group, version)] = json.dumps(doc, separators=(",", ":")).encode()
        return docs

    def openapi_index(self) -> dict[str, Any]:
        paths = {}
        for path, doc in sorted(self.openapi_documents.items()):
            digest = hashlib.sha512(doc).hexdigest()[:64].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        return {"paths": paths}


def schema_name(rt: ResourceType, version: str) -> str:
    """A kind's component name: a built-in kind's as kube-apiserver names it (io.k8s.api.core.v1.Pod,
    io.k8s.api.apps.v1.DaemonSet), a custom resource's after its reversed group (io.deckhouse.virtualization...)."""
    if not rt.is_crd:
        return f"{builtin.group_package(rt.group, version)}.{rt.kind}"
    reversed_group = ".".join(reversed(rt.group.split(".")))
    return f"{reversed_group}.{version}.{rt.kind}"


OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
# ObjectMeta as kube-apiserver publishes it (the fields, and the patch keys kubectl's strategic merge reads).
OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "annotations": _STRING_MAP,
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
        "generateName": {"type": "string"},
        "generation": {"type": "integer", "format": "int64"},
        "labels": _STRING_MAP,
        "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "x-kubernetes-list-map-keys": ["uid"],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": "uid",
            "x-kubernetes-patch-strategy": "merge",
        },
        "resourceVersion": {"type": "string"},
        "selfLink": {"type": "string"},
        "uid": {"type": "string"},
    },
}


def builtin_library(types: Any) -> dict[str, Any] | None:
    """The built-in kinds' generated library (schemas/builtin.py), from the first built-in kind among `types`."""
    return next((v.library for rt in types for v in rt.versions.values() if v.builtin), None)


def object_meta_schema(served: builtin.Served | None) -> dict[str, Any]:
    """ObjectMeta's component: its fields and descriptions from the generated library (schemas/builtin.py) where there
    is one, with OBJECT_META_SCHEMA's list types and patch keys over them."""
    node = builtin.object_meta(served.lib) if served else None
    if served is None or node is None:
        return OBJECT_META_SCHEMA
    return served.root(builtin.overlay(node, OBJECT_META_SCHEMA))


def openapi_v3(group: str, version: str, types: list[ResourceType], lib: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI v3 document of one group-version; every kind's metadata refers to ObjectMeta. A built-in kind's
    schema is published as kube-apiserver publishes it: each model of the kind (PodSpec, Container...) a component
    of its own, referred to from every field of that type (builtin.Served). `lib`: the generated library (default:
    the one of these types, if any is built-in)."""
    lib = lib or builtin_library(types)
    schemas: dict[str, Any] = {}
    served = builtin.Served(lib, schemas) if lib else None
    schemas[OBJECT_META] = object_meta_schema(served)
    paths: dict[str, Any] = {}
    for rt in types:
        gvk = [{"group": group, "version": version, "kind": rt.kind}]
        own = rt.versions[version]
        if own.builtin:
            schema = served.root(own.schema) if served else builtin.strip_markers(own.schema)
        else:
            schema = copy.deepcopy(own.schema)
        schema["x-kubernetes-group-version-kind"] = gvk
        schema.setdefault("properties", {})["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}], "default": {}}
        if own.builtin:
            schema["properties"]["metadata"]["description"] = "Standard object's metadata."
        name = schema_name(rt, version)
        schemas[name] = schema
        schemas[name + "List"] = {
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            },
            "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": rt.kind + "List"}],
        }
        base = "/" + group_path(group, version)
        prefix = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
        ref = {"$ref": f"#/components/schemas/{name}"}
        patch_types = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
        if not rt.is_crd:
            patch_types.insert(2, "application/strategic-merge-patch+json")
        params = [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ]
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        item_ops = {
            "get": {"operationId": f"read{rt.kind}", "responses": ok, "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk[0]},
            "delete": {"operationId": f"delete{rt.kind}", "responses": ok, "x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk[0]},
        }
        coll_ops = {
            "get": {
                "operationId": f"list{rt.kind}",
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}List"}}}}},
                "x-kubernetes-action": "list",
                "x-kubernetes-group-version-kind": gvk[0],
            },
        }
        if not rt.read_only:
            item_ops["put"] = {
                "operationId": f"replace{rt.kind}",
                "parameters": params,
                "requestBody": {"content": {"*/*": {"schema": ref}}},
                "responses": ok,
                "x-kubernetes-action": "put",
                "x-kubernetes-group-version-kind": gvk[0],
            }
            item_ops["patch"] = {
                "operationId": f"patch{rt.kind}",
                "parameters": params + [{"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}}],
                "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in patch_types}},
                "responses": ok,
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk[0],
            }
            coll_ops["post"] = {
                "operationId": f"create{rt.kind}",
                "parameters": params,
                "requestBody": {"content": {"*/*": {"schema": ref}}},
                "responses": ok,
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk[0],
            }
        paths[prefix] = coll_ops
        paths[prefix + "/{name}"] = item_ops
        if rt.has_status:
            paths[prefix + "/{name}/status"] = {k: v for k, v in item_ops.items() if k in ("get", "put", "patch")}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def create_only_openapi(group: str, version: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI v3 document of create-only resources (`Discovery.extra`): each kind with free-form spec and
    status, and its POST path, enough for `kubectl create -f` to validate and `kubectl explain` to answer."""
    schemas: dict[str, Any] = {OBJECT_META: OBJECT_META_SCHEMA}
    paths: dict[str, Any] = {}
    reversed_group = ".".join(reversed(group.split(".")))
    for entry in entries:
        name = f"{reversed_group}.{version}.{entry['kind']}"
        gvk = {"group": group, "version": version, "kind": entry["kind"]}
        free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schemas[name] = {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}], "default": {}},
                "spec": free,
                "status": free,
            },
            "x-kubernetes-group-version-kind": [gvk],
        }
        ref = {"$ref": f"#/components/schemas/{name}"}
        paths[f"/{group_path(group, version)}/{entry['name']}"] = {
            "post": {
                "operationId": f"create{entry['kind']}",
                "requestBody": {"content": {"*/*": {"schema": ref}}},
                "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": ref}}}},
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]}, "paths": paths, "components": {"schemas": schemas}}
