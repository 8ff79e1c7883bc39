"""cel-python's parser with its LALR tables kept on disk between runs.

celpy builds one Lark parser per process (a class attribute, `CELParser.CEL_PARSER`, made by the first
`celpy.Environment()`), and building it — analysing CEL's grammar into LALR tables — is ~0.25 s of every simulator
start (the first object written with rules, the `generic` VirtualMachineClass, is written before the simulator
serves). Lark can cache that analysis in a file and load it in ~10 ms; celpy does not ask it to. So the parser is made
here once per process with celpy's own options plus Lark's `cache`, and set where celpy looks for it.

The cache is a pickle, so it is only read from a directory of our own: `$XDG_CACHE_HOME/dvp-sim` (else
`~/.cache/dvp-sim`), made 0700, used only while it is ours and no one else can write to it. Lark checks the file
against a digest of the grammar and the options and builds anew (rewriting it) when they differ, or when it cannot
read it (a half-written file of a simulator starting beside this one). Without a usable directory the parser is built
as celpy would. tests/unit/test_cel_parser.py holds the parse trees to celpy's own parser's over the CRDs' rules.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import celpy
import lark
from celpy.celparser import CELParser

CACHE_NAME = "cel-lark.pickle"


def cache_dir() -> Path | None:
    """The private directory for the cache, made if missing; None if it is not ours alone or cannot be made."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # no home to expand (and a relative XDG_CACHE_HOME is invalid): no cache in the cwd
        return None
    path = Path(base) / "dvp-sim"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return path


def build(cache: Path | None) -> lark.Lark:
    """celpy's parser (celpy/celparser.py CELParser.__init__, the same grammar and options), cached at `cache`."""
    grammar = (Path(celpy.__file__).parent / "cel.lark").read_text()
    return lark.Lark(
        grammar,
        parser="lalr",
        start="expr",
        debug=True,
        g_regex_flags=re.M,
        lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
        propagate_positions=True,
        maybe_placeholders=False,
        priority="invert",
        tree_class=celpy.InterpretedRunner.tree_node_class,
        cache=str(cache) if cache is not None else False,
    )


def install() -> None:
    """Make the process's CEL parser from the cache (building and saving it if need be), unless one exists."""
    if CELParser.CEL_PARSER is None:
        directory = cache_dir()
        CELParser.CEL_PARSER = build(directory / CACHE_NAME if directory is not None else None)
