"""A CronJob's schedule, as kube-apiserver validates it and kube-controller-manager runs it: the standard parser of
github.com/robfig/cron/v3 (ParseStandard) — five fields (minute, hour, day of month, month, day of week), `*` and
`?`, lists, ranges, steps (`N/step` is N to the field's maximum), month and weekday names, the descriptors @yearly,
@annually, @monthly, @weekly, @daily, @midnight, @hourly and `@every <duration>` — with its error messages, which
kube-apiserver quotes. No Python library parses this dialect with these words (croniter, for one, takes a sixth
field, `L` and `#`, which ParseStandard refuses), hence this module.

Day matching is robfig's: when day of month or day of week is `*` (or `?`), both must match, else either."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("dom", 1, 31), ("month", 1, 12), ("dow", 0, 6))
MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_YEARS = 5  # robfig's Next gives up after five years without a match (a schedule like "0 0 30 2 *")


class ScheduleError(ValueError):
    """A schedule robfig's parser refuses; str() is its message."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    dom_star: bool
    dow_star: bool
    every: float = 0.0  # `@every`: seconds between runs (the fields are unused)

    def day_matches(self, day: datetime) -> bool:
        dom, dow = day.day in self.doms, (day.isoweekday() % 7) in self.dows
        return dom and dow if self.dom_star or self.dow_star else dom or dow

    def next(self, after: datetime) -> datetime | None:
        """The first time the schedule fires strictly after `after` (aware; in its own zone), None within 5 years."""
        if self.every:
            return after + timedelta(seconds=self.every)
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = after.year + MAX_YEARS
        while t.year <= end:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self.day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t = t + timedelta(minutes=1)
                continue
            return t
        return None


def _atoi(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if value < 0:
        raise ScheduleError(f"negative number ({value}) not allowed: {text}")
    return value


def _value(text: str, names: dict[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else _atoi(text)


def _range(expr: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """One range of a field (getRange): its values, and whether it is the star (`*` or `?` without a step > 1)."""
    range_and_step = expr.split("/")
    bounds = range_and_step[0].split("-")
    single = len(bounds) == 1
    star = False
    if bounds[0] in ("*", "?"):
        start, end, star = low, high, True
    else:
        start = _value(bounds[0], names)
        if len(bounds) == 1:
            end = start
        elif len(bounds) == 2:
            end = _value(bounds[1], names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if single:  # "N/step" is "N-max/step"
            end = high
        if step > 1:
            star = False
    else:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise ScheduleError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        found, is_star = _range(expr, low, high, names)
        values |= found
        star = star or is_star
    return frozenset(values), star


def _go_duration(text: str) -> float:
    """time.ParseDuration's positive durations ("1h30m", "90s")."""
    if not re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
        raise ScheduleError(f'failed to parse duration @every {text}: time: invalid duration "{text}"')
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))


def parse(spec: str) -> Schedule:
    """ParseStandard: the schedule, or ScheduleError with robfig's message. A `TZ=` / `CRON_TZ=` prefix is parsed
    away (the caller refuses it, as kube-apiserver does)."""
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        _, _, text = text.partition(" ")
        text = text.strip()
    if text.startswith("@"):
        if text.startswith("@every "):
            seconds = _go_duration(text[len("@every ") :].strip())
            if seconds < 1:
                seconds = 1.0  # robfig rounds an interval below a second up to one
            return Schedule(frozenset(), frozenset(), frozenset(), frozenset(), frozenset(), True, True, every=seconds)
        if text not in DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        shown = "[" + " ".join(fields) + "]"
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {shown}")
    parsed = []
    for value, (name, low, high) in zip(fields, FIELDS, strict=True):
        names = MONTHS if name == "month" else DAYS if name == "dow" else {}
        parsed.append(_field(value, low, high, names))
    (minutes, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = parsed
    return Schedule(minutes, hours, doms, months, dows, dom_star, dow_star)


def next_run(spec: str, after: datetime, zone: tzinfo = UTC) -> datetime | None:
    """When `spec` next fires after `after` (aware), computed in `zone`; None if it never does within 5 years."""
    found = parse(spec).next(after.astimezone(zone))
    return found.astimezone(UTC) if found is not None else None
