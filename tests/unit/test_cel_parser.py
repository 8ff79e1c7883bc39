"""cel_parser (simulator/dvp_simulator/api/cel_parser.py): the CEL parser loaded from Lark's cache parses every CRD rule
into the same tree as the parser celpy builds itself, and the cache is only used from a directory of our own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from celpy.celparser import CELParser

from dvp_simulator.api import cel_parser
from dvp_simulator.schemas.dsl import our_crds

SHARED_CRDS = Path(__file__).resolve().parents[3] / "shared" / "dvp-api" / "crds"


def _rules(node, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations", []) or []:
            found.add(rule["rule"])
        for value in node.values():
            _rules(value, found)
    elif isinstance(node, list):
        for value in node:
            _rules(value, found)
    return found


def all_rules() -> list[str]:
    found: set[str] = set()
    for crd in our_crds():
        _rules(crd, found)
    for path in sorted(SHARED_CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            _rules(doc, found)
    return sorted(found)


@pytest.fixture
def celpy_parser():
    """The parser celpy builds on its own (no cache), the process's parser put back afterwards."""
    saved = CELParser.CEL_PARSER
    CELParser.CEL_PARSER = None
    try:
        CELParser()
        yield CELParser.CEL_PARSER
    finally:
        CELParser.CEL_PARSER = saved


def test_cached_parser_parses_every_crd_rule_as_celpy_does(tmp_path, celpy_parser):
    rules = all_rules()
    assert len(rules) >= 20  # our CRDs and upstream's: the rules the simulator compiles
    cache = tmp_path / cel_parser.CACHE_NAME
    built = cel_parser.build(cache)  # builds the tables and writes the cache
    assert cache.stat().st_size > 0
    loaded = cel_parser.build(cache)  # loads them from it
    for rule in rules + ["self == 'true' || true", "self.x.startsWith('a') ? 1u : -2.5e3"]:
        expected = celpy_parser.parse(rule)
        assert built.parse(rule) == expected, rule
        assert loaded.parse(rule) == expected, rule


def test_cache_dir_is_private_and_refused_when_others_can_write(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = cel_parser.cache_dir()
    assert path == tmp_path / "cache" / "dvp-sim"
    assert path.stat().st_mode & 0o777 == 0o700
    os.chmod(path, 0o777)
    assert cel_parser.cache_dir() is None
    os.chmod(path, 0o700)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # cannot be made
    assert cel_parser.cache_dir() is None
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # never a directory under the working directory
    assert cel_parser.cache_dir() is None and not (tmp_path / "relative").exists()
