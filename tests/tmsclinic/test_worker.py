"""A real Celery worker process, on whatever broker the settings name: Redis when REDIS_URL
is set (CI), else the embedded file-system broker."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from tests.conftest import needs
from tmsclinic.celery import app
from tmsclinic.tasks import HEARTBEAT_KEY, heartbeat

ROOT = Path(__file__).resolve().parents[2]


def broker_is_up():
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        return True
    except Exception:
        return False


@pytest.fixture
def worker():
    needs(broker_is_up(), f"needs the Celery broker at {settings.CELERY_BROKER_URL}")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tmsclinic", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_worker_runs_the_heartbeat_and_healthz_reports_it(worker, client, db, settings):
    settings.TMS_HEALTHZ_TOKEN = "monitor-token"
    cache.delete(HEARTBEAT_KEY)
    heartbeat.delay()
    deadline = time.monotonic() + 60
    while cache.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.2)
    if cache.get(HEARTBEAT_KEY) is None:
        worker.terminate()
        pytest.fail("the worker never ran the task:\n" + worker.communicate(timeout=20)[0][-3000:])
    details = client.get("/healthz", headers={"Authorization": "Bearer monitor-token"}).json()
    assert details["worker_last_seen"] == cache.get(HEARTBEAT_KEY)
