"""Writing one benchmark section into docs/benchmarks.md when a section's script is run on its own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def section_lines(heading: str, method: str, rows: Iterable[tuple[str, str, str, str]], fixes: str | None = None) -> list[str]:
    """A section of docs/benchmarks.md as lines: its heading, `### Method` with the method's paragraph (then a
    paragraph of fixes, where given), `### Results` with the What / Figure / Target / Verdict table of `rows`. The
    caller adds what follows the table."""
    head = [heading, "", "### Method", "", method, "", *([fixes, ""] if fixes else []), "### Results", ""]
    return [*head, "| What | Figure | Target | Verdict |", "| --- | --- | --- | --- |", *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)]


def ratio_text(ratio: float, target: float) -> str:
    """A ratio to two decimals, or three where two would read as the target itself (0.7016 shown as 0.70 beside a
    ≤ 0.70 target that it missed)."""
    return f"{ratio:.3f}" if f"{ratio:.2f}" == f"{target:.2f}" and ratio != target else f"{ratio:.2f}"


def replace_section(heading: str, text: str, report: Path = REPORT) -> None:
    """Put `text` (a section starting with `heading`) in place of the previous one, else before the `Whole run:`
    total, else at the end."""
    old = report.read_text() if report.exists() else "# Simulator benchmarks\n\n"
    if heading in old:
        head, rest = old.split(heading, 1)
        tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else (rest[rest.find("\nWhole run:") + 1 :] if "\nWhole run:" in rest else "")
        new = head + text + "\n" + tail
    elif "\nWhole run:" in old:
        head, tail = old.rsplit("\nWhole run:", 1)
        new = head + "\n" + text + "\nWhole run:" + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    report.write_text(new)
