"""The simulator's cyclic-collector policy (cli.short_full_passes): what survives a middle or a full pass leaves the
collector, is still freed by reference counting, and a cycle that dies young is still collected."""

from __future__ import annotations

import gc
import weakref

from dvp_simulator import cli


class Cell:
    def __init__(self) -> None:
        self.me = self


def test_survivors_of_middle_and_full_passes_are_frozen_and_still_freed_by_reference_counting() -> None:
    thresholds = gc.get_threshold()
    try:
        cli.short_full_passes()
        cli.short_full_passes()
        assert gc.callbacks.count(cli._freeze_survivors) == 1, "one callback however often it is called"
        assert gc.get_threshold() == (700, 10, 100)
        kept = [[number] for number in range(1000)]  # 1,001 tracked lists, made after the first freeze
        before = gc.get_freeze_count()
        gc.collect()
        assert gc.get_freeze_count() >= before + 1001, "the survivors of the full pass left the collector"
        frozen = gc.get_freeze_count()
        del kept  # acyclic: reference counting frees frozen objects as before
        assert gc.get_freeze_count() <= frozen - 1001
        middle = [[number] for number in range(1000)]
        before = gc.get_freeze_count()
        gc.collect(1)  # a pass of the middle generation: its survivors leave the collector too (the oldest stays small)
        assert gc.get_freeze_count() >= before + 1001, "the survivors of the middle pass left the collector"
        young = [[number] for number in range(1000)]
        before = gc.get_freeze_count()
        gc.collect(0)  # the youngest generation's passes freeze nothing
        assert gc.get_freeze_count() <= before
        del middle, young
        cell = Cell()  # a cycle that dies before the next full pass is collected as before
        alive = weakref.ref(cell)
        del cell
        assert alive() is not None, "a cycle outlives its last reference until the collector runs"
        gc.collect()
        assert alive() is None, "the collector freed the young cycle"
    finally:
        while cli._freeze_survivors in gc.callbacks:
            gc.callbacks.remove(cli._freeze_survivors)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
