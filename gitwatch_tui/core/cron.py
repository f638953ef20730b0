"""Cron-like poll schedules: `minute hour day-of-month month day-of-week`, in local time.

Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those;
day-of-week is 0-7 with 0 and 7 both Sunday. As in cron, when both day fields are restricted a
day matches either of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))  # fmt: skip


class CronError(ValueError):
    """A schedule that cannot be parsed; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday, as datetime.weekday()
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        parts = text.split()
        if len(parts) != 5:
            raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(parts)}")
        values = [_parse_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        # cron counts Sunday as 0 (and 7); datetime counts Monday as 0.
        weekdays = frozenset((day - 1) % 7 for day in values[4])
        return cls(
            minutes=values[0], hours=values[1], days=values[2], months=values[3],
            weekdays=weekdays, any_day=parts[2].startswith("*"),
            any_weekday=parts[4].startswith("*"),
        )  # fmt: skip

    def _day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = moment.weekday() in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after `moment`."""
        t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)  # e.g. "0 0 30 2 *" never matches
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0)
            elif not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            elif t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronError("the schedule never matches a real date")


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    result: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, name, 1, high) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, name, low, high), _number(last, name, low, high)
            if start > end:
                raise CronError(f"{name}: range {base} runs backwards")
        else:
            start = _number(base, name, low, high)
            end = high if step_text else start
        result.update(range(start, end + 1, step))
    return frozenset(result)


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit():
        raise CronError(f"{name}: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{name}: {value} is outside {low}-{high}")
    return value
