"""apply.Managed decodes an entry's FieldsV1 tree only when a write touches that entry; the managedFields it renders
must be exactly those of the definition it replaces: every entry decoded into its set of paths, the write's drops
and record applied to the sets, every non-empty set encoded again (sorted)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dvp_simulator.api import apply as ssa

ELEMENTS = ["f:spec", "f:status", "f:metadata", "f:a", "f:b", "k:{\"type\":\"Ready\"}", "."]
paths = st.lists(st.sampled_from(ELEMENTS), min_size=1, max_size=4).map(tuple)
path_sets = st.sets(paths, max_size=8)
MANAGERS = ["kubectl", "controller", "other"]


def tree_of(owned: set) -> dict:
    """A well-formed FieldsV1 tree holding exactly `owned` (a path that is a prefix of another is dropped, as a
    tree cannot hold both: the leaf `{}` would have children)."""
    kept = {p for p in owned if not any(q != p and q[: len(p)] == p for q in owned)}
    return ssa.encode(sorted(kept))


def eager(entries: list[dict], drops: list[set], record: tuple) -> list[dict]:
    """The definition: decode everything, edit the sets, encode every non-empty one."""
    heads = [{k: v for k, v in e.items() if k != "fieldsV1"} for e in entries]
    sets = [ssa.decode(e.get("fieldsV1") or {}) for e in entries]
    for dropped in drops:
        for owned in sets:
            owned -= dropped
    manager, recorded = record
    at = next((i for i, h in enumerate(heads) if h["manager"] == manager and h["operation"] == "Update" and h.get("subresource") is None), -1)
    if at < 0:
        heads.append({"manager": manager, "operation": "Update"})
        sets.append(set())
        at = len(heads) - 1
    sets[at] |= recorded
    return [(h["manager"], ssa.encode(sorted(s))) for h, s in zip(heads, sets, strict=True) if s]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(MANAGERS), path_sets), max_size=3, unique_by=lambda t: t[0]),
    st.lists(path_sets, max_size=2),
    st.sampled_from(MANAGERS),
    path_sets,
)
def test_lazy_entries_render_what_decoding_every_entry_would(owners, drops, manager, recorded):
    entries = [{"manager": m, "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": tree_of(s)} for m, s in owners]
    managed = ssa.Managed(entries)
    for dropped in drops:
        managed.drop(dropped)
    managed.record(manager, "Update", "v1", recorded, None, replace=False)
    got = [(e["manager"], e["fieldsV1"]) for e in managed.render()]
    assert got == eager(entries, drops, (manager, recorded))


def test_an_entry_the_write_does_not_touch_keeps_its_tree_undecoded():
    spec_tree = {"f:spec": {"f:a": {}, "f:b": {}}}
    entries = [
        {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": spec_tree},
        {
            "manager": "controller",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "subresource": "status",
            "fieldsV1": {"f:status": {"f:a": {}}},
        },
    ]
    managed = ssa.Managed(entries)
    managed.drop({("f:status", "f:a"), ("f:status", "f:b")})
    managed.record("controller", "Update", "v1", {("f:status", "f:a"), ("f:status", "f:b")}, "status", replace=False)
    rendered = managed.render()
    assert rendered[0]["fieldsV1"] is spec_tree, "not decoded, not encoded again"
    assert rendered[1]["fieldsV1"] == {"f:status": {"f:a": {}, "f:b": {}}}
    managed.drop({("f:spec", "f:a")})
    assert managed.render()[0]["fieldsV1"] == {"f:spec": {"f:b": {}}}, "a drop that touches it edits it"


def test_a_controllers_new_values_of_its_own_fields_leave_its_tree_as_it_was():
    """track_update: a status write changing values the writer owns already takes them from nobody and adds nothing,
    so its entry's tree is neither decoded nor encoded again (only its time moves); a field it did not own yet goes
    through the set, and the other managers lose what it took."""
    schema = {"type": "object", "properties": {"status": {"type": "object", "properties": {"phase": {"type": "string"}, "n": {"type": "integer"}}}}}
    status_tree = {"f:status": {"f:n": {}, "f:phase": {}}}
    spec_tree = {"f:spec": {"f:a": {}}}
    entries = [
        {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": spec_tree},
        {"manager": "ctl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": status_tree},
    ]
    old = {"metadata": {"name": "x", "managedFields": entries}, "spec": {"a": 1}, "status": {"phase": "A", "n": 1}}
    new = {"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"phase": "B", "n": 2}}
    ssa.track_update(old, new, schema, "ctl", "v1", "status")
    rendered = new["metadata"]["managedFields"]
    assert rendered[0]["fieldsV1"] is spec_tree and rendered[1]["fieldsV1"] is status_tree, "neither decoded nor encoded"
    grown = {"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"phase": "B", "n": 2, "extra": 1}}
    taken = {"metadata": {"name": "x"}, "spec": {"a": 2}, "status": {"phase": "B", "n": 2}}
    ssa.track_update(new, grown, schema, "ctl", "v1", "status")
    assert grown["metadata"]["managedFields"][1]["fieldsV1"] == {"f:status": {"f:extra": {}, "f:n": {}, "f:phase": {}}}
    ssa.track_update(new, taken, schema, "ctl", "v1", "status")
    assert [e["manager"] for e in taken["metadata"]["managedFields"]] == ["ctl"], "kubectl's only field went to ctl"
    assert taken["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"f:a": {}}, "f:status": {"f:n": {}, "f:phase": {}}}
