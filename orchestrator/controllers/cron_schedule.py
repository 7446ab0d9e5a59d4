"""Cron schedules as the CronJob controller reads them (robfig/cron's standard parser).

Five fields (minute hour day-of-month month day-of-week), names for months and weekdays,
`*`/`?`, ranges, steps and lists, the `@yearly`...`@hourly` shorthands and an optional
`CRON_TZ=<zone>`/`TZ=<zone>` prefix. As in robfig/cron, when both day fields are
restricted a day matches either of them; when one starts with `*` both must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SHORTHANDS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {n: i + 1 for i, n in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
_SEARCH_YEARS = 5  # robfig gives up after five years too


class ScheduleError(ValueError):
    pass


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"bad step in {text!r}")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = lo, hi
        else:
            bounds = [_value(p, names) for p in part.split("-", 1)]
            start = bounds[0]
            # `5/15` means from 5 to the end, as robfig reads it.
            end = bounds[1] if len(bounds) == 2 else (hi if step > 1 else start)
        if start < lo or end > hi or start > end:
            raise ScheduleError(f"value out of range [{lo}, {hi}] in {text!r}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse {text!r}")
    return int(text)


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day-of-month field starts with * or ?
    any_weekday: bool
    zone: tzinfo | None = None  # from a CRON_TZ= prefix

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, after: datetime, zone: tzinfo | None = None) -> datetime | None:
        """The first matching minute strictly after `after`, or None within five years."""
        tz = self.zone or zone or timezone.utc
        local = after.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)
        local += timedelta(minutes=1)
        limit = local.year + _SEARCH_YEARS
        while local.year <= limit:
            if local.month not in self.months:
                year, month = (local.year + 1, 1) if local.month == 12 else (
                    local.year, local.month + 1)
                local = datetime(year, month, 1)
                continue
            if not self._day_matches(local):
                local = datetime(local.year, local.month, local.day) + timedelta(days=1)
                continue
            if local.hour not in self.hours:
                local = datetime(local.year, local.month, local.day, local.hour) + timedelta(
                    hours=1)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            return local.replace(tzinfo=tz).astimezone(timezone.utc)
        return None


def parse(text: str) -> Schedule:
    text = text.strip()
    zone: tzinfo | None = None
    if text.startswith(("CRON_TZ=", "TZ=")):
        prefix, _, text = text.partition(" ")
        zone = load_zone(prefix.split("=", 1)[1])
    text = _SHORTHANDS.get(text.strip().lower(), text.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {text!r}")
    minute, hour, dom, month, dow = fields
    weekdays = _field(dow.replace("7", "0") if dow.isdigit() else dow, 0, 6, _DAYS)
    return Schedule(
        frozenset(_field(minute, 0, 59)), frozenset(_field(hour, 0, 23)),
        frozenset(_field(dom, 1, 31)), frozenset(_field(month, 1, 12, _MONTHS)),
        frozenset(weekdays), dom[:1] in ("*", "?"), dow[:1] in ("*", "?"), zone)


def load_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc
