"""apply.changed_paths walks the old and the new object side by side and skips equal subtrees; its answer must be
exactly the definition it replaces: field_paths of both sides, compared leaf by leaf (value_at)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dvp_simulator.api import apply as ssa

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "items": {"type": "object"}},
            },
        },
        "status": {
            "type": "object",
            "properties": {
                "conditions": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"],
                    "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}},
                },
            },
        },
    },
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", ""]))
small = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)), max_leaves=6)
condition = st.fixed_dictionaries({"type": st.sampled_from(["Ready", "Running", "Ok"]), "status": st.sampled_from(["True", "False"])})
conditions = st.lists(condition, max_size=3, unique_by=lambda c: c["type"])
spec = st.fixed_dictionaries(
    {},
    optional={
        "selector": st.dictionaries(st.sampled_from("ab"), scalars, max_size=2),
        "tags": st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=3, unique=True),
        "ports": st.lists(small, max_size=2),
        "free": small,
    },
)
labels = st.dictionaries(st.sampled_from("lm"), st.sampled_from(["1", "2"]), max_size=2)
metadata = st.fixed_dictionaries({"name": st.just("x"), "resourceVersion": st.sampled_from(["1", "2"])}, optional={"labels": labels})
objects = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.just("Thing"), "metadata": metadata},
    optional={"spec": spec, "status": st.fixed_dictionaries({}, optional={"conditions": conditions, "phase": scalars})},
)


def reference(old: dict, new: dict) -> tuple[set, set]:
    """The definition: every owned path of each side, a new one changed when absent from the old or valued otherwise."""
    old_paths, new_paths = ssa.field_paths(old, SCHEMA), ssa.field_paths(new, SCHEMA)
    changed = {p for p in new_paths if p not in old_paths or ssa.value_at(old, p) != ssa.value_at(new, p)}
    return changed, old_paths - new_paths


@settings(max_examples=400, deadline=None)
@given(objects, objects)
def test_changed_paths_is_the_leaf_by_leaf_comparison(old: dict, new: dict) -> None:
    assert ssa.changed_paths(old, new, SCHEMA) == reference(old, new)


@settings(max_examples=100, deadline=None)
@given(objects)
def test_an_object_compared_with_itself_changes_nothing(obj: dict) -> None:
    assert ssa.changed_paths(obj, obj, SCHEMA) == (set(), set())


def test_one_condition_changed_names_only_that_condition_item() -> None:
    old = {"metadata": {"name": "x"}, "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Running", "status": "False"}]}}
    new = {"metadata": {"name": "x"}, "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Running", "status": "True"}]}}
    changed, removed = ssa.changed_paths(old, new, SCHEMA)
    running = ("f:status", "f:conditions", 'k:{"type":"Running"}')
    assert changed == {running + (".",), running + ("f:status",)}  # the item (its value changed) and the field
    assert removed == set()
