"""send_due: each due reminder goes out once, on time in the clinic's zone, never in quiet
hours, never about a session that has begun; errors are retried or failed by kind, and the
messages say when and where and nothing clinical."""

import datetime
import re
import smtplib
import socket

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling import sms
from scheduling.models import Appointment, Reminder
from scheduling.services import reminders
from scheduling.services.reminders import appointment_from_link, send_due
from tests.factories import AppointmentFactory, ChairFactory, ProtocolFactory, TreatmentCourseFactory
from tests.scheduling.services.reminders.helpers import (
    DAY_BEFORE,
    EMAIL,
    FAILED,
    HOURS_BEFORE,
    MONDAY,
    PENDING,
    PHONE,
    SENDING,
    SENT,
    SKIPPED,
    SMS,
    UTC,
    book,
    booked_on_monday,
    day,
    local,
    messages_to,
    reachable,
    rows,
    run_at,
    travel,
)

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


def test_a_reminder_claimed_for_an_appointment_no_longer_booked_is_skipped(chair, clinic):
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 10))
    # Changed by a path that does not disarm: the send still looks at the appointment.
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.CANCELLED)
    run_at(local(clinic, day(1), 17))
    assert mail.outbox == []
    assert rows(appointment)[DAY_BEFORE].last_error == "The appointment is cancelled."


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
    settings.TMS_SMS_BACKEND = "tests.scheduling.services.reminders.test_send_due_reminders.FlakySMS"
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
    settings.EMAIL_BACKEND = f"tests.scheduling.services.reminders.test_send_due_reminders.{backend}"
    FailingMail.error = error
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 10))
    run_at(local(clinic, day(1), 17))
    reminder = rows(appointment)[DAY_BEFORE]
    assert (reminder.status, reminder.attempts) == (outcome, 1)
    assert reminder.last_error
    # Only the one due reminder was touched, and nothing is left claimed.
    assert not Reminder.objects.filter(status=SENDING).exists()


def test_a_permanent_error_fails_at_once_with_the_reason(chair, clinic, settings):
    settings.TMS_SMS_BACKEND = "tests.scheduling.services.reminders.test_send_due_reminders.RefusingSMS"
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 10))
    assert run_at(local(clinic, day(1), 17))["failed"] == 1
    reminder = rows(appointment)[DAY_BEFORE]
    assert (reminder.status, reminder.attempts, reminder.last_error) == (FAILED, 1, "21211 invalid 'To' number")
    run_at(local(clinic, day(1), 18))
    reminder.refresh_from_db()
    assert reminder.attempts == 1


def test_an_unexpected_error_on_one_reminder_does_not_strand_the_rest_of_the_batch(chair, clinic, settings):
    settings.TMS_SMS_BACKEND = "tests.scheduling.services.reminders.test_send_due_reminders.BrokenForOneNumberSMS"
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
    settings.TMS_SMS_BACKEND = "tests.scheduling.services.reminders.test_send_due_reminders.OutOfTimeSMS"
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
    # The sweep for stuck rows; the claim (read, mark); the rows; the superseded check; one
    # UPDATE for every row sent (messaging.save_outcomes).
    assert [query["sql"].split()[0] for query in five.captured_queries if "SAVEPOINT" not in query["sql"]] == [
        "UPDATE", "SELECT", "UPDATE", "SELECT", "SELECT", "UPDATE"], five.captured_queries
    due(50)
    with travel(now), django_assert_num_queries(len(five)):
        assert send_due()["sent"] == 50
    assert len(mail.outbox) + len(sms.outbox) == 55
