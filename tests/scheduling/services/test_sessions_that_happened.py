"""A session record says a treatment happened (issue 12): check-in opens a setting's minutes
before the start and never before the session's own day; completing needs the session to have
started. Refused on the service, so on every path that uses it, with the time in the clinic's
words; and nothing changes on refusal."""

import datetime

import pytest
import time_machine

from scheduling.models import Appointment, SessionRecord
from scheduling.services import AppointmentStateError, book_appointment, check_in, complete_appointment
from tests.factories import OpeningHoursFactory, ProtocolFactory, TreatmentCourseFactory

UTC = datetime.UTC
RECORD = {"pulses_delivered": 3000, "intensity_percent_mt": 120, "motor_threshold": 52}


@pytest.fixture
def open_clinic(clinic):
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 45))
    return clinic


def local(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def booked(clinic, chair, patient, starts_at):
    course = TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
    with time_machine.travel(starts_at - datetime.timedelta(days=3), tick=False):
        return book_appointment(patient=patient, chair=chair, starts_at=starts_at, kind="acute", booked_by=None,
                                course=course)


THURSDAY = datetime.date(2026, 12, 3)


@pytest.mark.parametrize(("now", "allowed"), [
    ((8, 59), False),   # 61 minutes before 10:00
    ((9, 0), True),     # the hour before opens it
    ((10, 45), True),   # late is still in
])
def test_check_in_opens_an_hour_before_the_start(open_clinic, chair, patient, technician, now, allowed):
    appointment = booked(open_clinic, chair, patient, local(open_clinic, THURSDAY, 10))
    with time_machine.travel(local(open_clinic, THURSDAY, *now), tick=False):
        if allowed:
            assert check_in(appointment, by=technician).status == Appointment.Status.CHECKED_IN
        else:
            with pytest.raises(AppointmentStateError) as refusal:
                check_in(appointment, by=technician)
            assert refusal.value.message == "Check-in for this session opens at 09:00."
            assert Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.BOOKED


def test_tomorrows_session_is_not_checked_in_today_and_says_when(open_clinic, chair, patient, technician):
    appointment = booked(open_clinic, chair, patient, local(open_clinic, THURSDAY + datetime.timedelta(days=1), 10))
    refused = pytest.raises(AppointmentStateError)
    with time_machine.travel(local(open_clinic, THURSDAY, 18), tick=False), refused as refusal:
        check_in(appointment, by=technician)
    assert refusal.value.message == "Check-in for this session opens at 09:00 on Friday 4 December."
    assert Appointment.objects.get(pk=appointment.pk).checked_in_at is None


def test_a_long_window_still_stops_at_the_start_of_the_sessions_day(open_clinic, chair, patient, technician,
                                                                    settings):
    settings.TMS_CHECK_IN_OPENS_MINUTES = 24 * 60
    appointment = booked(open_clinic, chair, patient, local(open_clinic, THURSDAY, 8))
    the_evening_before = local(open_clinic, THURSDAY - datetime.timedelta(days=1), 23, 59)
    refused = pytest.raises(AppointmentStateError, match="opens at 00:00 on Thursday 3 December")
    with time_machine.travel(the_evening_before, tick=False), refused:
        check_in(appointment, by=technician)
    with time_machine.travel(local(open_clinic, THURSDAY, 0, 0), tick=False):
        assert check_in(appointment, by=technician).status == Appointment.Status.CHECKED_IN


@pytest.mark.parametrize("checked_in_first", [True, False])
def test_a_session_is_completed_only_once_it_has_started(open_clinic, chair, patient, technician, checked_in_first):
    appointment = booked(open_clinic, chair, patient, local(open_clinic, THURSDAY, 10))
    with time_machine.travel(local(open_clinic, THURSDAY, 9, 30), tick=False):
        if checked_in_first:
            check_in(appointment, by=technician)
        with pytest.raises(AppointmentStateError) as refusal:
            complete_appointment(appointment, by=technician, **RECORD)
        assert refusal.value.message == "This session starts at 10:00: it can be completed once it has started."
    assert not SessionRecord.objects.exists()
    with time_machine.travel(local(open_clinic, THURSDAY, 10, 0), tick=False):
        assert complete_appointment(appointment, by=technician, **RECORD).status == Appointment.Status.COMPLETED
    assert SessionRecord.objects.get().appointment == appointment


def test_a_later_days_session_cannot_be_completed_today(open_clinic, chair, patient, technician):
    appointment = booked(open_clinic, chair, patient, local(open_clinic, THURSDAY + datetime.timedelta(days=7), 10))
    refused = pytest.raises(AppointmentStateError, match=r"starts at 10:00 on Thursday 10 December")
    with time_machine.travel(local(open_clinic, THURSDAY, 12), tick=False), refused:
        complete_appointment(appointment, by=technician, **RECORD)
    assert Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.BOOKED
    assert not SessionRecord.objects.exists()


def test_the_window_is_real_time_across_the_clock_change(open_clinic, chair, patient, technician):
    """Sunday 1 November 2026, New York: 01:00-02:00 happens twice. A session at 01:30 EST (the
    second one) opens for check-in 60 real minutes before: at 01:30 EDT, wall clock the same."""
    day = datetime.date(2026, 11, 1)
    starts_at = datetime.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the later 01:30
    assert open_clinic.local(starts_at).fold == 1
    appointment = booked(open_clinic, chair, patient, starts_at)
    refused = pytest.raises(AppointmentStateError, match="opens at 01:30")
    with time_machine.travel(datetime.datetime(2026, 11, 1, 5, 29, tzinfo=UTC), tick=False), refused:  # 01:29 EDT
        check_in(appointment, by=technician)
    with time_machine.travel(datetime.datetime(2026, 11, 1, 5, 30, tzinfo=UTC), tick=False):
        assert open_clinic.local(datetime.datetime.now(UTC)).date() == day
        assert check_in(appointment, by=technician).status == Appointment.Status.CHECKED_IN
