#!/usr/bin/env bash
# ansible-test sanity on exactly the tree that ships: `ansible-galaxy collection build` makes the tarball
# (galaxy.yml's build_ignore decides what is in it), the tarball is extracted into an ansible_collections tree
# outside our git tree (ansible-test would list files with our git otherwise), and sanity runs there with an
# empty ignore file. ansible-test's pip bootstrap runs offline (see offline_get_pip.py).
# Arguments go to `ansible-test sanity` (e.g. --test pylint).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/.venv
PIP_VERSION=$("$VENV/bin/python" -c 'import re,ansible_test,pathlib; p=pathlib.Path(ansible_test.__file__).parent/"_internal/python_requirements.py"; print(re.search(r"pip=.([0-9.]+).", p.read_text()).group(1))')
CACHE=~/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py
mkdir -p "$(dirname "$CACHE")"
cp tests/sanity/offline_get_pip.py "$CACHE"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$WORK" . >/dev/null
TREE=$WORK/ansible_collections/deckhouse/virtualization
mkdir -p "$TREE"
tar -xzf "$WORK"/deckhouse-virtualization-*.tar.gz -C "$TREE"
ANSIBLE_VERSION=$("$VENV/bin/python" -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')
mkdir -p "$TREE/tests/sanity"
: > "$TREE/tests/sanity/ignore-$ANSIBLE_VERSION.txt"
cd "$TREE"
git init -q . && git add -A >/dev/null   # ansible-test lists a collection's files with git when it can
"$VENV/bin/ansible-test" sanity --python 3.11 --color no "$@"
