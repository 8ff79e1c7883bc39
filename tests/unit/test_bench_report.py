"""bench/report.py: the ratio text (two decimals, three where two would read as the target a ratio missed or met) and
the one shape of a section; bench/scale.py's memory census and its side clients; bench/proc.py's process family."""

from __future__ import annotations

from bench.report import ratio_text, section_lines


def test_a_ratio_that_rounds_to_its_target_shows_a_third_decimal() -> None:
    assert ratio_text(0.7016, 0.7) == "0.702"  # missed by a hair: not "0.70" beside "≤ 0.70"
    assert ratio_text(0.6951, 0.7) == "0.695"
    assert ratio_text(0.7, 0.7) == "0.70"
    assert ratio_text(1.45, 0.7) == "1.45"
    assert ratio_text(0.66, 0.7) == "0.66"


def test_the_memory_census_counts_a_shared_string_once_as_the_store_holds_it():
    """bench/scale.py estimates the stored dicts' bytes as the store holds them: a short string value once for all
    objects (the store interns it), a long one each time, managedFields apart."""
    import sys

    from bench.scale import _dict_bytes
    from dvp_simulator.store.store import SHARED_TEXT

    shared: set[str] = set()
    long_text = "y" * (SHARED_TEXT + 1)
    obj = {"metadata": {"managedFields": [{"manager": "m"}]}, "status": {"phase": "Running", "note": long_text, "ok": True}}
    first, managed = _dict_bytes(obj, shared)
    second, _unused = _dict_bytes(obj, shared)
    assert first - second == sys.getsizeof("Running") + sys.getsizeof("m")
    assert managed == sys.getsizeof([{}]) + sys.getsizeof({"manager": "m"}) + sys.getsizeof("m")


def test_a_section_is_its_heading_method_and_results_table_with_fixes_where_given() -> None:
    rows = [("a", "b", "c", "d")]
    table = ["| What | Figure | Target | Verdict |", "| --- | --- | --- | --- |", "| a | b | c | d |"]
    assert section_lines("## S", "how", rows) == ["## S", "", "### Method", "", "how", "", "### Results", "", *table]
    assert section_lines("## S", "how", rows, "fixed") == ["## S", "", "### Method", "", "how", "", "fixed", "", "### Results", "", *table]


def test_the_calibration_times_real_writes(monkeypatch) -> None:
    """bench/calibration.py's figure is the CPU of writes that each made a new version: a write that changed nothing
    would cost a fraction and make a slow machine look fast, so it refuses to time those."""
    import pytest

    from bench import calibration

    median, low, high = calibration.write_cost(blocks=3, writes=20)
    assert 0 < low <= median <= high
    monkeypatch.setattr(calibration, "PHASES", ("Bound",))
    with pytest.raises(RuntimeError, match="20 writes made 1 versions"):
        calibration.write_cost(blocks=1, writes=20)
    assert calibration.text((150.4, 140.0, 185.2)) == f"150 µs (range 140–185, {calibration.BLOCKS} blocks of {calibration.WRITES:,})"


def test_a_build_up_whose_side_client_dies_fails_at_once_instead_of_waiting(tmp_path):
    """bench/scale.py's side clients are spawned processes; one that exits (here: nothing listens where it connects)
    fails the build-up within seconds with its name, where the build-up used to wait out its 30-minute timeout."""
    import time
    from types import SimpleNamespace

    import pytest

    from bench.scale import Side
    from dvp_simulator.certs import ensure_pki

    ca = ensure_pki(tmp_path)["ca.crt"]
    sim = SimpleNamespace(server="https://127.0.0.1:9", token="t", ca_file=ca)  # the discard port: nothing listens
    side = Side(sim, "/x", "/y", 1)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="side client .* exited"):
        side.wait_all(600)
    assert time.monotonic() - t0 < 120
    for proc in side.procs.values():
        proc.join(10)


def test_the_simulators_memory_leaves_out_a_child_not_yet_past_its_exec():
    """bench/proc.py sums the simulator's and its children's VmRSS; a child between fork and exec is the parent's
    image (/proc shows the parent's pages as its own) and is left out, while a child running a program is counted."""
    import os
    import subprocess
    import time

    from bench import proc

    me = os.getpid()
    child = os.fork()
    if child == 0:  # the image of this process, as a spawned program is between fork and exec
        time.sleep(5)
        os._exit(0)
    program = subprocess.Popen(["sleep", "5"])
    try:
        deadline = time.monotonic() + 5
        while program.pid not in proc.family(me) and time.monotonic() < deadline:  # exec'd: its own command line
            time.sleep(0.01)
        members = proc.family(me)
        assert program.pid in members
        assert child not in members
    finally:
        program.kill()
        program.wait()
        os.kill(child, 9)
        os.waitpid(child, 0)


def test_the_cvi_slope_is_the_line_through_every_runs_windows_not_one_runs_ends():
    """bench/cvi_scale.py judges growth by the least-squares line through all runs' windows: one run's noisy first
    or last window does not decide it, and a real growth of 5% a window reads as its line (1.45 at the 10th)."""
    from bench.cvi_scale import fitted_ratio

    flat_with_noise = [[1.5, 1.3, 1.3, 1.4, 1.3, 1.3, 1.4, 1.3, 1.3, 1.3], [1.3, 1.3, 1.4, 1.3, 1.3, 1.3, 1.3, 1.4, 1.3, 1.6]]
    ratio, per_window = fitted_ratio(flat_with_noise)
    assert 0.95 < ratio < 1.05 and abs(per_window) < 0.01  # one run's last / first would read 0.87 and 1.23
    growing = [[1.0 + 0.05 * i for i in range(10)]] * 3
    ratio, per_window = fitted_ratio(growing)
    assert abs(ratio - 1.45) < 1e-9 and abs(per_window - 0.05) < 1e-9


def test_the_side_clients_count_of_running_vms_is_the_whole_parses():
    """bench/vms.py count_running decodes only each item's phase and IP; its count must be that of running() over
    the whole parse, whatever else the items carry or lack (no status, a null one, a phase without an IP)."""
    import orjson

    from bench.vms import count_running, running

    items = [
        {"metadata": {"name": "a"}, "spec": {"cpu": {"cores": 1}}, "status": {"phase": "Running", "ipAddress": "10.0.0.1", "conditions": []}},
        {"metadata": {"name": "b"}, "status": {"phase": "Running", "ipAddress": ""}},
        {"metadata": {"name": "c"}, "status": {"phase": "Running"}},
        {"metadata": {"name": "d"}, "status": {"phase": "Pending", "ipAddress": "10.0.0.4"}},
        {"metadata": {"name": "e"}},
        {"metadata": {"name": "f"}, "status": None},
        {"metadata": {"name": "g"}, "status": {"phase": None, "ipAddress": None, "stats": {"phasesTransitions": [{"phase": "Running"}]}}},
        {"metadata": {"name": "h"}, "status": {"phase": "Running", "ipAddress": "10.0.0.8", "nodeName": "n"}},
    ]
    body = orjson.dumps({"kind": "VirtualMachineList", "metadata": {"resourceVersion": "7"}, "items": items})
    assert count_running(body) == (len(items), sum(1 for vm in items if running(vm))) == (8, 2)
    assert count_running(b'{"kind":"VirtualMachineList","items":[]}') == (0, 0)
