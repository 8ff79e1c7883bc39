"""Request bodies from bytes to JSON values, refusing what kube-apiserver's decoders refuse.

Contract of `decode`: the result is a tree of dict (string keys), list, str, int, finite float, bool and None,
nested at most MAX_DEPTH deep; anything else is a 400 BadRequest. Go's JSON decoder has no NaN or Infinity, so
neither may reach the store (every Go client listing that kind would fail afterwards). YAML timestamps stay
strings, as sigs.k8s.io/yaml leaves them, and an alias-expanded document may not grow past its own size
("billion laughs"). Size limits belong to the HTTP layer (MAX_BODY_BYTES)."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from . import golang
from .errors import APIError, bad_request

# kube-apiserver reads at most 3 MiB of a request body (maxRequestBodyBytes) and answers 413 beyond it.
MAX_BODY_BYTES = 3 * 1024 * 1024
# Go's decoder allows 10,000 levels; ours stops far earlier because every later step (deep copy, pruning,
# schema validation) recurses per level. No Kubernetes object comes near this.
MAX_DEPTH = 100
INT64_MAX = 2**63 - 1


def too_large() -> APIError:
    return APIError(413, f"Request entity too large: limit is {MAX_BODY_BYTES}", reason="RequestEntityTooLarge")


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


class Undecodable(APIError):
    """A body that does not parse. `why` is what kube-apiserver's decoder says of it (Go's encoding/json for JSON,
    sigs.k8s.io/yaml for YAML), which each endpoint wraps in its own words (`body_error`)."""

    def __init__(self, why: str, yaml_body: bool = False):
        super().__init__(400, f"the request body could not be decoded: {why}")
        self.why = why
        self.yaml_body = yaml_body


class _Loader(yaml.SafeLoader):
    """The safe loader without timestamp resolution (sigs.k8s.io/yaml keeps timestamps as strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"] for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode(raw: bytes, yaml_body: bool = False, duplicates: list[str] | None = None) -> Any:
    """Decode a JSON (or, for apply patches and YAML media types, YAML) body; 400 on anything a Go client
    could not read back. With `duplicates` (a list), a JSON body's duplicate field names are appended to it as the
    strict decoder names them ("metadata.name", "spec.containers[0].name"); the last value wins, as in Go."""
    try:
        value = _yaml(raw) if yaml_body else _json(raw, duplicates)
    except RecursionError as exc:
        raise bad_request(f"the request body could not be decoded: nested deeper than {MAX_DEPTH} levels") from exc
    except yaml.YAMLError as exc:
        raise Undecodable(_yaml_error(exc), yaml_body=True) from None
    except ValueError as exc:
        raise Undecodable(golang.json_syntax_error(raw) or str(exc)) from None
    return check_tree(value, budget=len(raw) + 16)


def _json(raw: bytes, duplicates: list[str] | None = None) -> Any:
    """A JSON text as Go's decoder reads it: UTF-8 only (no byte-order mark, no UTF-16, both of which Python's
    json.loads would guess), a byte sequence that is not UTF-8 becoming U+FFFD inside strings."""
    text = raw.decode("utf-8", "replace")
    if duplicates is None:
        return json.loads(text, parse_constant=_no_constant)
    # the C scanner hands each object's pairs to the hook; only an object with a repeated key is remembered (by
    # identity), and only then is the tree walked for the paths (a body with none costs the hook alone, ~15 us/KiB)
    repeated: dict[int, list[str]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            repeated[id(obj)] = [k for k, _ in pairs if k in seen or seen.add(k)]
        return obj

    value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=pairs_hook)
    if repeated:
        duplicates.extend(_duplicate_paths(value, repeated))
    return value


def _duplicate_paths(value: Any, repeated: dict[int, list[str]]) -> list[str]:
    out: list[str] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in dict.fromkeys(repeated.get(id(node), ())):
                out.append(f"{path}.{key}" if path else key)
            stack.extend((child, f"{path}.{k}" if path else k) for k, child in node.items() if isinstance(child, dict | list))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node) if isinstance(child, dict | list))
    return sorted(out)


def _yaml_error(exc: yaml.YAMLError) -> str:
    """A YAML parser error as go-yaml words it ("yaml: line N: <problem>"); the problem is PyYAML's own."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    return f"yaml: line {mark.line + 1}: {problem}" if mark is not None else f"yaml: {problem}"


def summarize(raw: bytes, limit: int = 30) -> str:
    """How kube-apiserver shows an undecodable body in its message: the text when it starts as an object, else hex;
    at most `limit` bytes (upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go summarizeData)."""
    if not raw:
        return "<empty>"
    head = raw[:limit]
    shown = head.decode("utf-8", "replace") if raw[:1] == b"{" else head.hex()
    return shown + " ..." if len(raw) > limit else shown


def body_error(err: Undecodable, raw: bytes, method: str, content_type: str, kind: str, field_validation: str) -> APIError:
    """An undecodable body answered as the endpoint that read it answers upstream (staging/src/k8s.io/apiserver/pkg/
    endpoints/handlers/): a create or update (and a subresource's or a review's create) decodes into its kind and
    says so (rest.go transformDecodeError, around the serializer's "couldn't get version/kind; json parse error");
    a JSON or merge patch is read by a strict decoder unless fieldValidation=Ignore (patch.go applyJSPatch: "error
    decoding patch: ", or the json-patch library's "Invalid JSON Patch" for a merge patch); a strategic merge patch
    gives the decoder's words alone; an apply patch is sigs.k8s.io/yaml's ("error decoding YAML: error converting
    YAML to JSON: "). DeleteOptions are decoded without that wrapping and the decoder's error is no API status: 500
    with no reason (delete.go)."""
    why = err.why
    strict = field_validation in ("", "Strict", "Warn")  # "" is Warn, the default
    if method == "PATCH":
        if content_type.startswith("application/apply-patch"):
            return bad_request(f"error decoding YAML: error converting YAML to JSON: {why}")
        if content_type == "application/strategic-merge-patch+json":
            return bad_request(why)
        if content_type == "application/merge-patch+json" and not strict:
            return bad_request("Invalid JSON Patch")
        return bad_request(f"error decoding patch: {why}" if strict else why)
    detail = why if err.yaml_body else f"couldn't get version/kind; json parse error: {why}"
    if method == "DELETE":
        return APIError(500, detail, reason="")
    return bad_request(f"the object provided is unrecognized (must be of type {kind}): {detail} ({summarize(raw)})")


def _yaml(raw: bytes) -> Any:
    """A YAML body. Most clients (kubectl, client-go, kubernetes.core, this collection) send their apply patches as
    JSON, which is YAML: a body that parses as JSON is taken as such (the C decoder, not PyYAML's pure-Python one,
    ~20x faster; for a JSON text both give the same tree, except numbers such as `1e3` that YAML 1.1 leaves strings
    and sigs.k8s.io/yaml, like JSON, reads as numbers)."""
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            return _json(raw)
        except ValueError:
            pass  # YAML's flow style also starts so ({a: 1}): PyYAML says what it makes of it
    return yaml.load(raw, Loader=_Loader)


def check_tree(value: Any, budget: int) -> Any:
    """Walk the decoded tree without recursion: depth, key and scalar types, finite numbers, and at most
    `budget` nodes (a JSON text has fewer nodes than bytes; only YAML aliases can exceed that).
    Integers outside int64 become floats, as Go decodes them; ones too large even for that are refused."""
    stack: list[tuple[Any, int, Any, Any]] = [(value, 1, None, None)]
    seen = 0
    while stack:
        node, depth, parent, key = stack.pop()
        seen += 1
        if seen > budget:
            raise bad_request("the request body could not be decoded: document contains excessive aliasing")
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise bad_request(f"the request body could not be decoded: nested deeper than {MAX_DEPTH} levels")
            if isinstance(node, dict):
                for k, child in node.items():
                    if not isinstance(k, str):
                        raise bad_request(f"the request body could not be decoded: map key {k!r} is not a string")
                    stack.append((child, depth + 1, node, k))
            else:
                stack.extend((child, depth + 1, node, i) for i, child in enumerate(node))
        elif isinstance(node, bool) or node is None or isinstance(node, str):
            continue
        elif isinstance(node, int):
            if not -INT64_MAX - 1 <= node <= INT64_MAX:
                try:
                    as_float = float(node)
                except OverflowError:
                    as_float = math.inf
                if not math.isfinite(as_float):
                    raise bad_request(f"the request body could not be decoded: number {str(node)[:20]}... overflows float64")
                if parent is None:
                    value = as_float
                else:
                    parent[key] = as_float
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise bad_request(f"the request body could not be decoded: {node} is not a JSON number")
            if node.is_integer() and -INT64_MAX - 1 <= node <= INT64_MAX:
                # 1e3, 2.0: Go's decoder keeps a float64 there and writes it back as 1000, 2 - so is it stored (an
                # integer field then holds an integer, which every client can read back; one beyond int64 stays a
                # float, which no integer field takes)
                if parent is None:
                    value = int(node)
                else:
                    parent[key] = int(node)
        else:
            raise bad_request(f"the request body could not be decoded: a value of YAML type {type(node).__name__} has no JSON form")
    return value
