"""20 000 due reminders (half e-mail, half SMS) sent by 1, 2 and 4 real Celery worker processes
(`celery -A tmsclinic worker`, prefork, one process each) on PostgreSQL and Redis: each reminder
exactly once, counted in cross-process sinks (the file SMS backend, Django's file-based e-mail
backend) and in the rows, and the throughput per worker count with its speed-up over one.

One run of send_due_reminders is enqueued, as beat does; each run that claims a full batch
enqueues another before sending it, so idle workers claim the next batches (SKIP LOCKED).
Needs DATABASE_URL (PostgreSQL) and REDIS_URL; without them it says why and exits 0.
BENCH_SCALEOUT_REMINDERS and BENCH_SCALEOUT_WORKERS (e.g. "1,2") change the sizes."""

import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) or not os.environ.get(
        "REDIS_URL"):
    print("\nbench_reminders_scaleout: not run: it needs PostgreSQL and Redis (set DATABASE_URL=postgres://… "
          "and REDIS_URL=redis://…); several worker processes cannot share SQLite and the file broker fairly.")
    sys.exit(0)

from harness import ROOT, report, throwaway_database  # noqa: E402

REMINDERS = int(os.environ.get("BENCH_SCALEOUT_REMINDERS", "20000"))
WORKER_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_SCALEOUT_WORKERS", "1,2,4").split(","))
EMAIL_TO = re.compile(rb"^To: (\S+)$", re.MULTILINE)


def database_url():
    from django.db import connection

    db = connection.settings_dict
    login = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{login}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def start_workers(count, sinks):
    env = {**os.environ, "DATABASE_URL": database_url(),
           "TMS_SMS_BACKEND": "scheduling.sms.FileBackend", "TMS_SMS_FILE_PATH": str(sinks / "sms.jsonl"),
           "EMAIL_URL": f"filemail:///{sinks / 'mail'}",
           # The reminders are due whatever the time of day the benchmark runs.
           "TMS_QUIET_HOURS": "00:00-00:00"}
    workers = []
    for n in range(count):
        log = sinks / f"worker{n}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "tmsclinic", "worker", "--pool=prefork", "--concurrency=1",
                 "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-n", f"bench{n}@127.0.0.1"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        workers.append((process, log))
    deadline = time.monotonic() + 120
    for process, log in workers:
        while " ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                stop_workers(workers)
                raise SystemExit(f"a worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    return workers


def stop_workers(workers):
    for process, _ in workers:
        process.terminate()
    for process, _ in workers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def received(sinks):
    """How many messages each address got, by SMS and e-mail together."""
    counts = collections.Counter()
    sms_file = sinks / "sms.jsonl"
    if sms_file.exists():
        counts.update(json.loads(line)["to"] for line in sms_file.read_text().splitlines())
    for path in (sinks / "mail").glob("*"):
        counts.update(address.decode() for address in EMAIL_TO.findall(path.read_bytes()))
    return counts


def main():
    with throwaway_database(), tempfile.TemporaryDirectory(prefix="tms-scaleout-") as tmp:
        import datetime

        from bench_reminders import build
        from django.db import connection
        from django.utils import timezone

        from patients.models import Patient
        from scheduling.models import Reminder
        from scheduling.services import reminders
        from tmsclinic.celery import app

        now = timezone.now()
        build(REMINDERS, now)
        addresses = {(p.email if p.preferred_channel == "email" else str(p.phone)) for p in Patient.objects.all()}
        rows, timings = [], {}
        for count in WORKER_COUNTS:
            Reminder.objects.update(status=Reminder.Status.PENDING, attempts=0, sent_at=None, claimed_at=None,
                                    last_error="", scheduled_for=now - datetime.timedelta(minutes=1))
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {Reminder._meta.db_table}")
            sinks = Path(tmp) / f"workers-{count}"
            sinks.mkdir()
            app.control.purge()
            workers = start_workers(count, sinks)
            try:
                started = time.perf_counter()
                app.send_task("scheduling.tasks.send_due_reminders")  # as beat does
                while Reminder.objects.exclude(status=Reminder.Status.SENT).exists():
                    if any(process.poll() is not None for process, _ in workers):
                        raise SystemExit("a worker died")
                    if time.perf_counter() - started > 600:
                        raise SystemExit("not sent within 10 minutes")
                    time.sleep(0.1)
                elapsed = time.perf_counter() - started
                time.sleep(1)  # the last runs log their counts
            finally:
                stop_workers(workers)
            got = received(sinks)
            assert set(got) == addresses and set(got.values()) == {1}, "each reminder exactly once"
            outcomes = collections.Counter(Reminder.objects.values_list("status", "attempts"))
            assert outcomes == {(Reminder.Status.SENT, 1): REMINDERS}, outcomes
            runs = [re.findall(r"send_due_reminders\[[^]]+\] succeeded in [^:]+: \{'sent': (\d+)", log.read_text())
                    for _, log in workers]
            sent_by = [sum(map(int, found)) for found in runs]
            timings[count] = elapsed
            rows.append((f"{count} worker(s): s / sends per second / speed-up",
                         f"{elapsed:.2f} / {REMINDERS / elapsed:.0f} / {timings[WORKER_COUNTS[0]] / elapsed:.2f}x"))
            rows.append((f"{count} worker(s): runs and reminders sent by each",
                         ", ".join(f"{len(found)} runs {sent}" for found, sent in zip(runs, sent_by, strict=True))))
        report(f"reminders scale-out: {REMINDERS} due (half e-mail, half SMS, file sinks), batches of "
               f"{reminders.BATCH}, prefork workers on Redis; each sent exactly once (sinks and rows checked); "
               f"{os.cpu_count()} CPU(s)", rows)


if __name__ == "__main__":
    main()
