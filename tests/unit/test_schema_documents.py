"""The simulator's schema documents (simulator/dvp_simulator/schemas/*.yaml) read by dsl.load_document — libyaml's
parser where PyYAML has it — come out exactly as yaml.safe_load reads them."""

from __future__ import annotations

import yaml

from dvp_simulator.schemas.dsl import SCHEMA_DIR, load_document


def test_every_schema_document_reads_as_safe_load_reads_it():
    paths = sorted(SCHEMA_DIR.glob("*.yaml"))
    assert len(paths) > 10
    for path in paths:
        text = path.read_text()
        assert load_document(text) == yaml.safe_load(text), path.name


def test_scalars_resolve_as_yaml_1_1_safe_load():
    text = "a: yes\nb: 010\nc: 1e3\nd: '5'\ne: null\nf: 2026-12-06\ng: 0x1f\nh: .inf\n"
    assert load_document(text) == yaml.safe_load(text)
