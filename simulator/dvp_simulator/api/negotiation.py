"""Which representation a response takes, from the request's Accept header, as kube-apiserver negotiates it.

Every resource endpoint serves application/json, application/yaml and application/vnd.kubernetes.protobuf
(the order of its serializers; CBOR is behind a gate that 1.33 leaves off). The clauses of Accept are tried in
goautoneg's order (by q, then the specific before the wildcard, else as written), each against the serializers in
order; the first that the endpoint allows wins, and none is 406 NotAcceptable. Parameters ask for a conversion:
`as=Table;g=meta.k8s.io;v=v1` (or v1beta1; JSON or YAML only), `as=PartialObjectMetadata` (GET) and
`as=PartialObjectMetadataList` (LIST), in any of the media types; any other `as`, or one without that group and a
version of it, disqualifies the clause. A custom resource serves its objects in JSON or YAML only (protobuf there is
for the meta.k8s.io conversions). A watch negotiates the same way and then needs a stream serializer, which YAML does
not have: 406 again. A Status error is negotiated without conversions (no `as` clause qualifies), and when nothing
fits it is written as JSON anyway.
upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/negotiation/negotiate.go (NegotiateMediaTypeOptions,
acceptMediaTypeOptions), negotiation/errors.go, handlers/rest.go (AllowsMediaTypeTransform), handlers/response.go,
handlers/responsewriters/writers.go (ErrorNegotiated); staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/
customresource_handler.go (StandardSerializers); github.com/munnerz/goautoneg (ParseAccept).

The simulator writes protobuf as JSON: a client that negotiated protobuf reads the response by its Content-Type,
as client-go does."""

from __future__ import annotations

import functools
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from .errors import APIError

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
SERVED = (JSON, YAML, PROTOBUF)
STREAMED = (JSON, PROTOBUF)  # the media types with a stream serializer (watch)
META_GROUP = "meta.k8s.io"
META_VERSIONS = ("v1", "v1beta1")
TABLE = "Table"
PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"


@dataclass(frozen=True)
class Clause:
    """One media range of an Accept header, as goautoneg parses it."""

    type: str
    subtype: str
    q: float = 1.0
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaType:
    """The outcome of negotiation: the media type to write (SERVED) and the conversion asked for, if any."""

    media: str = JSON
    convert: str | None = None  # TABLE, PARTIAL or PARTIAL_LIST
    version: str = "v1"  # of meta.k8s.io, for a conversion

    @property
    def plain(self) -> bool:
        """The object as stored, in JSON (protobuf is written as JSON)."""
        return self.media != YAML and self.convert is None

    @property
    def api_version(self) -> str:
        return f"{META_GROUP}/{self.version}"


DEFAULT = MediaType()

_GO_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE)


def _go_float32(text: str) -> float:
    """strconv.ParseFloat(text, 32) as goautoneg reads q: 0 when it does not parse, ±Inf beyond float32."""
    if not _GO_FLOAT.fullmatch(text):
        return 0.0
    value = float(text)
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def _before(a: Clause, b: Clause) -> bool:
    """goautoneg's Less: a higher q first; a specific type before "*", a specific subtype before "*"."""
    return a.q > b.q or (a.type != "*" and b.type == "*") or (a.subtype != "*" and b.subtype == "*")


_ORDER = functools.cmp_to_key(lambda a, b: -1 if _before(a, b) else (1 if _before(b, a) else 0))


@functools.lru_cache(maxsize=256)
def parse_accept(header: str) -> tuple[Clause, ...]:
    """goautoneg.ParseAccept: comma-separated media ranges, each "type/subtype" (or "*") with ";"-separated
    parameters (q among them), sorted by its Less with an insertion sort, what Go's sort.Sort does for up to 12
    clauses (equal ones keep their order). A longer header (none a client sends) is sorted in O(n log n) with the
    same comparison, so a hostile one costs no quadratic time; the order of its ties may differ from Go's pdqsort."""
    out: list[Clause] = []
    for part in header.split(","):
        ranges = part.strip(" ").split(";")
        pieces = ranges[0].split("/")
        kind = pieces[0].strip(" ")
        if len(pieces) == 1 and kind == "*":
            subtype = "*"
        elif len(pieces) == 2:
            subtype = pieces[1].strip(" ")
        else:
            continue
        q, params = 1.0, {}
        for param in ranges[1:]:
            pair = param.split("=", 1)
            if len(pair) != 2:
                continue
            token = pair[0].strip(" ")
            if token == "q":
                q = _go_float32(pair[1])
            else:
                params[token] = pair[1].strip(" ")
        out.append(Clause(kind, subtype, q, params))
    if len(out) > 12:
        return tuple(sorted(out, key=_ORDER))
    for i in range(1, len(out)):
        j = i
        while j > 0 and _before(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return tuple(out)


def _matches(clause: Clause, media: str) -> bool:
    kind, subtype = media.split("/", 1)
    return (clause.type == kind and clause.subtype in (subtype, "*")) or (clause.type == "*" and clause.subtype == "*")


def _accepts(clause: Clause, media: str, custom: bool, endpoint: bool) -> MediaType | None:
    """acceptMediaTypeOptions with the endpoint's restrictions (RequestScope; `endpoint=False`: the default ones
    of an error): the MediaType the clause asks for in `media`, or None when the clause does not qualify."""
    target: dict[str, str] = {}
    for key, value in clause.params.items():
        if key in ("as", "g", "v"):
            target[key] = value
        elif key == "stream" and value and (media not in STREAMED or value != "watch"):
            return None
        elif key == "sv" and value and not (endpoint and value == "v1"):
            return None
    if not target:
        return None if endpoint and custom and media == PROTOBUF else MediaType(media)
    kind, group, version = target.get("as", ""), target.get("g", ""), target.get("v", "")
    if not endpoint or group != META_GROUP or version not in META_VERSIONS:
        return None
    if kind == TABLE and media in (JSON, YAML) or kind in (PARTIAL, PARTIAL_LIST):
        return MediaType(media, kind, version)
    return None


def not_acceptable(types: tuple[str, ...]) -> APIError:
    return APIError(406, f"only the following media types are accepted: {', '.join(types)}", reason="NotAcceptable")


@functools.lru_cache(maxsize=256)
def negotiate(accept: str, custom: bool = False, watch: bool = False) -> MediaType:
    """The representation of a resource request's response (`custom`: a custom resource's endpoint; `watch`: a
    watch, which needs a stream serializer); 406 when no clause qualifies. No Accept header: JSON. Remembered by
    its arguments, as parse_accept is (clients send a handful of Accept headers; a refusal is not remembered)."""
    if not accept:
        return DEFAULT
    for clause in parse_accept(accept):
        for media in SERVED:
            if _matches(clause, media):
                chosen = _accepts(clause, media, custom, endpoint=True)
                if chosen is not None:
                    if watch and chosen.media not in STREAMED:
                        raise not_acceptable(tuple(f"{m};stream=watch" for m in STREAMED))
                    return chosen
    raise not_acceptable(SERVED)


def error_media(accept: str) -> str:
    """The media type of a Status error (ErrorNegotiated: the default restrictions, no conversion); JSON when no clause
    qualifies, as WriteObjectNegotiated writes an error whatever the client accepts."""
    for clause in parse_accept(accept) if accept else ():
        for media in SERVED:
            if _matches(clause, media) and _accepts(clause, media, custom=False, endpoint=False) is not None:
                return media
    return JSON


# -- conversions ----------------------------------------------------------------------------------------------------
def go_type(group: str, kind: str, custom: bool, is_list: bool) -> str:
    """How %T names the object kube-apiserver's handler holds (an internal type, or Unstructured for a custom
    resource), in the 406 of a PartialObjectMetadata(List) asked of the other shape."""
    if custom:
        return "*unstructured.UnstructuredList" if is_list else "*unstructured.Unstructured"
    package = "core" if group in ("", "events.k8s.io") else group.split(".")[0]
    return f"*{package}.{kind}List" if is_list else f"*{package}.{kind}"


def partial(metadata: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {"kind": PARTIAL, "apiVersion": f"{META_GROUP}/{version}", "metadata": metadata}


def partial_list(list_meta: dict[str, Any], items: list[dict[str, Any]], version: str = "v1") -> dict[str, Any]:
    """A PartialObjectMetadataList of the items' metadata (each item a PartialObjectMetadata with its own kind)."""
    return {"kind": PARTIAL_LIST, "apiVersion": f"{META_GROUP}/{version}", "metadata": list_meta, "items": [partial(i, version) for i in items]}


def wrong_shape(wanted: str, go_name: str) -> APIError:
    """406 for PartialObjectMetadata of a list, or PartialObjectMetadataList of one object (upstream: response.go)."""
    if wanted == PARTIAL:
        return APIError(406, f"you requested PartialObjectMetadata, but the requested object is a list ({go_name})", reason="NotAcceptable")
    return APIError(406, f"you requested PartialObjectMetadataList, but the requested object is not a list ({go_name})", reason="NotAcceptable")


def table_version(table: dict[str, Any], version: str) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table (tables.py) as the version asked for, its rows' PartialObjectMetadata too."""
    if version != "v1":
        table["apiVersion"] = f"{META_GROUP}/{version}"
        for row in table.get("rows") or []:
            obj = row.get("object")
            if isinstance(obj, dict) and obj.get("kind") == PARTIAL:
                obj["apiVersion"] = f"{META_GROUP}/{version}"
    return table


# -- YAML -----------------------------------------------------------------------------------------------------------
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR_TAG = "tag:yaml.org,2002:str"


class _YAMLDumper(_Dumper):  # type: ignore[misc,valid-type]
    """Strings as go-yaml writes them: a string that plain would read as another type (a number, a bool, null, a
    timestamp) double-quoted, one with a newline as a literal block; the emitter decides the rest (plain, or single
    quotes where plain cannot be)."""


def _represent_str(dumper: Any, value: str) -> ScalarNode:
    style = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(ScalarNode, value, (True, False)) != _STR_TAG:
        style = '"'
    return dumper.represent_scalar(_STR_TAG, value, style=style)


_YAMLDumper.add_representer(str, _represent_str)


def _key_before(a: str, b: str) -> int:
    """go-yaml v2's order of map keys (gopkg.in/yaml.v2 v2.4.0 sorter.go keyList.Less, for string keys, which are
    all a JSON object has): letters after other characters, runs of digits compared as numbers."""
    for i in range(min(len(a), len(b))):
        x, y = a[i], b[i]
        if x == y:
            continue
        x_letter, y_letter = x.isalpha(), y.isalpha()
        if x_letter and y_letter:
            return -1 if x < y else 1
        if x_letter or y_letter:
            return 1 if x_letter else -1
        x_num = y_num = 0
        if x == "0" or y == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    x_num = y_num = 1
                    break
                j -= 1
        xi = i
        while xi < len(a) and a[xi].isdecimal():
            x_num = x_num * 10 + ord(a[xi]) - 48
            xi += 1
        yi = i
        while yi < len(b) and b[yi].isdecimal():
            y_num = y_num * 10 + ord(b[yi]) - 48
            yi += 1
        if x_num != y_num:
            return -1 if x_num < y_num else 1
        if xi != yi:
            return -1 if xi < yi else 1
        return -1 if x < y else 1
    return -1 if len(a) < len(b) else (1 if len(a) > len(b) else 0)


_KEY = functools.cmp_to_key(_key_before)


def _ordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _ordered(value[k]) for k in sorted(value, key=_KEY)}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def to_yaml(obj: Any) -> bytes:
    """An object as kube-apiserver's YAML serializer writes it (JSON through sigs.k8s.io/yaml JSONToYAML: go-yaml v2,
    keys sorted its way, block style, two-space indentation, sequences not indented under their key)."""
    text = yaml.dump(_ordered(obj), Dumper=_YAMLDumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1 << 30)
    return text.encode()
