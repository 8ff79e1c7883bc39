"""Start `dvp-sim serve` as a real subprocess on a free port, as every client would meet it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Under the test suite (tests/conftest.py sets DVP_SIM_CHECK_STORED=1) the store checks that nobody changes a stored
# version in place (store.CHECK_STORED) and logs this when one was; stop() fails the test that made it happen. The
# benchmarks run without the check.
CHANGED_IN_PLACE = "stored version changed in place"


@dataclass
class Simulator:
    state_dir: Path
    kubeconfig: Path
    process: subprocess.Popen
    server: str = ""
    token: str = field(default="", repr=False)  # a credential: never in a test report
    ca_file: Path | None = None

    @classmethod
    def start(cls, state_dir: Path, *extra: str, time_scale: float = 1.0) -> Simulator:
        state_dir.mkdir(parents=True, exist_ok=True)
        kubeconfig = state_dir / "kubeconfig"
        log = open(state_dir / "server.log", "ab")
        proc = subprocess.Popen(
            [
                str(BIN / "dvp-sim"),
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(state_dir),
                "--kubeconfig",
                str(kubeconfig),
                "--time-scale",
                str(time_scale),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        line = proc.stdout.readline()
        if "ready" not in line:
            proc.kill()
            raise RuntimeError(f"simulator did not start: {line!r}; see {state_dir / 'server.log'}")
        sim = cls(state_dir, kubeconfig, proc)
        cfg = yaml.safe_load(kubeconfig.read_text())
        sim.server = cfg["clusters"][0]["cluster"]["server"]
        sim.token = cfg["users"][0]["user"]["token"]
        sim.ca_file = state_dir / "pki" / "ca.crt"
        return sim

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log = self.state_dir / "server.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if CHANGED_IN_PLACE in text:
            lines = [line for line in text.splitlines() if CHANGED_IN_PLACE in line]
            raise AssertionError(f"the simulator changed stored objects in place ({len(lines)}):\n" + "\n".join(lines[:20]))
        return self.process.returncode

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run([str(BIN / "kubectl"), *args], capture_output=True, check=False, text=True, env=env, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def add_user(self, name: str, kubeconfig: Path, namespace: str | None = None, groups: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """`dvp-sim user add`: a user with a token of their own and a kubeconfig for them (no rights until bound)."""
        command = [str(BIN / "dvp-sim"), "user", "add", name, "--admin-kubeconfig", str(self.kubeconfig), "--kubeconfig", str(kubeconfig)]
        command += [arg for group in groups for arg in ("--group", group)] + (["--namespace", namespace] if namespace else [])
        result = subprocess.run(command, capture_output=True, check=False, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"dvp-sim user add {name} failed ({result.returncode}):\n{result.stderr}")
        return result

    def wait_gone(self, timeout: float = 5) -> None:
        end = time.time() + timeout
        while self.process.poll() is None and time.time() < end:
            time.sleep(0.05)
