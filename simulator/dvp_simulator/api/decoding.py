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


class _Loader(yaml.SafeLoader):
    """The safe loader without timestamp resolution (sigs.k8s.io/yaml keeps timestamps as strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"] for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode(raw: bytes, yaml_body: bool = False) -> Any:
    """Decode a JSON (or, for apply patches and YAML media types, YAML) body; 400 on anything a Go client
    could not read back."""
    try:
        value = _yaml(raw) if yaml_body else json.loads(raw, parse_constant=_no_constant)
    except RecursionError as exc:
        raise bad_request(f"the request body could not be decoded: nested deeper than {MAX_DEPTH} levels") from exc
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the request body could not be decoded: {exc}") from exc
    return check_tree(value, budget=len(raw) + 16)


def _yaml(raw: bytes) -> Any:
    """A YAML body. Most clients (kubectl, client-go, kubernetes.core, this collection) send their apply patches as
    JSON, which is YAML: a body that parses as JSON is taken as such (the C decoder, not PyYAML's pure-Python one,
    ~20x faster; for a JSON text both give the same tree, except numbers such as `1e3` that YAML 1.1 leaves strings
    and sigs.k8s.io/yaml, like JSON, reads as numbers)."""
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(raw, parse_constant=_no_constant)
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
        else:
            raise bad_request(f"the request body could not be decoded: a value of YAML type {type(node).__name__} has no JSON form")
    return value
