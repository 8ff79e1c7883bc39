"""The API vocabulary lives in one module (plugins/module_utils/vocabulary.py): the simulator spells no DVP group,
qualified label / annotation key, finalizer, resource name or Secret type as a string literal of its own.

Only string constants in code are checked (docstrings and comments may name keys for the reader). Not checked,
by design: the schema files (`schemas/*.yaml`, the platform's own CRD text, compared verbatim by
tests/conformance) and the topologies (user input)."""

from __future__ import annotations

import ast
from pathlib import Path

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = ROOT / "simulator" / "dvp_simulator"
SUFFIXES = ("_LABEL", "_LABEL_PREFIX", "_ANNOTATION", "_FINALIZER", "_RESOURCE")

# Literals allowed outside vocabulary.py, each with its reason: (file relative to SIMULATOR, literal).
EXCEPTIONS: set[tuple[str, str]] = set()


def qualified_words() -> set[str]:
    """Every vocabulary value a stray literal could spell: the DVP group (inside every DVP key, so it also
    catches new keys nobody added yet), and each qualified key (`prefix/name`) of the Kubernetes groups."""
    words = {v.DVP_GROUP}
    for name, value in vars(v).items():
        if isinstance(value, str) and (name.endswith(SUFFIXES) or name.startswith("SECRET_TYPE_")) and "/" in value:
            words.add(value.rstrip("/"))
    words |= {v.resource_key(kind) for kind in v.PLURALS if v.group_of(kind)}  # `group/plural` keys
    return words


def docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    skip = docstring_nodes(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def test_the_vocabulary_covers_the_keys_it_is_checked_for():
    words = qualified_words()
    assert {v.DVP_GROUP, v.HOSTNAME_LABEL, "storageclass.kubernetes.io/is-default-class", "storage.k8s.io/storageclasses"} <= words
    assert "orphan" not in words, "bare words are not checked: they would match unrelated text"


def test_the_simulator_spells_no_vocabulary_literal_of_its_own():
    words = qualified_words()
    found = []
    for path in sorted(SIMULATOR.rglob("*.py")):
        rel = str(path.relative_to(SIMULATOR))
        for line, text in literals(path):
            hits = [w for w in words if w in text]
            if hits and (rel, text) not in EXCEPTIONS:
                found.append(f"{rel}:{line}: {text!r} (vocabulary: {', '.join(sorted(hits))})")
    assert not found, "use plugins/module_utils/vocabulary.py instead:\n" + "\n".join(found)


def test_the_collection_spells_no_vocabulary_literal_of_its_own():
    """The same for the collection's module_utils (the modules' DOCUMENTATION prose may name keys for the reader)."""
    words = qualified_words()
    found = []
    for path in sorted((ROOT / "plugins" / "module_utils").glob("*.py")):
        if path.name == "vocabulary.py":
            continue
        for line, text in literals(path):
            hits = [w for w in words if w in text]
            if hits:
                found.append(f"{path.name}:{line}: {text!r} (vocabulary: {', '.join(sorted(hits))})")
    assert not found, "use plugins/module_utils/vocabulary.py instead:\n" + "\n".join(found)


def test_the_checker_sees_literals_and_skips_docstrings(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(f'"""Mentions {v.HOSTNAME_LABEL} for the reader."""\n\nKEY = "{v.HOSTNAME_LABEL}"\nURL = f"{v.DVP_GROUP}/{{x}}"\n')
    assert [line for line, text in literals(sample) if any(w in text for w in qualified_words())] == [3, 4]
