"""plugins/plugin_utils/bytecode.py without Ansible: which names CachedSourceFinder takes (the collection's plain
modules, found in the parent package's path) and which it leaves to the next finder, and that what it loads keeps its
bytecode between imports. The end-to-end proof (ansible-playbook writes and then reuses the bytecode) is in
tests/integration/test_action_plugin.py."""

from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from ansible_collections.deckhouse.virtualization.plugins.plugin_utils.bytecode import PLUGINS, CachedSourceFinder, cached_imports, load

ROOT = Path(__file__).resolve().parents[2]


def test_plain_modules_of_the_collection_get_the_source_loader():
    spec = CachedSourceFinder.find_spec(f"{PLUGINS}module_utils.batch", [str(ROOT / "plugins" / "module_utils")])
    assert PLUGINS == "ansible_collections.deckhouse.virtualization.plugins."
    assert spec is not None and isinstance(spec.loader, SourceFileLoader)
    assert spec.origin == str(ROOT / "plugins" / "module_utils" / "batch.py") and spec.cached and "__pycache__" in spec.cached


def test_everything_else_is_left_to_the_next_finder():
    utils = [str(ROOT / "plugins" / "module_utils")]
    assert CachedSourceFinder.find_spec(f"{PLUGINS}module_utils", [str(ROOT / "plugins")]) is None  # a package
    assert CachedSourceFinder.find_spec(f"{PLUGINS}module_utils.no_such_file", utils) is None
    assert CachedSourceFinder.find_spec(f"{PLUGINS}module_utils.batch", None) is None  # top level: no parent path
    assert CachedSourceFinder.find_spec("ansible_collections.kubernetes.core.plugins.module_utils.batch", utils) is None
    assert CachedSourceFinder.find_spec("json", None) is None


def test_what_it_loads_keeps_its_bytecode(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # PYTHONDONTWRITEBYTECODE may be set where the tests run
    package = tmp_path / "module_utils"
    package.mkdir()
    name = f"{PLUGINS}module_utils.bytecode_test_sample"
    (package / "bytecode_test_sample.py").write_text("VALUE = 42\n")
    spec = CachedSourceFinder.find_spec(name, [str(package)])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.VALUE == 42
    cached = list((package / "__pycache__").glob("bytecode_test_sample.*.pyc"))
    assert len(cached) == 1 and cached[0].stat().st_size > 0, list(package.rglob("*"))
    written = cached[0].stat().st_mtime_ns
    again = CachedSourceFinder.find_spec(name, [str(package)])
    again.loader.exec_module(importlib.util.module_from_spec(again))
    assert cached[0].stat().st_mtime_ns == written  # read, not written again


def test_the_finder_is_first_only_inside_the_block():
    """ansible-test's import sanity test fails a plugin that leaves sys.meta_path[0] changed."""
    before = list(sys.meta_path)
    with cached_imports():
        assert isinstance(sys.meta_path[0], CachedSourceFinder) and sys.meta_path[1:] == before
        with cached_imports():  # nested: still one
            assert sum(isinstance(f, CachedSourceFinder) for f in sys.meta_path) == 1
        assert isinstance(sys.meta_path[0], CachedSourceFinder)
    assert sys.meta_path == before
    with pytest.raises(RuntimeError), cached_imports():
        raise RuntimeError("an import failed")
    assert sys.meta_path == before


def test_load_imports_the_collections_module():
    module = load("module_utils.quantity")
    assert module.__name__ == f"{PLUGINS}module_utils.quantity" and module is sys.modules[module.__name__]
