"""The reminders outbox: armed with the booking, sent once, on time in the clinic's zone, never
in quiet hours, never about a session that has begun; and the jobs around it."""

import datetime
import re
import smtplib
import socket

import pytest
import time_machine
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import MaintenancePlan, PatientFlag, PlanTemplate
from scheduling import sms
from scheduling.models import Appointment, Reminder
from scheduling.services import book_appointment, cancel_appointment, reminders, reschedule_appointment
from scheduling.services.booking import mark_no_shows
from scheduling.services.plans import end_plan, flag_overdue_patients, pause_plan, start_plan
from scheduling.services.reminders import appointment_from_link, nudge_due_soon, send_due, staff_digest
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)

UTC = datetime.UTC
PENDING, SENDING, SENT = Reminder.Status.PENDING, Reminder.Status.SENDING, Reminder.Status.SENT
FAILED, SKIPPED = Reminder.Status.FAILED, Reminder.Status.SKIPPED
DAY_BEFORE, HOURS_BEFORE = Reminder.Kind.DAY_BEFORE, Reminder.Kind.HOURS_BEFORE
EMAIL, SMS = Reminder.Channel.EMAIL, Reminder.Channel.SMS
PHONE = "+12125550100"
# Monday 4 January 2027, a week with no DST change anywhere.
MONDAY = datetime.date(2027, 1, 4)


def travel(moment):
    return time_machine.travel(moment, tick=False)


def day(n):
    return MONDAY + datetime.timedelta(days=n)


def local(clinic, on, hour, minute=0):
    return datetime.datetime.combine(on, datetime.time(hour, minute), tzinfo=clinic.tz)


@pytest.fixture(autouse=True)
def in_memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    settings.SITE_URL = "https://clinic.example"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def open_all_week(clinic, opens=6, closes=22):
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(opens),
                            closes_at=datetime.time(closes))
    return clinic


@pytest.fixture
def chair(clinic):
    open_all_week(clinic)
    return ChairFactory(clinic=clinic, name="Chair 1")


def reachable(clinic, by=EMAIL, **kwargs):
    """A patient who agreed to both channels and prefers ``by``."""
    fields = {"email_consent": True, "sms_consent": True, "phone": PHONE, "preferred_channel": by, **kwargs}
    return PatientFactory(home_clinic=clinic, **fields)


def book(patient, chair, starts_at, **kwargs):
    return book_appointment(patient=patient, chair=chair, starts_at=starts_at, kind=Appointment.Kind.CONSULT,
                            booked_by=None, duration=datetime.timedelta(minutes=45), **kwargs)


def booked_on_monday(patient, chair, starts_at, **kwargs):
    with travel(local(chair.clinic, MONDAY, 9)):
        return book(patient, chair, starts_at, **kwargs)


def rows(appointment):
    return {r.kind: r for r in Reminder.objects.filter(appointment=appointment)}


def run_at(moment):
    with travel(moment):
        return send_due()


def messages_to(patient):
    """Every message a patient received, e-mail or SMS."""
    emails = [m for m in mail.outbox if m.to == [patient.email]]
    texts = [m for m in sms.outbox if m["to"] == str(patient.phone)] if patient.phone else []
    return emails + texts


# --- Arming, in the booking's transaction -----------------------------------------------------


def test_booking_writes_the_day_before_and_hours_before_reminders(chair, clinic):
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    armed = rows(appointment)
    assert set(armed) == {DAY_BEFORE, HOURS_BEFORE}
    # The day before at 17:00 New York time (EST, UTC-5), and two hours before the session.
    assert armed[DAY_BEFORE].scheduled_for == datetime.datetime(2027, 1, 5, 22, 0, tzinfo=UTC)
    assert armed[HOURS_BEFORE].scheduled_for == datetime.datetime(2027, 1, 6, 13, 0, tzinfo=UTC)
    assert {(r.status, r.channel, r.attempts, r.sent_at) for r in armed.values()} == {(PENDING, EMAIL, 0, None)}


def test_reminders_are_written_in_the_bookings_own_transaction(chair, clinic, monkeypatch):
    patient = reachable(clinic)

    def outbox_down(*args, **kwargs):
        raise RuntimeError("could not write the outbox")

    monkeypatch.setattr(Reminder.objects, "bulk_create", outbox_down)
    with pytest.raises(RuntimeError):
        booked_on_monday(patient, chair, local(clinic, day(2), 10))
    # No appointment without its reminders: they commit or roll back together.
    assert not Appointment.objects.exists()


def test_a_clinic_can_choose_its_own_reminder_times(chair, clinic):
    clinic.reminder_day_before_at = datetime.time(18, 30)
    clinic.reminder_hours_before = 3
    clinic.save()
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 14))
    armed = rows(appointment)
    assert armed[DAY_BEFORE].scheduled_for == local(clinic, day(1), 18, 30)
    assert armed[HOURS_BEFORE].scheduled_for == local(clinic, day(2), 11)


def test_the_installation_defaults_come_from_settings(chair, clinic, settings):
    settings.TMS_REMINDER_DAY_BEFORE_AT = "16:15"
    settings.TMS_REMINDER_HOURS_BEFORE = 4
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 14))
    armed = rows(appointment)
    assert armed[DAY_BEFORE].scheduled_for == local(clinic, day(1), 16, 15)
    assert armed[HOURS_BEFORE].scheduled_for == local(clinic, day(2), 10)


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        ({"preferred_channel": EMAIL}, EMAIL),
        ({"preferred_channel": SMS}, SMS),
        # The preferred channel is not usable: the other consented one is.
        ({"preferred_channel": SMS, "phone": ""}, EMAIL),
        ({"preferred_channel": SMS, "sms_consent": False}, EMAIL),
        ({"preferred_channel": EMAIL, "email": ""}, SMS),
        ({"preferred_channel": EMAIL, "email_consent": False}, SMS),
        # Consent without an address, or an address without consent, is no channel at all.
        ({"email_consent": False, "phone": ""}, None),
        ({"email": "", "sms_consent": False}, None),
        ({"email_consent": False, "sms_consent": False}, None),
    ],
)
def test_the_channel_follows_consent_and_preference(chair, clinic, contact, expected):
    patient = reachable(clinic, **contact)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    armed = rows(appointment).values()
    if expected is None:
        assert {r.status for r in armed} == {SKIPPED}
        assert {r.last_error for r in armed} == {"The patient has not agreed to be contacted."}
    else:
        assert {(r.status, r.channel) for r in armed} == {(PENDING, expected)}


def test_a_reminder_already_due_at_booking_is_logged_as_skipped(chair, clinic):
    with travel(local(clinic, day(1), 18)):  # after 17:00 the day before
        appointment = book(reachable(clinic), chair, local(clinic, day(2), 10))
    armed = rows(appointment)
    assert armed[DAY_BEFORE].status == SKIPPED
    assert armed[DAY_BEFORE].last_error == "Booked after this reminder was due."
    assert armed[HOURS_BEFORE].status == PENDING


# --- Quiet hours ------------------------------------------------------------------------------


def test_an_sms_due_at_six_in_the_morning_is_held_until_eight(chair, clinic):
    clinic.reminder_hours_before = 3
    clinic.save()
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 9))
    held = rows(appointment)[HOURS_BEFORE]
    assert (held.status, held.scheduled_for) == (PENDING, local(clinic, day(2), 8))
    assert run_at(local(clinic, day(1), 17))["sent"] == 1  # the day before
    assert run_at(local(clinic, day(2), 7, 59))["sent"] == 0
    assert len(sms.outbox) == 1
    assert run_at(local(clinic, day(2), 8))["sent"] == 1
    assert len(sms.outbox) == 2


def test_an_email_is_not_held_by_quiet_hours(chair, clinic):
    clinic.reminder_hours_before = 3
    clinic.save()
    appointment = booked_on_monday(reachable(clinic, by=EMAIL), chair, local(clinic, day(2), 9))
    assert rows(appointment)[HOURS_BEFORE].scheduled_for == local(clinic, day(2), 6)
    run_at(local(clinic, day(1), 17))
    assert run_at(local(clinic, day(2), 6))["sent"] == 1
    assert rows(appointment)[HOURS_BEFORE].sent_at == local(clinic, day(2), 6)
    assert len(mail.outbox) == 2


def test_an_sms_whose_morning_is_after_the_session_is_skipped(chair, clinic):
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 7, 30))
    skipped = rows(appointment)[HOURS_BEFORE]  # 05:30; the morning (08:00) is after the session
    assert (skipped.status, skipped.last_error) == (SKIPPED, "It would fall in quiet hours.")
    assert rows(appointment)[DAY_BEFORE].status == PENDING


def test_an_sms_caught_up_in_quiet_hours_waits_for_the_morning(chair, clinic):
    patient = reachable(clinic, by=SMS)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    # The workers were down from 16:00 to 22:30: the 17:00 reminder is held, not sent at night.
    assert run_at(local(clinic, day(1), 22, 30)) == {"sent": 0, "skipped": 0, "retry": 0, "failed": 0, "held": 1}
    held = rows(appointment)[DAY_BEFORE]
    assert (held.status, held.scheduled_for, held.attempts) == (PENDING, local(clinic, day(2), 8), 0)
    assert run_at(local(clinic, day(2), 7, 59))["sent"] == 0
    run_at(local(clinic, day(2), 8))
    # 08:00 is also when the two-hours-before reminder is due: the patient hears once.
    assert len(messages_to(patient)) == 1
    assert rows(appointment)[HOURS_BEFORE].status == SENT


def test_quiet_hours_come_from_settings(chair, clinic, settings):
    settings.TMS_QUIET_HOURS = "16:00-09:00"
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 11))
    assert rows(appointment)[DAY_BEFORE].scheduled_for == local(clinic, day(2), 9)


# --- Daylight saving --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "session", "day_before_utc", "hours_before_utc"),
    [
        # New York springs forward on Sunday 14 March 2027.
        ("America/New_York", datetime.datetime(2027, 3, 15, 10), datetime.datetime(2027, 3, 14, 21),
         datetime.datetime(2027, 3, 15, 12)),
        ("America/New_York", datetime.datetime(2027, 3, 14, 10), datetime.datetime(2027, 3, 13, 22),
         datetime.datetime(2027, 3, 14, 12)),
        # ... and falls back on Sunday 7 November 2027.
        ("America/New_York", datetime.datetime(2027, 11, 8, 10), datetime.datetime(2027, 11, 7, 22),
         datetime.datetime(2027, 11, 8, 13)),
        ("America/New_York", datetime.datetime(2027, 11, 7, 10), datetime.datetime(2027, 11, 6, 21),
         datetime.datetime(2027, 11, 7, 13)),
        # London springs forward on Sunday 28 March 2027 and falls back on Sunday 31 October.
        ("Europe/London", datetime.datetime(2027, 3, 29, 10), datetime.datetime(2027, 3, 28, 16),
         datetime.datetime(2027, 3, 29, 7)),
        ("Europe/London", datetime.datetime(2027, 3, 28, 10), datetime.datetime(2027, 3, 27, 17),
         datetime.datetime(2027, 3, 28, 7)),
        ("Europe/London", datetime.datetime(2027, 11, 1, 10), datetime.datetime(2027, 10, 31, 17),
         datetime.datetime(2027, 11, 1, 8)),
        ("Europe/London", datetime.datetime(2027, 10, 31, 10), datetime.datetime(2027, 10, 30, 16),
         datetime.datetime(2027, 10, 31, 8)),
    ],
)
def test_reminders_across_a_dst_change_keep_the_wall_clock_time(db, zone, session, day_before_utc,
                                                                  hours_before_utc):
    clinic = open_all_week(ClinicFactory(time_zone=zone))
    chair = ChairFactory(clinic=clinic)
    patient = reachable(clinic)
    starts_at = session.replace(tzinfo=clinic.tz)
    with travel(starts_at - datetime.timedelta(days=7)):
        appointment = book(patient, chair, starts_at)
    armed = rows(appointment)
    assert armed[DAY_BEFORE].scheduled_for == day_before_utc.replace(tzinfo=UTC)
    assert clinic.local(armed[DAY_BEFORE].scheduled_for).time() == datetime.time(17)
    assert armed[HOURS_BEFORE].scheduled_for == hours_before_utc.replace(tzinfo=UTC)
    assert armed[HOURS_BEFORE].scheduled_for == starts_at - datetime.timedelta(hours=2)
    for reminder in armed.values():
        moment = reminder.scheduled_for
        assert run_at(moment - datetime.timedelta(seconds=1))["sent"] == 0
        assert run_at(moment)["sent"] == 1
    assert len(mail.outbox) == 2


@pytest.mark.parametrize(
    ("zone", "evening", "morning_utc"),
    [
        # The night the clocks go forward is an hour shorter, the night they go back an hour longer:
        # the SMS still waits until 08:00 on the clinic's clock.
        ("America/New_York", datetime.datetime(2027, 3, 13, 22), datetime.datetime(2027, 3, 14, 12)),
        ("America/New_York", datetime.datetime(2027, 11, 6, 22), datetime.datetime(2027, 11, 7, 13)),
        ("Europe/London", datetime.datetime(2027, 3, 27, 22), datetime.datetime(2027, 3, 28, 7)),
        ("Europe/London", datetime.datetime(2027, 10, 30, 22), datetime.datetime(2027, 10, 31, 8)),
    ],
)
def test_an_sms_held_overnight_across_a_dst_change_goes_at_eight_local(db, zone, evening, morning_utc):
    clinic = open_all_week(ClinicFactory(time_zone=zone, reminder_day_before_at=datetime.time(22)))
    chair = ChairFactory(clinic=clinic)
    starts_at = (evening + datetime.timedelta(hours=13)).replace(tzinfo=clinic.tz)  # 11:00 the next day
    with travel(starts_at - datetime.timedelta(days=7)):
        appointment = book(reachable(clinic, by=SMS), chair, starts_at)
    held = rows(appointment)[DAY_BEFORE]
    assert held.scheduled_for == morning_utc.replace(tzinfo=UTC)
    assert clinic.local(held.scheduled_for).time() == datetime.time(8)


# --- send_due ---------------------------------------------------------------------------------


def test_each_due_reminder_is_sent_once(chair, clinic):
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    day_before = local(clinic, day(1), 17)
    assert run_at(day_before - datetime.timedelta(seconds=1))["sent"] == 0
    assert run_at(day_before)["sent"] == 1
    assert run_at(day_before)["sent"] == 0
    assert run_at(day_before + datetime.timedelta(hours=1))["sent"] == 0
    sent = rows(appointment)[DAY_BEFORE]
    assert (sent.status, sent.sent_at, sent.attempts, sent.last_error) == (SENT, day_before, 1, "")
    assert rows(appointment)[HOURS_BEFORE].status == PENDING
    assert len(messages_to(patient)) == 1


def test_after_a_day_of_missed_runs_it_catches_up_but_never_about_a_session_that_has_begun(chair, clinic):
    patients = {name: reachable(clinic) for name in ("later", "begun", "soon", "tomorrow")}
    chair_2 = ChairFactory(clinic=clinic, name="Chair 2")
    with travel(local(clinic, MONDAY, 9)):
        later = book(patients["later"], chair, local(clinic, day(1), 16))
        begun = book(patients["begun"], chair, local(clinic, day(1), 9, 30))
        soon = book(patients["soon"], chair_2, local(clinic, day(1), 12))
        tomorrow = book(patients["tomorrow"], chair, local(clinic, day(2), 10))
    # No run from Monday 09:00 to Tuesday 11:00.
    counts = run_at(local(clinic, day(1), 11))
    assert len(messages_to(patients["later"])) == 1  # its day-before reminder, late but useful
    assert rows(later)[HOURS_BEFORE].status == PENDING
    assert messages_to(patients["begun"]) == []
    assert {(r.status, r.last_error) for r in rows(begun).values()} == {(SKIPPED, "The session had already begun.")}
    # Both reminders of the 12:00 session are overdue: one message, not two at once.
    assert len(messages_to(patients["soon"])) == 1
    assert rows(soon)[HOURS_BEFORE].status == SENT
    assert rows(soon)[DAY_BEFORE].status == SKIPPED
    assert messages_to(patients["tomorrow"]) == []
    assert {r.status for r in rows(tomorrow).values()} == {PENDING}
    assert counts["sent"] == 2
    run_at(local(clinic, day(1), 14))
    run_at(local(clinic, day(1), 17))
    assert len(messages_to(patients["later"])) == 2
    assert len(messages_to(patients["tomorrow"])) == 1


def test_nothing_is_sent_about_a_session_that_has_begun_even_if_a_retry_was_pending(chair, clinic):
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 10))
    Reminder.objects.filter(appointment=appointment).update(scheduled_for=local(clinic, day(2), 9, 59))
    run_at(local(clinic, day(2), 10))
    assert mail.outbox == []
    assert {r.status for r in rows(appointment).values()} == {SKIPPED}


def test_a_cancelled_appointments_reminders_are_skipped(chair, clinic, front_desk):
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    with travel(local(clinic, MONDAY, 10)):
        cancel_appointment(appointment, by=front_desk, reason="Unwell")
    assert {(r.status, r.last_error) for r in rows(appointment).values()} == {
        (SKIPPED, "The appointment was cancelled.")
    }
    run_at(local(clinic, day(2), 9))
    assert messages_to(patient) == []


def test_a_reminder_claimed_for_an_appointment_no_longer_booked_is_skipped(chair, clinic):
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 10))
    # Changed by a path that does not disarm: the send still looks at the appointment.
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.CANCELLED)
    run_at(local(clinic, day(1), 17))
    assert mail.outbox == []
    assert rows(appointment)[DAY_BEFORE].last_error == "The appointment is cancelled."


def test_a_rescheduled_appointment_is_reminded_of_its_new_time_only(chair, clinic, front_desk):
    patient = reachable(clinic)
    old = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    with travel(local(clinic, MONDAY, 10)):
        new = reschedule_appointment(old, chair=chair, starts_at=local(clinic, day(3), 15), by=front_desk)
    assert {r.status for r in rows(old).values()} == {SKIPPED}
    armed = rows(new)
    assert armed[DAY_BEFORE].scheduled_for == local(clinic, day(2), 17)
    assert armed[HOURS_BEFORE].scheduled_for == local(clinic, day(3), 13)
    for moment in (local(clinic, day(1), 17), local(clinic, day(2), 8), local(clinic, day(2), 17),
                   local(clinic, day(3), 13)):
        run_at(moment)
    received = messages_to(patient)
    assert len(received) == 2
    assert all("Thursday 7 January 2027 at 15:00" in message.body for message in received)
    assert {r.status for r in rows(old).values()} == {SKIPPED}


def test_consent_withdrawn_after_booking_skips_the_reminder_at_send_time(chair, clinic):
    patient = reachable(clinic, by=SMS)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    patient.sms_consent = False
    patient.save()
    run_at(local(clinic, day(1), 17))
    assert sms.outbox == []
    skipped = rows(appointment)[DAY_BEFORE]
    assert skipped.status == SKIPPED
    assert "withdrew consent" in skipped.last_error


def test_a_change_of_preferred_channel_does_not_lose_the_reminder(chair, clinic):
    patient = reachable(clinic, by=EMAIL)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    patient.preferred_channel = SMS  # still consenting to e-mail, which the reminder was armed for
    patient.save()
    run_at(local(clinic, day(1), 17))
    assert rows(appointment)[DAY_BEFORE].status == SENT
    assert len(messages_to(patient)) == 1


def test_a_discharged_patient_is_not_reminded(chair, clinic):
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    patient.status = patient.Status.DISCHARGED
    patient.save()
    run_at(local(clinic, day(1), 17))
    assert mail.outbox == []
    assert rows(appointment)[DAY_BEFORE].last_error == "The patient is discharged."


# Test doubles for failing channels; settings name them by dotted path.

class FlakySMS:
    """Fails with a transient error while ``failures`` is above zero."""

    failures = 0

    def send(self, to, body):
        if FlakySMS.failures:
            FlakySMS.failures -= 1
            raise sms.TransientSendError("provider timed out")
        sms.outbox.append({"to": to, "body": body})


class RefusingSMS:
    def send(self, to, body):
        raise sms.PermanentSendError("21211 invalid 'To' number")


class BrokenForOneNumberSMS:
    def send(self, to, body):
        if to == "+12125550199":
            raise KeyError("a bug in the provider library")
        sms.outbox.append({"to": to, "body": body})


class OutOfTimeSMS:
    def send(self, to, body):
        raise SoftTimeLimitExceeded()


class FailingMail(BaseEmailBackend):
    error = ConnectionError("mail server unreachable")

    def send_messages(self, messages):
        raise FailingMail.error


class UnreachableMail(BaseEmailBackend):
    """Like the SMTP backend with the server down: opening the connection fails."""

    def open(self):
        raise ConnectionRefusedError(111, "Connection refused")

    def send_messages(self, messages):
        self.open()


@pytest.fixture
def flaky_sms(settings):
    settings.TMS_SMS_BACKEND = "tests.scheduling.test_reminders.FlakySMS"
    settings.TMS_REMINDER_MAX_ATTEMPTS = 3
    yield FlakySMS
    FlakySMS.failures = 0


def test_a_transient_error_retries_with_backoff_and_then_fails(chair, clinic, flaky_sms):
    flaky_sms.failures = 99
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 10))
    first = local(clinic, day(1), 17)
    assert run_at(first)["retry"] == 1
    reminder = rows(appointment)[DAY_BEFORE]
    assert (reminder.status, reminder.attempts, reminder.last_error) == (PENDING, 1, "provider timed out")
    assert reminder.scheduled_for == first + datetime.timedelta(minutes=2)
    assert run_at(first + datetime.timedelta(minutes=1, seconds=59))["retry"] == 0
    assert run_at(first + datetime.timedelta(minutes=2))["retry"] == 1
    reminder.refresh_from_db()
    assert (reminder.attempts, reminder.scheduled_for) == (2, first + datetime.timedelta(minutes=6))
    assert run_at(first + datetime.timedelta(minutes=6))["failed"] == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts, reminder.last_error) == (FAILED, 3, "provider timed out")
    run_at(first + datetime.timedelta(hours=1))
    reminder.refresh_from_db()
    assert reminder.attempts == 3
    assert sms.outbox == []


def test_a_transient_error_that_clears_sends_once(chair, clinic, flaky_sms):
    flaky_sms.failures = 1
    patient = reachable(clinic, by=SMS)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    first = local(clinic, day(1), 17)
    run_at(first)
    run_at(first + datetime.timedelta(minutes=2))
    run_at(first + datetime.timedelta(minutes=3))
    reminder = rows(appointment)[DAY_BEFORE]
    assert (reminder.status, reminder.attempts, reminder.last_error) == (SENT, 2, "")
    assert len(messages_to(patient)) == 1


@pytest.mark.parametrize(
    ("backend", "error", "outcome"),
    [
        ("FailingMail", ConnectionError("mail server unreachable"), PENDING),
        ("FailingMail", TimeoutError("timed out"), PENDING),
        ("FailingMail", socket.gaierror(-3, "Temporary failure in name resolution"), PENDING),
        ("FailingMail", smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), PENDING),
        ("FailingMail", smtplib.SMTPDataError(451, b"Try again later"), PENDING),
        ("FailingMail", smtplib.SMTPRecipientsRefused({"x@patients.test": (550, b"No such user")}), FAILED),
        ("FailingMail", smtplib.SMTPDataError(554, b"Rejected"), FAILED),
        ("UnreachableMail", None, PENDING),
    ],
)
def test_mail_errors_are_retried_or_failed_by_kind(chair, clinic, settings, backend, error, outcome):
    settings.EMAIL_BACKEND = f"tests.scheduling.test_reminders.{backend}"
    FailingMail.error = error
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 10))
    run_at(local(clinic, day(1), 17))
    reminder = rows(appointment)[DAY_BEFORE]
    assert (reminder.status, reminder.attempts) == (outcome, 1)
    assert reminder.last_error
    # Only the one due reminder was touched, and nothing is left claimed.
    assert not Reminder.objects.filter(status=SENDING).exists()


def test_a_permanent_error_fails_at_once_with_the_reason(chair, clinic, settings):
    settings.TMS_SMS_BACKEND = "tests.scheduling.test_reminders.RefusingSMS"
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 10))
    assert run_at(local(clinic, day(1), 17))["failed"] == 1
    reminder = rows(appointment)[DAY_BEFORE]
    assert (reminder.status, reminder.attempts, reminder.last_error) == (FAILED, 1, "21211 invalid 'To' number")
    run_at(local(clinic, day(1), 18))
    reminder.refresh_from_db()
    assert reminder.attempts == 1


def test_an_unexpected_error_on_one_reminder_does_not_strand_the_rest_of_the_batch(chair, clinic, settings):
    settings.TMS_SMS_BACKEND = "tests.scheduling.test_reminders.BrokenForOneNumberSMS"
    broken = reachable(clinic, by=SMS, phone="+12125550199")
    fine = [reachable(clinic, by=SMS, phone=f"+1212555010{n}") for n in range(3)]
    chairs = [chair] + [ChairFactory(clinic=clinic) for _ in range(3)]
    appointments = [booked_on_monday(p, c, local(clinic, day(2), 10)) for p, c in zip([broken, *fine], chairs,
                                                                                      strict=True)]
    run_at(local(clinic, day(1), 17))
    assert rows(appointments[0])[DAY_BEFORE].status == FAILED
    assert "provider library" in rows(appointments[0])[DAY_BEFORE].last_error
    assert [rows(a)[DAY_BEFORE].status for a in appointments[1:]] == [SENT] * 3
    assert len(sms.outbox) == 3


def test_the_tasks_time_limit_stops_the_run_instead_of_failing_the_reminder(chair, clinic, settings):
    settings.TMS_SMS_BACKEND = "tests.scheduling.test_reminders.OutOfTimeSMS"
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 10))
    with pytest.raises(SoftTimeLimitExceeded):
        run_at(local(clinic, day(1), 17))
    # Whether it went out is unknown: left claimed, for the stuck-row rule below, never resent.
    assert rows(appointment)[DAY_BEFORE].status == SENDING


def test_a_row_stuck_in_sending_becomes_failed_and_is_not_resent(chair, clinic):
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 10))
    claimed = local(clinic, day(1), 17)
    Reminder.objects.filter(appointment=appointment, kind=DAY_BEFORE).update(status=SENDING, claimed_at=claimed,
                                                                              attempts=1)
    run_at(claimed + datetime.timedelta(minutes=15))
    assert rows(appointment)[DAY_BEFORE].status == SENDING
    run_at(claimed + datetime.timedelta(minutes=15, seconds=1))
    stuck = rows(appointment)[DAY_BEFORE]
    assert stuck.status == FAILED
    assert "not resent" in stuck.last_error
    run_at(claimed + datetime.timedelta(hours=2))
    assert mail.outbox == []


# --- What the messages say --------------------------------------------------------------------

NOT_IN_A_MESSAGE = ("10 Hz", "rTMS", "NeuroStar", "PHQ", "depress", "diagnos", "MRN", "suicid", "Left DLPFC")


@pytest.fixture
def treated(chair, clinic):
    """A patient in an acute course: the booking knows the protocol, the messages must not."""
    clinic.name = "St John's & Partners"
    clinic.phone = "+12125550123"
    clinic.address = "1 Main Street\nSpringfield"
    clinic.save()
    patient = reachable(clinic)
    course = TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory())
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10), course=course)
    return patient, appointment


def assert_nothing_clinical(text):
    # The signed link's token is random letters, which may spell "mrn" or "phq" by chance.
    words = re.sub(r"https://clinic\.example/portal/r/[^\s\"<]+", "", text).lower()
    for word in NOT_IN_A_MESSAGE:
        assert word.lower() not in words


def assert_says_only_when_and_where(text, appointment, *, date):
    assert "St John's & Partners" in text
    assert date in text
    assert "10:00" in text
    link = next(word for word in text.split() if word.startswith("https://clinic.example/portal/r/"))
    assert appointment_from_link(link.rstrip("/").rsplit("/", 1)[1]) == appointment
    assert_nothing_clinical(text)
    assert appointment.patient.mrn not in text


def test_the_email_says_when_and_where_and_nothing_clinical(treated, clinic):
    patient, appointment = treated
    run_at(local(clinic, day(1), 17))
    (message,) = mail.outbox
    assert message.to == [patient.email]
    assert message.subject == "Reminder: your session at St John's & Partners on Wednesday 6 January at 10:00"
    assert_says_only_when_and_where(message.body, appointment, date="Wednesday 6 January 2027")
    assert "Springfield" in message.body and "+12125550123" in message.body
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert "St John&#x27;s &amp; Partners" in html
    with travel(local(clinic, day(1), 17)):
        assert f'href="{reminders.link_for(appointment)}"' in html
    assert_nothing_clinical(html)


def test_the_sms_says_when_and_where_and_nothing_clinical(treated, clinic):
    patient, appointment = treated
    patient.preferred_channel = SMS
    patient.save()
    Reminder.objects.filter(appointment=appointment).update(channel=SMS)
    run_at(local(clinic, day(1), 17))
    (text,) = sms.outbox
    assert text["to"] == PHONE
    assert_says_only_when_and_where(text["body"], appointment, date="Wed 6 Jan")
    assert len(text["body"]) <= 320  # two SMS segments at most


def test_sending_a_batch_costs_the_same_queries_for_5_or_50_reminders(clinic, django_assert_num_queries):
    now = datetime.datetime(2027, 1, 5, 17, tzinfo=UTC)

    def due(count):
        for n in range(count):
            patient = reachable(clinic, by=(EMAIL, SMS)[n % 2])
            appointment = AppointmentFactory(patient=patient, chair=ChairFactory(clinic=clinic),
                                             starts_at=now + datetime.timedelta(days=1, minutes=n))
            Reminder.objects.create(appointment=appointment, kind=(DAY_BEFORE, HOURS_BEFORE)[n % 3 == 0],
                                    channel=patient.preferred_channel, scheduled_for=now - datetime.timedelta(hours=1))

    due(5)
    with travel(now), CaptureQueriesContext(connection) as five:
        assert send_due()["sent"] == 5
    due(50)
    with travel(now), django_assert_num_queries(len(five)):
        assert send_due()["sent"] == 50
    assert len(mail.outbox) + len(sms.outbox) == 55


# --- Maintenance due soon ---------------------------------------------------------------------


@pytest.fixture
def monthly(db):
    template = PlanTemplate.objects.create(name="Test monthly", grace_days=7)
    template.phases.create(order=0, interval_days=28, visits=None)
    return template


def plan_due_on(clinic, template, due_on, **contact):
    return start_plan(patient=reachable(clinic, **contact), protocol=ProtocolFactory(), template=template,
                      started_on=due_on)


def test_a_plan_due_soon_with_nothing_booked_is_nudged_once_per_due_date(clinic, monthly, settings):
    settings.TMS_DUE_SOON_DAYS = 5
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(4), 10)):  # six days ahead: not yet
        assert nudge_due_soon() == 0
    with travel(local(clinic, day(5), 10)):
        assert nudge_due_soon() == 1
        assert nudge_due_soon() == 0
        send_due()
    with travel(local(clinic, day(6), 10)):
        assert nudge_due_soon() == 0
        send_due()
    nudge = Reminder.objects.get(plan=plan)
    assert (nudge.kind, nudge.due_on, nudge.status) == (Reminder.Kind.MAINTENANCE_DUE, day(10), SENT)
    (message,) = messages_to(plan.patient)
    assert message.subject == f"Time to book your next session at {clinic.name}"
    assert "Thursday 14 January" in message.body
    assert plan.protocol.name not in message.body


def test_a_nudge_is_not_repeated_when_the_patient_changes_channel(clinic, monthly):
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(6), 10)):
        nudge_due_soon()
        send_due()
    plan.patient.preferred_channel = SMS
    plan.patient.save()
    with travel(local(clinic, day(7), 10)):
        nudge_due_soon()
        send_due()
    assert Reminder.objects.filter(plan=plan).count() == 1
    assert len(messages_to(plan.patient)) == 1


def test_no_nudge_when_the_next_session_is_booked(chair, clinic, monthly):
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(6), 10)):
        book(plan.patient, chair, local(clinic, day(9), 10), plan=plan)
        assert nudge_due_soon() == 0
    assert not Reminder.objects.filter(plan=plan).exists()


@pytest.mark.parametrize("stop", ["pause", "end"])
def test_no_nudge_for_a_paused_or_ended_plan(clinic, monthly, stop):
    plan = plan_due_on(clinic, monthly, day(10))
    if stop == "pause":
        pause_plan(plan, until=day(8))  # until before the due date: the plan stays paused in the window
    else:
        end_plan(plan, reason="Remission", on=day(1))
    with travel(local(clinic, day(6), 10)):
        assert nudge_due_soon() == 0
    assert MaintenancePlan.objects.get().status != MaintenancePlan.Status.ACTIVE


def test_a_nudge_written_before_the_plan_changed_is_skipped(chair, clinic, monthly):
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(6), 10)):
        nudge_due_soon()
    pause_plan(plan, until=None)
    with travel(local(clinic, day(6), 10, 1)):
        send_due()
    assert Reminder.objects.get(plan=plan).status == SKIPPED
    assert messages_to(plan.patient) == []


# --- Auto no-show -----------------------------------------------------------------------------


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


# --- Staff digest -----------------------------------------------------------------------------


def test_each_clinician_gets_one_digest_of_new_flags_without_patient_names(clinic):
    ana, ben = (staff_user(username=name, role="Clinician", email=f"{name}@clinic.test") for name in ("ana", "ben"))
    staff_user(username="desk", role="Front desk")
    anas = PatientFactory(home_clinic=clinic, primary_clinician=ana, first_name="Zebedee", last_name="Quill")
    bens = PatientFactory(home_clinic=clinic, primary_clinician=ben, first_name="Yolanda", last_name="Prynne")
    nobodys = PatientFactory(home_clinic=clinic, first_name="Xavier", last_name="Oddie")
    PatientFlagFactory(patient=anas, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    PatientFlagFactory(patient=bens, kind=PatientFlag.Kind.SAFETY)
    PatientFlagFactory(patient=nobodys, kind=PatientFlag.Kind.MISSED_APPOINTMENTS)
    assert staff_digest() == 2
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_recipient) == ["ana@clinic.test", "ben@clinic.test"]
    assert "2 new flags" in by_recipient["ana@clinic.test"].subject
    assert "1 × Overdue maintenance" in by_recipient["ana@clinic.test"].body
    assert "1 × Missed appointments" in by_recipient["ana@clinic.test"].body
    assert "Safety" not in by_recipient["ana@clinic.test"].body
    assert "1 × Safety (PHQ-9 item 9)" in by_recipient["ben@clinic.test"].body
    for message in mail.outbox:
        text = message.subject + message.body
        for patient in (anas, bens, nobodys):
            assert patient.first_name not in text and patient.last_name not in text and patient.mrn not in text
        assert "https://clinic.example/staff/" in message.body
    mail.outbox.clear()
    assert staff_digest() == 0
    assert mail.outbox == []
    PatientFlagFactory(patient=anas, kind=PatientFlag.Kind.WORSENING_SYMPTOMS)
    assert staff_digest() == 1
    (message,) = mail.outbox
    assert message.to == ["ana@clinic.test"]
    assert "1 new flag needs attention" in message.subject
