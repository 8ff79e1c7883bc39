"""bench/playbooks.py's pairing: a round's re-runs keep the peer's one task next to the sides judged against it,
and a ratio is the median of the rounds' ratios, not of two medians taken from different minutes."""

from bench.playbooks import SIDES, ratio, rerun_order


def test_the_peers_one_task_reruns_amid_the_judged_sides_and_the_order_turns_every_other_round() -> None:
    first, second = rerun_order(SIDES, 0), rerun_order(SIDES, 1)
    assert first[:4] == ("ours", "vms module", "peer, one task", "role")
    assert second[:4] == ("role", "peer, one task", "vms module", "ours")
    assert set(first) == set(second) == set(SIDES)  # every side re-runs once a round
    assert set(first[4:]) == {"ours, loop", "ours, wait", "peer, loop"}  # for context only, after the judged ones
    assert rerun_order(("ours", "peer, one task"), 0) == ("ours", "peer, one task")


def test_a_ratio_is_the_median_of_the_rounds_paired_ratios() -> None:
    # round 1 is slow for both sides (the machine drifted): paired, it is 0.5 like the others
    ours = [(0.5, 0), (1.0, 0), (0.55, 0)]
    peer = [(1.0, 0), (2.0, 0), (1.0, 0)]
    figures = {10: {"ours": {"rerun": ours}, "peer, one task": {"rerun": peer}}}
    assert ratio(figures, 10, "rerun", "ours", "peer, one task") == 0.5  # medians against each other: 0.55
    figures[10]["peer, one task"]["rerun"] = peer[:2]  # not the same rounds: median against median
    assert ratio(figures, 10, "rerun", "ours", "peer, one task") == 0.55 / 1.5
    figures[10]["peer, one task"]["rerun"] = []  # not run at this size
    assert ratio(figures, 10, "rerun", "ours", "peer, one task") is None
