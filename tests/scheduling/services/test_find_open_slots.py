import datetime

import pytest
import time_machine

from scheduling.services import find_open_slots
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    ClosureFactory,
    OpeningHoursFactory,
    ProtocolFactory,
)

UTC = datetime.UTC


def local(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def starts(slots, clinic):
    return [f"{clinic.local(s.starts_at):%H:%M}" for s in slots]


@pytest.fixture
def protocol(db):
    return ProtocolFactory(session_minutes=38, chair_minutes=45)


@pytest.fixture
def split_day_clinic(db, settings):
    settings.TMS_SLOT_STEP_MINUTES = 15
    clinic = ClinicFactory(time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(10))
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(13), closes_at=datetime.time(14))
    return clinic


DAY = datetime.date(2026, 12, 2)  # a Wednesday
BEFORE = time_machine.travel(datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC), tick=False)


@BEFORE
def test_slots_fill_a_split_day_and_stop_at_closing(split_day_clinic, protocol):
    clinic = split_day_clinic
    chair = ChairFactory(clinic=clinic)
    slots = find_open_slots(clinic=clinic, protocol=protocol, start=local(clinic, DAY, 0), end=local(clinic, DAY, 23))
    assert starts(slots, clinic) == ["08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "13:00", "13:15"]
    assert {s.chair for s in slots} == {chair}
    assert all(s.ends_at - s.starts_at == datetime.timedelta(minutes=45) for s in slots)


@BEFORE
def test_existing_appointments_and_inactive_chairs_take_slots_away(split_day_clinic, protocol):
    clinic = split_day_clinic
    chair = ChairFactory(clinic=clinic, name="A")
    ChairFactory(clinic=clinic, name="Out of service", active=False)
    AppointmentFactory(chair=chair, starts_at=local(clinic, DAY, 8, 30))  # until 09:15
    cancelled = AppointmentFactory(chair=chair, starts_at=local(clinic, DAY, 13), status="cancelled")
    slots = find_open_slots(clinic=clinic, protocol=protocol, start=local(clinic, DAY, 0), end=local(clinic, DAY, 23))
    assert starts(slots, clinic) == ["09:15", "13:00", "13:15"]
    assert cancelled.chair == chair


@BEFORE
def test_one_chair_can_be_asked_for(split_day_clinic, protocol):
    clinic = split_day_clinic
    ChairFactory(clinic=clinic, name="A")
    b = ChairFactory(clinic=clinic, name="B")
    slots = find_open_slots(
        clinic=clinic, protocol=protocol, start=local(clinic, DAY, 0), end=local(clinic, DAY, 23), chair=b
    )
    assert {s.chair for s in slots} == {b}


@BEFORE
def test_closures_have_no_slots(split_day_clinic, protocol):
    clinic = split_day_clinic
    ChairFactory(clinic=clinic)
    ClosureFactory(clinic=clinic, starts_on=DAY, ends_on=DAY)
    slots = find_open_slots(
        clinic=clinic,
        protocol=protocol,
        start=local(clinic, DAY, 0),
        end=local(clinic, DAY + datetime.timedelta(days=1), 23),
    )
    assert {clinic.local(s.starts_at).date() for s in slots} == {DAY + datetime.timedelta(days=1)}


def test_no_slot_is_offered_in_the_past(split_day_clinic, protocol):
    clinic = split_day_clinic
    ChairFactory(clinic=clinic)
    with time_machine.travel(local(clinic, DAY, 8, 20), tick=False):
        slots = find_open_slots(
            clinic=clinic, protocol=protocol, start=local(clinic, DAY, 0), end=local(clinic, DAY, 12)
        )
    assert starts(slots, clinic) == ["08:30", "08:45", "09:00", "09:15"]


@pytest.mark.parametrize(
    ("zone", "sunday", "utc_hour_before", "utc_hour_after"),
    [
        ("America/New_York", datetime.date(2026, 3, 8), 13, 12),  # spring forward: EST -> EDT
        ("America/New_York", datetime.date(2026, 11, 1), 12, 13),  # fall back: EDT -> EST
        ("Europe/London", datetime.date(2026, 3, 29), 8, 7),  # GMT -> BST
        ("Europe/London", datetime.date(2026, 10, 25), 7, 8),  # BST -> GMT
    ],
)
def test_dst_weekends_keep_wall_clock_opening_times(db, protocol, zone, sunday, utc_hour_before, utc_hour_after):
    clinic = ClinicFactory(time_zone=zone)
    ChairFactory(clinic=clinic)
    for weekday in (4, 0):  # Friday and Monday around the change
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(9))
    friday, monday = sunday - datetime.timedelta(days=2), sunday + datetime.timedelta(days=1)
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        slots = find_open_slots(
            clinic=clinic, protocol=protocol, start=local(clinic, friday, 0), end=local(clinic, monday, 23)
        )
    first_by_day = {}
    for slot in slots:
        first_by_day.setdefault(clinic.local(slot.starts_at).date(), slot.starts_at)
    assert {f"{clinic.local(s.starts_at):%H:%M}" for s in slots} == {"08:00", "08:15"}
    assert first_by_day[friday].astimezone(UTC).hour == utc_hour_before
    assert first_by_day[monday].astimezone(UTC).hour == utc_hour_after


@BEFORE
def test_appointments_are_read_in_one_query_whatever_the_range(split_day_clinic, protocol, django_assert_num_queries):
    clinic = split_day_clinic
    chairs = [ChairFactory(clinic=clinic) for _ in range(3)]
    for day in range(20):
        AppointmentFactory(chair=chairs[day % 3], starts_at=local(clinic, DAY + datetime.timedelta(days=day), 8))
    with django_assert_num_queries(4):  # hours, closures, chairs, appointments
        slots = find_open_slots(
            clinic=clinic,
            protocol=protocol,
            start=local(clinic, DAY, 0),
            end=local(clinic, DAY + datetime.timedelta(days=28), 0),
        )
    assert len(slots) == 28 * 3 * 8 - 20 * 3  # an 08:00–08:45 appointment blocks 08:00, 08:15, 08:30
