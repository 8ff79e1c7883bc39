"""api/cron.py: robfig/cron's standard schedules — what they accept and their words for what they refuse, when they
fire next (day of month and day of week: both when either is `*`, else either), in a time zone — and the CronJob
controller's arithmetic over them (controllers/cronjob.py)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest

from dvp_simulator.api import cron
from dvp_simulator.controllers import cronjob

NOW = datetime(2026, 12, 7, 17, 58, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("*/5 * * * *", datetime(2026, 12, 7, 18, 0, tzinfo=UTC)),
        ("*/1 * * * *", datetime(2026, 12, 7, 17, 59, tzinfo=UTC)),
        ("5/15 * * * *", datetime(2026, 12, 7, 18, 5, tzinfo=UTC)),  # N/step runs from N to the maximum
        ("@hourly", datetime(2026, 12, 7, 18, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 12, 13, 0, 0, tzinfo=UTC)),
        ("@yearly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("0 9 * * MON-FRI", datetime(2026, 12, 8, 9, 0, tzinfo=UTC)),
        ("0 0 1,15 * SUN", datetime(2026, 12, 13, 0, 0, tzinfo=UTC)),  # either day field, both restricted
        ("0 0 1,15 * *", datetime(2026, 12, 15, 0, 0, tzinfo=UTC)),  # day of week `*`: the day of month must match
        ("0 0 * jan ?", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
        ("@every 90s", datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)),
        ("@every 1h30m", datetime(2026, 12, 7, 19, 28, 30, tzinfo=UTC)),
    ],
)
def test_next_fire_time(schedule, expected):
    assert cron.next_run(schedule, NOW) == expected


def test_a_schedule_that_never_fires_gives_none():
    assert cron.next_run("0 0 30 2 *", NOW) is None


def test_a_time_zone_shifts_the_schedule():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")  # UTC+1 in December
    assert cron.next_run("0 9 * * *", NOW, berlin) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("x", "expected exactly 5 fields, found 1: [x]"),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "too many slashes: 1/2/3"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("@every soon", 'failed to parse duration @every soon: time: invalid duration "soon"'),
    ],
)
def test_refused_schedules_in_robfigs_words(schedule, message):
    with pytest.raises(cron.ScheduleError) as refused:
        cron.parse(schedule)
    assert str(refused.value) == message


def test_due_is_the_latest_time_missed_and_counts_them():
    schedule = cron.parse("*/10 * * * *")
    latest, missed = cronjob.due(schedule, UTC, datetime(2026, 12, 7, 16, 55, tzinfo=UTC), NOW)
    assert (latest, missed) == (datetime(2026, 12, 7, 17, 50, tzinfo=UTC), 6)
    assert cronjob.due(schedule, UTC, datetime(2026, 12, 7, 17, 50, tzinfo=UTC), NOW) == (None, 0)  # that one has run


def test_a_job_from_the_template_is_named_after_its_minute():
    owner = {
        "metadata": {"name": "tick", "namespace": "ns", "uid": "u"},
        "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"template": {"spec": {"containers": []}}}}},
    }
    job = cronjob.job_from_template(owner, datetime(2026, 12, 7, 18, 0, tzinfo=UTC))
    assert job["metadata"]["name"] == f"tick-{int(datetime(2026, 12, 7, 18, 0, tzinfo=UTC).timestamp() // 60)}"
    assert job["metadata"]["annotations"] == {cronjob.SCHEDULED: "2026-12-07T18:00:00Z"} and job["metadata"]["labels"] == {"a": "b"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob" and job["spec"] == owner["spec"]["jobTemplate"]["spec"]
