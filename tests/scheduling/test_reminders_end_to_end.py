"""A real Celery worker process sends a reminder booked through ``book_appointment``, once.

The worker runs on whatever broker the settings name: Redis when REDIS_URL is set (CI), else
the embedded file-system broker, which needs no server, so this test runs everywhere.
"""

import collections
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from scheduling.models import Appointment, Reminder
from scheduling.services import book_appointment
from scheduling.tasks import send_due_reminders
from tests.conftest import needs
from tests.factories import ChairFactory, ClinicFactory, OpeningHoursFactory, PatientFactory
from tmsclinic.celery import app
from tmsclinic.tasks import HEARTBEAT_KEY, heartbeat

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+12125550147"
CLINIC_NAME = "Harbour Light TMS"


# --- Helpers (test_broker_outage uses them too) -------------------------------------------------


def database_url_for_a_worker():
    """The database this test runs on, for another process: pytest-django's ``test_…``
    database, or on SQLite its file (under TMS_VAR_DIR)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    login = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{login}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def start_worker(log_path, name="worker", **env):
    """``celery -A tmsclinic worker --pool=solo`` on the test database, its output in ``log_path``
    (a pipe nobody reads would fill up and stall the worker)."""
    env = {**os.environ, "DATABASE_URL": database_url_for_a_worker(), **env}
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tmsclinic", "worker", "--pool=solo", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(condition, *, seconds, what, worker=None, log_path=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if worker is not None and worker.poll() is not None:
            break
        time.sleep(0.1)
    log = Path(log_path).read_text()[-4000:] if log_path else ""
    pytest.fail(f"{what} did not happen within {seconds} s; the worker said:\n{log}")


def sms_sent_to(path, phone):
    if not path.exists():
        return []
    return [message for message in map(json.loads, path.read_text().splitlines()) if message["to"] == phone]


def zone_where_it_is_midday(now):
    """A fixed-offset zone where ``now`` is between 12:00 and 13:00, whenever the test runs: a
    reminder due now is outside SMS quiet hours, and a session two hours on fits in the day."""
    ahead = 12 - now.astimezone(datetime.UTC).hour
    return f"Etc/GMT{-ahead:+d}"  # POSIX signs: Etc/GMT-3 is three hours ahead of UTC


def patient_and_chair(channel=Reminder.Channel.SMS):
    """A patient reminded by ``channel`` only, and a chair at their clinic, which is open all day."""
    clinic = ClinicFactory(name=CLINIC_NAME, time_zone=zone_where_it_is_midday(timezone.now()))
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 59))
    patient = PatientFactory(home_clinic=clinic, phone=PHONE, preferred_channel=channel,
                             sms_consent=channel == Reminder.Channel.SMS,
                             email_consent=channel == Reminder.Channel.EMAIL)
    return patient, ChairFactory(clinic=clinic)


def book_with_a_reminder_due_in(seconds, patient, chair):
    """Book a consultation whose hours-before reminder falls due ``seconds`` from now (one
    already due when booked is skipped, not sent)."""
    hours = datetime.timedelta(hours=settings.TMS_REMINDER_HOURS_BEFORE, seconds=seconds)
    return book_appointment(patient=patient, chair=chair, starts_at=timezone.now() + hours,
                            kind=Appointment.Kind.CONSULT, booked_by=None)


def the_reminder(appointment):
    """The appointment's hours-before reminder; the day-before one was due before it was booked."""
    rows = {row.kind: row for row in Reminder.objects.filter(appointment=appointment)}
    assert rows[Reminder.Kind.DAY_BEFORE].status == Reminder.Status.SKIPPED
    return rows[Reminder.Kind.HOURS_BEFORE]


def broker_answers():
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        return True
    except Exception:
        return False


# --- The test ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the worker reads what this test committed
def test_a_worker_process_sends_a_booked_reminder_exactly_once(tmp_path):
    needs(broker_answers(), f"needs the Celery broker at {settings.CELERY_BROKER_URL}")
    sms_file, log_path = tmp_path / "sms.jsonl", tmp_path / "worker.log"
    appointment = book_with_a_reminder_due_in(3, *patient_and_chair())
    reminder = the_reminder(appointment)
    assert reminder.status == Reminder.Status.PENDING and reminder.channel == Reminder.Channel.SMS

    worker = start_worker(log_path, TMS_SMS_BACKEND="scheduling.sms.FileBackend", TMS_SMS_FILE_PATH=str(sms_file))
    try:
        while timezone.now() < reminder.scheduled_for:
            time.sleep(0.1)
        send_due_reminders.delay()  # as beat does every minute
        wait_for(lambda: sms_sent_to(sms_file, PHONE), seconds=60, what="the SMS", worker=worker, log_path=log_path)

        # Beat's next run changes nothing. The heartbeat queued behind it tells when it is done.
        cache.delete(HEARTBEAT_KEY)
        send_due_reminders.delay()
        heartbeat.delay()
        wait_for(lambda: cache.get(HEARTBEAT_KEY), seconds=60, what="the second run", worker=worker,
                 log_path=log_path)
    finally:
        stop(worker)

    [sms] = sms_sent_to(sms_file, PHONE)
    assert sms["body"].startswith(f"{CLINIC_NAME}: reminder of your appointment")
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT and reminder.attempts == 1 and reminder.sent_at is not None


# --- Several workers sharing a backlog ----------------------------------------------------------

WORKERS, BACKLOG, BATCH = 3, 90, 10
# What a worker logs of each run: "Task scheduling.tasks.send_due_reminders[…] succeeded in
# 0.05s: {'sent': 10, …}".
RUN_SENT = re.compile(r"send_due_reminders\[[^]]+\] succeeded in [^:]+: \{'sent': (\d+)")


def a_backlog_of_due_sms(count):
    """``count`` patients, each with an SMS reminder due a minute ago about a session in two days."""
    clinic = ClinicFactory(name=CLINIC_NAME, time_zone=zone_where_it_is_midday(timezone.now()))
    chairs = [ChairFactory(clinic=clinic, name=f"Chair {n}") for n in range(4)]
    now = timezone.now()
    patients = []
    for n in range(count):
        patient = PatientFactory(home_clinic=clinic, phone=f"+1212555{n:04d}", preferred_channel=Reminder.Channel.SMS,
                                 sms_consent=True)
        starts_at = now + datetime.timedelta(days=2, hours=n // 4)
        appointment = Appointment.objects.create(
            patient=patient, clinic=clinic, chair=chairs[n % 4], kind=Appointment.Kind.MAINTENANCE,
            starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=45))
        Reminder.objects.create(appointment=appointment, kind=Reminder.Kind.DAY_BEFORE,
                                channel=Reminder.Channel.SMS, scheduled_for=now - datetime.timedelta(minutes=1))
        patients.append(patient)
    return patients


@pytest.mark.django_db(transaction=True)
def test_several_worker_processes_share_a_backlog_and_send_each_reminder_once(tmp_path):
    # Scale-out is Redis's (README, Scaling out): the embedded default's file-system broker is
    # polled once a second, so there one worker may send a small backlog before the others look.
    needs(settings.CELERY_BROKER_URL.startswith("redis") and broker_answers(),
          f"shares a backlog between workers through Redis, not {settings.CELERY_BROKER_URL.split(':')[0]}")
    patients = a_backlog_of_due_sms(BACKLOG)
    sms_file = tmp_path / "sms.jsonl"
    logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
    workers = [start_worker(log, name=f"w{n}", TMS_SMS_BACKEND="scheduling.sms.FileBackend",
                            TMS_SMS_FILE_PATH=str(sms_file), TMS_REMINDER_BATCH=str(BATCH))
               for n, log in enumerate(logs)]
    try:
        for worker, log in zip(workers, logs, strict=True):
            wait_for(lambda log=log: " ready." in log.read_text(), seconds=60, what="the worker's start",
                     worker=worker, log_path=log)
        send_due_reminders.delay()  # one run, as beat starts it: the others are handed on
        wait_for(lambda: not Reminder.objects.exclude(status=Reminder.Status.SENT).exists(), seconds=120,
                 what="sending the backlog", worker=workers[0], log_path=logs[0])
        # The last run, which found a batch that was not full, is logged once it is over.
        wait_for(lambda: sum(sum(map(int, RUN_SENT.findall(log.read_text()))) for log in logs) == BACKLOG,
                 seconds=30, what="the runs' logs", worker=workers[0], log_path=logs[0])
    finally:
        for worker in workers:
            stop(worker)

    received = collections.Counter(message["to"] for message in map(json.loads, sms_file.read_text().splitlines()))
    assert received == {str(patient.phone): 1 for patient in patients}
    outcomes = collections.Counter(Reminder.objects.values_list("status", "attempts"))
    assert outcomes == {(Reminder.Status.SENT, 1): BACKLOG}
    sent_by = [sum(map(int, RUN_SENT.findall(log.read_text()))) for log in logs]
    assert sum(sent_by) == BACKLOG
    # Nine hand-ons, each taken by a worker that was idle: more than one worker did the work.
    assert sum(1 for sent in sent_by if sent) >= 2, sent_by
