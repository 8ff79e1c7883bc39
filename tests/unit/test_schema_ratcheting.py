"""Schema checks on an update skip the top-level fields it leaves unchanged (kube-apiserver's CRDValidationRatcheting):
an invalid value stored before a schema tightened does not block a status write, but it is refused as soon as a write
changes it, and always on a create; pruning likewise walks only what the update changed. The compiled check in parts
(a shell plus a check per field) must decide exactly as the whole compiled check."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dvp_simulator.api.validation import SchemaOps

SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {"size": {"type": "integer", "minimum": 1}, "mode": {"type": "string", "enum": ["A", "B"]}},
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}, "count": {"type": "integer", "format": "int32"}}},
    },
}


def obj(spec, status=None):
    out = {"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": spec}
    if status is not None:
        out["status"] = status
    return out


def test_an_unchanged_invalid_spec_does_not_block_a_status_write_but_a_changed_one_is_refused():
    ops = SchemaOps(SCHEMA)
    stored = obj({"size": 0})  # valid once, before `minimum: 1`
    assert [c["field"] for c in ops.validate(obj({"size": 0}))] == ["spec.size"], "a create is checked whole"
    assert ops.validate(obj({"size": 0}, {"phase": "Ready"}), stored) == [], "the spec is unchanged: ratcheted"
    causes = ops.validate(obj({"size": -1}, {"phase": "Ready"}), stored)
    assert [c["field"] for c in causes] == ["spec.size"], "a changed spec is checked"
    causes = ops.validate(obj({"size": 0}, {"phase": 5}), stored)
    assert [c["field"] for c in causes] == ["status.phase"], "the changed status is checked, the unchanged spec's error is not reported"
    assert [c["field"] for c in ops.validate({"apiVersion": "x/v1", "kind": "Thing", "metadata": {}}, stored)] == ["spec"], "required still holds"


def test_pruning_on_an_update_walks_only_the_fields_it_changed():
    ops = SchemaOps(SCHEMA)
    stored = obj({"size": 1, "old": "kept"})
    unchanged = obj({"size": 1, "old": "kept"}, {"phase": "Ready", "extra": 1})
    assert ops.prune(unchanged, stored) == ["status.extra"]
    assert unchanged["spec"] == {"size": 1, "old": "kept"}
    changed = obj({"size": 2, "old": "kept"})
    assert ops.prune(changed, stored) == ["spec.old"] and changed["spec"] == {"size": 2}
    created = obj({"size": 1, "old": "kept"})
    assert ops.prune(created) == ["spec.old"]


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**33), st.sampled_from(["A", "B", "C", ""]), st.floats(allow_nan=False))
fields = st.dictionaries(st.sampled_from(["size", "mode", "phase", "count", "other"]), values, max_size=3)
tops = st.dictionaries(st.sampled_from(["spec", "status", "metadata", "apiVersion", "extra"]), st.one_of(fields, values), max_size=5)


@settings(max_examples=500, deadline=None)
@given(tops, st.sets(st.sampled_from(["spec", "status", "metadata", "apiVersion", "extra"])))
def test_the_check_in_parts_decides_as_the_whole_check_on_the_fields_it_checks(value, same):
    ops = SchemaOps(SCHEMA)
    whole = ops._fast_valid(value)
    parts = ops._fast_valid(value, frozenset(same) | {"__never__"})  # a non-empty `same` takes the parts
    if not same & set(value):
        assert parts == whole, "nothing skipped: the shell and the fields' checks together are the whole check"
    elif whole:
        assert parts, "skipping fields can only accept more"
