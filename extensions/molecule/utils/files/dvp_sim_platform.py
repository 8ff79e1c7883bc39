"""Start and stop the platform of a Molecule scenario: a simulated DVP cluster (`dvp-sim serve`) and a file server on
127.0.0.1 with a small qcow2 disk image (the scenarios' image source). Run by utils/playbooks/create.yml and
destroy.yml with the controller's Python; the standard library only.

    dvp_sim_platform.py start --dir DIR --topology FILE --time-scale N [--dvp-sim COMMAND]
    dvp_sim_platform.py stop --dir DIR

`start` makes DIR (0700, its files 0600) with the image (DIR/www/disk.qcow2), starts both servers in their own sessions (they outlive
this process), waits for the simulator's ready line (`dvp-sim ready: ...`) and the file server's port, and writes
DIR/kubeconfig (the simulator's), DIR/www-url, and DIR/<name>.pid. A server that does not come up fails the step
with the end of its log. `stop` sends SIGTERM to each recorded PID that is still the process it started (its command
line names DIR), waits until it has exited (the simulator says `dvp-sim stopped` when it shut down cleanly), and
removes the simulator's state (its keys and token), the kubeconfig and the image. Both print one JSON line
({"changed": ..., ...}) for Ansible."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

READY = re.compile(r"dvp-sim ready: (\S+)")
SERVING = re.compile(r"Serving HTTP on \S+ port (\d+)")
IMAGE_SIZE = "64M"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class PlatformError(Exception):
    pass


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(empty)"
    except OSError:
        return "(no log)"


def make_image(www: Path) -> Path:
    """A 64 MiB qcow2 disk whose first bytes are not zero."""
    image = www / "disk.qcow2"
    if image.exists():
        return image
    raw = www / "disk.raw"
    with open(raw, "wb") as out:
        out.write(b"a bootable disk\n")
    subprocess.run(["qemu-img", "resize", "-q", "-f", "raw", str(raw), IMAGE_SIZE], check=True)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    return image


def spawn(directory: Path, name: str, command: list[str]) -> subprocess.Popen:
    """Start `command` in its own session, its output in DIR/<name>.out and DIR/<name>.log, its PID in DIR/<name>.pid."""
    with open(directory / f"{name}.out", "wb") as out, open(directory / f"{name}.log", "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=log, start_new_session=True)  # pylint: disable=consider-using-with
    (directory / f"{name}.pid").write_text(f"{process.pid}\n")
    return process


def wait_for_line(process: subprocess.Popen, output: Path, log: Path, pattern: re.Pattern, what: str) -> re.Match:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        match = pattern.search(output.read_text(errors="replace"))
        if match:
            return match
        if process.poll() is not None:
            raise PlatformError(f"{what} exited with {process.returncode} before it was ready: {log_tail(log)}")
        time.sleep(0.1)
    raise PlatformError(f"{what} was not ready within {START_TIMEOUT:.0f} s: {log_tail(log)}")


def start(args: argparse.Namespace) -> dict:
    directory: Path = args.dir.resolve()
    if any(directory.glob("*.pid")):
        stop(args)  # a platform left by an interrupted run
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    www = directory / "www"
    www.mkdir(mode=0o700, exist_ok=True)
    make_image(www)
    server = spawn(directory, "www", [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(www), "0"])
    sim = spawn(
        directory,
        "dvp-sim",
        [
            args.dvp_sim,
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(directory / "state"),
            "--kubeconfig",
            str(directory / "kubeconfig"),
            "--topology",
            str(args.topology.resolve()),
            "--time-scale",
            str(args.time_scale),
        ],
    )
    try:
        api = wait_for_line(sim, directory / "dvp-sim.out", directory / "dvp-sim.log", READY, "dvp-sim serve").group(1)
        port = wait_for_line(server, directory / "www.out", directory / "www.log", SERVING, "the image server").group(1)
    except PlatformError:
        stop(args)
        raise
    url = f"http://127.0.0.1:{port}"
    (directory / "www-url").write_text(url + "\n")
    return {"changed": True, "api": api, "image_url": f"{url}/disk.qcow2", "kubeconfig": str(directory / "kubeconfig")}


def is_ours(pid: int, directory: Path) -> bool:
    """The PID is still a live process started for DIR (its command line names DIR), not a reused number."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return str(directory) in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False


def terminate(pid: int, directory: Path) -> bool:
    """SIGTERM, then wait until it has exited (SIGKILL after STOP_TIMEOUT). True when it was running."""
    if not is_ours(pid, directory):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while is_ours(pid, directory):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    return True


def stop(args: argparse.Namespace) -> dict:
    directory: Path = args.dir.resolve()
    stopped = []
    for pidfile in sorted(directory.glob("*.pid")):
        name = pidfile.stem
        try:
            pid = int(pidfile.read_text().strip())
        except ValueError:
            pid = 0
        if pid and terminate(pid, directory):
            stopped.append(name)
        pidfile.unlink()
    clean = "dvp-sim" not in stopped or "dvp-sim stopped" in (directory / "dvp-sim.out").read_text(errors="replace")
    for path in (directory / "state", directory / "www"):
        shutil.rmtree(path, ignore_errors=True)
    for path in (directory / "kubeconfig", directory / "www-url"):
        path.unlink(missing_ok=True)
    if not clean:
        raise PlatformError(f"dvp-sim serve did not shut down cleanly on SIGTERM: {log_tail(directory / 'dvp-sim.log')}")
    return {"changed": bool(stopped), "stopped": stopped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("start", help="start the simulator and the image server")
    up.add_argument("--dir", type=Path, required=True, help="the platform's folder (state, logs, PIDs, kubeconfig)")
    up.add_argument("--topology", type=Path, required=True, help="the cluster's topology file")
    up.add_argument("--time-scale", type=float, default=20.0, help="simulated seconds per real second")
    up.add_argument("--dvp-sim", default="dvp-sim", help="the simulator's command")
    down = sub.add_parser("stop", help="stop them and remove the simulator's state")
    down.add_argument("--dir", type=Path, required=True, help="the platform's folder")
    args = parser.parse_args()
    os.umask(0o077)  # logs, PIDs, the kubeconfig and the image are the owner's alone
    try:
        result = start(args) if args.command == "start" else stop(args)
    except (PlatformError, OSError, subprocess.CalledProcessError) as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
