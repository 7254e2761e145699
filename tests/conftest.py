import datetime
import importlib
import os
import shutil
import uuid

import pytest
import time_machine
from django.db import connection

from tests import factories


@pytest.fixture(autouse=True)
def _fast_test_settings(settings):
    # Real password hashing is deliberately slow; tests hash hundreds of demo passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The manifest storage needs collectstatic; tests serve files straight from the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Each test starts with no password-reset requests counted and no adherence figures shared
    # (the caches outlive a run, and SQLite gives a rolled-back test's ids again).
    settings.CACHES = {
        **settings.CACHES,
        **{alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"{alias}-{uuid.uuid4()}"}
           for alias in ("throttle", "figures")},
    }
    # Many tests move the clock hours or weeks ahead with a client signed in: there, a login
    # is never idle, and lasts its SESSION_COOKIE_AGE (which those travelling further set). The
    # automatic-logoff tests (tests/tmsclinic/test_logoff.py, tests/e2e/test_automatic_logoff.py)
    # set the real idle limits.
    settings.TMS_STAFF_IDLE_MINUTES = settings.TMS_PORTAL_IDLE_MINUTES = 10 * 365 * 24 * 60


def _tasks_in_process(monkeypatch, enqueue_where):
    """Tasks that code queues for the Celery worker with ``enqueue_after_commit`` (imported at
    ``enqueue_where``) run in this process instead, by the same task, when the transaction
    commits. Returns the tasks queued."""
    from django.db import transaction

    from tmsclinic.celery import app

    queued = []

    def enqueue(task_name, *, args=(), kwargs=None, eta=None):
        queued.append((task_name, kwargs))
        importlib.import_module(task_name.rsplit(".", 1)[0])  # its module registers the task, as the worker's would
        transaction.on_commit(lambda: app.tasks[task_name].apply(args=args, kwargs=kwargs, throw=True))

    monkeypatch.setattr(enqueue_where, enqueue)
    return queued


@pytest.fixture
def reset_mail_worker(monkeypatch):
    """Password-reset e-mails, which a request queues for the Celery worker, are sent in this
    process instead, by the same task, when the request's transaction commits: wrap the request
    in ``django_capture_on_commit_callbacks(execute=True)``. Returns the tasks queued."""
    return _tasks_in_process(monkeypatch, "tmsclinic.accounts.passwords.enqueue_after_commit")


@pytest.fixture
def invitation_worker(monkeypatch):
    """Portal invitations, which ``invite_patient`` queues for the worker, sent in this process
    by the same task when the transaction commits (in a test's transaction: inside
    ``django_capture_on_commit_callbacks(execute=True)``). Returns the tasks queued."""
    return _tasks_in_process(monkeypatch, "scheduling.services.portal.enqueue_after_commit")


@pytest.fixture
def _fast_password_hashing(settings):
    # The admin tests' builders make dozens of users; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Every audited page ends by appending its audit event: a savepoint, lock the chain's head,
# insert the event, move the head, release. Pinned query counts add this once.
AUDIT_QUERIES = 5


@pytest.fixture(autouse=True)
def _staff_work_everywhere_in_this_test_only():
    factories.EVERYWHERE.clear()


def needs(available, why):
    """Skip, saying why, when a service this test needs is absent from this machine.

    CI sets TMS_NO_SKIP on its PostgreSQL + Redis run, where a missing service is a failure.
    """
    if available:
        return
    if os.environ.get("TMS_NO_SKIP"):
        pytest.fail(f"TMS_NO_SKIP is set but this test {why}")
    pytest.skip(why)


@pytest.fixture
def on_postgres():
    needs(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://… to run it")


@pytest.fixture
def clinic(db):
    return factories.ClinicFactory(name="Riverside TMS", time_zone="America/New_York")


@pytest.fixture
def chair(clinic):
    return factories.ChairFactory(clinic=clinic, name="Chair 1")


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(home_clinic=clinic)


@pytest.fixture
def front_desk(db):
    return factories.staff_user(username="frontdesk", role="Front desk")


@pytest.fixture
def technician(db):
    return factories.staff_user(username="tech", role="Technician")


@pytest.fixture
def open_clinic(clinic):
    """The clinic open 08:00-18:00 every day of the week (files needing other hours override it)."""
    for weekday in range(7):
        factories.OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8),
                                      closes_at=datetime.time(18))
    return clinic


# Wednesday 2 December 2026, 08:00 in New York: the moment the staff pages' tests are set in,
# through pytestmark = pytest.mark.usefixtures("frozen"); files frozen at another moment say so.
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def clinician(db):
    return factories.staff_user(username="clinician", role="Clinician")


@pytest.fixture
def superuser(db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@clinic.test", factories.PASSWORD)


@pytest.fixture
def admin_client(client, superuser):
    """Django admin as the superuser above (replaces pytest-django's own admin_client)."""
    client.force_login(superuser)
    return client


def chromium_path():
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """The system Chromium driven by Playwright (no browser download)."""
    path = chromium_path()
    needs(path, "needs Chromium: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are still plain synchronous code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
