"""Every Molecule scenario of the collection (extensions/molecule/<scenario>/molecule.yml): `molecule test -s
<scenario>` run from the collection's root, as a contributor runs it - create (a simulator with the scenario's
topology), converge, idempotence, side effect, verify (testinfra), destroy. The scenarios run as separate processes,
a few at a time (DVP_MOLECULE_WORKERS, default 3), each with its own simulator; a failure shows its output from the
first error on and the paths of the whole log and of the simulator's log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCENARIOS_DIR = ROOT / "extensions" / "molecule"
SCENARIOS = sorted(p.parent.name for p in SCENARIOS_DIR.glob("*/molecule.yml"))
REQUIRED = {"module_config", "images", "vm_classes", "vms", "node_maintenance", "maintenance", "coldstandby"}
WORKERS = int(os.environ.get("DVP_MOLECULE_WORKERS", "3"))
TIMEOUT = 420.0  # one scenario, seconds
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FIRST_ERROR = re.compile(r"fatal: |\[ERROR\]|={5,} FAILURES|ERROR +\S+ ➜|timed out after")


@dataclass
class Run:
    scenario: str
    returncode: int
    seconds: float
    log: Path

    def failure(self, chars: int = 15000) -> str:
        """The output from the first error on (Ansible's, pytest's, Molecule's), or its end."""
        text = ANSI.sub("", self.log.read_text(errors="replace"))
        first = FIRST_ERROR.search(text)
        start = text.rfind("\n", 0, first.start()) + 1 if first else max(0, len(text) - chars)
        return text[start : start + chars]


def environment(ephemeral: Path) -> dict[str, str]:
    """The venv's tools first on PATH (molecule, ansible-playbook, pytest, dvp-sim, kubectl), the collection from the
    venv's collections path, the scenario's ephemeral directory (its simulator, inventory and state) in this session's
    temporary folder - so two sessions running the same scenario do not meet -, no colours in the logs."""
    return {
        **os.environ,
        "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
        "COLUMNS": "200",  # Molecule wraps its output at the terminal's width
    }


def molecule(scenario: str, log_dir: Path) -> Run:
    """`molecule test -s SCENARIO` (destroy runs at its end, also after a failure); on a timeout the run is stopped
    and `molecule destroy` stops the scenario's simulator."""
    log = log_dir / f"{scenario}.log"
    env = environment(log_dir / scenario)
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
            out.write(f"\n*** molecule test -s {scenario} timed out after {TIMEOUT:.0f} s ***\n".encode())
            out.flush()
            destroy = [str(BIN / "molecule"), "destroy", "-s", scenario]
            subprocess.run(destroy, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
            returncode = -1
    return Run(scenario, returncode, time.monotonic() - started, log)


class Runs:
    """Scenario runs on a small pool: `start` queues one, `result` waits for it (starting it first if nobody did)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.pool = ThreadPoolExecutor(max_workers=max(1, WORKERS))
        self.futures: dict[str, Future] = {}

    def start(self, scenario: str) -> Future:
        if scenario not in self.futures:
            self.futures[scenario] = self.pool.submit(molecule, scenario, self.log_dir)
        return self.futures[scenario]

    def result(self, scenario: str) -> Run:
        return self.start(scenario).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """The selected scenarios start together; under pytest-xdist each worker runs its own scenarios one at a time."""
    pool = Runs(tmp_path_factory.mktemp("molecule"))
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        for item in request.session.items:
            if item.path == Path(__file__) and getattr(item, "originalname", "") == "test_scenario":
                pool.start(item.callspec.params["scenario"])
    yield pool
    pool.close()


def test_every_role_has_a_scenario():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file()}
    assert REQUIRED | roles <= set(SCENARIOS), f"missing scenarios: {sorted((REQUIRED | roles) - set(SCENARIOS))}"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, runs):
    run = runs.result(scenario)
    print(f"molecule test -s {scenario}: {run.seconds:.1f} s")
    simulator_log = run.log.parent / scenario / "dvp-sim" / "dvp-sim.log"
    assert run.returncode == 0, f"molecule test -s {scenario} failed ({run.returncode}); logs: {run.log}, {simulator_log}\n...\n{run.failure()}"
