"""Shared set-up for the benchmarks: Django on a throw-away test database, and a timer.

Each benchmark prints its own numbers as ratios measured in the same run, never a pass/fail.
Run them all with `make bench`; set DATABASE_URL to measure on PostgreSQL.
"""

import contextlib
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tmsclinic.settings")
os.environ.setdefault("SECRET_KEY", "benchmarks-only")
os.environ.setdefault("TMS_VAR_DIR", "var/bench")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402


@contextlib.contextmanager
def throwaway_database():
    """A fresh test database (test_… on PostgreSQL, a file under var/bench on SQLite)."""
    config = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        connection.close()
        teardown_databases(config, verbosity=0)


def best_of(function, repeat=7):
    """Median wall time of ``function`` in seconds, after one warm-up call."""
    function()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def report(title, rows):
    print(f"\n{title}  [{connection.vendor}]")
    for label, value in rows:
        print(f"  {label:<52} {value}")


def noon_tomorrow():
    """Noon tomorrow in a clinic five hours behind UTC, as UTC: no message is held by quiet hours."""
    zone = datetime.timezone(datetime.timedelta(hours=-5))
    tomorrow = datetime.datetime.now(zone).date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(tomorrow, datetime.time(12), tzinfo=zone).astimezone(datetime.UTC)


@contextlib.contextmanager
def in_memory_messages():
    """E-mail and SMS kept in memory (django.core.mail.outbox, scheduling.sms.outbox), both empty."""
    from django.core import mail
    from django.test import override_settings

    from scheduling import sms

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
                           TMS_SMS_BACKEND="scheduling.sms.InMemoryBackend"):
        mail.outbox = []
        sms.outbox.clear()
        yield
