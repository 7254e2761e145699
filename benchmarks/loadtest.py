"""`make loadtest`: the whole deployment under load on this machine, then the database checked.

1. A dedicated PostgreSQL database and Redis db (DATABASE_URL / REDIS_URL, by default
   tms_loadtest and db 8 on 127.0.0.1), refused unless local, and refused if they hold data
   this script did not put there. The database is seeded with ``seed_demo --patients
   LOADTEST_PATIENTS`` (the chain), migrated, and the static files collected.
2. gunicorn (LOADTEST_WEB_WORKERS, 4) on 127.0.0.1 only, two Celery workers and one beat, each
   in its own process group; every one of them is stopped at the end, on Ctrl-C and on failure.
3. For LOADTEST_SECONDS (120), LOADTEST_PORTAL_USERS (200) patients log into the portal and
   book, cancel and send PHQ-9 check-ins over the next week's slots, while LOADTEST_STAFF_USERS
   (20) staff, logged in with password and authenticator code, browse day and week views,
   patient search and the worklist (an asyncio driver on aiohttp). A backlog of due reminders
   (LOADTEST_REMINDER_BACKLOG, 2000) is sent meanwhile by both workers, kicked from the start.
4. Printed: requests, server errors (goal 0), refusals ("that time is no longer free" is a
   correct answer to a race, not an error), p50/p95 per page; then benchmarks/loadcheck.py's
   checks: no double-booking (SQL self-join) and every reminder sent at most once (the file SMS
   and e-mail sinks against the rows). The exit status is 1 if any of those fails.
"""

import asyncio
import contextlib
import datetime
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MARKER = "made by make loadtest (benchmarks/loadtest.py): dropped and seeded again at every run"
REDIS_MARKER_KEY = "tms-loadtest:owner"
PASSWORD = "load-test-only-" + secrets.token_urlsafe(12)


def setting(name, default):
    return type(default)(os.environ.get(name, default))


DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tms_loadtest")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
PATIENTS = setting("LOADTEST_PATIENTS", 100000)
SECONDS = setting("LOADTEST_SECONDS", 120)
PORTAL_USERS = setting("LOADTEST_PORTAL_USERS", 200)
STAFF_USERS = setting("LOADTEST_STAFF_USERS", 20)
WEB_WORKERS = setting("LOADTEST_WEB_WORKERS", 4)
CELERY_WORKERS = 2
THINK_SECONDS = setting("LOADTEST_THINK_SECONDS", 5.0)
REMINDER_BACKLOG = setting("LOADTEST_REMINDER_BACKLOG", 2000)
RESEED = os.environ.get("LOADTEST_RESEED", "1") != "0"
VAR = ROOT / "var" / "loadtest"
LOGS = VAR / "logs"
SMS_SINK = VAR / "sms.jsonl"
MAIL_SINK = VAR / "mail"


class Refused(SystemExit):
    def __init__(self, message):
        super().__init__(f"make loadtest: {message}")


# --- The database and Redis: local, and ours -------------------------------------------------


def check_local(url, what):
    parts = urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS:
        raise Refused(f"{what} {parts.hostname!r} is not this machine; the load test runs on 127.0.0.1 only")
    return parts


def prepare_database():
    import psycopg2
    from psycopg2 import sql

    parts = check_local(DATABASE_URL, "DATABASE_URL host")
    if not parts.scheme.startswith("postgres"):
        raise Refused("DATABASE_URL must be a PostgreSQL database (postgres://…)")
    name = unquote(parts.path.lstrip("/"))
    server = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=unquote(parts.username or ""),
                              password=unquote(parts.password or ""), dbname="postgres")
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])
        row = cursor.fetchone()
        if row is not None and row[0] != MARKER:
            raise Refused(f"database {name!r} exists and was not made by the load test: it is left alone. "
                          "Drop it, or set DATABASE_URL to another database name.")
        fresh = row is None or RESEED
        if row is not None and RESEED:
            cursor.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if fresh:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            cursor.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARKER)))
    server.close()
    return fresh


def prepare_redis():
    import redis

    check_local(REDIS_URL, "REDIS_URL host")
    client = redis.Redis.from_url(REDIS_URL)
    if client.dbsize() and client.get(REDIS_MARKER_KEY) is None:
        raise Refused(f"Redis {REDIS_URL} holds keys the load test did not write: it is left alone. "
                      "Set REDIS_URL to an empty Redis database (…/8 by default).")
    client.flushdb()
    client.set(REDIS_MARKER_KEY, MARKER)


def child_environment(port):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOADTEST_", "EMAIL_"))}
    env.update({
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "TMS_VAR_DIR": str(VAR),
        "TMS_MFA_REQUIRED": "true",
        "TMS_SMS_BACKEND": "scheduling.sms.FileBackend",
        "TMS_SMS_FILE_PATH": str(SMS_SINK),
        "EMAIL_URL": f"filemail:///{MAIL_SINK}",  # four slashes: an absolute path
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


# --- Processes ----------------------------------------------------------------------------------


class Processes:
    """Every process the load test starts, each in its own session (process group): Ctrl-C in
    the terminal reaches only this script, which stops them all, group by group."""

    def __init__(self, env):
        self.env, self.running = env, []

    def run(self, name, *args):
        started = time.perf_counter()
        with open(LOGS / f"{name}.log", "w") as log:
            process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log,  # noqa: S603
                                       stderr=subprocess.STDOUT, start_new_session=True)
            self.running.append((name, process))
            code = process.wait()
            self.running.remove((name, process))
        if code:
            raise Refused(f"{name} failed ({code}); see {LOGS / name}.log")
        return time.perf_counter() - started

    def start(self, name, *args):
        log = open(LOGS / f"{name}.log", "w")  # noqa: SIM115 -- kept open for the process's life
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.running.append((name, process))
        return process

    def check(self):
        for name, process in self.running:
            if process.poll() is not None:
                raise Refused(f"{name} stopped ({process.returncode}); see {LOGS / name}.log")

    def stop_all(self, grace=20):
        for _, process in self.running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, process in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):  # the group: gunicorn's and celery's children too
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.running.clear()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, seconds, what, processes):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check()
        if condition():
            return
        time.sleep(0.5)
    raise Refused(f"{what} did not happen within {seconds} s; see {LOGS}")


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- our own http:// address
            return response.status == 200
    except OSError:
        return False


def says(name, text):
    path = LOGS / f"{name}.log"
    return path.exists() and text in path.read_text(errors="replace")


# --- Who logs in ------------------------------------------------------------------------------


def prepare_people(now):
    """(portal logins, staff logins): patients who may book a maintenance session now, from the
    clinics with most of them (so that they compete for the same chairs), with portal accounts;
    staff found by their clinic memberships, each with a confirmed authenticator app. One
    password hash for all of them."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from patients.models import MaintenancePlan, Patient
    from scheduling.models import Clinic, ClinicMembership
    from scheduling.services.portal import Refusal, maintenance_offer, portal_account_for
    from tmsclinic.roles import SEE_PATIENTS, may

    User = get_user_model()
    today = now.date()
    plans = (
        MaintenancePlan.objects.active()
        .filter(patient__status=Patient.Status.ACTIVE, next_due_on__range=(today - datetime.timedelta(days=5),
                                                                          today + datetime.timedelta(days=7)))
        .exclude(patient__email="").select_related("patient__home_clinic", "protocol").order_by("patient__mrn")
    )
    by_clinic = defaultdict(list)
    for plan in plans:
        by_clinic[plan.patient.home_clinic_id].append(plan.patient)
    portal = []
    for _, patients in sorted(by_clinic.items(), key=lambda item: -len(item[1])):
        for patient in patients:
            if len(portal) == PORTAL_USERS:
                break
            try:
                maintenance_offer(patient, now)
                portal.append(portal_account_for(patient))
            except Refusal:
                continue
    clinics = {user.patient.home_clinic_id for user in portal} or set(Clinic.objects.values_list("pk", flat=True))
    memberships = (ClinicMembership.objects.filter(user__is_active=True, user__is_superuser=False)
                   .select_related("user").order_by("user__username"))
    staff, seen = [], set()
    for near in (True, False):  # the busy clinics' staff first, then anyone's
        for membership in memberships:
            user = membership.user
            if len(staff) == STAFF_USERS or user.pk in seen or (near and membership.clinic_id not in clinics):
                continue
            if may(user, SEE_PATIENTS):
                staff.append(user)
                seen.add(user.pk)
    hashed = make_password(PASSWORD)
    User.objects.filter(pk__in=[u.pk for u in portal + staff]).update(password=hashed)
    keys = {}
    for user in staff:
        device = TOTPDevice.objects.create(user=user, name="Load test", confirmed=True)
        keys[user.pk] = device.bin_key
    staff_logins = [
        {"username": user.username, "key": keys[user.pk],
         "clinics": list(user.clinic_memberships.values_list("clinic_id", flat=True))}
        for user in staff
    ]
    names = list(Patient.objects.filter(home_clinic__in=clinics).values_list("last_name", flat=True)[:500])
    return [user.username for user in portal], staff_logins, names or ["an"], len(clinics)


def make_reminders_due(now, count):
    """A backlog as after a worker outage: ``count`` pending appointment reminders made due now,
    for sessions more than three hours ahead, so both workers have something to race for."""
    from scheduling.models import Reminder

    ids = list(
        Reminder.objects.filter(status=Reminder.Status.PENDING, appointment__isnull=False,
                                appointment__starts_at__gt=now + datetime.timedelta(hours=3))
        .order_by("scheduled_for").values_list("pk", flat=True)[:count]
    )
    return Reminder.objects.filter(pk__in=ids).update(scheduled_for=now)


# --- The driver -------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SLOT = re.compile(r'name="slot" value="([^"]+)"')
RADIO = re.compile(r'<input[^>]*type="radio"[^>]*>')
NAME, VALUE = re.compile(r'name="([^"]+)"'), re.compile(r'value="([^"]*)"')
APPOINTMENT = re.compile(r"/portal/appointments/([0-9a-f-]{36})/$")


class Stats:
    def __init__(self):
        self.times = defaultdict(list)
        self.statuses = defaultdict(Counter)
        self.server_errors = []
        self.outcomes = Counter()

    def record(self, label, status, seconds):
        self.times[label].append(seconds)
        self.statuses[label][status] += 1
        if status >= 500 or status == 0:
            self.server_errors.append((label, status))


class Client:
    """One simulated person: their own cookies, every request timed under a page label."""

    def __init__(self, aiohttp, base, connector, stats):
        self.aiohttp, self.base, self.stats = aiohttp, base, stats
        self.session = aiohttp.ClientSession(
            base, connector=connector, connector_owner=False, cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def request(self, label, method, url, expect=(200,), **kwargs):
        started = time.perf_counter()
        try:
            async with self.session.request(method, url, allow_redirects=False, **kwargs) as response:
                text = await response.text()
                status, location = response.status, response.headers.get("Location", "")
        except (TimeoutError, self.aiohttp.ClientError):
            status, text, location = 0, "", ""
        self.stats.record(label, status, time.perf_counter() - started)
        if status not in expect and status < 500 and status != 0:
            self.stats.outcomes[f"unexpected {status} on {label}"] += 1
        return status, text, location

    async def form_post(self, label, url, page_text, data, expect=(302,)):
        token = CSRF.search(page_text)
        return await self.request(label, "POST", url, expect=expect,
                                  data={**data, "csrfmiddlewaretoken": token.group(1) if token else ""})

    async def close(self):
        await self.session.close()


async def think(rng):
    await asyncio.sleep(THINK_SECONDS * rng.uniform(0.5, 1.5))


async def portal_patient(client, username, deadline, rng):
    stats = client.stats
    _, page, _ = await client.request("portal login", "GET", "/portal/login/")
    status, _, location = await client.form_post("portal login (POST)", "/portal/login/", page,
                                                 {"username": username, "password": PASSWORD})
    if status != 302 or "login" in location:
        stats.outcomes["portal login refused"] += 1
        return
    booked = []
    while time.monotonic() < deadline:
        await client.request("portal home", "GET", "/portal/")
        await think(rng)
        action = rng.choices(["book", "cancel", "check-in"], weights=[5, 3 if booked else 0, 2])[0]
        if action == "book":
            _, page, _ = await client.request("portal book", "GET", "/portal/book/?kind=maintenance")
            slots = SLOT.findall(page)
            if not slots:
                stats.outcomes["book: no time offered"] += 1
            else:
                await think(rng)
                # Half of them take the first time offered: many patients of one clinic race for it.
                slot = slots[0] if rng.random() < 0.5 else rng.choice(slots[:12])
                status, _, location = await client.form_post(
                    "portal book (POST)", "/portal/book/slot/", page, {"slot": slot, "kind": "maintenance"})
                match = APPOINTMENT.search(location)
                if match:
                    booked.append(match.group(1))
                    stats.outcomes["book: booked"] += 1
                    await client.request("portal appointment", "GET", location)
                elif status == 302:
                    stats.outcomes["book: refused (taken or a rule)"] += 1
        elif action == "cancel":
            uuid = booked.pop(rng.randrange(len(booked)))
            url = f"/portal/appointments/{uuid}/cancel/"
            status, page, _ = await client.request("portal cancel", "GET", url, expect=(200, 302))
            if status == 200:
                status, _, _ = await client.form_post("portal cancel (POST)", url, page, {})
                stats.outcomes["cancel: cancelled"] += status == 302
            else:
                stats.outcomes["cancel: too late"] += 1
        else:
            status, page, _ = await client.request("portal check-in", "GET", "/portal/check-in/")
            choices = defaultdict(list)
            for tag in RADIO.findall(page):
                choices[NAME.search(tag).group(1)].append(VALUE.search(tag).group(1))
            if "csrfmiddlewaretoken" in page and choices:
                # Mild symptoms, and never item 9 (a safety flag is for real patients).
                answers = {name: values[0] if name in ("item_9", "difficulty") else rng.choice(values[:3])
                           for name, values in choices.items()}
                status, _, _ = await client.form_post("portal check-in (POST)", "/portal/check-in/", page, answers,
                                                      expect=(302, 409))
                stats.outcomes["check-in: sent" if status == 302 else "check-in: not due yet"] += 1
            else:
                stats.outcomes["check-in: not due yet"] += 1
        await think(rng)


async def staff_member(client, login, names, deadline, rng):
    from django_otp.oath import TOTP

    stats = client.stats
    _, page, _ = await client.request("staff login", "GET", "/accounts/login/")
    status, _, location = await client.form_post("staff login (POST)", "/accounts/login/", page,
                                                 {"username": login["username"], "password": PASSWORD})
    _, page, _ = await client.request("staff code", "GET", location or "/accounts/login/code/")
    status, page, location = await client.form_post("staff code (POST)", "/accounts/login/code/", page,
                                                    {"code": f"{TOTP(login['key']).token():06d}"})  # an int
    status, _, _ = await client.request("staff today", "GET", "/staff/", expect=(200,))
    if status != 200:
        stats.outcomes["staff login refused"] += 1
        return
    clinics = login["clinics"]
    monday = datetime.date.today() - datetime.timedelta(days=datetime.date.today().weekday())
    while time.monotonic() < deadline:
        clinic = rng.choice(clinics)
        page = rng.choices(["day", "week", "search", "worklist"], weights=[4, 1, 3, 2])[0]
        if page == "day":
            day = datetime.date.today() + datetime.timedelta(days=rng.randrange(7))
            await client.request("staff day", "GET", f"/staff/day/{day.isoformat()}/?clinic={clinic}")
        elif page == "week":
            await client.request("staff week", "GET", f"/staff/week/{monday.isoformat()}/?clinic={clinic}")
        elif page == "search":
            name = rng.choice(names)
            for typed in range(2, min(len(name), 5) + 1):  # as-you-type: one request per key
                await client.request("staff search", "GET", "/staff/patients/search/",
                                     params={"q": name[:typed]}, headers={"HX-Request": "true"})
        else:
            await client.request("staff worklist", "GET", "/staff/attention/")
        await think(rng)


async def drive(base, portal, staff, names, seconds):
    import aiohttp

    stats = Stats()
    connector = aiohttp.TCPConnector(limit=0)
    clients = []
    deadline = time.monotonic() + seconds
    rng = random.Random(15)
    tasks = []
    for username in portal:
        client = Client(aiohttp, base, connector, stats)
        clients.append(client)
        tasks.append(portal_patient(client, username, deadline, random.Random(rng.random())))
    for login in staff:
        client = Client(aiohttp, base, connector, stats)
        clients.append(client)
        tasks.append(staff_member(client, login, names, deadline, random.Random(rng.random())))

    ramp = min(30.0, seconds / 4)  # people arrive over the first half minute, not all at once

    async def staggered(index, coroutine):
        await asyncio.sleep(index * ramp / len(tasks))
        await coroutine

    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(staggered(i, t) for i, t in enumerate(tasks))), timeout=seconds + 90)
    finally:
        for client in clients:
            await client.close()
        await connector.close()
    return stats, time.perf_counter() - started


# --- Report -----------------------------------------------------------------------------------


def percentile(values, share):
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]


def report(stats, elapsed):
    total = sum(len(v) for v in stats.times.values())
    print(f"\nRequests: {total} in {elapsed:.0f} s ({total / elapsed:.1f} a second); "
          f"server errors (5xx or no answer): {len(stats.server_errors)}")
    print(f"  {'page':<26} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8}  statuses")
    for label in sorted(stats.times):
        times = stats.times[label]
        statuses = ", ".join(f"{code}×{n}" for code, n in sorted(stats.statuses[label].items()))
        print(f"  {label:<26} {len(times):>8} {statistics.median(times) * 1000:>8.0f} "
              f"{percentile(times, 0.95) * 1000:>8.0f}  {statuses}")
    print("Outcomes:")
    for outcome, count in sorted(stats.outcomes.items()):
        print(f"  {outcome:<40} {count}")


def main():
    VAR.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    SMS_SINK.unlink(missing_ok=True)
    MAIL_SINK.mkdir(exist_ok=True)
    for file in MAIL_SINK.iterdir():
        file.unlink()
    fresh = prepare_database()
    prepare_redis()
    port = free_port()
    env = child_environment(port)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tmsclinic.settings"
    processes = Processes(env)
    # SIGTERM (a CI runner stopping the job) unwinds like Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"make loadtest: {DATABASE_URL} and {REDIS_URL}; logs in {LOGS}")
        print(f"  migrate: {processes.run('migrate', 'manage.py', 'migrate', '--noinput'):.0f} s")
        if fresh:
            took = processes.run("seed", "manage.py", "seed_demo", "--patients", str(PATIENTS))
            print(f"  seed_demo --patients {PATIENTS}: {took:.0f} s")
        print(f"  collectstatic: {processes.run('collectstatic', 'manage.py', 'collectstatic', '--noinput'):.0f} s")

        import django

        django.setup()
        from django.db import connections
        from django.utils import timezone

        from benchmarks.loadcheck import double_bookings, reminder_sends

        now = started = timezone.now()  # beat's first run may come before the driver starts
        portal, staff, names, clinics = prepare_people(now)
        backlog = make_reminders_due(now, REMINDER_BACKLOG)
        connections.close_all()
        print(f"  {len(portal)} portal patients (from the {clinics} clinics with most "
              f"patients due), {len(staff)} staff; {backlog} reminders made due now")
        if not portal or not staff:
            raise Refused("no portal patient or no staff member to log in: is the seed empty?")

        base = f"http://127.0.0.1:{port}"
        processes.start("web", "-m", "gunicorn", "tmsclinic.wsgi", "-c", "python:tmsclinic.gunicorn",
                        "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS))
        for number in range(1, CELERY_WORKERS + 1):
            processes.start(f"worker{number}", "-m", "celery", "-A", "tmsclinic", "worker", "--loglevel=INFO",
                            "--concurrency=1", f"--hostname=loadtest{number}@%h")
        processes.start("beat", "-m", "celery", "-A", "tmsclinic", "beat", "--loglevel=INFO",
                        f"--schedule={VAR / 'celerybeat-schedule'}")
        wait_until(lambda: answers(f"{base}/healthz"), seconds=60, what="gunicorn answering /healthz",
                   processes=processes)
        for number in range(1, CELERY_WORKERS + 1):
            wait_until(lambda n=number: says(f"worker{n}", "ready."), seconds=60, what=f"worker {number} ready",
                       processes=processes)
        print(f"  gunicorn ({WEB_WORKERS} workers) on {base}, {CELERY_WORKERS} Celery workers and beat running")

        from tmsclinic.celery import app

        for _ in range(2 * CELERY_WORKERS):  # both workers claim from the backlog at once
            app.send_task("scheduling.tasks.send_due_reminders")
        print(f"  driving {len(portal)} patients and {len(staff)} staff for {SECONDS} s …")
        stats, elapsed = asyncio.run(drive(base, portal, staff, names, SECONDS))
        processes.check()
        report(stats, elapsed)

        # Let the workers finish what they hold before they are stopped.
        from scheduling.models import Reminder

        wait_until(lambda: not Reminder.objects.filter(status=Reminder.Status.SENDING).exists(), seconds=60,
                   what="the workers finishing their reminders", processes=processes)
    finally:
        processes.stop_all()

    doubles = double_bookings()
    sends = reminder_sends(SMS_SINK, MAIL_SINK, started)
    print("\nChecked in the database afterwards:")
    print(f"  double-bookings (live appointments overlapping on a chair or for a patient): {len(doubles)}")
    for row in doubles[:10]:
        print(f"    {row}")
    print(f"  reminders sent during the run: {sends['rows']} rows, {sends['messages']} messages in the sinks; "
          f"sent twice: {len(sends['duplicates'])}; marked sent without a message: {len(sends['missing'])}; "
          f"still sending: {sends['in_flight']}")
    for row in (sends["duplicates"] + sends["missing"])[:10]:
        print(f"    {row}")
    failed = stats.server_errors or doubles or sends["duplicates"] or sends["missing"]
    print("\nmake loadtest: " + ("FAILED" if failed else "passed: no server error, no double-booking, "
                                 "no reminder sent twice"))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("make loadtest: interrupted; every process it started is stopped")
