"""mark_no_shows: a session still booked 30 minutes after its end becomes a no-show; two in a
row raise a missed-appointments flag."""

import datetime

from patients.models import PatientFlag
from scheduling.models import Appointment
from scheduling.services.booking import mark_no_shows
from scheduling.services.plans import flag_overdue_patients
from tests.factories import AppointmentFactory, ChairFactory
from tests.scheduling.services.reminders.helpers import day, local, reachable, travel


def test_a_session_still_booked_30_minutes_after_its_end_becomes_a_no_show(clinic):
    starts_at = local(clinic, day(1), 10)
    booked = AppointmentFactory(chair=ChairFactory(clinic=clinic), starts_at=starts_at)
    checked_in = AppointmentFactory(chair=ChairFactory(clinic=clinic), starts_at=starts_at,
                                    status=Appointment.Status.CHECKED_IN)
    with travel(booked.ends_at + datetime.timedelta(minutes=29, seconds=59)):
        assert mark_no_shows() == 0
    with travel(booked.ends_at + datetime.timedelta(minutes=30)):
        assert mark_no_shows() == 1
        assert mark_no_shows() == 0
    booked.refresh_from_db()
    checked_in.refresh_from_db()
    assert (booked.status, checked_in.status) == (Appointment.Status.NO_SHOW, Appointment.Status.CHECKED_IN)
    # Marked by the job, not a person: the time is kept and no one is named.
    assert (booked.marked_no_show_at, booked.marked_no_show_by) == (booked.ends_at + datetime.timedelta(minutes=30),
                                                                    None)


def test_two_automatic_no_shows_raise_a_missed_appointments_flag(clinic):
    patient = reachable(clinic)
    chair = ChairFactory(clinic=clinic)
    for on in (day(1), day(3)):
        AppointmentFactory(patient=patient, chair=chair, starts_at=local(clinic, on, 10))
    with travel(local(clinic, day(1), 12)):
        mark_no_shows()
        flag_overdue_patients()
    assert not PatientFlag.objects.filter(kind=PatientFlag.Kind.MISSED_APPOINTMENTS).exists()
    with travel(local(clinic, day(3), 12)):
        assert mark_no_shows() == 1
        flag_overdue_patients()
    flag = PatientFlag.objects.get(kind=PatientFlag.Kind.MISSED_APPOINTMENTS)
    assert (flag.patient, flag.is_open) == (patient, True)
