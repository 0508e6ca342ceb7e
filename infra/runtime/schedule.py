"""Schedule / ScheduleV2 events: fire a function on an EventBridge `rate(...)` or `cron(...)` expression.

Each fire sends the EventBridge "Scheduled Event" (`version` "0", `id`, `detail-type` "Scheduled
Event", `source` "aws.events", `account`, `time` = the scheduled time in UTC, `region`, `resources`
[the rule ARN], `detail` {}), or, when the event has `Input`, that JSON instead, as EventBridge does.

Expressions (EventBridge's syntax, all times UTC):
- `rate(N minute|minutes|hour|hours|day|days)`: the first fire is one interval after start.
- `cron(minutes hours day-of-month month day-of-week year)`: `*`, `,`, `-`, `/` in every field but
  day-of-week; `?` in day-of-month or day-of-week (exactly one of them); month names JAN-DEC; day
  names SUN-SAT with 1 = SUN ... 7 = SAT; day-of-month `L` (last day), `nW` (weekday nearest day n),
  `LW` (last weekday); day-of-week `L` (SAT), `nL` (last weekday n of the month), `n#k` (k-th weekday
  n, alone in its field); years 1970-2199. Anything else is a ValueError at construction.

Fast tests: time runs `time_scale` times faster on a virtual clock that starts at the real time
(constructor arg; default: the float in $SURGE_SCHEDULE_SPEEDUP, else 1). `rate(1 minute)` with
time_scale=300 fires every 0.2 s; `time` in the payload is the virtual scheduled time.

Differs from AWS:
- No overlap: when the previous run of this schedule is still going at a fire time, that fire is
  skipped and counted (`skipped_overlaps`); EventBridge would invoke again concurrently.
- Invocations are synchronous and a failed one is counted, not retried (Lambda's asynchronous
  invocation would retry twice).
- ScheduleV2 (EventBridge Scheduler) gets the same payload and a rule ARN as a Schedule event.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from infra.runtime.invoker import Invoker
from infra.template.models import ScheduleEventSpec

log = logging.getLogger(__name__)

SPEEDUP_ENV = "SURGE_SCHEDULE_SPEEDUP"
_STOP_WAIT_S = 10.0  # stop() waits this long for a run in flight

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MIN_YEAR, _MAX_YEAR = 1970, 2199


class Clock(Protocol):
    def time(self) -> float: ...


# ---- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateSchedule:
    interval: timedelta

    def next_after(self, previous: datetime) -> datetime | None:
        return previous + self.interval


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_matches: Callable[[date], bool]

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC, whole minutes), None if there is none."""
        start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        while day.year <= _MAX_YEAR:
            if day.year not in self.years:
                later = [y for y in self.years if y > day.year]
                if not later:
                    return None
                day = date(min(later), 1, 1)
                continue
            if day.month not in self.months:
                day = _first_of_next_month(day)
                continue
            if self.day_matches(day):
                earliest = (start.hour, start.minute) if day == start.date() else (0, 0)
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        if (hour, minute) >= earliest:
                            return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
            day += timedelta(days=1)
        return None


Schedule = RateSchedule | CronSchedule


def parse_expression(expression: str) -> Schedule:
    """Parse an EventBridge schedule expression; ValueError naming the problem if unsupported."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ValueError(f"schedule {expression!r}: the rate must be at least 1")
        return RateSchedule(timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")]))
    cron = _CRON.match(expression)
    if cron:
        try:
            return _parse_cron(cron.group(1).split())
        except ValueError as exc:
            raise ValueError(f"schedule {expression!r}: {exc}") from exc
    raise ValueError(f"schedule {expression!r} is not a rate(...) or cron(...) expression")


def _parse_cron(fields: list[str]) -> CronSchedule:
    if len(fields) != 6:
        raise ValueError("cron needs 6 fields: minutes hours day-of-month month day-of-week year")
    minute, hour, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ValueError("exactly one of day-of-month and day-of-week must be '?'")
    day_matches = _day_of_week(dow) if dom == "?" else _day_of_month(dom)
    return CronSchedule(
        minutes=_values(minute, 0, 59, "minutes"),
        hours=_values(hour, 0, 23, "hours"),
        months=_values(month, 1, 12, "month", _MONTHS),
        years=_values(year, _MIN_YEAR, _MAX_YEAR, "year"),
        day_matches=day_matches,
    )


def _values(
    field: str, low: int, high: int, what: str, names: dict[str, int] | None = None
) -> frozenset[int]:
    """A field of numbers: `*`, `n`, `a-b`, with `/step`, comma-separated."""
    result: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, low, high, what, names), _number(b, low, high, what, names)
        else:
            first = _number(base, low, high, what, names)
            last = high if slash else first  # "5/15": from 5 on, every 15
        step = _number(step_text, 1, high - low + 1, f"{what} step") if slash else 1
        if first > last:
            raise ValueError(f"{what}: range {base} runs backwards")
        result.update(range(first, last + 1, step))
    return frozenset(result)


def _number(text: str, low: int, high: int, what: str, names: dict[str, int] | None = None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"{what}: {text!r} is not supported")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{what}: {value} is outside {low}-{high}")
    return value


def _day_of_month(field: str) -> Callable[[date], bool]:
    plain: set[int] = set()
    last_day = last_weekday = False
    nearest: set[int] = set()
    for part in field.split(","):
        if part == "L":
            last_day = True
        elif part == "LW":
            last_weekday = True
        elif part.endswith("W"):
            nearest.add(_number(part[:-1], 1, 31, "day-of-month"))
        else:
            plain |= _values(part, 1, 31, "day-of-month")

    def matches(day: date) -> bool:
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        if day.day in plain or (last_day and day.day == days_in_month):
            return True
        if last_weekday and day == _nearest_weekday(day, days_in_month):
            return True
        return any(n <= days_in_month and day == _nearest_weekday(day, n) for n in nearest)

    return matches


def _nearest_weekday(day: date, n: int) -> date:
    """The weekday (Mon-Fri) nearest to day n of day's month, never leaving the month (Quartz's W)."""
    target = day.replace(day=n)
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    if target.weekday() == 5:  # Saturday: the Friday before, or Monday if that leaves the month
        return target - timedelta(days=1) if n > 1 else target + timedelta(days=2)
    if target.weekday() == 6:  # Sunday: the Monday after, or Friday if that leaves the month
        return target + timedelta(days=1) if n < days_in_month else target - timedelta(days=2)
    return target


def _day_of_week(field: str) -> Callable[[date], bool]:
    if "#" in field:
        if "," in field:
            raise ValueError("day-of-week: a '#' expression must be alone in its field")
        weekday_text, _, nth_text = field.partition("#")
        weekday = _number(weekday_text, 1, 7, "day-of-week", _DAYS)
        nth = _number(nth_text, 1, 5, "day-of-week #")
        return lambda day: _cron_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if "/" in field:
        raise ValueError("day-of-week: '/' is not supported in this field")
    plain: set[int] = set()
    last_of: set[int] = set()
    for part in field.split(","):
        if part == "L":
            plain.add(7)  # L alone: the last day of the week, Saturday
        elif part.endswith("L"):
            last_of.add(_number(part[:-1], 1, 7, "day-of-week", _DAYS))
        else:
            plain |= _values(part, 1, 7, "day-of-week", _DAYS)

    def matches(day: date) -> bool:
        weekday = _cron_weekday(day)
        if weekday in plain:
            return True
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        return weekday in last_of and day.day + 7 > days_in_month

    return matches


def _cron_weekday(day: date) -> int:
    """1 = Sunday ... 7 = Saturday (Python: Monday = 0)."""
    return (day.weekday() + 1) % 7 + 1


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


# ---- the event source -------------------------------------------------------------------------


class ScheduleEventSource:
    """Fires one function on one schedule from a background thread, never two runs at once."""

    def __init__(
        self,
        spec: ScheduleEventSpec,
        invoker: Invoker,
        *,
        region: str,
        account_id: str,
        clock: Clock = time,
        time_scale: float | None = None,
    ) -> None:
        self._spec = spec
        self._schedule = parse_expression(spec.expression)
        self._input = json.loads(spec.input) if spec.input is not None else None  # any JSON, even null
        self._invoker = invoker
        self._region = region
        self._account_id = account_id
        self._clock = clock
        scale = time_scale if time_scale is not None else float(os.environ.get(SPEEDUP_ENV) or 1)
        if scale <= 0:
            raise ValueError(f"time_scale must be positive, got {scale}")
        self._scale = scale
        self.rule_arn = f"arn:aws:events:{region}:{account_id}:rule/{spec.function_logical_id}{spec.name}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._run: threading.Thread | None = None
        self._started_real = 0.0
        self._state = "disabled" if not spec.enabled else "created"
        self._next_fire: datetime | None = None
        self._counts = {"fired": 0, "succeeded": 0, "failed": 0, "skipped_overlaps": 0}
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        return f"{self._spec.function_logical_id}.{self._spec.name}"

    def start(self) -> None:
        if not self._spec.enabled or self._thread is not None:
            return
        self._started_real = self._clock.time()
        self._state = "scheduled"
        self._thread = threading.Thread(target=self._loop, name=f"surge-schedule-{self.name}", daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        return self._state in ("scheduled", "disabled")

    def status(self) -> dict[str, Any]:
        with self._lock:
            running = self._run is not None and self._run.is_alive()
            return {
                "type": "Schedule",
                "state": self._state,
                "expression": self._spec.expression,
                "running": running,
                "next_fire": _iso(self._next_fire) if self._next_fire else None,
                "time_scale": self._scale,
                **self._counts,
                "last_error": self._last_error,
            }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_STOP_WAIT_S)
        run = self._run
        if run is not None:
            run.join(timeout=_STOP_WAIT_S)
        if self._state != "disabled":
            self._state = "stopped"

    def _virtual_now(self) -> datetime:
        elapsed = (self._clock.time() - self._started_real) * self._scale
        return datetime.fromtimestamp(self._started_real + elapsed, UTC)

    def _loop(self) -> None:
        fire = self._schedule.next_after(self._virtual_now())
        while fire is not None:
            with self._lock:
                self._next_fire = fire
            wait_s = (fire - self._virtual_now()).total_seconds() / self._scale
            if self._stop.wait(max(0.0, wait_s)):
                return
            with self._lock:
                if self._run is not None and self._run.is_alive():
                    self._counts["skipped_overlaps"] += 1
                    log.info(
                        "schedule %s: skipped %s, the previous run is still going", self.name, _iso(fire)
                    )
                else:
                    self._counts["fired"] += 1
                    self._run = threading.Thread(
                        target=self._invoke, args=(fire,), name=f"surge-schedule-run-{self.name}", daemon=True
                    )
                    self._run.start()
            fire = self._schedule.next_after(fire)
        with self._lock:
            self._next_fire = None
            self._state = "finished"  # a cron whose last year has passed

    def _invoke(self, fire: datetime) -> None:
        result = self._invoker.invoke(self._spec.function_logical_id, self.event(fire))
        with self._lock:
            if result.ok:
                self._counts["succeeded"] += 1
            else:
                self._counts["failed"] += 1
                self._last_error = f"{result.error_type}: {result.error_message}"
        if not result.ok:
            log.warning("schedule %s: the run at %s failed: %s", self.name, _iso(fire), self._last_error)

    def event(self, fire: datetime) -> Any:
        """What EventBridge sends for a fire at this (scheduled) time."""
        if self._spec.input is not None:
            return self._input
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": _iso(fire),
            "region": self._region,
            "resources": [self.rule_arn],
            "detail": {},
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
