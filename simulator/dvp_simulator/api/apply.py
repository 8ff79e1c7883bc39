"""Field ownership: managedFields (FieldsV1) and server-side apply with conflicts.

A field set is kept as a set of paths; a path is a tuple of FieldsV1 path elements: `f:<name>` for a map
field, `k:<json>` for an item of a keyed list (x-kubernetes-list-type: map), `v:<json>` for a member of a set
list, and `.` for "the item itself". Atomic lists and scalars are leaves.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .errors import APIError
from .schema import child_schema

Path = tuple[str, ...]

# metadata fields the server owns; never part of a field set.
SERVER_METADATA = {
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName",
}  # fmt: skip
METADATA_SCHEMA = {
    "type": "object",
    "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object"},
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["uid"],
        },
    },
}


_stamp: list[Any] = [None, ""]  # the last whole second formatted, and its text
# What stamps an entry: the cluster's clock once a server uses one (use_clock), so that an entry's time and the
# object's creationTimestamp come from the same (simulated, possibly faster) clock, as on a cluster; the wall clock
# for in-process use without one.
_clock: list[Callable[[], str]] = []


def use_clock(stamp: Callable[[], str]) -> None:
    _clock[:] = [stamp]


def now() -> str:
    """A managedFields entry's time: RFC 3339 to the second, formatted once per second (every write stamps one)."""
    if _clock:
        return _clock[0]()
    second = int(time.time())
    if second != _stamp[0]:
        _stamp[0], _stamp[1] = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _stamp[1]


def _list_kind(schema: dict[str, Any] | None) -> tuple[str, list[str]]:
    if not schema:
        return "atomic", []
    kind = schema.get("x-kubernetes-list-type", "atomic")
    return kind, list(schema.get("x-kubernetes-list-map-keys", []))


def _key_element(item: dict[str, Any], keys: list[str]) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in keys}, separators=(",", ":"), sort_keys=True)


def field_paths(obj: dict[str, Any], schema: dict[str, Any], include_status: bool = True) -> set[Path]:
    """Every owned path of obj, as the apiserver would record it."""
    out: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "status" and not include_status:
            continue
        if key == "metadata":
            meta = {k: v for k, v in value.items() if k not in SERVER_METADATA}
            if meta:
                _walk(meta, METADATA_SCHEMA, ("f:metadata",), out)
            continue
        _walk(value, child_schema(schema, key), (f"f:{key}",), out)
    return out


def _walk(value: Any, schema: dict[str, Any] | None, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value and not (schema and schema.get("x-kubernetes-map-type") == "atomic"):
        for k, v in value.items():
            _walk(v, child_schema(schema, k), path + (f"f:{k}",), out)
        return
    if isinstance(value, list) and value:
        kind, keys = _list_kind(schema)
        items = schema.get("items") if schema else None
        if kind == "map" and keys and all(isinstance(x, dict) for x in value):
            for item in value:
                element = path + (_key_element(item, keys),)
                out.add(element + (".",))
                for k, v in item.items():
                    _walk(v, child_schema(items, k), element + (f"f:{k}",), out)
            return
        if kind == "set":
            for item in value:
                out.add(path + ("v:" + json.dumps(item, separators=(",", ":"), sort_keys=True),))
            return
    out.add(path)


def value_at(obj: Any, path: Path) -> Any:
    """The value a path names in obj, or a sentinel when absent."""
    cur = obj
    for element in path:
        if element == ".":
            return cur
        tag, _, rest = element.partition(":")
        if tag == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return MISSING
            cur = cur[rest]
        elif tag == "k":
            want = json.loads(rest)
            if not isinstance(cur, list):
                return MISSING
            cur = next((x for x in cur if isinstance(x, dict) and all(x.get(k) == v for k, v in want.items())), MISSING)
            if cur is MISSING:
                return MISSING
        elif tag == "v":
            item = json.loads(rest)
            return item if isinstance(cur, list) and item in cur else MISSING
    return cur


MISSING = object()


def remove_at(obj: Any, path: Path) -> None:
    """Delete what a path names (a field, a keyed item, a set member)."""
    if not path:
        return
    if path[-1] == ".":
        path = path[:-1]
    parent = obj
    for element in path[:-1]:
        parent = value_at(parent, (element,))
        if parent is MISSING:
            return
    tag, _, rest = path[-1].partition(":")
    if tag == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif tag == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [x for x in parent if not (isinstance(x, dict) and all(x.get(k) == v for k, v in want.items()))]
    elif tag == "v" and isinstance(parent, list):
        item = json.loads(rest)
        parent[:] = [x for x in parent if x != item]


def prune_empty(obj: Any, before: Any) -> None:
    """Remove maps and lists that field removal left empty (ones that were empty before stay)."""
    if isinstance(obj, dict):
        for k in list(obj):
            was = before.get(k) if isinstance(before, dict) else None
            prune_empty(obj[k], was)
            if isinstance(obj[k], (dict, list)) and not obj[k] and was and k not in ("spec", "status", "metadata"):
                del obj[k]


def merge_applied(current: Any, applied: Any, schema: dict[str, Any] | None) -> Any:
    if isinstance(applied, dict) and isinstance(current, dict) and not (schema and schema.get("x-kubernetes-map-type") == "atomic"):
        out = dict(current)
        for k, v in applied.items():
            sub = METADATA_SCHEMA if (schema is None and k == "metadata") else child_schema(schema, k)
            out[k] = merge_applied(current.get(k), v, sub) if k in current else copy.deepcopy(v)
        return out
    if isinstance(applied, list) and isinstance(current, list):
        kind, keys = _list_kind(schema)
        items = schema.get("items") if schema else None
        if kind == "map" and keys:
            out = list(current)
            for item in applied:
                match = next((i for i, x in enumerate(out) if all(x.get(k) == item.get(k) for k in keys)), None)
                if match is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[match] = merge_applied(out[match], item, items)
            return out
        if kind == "set":
            return list(current) + [x for x in applied if x not in current]
    return copy.deepcopy(applied)


# -- FieldsV1 encoding ---------------------------------------------------------------------------------------
def encode(paths: Iterable[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def decode(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for element, sub in tree.items():
        path = prefix + (element,)
        if sub:
            out |= decode(sub, path)
        else:
            out.add(path)
    return out


def _render(path: Path) -> str:
    out = ""
    for element in path:
        if element == ".":
            continue
        tag, _, rest = element.partition(":")
        out += f".{rest}" if tag == "f" else f"[{rest}]"
    return out


# -- managedFields bookkeeping -------------------------------------------------------------------------------
class Managed:
    """The managedFields of one object as editable sets.

    An entry's FieldsV1 tree is decoded into its set of paths only when something needs the set: a write that
    changes none of an entry's fields (a controller's status write, beside the client's spec entry) leaves that
    entry's tree as it was, neither decoded nor encoded again (about a quarter of a status write's bookkeeping). A
    well-formed tree and its decoded set are the same information (decode and encode are inverse), so whether an
    entry went through its set changes nothing but the key order of a tree a client sent."""

    def __init__(self, entries: list[dict[str, Any]] | None):
        self.entries: list[dict[str, Any]] = []
        self._trees: list[dict[str, Any]] = []  # an entry's FieldsV1 as it came, while its set is not decoded
        self._sets: list[set[Path] | None] = []
        for e in entries or []:
            self.entries.append({k: v for k, v in e.items() if k != "fieldsV1"})
            self._trees.append(e.get("fieldsV1") or {})
            self._sets.append(None)

    def owned(self, i: int) -> set[Path]:
        """Entry i's paths (decoded now if they were not yet; edits to the set are the entry's)."""
        paths = self._sets[i]
        if paths is None:
            paths = self._sets[i] = decode(self._trees[i])
        return paths

    @property
    def sets(self) -> list[set[Path]]:
        return [self.owned(i) for i in range(len(self.entries))]

    def index(self, manager: str, operation: str, subresource: str | None) -> int:
        for i, e in enumerate(self.entries):
            if e["manager"] == manager and e["operation"] == operation and e.get("subresource") == subresource:
                return i
        return -1

    def record(self, manager: str, operation: str, api_version: str, paths: set[Path], subresource: str | None, replace: bool) -> None:
        i = self.index(manager, operation, subresource)
        if i < 0:
            entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now(), "fieldsType": "FieldsV1"}
            if subresource:
                entry["subresource"] = subresource
            self.entries.append(entry)
            self._trees.append({})
            self._sets.append(set())
            i = len(self.entries) - 1
        self.entries[i]["time"] = now()
        self.entries[i]["apiVersion"] = api_version
        if not replace and self._sets[i] is None and all(_holds(self._trees[i], path) for path in paths):
            return  # new values of fields the manager owns already (a controller's next status): its tree stands
        self._sets[i] = set(paths) if replace else self.owned(i) | paths

    def drop(self, paths: set[Path], except_index: int = -1) -> None:
        for i, owned in enumerate(self._sets):
            if i == except_index:
                continue
            if owned is not None:
                owned -= paths
            elif any(_holds(self._trees[i], path) for path in paths):
                self.owned(i).difference_update(paths)

    def render(self) -> list[dict[str, Any]]:
        out = []
        for e, tree, owned in zip(self.entries, self._trees, self._sets, strict=True):
            if owned is None:
                if tree:
                    out.append({**e, "fieldsV1": tree})
            elif owned:
                out.append({**e, "fieldsV1": encode(sorted(owned))})
        return out


def _holds(tree: dict[str, Any], path: Path) -> bool:
    """Whether the FieldsV1 tree has `path` (as decode would list it: a walk that ends on a leaf, `{}`)."""
    node: Any = tree
    for element in path:
        node = node.get(element)
        if node is None:
            return False
    return not node


def track_update(old: dict[str, Any] | None, new: dict[str, Any], schema: dict[str, Any], manager: str, api_version: str, subresource: str | None) -> None:
    """After a create, update or patch: the fields this write set or changed now belong to `manager`.

    As kube-apiserver's field manager: managedFields the request itself carries (non-empty and well-formed, not on
    a subresource) replace the live ones before this write's own fields are recorded — that is how a client edits
    ownership directly (kubectl's switch from client-side to server-side apply does). Otherwise the live ones count."""
    requested = new["metadata"].get("managedFields")
    managed = _requested_managed(requested) if subresource is None else None
    if managed is None:
        managed = Managed((old or {}).get("metadata", {}).get("managedFields"))
    if old is None:
        changed = field_paths(new, schema)
        removed: set[Path] = set()
    else:
        # A top-level field equal before and after (the spec of a status write, the status of a spec edit) has the
        # same paths with the same values on both sides: it can change and remove nothing, so only the others walk.
        changed, removed = changed_paths(old, new, schema)
    managed.drop(removed)
    if changed:
        # taken from every other manager; the writer's own entry keeps them (dropped and recorded again, they would
        # only cost its tree a decode and an encode: most writes are a controller's new values of its own fields)
        managed.drop(changed, except_index=managed.index(manager, "Update", subresource))
        managed.record(manager, "Update", api_version, changed, subresource, replace=False)
    new["metadata"]["managedFields"] = managed.render()


def changed_paths(old: dict[str, Any], new: dict[str, Any], schema: dict[str, Any]) -> tuple[set[Path], set[Path]]:
    """(changed, removed): the owned paths of `new` that are absent from `old` or hold another value there, and the
    owned paths of `old` that `new` no longer has — field_paths of both sides compared leaf by leaf, but walked side
    by side so that an equal subtree (most of an object, on most writes) is skipped whole after one C-level ==."""
    changed: set[Path] = set()
    removed: set[Path] = set()
    for key in {**old, **new}:
        if key in ("apiVersion", "kind"):
            continue
        before, after = _owned_value(old, key), _owned_value(new, key)
        if key == "metadata":  # field_paths records nothing for metadata with only the server's fields
            before, after = before or MISSING, after or MISSING
            _diff(before, after, METADATA_SCHEMA, ("f:metadata",), changed, removed)
        else:
            _diff(before, after, child_schema(schema, key), (f"f:{key}",), changed, removed)
    return changed, removed


def _diff(old: Any, new: Any, schema: dict[str, Any] | None, path: Path, changed: set[Path], removed: set[Path]) -> None:
    if old is new or old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict) and old and new and not (schema and schema.get("x-kubernetes-map-type") == "atomic"):
        for k, value in new.items():
            if k in old:
                _diff(old[k], value, child_schema(schema, k), path + (f"f:{k}",), changed, removed)
            else:
                _walk(value, child_schema(schema, k), path + (f"f:{k}",), changed)
        for k, value in old.items():
            if k not in new:
                _walk(value, child_schema(schema, k), path + (f"f:{k}",), removed)
        return
    # a leaf, a list, or a change of shape: compare the two subtrees' paths as field_paths would
    new_paths: set[Path] = set()
    old_paths: set[Path] = set()
    if new is not MISSING:
        _walk(new, schema, path, new_paths)
    if old is not MISSING:
        _walk(old, schema, path, old_paths)
    n = len(path)
    changed |= {p for p in new_paths if p not in old_paths or value_at(old, p[n:]) != value_at(new, p[n:])}
    removed |= old_paths - new_paths


def _owned_value(obj: dict[str, Any], key: str) -> Any:
    """A top-level field as field_paths sees it: metadata without the server's own fields."""
    value = obj.get(key, MISSING)
    if key == "metadata" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in SERVER_METADATA}
    return value


def _requested_managed(entries: Any) -> Managed | None:
    """The request's managedFields as a Managed, or None when absent or not decodable (then the live ones count, as
    upstream's DecodeManagedFields failing: nothing undecodable is stored, where a typed client would then fail to
    read every object of the list). An entry decodes when its operation is Apply or Update, its apiVersion is set, its
    fieldsType is FieldsV1, its time (if any) an RFC 3339 time and its fieldsV1 a tree of objects. Entries with the
    same manager identifier (manager, operation, subresource, and apiVersion for an Update) are one: the last wins,
    as upstream's map of managers keeps one."""
    if not entries or not isinstance(entries, list):
        return None
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("manager"), str) or e.get("operation") not in ("Apply", "Update"):
            return None
        if not isinstance(e.get("apiVersion"), str) or not e["apiVersion"] or e.get("fieldsType") != "FieldsV1":
            return None
        if e.get("time") is not None and not (isinstance(e["time"], str) and RFC3339_TIME.fullmatch(e["time"])):
            return None
        if not isinstance(e.get("subresource", ""), str) or not _well_formed(e.get("fieldsV1") or {}):
            return None
        ident = (e["manager"], e["operation"], e.get("subresource", ""), e["apiVersion"] if e["operation"] == "Update" else "")
        kept.pop(ident, None)
        kept[ident] = e
    return Managed(list(kept.values()))


RFC3339_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _well_formed(tree: Any) -> bool:
    """A FieldsV1 tree: objects all the way down (`{}` marks a leaf)."""
    return isinstance(tree, dict) and all(isinstance(k, str) and _well_formed(v) for k, v in tree.items())


def server_side_apply(
    current: dict[str, Any] | None,
    applied: dict[str, Any],
    schema: dict[str, Any],
    manager: str,
    api_version: str,
    force: bool,
    subresource: str | None = None,
) -> dict[str, Any]:
    """The object after `manager` applies `applied` (a full intent), or a 409 listing the conflicts."""
    applied = copy.deepcopy(applied)
    applied.get("metadata", {}).pop("managedFields", None)
    applied_paths = field_paths(applied, schema, include_status=subresource == "status")
    base = copy.deepcopy(current) if current else {"metadata": {}}
    managed = Managed(base["metadata"].get("managedFields"))
    mine = managed.index(manager, "Apply", subresource)
    conflicts = _conflicts(managed, mine, applied_paths, base, applied)
    if conflicts and not force and manager == UPGRADING_MANAGER:
        # kubectl's move from client-side to server-side apply: conflicts on fields its last-applied annotation set,
        # still at those values, are the client-side apply's own, and the apply takes them over (upstream's
        # lastAppliedManager); any other conflict is still one
        allowed = _last_applied_fields(base, schema, api_version)
        remaining = {owner: kept for owner, paths in conflicts.items() if (kept := [p for p in paths if p not in allowed])}
        if remaining:
            raise conflict_error(remaining, managed, api_version)
        force = True
    if conflicts and not force:
        raise conflict_error(conflicts, managed, api_version)
    if conflicts:
        managed.drop({p for ps in conflicts.values() for p in ps}, except_index=-1)
    previous = managed.sets[mine] if mine >= 0 else set()
    others = set().union(*(s for i, s in enumerate(managed.sets) if i != mine)) if managed.sets else set()
    # Whole keyed items first (their key fields are needed to find them), then the deepest fields.
    removed = sorted(previous - applied_paths - others, key=lambda p: (p[-1] != ".", -len(p)))
    if removed:
        before = copy.deepcopy(base)
        for path in removed:
            remove_at(base, path)
        prune_empty(base, before)
    result = merge_applied(base, {k: v for k, v in applied.items() if k != "status" or subresource == "status"}, schema)
    managed.record(manager, "Apply", api_version, applied_paths, subresource, replace=True)
    result["metadata"]["managedFields"] = managed.render()
    return result


UPGRADING_MANAGER = "kubectl"  # the field manager of `kubectl apply --server-side`: the only one the upgrade applies to
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _conflicts(managed: Managed, mine: int, applied_paths: set[Path], base: dict[str, Any], applied: dict[str, Any]) -> dict[str, list[Path]]:
    """Per other manager, the applied paths it owns whose value the apply changes."""
    conflicts: dict[str, list[Path]] = {}
    for i, owned in enumerate(managed.sets):
        if i == mine:
            continue
        for path in owned & applied_paths:
            if path[-1] != "." and value_at(base, path) != value_at(applied, path):
                conflicts.setdefault(managed.entries[i]["manager"], []).append(path)
    return conflicts


def _last_applied_fields(live: dict[str, Any], schema: dict[str, Any], api_version: str) -> set[Path]:
    """The fields of the live object's last-applied-configuration that still hold the values it applied (upstream's
    allowedConflictsFromLastApplied: its field set less what the live object modified, added or removed); none when
    the annotation is absent, undecodable or of another apiVersion."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
    except ValueError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return set()
    changed, removed = changed_paths(last, live, schema)
    return field_paths(last, schema) - changed - removed


def conflict_error(conflicts: dict[str, list[Path]], managed: Managed, api_version: str) -> APIError:
    count = sum(len(v) for v in conflicts.values())
    lines = []
    causes = []
    for owner, paths in conflicts.items():
        owner_version = next((e["apiVersion"] for e in managed.entries if e["manager"] == owner), api_version)
        rendered = [_render(p) for p in sorted(paths)]
        if len(rendered) == 1:
            lines.append(f'conflict with "{owner}" using {owner_version}: {rendered[0]}')
        else:
            lines.append(f'conflicts with "{owner}" using {owner_version}:\n' + "\n".join(f"- {r}" for r in rendered))
        causes += [{"reason": "FieldManagerConflict", "message": f'conflict with "{owner}" using {owner_version}', "field": r} for r in rendered]
    noun = "conflict" if count == 1 else "conflicts"
    return APIError(409, f"Apply failed with {count} {noun}: " + "\n".join(lines), reason="Conflict", details={"causes": causes})
