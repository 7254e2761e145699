"""Four workers sending reminders at once, on real PostgreSQL: each reminder goes out once.

Each thread has its own database connection; a barrier releases them together.
"""

import collections
import datetime
import threading
import time

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone

from patients.models import Patient
from scheduling import sms
from scheduling.models import Appointment, Reminder
from scheduling.services import reminders
from tests.factories import ChairFactory, ClinicFactory

WORKERS = 4
REMINDERS = 200
pytestmark = pytest.mark.usefixtures("on_postgres")


@pytest.fixture
def due(transactional_db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    # The test runs at whatever time it is in the clinic: no quiet hours, so nothing is held.
    settings.TMS_QUIET_HOURS = "00:00-00:00"
    sms.outbox.clear()
    clinic = ClinicFactory(time_zone="America/New_York")
    chairs = [ChairFactory(clinic=clinic, name=f"Chair {n}") for n in range(4)]
    patients = Patient.objects.bulk_create(
        Patient(mrn=f"C{n:05d}", first_name="Con", last_name=str(n), date_of_birth=datetime.date(1980, 1, 1),
                home_clinic=clinic, email=f"c{n}@patients.test", phone=f"+1212555{n:04d}",
                email_consent=True, sms_consent=True, preferred_channel=("email", "sms")[n % 2])
        for n in range(REMINDERS)
    )
    now = timezone.now()
    first = now.replace(microsecond=0) + datetime.timedelta(days=2)
    appointments = Appointment.objects.bulk_create(
        Appointment(patient=patient, clinic=clinic, chair=chairs[n % 4], kind=Appointment.Kind.MAINTENANCE,
                    starts_at=first + datetime.timedelta(hours=n // 4),
                    ends_at=first + datetime.timedelta(hours=n // 4, minutes=45))
        for n, patient in enumerate(patients)
    )
    Reminder.objects.bulk_create(
        Reminder(appointment=appointment, kind=(Reminder.Kind.DAY_BEFORE, Reminder.Kind.HOURS_BEFORE)[n % 2],
                 channel=appointment.patient.preferred_channel, scheduled_for=now - datetime.timedelta(minutes=1))
        for n, appointment in enumerate(appointments)
    )
    yield patients
    sms.outbox.clear()


def run_workers(count):
    """``send_due`` in ``count`` threads released together; returns how many each sent and
    the errors they raised."""
    barrier = threading.Barrier(count)
    sent, errors = [], []

    def work():
        try:
            barrier.wait()
            sent.append(reminders.send_due()["sent"])
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return sent, errors


def deliveries(patients):
    """How many messages each patient received, by e-mail and SMS together."""
    received = collections.Counter(message.to[0] for message in mail.outbox)
    received.update(text["to"] for text in sms.outbox)
    return [received[p.email] + received[str(p.phone)] for p in patients]


@pytest.mark.parametrize("batch", [reminders.BATCH, 7])
def test_four_workers_at_once_then_another_deliver_each_reminder_once(due, monkeypatch, batch):
    # Small batches make the workers take turns many times within one run.
    monkeypatch.setattr(reminders, "BATCH", batch)
    sent, errors = run_workers(WORKERS)
    assert errors == []
    assert sum(sent) == REMINDERS
    assert run_workers(1) == ([0], [])
    assert deliveries(due) == [1] * REMINDERS
    assert len(mail.outbox) + len(sms.outbox) == REMINDERS
    statuses = collections.Counter(Reminder.objects.values_list("status", "attempts"))
    assert statuses == {(Reminder.Status.SENT, 1): REMINDERS}


def naive_claim(now):
    """Read what is due, then mark it, with no lock and no check: the bug the real claim must
    not have."""
    ids = list(Reminder.objects.filter(status=Reminder.Status.PENDING, scheduled_for__lte=now)
               .values_list("pk", flat=True)[:reminders.BATCH])
    time.sleep(0.05)  # the time a worker spends between reading and marking
    Reminder.objects.filter(pk__in=ids).update(status=Reminder.Status.SENDING, claimed_at=now)
    return ids


def test_negative_control_the_race_catches_a_claim_without_a_conditional_update(due, monkeypatch):
    monkeypatch.setattr(reminders, "_claim", naive_claim)
    sent, errors = run_workers(WORKERS)
    assert errors == []
    assert max(deliveries(due)) > 1
