"""Every page's queries are the same whatever the size of the chain (issue 15): each staff and portal
page of tests/pages.py read on seed_demo's chain at two sizes, four times apart, must run the same
number of queries. Which pages those are is checked against the URL map, so a new route is either
a page pinned here or named in tests/pages.NOT_PAGES with why. (benchmarks/bench_pages.py prints
the same counts at 1 000 and 100 000 patients, with sizes and times.)"""

import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from tests import pages
from tests.tmsclinic.test_url_map import routes

# A Wednesday afternoon: the first clinic's day has visits behind it and to come.
NOW = datetime.datetime(2026, 3, 11, 15, 0, tzinfo=datetime.UTC)
SIZES = (160, 640)  # both with plans enough at the first clinic for the demo waitlist
# Marked so that pytest-django sets the test database up (the fixture below seeds it itself).
pytestmark = pytest.mark.django_db
CHEAP = {
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "STORAGES": {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                 "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
}


def read_every_page():
    """{label: (status, queries, patients in the chain's first clinic)} in the seeded world."""
    from patients.models import Patient

    world = pages.demo_world()
    staff, portal = pages.signed_in_clients(world)
    at_first = Patient.objects.filter(home_clinic=world.clinic).count()
    counts = {}
    for label, audience, url, headers in pages.pages(world):
        client = staff if audience == "staff" else portal
        client.get(url, **headers)  # the first read sets the session's clinic; the second is pinned
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, **headers)
        counts[label] = (response.status_code, len(queries), at_first)
    # The empty pages bench_pages.py measures every page against (benchmarks/floor_urls.py).
    from benchmarks.floor_urls import EMPTY_PAGES

    with override_settings(ROOT_URLCONF="benchmarks.floor_urls"):
        for audience, client in (("staff", staff), ("portal", portal)):
            client.get(EMPTY_PAGES[audience])
            with CaptureQueriesContext(connection) as queries:
                response = client.get(EMPTY_PAGES[audience])
            counts[f"empty:{audience}"] = (response.status_code, len(queries), at_first)
    return counts


@pytest.fixture(scope="module")
def counts(django_db_setup, django_db_blocker):
    """Each size seeded in a transaction rolled back afterwards: {size: read_every_page()}."""
    by_size = {}
    with django_db_blocker.unblock(), override_settings(**CHEAP), time_machine.travel(NOW, tick=False):
        for size in SIZES:
            with transaction.atomic():
                call_command("seed_demo", patients=size, seed=1, stdout=io.StringIO())
                by_size[size] = read_every_page()
                transaction.set_rollback(True)
    return by_size


def test_the_pages_cover_the_url_map():
    for namespace, listed in (("staff", pages.STAFF_PAGES), ("portal", pages.PORTAL_PAGES)):
        names = {name.split("?")[0] for name in listed}
        assert names | set(pages.NOT_PAGES[namespace]) == set(routes(namespace)), namespace
        assert not names & set(pages.NOT_PAGES[namespace]), namespace


def test_the_two_sizes_differ(counts):
    small, big = (next(iter(counts[size].values()))[2] for size in SIZES)
    assert big >= 3 * small > 0


@pytest.mark.parametrize("label", [f"staff:{name}" for name in pages.STAFF_PAGES]
                         + [f"portal:{name}" for name in pages.PORTAL_PAGES] + ["empty:staff", "empty:portal"])
def test_queries_do_not_grow_with_the_chain(counts, label):
    (small_status, small, _), (big_status, big, _) = (counts[size][label] for size in SIZES)
    assert small_status == big_status == 200
    assert big == small, f"{label}: {small} queries at {SIZES[0]} patients, {big} at {SIZES[1]}"


def test_every_whole_page_does_at_least_what_its_empty_page_does(counts):
    """The empty pages are floors: a page (not an htmx fragment, which has no navigation) makes
    every query its empty page makes — the session, the roles, the clinics, the open-flag count,
    the audit event — and its own besides."""
    read = counts[SIZES[0]]
    for label, (_, queries, _) in read.items():
        audience = label.split(":")[0]
        if audience in ("staff", "portal") and label not in pages.HTMX:
            assert queries >= read[f"empty:{audience}"][1], label
