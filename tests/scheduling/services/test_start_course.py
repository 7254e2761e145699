import collections
import datetime

import pytest
import time_machine

from patients.models import CourseTemplate, Protocol
from scheduling.models import Appointment
from scheduling.services import SlotUnavailable, book_appointment, start_course
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    ClosureFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    staff_user,
)

UTC = datetime.UTC
MONDAY = datetime.date(2027, 1, 4)
NINE = datetime.time(9)


@pytest.fixture(autouse=True)
def before_everything():
    with time_machine.travel(datetime.datetime(2026, 12, 1, tzinfo=UTC), tick=False):
        yield


def weekday_clinic(zone="America/New_York", opens=datetime.time(8), closes=datetime.time(18)):
    clinic = ClinicFactory(time_zone=zone)
    for weekday in range(5):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=opens, closes_at=closes)
    return clinic


@pytest.fixture
def standard(db):
    return CourseTemplate.objects.get(is_default=True)


@pytest.fixture
def ten_hz(db):
    return ProtocolFactory(chair_minutes=45)


def start(patient, chair, template, protocol, start_date=MONDAY, **kwargs):
    return start_course(
        patient=patient,
        protocol=protocol,
        template=template,
        start_date=start_date,
        chair=chair,
        time_of_day=NINE,
        by=None,
        **kwargs,
    )


def test_a_standard_course_books_mapping_then_36_sessions_with_the_taper(standard, ten_hz):
    clinic = weekday_clinic()
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    booking = start(patient, chair, standard, ten_hz)

    assert booking.unplaced == []
    assert booking.course.planned_sessions == 36
    mapping, *sessions = booking.appointments
    assert mapping.kind == Appointment.Kind.MAPPING and clinic.local(mapping.starts_at).date() == MONDAY
    assert mapping.ends_at - mapping.starts_at == datetime.timedelta(minutes=60)
    assert len(sessions) == 36 and {a.kind for a in sessions} == {"acute"}
    assert {(a.chair, f"{clinic.local(a.starts_at):%H:%M}") for a in sessions} == {(chair, "09:00")}
    assert all(clinic.local(a.starts_at).weekday() < 5 for a in sessions)
    per_week = collections.Counter(
        (clinic.local(a.starts_at).date() - (MONDAY + datetime.timedelta(days=1))).days // 7 for a in sessions
    )
    assert [per_week[w] for w in range(9)] == [5, 5, 5, 5, 5, 5, 3, 2, 1]
    assert Appointment.objects.filter(course=booking.course).count() == 37


def test_a_taken_slot_moves_to_the_nearest_free_one_that_day(standard, ten_hz):
    clinic = weekday_clinic()
    chair = ChairFactory(clinic=clinic, name="A")
    other_chair = ChairFactory(clinic=clinic, name="B")
    tuesday = MONDAY + datetime.timedelta(days=1)
    taken = datetime.datetime.combine(tuesday, NINE, tzinfo=clinic.tz)
    AppointmentFactory(chair=chair, starts_at=taken)
    booking = start(PatientFactory(home_clinic=clinic), chair, standard, ten_hz)
    tuesday_session = next(a for a in booking.appointments if clinic.local(a.starts_at).date() == tuesday)
    assert (tuesday_session.chair, tuesday_session.starts_at) == (other_chair, taken)
    assert booking.unplaced == []


def test_what_cannot_be_placed_is_returned_never_dropped(standard, ten_hz):
    clinic = weekday_clinic()
    chair = ChairFactory(clinic=clinic)
    ClosureFactory(
        clinic=clinic, starts_on=MONDAY + datetime.timedelta(days=7), ends_on=MONDAY + datetime.timedelta(days=7)
    )
    wednesday = MONDAY + datetime.timedelta(days=2)
    patient = PatientFactory(home_clinic=clinic)
    # Another appointment of the same patient blocks Wednesday's whole day.
    AppointmentFactory(
        chair=ChairFactory(clinic=clinic),
        patient=patient,
        kind="consult",
        starts_at=datetime.datetime.combine(wednesday, datetime.time(8), tzinfo=clinic.tz),
        ends_at=datetime.datetime.combine(wednesday, datetime.time(18), tzinfo=clinic.tz),
    )
    booking = start(patient, chair, standard, ten_hz)

    # The closed Monday falls in the first week of sessions, which runs Tuesday to Monday.
    assert [u.day for u in booking.unplaced] == [wednesday, MONDAY + datetime.timedelta(days=1)]
    assert "already booked" in booking.unplaced[0].reason
    assert "not open on enough weekdays" in booking.unplaced[1].reason
    assert len(booking.appointments) == 1 + 36 - 2


def test_accelerated_protocol_books_ten_a_day_fifty_minutes_apart(db):
    clinic = weekday_clinic(opens=datetime.time(7), closes=datetime.time(20))
    chair = ChairFactory(clinic=clinic)
    saint = ProtocolFactory(
        name="SAINT",
        pattern=Protocol.Pattern.ITBS,
        pulses_per_session=1800,
        session_minutes=10,
        chair_minutes=15,
        intensity_percent_mt=90,
        sessions_per_day=10,
        minutes_between_sessions=50,
    )
    template = CourseTemplate.objects.get(weekly_days="5")
    booking = start(PatientFactory(home_clinic=clinic), chair, template, saint)

    sessions = booking.appointments[1:]
    assert booking.unplaced == [] and booking.course.planned_sessions == 50 and len(sessions) == 50
    by_day = collections.defaultdict(list)
    for session in sessions:
        by_day[clinic.local(session.starts_at).date()].append(session.starts_at)
    assert len(by_day) == 5
    for starts in by_day.values():
        assert len(starts) == 10
        assert {b - a for a, b in zip(starts, starts[1:], strict=False)} == {datetime.timedelta(minutes=50)}


@pytest.mark.parametrize(
    ("zone", "first_day"),
    [
        ("America/New_York", datetime.date(2027, 3, 8)),
        ("Europe/London", datetime.date(2027, 3, 22)),
        ("Europe/London", datetime.date(2027, 10, 25)),
        ("America/New_York", datetime.date(2027, 10, 11)),
    ],
)
def test_a_series_across_a_dst_change_keeps_its_wall_clock_time(standard, ten_hz, zone, first_day):
    clinic = weekday_clinic(zone)
    chair = ChairFactory(clinic=clinic)
    booking = start(PatientFactory(home_clinic=clinic), chair, standard, ten_hz, start_date=first_day)
    assert booking.unplaced == []
    assert {f"{clinic.local(a.starts_at):%H:%M}" for a in booking.appointments} == {"09:00"}
    assert len({a.starts_at.astimezone(UTC).hour for a in booking.appointments}) == 2  # the UTC hour moves


def test_booking_past_the_authorisation_needs_a_clinician(standard, ten_hz):
    clinic = weekday_clinic()
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    booking = start(patient, chair, standard, ten_hz, authorised_sessions=30)
    assert len(booking.unplaced) == 6
    assert "authorised sessions" in booking.unplaced[0].reason

    extra = datetime.datetime.combine(MONDAY + datetime.timedelta(weeks=12), NINE, tzinfo=clinic.tz)
    with pytest.raises(SlotUnavailable, match="a clinician must approve"):
        book_appointment(
            patient=patient, chair=chair, starts_at=extra, kind="acute", booked_by=None, course=booking.course
        )
    with pytest.raises(SlotUnavailable, match="Only a clinician"):
        book_appointment(
            patient=patient,
            chair=chair,
            starts_at=extra,
            kind="acute",
            booked_by=None,
            course=booking.course,
            authorisation_override_by=staff_user(role="Front desk"),
        )
    clinician = staff_user(role="Clinician", username="dr")
    approved = book_appointment(
        patient=patient,
        chair=chair,
        starts_at=extra,
        kind="acute",
        booked_by=clinician,
        course=booking.course,
        authorisation_override_by=clinician,
        authorisation_override_note="Payer extension pending",
    )
    assert approved.authorisation_override_by == clinician
    assert approved.authorisation_override_note == "Payer extension pending"
