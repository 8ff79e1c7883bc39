# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the reference pages of docs/ from the collection's own plugin documentation.

    python docs/generate.py [--output DIR]      (`make docs`; DIR defaults to this folder)

Every page comes from `ansible-doc --json`, run with the Python that runs this script on this source tree (linked
into a temporary collections path, so an installed copy of the collection is never read instead):

- docs/modules/<name>.md   each module: synopsis, requirements, options (nested, with types, defaults, choices,
                           required), notes, see also, examples, return values;
- docs/roles/<name>.md     each role with an argument spec (meta/argument_specs.yml), per entry point;
- docs/plugins/<name>_<type>.md   each other documented plugin (the inventory plugin: dvp_inventory.md);
- docs/README.md           the index of those pages and of the hand-written pages in docs/.

The pages are generated: edit the plugin's DOCUMENTATION / EXAMPLES / RETURN (or the role's argument spec) and run
`make docs`; tests/unit/test_docs_generated.py fails while docs/ is out of date.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Plugin types ansible-doc documents that may live in plugins/<type>/ (module and role are handled on their own).
PLUGIN_TYPES = ("inventory", "lookup", "filter", "test", "callback", "connection", "become", "cache", "vars", "strategy")
GENERATED_DIRS = ("modules", "roles", "plugins")
INDEX = "README.md"
ANSIBLE_DOCS = "https://docs.ansible.com/ansible/latest/collections"

_MARKUP = re.compile(r"\b(?:(RV|[IBCMOVEPU])\(([^)]*)\)|([LR])\(([^,)]*),\s*([^)]*)\))|\bHORIZONTALLINE\b")
_PLAIN_ESCAPES = str.maketrans({"\\": "\\\\", "*": "\\*", "`": "\\`", "<": "&lt;", "|": "\\|", "[": "\\[", "]": "\\]"})


class GenerateError(RuntimeError):
    """ansible-doc failed or the tree is not a collection."""


def collection_name(root: Path) -> tuple[str, str]:
    """(namespace, name) from galaxy.yml in a source tree, or MANIFEST.json in an installed collection."""
    if (root / "galaxy.yml").is_file():
        info = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))
    elif (root / "MANIFEST.json").is_file():
        info = json.loads((root / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]
    else:
        raise GenerateError(f"{root} is not a collection: neither galaxy.yml nor MANIFEST.json")
    return info["namespace"], info["name"]


# -- running ansible-doc -------------------------------------------------------------------------------------
class Doc:
    """ansible-doc on this source tree, through a temporary ansible_collections/<namespace>/<name> link."""

    def __init__(self, root: Path):
        self.namespace, self.name = collection_name(root)
        self.collection = f"{self.namespace}.{self.name}"
        self.root = root
        self._tmp = tempfile.TemporaryDirectory(prefix="docs-generate-")
        tree = Path(self._tmp.name) / "ansible_collections" / self.namespace
        tree.mkdir(parents=True)
        (tree / self.name).symlink_to(root, target_is_directory=True)
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        self.env |= {"ANSIBLE_COLLECTIONS_PATH": self._tmp.name, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}

    def close(self) -> None:
        self._tmp.cleanup()

    def run(self, *args: str) -> Any:
        cmd = [sys.executable, "-m", "ansible.cli.doc", "--json", *args]
        proc = subprocess.run(cmd, cwd=self._tmp.name, env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise GenerateError(f"ansible-doc {' '.join(args)} failed (rc {proc.returncode}): {proc.stderr.strip()}")
        return json.loads(proc.stdout or "{}")

    def names(self, plugin_type: str) -> list[str]:
        return sorted(self.run("-t", plugin_type, "-l", self.collection))

    def docs(self, plugin_type: str) -> dict[str, Any]:
        names = self.names(plugin_type)
        return self.run("-t", plugin_type, *names) if names else {}


# -- ansible markup → Markdown -------------------------------------------------------------------------------
def plain(text: str) -> str:
    return text.translate(_PLAIN_ESCAPES)


def code(text: str) -> str:
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


class Renderer:
    """Ansible's documentation markup (C(), I(), B(), O(), V(), RV(), E(), M(), P(), U(), L(), R()) as Markdown,
    with links to the collection's own pages relative to the page being written (`depth` folders below docs/)."""

    def __init__(self, collection: str, pages: dict[str, str], depth: int):
        self.collection, self.pages, self.up = collection, pages, "../" * depth

    def link(self, fqcn: str, plugin_type: str = "module") -> str:
        page = self.pages.get(f"{plugin_type}:{fqcn}")
        if page:
            return f"[{code(fqcn)}]({self.up}{page})"
        parts = fqcn.split(".")
        if len(parts) == 3 and plugin_type != "role":
            return f"[{code(fqcn)}]({ANSIBLE_DOCS}/{parts[0]}/{parts[1]}/{parts[2]}_{plugin_type}.html)"
        return code(fqcn)

    def text(self, value: Any) -> str:
        """One paragraph (a string); markup converted, the rest escaped."""
        value = str(value)
        out, last = [], 0
        for match in _MARKUP.finditer(value):
            out.append(plain(value[last : match.start()]))
            out.append(self._markup(match))
            last = match.end()
        out.append(plain(value[last:]))
        return "".join(out).strip()

    def _markup(self, match: re.Match[str]) -> str:
        if match.group(0) == "HORIZONTALLINE":
            return "—"
        kind, arg = match.group(1), match.group(2)
        if kind is None:
            label, target = match.group(4).strip(), match.group(5).strip()
            return f"[{plain(label)}]({target})" if match.group(3) == "L" else plain(label)
        if kind in ("C", "O", "V", "RV", "E"):
            return code(arg)
        if kind == "I":
            return f"*{plain(arg)}*"
        if kind == "B":
            return f"**{plain(arg)}**"
        if kind == "U":
            return f"<{arg}>"
        if kind == "M":
            return self.link(arg)
        # P(fqcn#type)
        fqcn, plugin_type = (arg.split("#", 1) + [""])[:2]
        return self.link(fqcn, plugin_type or "module")

    def paragraphs(self, value: Any) -> list[str]:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [self.text(item) for item in items if str(item).strip()]

    def cell(self, value: Any) -> str:
        """A table cell: paragraphs joined with <br>, never a newline."""
        return "<br>".join(p.replace("\n", " ") for p in self.paragraphs(value))


def literal(value: Any) -> str:
    """A default, choice or sample as YAML writes a scalar, JSON for collections, in a code span."""
    if isinstance(value, bool):
        return code("true" if value else "false")
    if value is None:
        return code("null")
    if isinstance(value, (dict, list)):
        return code(json.dumps(value, sort_keys=True))
    if isinstance(value, str) and value == "":
        return code('""')
    return code(str(value))


# -- tables ----------------------------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def type_of(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "str")
    if kind == "list" and spec.get("elements"):
        return f"list of {spec['elements']}"
    return kind


def option_rows(r: Renderer, options: dict[str, Any], prefix: str = "") -> list[list[str]]:
    """One row per option, nested options after their parent with a dotted path."""
    rows = []
    for name in sorted(options):
        spec = options[name] or {}
        path = f"{prefix}{name}"
        notes = [r.cell(spec.get("description"))]
        if spec.get("choices"):
            choices = spec["choices"]
            listed = ", ".join(literal(c) for c in (choices if isinstance(choices, list) else sorted(choices)))
            notes.append(f"Choices: {listed}.")
            if isinstance(choices, dict):  # choices with their own descriptions
                notes += [f"{literal(c)}: {r.cell(choices[c])}" for c in choices]
        if spec.get("aliases"):
            notes.append("Aliases: " + ", ".join(code(a) for a in spec["aliases"]) + ".")
        notes += environment(spec)
        if spec.get("version_added") and spec.get("version_added") != "historical":
            where = spec.get("version_added_collection")
            where = "ansible-core" if where == "ansible.builtin" else where
            notes.append(f"Added in {plain(where) + ' ' if where else 'version '}{plain(str(spec['version_added']))}.")
        default = literal(spec["default"]) if "default" in spec and spec["default"] is not None else ""
        rows.append([code(path), type_of(spec), "yes" if spec.get("required") else "", default, "<br>".join(n for n in notes if n)])
        if spec.get("suboptions"):
            rows += option_rows(r, spec["suboptions"], path + ".")
    return rows


def environment(spec: dict[str, Any]) -> list[str]:
    """Where a plugin option (not a module's) can also come from: ini, environment, variables, keywords."""
    out = []
    if spec.get("ini"):
        out.append("ini: " + ", ".join(code(f"[{i.get('section')}] {i.get('key')}") for i in spec["ini"]) + ".")
    if spec.get("env"):
        out.append("Environment: " + ", ".join(code(e["name"]) for e in spec["env"]) + ".")
    if spec.get("vars"):
        out.append("Variables: " + ", ".join(code(v["name"]) for v in spec["vars"]) + ".")
    if spec.get("keyword"):
        out.append("Keywords: " + ", ".join(code(k["name"]) for k in spec["keyword"]) + ".")
    return out


def options_section(r: Renderer, options: dict[str, Any], title: str = "## Parameters", shared: frozenset[str] = frozenset()) -> list[str]:
    """The options table; options of the connection doc fragment (`shared`) in a table of their own after it."""
    header = ["Option", "Type", "Required", "Default", "Description"]
    own = {k: v for k, v in options.items() if k not in shared}
    connection = {k: v for k, v in options.items() if k in shared}
    lines = [title, ""]
    lines += [*table(header, option_rows(r, own)), ""] if own else ["None.", ""]
    if connection:
        lines += [
            "#" + title.split(" ", 1)[0] + " Connection options",
            "",
            f"The same for every module and plugin of the collection (doc fragment {code(r.collection + '.connection')}), as in {code('kubernetes.core')}.",
            "",
            *table(header, option_rows(r, connection)),
            "",
        ]
    return lines


def fragment_options(root: Path, name: str) -> frozenset[str]:
    """Top-level option names of plugins/doc_fragments/<name>.py's DOCUMENTATION (read, not imported)."""
    path = root / "plugins" / "doc_fragments" / f"{name}.py"
    if not path.is_file():
        return frozenset()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DOCUMENTATION" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return frozenset((yaml.safe_load(node.value.value) or {}).get("options") or {})
    return frozenset()


def return_rows(r: Renderer, values: dict[str, Any], prefix: str = "") -> list[list[str]]:
    rows = []
    for name in sorted(values):
        spec = values[name] or {}
        path = f"{prefix}{name}"
        notes = [r.cell(spec.get("description"))]
        if "sample" in spec:
            notes.append(f"Sample: {literal(spec['sample'])}")
        rows.append([code(path), r.cell(spec.get("returned", "")), type_of(spec), "<br>".join(n for n in notes if n)])
        if spec.get("contains"):
            rows += return_rows(r, spec["contains"], path + ".")
    return rows


def bullets(r: Renderer, items: Any) -> list[str]:
    return [f"- {p}" for p in r.paragraphs(items)]


def seealso(r: Renderer, entries: list[dict[str, Any]] | None) -> list[str]:
    lines = []
    for entry in entries or []:
        if "module" in entry:
            head = r.link(entry["module"])
        elif "plugin" in entry:
            head = r.link(entry["plugin"], entry.get("plugin_type", "module"))
        elif "link" in entry:
            head = f"[{plain(entry.get('name', entry['link']))}]({entry['link']})"
        else:
            head = plain(entry.get("name", entry.get("ref", "")))
        description = r.cell(entry.get("description"))
        lines.append(f"- {head}" + (f": {description}" if description else ""))
    return ["## See also", "", *lines, ""] if lines else []


def example_block(text: str | None) -> list[str]:
    text = (text or "").strip("\n")
    if not text.strip():
        return []
    return ["## Examples", "", "```yaml", *(line.rstrip() for line in text.splitlines()), "```", ""]


def banner(source: str, command: str) -> list[str]:
    return [f"<!-- Generated by docs/generate.py from {source}: do not edit, run `make docs`. -->", "", f"`{command}` shows the same.", ""]


# -- pages -----------------------------------------------------------------------------------------------------
def module_page(r: Renderer, fqcn: str, data: dict[str, Any], groups: list[str], shared: frozenset[str]) -> str:
    doc = data["doc"]
    name = fqcn.rsplit(".", 1)[1]
    lines = [f"# {fqcn}", "", f"**{r.text(doc.get('short_description', ''))}**", ""]
    lines += banner(f"plugins/modules/{name}.py", f"ansible-doc {fqcn}")
    lines += ["## Synopsis", ""]
    for paragraph in r.paragraphs(doc.get("description")):
        lines += [paragraph, ""]
    if groups:
        listed = ", ".join(code(f"group/{r.collection}.{g}") for g in groups)
        lines += [f"Action group: {listed} — set the connection options once with `module_defaults`.", ""]
    if doc.get("requirements"):
        lines += ["## Requirements", "", *bullets(r, doc["requirements"]), ""]
    return page_end(r, doc, data, shared, lines)


def authors(r: Renderer, doc: dict[str, Any]) -> list[str]:
    names = doc.get("author")
    if not names:
        return []
    names = names if isinstance(names, list) else [names]
    return ["## Authors", "", *(f"- {plain(str(n))}" for n in names), ""]


def role_page(r: Renderer, fqcn: str, data: dict[str, Any]) -> str:
    name = fqcn.rsplit(".", 1)[1]
    entry_points = data.get("entry_points") or {}
    main = entry_points.get("main") or next(iter(entry_points.values()), {})
    lines = [f"# {fqcn}", "", f"**{r.text(main.get('short_description', ''))}**", ""]
    lines += banner(f"roles/{name}/meta/argument_specs.yml", f"ansible-doc -t role {fqcn}")
    readme = ROOT / "roles" / name / "README.md"
    if readme.is_file():
        lines += [f"The role's own README: [roles/{name}/README.md]({r.up}../roles/{name}/README.md).", ""]
    lines += [
        "```yaml",
        "- hosts: localhost",
        "  gather_facts: false",
        "  roles:",
        f"    - role: {fqcn}",
        "```",
        "",
    ]
    for entry in sorted(entry_points, key=lambda e: (e != "main", e)):
        spec = entry_points[entry] or {}
        lines += [f"## Entry point `{entry}`", ""]
        if entry != "main":
            lines += [f"**{r.text(spec.get('short_description', ''))}** (`tasks_from: {entry}`)", ""]
        for paragraph in r.paragraphs(spec.get("description")):
            lines += [paragraph, ""]
        lines += options_section(r, spec.get("options") or {}, "### Variables")
        if spec.get("notes"):
            lines += ["### Notes", "", *bullets(r, spec["notes"]), ""]
        if spec.get("seealso"):
            lines += ["#" + line if line.startswith("## ") else line for line in seealso(r, spec["seealso"])]
    lines += authors(r, main)
    return "\n".join(lines).rstrip("\n") + "\n"


def plugin_page(r: Renderer, fqcn: str, plugin_type: str, data: dict[str, Any], shared: frozenset[str]) -> str:
    doc = data["doc"]
    name = fqcn.rsplit(".", 1)[1]
    lines = [f"# {fqcn} ({plugin_type} plugin)", "", f"**{r.text(doc.get('short_description', ''))}**", ""]
    lines += banner(f"plugins/{plugin_type}/{name}.py", f"ansible-doc -t {plugin_type} {fqcn}")
    lines += ["## Synopsis", ""]
    for paragraph in r.paragraphs(doc.get("description")):
        lines += [paragraph, ""]
    if doc.get("requirements"):
        lines += ["## Requirements", "", *bullets(r, doc["requirements"]), ""]
    if doc.get("extends_documentation_fragment"):
        fragments = doc["extends_documentation_fragment"]
        fragments = fragments if isinstance(fragments, list) else [fragments]
        lines += ["Documentation fragments: " + ", ".join(code(f) for f in fragments) + ".", ""]
    return page_end(r, doc, data, shared, lines)


def title_of(page: Path) -> str:
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return page.stem


def index_page(collection: str, entries: dict[str, list[tuple[str, str, str]]]) -> str:
    lines = [
        f"# {collection} documentation",
        "",
        "<!-- Generated by docs/generate.py: do not edit, run `make docs`. -->",
        "",
        "Start with the collection's [README](../README.md) (install, requirements, quick start).",
        "",
        "## Guides",
        "",
    ]
    for page in sorted(DOCS.glob("*.md")):
        if page.name != INDEX:
            lines.append(f"- [{title_of(page)}]({page.name})")
    lines.append("")
    for title, key in (("Modules", "modules"), ("Roles", "roles"), ("Plugins", "plugins")):
        if entries.get(key):
            rows = [[f"[{code(fqcn)}]({path})", short] for fqcn, path, short in entries[key]]
            lines += [f"## {title}", "", *table(["Name", "Description"], rows), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def action_groups(root: Path) -> dict[str, list[str]]:
    """module name → the action groups of meta/runtime.yml that list it."""
    runtime = yaml.safe_load((root / "meta" / "runtime.yml").read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for group, members in (runtime.get("action_groups") or {}).items():
        for member in members or []:
            if isinstance(member, str):
                out.setdefault(member.rsplit(".", 1)[-1], []).append(group)
    return out


def generate(output: Path, root: Path = ROOT) -> list[Path]:
    """Write every page under `output` (replacing the generated folders there); returns the files written."""
    doc = Doc(root)
    try:
        modules = doc.docs("module")
        roles = doc.docs("role")
        plugins = {}
        for plugin_type in PLUGIN_TYPES:
            if any((root / "plugins" / plugin_type).glob("*.py")):
                plugins[plugin_type] = doc.docs(plugin_type)
    finally:
        doc.close()
    collection = doc.collection
    short = collection + "."
    pages = {f"module:{f}": f"modules/{f.removeprefix(short)}.md" for f in modules}
    pages |= {f"role:{f}": f"roles/{f.removeprefix(short)}.md" for f in roles}
    for plugin_type, found in plugins.items():
        pages |= {f"{plugin_type}:{f}": f"plugins/{f.removeprefix(short)}_{plugin_type}.md" for f in found}

    written: dict[str, str] = {}
    entries: dict[str, list[tuple[str, str, str]]] = {"modules": [], "roles": [], "plugins": []}
    groups = action_groups(root)
    shared = fragment_options(root, "connection")
    for fqcn in sorted(modules):
        page = pages[f"module:{fqcn}"]
        written[page] = module_page(Renderer(collection, pages, 1), fqcn, modules[fqcn], groups.get(fqcn.removeprefix(short), []), shared)
        entries["modules"].append((fqcn, page, Renderer(collection, pages, 0).cell(modules[fqcn]["doc"].get("short_description"))))
    for fqcn in sorted(roles):
        page = pages[f"role:{fqcn}"]
        written[page] = role_page(Renderer(collection, pages, 1), fqcn, roles[fqcn])
        main = (roles[fqcn].get("entry_points") or {}).get("main") or {}
        entries["roles"].append((fqcn, page, Renderer(collection, pages, 0).cell(main.get("short_description"))))
    for plugin_type in sorted(plugins):
        for fqcn in sorted(plugins[plugin_type]):
            page = pages[f"{plugin_type}:{fqcn}"]
            data = plugins[plugin_type][fqcn]
            written[page] = plugin_page(Renderer(collection, pages, 1), fqcn, plugin_type, data, shared)
            description = Renderer(collection, pages, 0).cell(data["doc"].get("short_description"))
            entries["plugins"].append((fqcn, page, f"{plugin_type} plugin: {description}"))
    written[INDEX] = index_page(collection, entries)

    for folder in GENERATED_DIRS:
        target = output / folder
        if target.is_dir():
            for old in target.glob("*.md"):
                if old.relative_to(output).as_posix() not in written:
                    old.unlink()
    paths = []
    for relative, text in sorted(written.items()):
        path = output / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/ reference pages from the collection's plugin documentation.")
    parser.add_argument("--output", type=Path, default=DOCS, help="folder to write into (default: docs/ itself)")
    args = parser.parse_args(argv)
    try:
        paths = generate(args.output.resolve())
    except (GenerateError, OSError, ValueError, KeyError) as exc:
        print(f"docs/generate.py: {exc}", file=sys.stderr)
        return 1
    print(f"docs/generate.py: {len(paths)} pages in {args.output}")
    return 0


def page_end(r: Any, doc: dict, data: dict, shared: Any, lines: list[str]) -> str:
    """The part every plugin page shares: options, notes, see also, examples, return values, authors."""
    lines += options_section(r, doc.get("options") or {}, shared=shared)
    if doc.get("notes"):
        lines += ["## Notes", "", *bullets(r, doc["notes"]), ""]
    lines += seealso(r, doc.get("seealso"))
    lines += example_block(data.get("examples"))
    returns = data.get("return") or {}
    if returns:
        lines += ["## Return values", "", *table(["Key", "Returned", "Type", "Description"], return_rows(r, returns)), ""]
    lines += authors(r, doc)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.exit(main())
