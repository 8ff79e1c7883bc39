"""CEL verdicts memoised on the fields a rule reads (api/validation.py rule_fields / rule_verdict): the memoised
verdict equals a full evaluation on the whole values, and rules that read `self` any other way are never projected."""

from __future__ import annotations

import itertools
import json

import pytest

from dvp_simulator.api import validation
from dvp_simulator.api.validation import cel_verdict, rule_fields, rule_verdict


@pytest.mark.parametrize(
    ("rule", "fields"),
    [
        ("self.cores >= 1", {"cores"}),
        ("!has(self.bootloader) || self.bootloader != 'EFIWithSecureBoot' || self.osType == 'Windows'", {"bootloader", "osType"}),
        ("self.items.all(i, i.size() > 0)", {"items"}),
        ("self.spec.cpu.cores == oldSelf.spec.cpu.cores", {"spec"}),
        ("size(self) > 0", None),
        ("self == oldSelf", None),
        ("self.all(k, k != '')", None),
        ("self.size() < 5", None),
        ("self[0] == 'x'", None),
    ],
)
def test_rule_fields(rule, fields):
    assert rule_fields(rule) == (None if fields is None else frozenset(fields))


RULES = [
    "!has(self.bootloader) || self.bootloader != 'EFIWithSecureBoot' || self.osType == 'Windows'",
    "self.cores >= 1 && (!has(self.coreFraction) || self.coreFraction != '0%')",
    "!has(oldSelf.mode) || self.mode == oldSelf.mode",
    "size(self) <= 3",
    "has(self.osType) && self.osType == 'Legacy' && has(self.enableParavirtualization) && !self.enableParavirtualization ? size(self.refs) <= 2 : true",
    "self.type == 'HTTP' ? has(self.http) && !has(self.objectRef) : true",
]
VALUES = [
    {"bootloader": "EFIWithSecureBoot", "osType": "Generic", "name": "a"},
    {"bootloader": "EFIWithSecureBoot", "osType": "Windows", "name": "b", "cores": 2},
    {"bootloader": "BIOS", "cores": 0, "coreFraction": "0%"},
    {"cores": 4, "coreFraction": "50%", "mode": "x", "extra": {"deep": [1, 2]}},
    {"mode": "y", "a": 1, "b": 2, "c": 3},
    {},
    {"osType": "Legacy", "enableParavirtualization": False, "refs": [1, 2, 3]},
    {"osType": "Legacy", "enableParavirtualization": False, "refs": [1]},
    {"osType": "Legacy", "enableParavirtualization": True, "refs": [1, 2, 3]},
    {"osType": "Generic", "enableParavirtualization": False, "refs": [1, 2, 3]},
    {"osType": "Legacy", "refs": [1, 2, 3]},
    {"type": "HTTP", "http": {"url": "u"}},
    {"type": "HTTP", "http": {"url": "u"}, "objectRef": {"name": "x"}},
    {"type": "HTTP"},
    {"type": "ObjectRef", "objectRef": {"name": "x"}},
]


@pytest.mark.parametrize("rule", RULES)
def test_memoised_verdicts_equal_full_evaluations(rule):
    uses_old = "oldSelf" in rule
    for value, old in itertools.product(VALUES, VALUES if uses_old else [None]):
        full = cel_verdict(rule, json.dumps(value, sort_keys=True), json.dumps(old, sort_keys=True) if uses_old else None)
        assert rule_verdict(rule, value, old, uses_old) == full, (rule, value, old)


@pytest.mark.parametrize("rule", RULES)
def test_traced_verdicts_equal_full_evaluations_in_any_order(rule):
    """The verdicts memoised on the fields an evaluation read equal full evaluations, whichever value came first."""
    uses_old = "oldSelf" in rule
    for order in (VALUES, list(reversed(VALUES))):
        validation._READS.clear()
        validation._TRACED.clear()
        for value, old in itertools.product(order, order if uses_old else [None]):
            full = cel_verdict(rule, json.dumps(value, sort_keys=True), json.dumps(old, sort_keys=True) if uses_old else None)
            assert rule_verdict(rule, value, old, uses_old) == full, (rule, value, old)


def test_a_verdict_is_shared_by_values_that_differ_only_where_the_evaluation_did_not_read():
    rule = RULES[4]
    validation._READS.clear()
    validation._TRACED.clear()
    for i in range(50):
        assert rule_verdict(rule, {"osType": "Generic", "refs": [{"name": f"disk-{i}"}] * (i % 5)}, None, False) == (True, None)
    assert len(validation._TRACED) == 1, "one evaluation: the refs were never read"
    assert validation._READS[rule] == [frozenset({"osType", "enableParavirtualization"})]
    assert rule_verdict(rule, {"osType": "Legacy", "enableParavirtualization": False, "refs": [1, 2, 3]}, None, False) == (False, None)
