"""The kinds the simulator serves: names, scope, versions, schemas and printer columns, from schemas/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from .api.validation import SchemaOps
from .schemas import builtin
from .schemas.dsl import SCHEMA_DIR, compile_column, compile_root, load_crd_file, load_document, our_crds

Converter = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass
class View:
    """A kind served as another face of `of`'s objects, as kube-apiserver serves events.k8s.io Events from the
    core Events' storage: one set of objects under of's store key, kept in of's storage form, converted on each
    read (`from_stored`) and write (`to_stored`); both take a private copy and may change it in place."""

    of: ResourceType
    from_stored: Callable[[dict[str, Any]], dict[str, Any]]
    to_stored: Callable[[dict[str, Any]], dict[str, Any]]


class Version:
    """One served version of a kind: its structural schema, printer columns and deprecation. A built-in kind's
    schema is built when first used (`build`: the generated structure of schemas/builtin.py under core.yaml's)."""

    def __init__(
        self,
        name: str,
        schema: dict[str, Any] | None = None,
        columns: list[dict[str, Any]] | None = None,
        deprecated: bool = False,
        deprecation_warning: str | None = None,
        *,
        build: Callable[[], dict[str, Any]] | None = None,
        library: Callable[[], dict[str, Any] | None] | None = None,
    ):
        self.name = name
        self._schema = schema
        self._build = build
        self._library = library
        self.columns = columns if columns is not None else []
        self.deprecated = deprecated
        self.deprecation_warning = deprecation_warning
        self._ops: SchemaOps | None = None

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            assert self._build is not None
            self._schema = self._build()
        return self._schema

    @property
    def builtin(self) -> bool:
        """A built-in kind's version (core.yaml), decoded as kube-apiserver decodes its Go types."""
        return self._library is not None

    @property
    def library(self) -> dict[str, Any] | None:
        """The generated library of the built-in kinds (schemas/builtin.py), for the served documents; None for a
        custom resource, or where the kubernetes client is not installed."""
        return self._library() if self._library is not None else None

    @property
    def ops(self) -> SchemaOps:
        if self._ops is None:
            self._ops = SchemaOps(self.schema, builtin=self.builtin)
        return self._ops


@dataclass
class ResourceType:
    group: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    versions: dict[str, Version]
    storage_version: str
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: list[str] = field(default_factory=list)
    list_kind: str = ""
    read_only: bool = False
    is_crd: bool = False
    crd: dict[str, Any] | None = None
    # convert(obj, to_version) for kinds served in several versions; set by the kind's own module.
    convert: Converter | None = None
    # set for a second face of another kind's objects (conversions.py)
    view: View | None = None

    @property
    def resource(self) -> str:
        """This kind's name in the registry: group/plural (core group is empty)."""
        return f"{self.group}/{self.plural}"

    @property
    def key(self) -> str:
        """The store key: `resource`, or for a view the resource whose objects it shows."""
        return self.view.of.resource if self.view else self.resource

    def api_version(self, version: str | None = None) -> str:
        v = version or self.storage_version
        return f"{self.group}/{v}" if self.group else v

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


class Registry:
    def __init__(self) -> None:
        self.types: dict[str, ResourceType] = {}
        self.by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._posted: dict[tuple[str, str, str], dict[str, Any] | None] = {}

    def add(self, rt: ResourceType) -> None:
        self.types[rt.resource] = rt
        for v in rt.versions:
            self.by_gvr[(rt.group, v, rt.plural)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.by_gvr.get((group, version, plural))

    def posted_schema(self, group: str, version: str, kind: str) -> dict[str, Any] | None:
        """The generated schema of a kind posted but never stored (POSTED_KINDS: a review, an Eviction), for decoding
        its body; None for another kind or where the kubernetes client's models are not installed."""
        key = (group, version, kind)
        if key not in self._posted:
            library = next((ver.library for rt in self.types.values() for ver in rt.versions.values() if ver.builtin), None)
            self._posted[key] = builtin.kind_schema(library, *key) if library is not None and key in POSTED_KINDS else None
        return self._posted[key]

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        for rt in self.types.values():
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    def stored(self) -> list[ResourceType]:
        """One type per store key: every kind but the views of another's objects (for whoever walks the store)."""
        return [rt for rt in self.types.values() if rt.view is None]

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, the storage version first (discovery orders them by priority: api/discovery.py)."""
        out: dict[str, list[str]] = {}
        for rt in self.types.values():
            vs = out.setdefault(rt.group, [])
            for v in [rt.storage_version, *rt.versions]:
                if v not in vs:
                    vs.append(v)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.types.values() if rt.group == group and version in rt.versions]


def from_crd(crd: dict[str, Any]) -> ResourceType:
    spec = crd["spec"]
    names = spec["names"]
    versions = {}
    storage = ""
    subresources: list[str] = []
    for v in spec["versions"]:
        if not v.get("served", True):
            continue
        versions[v["name"]] = Version(
            v["name"],
            v["schema"]["openAPIV3Schema"],
            v.get("additionalPrinterColumns", []),
            bool(v.get("deprecated")),
            v.get("deprecationWarning"),
        )
        if v.get("storage"):
            storage = v["name"]
        for sub in v.get("subresources", {}):
            if sub not in subresources:
                subresources.append(sub)
    return ResourceType(
        group=spec["group"],
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular", names["kind"].lower()),
        namespaced=spec["scope"] == "Namespaced",
        versions=versions,
        storage_version=storage,
        short_names=list(names.get("shortNames", [])),
        categories=list(names.get("categories", [])),
        subresources=subresources,
        list_kind=names.get("listKind", names["kind"] + "List"),
        is_crd=True,
        crd=crd,
    )


# Kinds a client posts to a subresource or a review endpoint, never stored: their bodies are decoded as a built-in
# kind's (Registry.posted_schema), from the same generated library.
POSTED_KINDS = (
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SubjectAccessReview"),
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
    ("authentication.k8s.io", "v1", "SelfSubjectReview"),
    ("authentication.k8s.io", "v1", "TokenRequest"),
    ("policy", "v1", "Eviction"),
    ("", "v1", "Binding"),
    ("autoscaling", "v1", "Scale"),
)


def core_types(state_dir: Path | None = None) -> list[ResourceType]:
    """The built-in kinds of core.yaml. Each one's schema is the whole structure generated from the kubernetes client
    (schemas/builtin.py) with core.yaml's schema laid over it, built when the kind is first used."""
    doc = load_document((SCHEMA_DIR / "core.yaml").read_text())
    kinds = [(k["group"], k["version"], k["kind"]) for k in doc["kinds"]] + list(POSTED_KINDS)

    def library() -> dict[str, Any] | None:
        return builtin.library(kinds, state_dir)

    out = []
    for k in doc["kinds"]:
        where = f"core.yaml:{k['kind']}"
        stated = partial(compile_root, k["schema"], doc.get("definitions", {}), where)
        subresources = (["status"] if k.get("status", True) else []) + list(k.get("subresources", []))
        columns = [compile_column(c) for c in k.get("columns", [])]
        build = partial(_builtin_schema, library, k["group"], k["version"], k["kind"], stated)
        out.append(
            ResourceType(
                group=k["group"],
                kind=k["kind"],
                plural=k.get("plural", k["kind"].lower() + "s"),
                singular=k["kind"].lower(),
                namespaced=k["scope"] == "Namespaced",
                versions={k["version"]: Version(k["version"], None, columns, bool(k.get("deprecationWarning")), k.get("deprecationWarning"), build=build, library=library)},
                storage_version=k["version"],
                short_names=list(k.get("shortNames", [])),
                categories=list(k.get("categories", [])),
                subresources=subresources,
                list_kind=k["kind"] + "List",
                read_only=bool(k.get("readOnly")),
            )
        )
    return out


def _builtin_schema(
    library: Callable[[], dict[str, Any] | None], group: str, version: str, kind: str, stated: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """core.yaml's schema of a built-in kind laid over the structure generated for it. The top-level metadata stays
    a plain object: ObjectMeta is checked by the server itself (api/objectmeta.py), as for every kind."""
    lib = library()
    generated = builtin.kind_schema(lib, group, version, kind) if lib else None
    schema = builtin.overlay(generated, stated()) if generated else stated()
    schema["properties"] = {**schema["properties"], "metadata": {"type": "object"}}
    return schema


def build_registry(crd_dir: Path | None = None, state_dir: Path | None = None) -> Registry:
    """Our CRDs, or the upstream ones verbatim from crd_dir (each file replaces ours of the same name). `state_dir`:
    where the built-in kinds' generated schemas may be cached (schemas/builtin.py library)."""
    crds = {c["metadata"]["name"]: c for c in our_crds()}
    if crd_dir is not None:
        for path in sorted(crd_dir.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    crds[doc["metadata"]["name"]] = doc
    reg = Registry()
    for rt in core_types(state_dir):
        reg.add(rt)
    for crd in crds.values():
        reg.add(from_crd(crd))
    return reg


__all__ = ["Registry", "ResourceType", "Version", "build_registry", "load_crd_file"]
