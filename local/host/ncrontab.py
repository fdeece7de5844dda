"""NCRONTAB schedules (six fields: second minute hour day month day-of-week), as Azure Functions timers use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
_SEARCH_DAYS = 366 * 5


class CronError(ValueError):
    """A schedule that is not a valid six-field NCRONTAB expression."""


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    token = text.strip().upper()
    if token in names:
        return names[token]
    if not token.isdigit():
        raise CronError(f"{name} field: {text!r} is not a number{' or a name' if names else ''}")
    value = int(token)
    if name == "day-of-week" and value == 7:
        return 0
    if not low <= value <= high:
        raise CronError(f"{name} field: {value} is outside {low}-{high}")
    return value


def _parse_field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{name} field: empty list item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, name, low, high, names), _value(last, name, low, high, names)
            if end < start:
                raise CronError(f"{name} field: range {base!r} runs backwards")
        else:
            start = _value(base, name, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed NCRONTAB expression; :meth:`next_after` gives the next occurrence strictly after a time (UTC)."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != 6:
            raise CronError(
                f"schedule {expression!r} has {len(parts)} fields; NCRONTAB needs 6: "
                "second minute hour day month day-of-week"
            )
        sets = [_parse_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
        return cls(
            expression=expression,
            seconds=tuple(sorted(sets[0])),
            minutes=tuple(sorted(sets[1])),
            hours=tuple(sorted(sets[2])),
            days=sets[3],
            months=sets[4],
            weekdays=sets[5],
            any_day=parts[3] == "*",
            any_weekday=parts[5] in ("*", "?"),
        )

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        weekday = (day.weekday() + 1) % 7  # cron counts Sunday as 0
        if self.any_day:
            return weekday in self.weekdays
        if self.any_weekday:
            return day.day in self.days
        return day.day in self.days or weekday in self.weekdays

    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (a timezone-aware time), in UTC."""
        if after.tzinfo is None:
            raise CronError("next_after needs a timezone-aware time")
        after = after.astimezone(UTC)
        day = after.replace(hour=0, minute=0, second=0, microsecond=0)
        first_day = True
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                # On the first day, skip the hours and minutes already past (a frequent schedule would otherwise
                # try every occurrence since midnight on every call).
                for hour in self.hours:
                    if first_day and hour < after.hour:
                        continue
                    same_hour = first_day and hour == after.hour
                    for minute in self.minutes:
                        if same_hour and minute < after.minute:
                            continue
                        for second in self.seconds:
                            candidate = day.replace(hour=hour, minute=minute, second=second)
                            if candidate > after:
                                return candidate
            day += timedelta(days=1)
            first_day = False
        raise CronError(f"schedule {self.expression!r} has no occurrence in the next {_SEARCH_DAYS} days")
