"""Compare two OpenAPI schemas / CRDs path by path, ignoring prose (descriptions, examples).

Used by the conformance tests against ../shared/dvp-api; runnable by hand to see every difference:
    python tests/conformance/schema_diff.py ../shared/dvp-api/crds/virtualdisks.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

PROSE = {"description", "example", "x-doc-examples", "x-examples", "x-doc-default", "x-doc-required"}
SHARED = Path(__file__).resolve().parents[3] / "shared" / "dvp-api"


def flatten(schema: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    """{path: {keyword: value}} for every node; children are walked, not compared as values."""
    out: dict[str, dict[str, Any]] = {}
    attrs: dict[str, Any] = {}
    for key, value in schema.items():
        if key in PROSE or key.startswith("x-doc-"):
            continue
        if key == "properties":
            for name, child in value.items():
                out.update(flatten(child, f"{path}.{name}"))
            attrs["properties"] = sorted(value)
        elif key == "items" and isinstance(value, dict):
            out.update(flatten(value, f"{path}[]"))
        elif key == "additionalProperties" and isinstance(value, dict):
            out.update(flatten(value, f"{path}{{}}"))
        elif key in ("anyOf", "oneOf", "allOf"):
            attrs[key] = [strip_prose(v) for v in value]
        elif key == "not":
            attrs[key] = strip_prose(value)
        elif key == "required":
            attrs[key] = sorted(value)
        elif key == "x-kubernetes-validations":
            attrs[key] = sorted(({k: " ".join(str(v).split()) for k, v in r.items()} for r in value), key=lambda r: r["rule"])
        else:
            attrs[key] = value
    out[path or "."] = attrs
    return out


def strip_prose(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_prose(v) for k, v in value.items() if k not in PROSE and not k.startswith("x-doc-")}
    if isinstance(value, list):
        return [strip_prose(v) for v in value]
    return value


def schema_diff(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    a, b = flatten(ours), flatten(theirs)
    problems = []
    for path in sorted(set(a) | set(b)):
        if path not in a:
            problems.append(f"{path}: missing in ours (upstream {b[path]})")
        elif path not in b:
            problems.append(f"{path}: not upstream (ours {a[path]})")
        else:
            for key in sorted(set(a[path]) | set(b[path])):
                if a[path].get(key) != b[path].get(key):
                    problems.append(f"{path}: {key}: ours {a[path].get(key)!r} != upstream {b[path].get(key)!r}")
    return problems


def crd_diff(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    problems = []
    so, st = ours["spec"], theirs["spec"]
    for key in ("group", "scope"):
        if so[key] != st[key]:
            problems.append(f"spec.{key}: ours {so[key]!r} != upstream {st[key]!r}")
    for key in ("kind", "listKind", "plural", "singular", "shortNames", "categories"):
        if so["names"].get(key) != st["names"].get(key):
            problems.append(f"names.{key}: ours {so['names'].get(key)!r} != upstream {st['names'].get(key)!r}")
    vo = {v["name"]: v for v in so["versions"]}
    vt = {v["name"]: v for v in st["versions"]}
    if sorted(vo) != sorted(vt):
        return problems + [f"versions: ours {sorted(vo)} != upstream {sorted(vt)}"]
    for name in vt:
        o, t = vo[name], vt[name]
        for key in ("served", "storage", "deprecated", "subresources"):
            if o.get(key) != t.get(key):
                problems.append(f"{name}.{key}: ours {o.get(key)!r} != upstream {t.get(key)!r}")
        cols_o = [strip_prose(c) for c in o.get("additionalPrinterColumns", [])]
        cols_t = [strip_prose(c) for c in t.get("additionalPrinterColumns", [])]
        if cols_o != cols_t:
            problems.append(f"{name}.additionalPrinterColumns: ours {cols_o} != upstream {cols_t}")
        problems += [f"{name}: {p}" for p in schema_diff(o["schema"]["openAPIV3Schema"], t["schema"]["openAPIV3Schema"])]
    return problems


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
    from dvp_simulator.schemas.dsl import our_crds

    ours = {c["metadata"]["name"]: c for c in our_crds()}
    status = 0
    for arg in argv or sorted(str(p) for p in (SHARED / "crds").glob("*.yaml")):
        theirs = yaml.safe_load(Path(arg).read_text())
        name = theirs["metadata"]["name"]
        if name not in ours:
            print(f"{name}: no schema of ours")
            status = 1
            continue
        problems = crd_diff(ours[name], theirs)
        print(f"{name}: {len(problems)} differences")
        for p in problems:
            print("  " + p)
        status |= bool(problems)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
