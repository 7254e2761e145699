"""A clinic's calendar: opening hours, closures, local midnight, and times written in the
clinic's zone. One implementation of each; every page, message and service uses these.

Dates are the clinic's calendar dates; durations are added in UTC, never to a zoned
wall-clock time (Python adds a timedelta on the wall clock).
"""

import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from ..models import Closure, OpeningHours

UTC = datetime.UTC
ONE_DAY = datetime.timedelta(days=1)


def midnight(clinic, day):
    """The moment ``day`` begins in the clinic's zone."""
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=clinic.tz)


def day_bounds(clinic, day):
    """[start, end) of the clinic's calendar day as aware moments (23 or 25 hours long on the
    days the clocks change)."""
    return midnight(clinic, day), midnight(clinic, day + ONE_DAY)


def local_days(clinic, start, end):
    """The clinic's calendar dates of two moments."""
    return timezone.localtime(start, clinic.tz).date(), timezone.localtime(end, clinic.tz).date()


def today_in(time_zone, now):
    """The calendar date at ``now`` in a zone named by its tz database name."""
    return timezone.localtime(now, ZoneInfo(time_zone)).date()


class ClinicCalendar:
    """A clinic's opening hours and closures over a date range, read in two queries."""

    def __init__(self, clinic, first_day, last_day):
        self.clinic = clinic
        self.hours = {}
        for row in OpeningHours.objects.filter(clinic=clinic).order_by("opens_at"):
            self.hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
        self.closures = {}
        for closure in Closure.objects.filter(
            clinic=clinic, starts_on__lte=last_day, ends_on__gte=first_day
        ):
            day = max(closure.starts_on, first_day)
            while day <= min(closure.ends_on, last_day):
                self.closures[day] = closure.reason
                day += ONE_DAY

    def open_intervals(self, day):
        """The day's opening intervals as aware UTC datetimes (wall-clock hours in the
        clinic's zone, so a DST change moves them in UTC, not on the clock)."""
        if day in self.closures:
            return []
        tz = self.clinic.tz
        return [
            (
                datetime.datetime.combine(day, opens, tzinfo=tz).astimezone(UTC),
                datetime.datetime.combine(day, closes, tzinfo=tz).astimezone(UTC),
            )
            for opens, closes in self.hours.get(day.weekday(), [])
        ]


# --- Writing days and times for people --------------------------------------------------------


def clock(clinic, moment):
    """"14:30": the clinic's wall-clock time of a moment."""
    return f"{clinic.local(moment):%H:%M}"


def clock_on_day(clinic, moment):
    """"14:00" if the moment is today in the clinic, else "14:00 on Thursday 4 December"."""
    if clinic.local(moment).date() == clinic.today():
        return clock(clinic, moment)
    return f"{clock(clinic, moment)} on {long_day(clinic.local(moment))}"


def after(moment, duration):
    """``moment`` plus ``duration`` of real time, in UTC. Python adds a timedelta to a datetime
    on its own wall clock, so a 2-hour session starting at 00:30 in New York on the night the
    clocks go back would otherwise last three real hours."""
    return moment.astimezone(UTC) + duration


def long_day(day):
    """"Monday 2 March" for a date (or a local datetime's date)."""
    return f"{day:%A} {day.day} {day:%B}"


def short_when(clinic, moment):
    """"Mon 2 Mar, 14:30" in the clinic's time: for staff pages and messages."""
    local = clinic.local(moment)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def long_when(clinic, moment):
    """"Monday 2 March 2026 at 14:30" in the clinic's time: for patients and e-mails."""
    local = clinic.local(moment)
    return f"{long_day(local)} {local.year} at {local:%H:%M}"
