# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytecode kept between runs for the collection's own Python on the controller.

Ansible's collection loader (ansible.utils.collection_loader) compiles a collection's source on every import and
keeps no bytecode, so every ansible-playbook run compiled anew the modules and module_utils a task of ours runs
in-process (plugin_utils/in_process.py): about 25 files, 75 ms of their own import time per run on the bench machine
(`python -X importtime`), 16 ms from bytecode - more than the module's own work on 10 objects. CachedSourceFinder,
ahead of Ansible's finder on sys.meta_path, gives the plain modules (files, not packages) under this collection's
`plugins` package Python's own SourceFileLoader, which keeps their bytecode in `__pycache__` beside the source and
checks it against the source's mtime and size, as every import of a Python package does; where that directory is not
writable it compiles, as before. Packages and every other name stay with Ansible's finder (its synthetic and
redirected packages, other collections).

The finder is on sys.meta_path only while `load` imports (ansible-test's import sanity test forbids a plugin to leave
a finder of its own first, and Ansible's would otherwise take the names first): what such an import imports of the
collection is cached, an import made later (inside a function) goes through Ansible's loader as before. The
collection's build leaves `__pycache__` out (galaxy.yml build_ignore); the module process (AnsiballZ) is not
concerned: its module_utils travel in the payload.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

# "ansible_collections.<namespace>.<name>.plugins."
PLUGINS = __name__.rsplit(".plugin_utils.", 1)[0] + "."


class CachedSourceFinder:
    """A meta path finder for this collection's plain modules: their source file found in the parent package's
    __path__ and loaded by SourceFileLoader (bytecode cached); None (the next finder's) for anything else."""

    @staticmethod
    def find_spec(fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if path is None or not fullname.startswith(PLUGINS):
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
            if os.path.isdir(os.path.join(entry, leaf)):
                return None  # a package: Ansible's
        return None


@contextmanager
def cached_imports() -> Iterator[None]:
    """CachedSourceFinder first on sys.meta_path for the block (unless it is there already), as it was after."""
    if any(isinstance(finder, CachedSourceFinder) for finder in sys.meta_path):
        yield
        return
    finder = CachedSourceFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def load(name: str) -> ModuleType:
    """The collection's plugins/<name> (dotted, as "modules.vm") imported with cached_imports()."""
    with cached_imports():
        return importlib.import_module(PLUGINS + name)
