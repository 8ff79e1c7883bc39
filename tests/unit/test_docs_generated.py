# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/ is what docs/generate.py writes from the plugins' documentation today, and the README links every page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GENERATED = ("modules", "roles", "plugins")
HINT = "docs/ is out of date with the plugins' documentation: run `make docs` (python docs/generate.py) and commit the result"


def pages(folder: Path) -> dict[str, str]:
    out = {}
    for sub in GENERATED:
        for path in sorted((folder / sub).glob("*.md")):
            out[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
    index = folder / "README.md"
    if index.is_file():
        out["README.md"] = index.read_text(encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run([sys.executable, str(DOCS / "generate.py"), "--output", str(out)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, f"docs/generate.py failed: {proc.stderr}"
    return pages(out)


def test_docs_are_up_to_date(generated: dict[str, str]) -> None:
    current = pages(DOCS)
    missing = sorted(set(generated) - set(current))
    stale = sorted(set(current) - set(generated))
    changed = sorted(name for name in set(generated) & set(current) if generated[name] != current[name])
    assert not (missing or stale or changed), f"{HINT}. Missing: {missing}; no longer generated: {stale}; changed: {changed}"


def test_a_page_per_module_role_and_plugin(generated: dict[str, str]) -> None:
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    assert modules, "no modules found"
    assert [f"modules/{m}.md" for m in modules] == sorted(p for p in generated if p.startswith("modules/"))
    roles = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    assert [f"roles/{r}.md" for r in roles] == sorted(p for p in generated if p.startswith("roles/"))
    inventory = sorted(p.stem for p in (ROOT / "plugins" / "inventory").glob("*.py") if p.stem != "__init__")
    assert [f"plugins/{i}_inventory.md" for i in inventory] == sorted(p for p in generated if p.endswith("_inventory.md"))
    for name, text in generated.items():
        if name != "README.md":
            assert "| Option | Type | Required | Default | Description |" in text or "\nNone.\n" in text, f"{name}: no options section"


def test_module_page_content(generated: dict[str, str]) -> None:
    """Nested options, choices, defaults, required, examples and return values reach the page."""
    page = generated["modules/vm_class.md"]
    assert "| `cpu.discovery.node_selector` | dict |" in page
    assert re.search(r"\| `cpu\.type` \| str \| yes \|  \| .*Choices: `Host`, `HostPassthrough`, `Discovery`, `Model`, `Features`\.", page)
    assert "| `default` | bool |  | `false` |" in page
    assert "## Examples\n\n```yaml\n" in page and "deckhouse.virtualization.vm_class:" in page
    assert "| `vm_class.available_nodes` | always | list of str |" in page
    assert "### Connection options" in page and "| `kubeconfig` | raw |" in page
    assert not re.search(r"\b(?:[CIBMOVEUL]|RV)\(", page), "ansible markup left unconverted"


def test_readme_links_every_page(generated: dict[str, str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [name for name in generated if name != "README.md" and f"(docs/{name})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}: add them to its module / role / plugin tables"
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), f"README.md links {target}, which does not exist"
