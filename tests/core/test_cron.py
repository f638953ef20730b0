"""Cron-like schedules: parsing errors and next run times, table-driven."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from gitwatch_tui.core.config_file import parse_config
from gitwatch_tui.core.cron import CronError, CronSchedule
from gitwatch_tui.core.errors import ConfigError

# 2026-11-21 is a Saturday.
NEXT_CASES = [
    ("* * * * *", "2026-11-21 10:07:30", "2026-11-21 10:08"),
    ("*/15 * * * *", "2026-11-21 10:07", "2026-11-21 10:15"),
    ("0 * * * *", "2026-11-21 10:00", "2026-11-21 11:00"),
    ("30 9-17 * * 1-5", "2026-11-21 10:07", "2026-11-23 09:30"),  # weekdays only: Monday
    ("0 0 1 * *", "2026-11-21 10:07", "2026-12-01 00:00"),
    ("0 12 * 2 *", "2026-11-21 10:07", "2027-02-01 12:00"),
    ("0 0 29 2 *", "2026-11-21 10:07", "2028-02-29 00:00"),  # the next leap day
    ("0 8 13 * 5", "2026-11-21 10:07", "2026-11-27 08:00"),  # day 13 OR a Friday
    ("0 8 * * 0", "2026-11-21 10:07", "2026-11-22 08:00"),  # Sunday as 0
    ("0 8 * * 7", "2026-11-21 10:07", "2026-11-22 08:00"),  # Sunday as 7
    ("5,10-12/2 * * * *", "2026-11-21 10:07", "2026-11-21 10:10"),
]


@pytest.mark.parametrize("expr,now,expected", NEXT_CASES)
def test_next_after(expr: str, now: str, expected: str) -> None:
    schedule = CronSchedule.parse(expr)
    assert schedule.next_after(datetime.fromisoformat(now)) == datetime.fromisoformat(expected)


ERROR_CASES = [
    ("* * * *", "expected 5 fields"),
    ("60 * * * *", "minute: 60 is outside 0-59"),
    ("* 5-2 * * *", "hour: range 5-2 runs backwards"),
    ("* * * * mon", "day of week: 'mon' is not a number"),
    ("*/0 * * * *", "minute: 0 is outside 1-59"),
]


@pytest.mark.parametrize("expr,message", ERROR_CASES)
def test_bad_schedules(expr: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        CronSchedule.parse(expr)


def test_a_schedule_that_never_matches_is_an_error() -> None:
    with pytest.raises(CronError, match="never matches"):
        CronSchedule.parse("0 0 31 2 *").next_after(datetime(2026, 1, 1))


def test_config_schedule_errors_name_the_line(tmp_path: Path) -> None:
    config = parse_config(
        "repos:\n  - path: a\n    schedule: '*/10 8-18 * * 1-5'\n", "c.yaml", base_dir=tmp_path
    )
    assert config.repos[0].schedule == CronSchedule.parse("*/10 8-18 * * 1-5")
    with pytest.raises(ConfigError, match=r"c.yaml:3:15: schedule: hour: 25 is outside 0-23"):
        parse_config("repos:\n  - path: a\n    schedule: 0 25 * * *\n", "c.yaml", base_dir=tmp_path)
