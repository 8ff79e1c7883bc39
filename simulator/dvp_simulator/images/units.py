"""How image sizes, speeds and progress are written into status (the platform's own formats)."""

from __future__ import annotations

import math
from decimal import Decimal

from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity

BINARY_SUFFIXES = ("B", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def humanize_ibytes(count: int) -> str:
    """`285.9Mi`, `2Gi`, `512B`: binary units, one decimal only when it is not zero (as the platform prints sizes)."""
    if count < 10:
        return f"{count}B"
    exponent = min(int(math.floor(math.log(count, 1024))), len(BINARY_SUFFIXES) - 1)
    value = math.floor(count / 1024**exponent * 10 + 0.5) / 10
    text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return text + BINARY_SUFFIXES[exponent]


def format_percent(value: float) -> str:
    """`0%` and `100%` bare, everything else with one decimal (`50.0%`), as status.progress is written."""
    if value == 0:
        return "0%"
    if value == 100:
        return "100%"
    return f"{value:.1f}%"


def parse_percent(text: str | None) -> float:
    """The number in a progress string; 0 for an empty or unreadable one."""
    try:
        return float((text or "").rstrip("%") or 0)
    except ValueError:
        return 0.0


def image_size(stored_bytes: int, unpacked_bytes: int) -> dict[str, str]:
    """status.size: human strings plus byte counts as strings."""
    return {
        "stored": humanize_ibytes(stored_bytes),
        "storedBytes": str(stored_bytes),
        "unpacked": humanize_ibytes(unpacked_bytes),
        "unpackedBytes": str(unpacked_bytes),
    }


def speed(average: float, current: float | None = None) -> dict[str, str]:
    """status.downloadSpeed; `current*` only while the import runs."""
    out = {"avg": humanize_ibytes(int(average)) + "/s", "avgBytes": str(int(average))}
    if current is not None:
        out |= {"current": humanize_ibytes(int(current)) + "/s", "currentBytes": str(int(current))}
    return out


def parse_bandwidth(value: object, where: str) -> int:
    """An image-source bandwidth in bytes per second: a Kubernetes quantity (`20Mi`, `500Ki`, `1048576`), 0 for
    no limit. ValueError names `where` and the rule."""
    try:
        rate = parse_quantity(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    except ValueError:
        rate = None
    if rate is None or rate < 0 or rate != rate.to_integral_value() or rate > Decimal(2**63 - 1):
        raise ValueError(f"{where}: must be a whole number of bytes per second, as a quantity like 20Mi or 512Ki (0: no limit), not {value!r}")
    return int(rate)
