"""The checks `make loadtest` runs on the database after the load (benchmarks/loadcheck.py):
they find a double-booking planted with raw SQL (on PostgreSQL once the exclusion constraints
are dropped inside the test's transaction), agree with a brute-force comparison of every pair,
and find a reminder handed to the file sinks twice."""

import datetime
import itertools
import random

import pytest
from django.core.mail import get_connection
from django.db import connection

from benchmarks.loadcheck import double_bookings, reminder_sends
from patients.models import PlanTemplate
from scheduling import sms
from scheduling.models import Appointment, Reminder
from scheduling.services import reminders
from scheduling.services.plans import start_plan
from tests.factories import AppointmentFactory, ChairFactory, PatientFactory, ProtocolFactory
from tests.scheduling.services.reminders.helpers import (
    DAY_BEFORE,
    MONDAY,
    SENT,
    SMS,
    book,
    day,
    local,
    open_all_week,
    reachable,
    run_at,
    travel,
)

NINE = datetime.datetime(2026, 12, 1, 14, 0, tzinfo=datetime.UTC)
MINUTES = datetime.timedelta(minutes=1)
OVERLAP_CONSTRAINTS = ("appt_no_chair_overlap", "appt_no_patient_overlap")


@pytest.fixture
def without_overlap_constraints(db):
    """PostgreSQL refuses overlaps itself: drop its two exclusion constraints for this test
    only (the test's transaction is rolled back, and with it the DROP). SQLite has none."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for name in OVERLAP_CONSTRAINTS:
                cursor.execute(f"ALTER TABLE scheduling_appointment DROP CONSTRAINT {name}")


def move(appointment, starts_at, minutes=45):
    """Raw SQL, past every check the application makes."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_appointment SET starts_at = %s, ends_at = %s WHERE id = %s",
                       [starts_at, starts_at + minutes * MINUTES, appointment.pk])


def test_back_to_back_and_cancelled_appointments_are_no_double_booking(chair, patient):
    AppointmentFactory(chair=chair, patient=patient, starts_at=NINE)
    AppointmentFactory(chair=chair, patient=patient, starts_at=NINE + 45 * MINUTES)
    AppointmentFactory(chair=chair, starts_at=NINE + 10 * MINUTES, status=Appointment.Status.CANCELLED)
    assert double_bookings() == []


def test_a_double_booking_planted_with_raw_sql_is_found(without_overlap_constraints, clinic, chair, patient):
    first = AppointmentFactory(chair=chair, starts_at=NINE)
    second = AppointmentFactory(chair=chair, starts_at=NINE + 60 * MINUTES)
    own = AppointmentFactory(chair=ChairFactory(clinic=clinic), patient=patient, starts_at=NINE)
    other = AppointmentFactory(chair=ChairFactory(clinic=clinic), patient=patient, starts_at=NINE + 60 * MINUTES)
    assert double_bookings() == []

    move(second, NINE + 44 * MINUTES)  # one minute into the first, on the same chair
    move(other, NINE)  # the same patient on two chairs at once, same start
    assert double_bookings() == [("chair", first.pk, second.pk), ("patient", own.pk, other.pk)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_double_bookings_agree_with_every_pair_compared(without_overlap_constraints, clinic, seed):
    rng = random.Random(seed)
    chairs = [ChairFactory(clinic=clinic) for _ in range(3)]
    patients = [PatientFactory(home_clinic=clinic) for _ in range(4)]
    statuses = [Appointment.Status.BOOKED, Appointment.Status.COMPLETED, Appointment.Status.CANCELLED]
    rows = Appointment.objects.bulk_create(
        Appointment(clinic=clinic, chair=rng.choice(chairs), patient=rng.choice(patients), kind=Appointment.Kind.ACUTE,
                    starts_at=(start := NINE + rng.randrange(0, 600, 5) * MINUTES),
                    ends_at=start + rng.choice([15, 30, 45, 60]) * MINUTES, status=rng.choice(statuses))
        for _ in range(40)
    )
    expected = []
    for a, b in itertools.combinations(rows, 2):
        if Appointment.Status.CANCELLED in (a.status, b.status):
            continue
        if a.starts_at < b.ends_at and b.starts_at < a.ends_at:
            for what in ("chair", "patient"):
                if getattr(a, f"{what}_id") == getattr(b, f"{what}_id"):
                    expected.append((what, *sorted((a.pk, b.pk))))
    assert expected, "the random schedule should hold some overlaps"
    assert double_bookings() == sorted(expected)


# --- Reminders against the sinks --------------------------------------------------------------


@pytest.fixture
def file_sinks(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    settings.TMS_SMS_BACKEND = "scheduling.sms.FileBackend"
    settings.TMS_SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    settings.SITE_URL = "https://clinic.example"
    return tmp_path / "sms.jsonl", tmp_path / "mail"


def send_again(reminder):
    """A worker that sends a reminder a second time (what must never happen)."""
    with get_connection() as mail:
        reminders._deliver(reminder, mail, sms.get_backend())


def test_each_reminder_sent_once_matches_its_row_and_a_second_send_is_found(file_sinks, clinic):
    sms_path, mail_dir = file_sinks
    open_all_week(clinic)
    chair = ChairFactory(clinic=clinic)
    by_mail, by_text = reachable(clinic), reachable(clinic, by=SMS, phone="+12125550101")
    with travel(local(clinic, MONDAY, 9)):
        first = book(by_mail, chair, local(clinic, day(1), 12))
        second = book(by_text, chair, local(clinic, day(1), 13))
    template = PlanTemplate.objects.create(name="Monthly", grace_days=7)
    template.phases.create(order=0, interval_days=28, visits=None)
    plan = start_plan(patient=reachable(clinic, phone="+12125550102"), protocol=ProtocolFactory(), template=template,
                      started_on=day(3))
    since = local(clinic, MONDAY, 0)
    with travel(local(clinic, MONDAY, 17)):
        assert reminders.nudge_due_soon() == 1
    run_at(local(clinic, MONDAY, 17))  # the day-before reminders and the nudge
    run_at(local(clinic, day(1), 11, 30))  # the hours-before ones
    sent = Reminder.objects.filter(status=SENT)
    assert sent.count() == 5 and sent.filter(plan=plan).count() == 1

    result = reminder_sends(sms_path, mail_dir, since)
    assert (result["messages"], result["rows"], result["duplicates"], result["missing"]) == (5, 5, [], [])

    # The same reminder handed to each sink a second time.
    send_again(Reminder.objects.get(appointment=first, kind=DAY_BEFORE))
    send_again(Reminder.objects.get(appointment=second, kind=DAY_BEFORE))
    result = reminder_sends(sms_path, mail_dir, since)
    assert result["messages"] == 7
    assert result["duplicates"] == sorted([
        (("appointment", str(first.uuid), "email"), 3, 2),
        (("appointment", str(second.uuid), "sms"), 3, 2),
    ])
    # Rows sent before ``since`` are not the run's: their messages are counted against nothing.
    assert reminder_sends(sms_path, mail_dir, local(clinic, day(2), 0))["rows"] == 0


def test_a_row_marked_sent_without_its_message_is_reported_missing(file_sinks, clinic):
    sms_path, mail_dir = file_sinks
    chair = ChairFactory(clinic=open_all_week(clinic))
    with travel(local(clinic, MONDAY, 9)):
        appointment = book(reachable(clinic), chair, local(clinic, day(1), 12))
    Reminder.objects.filter(appointment=appointment, kind=DAY_BEFORE).update(
        status=SENT, sent_at=local(clinic, MONDAY, 17))
    result = reminder_sends(sms_path, mail_dir, local(clinic, MONDAY, 0))
    assert result["missing"] == [(("appointment", str(appointment.uuid), "email"), 0, 1)]
    assert result["duplicates"] == []
