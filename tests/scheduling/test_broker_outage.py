"""When Redis is down or hangs, booking still answers within 2 seconds, the reminder waits in
the ledger, and it goes out, once, when a worker runs again."""

import datetime
import importlib.util
import logging
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis
import time_machine
from celery import Celery
from django.core import mail
from django.utils import timezone

from scheduling.models import Reminder
from scheduling.tasks import send_due_reminders
from tests.conftest import needs
from tests.scheduling.test_reminders_end_to_end import (
    PHONE,
    ROOT,
    book_with_a_reminder_due_in,
    patient_and_chair,
    sms_sent_to,
    start_worker,
    stop,
    the_reminder,
    wait_for,
)

# What the spec allows a booking while the broker is away; publishing synchronously would take
# 2 s against a closed port and 5 s against a hung one with the production timeouts.
BOOKING_BUDGET = 2.0


def celery_app_for(redis_url, monkeypatch):
    """A Celery app configured as a deploy with ``REDIS_URL=redis_url`` is: the settings module
    evaluated afresh with that variable, so the broker timeouts are production's whatever
    broker this test run uses."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    spec = importlib.util.spec_from_file_location("deploy_settings", ROOT / "tmsclinic" / "settings.py")
    deploy_settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deploy_settings)
    app = Celery("tmsclinic", set_as_current=False)
    app.config_from_object(deploy_settings, namespace="CELERY")
    assert app.conf.broker_url == redis_url and app.conf.broker_transport_options["socket_timeout"]
    return app


class HungServer:
    """Accepts connections on a local port and never answers: a Redis that hangs."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.socket.accept()[0])
            except OSError:  # closed
                return

    def close(self):
        self.socket.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(params=["closed port", "hung server"])
def broker_away(request, monkeypatch):
    """Point enqueue_after_commit at a Redis that refuses connections or never answers."""
    server = HungServer() if request.param == "hung server" else None
    url = f"redis://127.0.0.1:{server.port if server else 1}/0"
    app = celery_app_for(url, monkeypatch)
    monkeypatch.setattr("tmsclinic.celery.app", app)
    yield server
    app.close()
    if server:
        server.close()


def publishing_gave_up(caplog):
    return any(record.getMessage().startswith("could not enqueue") for record in caplog.records)


def test_booking_answers_in_time_and_the_reminder_goes_out_once_the_worker_runs(
    db, broker_away, caplog, django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.WARNING, logger="scheduling.reminders")
    patient, chair = patient_and_chair(Reminder.Channel.EMAIL)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):  # the commit, and what follows it
        appointment = book_with_a_reminder_due_in(30, patient, chair)
    assert time.monotonic() - started < BOOKING_BUDGET

    # The reminder is due within a minute, so a worker was asked at once: in the background,
    # publishing tried the broker and gave up, within the short timeouts.
    wait_for(lambda: publishing_gave_up(caplog), seconds=30, what="giving up on the broker")
    if broker_away is not None:
        assert broker_away.accepted, "the hung server was never asked"
    reminder = the_reminder(appointment)
    assert reminder.status == Reminder.Status.PENDING

    # The worker runs again (beat sends the task every minute): the reminder goes out, once.
    with time_machine.travel(reminder.scheduled_for + datetime.timedelta(seconds=1)):
        send_due_reminders.apply()
        send_due_reminders.apply()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [appointment.patient.email]
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT


# --- A real outage: a Redis of the test's own is stopped under a running worker ------------------


def free_port():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def start_redis(port, tmp_path):
    process = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=1)
    wait_for(lambda: _answers(client), seconds=20, what=f"redis-server on port {port} starting")
    return process


def _answers(client):
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.mark.django_db(transaction=True)  # the worker reads what this test committed
def test_a_worker_outlives_a_redis_outage_and_then_sends_what_waited(tmp_path, monkeypatch):
    needs(shutil.which("redis-server"), "needs redis-server on PATH, to stop and start a Redis of its own")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    sms_file, log_path = tmp_path / "sms.jsonl", tmp_path / "worker.log"
    app = celery_app_for(url, monkeypatch)
    monkeypatch.setattr("tmsclinic.celery.app", app)
    redis_server = start_redis(port, tmp_path)
    worker = start_worker(log_path, REDIS_URL=url, TMS_SMS_BACKEND="scheduling.sms.FileBackend",
                          TMS_SMS_FILE_PATH=str(sms_file))
    try:
        wait_for(lambda: " ready." in log_path.read_text(), seconds=60, what="the worker starting", worker=worker,
                 log_path=log_path)
        stop(redis_server)

        patient, chair = patient_and_chair()
        started = time.monotonic()
        appointment = book_with_a_reminder_due_in(3, patient, chair)
        assert time.monotonic() - started < BOOKING_BUDGET
        reminder = the_reminder(appointment)
        assert reminder.status == Reminder.Status.PENDING

        # The worker keeps trying to reconnect instead of exiting after a retry or two.
        wait_for(lambda: log_path.read_text().count("Cannot connect to redis") >= 2, seconds=30,
                 what="the worker retrying", worker=worker, log_path=log_path)
        assert worker.poll() is None, log_path.read_text()[-4000:]

        redis_server = start_redis(port, tmp_path)
        while timezone.now() < reminder.scheduled_for:
            time.sleep(0.1)
        app.send_task("scheduling.tasks.send_due_reminders")  # beat's next run
        wait_for(lambda: sms_sent_to(sms_file, PHONE), seconds=60, what="the SMS after the outage", worker=worker,
                 log_path=log_path)
    finally:
        stop(worker)
        stop(redis_server)
        app.close()

    assert len(sms_sent_to(sms_file, PHONE)) == 1
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT
