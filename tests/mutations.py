"""Every place of a JSON value, and the value with one place replaced: what the sweeps that give each value of a
valid body (or of a module's arguments) each wrong type walk (test_fuzz, test_module_arguments, test_typecheck)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

TOP_LEVEL_KEPT = ("apiVersion", "kind", "metadata")


def paths(value: Any, path: tuple = (), skip: tuple[str, ...] = ()) -> Iterator[tuple]:
    """The path of every value below `value` (keys and list indexes, depth first), but the top-level keys in `skip`."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            if path or key not in skip:
                yield from paths(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from paths(sub, (*path, i))


def with_value(obj: Any, path: tuple, value: Any) -> Any:
    """A deep copy of obj with the value at `path` replaced."""
    out = copy.deepcopy(obj)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return out
