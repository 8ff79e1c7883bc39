"""What the simulator's start does not pay for until it is needed: jsonschema (it only words what fastjsonschema's
compiled check refused) and CEL's parser (made at the first rule compiled, from cel_parser's cache)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SIMULATOR = Path(__file__).resolve().parents[2] / "simulator"

PROBE = """
import sys
import dvp_simulator.cli
from celpy.celparser import CELParser
from dvp_simulator.api.validation import SchemaOps
ops = SchemaOps({"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}})
assert ops.validate({"n": 2}) == []
print("jsonschema" in sys.modules, CELParser.CEL_PARSER is not None)
refused = ops.validate({"n": 4})
print("jsonschema" in sys.modules, refused)
"""


def test_jsonschema_and_the_cel_parser_wait_until_needed():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=SIMULATOR).stdout.splitlines()
    assert out[0] == "False False"  # imported, a valid object checked: neither loaded
    assert out[1].startswith("True [") and "n in body should be less than or equal to 3" in out[1]  # a refusal is worded by jsonschema
