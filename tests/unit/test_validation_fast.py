"""Admission's compiled schema check and the walks it skips: a `$` inside a character class no longer leaves a schema
without its compiled check, and defaulting and CEL still reach rules and defaults nested under skipped siblings."""

from dvp_simulator.api.validation import SchemaOps, _class_dollars_escaped
from dvp_simulator.resources import build_registry

URL = r"^http[s]?:\/\/(?:[a-zA-Z]|[0-9]|[$-_@.&+]|[!*\(\),]|(?:%[0-9a-fA-F][0-9a-fA-F]))+$"


def test_dollars_in_classes_are_escaped_and_only_there():
    assert _class_dollars_escaped(URL).count(r"[\$-_@.&+]") == 1
    assert _class_dollars_escaped(URL).endswith(")+$")
    assert _class_dollars_escaped(r"^[]$]$") == r"^[]\$]$"
    assert _class_dollars_escaped(r"a\[$") == r"a\[$"


def test_every_served_schema_has_its_compiled_check():
    registry = build_registry()
    for rt in registry.types.values():
        for version in rt.versions.values():
            ops = version.ops
            ops._fast_valid({})  # compiles
            assert ops._fast.__name__ != "_never_sure", f"{rt.kind} {version.name} has no compiled check"


def test_url_pattern_still_judged_the_same():
    ops = SchemaOps({"type": "object", "properties": {"url": {"type": "string", "pattern": URL}}})
    assert ops.validate({"url": "https://example.com/a$b"}) == []
    causes = ops.validate({"url": "ftp://example.com"})
    assert causes and causes[0]["field"] == "url"


def test_nested_defaults_and_rules_under_plain_siblings():
    rule = {"rule": "self.n < 5", "message": "n below 5"}
    inner = {"type": "object", "properties": {"n": {"type": "integer", "default": 3}}, "x-kubernetes-validations": [rule]}
    schema = {
        "type": "object",
        "properties": {"plain": {"type": "object", "properties": {"a": {"type": "string"}}}, "deep": {"type": "object", "properties": {"inner": inner}}},
    }
    ops = SchemaOps(schema)
    obj = {"plain": {"a": "x"}, "deep": {"inner": {}}}
    ops.default(obj)
    assert obj["deep"]["inner"] == {"n": 3}
    causes = ops.validate({"plain": {"a": "x"}, "deep": {"inner": {"n": 7}}})
    assert [c["field"] for c in causes] == ["deep.inner"] and "n below 5" in causes[0]["message"]
