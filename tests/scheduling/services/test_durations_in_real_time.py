"""Durations are real time (issue 12, part 6): a session's end is its start plus its length in
absolute time, also on the nights the clocks change; Python's aware arithmetic would add it on
the wall clock."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.models import Appointment
from scheduling.services import book_appointment, open_slots
from tests.factories import ChairFactory, ClinicFactory, OpeningHoursFactory, PatientFactory

NEW_YORK = ZoneInfo("America/New_York")
UTC = datetime.UTC


@pytest.fixture
def night_clinic(db):
    clinic = ClinicFactory(time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 45))
    return clinic


@pytest.mark.parametrize(("local_start", "minutes", "utc_start", "utc_end"), [
    # Autumn: 1 Nov 2026, 02:00 EDT becomes 01:00 EST. 00:30 EDT is 04:30 UTC; two real hours
    # later is 06:30 UTC (01:30 EST) — the wall clock would say 02:30 EST, 07:30 UTC.
    (datetime.datetime(2026, 11, 1, 0, 30), 120, datetime.datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
     datetime.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    # Spring: 14 Mar 2027, 02:00 EST becomes 03:00 EDT. 01:30 EST is 06:30 UTC; one real hour
    # later is 07:30 UTC (03:30 EDT).
    (datetime.datetime(2027, 3, 14, 1, 30), 60, datetime.datetime(2027, 3, 14, 6, 30, tzinfo=UTC),
     datetime.datetime(2027, 3, 14, 7, 30, tzinfo=UTC)),
])
def test_a_booking_across_the_clock_change_lasts_its_real_length(night_clinic, local_start, minutes, utc_start,
                                                                 utc_end):
    chair = ChairFactory(clinic=night_clinic)
    with time_machine.travel(datetime.datetime(2026, 10, 1, tzinfo=UTC), tick=False):
        appointment = book_appointment(patient=PatientFactory(home_clinic=night_clinic), chair=chair,
                                       starts_at=local_start.replace(tzinfo=NEW_YORK), kind="consult", booked_by=None,
                                       duration=datetime.timedelta(minutes=minutes))
    stored = Appointment.objects.get(pk=appointment.pk)
    assert (stored.starts_at, stored.ends_at) == (utc_start, utc_end)


def test_free_slots_on_the_autumn_night_last_their_real_length(night_clinic):
    chair = ChairFactory(clinic=night_clinic)
    with time_machine.travel(datetime.datetime(2026, 10, 1, tzinfo=UTC), tick=False):
        slots = open_slots(clinic=night_clinic, duration=datetime.timedelta(minutes=120), chairs=[chair],
                           start=datetime.datetime(2026, 11, 1, 4, tzinfo=UTC),
                           end=datetime.datetime(2026, 11, 1, 9, tzinfo=UTC))
    assert slots
    assert {slot.ends_at.astimezone(UTC) - slot.starts_at.astimezone(UTC) for slot in slots} == {
        datetime.timedelta(hours=2)}
