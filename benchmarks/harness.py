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
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402


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


class Counted:
    """Counts the queries run inside it (CaptureQueriesContext keeps only the last 9 000)."""

    def __enter__(self):
        self.count = 0
        self.wrapper = connection.execute_wrapper(self)
        self.wrapper.__enter__()
        return self

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self.wrapper.__exit__(*exc)

    def __len__(self):
        return self.count


def captured():
    """The queries run inside it, with the transactions' BEGIN and COMMIT (as the suite's pins count)."""
    return CaptureQueriesContext(connection)


def queries_at_sizes(sizes, build, run, count=captured):
    """A job's queries at each of ``sizes``, to show they grow by batch, not by row: for each
    size ``build(size, offset)`` lays down that many new items (``offset``: how many the sizes
    before took) and ``run(size)`` handles them, counted by ``count()``. Returns
    ``{size: queries}`` and the offset for what is built next."""
    queries_for, offset = {}, 0
    for size in sizes:
        build(size, offset)
        offset += size
        with count() as counted:
            run(size)
        queries_for[size] = len(counted)
    return queries_for, offset
