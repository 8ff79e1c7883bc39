"""Schema checks on an update skip what it leaves unchanged (kube-apiserver's CRDValidationRatcheting): an invalid
value stored before a schema tightened does not block a status write, but it is refused as soon as a write changes it,
and always on a create; pruning and defaulting likewise walk only the values the update changed. The compiled check in
parts (a shell plus a check per field, on two levels) must decide exactly as the whole compiled check, and against a
stored object that was pruned, defaulted and valid when written, skipping its unchanged values changes no outcome."""

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


def test_pruning_on_an_update_walks_only_the_values_it_changed():
    ops = SchemaOps(SCHEMA)
    stored = obj({"size": 1, "old": "kept"})  # `old` undeclared: stored before the schema lost it
    unchanged = obj({"size": 1, "old": "kept"}, {"phase": "Ready", "extra": 1})
    assert ops.prune(unchanged, stored) == ["status.extra"]
    assert unchanged["spec"] == {"size": 1, "old": "kept"}
    changed = obj({"size": 2, "old": "kept"})
    assert ops.prune(changed, stored) == [] and changed["spec"] == {"size": 2, "old": "kept"}, "`old` itself is as stored"
    rewritten = obj({"size": 2, "old": "new"})
    assert ops.prune(rewritten, stored) == ["spec.old"] and rewritten["spec"] == {"size": 2}
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


NESTED = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1, "default": 1}}},
        "status": {
            "type": "object",
            "required": ["phase"],
            "properties": {
                "phase": {"type": "string", "enum": ["A", "B"]},
                "conditions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"type": {"type": "string"}, "reason": {"type": "string", "default": "None"}, "n": {"type": "integer", "maximum": 5}},
                    },
                },
                "stats": {"type": "object", "properties": {"count": {"type": "integer", "format": "int32"}}, "additionalProperties": False},
                "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string", "default": "x"}}}},
            },
        },
    },
}
leaf = st.one_of(st.none(), st.integers(-2, 7), st.sampled_from(["A", "B", "C"]))  # often invalid where it lands
text = st.sampled_from(["A", "B", "ok"])


def conditions_of(value):
    return st.dictionaries(st.sampled_from(["type", "reason", "n", "junk"]), value, max_size=4)


def statuses(value, small):
    """A status whose values are drawn from `value` (phase from `small`): valid ones when both are."""
    return st.fixed_dictionaries(
        {"phase": small},
        optional={
            "conditions": st.lists(conditions_of(value), max_size=4),
            "stats": st.dictionaries(st.sampled_from(["count", "junk"]), value, max_size=2),
            "labels": st.dictionaries(st.sampled_from(["a", "b"]), st.dictionaries(st.sampled_from(["v", "junk"]), value, max_size=2), max_size=2),
            "junk": value,
        },
    )


# valid when written (strings where strings go, small integers where integers go), junk fields pruned at the write
valid_leaf = st.one_of(text, st.integers(1, 5))
condition = st.one_of(conditions_of(leaf), st.fixed_dictionaries({}, optional={"type": text, "reason": text, "n": st.integers(0, 5), "junk": leaf}))
status_values = st.one_of(statuses(leaf, leaf), statuses(valid_leaf, st.sampled_from(["A", "B"])))
whole_objects = st.builds(
    lambda spec, status: {"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": spec, "status": status},
    st.fixed_dictionaries({}, optional={"size": st.integers(1, 5), "junk": leaf}),
    st.fixed_dictionaries(
        {"phase": st.sampled_from(["A", "B"])},
        optional={
            "conditions": st.lists(st.fixed_dictionaries({}, optional={"type": text, "reason": text, "n": st.integers(0, 5), "junk": leaf}), max_size=4),
            "stats": st.fixed_dictionaries({}, optional={"count": st.integers(0, 9), "junk": leaf}),
            "labels": st.dictionaries(st.sampled_from(["a", "b"]), st.fixed_dictionaries({}, optional={"v": text, "junk": leaf}), max_size=2),
        },
    ),
)


edit_leaf = st.one_of(valid_leaf, leaf)  # an edit is as often valid as not


def edited(draw, stored):
    """A copy of the stored object with some of its values replaced, as a controller's write changes a few."""
    import copy as _copy

    new = _copy.deepcopy(stored)
    for _edit in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["spec", "status", "phase", "condition", "stats", "labels"]))
        if where == "spec":
            new["spec"] = draw(st.dictionaries(st.sampled_from(["size", "junk"]), edit_leaf, max_size=2))
        elif where == "status":
            new["status"] = draw(status_values)
        elif where == "phase":
            new["status"]["phase"] = draw(st.one_of(st.sampled_from(["A", "B"]), edit_leaf))
        elif where == "condition":
            conditions = new["status"].setdefault("conditions", [])
            at = draw(st.integers(0, len(conditions)))
            item = draw(condition)
            conditions[at:at + 1] = [item]
        elif where == "stats":
            new["status"]["stats"] = draw(st.dictionaries(st.sampled_from(["count", "junk"]), edit_leaf, max_size=2))
        else:
            label = draw(st.dictionaries(st.sampled_from(["v", "junk"]), edit_leaf, max_size=2))
            new["status"].setdefault("labels", {})[draw(st.sampled_from(["a", "b"]))] = label
    return new


@st.composite
def stored_and_update(draw):
    """A stored object as a write leaves it (pruned and defaulted), and an update of it."""
    ops = SchemaOps(NESTED)
    stored = draw(whole_objects)
    ops.prune(stored)
    ops.default(stored)
    return stored, edited(draw, stored)


@settings(max_examples=400, deadline=None)
@given(stored_and_update())
def test_pruning_and_defaulting_below_the_top_skip_only_what_cannot_change_the_outcome(pair):
    import copy as _copy

    stored, new = pair
    ops = SchemaOps(NESTED)
    whole, ratcheted = _copy.deepcopy(new), _copy.deepcopy(new)
    assert ops.prune(ratcheted, stored) == ops.prune(whole)
    ops.default(whole)
    ops.default(ratcheted, stored)
    assert ratcheted == whole


@settings(max_examples=400, deadline=None)
@given(stored_and_update())
def test_the_two_level_check_decides_as_the_whole_check_against_a_valid_stored_object(pair):
    stored, new = pair
    ops = SchemaOps(NESTED)
    if not ops._fast_valid(stored):
        return  # only a valid stored object's unchanged values are known to pass
    assert ops._fast_valid(new, frozenset(), stored) == ops._fast_valid(new)
    assert (ops.validate(new, stored) == []) == (ops.validate(new) == [])
