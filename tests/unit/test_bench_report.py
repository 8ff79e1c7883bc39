"""bench/report.py's ratio text: two decimals, three where two would read as the target a ratio missed or met."""

from __future__ import annotations

from bench.report import ratio_text


def test_a_ratio_that_rounds_to_its_target_shows_a_third_decimal() -> None:
    assert ratio_text(0.7016, 0.7) == "0.702"  # missed by a hair: not "0.70" beside "≤ 0.70"
    assert ratio_text(0.6951, 0.7) == "0.695"
    assert ratio_text(0.7, 0.7) == "0.70"
    assert ratio_text(1.45, 0.7) == "1.45"
    assert ratio_text(0.66, 0.7) == "0.66"
