"""Outreach cadences (issue 14, part 1): the whole ladder on the clinic's calendar, each stop
condition, quiet hours (a DST week too), consent withdrawn mid-way, reruns and concurrent
workers sending nothing twice. The default cadence is the one migration 0015 writes."""

import datetime
import importlib
import threading

import pytest
import time_machine
from django.apps import apps as global_apps
from django.core import mail
from django.db import connections

from patients.models import OutreachAttempt, Patient, PatientFlag
from scheduling import sms
from scheduling.models import CadenceStep, OutreachCadence, OutreachMessage, OutreachTemplate
from scheduling.services import outreach
from tests.factories import AppointmentFactory, ChairFactory, PatientFactory, PatientFlagFactory

SENT, SKIPPED, PENDING = OutreachMessage.Status.SENT, OutreachMessage.Status.SKIPPED, OutreachMessage.Status.PENDING


def default_cadences():
    """Transactional tests flush migration data: the migration's own function writes it again."""
    module = importlib.import_module("scheduling.migrations.0015_default_cadences")
    module.create_default_cadences(global_apps, None)


@pytest.fixture(autouse=True)
def backends(settings, db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    settings.TMS_QUIET_HOURS = "21:00-08:00"
    sms.outbox.clear()
    default_cadences()
    yield
    sms.outbox.clear()


def at(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def run_at(moment):
    with time_machine.travel(moment, tick=False):
        return outreach.run()


def jan(day):
    return datetime.date(2027, 1, day)


@pytest.fixture
def flagged(clinic):
    """Ada prefers SMS and agreed to both channels; her overdue flag was raised on Tuesday 19
    January 2027 at 14:00 in New York."""
    clinic.phone = "+12125550123"
    clinic.save()
    patient = PatientFactory(home_clinic=clinic, first_name="Ada", phone="+12125550147", preferred_channel="sms",
                             sms_consent=True, email_consent=True)
    return PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                              raised_at=at(clinic, jan(19), 14), due_on=jan(11))


def ledger(flag):
    return list(OutreachMessage.objects.filter(flag=flag).order_by("scheduled_for", "pk")
                .values_list("step_day", "channel", "status"))


def test_the_whole_ladder(clinic, flagged):
    run_at(at(clinic, jan(19), 14, 5))  # day 0: by SMS, the preferred channel
    assert [m["to"] for m in sms.outbox] == ["+12125550147"]
    assert "Hi Ada" in sms.outbox[0]["body"] and "/portal/back/" in sms.outbox[0]["body"]
    assert "Monday 11 January" in sms.outbox[0]["body"] and sms.outbox[0]["body"].endswith("Reply STOP to stop "
                                                                                           "these messages.")
    run_at(at(clinic, jan(20), 10))  # day 1: nothing
    run_at(at(clinic, jan(21), 23))  # day 2 late: nothing
    counts = run_at(at(clinic, jan(22), 0, 30))  # day 3 begins in quiet hours: held until 08:00
    assert counts["held"] == 1 and mail.outbox == []
    [held] = OutreachMessage.objects.filter(flag=flagged, status=PENDING)
    assert held.scheduled_for == at(clinic, jan(22), 8)
    run_at(at(clinic, jan(22), 8))  # day 3: by e-mail, the other channel
    [email] = mail.outbox
    assert email.to == [flagged.patient.email] and "/portal/back/" in email.body
    run_at(at(clinic, jan(26), 9))  # day 7: a call task, no message
    run_at(at(clinic, jan(27), 9))
    run_at(at(clinic, jan(19) + datetime.timedelta(days=15), 9))  # the last step's window is over: nothing more
    assert len(sms.outbox) == 1 and len(mail.outbox) == 1
    assert ledger(flagged) == [(0, "sms", SENT), (3, "email", SENT), (7, "call", SENT)]
    # Each message is logged on the worklist as an outreach attempt; the call task is not (staff log their call).
    assert list(OutreachAttempt.objects.filter(flag=flagged).order_by("at").values_list("channel", "outcome")) == [
        ("sms", "sent"), ("email", "sent")]


def test_running_twice_sends_once(clinic, flagged):
    run_at(at(clinic, jan(19), 15))
    run_at(at(clinic, jan(19), 15))
    run_at(at(clinic, jan(19), 16))
    assert len(sms.outbox) == 1 and ledger(flagged) == [(0, "sms", SENT)]


def book(patient):
    chair = ChairFactory(clinic=patient.home_clinic)
    return AppointmentFactory(patient=patient, chair=chair, kind="maintenance",
                              starts_at=at(patient.home_clinic, jan(28), 10))


def resolve(flag):
    flag.resolved_at = at(flag.patient.home_clinic, jan(20), 9)
    flag.save()


def opt_out(flag):
    outreach.opt_out(flag.patient)


def discharge(flag):
    Patient.objects.filter(pk=flag.patient_id).update(status=Patient.Status.DISCHARGED)


@pytest.mark.parametrize("stop", [lambda f: book(f.patient), resolve, opt_out, discharge],
                         ids=["booked", "resolved", "opted out", "discharged"])
def test_each_stop_condition_ends_the_ladder(clinic, flagged, stop):
    run_at(at(clinic, jan(19), 15))
    stop(flagged)
    for day in (22, 26):
        run_at(at(clinic, jan(day), 10))
    assert len(sms.outbox) == 1 and mail.outbox == []
    assert ledger(flagged) == [(0, "sms", SENT)]


@pytest.mark.parametrize(("stop", "reason"), [
    (lambda f: book(f.patient), "The patient has booked a visit."),
    (resolve, "The flag was resolved."),
    (opt_out, "The patient asked for no more of these messages."),
], ids=["booked", "resolved", "opted out"])
def test_a_message_held_for_the_morning_is_not_sent_once_the_patient_stopped(clinic, flagged, stop, reason):
    run_at(at(clinic, jan(19), 15))
    run_at(at(clinic, jan(22), 1))  # armed, held until 08:00
    stop(flagged)
    run_at(at(clinic, jan(22), 8))
    assert mail.outbox == []
    message = OutreachMessage.objects.get(flag=flagged, step_day=3)
    assert (message.status, message.last_error) == (SKIPPED, reason)


def test_consent_withdrawn_midway(clinic, flagged):
    run_at(at(clinic, jan(19), 15))
    Patient.objects.filter(pk=flagged.patient_id).update(email_consent=False)
    run_at(at(clinic, jan(22), 9))  # "the other channel" is not allowed: the consented one again
    assert len(sms.outbox) == 2 and mail.outbox == []
    Patient.objects.filter(pk=flagged.patient_id).update(sms_consent=False)
    OutreachMessage.objects.create(flag=flagged, patient=flagged.patient, channel="sms",
                                   scheduled_for=flagged.raised_at, template=OutreachTemplate.objects.first())
    run_at(at(clinic, jan(22), 10))  # sent by hand earlier, consent since withdrawn: skipped
    assert len(sms.outbox) == 2
    assert OutreachMessage.objects.get(flag=flagged, step=None).status == SKIPPED


def test_no_consent_at_all_skips_messages_but_keeps_the_call_task(clinic, flagged):
    Patient.objects.filter(pk=flagged.patient_id).update(email_consent=False, sms_consent=False)
    for moment in (at(clinic, jan(19), 15), at(clinic, jan(22), 9), at(clinic, jan(26), 9)):
        run_at(moment)
    assert sms.outbox == [] and mail.outbox == []
    assert ledger(flagged) == [(0, "sms", SKIPPED), (3, "sms", SKIPPED), (7, "call", SENT)]


def test_a_snoozed_flag_waits_and_skips_the_steps_it_slept_through(clinic, flagged):
    PatientFlag.objects.filter(pk=flagged.pk).update(snoozed_until=jan(25))
    for day in (19, 22, 25):
        run_at(at(clinic, jan(day), 10))
    assert ledger(flagged) == []
    run_at(at(clinic, jan(26), 10))  # day 7: only the call task; days 0 and 3 are not sent late
    assert ledger(flagged) == [(7, "call", SENT)] and sms.outbox == []


def test_quiet_hours_in_a_dst_week(clinic, flagged):
    """Day 3 is Sunday 14 March 2027, when New York moves to summer time at 02:00: the held
    message goes at 08:00 summer time, which is 12:00 UTC, not 13:00."""
    PatientFlag.objects.filter(pk=flagged.pk).update(raised_at=at(clinic, datetime.date(2027, 3, 11), 14))
    run_at(at(clinic, datetime.date(2027, 3, 11), 15))
    run_at(at(clinic, datetime.date(2027, 3, 14), 0, 30))
    held = OutreachMessage.objects.get(flag=flagged, step_day=3)
    assert held.status == PENDING
    assert held.scheduled_for == datetime.datetime(2027, 3, 14, 12, tzinfo=datetime.UTC)
    run_at(datetime.datetime(2027, 3, 14, 11, 59, tzinfo=datetime.UTC))
    assert mail.outbox == []
    run_at(datetime.datetime(2027, 3, 14, 12, tzinfo=datetime.UTC))
    assert len(mail.outbox) == 1


def test_a_clinics_own_cadence_wins_over_the_default(clinic, flagged):
    own = OutreachCadence.objects.create(name="Riverside", flag_kind="overdue_maintenance", clinic=clinic)
    CadenceStep.objects.create(cadence=own, day=1, action="call")
    run_at(at(clinic, jan(19), 15))
    run_at(at(clinic, jan(20), 15))
    assert ledger(flagged) == [(1, "call", SENT)] and sms.outbox == []


def test_a_switched_off_cadence_sends_nothing(clinic, flagged):
    OutreachCadence.objects.update(active=False)
    run_at(at(clinic, jan(19), 15))
    assert ledger(flagged) == []


def test_missed_appointments_flags_have_their_own_ladder(clinic, flagged):
    PatientFlag.objects.filter(pk=flagged.pk).update(kind=PatientFlag.Kind.MISSED_APPOINTMENTS)
    run_at(at(clinic, jan(19), 15))
    assert "we missed you" in sms.outbox[0]["body"].lower()


def test_a_transient_failure_is_retried_and_a_permanent_one_is_not(clinic, flagged, settings, monkeypatch):
    calls = []

    def failing(self, to, body):
        calls.append(to)
        raise (sms.TransientSendError if len(calls) == 1 else sms.PermanentSendError)("provider says no")

    monkeypatch.setattr(sms.InMemoryBackend, "send", failing)
    run_at(at(clinic, jan(19), 15))
    message = OutreachMessage.objects.get(flag=flagged)
    assert message.status == PENDING and message.scheduled_for > at(clinic, jan(19), 15)
    run_at(at(clinic, jan(19), 16))
    message.refresh_from_db()
    assert (message.status, message.last_error, len(calls)) == ("failed", "provider says no", 2)
    assert not OutreachAttempt.objects.filter(flag=flagged).exists()


# --- Templates --------------------------------------------------------------------------------


def test_templates_fill_only_known_placeholders():
    values = {"first_name": "Ada", "clinic": "Riverside", "clinic_phone": "(212) 555-0123", "due_on": "Monday",
              "link": "https://x/"}
    assert outreach.fill("Hi {first_name} at {clinic}: {link} {{literal}}", values) == \
        "Hi Ada at Riverside: https://x/ {literal}"
    # An attribute or unknown name is left as written, never looked up.
    assert outreach.fill("{clinic.__class__} {secret} {first_name!r}", values) == \
        "{clinic.__class__} {secret} {first_name!r}"


@pytest.mark.parametrize(("body", "error"), [
    ("Hi {name}", "Unknown placeholder {name}"),
    ("Hi {first_name", "A brace is not closed"),
    ("Hi {clinic.__class__}", "Unknown placeholder {clinic.__class__}"),
])
def test_admin_is_told_of_a_bad_placeholder(body, error):
    from django.core.exceptions import ValidationError

    template = OutreachTemplate(name="Bad", subject="Hello", body=body)
    with pytest.raises(ValidationError) as raised:
        template.full_clean()
    assert error in str(raised.value.message_dict["body"])


def test_the_default_templates_are_valid():
    for template in OutreachTemplate.objects.all():
        template.full_clean()
    assert OutreachTemplate.objects.count() >= 4


# --- Two workers at once (PostgreSQL) ---------------------------------------------------------

FLAGS = 60


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_each_step_once(clinic):
    default_cadences()
    raised = at(clinic, jan(19), 14)
    patients = Patient.objects.bulk_create(
        Patient(mrn=f"O{n:04d}", first_name="Out", last_name=str(n), date_of_birth=datetime.date(1980, 1, 1),
                home_clinic=clinic, phone=f"+1212555{n:04d}", email=f"o{n}@patients.test", sms_consent=True,
                email_consent=True, preferred_channel=("sms", "email")[n % 2])
        for n in range(FLAGS))
    PatientFlag.objects.bulk_create(PatientFlag(patient=p, kind="overdue_maintenance", raised_at=raised)
                                    for p in patients)
    barrier = threading.Barrier(4)
    errors = []

    def work():
        try:
            barrier.wait()
            outreach.run()
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    with time_machine.travel(at(clinic, jan(19), 15), tick=False):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    # Each patient heard exactly once, by their own channel: counted from the backends' outboxes.
    recipients = [m["to"] for m in sms.outbox] + [m.to[0] for m in mail.outbox]
    assert len(recipients) == len(set(recipients)) == FLAGS
    assert OutreachMessage.objects.filter(status=SENT).count() == FLAGS
    assert OutreachAttempt.objects.count() == FLAGS
