import datetime

import pytest
import time_machine

from scheduling.models import Appointment, SessionRecord
from scheduling.services import (
    AppointmentStateError,
    SlotUnavailable,
    book_appointment,
    cancel_appointment,
    check_in,
    complete_appointment,
    mark_no_show,
    reschedule_appointment,
)
from tests.factories import (
    ChairFactory,
    ClosureFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
)

UTC = datetime.UTC
DAY = datetime.date(2026, 12, 2)  # Wednesday
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def open_clinic(clinic):
    for weekday in range(5):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(12))
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(13), closes_at=datetime.time(18))
    return clinic


@pytest.fixture
def course(patient):
    return TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))


def at(clinic, hour, minute=0, day=DAY):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def book(patient, chair, starts_at, course=None, **kwargs):
    return book_appointment(patient=patient, chair=chair, starts_at=starts_at, kind="acute", booked_by=None,
                            course=course, **kwargs)


def test_it_books_for_the_protocols_chair_minutes(open_clinic, chair, patient, course, front_desk):
    appointment = book_appointment(patient=patient, chair=chair, starts_at=at(open_clinic, 9), kind="acute",
                                   booked_by=front_desk, course=course)
    appointment.refresh_from_db()
    assert appointment.ends_at - appointment.starts_at == datetime.timedelta(minutes=45)
    assert appointment.clinic == open_clinic
    assert appointment.booked_by == front_desk
    assert appointment.status == Appointment.Status.BOOKED


def test_it_refuses_overlap_on_chair(open_clinic, chair, patient, course):
    book(patient, chair, at(open_clinic, 9), course)
    other = PatientFactory(home_clinic=open_clinic)
    with pytest.raises(SlotUnavailable, match=r"Chair 1 is already booked from 09:00 to 09:45\."):
        book(other, chair, at(open_clinic, 9, 30), TreatmentCourseFactory(patient=other, protocol=course.protocol))
    assert Appointment.objects.count() == 1


def test_it_refuses_a_patient_already_booked_then(open_clinic, chair, patient, course):
    book(patient, chair, at(open_clinic, 9), course)
    with pytest.raises(SlotUnavailable, match="already booked then"):
        book(patient, ChairFactory(clinic=open_clinic, name="Chair 2"), at(open_clinic, 9, 15), course)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ((7, 45), "outside the clinic's opening hours"),
        ((11, 30), "outside the clinic's opening hours"),  # would run into the lunch break
        ((18, 0), "outside the clinic's opening hours"),
    ],
)
def test_it_refuses_outside_opening_hours(open_clinic, chair, patient, course, when, message):
    with pytest.raises(SlotUnavailable, match=message):
        book(patient, chair, at(open_clinic, *when), course)


def test_it_refuses_a_closed_day(open_clinic, chair, patient, course):
    ClosureFactory(clinic=open_clinic, starts_on=DAY, ends_on=DAY, reason="Staff training")
    with pytest.raises(SlotUnavailable, match=r"closed on Wednesday 2 December \(Staff training\)"):
        book(patient, chair, at(open_clinic, 9), course)


def test_it_refuses_the_past(open_clinic, chair, patient, course):
    with pytest.raises(SlotUnavailable, match="in the past"):
        book(patient, chair, at(open_clinic, 9, day=datetime.date(2026, 11, 30)), course)


def test_it_refuses_a_chair_out_of_service(open_clinic, patient, course):
    chair = ChairFactory(clinic=open_clinic, name="Chair 9", active=False)
    with pytest.raises(SlotUnavailable, match="Chair 9 is out of service"):
        book(patient, chair, at(open_clinic, 9), course)


def test_a_cancelled_slot_can_be_booked_again(open_clinic, chair, patient, course, front_desk):
    first = book(patient, chair, at(open_clinic, 9), course)
    cancelled = cancel_appointment(first, by=front_desk, reason="Patient unwell")
    assert cancelled.cancel_reason == "Patient unwell"
    assert book(patient, chair, at(open_clinic, 9), course).status == Appointment.Status.BOOKED


def test_reschedule_moves_the_appointment_or_changes_nothing(open_clinic, chair, patient, course, front_desk):
    first = book(patient, chair, at(open_clinic, 9), course)
    moved = reschedule_appointment(first, chair=chair, starts_at=at(open_clinic, 9, 15), by=front_desk)
    first.refresh_from_db()
    assert first.status == Appointment.Status.CANCELLED and first.cancel_reason == "Rescheduled"
    assert moved.starts_at == at(open_clinic, 9, 15) and moved.course == course

    blocker = PatientFactory(home_clinic=open_clinic)
    book(blocker, chair, at(open_clinic, 14), TreatmentCourseFactory(patient=blocker, protocol=course.protocol))
    with pytest.raises(SlotUnavailable):
        reschedule_appointment(moved, chair=chair, starts_at=at(open_clinic, 14), by=front_desk)
    moved.refresh_from_db()
    assert moved.status == Appointment.Status.BOOKED  # the failed move cancelled nothing


def test_check_in_then_complete_writes_the_session_record(open_clinic, chair, patient, course, technician):
    appointment = book(patient, chair, at(open_clinic, 9), course)
    with time_machine.travel(at(open_clinic, 9, 5), tick=False):  # the session is under way
        check_in(appointment, by=technician)
        done = complete_appointment(appointment, by=technician, pulses_delivered=3000, intensity_percent_mt=120,
                                    motor_threshold=52)
    record = SessionRecord.objects.get(appointment=appointment)
    assert done.status == Appointment.Status.COMPLETED and done.technician == technician
    assert (record.pulses_delivered, record.motor_threshold, record.operator) == (3000, 52, technician)
    with pytest.raises(AppointmentStateError, match="completed and cannot be cancelled"):
        cancel_appointment(appointment, by=technician)


def test_a_no_show_needs_the_appointment_to_have_started(open_clinic, chair, patient, course, technician):
    appointment = book(patient, chair, at(open_clinic, 9), course)
    with pytest.raises(AppointmentStateError, match="not started yet"):
        mark_no_show(appointment, by=technician)
    with time_machine.travel(at(open_clinic, 10), tick=False):
        assert mark_no_show(appointment, by=technician).status == Appointment.Status.NO_SHOW


def test_a_deadlock_is_retried_and_other_database_errors_are_not(open_clinic, chair, patient, course):
    from django.db import OperationalError

    from scheduling.services.booking import _with_retries

    class Deadlock(Exception):
        pgcode = "40P01"

    calls = []

    def deadlocks_once():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return "booked"

    assert _with_retries(deadlocks_once) == "booked" and len(calls) == 2

    def disk_full():
        raise OperationalError("disk full")

    with pytest.raises(OperationalError):
        _with_retries(disk_full)
