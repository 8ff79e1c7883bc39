"""Run ansible-playbook with the collection against a live simulator, and read each task's result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, dict]  # task name -> its result (the last host's)

    def __getitem__(self, task: str) -> dict:
        return self.results[task]


def run_playbook(
    tmp_path: Path, kubeconfig: Path, tasks: list[dict], extra_args: tuple[str, ...] = (), extra_env: dict | None = None, handlers: list[dict] | None = None
) -> PlaybookRun:
    """Tasks (and handlers) run in one play on localhost with the connection set once through module_defaults."""
    play = [
        {
            "name": "test",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/deckhouse.virtualization.dvp": {"kubeconfig": str(kubeconfig)}},
            "tasks": tasks,
            **({"handlers": handlers} if handlers else {}),
        }
    ]
    book = tmp_path / f"play-{len(list(tmp_path.glob('play-*.yml')))}.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        **(extra_env or {}),
    }
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(book), *extra_args], capture_output=True, check=False, text=True, env=env, timeout=600)
    results: dict[str, dict] = {}
    try:
        report = json.loads(proc.stdout)
        for play_report in report["plays"]:
            for task in play_report["tasks"]:
                results[task["task"]["name"]] = next(iter(task["hosts"].values()), {})
    except (ValueError, KeyError):
        pass
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)
