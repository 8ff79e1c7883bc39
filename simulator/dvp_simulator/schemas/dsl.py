"""Compile our compact schema notation into OpenAPI v3 structural schemas and CRD objects.

The notation is documented in README.md beside this file. It exists so that a schema reads like the API it
describes: `url!: string` instead of eight lines of nested YAML, and standard Kubernetes types (affinity,
tolerations, label selectors) written once in `k8s.yaml` and referenced with `$ref`.
"""

from __future__ import annotations

import copy
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.deckhouse.virtualization.plugins.module_utils.vocabulary import DVP_GROUP

SCHEMA_DIR = Path(__file__).resolve().parent

QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"

# Shorthand scalar types and what they mean in OpenAPI.
SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "date-time": {"type": "string", "format": "date-time"},
    "byte": {"type": "string", "format": "byte"},
    "int-or-string": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
    "quantity": {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": True,
    },
    "any": {"x-kubernetes-preserve-unknown-fields": True},
    "any-object": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}

# `$name` attributes whose OpenAPI key differs from the name.
RENAMED = {
    "doc": "description",
    "listType": "x-kubernetes-list-type",
    "listMapKeys": "x-kubernetes-list-map-keys",
    "mapType": "x-kubernetes-map-type",
    "preserve": "x-kubernetes-preserve-unknown-fields",
    "intOrString": "x-kubernetes-int-or-string",
    "embedded": "x-kubernetes-embedded-resource",
    "values": "additionalProperties",
}


class SchemaError(ValueError):
    pass


class Compiler:
    def __init__(self, definitions: dict[str, Any], where: str):
        self.definitions = definitions
        self.where = where

    def node(self, spec: Any, path: str) -> dict[str, Any]:
        if isinstance(spec, str):
            return self.shorthand(spec, path)
        if not isinstance(spec, dict):
            raise SchemaError(f"{self.where}: {path}: expected a mapping or a shorthand string, got {spec!r}")
        out: dict[str, Any] = {}
        if "$ref" in spec:
            out.update(self.node(self.definition(spec["$ref"], path), path))
        if "$type" in spec:
            out.update(self.shorthand(spec["$type"], path))
        props: dict[str, Any] = {}
        required: list[str] = list(out.pop("required", []))
        if "properties" in out:
            props.update(out.pop("properties"))
        for key, value in spec.items():
            if key.startswith("$"):
                continue
            name, is_required, is_array = parse_key(key)
            child = self.node(value, f"{path}.{name}")
            if is_array:
                child = {"type": "array", "items": child}
            props[name] = child
            if is_required and name not in required:
                required.append(name)
        for key, value in spec.items():
            if not key.startswith("$") or key in ("$ref", "$type"):
                continue
            attr = key[1:]
            if attr == "items":
                out["type"] = "array"
                out["items"] = self.node(value, f"{path}[]")
            elif attr == "values":
                out["type"] = "object"
                out["additionalProperties"] = self.node(value, f"{path}{{}}")
            elif attr == "rules":
                out["x-kubernetes-validations"] = [compile_rule(r) for r in value]
            elif attr == "required":
                required.extend(r for r in value if r not in required)
            elif attr in ("anyOf", "oneOf", "allOf"):
                out[attr] = [self.node(v, f"{path}<{attr}>") for v in value]
            elif attr == "not":
                out["not"] = self.node(value, f"{path}<not>")
            else:
                out[RENAMED.get(attr, attr)] = copy.deepcopy(value)
        if props:
            out.setdefault("type", "object")
            out["properties"] = props
        if required:
            out["required"] = required
        return out

    def shorthand(self, text: str, path: str) -> dict[str, Any]:
        head, _, default = text.partition(" =")
        head = head.strip()
        if head.startswith("[]"):
            out = {"type": "array", "items": self.shorthand(head[2:], path + "[]")}
        elif head.startswith("map[") and head.endswith("]"):
            out = {"type": "object", "additionalProperties": self.shorthand(head[4:-1], path + "{}")}
        elif head.startswith("enum:"):
            out = {"type": "string", "enum": head[5:].split("|")}
        elif head.startswith("#") or "." in head:
            out = self.node(self.definition(head, path), path)
        elif head in SCALARS:
            out = copy.deepcopy(SCALARS[head])
        elif head == "":
            out = {}
        else:
            raise SchemaError(f"{self.where}: {path}: unknown type {head!r}")
        if default:
            out["default"] = load_document(default.strip())
        return out

    def definition(self, ref: str, path: str) -> Any:
        if ref.startswith("#"):
            table, name = self.definitions, ref[1:]
        else:
            library, _, name = ref.partition(".")
            table = load_library(library)
        if name not in table:
            raise SchemaError(f"{self.where}: {path}: unknown definition {ref!r}")
        return table[name]


def parse_key(key: str) -> tuple[str, bool, bool]:
    """`name`, `name!` (required), `name[]` (array of the value), `name[]!` (required array)."""
    required = key.endswith("!")
    if required:
        key = key[:-1]
    is_array = key.endswith("[]")
    if is_array:
        key = key[:-2]
    return key, required, is_array


def compile_rule(rule: Any) -> dict[str, Any]:
    if isinstance(rule, list):
        out = {"rule": rule[0]}
        if len(rule) > 1 and rule[1] is not None:
            out["message"] = rule[1]
        return out
    return dict(rule)


# libyaml's parser where PyYAML was built with it: the schema documents took ~0.2 s of every start with the
# pure-Python one; the same safe constructors and resolvers either way (tests/unit/test_schema_documents.py compares them).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_document(text: str) -> Any:
    """yaml.safe_load of a schema document."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python


@cache
def load_library(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.yaml"
    if not path.exists():
        raise SchemaError(f"unknown schema library {name!r}")
    return load_document(path.read_text())


def compile_root(spec: dict[str, Any], definitions: dict[str, Any], where: str) -> dict[str, Any]:
    """A resource's root schema: apiVersion, kind and metadata are the same for every kind."""
    body = Compiler(definitions, where).node(spec, "")
    props = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    props.update(body.get("properties", {}))
    body["properties"] = props
    body["type"] = "object"
    return body


def compile_column(col: Any) -> dict[str, Any]:
    """`[Name, type, .json.path]`, optionally `priority` and `{description: …, format: …}`."""
    name, typ, json_path, *rest = col
    out: dict[str, Any] = {"name": name, "type": typ, "jsonPath": json_path}
    for extra in rest:
        if isinstance(extra, int):
            out["priority"] = extra
        elif isinstance(extra, dict):
            out.update(extra)
        elif isinstance(extra, str):
            out["description"] = extra
    return out


def compile_crd(doc: dict[str, Any], where: str = "<schema>") -> dict[str, Any]:
    """A CustomResourceDefinition (apiextensions.k8s.io/v1) from one schema document."""
    kind = doc["kind"]
    group = doc.get("group", DVP_GROUP)
    plural = doc.get("plural") or kind.lower() + "s"
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": doc.get("listKind", kind + "List"),
        "plural": plural,
        "singular": doc.get("singular", kind.lower()),
    }
    if names["listKind"] is None:  # `listKind: null`: the CRD declares none
        del names["listKind"]
    if doc.get("shortNames"):
        names["shortNames"] = list(doc["shortNames"])
    if doc.get("categories"):
        names["categories"] = list(doc["categories"])
    definitions = doc.get("definitions", {})
    versions = []
    for ver in doc["versions"]:
        v: dict[str, Any] = {
            "name": ver["name"],
            "served": ver.get("served", True),
            "storage": ver.get("storage", False),
            "schema": {"openAPIV3Schema": compile_root(ver["schema"], definitions, f"{where}:{ver['name']}")},
            "subresources": {"status": {}} if ver.get("status", True) else {},
        }
        if ver.get("deprecated"):
            v["deprecated"] = True
            if ver.get("deprecationWarning"):
                v["deprecationWarning"] = ver["deprecationWarning"]
        if ver.get("columns"):
            v["additionalPrinterColumns"] = [compile_column(c) for c in ver["columns"]]
        versions.append(v)
    if sum(1 for v in versions if v["storage"]) != 1:
        raise SchemaError(f"{where}: exactly one version must be the storage version")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": dict(doc.get("labels", {}))},
        "spec": {
            "group": group,
            "names": names,
            "scope": doc.get("scope", "Namespaced"),
            "versions": versions,
        },
    }


def load_crd_file(path: Path) -> dict[str, Any]:
    return compile_crd(load_document(path.read_text()), where=path.name)


def our_crds() -> list[dict[str, Any]]:
    """Every CRD the simulator serves, compiled from the schema documents in this folder."""
    return [load_crd_file(p) for p in sorted(SCHEMA_DIR.glob("crd-*.yaml"))]


@lru_cache
def module_settings_schema(module: str) -> dict[str, Any]:
    """The OpenAPI schema of a Deckhouse module's ModuleConfig `spec.settings`, from settings-<module>.yaml.

    The document holds `schema: <node>` (the root) and optional `definitions`. Cached: treat the result as read-only.
    """
    path = SCHEMA_DIR / f"settings-{module}.yaml"
    if not path.exists():
        raise SchemaError(f"no settings schema for module {module!r}")
    doc = load_document(path.read_text())
    return Compiler(doc.get("definitions", {}), path.name).node(doc["schema"], "")
