#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships (galaxy.yml's content), with an empty ignore file.
# ansible-test needs the collection under .../ansible_collections/deckhouse/virtualization/, outside our git
# tree (it would list files with our git otherwise), and its pip bootstrap offline (see offline_get_pip.py).
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
TREE=$WORK/ansible_collections/deckhouse/virtualization
mkdir -p "$TREE/tests/sanity"
git ls-files -co --exclude-standard galaxy.yml meta plugins roles playbooks README.md COPYING | tar -cf - -T - | tar -xf - -C "$TREE"
ANSIBLE_VERSION=$("$VENV/bin/python" -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')
: > "$TREE/tests/sanity/ignore-$ANSIBLE_VERSION.txt"
cd "$TREE"
git init -q . && git add -A >/dev/null   # ansible-test lists a collection's files with git when it can
"$VENV/bin/ansible-test" sanity --python 3.11 --color no "$@"
