"""The built-in kinds' whole structure and upstream descriptions, generated from the `kubernetes` Python client.

core.yaml types only what the simulator relies on (list keys, enums, required fields, defaults, the pieces its
controllers read). Everything else of a built-in kind - every field, its type and the upstream field documentation -
comes from the client's models (kubernetes.client.models): each class has `openapi_types` (python name -> type string:
'List[V1Container]', 'Dict[str, str]', 'datetime', 'object', 'str', ...) and `attribute_map` (python name -> JSON
name), and each field's description (the pydantic field's `description`, or in older clients the property getter's
docstring). resources.core_types() lays core.yaml over the result (`overlay`), so what core.yaml states still holds.

What the models do not carry, and how it is filled in:
- resource.Quantity is a plain `str` in the client: QUANTITIES names the fields that are quantities (from upstream's
  types: ResourceList maps and the few single quantities), which become int-or-string with the quantity pattern.
- IntOrString is `object` whose pydantic annotation is Union[int, str]: int-or-string. Any other `object` (a
  RawExtension, JSONSchemaProps' JSON values) keeps whatever is written (x-kubernetes-preserve-unknown-fields).
- A type that contains itself (JSONSchemaProps: properties, items, allOf...) is expanded once; inside it the same type
  is an object that keeps what is written, as the CRD's own validation schema is.
- `required` of a model (fields with no default in the pydantic model, i.e. no `omitempty` upstream) is served, for
  `kubectl explain`'s "-required-", but not enforced: kube-apiserver decodes a missing field of a built-in kind as its
  zero value. What the simulator requires is core.yaml's.

Version: the client pinned in requirements-dev.txt (kubernetes 37, generated from Kubernetes release-1.37) is newer
than the Kubernetes the simulator reports (1.33, api/discovery.py SERVER_VERSION): fields added after 1.33 are known
here too, which a client of 1.33 cannot tell from a server that has them.

Cost: importing the client and its ~300 model classes takes most of a second, so the generated library is cached as
JSON (`library`), keyed by the client's version, this file and the kinds asked for: in a `__pycache__` folder beside
this file (shared by every state directory), else in the state directory. The inline schemas are expanded per kind,
when a kind is first used (resources.py).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
import tempfile
import typing
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from .dsl import SCALARS

log = logging.getLogger("dvp_simulator.schemas")

MARKER = "x-dvp-model"  # on an inline node expanded from a model: the model's name (served documents name it by that)
PRESERVE = "x-kubernetes-preserve-unknown-fields"
QUANTITY, INT_OR_STRING = "Quantity", "IntOrString"  # pseudo-models: the client has no class for them

# The fields the client types `str` (or `Dict[str, str]`) that are resource.Quantity upstream (k8s.io/api core/v1
# types.go ResourceList and the single Quantity fields; storage/v1 CSIStorageCapacity), by model and JSON name.
QUANTITIES = frozenset(
    {
        ("V1ResourceRequirements", "limits"),
        ("V1ResourceRequirements", "requests"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V1NodeStatus", "capacity"),
        ("V1NodeStatus", "allocatable"),
        ("V1PersistentVolumeSpec", "capacity"),
        ("V1PersistentVolumeClaimStatus", "capacity"),
        ("V1PersistentVolumeClaimStatus", "allocatedResources"),
        ("V1ContainerStatus", "allocatedResources"),
        ("V1PodStatus", "allocatedResources"),
        ("V1PodSpec", "overhead"),
        ("V1Overhead", "podFixed"),
        ("V1EmptyDirVolumeSource", "sizeLimit"),
        ("V1ResourceFieldSelector", "divisor"),
        ("V1LimitRangeItem", "default"),
        ("V1LimitRangeItem", "defaultRequest"),
        ("V1LimitRangeItem", "max"),
        ("V1LimitRangeItem", "maxLimitRequestRatio"),
        ("V1LimitRangeItem", "min"),
        ("V1ResourceQuotaSpec", "hard"),
        ("V1ResourceQuotaStatus", "hard"),
        ("V1ResourceQuotaStatus", "used"),
        ("V1CSIStorageCapacity", "capacity"),
        ("V1CSIStorageCapacity", "maximumVolumeSize"),
    }
)

_LIST = re.compile(r"^(?:List\[|list\[)(.*)\]$")
_DICT = re.compile(r"^(?:Dict\[str, |dict\(str, )(.*)[\])]$")
_SCALAR_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
}


# -- generation: model classes -> the library (JSON-shaped, refs by class name) -----------------------------------
def model_schema(cls: type) -> dict[str, Any]:
    """One model class as the library holds it: {"description", "properties", "required"}; a field of another model
    is {"$ref": <class name>, "description": ...}. Pure: reads the class only."""
    fields = getattr(cls, "model_fields", None)  # pydantic models (client >= 35); older ones have property getters
    props: dict[str, Any] = {}
    required: list[str] = []
    for py_name, type_str in cls.openapi_types.items():
        json_name = cls.attribute_map[py_name]
        info = fields.get(py_name) if fields is not None else None
        annotation = info.annotation if info is not None else None
        node = _field(type_str, annotation, (cls.__name__, json_name) in QUANTITIES)
        doc = (info.description if info is not None else _getter_doc(cls, py_name)) or ""
        if doc:
            node["description"] = doc
        props[json_name] = node
        if info is not None and info.is_required():
            required.append(json_name)
    out: dict[str, Any] = {"description": class_doc(cls), "properties": props}
    if required:
        out["required"] = required
    return out


def _field(type_str: str, annotation: Any, quantity: bool) -> dict[str, Any]:
    if m := _LIST.match(type_str):
        return {"type": "array", "items": _field(m.group(1), _inner(annotation, list), quantity)}
    if m := _DICT.match(type_str):
        return {"type": "object", "additionalProperties": _field(m.group(1), _inner(annotation, dict), quantity)}
    if type_str == "str" and quantity:
        return {"$ref": QUANTITY}
    if type_str in _SCALAR_TYPES:
        return dict(_SCALAR_TYPES[type_str])
    if type_str == "object":
        members = _members(annotation)
        if int in members and str in members and dict not in members:
            return {"$ref": INT_OR_STRING}
        return {PRESERVE: True}  # RawExtension, a JSON value: anything, kept as written
    return {"$ref": type_str}


def _members(annotation: Any) -> set[Any]:
    """The plain types an annotation admits (Optional, Union, Annotated and generics unwrapped to their origin)."""
    if annotation is None:
        return set()
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        out: set[Any] = set()
        for arg in typing.get_args(annotation):
            out |= _members(arg)
        return out
    return {origin or annotation}


def _inner(annotation: Any, container: type) -> Any:
    """The element annotation of a List[...] (or value annotation of a Dict[str, ...]) inside an annotation."""
    if annotation is None:
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner(typing.get_args(annotation)[0], container)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        for arg in typing.get_args(annotation):
            found = _inner(arg, container)
            if found is not None:
                return found
        return None
    if origin is container:
        return typing.get_args(annotation)[-1]
    return None


def class_doc(cls: type) -> str:
    """A model's own description: its docstring without the generator's `Attributes:` section and notes."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    doc = doc.split("\nAttributes:")[0].strip()
    if doc.startswith("NOTE: This class is auto generated"):
        return ""
    return doc


def _getter_doc(cls: type, py_name: str) -> str:
    """A field's description in older clients: the property getter's docstring between "Gets the ..." and ":return:"."""
    prop = getattr(cls, py_name, None)
    doc = inspect.cleandoc(getattr(prop, "__doc__", None) or "")
    paragraphs = [p.replace("# noqa: E501", "").strip() for p in doc.split("\n\n")]
    kept = [p for p in paragraphs if p and not p.startswith(("Gets the ", ":return:", ":rtype:"))]
    return " ".join(" ".join(p.split()) for p in kept)


def model_class_name(group: str, version: str, kind: str, available: Iterable[str]) -> str | None:
    """The client's class of a kind: `V1Pod`, or with the group's first label as prefix where two groups share a kind
    name (`CoreV1Event`, `EventsV1Event`)."""
    names = set(available)
    ver = version[:1].upper() + version[1:]
    prefix = (group.split(".")[0] if group else "core").capitalize()
    for candidate in (f"{prefix}{ver}{kind}", f"{ver}{kind}"):
        if candidate in names:
            return candidate
    return None


def generate(kinds: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """The library of the given (group, version, kind)s: every model they reach, and each kind's root model."""
    from kubernetes.client import models  # ~0.6 s: the reason `library` caches the result

    available = getattr(models, "__all__", None) or [n for n in dir(models) if n[:1].isupper()]
    out: dict[str, Any] = {"kubernetes": _client_version(), "kinds": {}, "homes": {}, "models": {}}
    for group, version, kind in kinds:
        name = model_class_name(group, version, kind, available)
        if name is None:
            continue
        out["kinds"][f"{group}/{version}/{kind}"] = name
        _collect(models, name, group_package(group, version), out)
    return out


def _collect(models: Any, name: str, home: str, out: dict[str, Any]) -> None:
    """Add model `name` and every model it reaches; `home` is the package a class without its own prefix is named in
    (the first kind that reaches it: core's kinds come first in core.yaml)."""
    pending = [name]
    while pending:
        current = pending.pop()
        if current in out["models"] or current in (QUANTITY, INT_OR_STRING):
            continue
        cls = getattr(models, current)
        out["models"][current] = model_schema(cls)
        out["homes"][current] = home
        pending.extend(sorted(set(_refs(out["models"][current])) - set(out["models"])))


def _refs(model: dict[str, Any]) -> Iterable[str]:
    """The models a library entry's fields refer to (through arrays and maps too)."""
    for spec in model["properties"].values():
        while "$ref" not in spec and ("items" in spec or "additionalProperties" in spec):
            spec = spec.get("items") or spec["additionalProperties"]
        if "$ref" in spec:
            yield spec["$ref"]


def _client_version() -> str:
    try:
        return metadata.version("kubernetes")
    except metadata.PackageNotFoundError:
        return ""


# -- the cached library ----------------------------------------------------------------------------------------
def cache_key(kinds: Iterable[tuple[str, str, str]]) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(_client_version().encode())
    digest.update(json.dumps(sorted(kinds)).encode())
    return digest.hexdigest()[:20]


def library(kinds: list[tuple[str, str, str]], state_dir: Path | None = None) -> dict[str, Any] | None:
    """The generated library for these kinds: from a cache file if one matches, else generated (and cached). None
    when the kubernetes client is not installed (the built-in kinds keep core.yaml's schemas alone). Treat the result
    as read-only: it is shared."""
    return _library(tuple(kinds), state_dir)


@cache
def _library(kinds: tuple[tuple[str, str, str], ...], state_dir: Path | None) -> dict[str, Any] | None:
    places = [Path(__file__).resolve().parent / "__pycache__"]
    if state_dir is not None:
        places.append(state_dir / "cache")
    name = f"builtin-schemas-{cache_key(kinds)}.json"
    for place in places:
        try:
            data = orjson.loads((place / name).read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("models"), dict):
            return data
    try:
        data = generate(kinds)
    except ImportError:
        log.warning("the kubernetes client is not installed: built-in kinds keep the partial schemas of core.yaml")
        return None
    text = orjson.dumps(data)
    for place in places:  # readable by all beside the code, as its bytecode is; the state directory's own stays private
        if _write(place / name, text, 0o644 if place == places[0] else 0o600):
            for stale in place.glob("builtin-schemas-*.json"):  # of another client or another version of this file
                if stale.name != name:
                    stale.unlink(missing_ok=True)
            break
    return data


def _write(path: Path, data: bytes, mode: int) -> bool:
    """Atomically (other processes may read or write the same cache at once); False where it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return True
    except OSError:
        return False


# -- expansion: the library -> one kind's inline schema ------------------------------------------------------------
class Expander:
    """Inline schemas from a library. A model's subtree is built once and shared by every field of that model (the
    schema walkers never change a schema); a field's own description sits on a shallow copy of it. Each model node
    carries MARKER (its name) for the served documents (`served`)."""

    def __init__(self, lib: dict[str, Any]):
        self.models: dict[str, Any] = lib["models"]
        self.memo: dict[str, dict[str, Any]] = {}
        self.cuts = 0

    def kind(self, name: str) -> dict[str, Any]:
        return self.model(name, ())

    def model(self, name: str, stack: tuple[str, ...]) -> dict[str, Any]:
        if name == QUANTITY:
            return {**SCALARS["quantity"], MARKER: QUANTITY}
        if name == INT_OR_STRING:
            return {**SCALARS["int-or-string"], MARKER: INT_OR_STRING}
        if name in self.memo:
            return self.memo[name]
        spec = self.models[name]
        if name in stack:  # a type inside itself (JSONSchemaProps): an object kept as written
            self.cuts += 1
            return {"type": "object", "description": spec.get("description", ""), PRESERVE: True, MARKER: name}
        cuts = self.cuts
        inner = (*stack, name)
        node: dict[str, Any] = {"type": "object"}
        if spec.get("description"):
            node["description"] = spec["description"]
        node["properties"] = {field: self.field(sub, inner) for field, sub in spec["properties"].items()}
        node[MARKER] = name
        if self.cuts == cuts:  # the same wherever it is used
            self.memo[name] = node
        return node

    def field(self, spec: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        if "$ref" in spec:
            node = self.model(spec["$ref"], stack)
            doc = spec.get("description")
            return {**node, "description": doc} if doc and doc != node.get("description") else node
        out = dict(spec)
        if "items" in spec:
            out["items"] = self.field(spec["items"], stack)
        if "additionalProperties" in spec:
            out["additionalProperties"] = self.field(spec["additionalProperties"], stack)
        return out


_EXPANDERS: dict[int, tuple[dict[str, Any], Expander]] = {}


def expander(lib: dict[str, Any]) -> Expander:
    """One Expander per library, so that kinds share the subtrees of the models they have in common."""
    known = _EXPANDERS.get(id(lib))
    if known is None or known[0] is not lib:
        known = _EXPANDERS[id(lib)] = (lib, Expander(lib))
    return known[1]


def kind_schema(lib: dict[str, Any], group: str, version: str, kind: str) -> dict[str, Any] | None:
    """The inline schema of a kind from the library, or None when the client has no model of it."""
    name = lib["kinds"].get(f"{group}/{version}/{kind}")
    return expander(lib).kind(name) if name else None


def object_meta(lib: dict[str, Any]) -> dict[str, Any] | None:
    """The inline schema of ObjectMeta (for its served component), or None when the library has no model of it."""
    return expander(lib).model("V1ObjectMeta", ()) if "V1ObjectMeta" in lib["models"] else None


# -- overlay: core.yaml on the generated structure -------------------------------------------------------------------
def overlay(generated: dict[str, Any] | None, stated: dict[str, Any]) -> dict[str, Any]:
    """`stated` (a compiled core.yaml node) laid over `generated`: its keywords win, its properties are laid over the
    generated ones (or added), its items and additionalProperties over theirs. core.yaml's `any-object` ("the rest is
    kept as written") is dropped where the generated node has the rest's structure: an unknown nested field is then
    unknown, as upstream. New dicts along the way; the generated subtrees are shared, never changed."""
    if not generated:
        return stated
    out = dict(generated)
    structured = any(k in generated for k in ("properties", "items", "additionalProperties"))
    for key, value in stated.items():
        if key == "properties" and isinstance(value, dict):
            props = dict(generated.get("properties") or {})
            for name, sub in value.items():
                props[name] = overlay(props.get(name), sub)
            out["properties"] = props
        elif key in ("items", "additionalProperties") and isinstance(value, dict) and isinstance(generated.get(key), dict):
            out[key] = overlay(generated[key], value)
        elif key == PRESERVE and structured:
            continue
        else:
            out[key] = value
    if "anyOf" in stated or stated.get("x-kubernetes-int-or-string"):
        for key in ("type", "format", "properties", PRESERVE):
            if key not in stated:
                out.pop(key, None)
    if not structured and "properties" in stated and generated.get(PRESERVE) and not stated.get(PRESERVE):
        out.pop(PRESERVE, None)  # a generated free-form object core.yaml gives a structure to
    return out


# -- served documents ---------------------------------------------------------------------------------------------
API_PACKAGES = {"apiextensions": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions", "apiregistration": "io.k8s.kube-aggregator.pkg.apis.apiregistration"}
META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
# apimachinery's meta/v1 types among the models (the client's class names do not say which Go package a type is of)
META_TYPES = frozenset({"ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "Condition", "OwnerReference", "ManagedFieldsEntry"})
# upstream's components of the two scalar types (kube-openapi's OpenAPIV3OneOfTypes): kubectl explain names a field by
# its component, <Quantity> and <IntOrString>, because the component has no `type`
SCALAR_COMPONENTS: dict[str, tuple[str, dict[str, Any]]] = {
    QUANTITY: (
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        {"description": "Quantity is a fixed-point representation of a number: a plain number or one with a suffix (Ki, Mi, Gi, m, k, M, G, e3...).",
         "oneOf": [{"type": "string"}, {"type": "number"}]},
    ),
    INT_OR_STRING: (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        {"description": "IntOrString is a type that can hold an int32 or a string.", "format": "int-or-string",
         "oneOf": [{"type": "integer"}, {"type": "string"}]},
    ),
}  # fmt: skip
_CLASS = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
# keywords of a field rather than of its type: kept beside the reference to the type's component
FIELD_KEYWORDS = ("description", "default", "nullable")


def group_package(group: str, version: str) -> str:
    head = group.split(".")[0] if group else "core"
    return f"{API_PACKAGES.get(head, f'io.k8s.api.{head}')}.{version}"


def component_name(model: str, homes: dict[str, str]) -> str:
    """Upstream's component name of a model: `V1Container` -> io.k8s.api.core.v1.Container."""
    if model in SCALAR_COMPONENTS:
        return SCALAR_COMPONENTS[model][0]
    m = _CLASS.match(model)
    if m is None:
        return model
    prefix, version, name = m.groups()
    if prefix:
        return f"{group_package(prefix.lower(), version.lower())}.{name}"
    if name in META_TYPES:
        return f"{META_PACKAGE}.{name}"
    home = homes.get(model)
    return f"{home.rsplit('.', 1)[0]}.{version.lower()}.{name}" if home else f"io.k8s.api.core.{version.lower()}.{name}"


class Served:
    """One OpenAPI v3 document's components from inline built-in schemas: each model node becomes a reference to its
    component, as kube-apiserver publishes them (kubectl explain shows a field's type by its component's name, and
    `-required-` from the component's required list). Where core.yaml laid something over one use of a model (the
    PersistentVolumeClaim's spec, but not the spec of a Pod's ephemeral volume claim template), the component has it
    for every use: what core.yaml states of a type (list keys, enums, required fields) holds for the type upstream."""

    def __init__(self, lib: dict[str, Any], components: dict[str, Any]):
        self.lib = lib
        self.models = lib["models"]
        self.homes = lib["homes"]
        self.components = components

    def root(self, node: dict[str, Any]) -> dict[str, Any]:
        """A kind's own component body (the caller names it and adds its group-version-kind)."""
        return self._body(node)

    def node(self, node: Any, element: bool = False) -> Any:
        """The served form of an inline node. A field of a model type that has no description of its own in the
        client (the generator drops the description of a field that refers to another type) keeps the type's, so
        that `kubectl explain` lists it with one; `element`: an array's items or a map's values, which have none."""
        if not isinstance(node, dict):
            return node
        model = node.get(MARKER)
        if model is None:
            return self._plain(node)
        fields = {k: node[k] for k in FIELD_KEYWORDS if k in node}
        if model in SCALAR_COMPONENTS:
            name, body = SCALAR_COMPONENTS[model]
            self.components.setdefault(name, body)
            rest = {k: v for k, v in node.items() if k not in (MARKER, *FIELD_KEYWORDS) and k not in SCALARS["quantity"]}
            return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], **fields, **rest}
        name = component_name(model, self.homes)
        if element and fields.get("description") == self.models.get(model, {}).get("description"):
            del fields["description"]  # an array's items or a map's values: the field's description is the array's
        if "properties" not in node and node.get(PRESERVE):  # the cut inside a recursive type: its component
            return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], **fields}
        body = self._body(node)
        known = self.components.get(name)
        if known is None:
            self.components[name] = body
        elif known != body:
            self.components[name] = union(known, body)
        return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], **fields}

    def _body(self, node: dict[str, Any]) -> dict[str, Any]:
        model = node.get(MARKER)
        spec = self.models.get(model, {}) if model else {}
        out = self._plain({k: v for k, v in node.items() if k not in FIELD_KEYWORDS})
        if spec.get("description") or node.get("description"):
            out["description"] = spec.get("description") or node["description"]
        required = list(out.get("required", []))
        required += [r for r in spec.get("required", []) if r not in required]
        if required:
            out["required"] = required
        return out

    def _plain(self, node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == MARKER:
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: self.node(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.node(value, element=True)
            elif key == "not" and isinstance(value, dict):
                out[key] = self.node(value)
            elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
                out[key] = [self.node(v) for v in value]
            else:
                out[key] = value
        return out


def union(known: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Two bodies of one component as one: every keyword of either (`other`'s where both have a value), properties
    and required lists united."""
    out = dict(known)
    for key, value in other.items():
        mine = known.get(key)
        if key == "properties" and isinstance(mine, dict):
            out[key] = {**mine, **{n: union(mine[n], v) if isinstance(mine.get(n), dict) else v for n, v in value.items()}}
        elif key == "required" and isinstance(mine, list):
            out[key] = mine + [r for r in value if r not in mine]
        elif isinstance(value, dict) and isinstance(mine, dict):
            out[key] = union(mine, value)
        else:
            out[key] = value
    return out


def strip_markers(node: Any) -> Any:
    """A copy of an inline schema without MARKER (for a served document of a kind the library does not cover)."""
    if isinstance(node, dict):
        return {k: strip_markers(v) for k, v in node.items() if k != MARKER}
    if isinstance(node, list):
        return [strip_markers(v) for v in node]
    return node
