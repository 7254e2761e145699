"""Every page passes axe-core with no serious or critical violation (the project's promise 8).

The pages are derived from the URL map, as the access tests are (tests/tmsclinic/test_url_map.py),
so that a new page is checked without anyone adding it here: every staff route as a clinician
and the everyday ones as the front desk, every portal route as the patient, the pages anyone
may open, the second-factor pages, and Django admin (every registered model's list, add and
change pages) as a superuser and as a clinic admin. Each is opened in Chromium with its data;
axe-core (axe-playwright-python, which carries its own copy) runs on the page as rendered.
"""

import importlib
import os

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from tests import factories
from tests.tmsclinic.test_url_map import OTHER_ROUTES, PORTAL_WITHOUT_LOGIN, routes, url_for
from tmsclinic import roles

pytestmark = pytest.mark.browser

AXE = Axe()
BLOCKING = {"serious", "critical"}


def blocking_violations(page):
    """axe-core's serious and critical findings on the page as it stands, one line each."""
    found = AXE.run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v["impact"] in BLOCKING]


def sign_in(page, user):
    """The browser carries ``user``'s session (the login page itself is checked as a page)."""
    page.goto("/")  # the live server's origin, for the cookie
    origin = page.url.split("/", 3)[:3]
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": "/".join(origin)}])


def check(page, urls):
    """Open each URL; every HTML page answered must pass. Returns what was checked and failed."""
    checked, failures = [], []
    for url in urls:
        answer = page.request.get(url, max_redirects=0)
        if not answer.headers.get("content-type", "").startswith("text/html") or not answer.body():
            continue  # a CSV export, a calendar feed, a redirect or an action's 405 is not a page
        page.goto(url)
        checked.append(url)
        failures.extend(f"{url}: {line}" for line in blocking_violations(page))
    if os.environ.get("TMS_AXE_REPORT"):
        with open(os.environ["TMS_AXE_REPORT"], "a") as report:
            report.writelines(f"{line}\n" for line in failures)
    return checked, failures


def staff_urls(by_segment, names=None):
    for name, pattern in routes("staff").items():
        if names is None or name in names:
            yield url_for("staff", name, pattern, by_segment)[0]


def test_every_staff_page_as_a_clinician_and_the_everyday_ones_as_the_front_desk(page, world):
    sign_in(page, factories.staff_user(role=roles.CLINICIAN, username="clinician"))
    checked, failures = check(page, staff_urls(world["by_segment"]))
    sign_in(page, factories.staff_user(role=roles.FRONT_DESK, username="frontdesk"))
    more, more_failures = check(page, staff_urls(world["by_segment"], {"today", "patient", "attention", "book"}))
    assert len(checked) >= 16 and len(more) == 4, (checked, more)
    assert failures + more_failures == []


def test_every_portal_page_as_the_patient(page, world):
    sign_in(page, world["patient"].user)
    urls = [url for name, pattern in routes("portal").items() if name not in PORTAL_WITHOUT_LOGIN
            for url in [url_for("portal", name, pattern, world["by_segment"])[0]] if url]
    checked, failures = check(page, urls)
    assert len(checked) >= 5, checked
    assert failures == []


def public_urls():
    for name in sorted(OTHER_ROUTES):
        try:
            yield reverse(name)
        except NoReverseMatch:
            continue  # needs a token: reached by following e-mails, checked with them
    for name in PORTAL_WITHOUT_LOGIN:
        try:
            yield reverse(f"portal:{name}")
        except NoReverseMatch:
            continue
    yield "/no-such-page/"


def test_the_pages_anyone_may_open_and_the_second_factor_pages(page, world):
    checked, failures = check(page, public_urls())
    assert {reverse("login"), reverse("portal:login"), "/no-such-page/"} <= set(checked), checked
    sign_in(page, factories.staff_user(role=roles.TECHNICIAN, username="tech"))
    signed_in, more = check(page, public_urls())
    assert reverse("two-factor-setup") in signed_in, signed_in
    assert failures + more == []


def admin_urls(user):
    yield reverse("admin:index")
    request = _request_of(user)
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_or_change_permission(request):
            continue
        info = model._meta.app_label, model._meta.model_name
        yield reverse("admin:{}_{}_changelist".format(*info))
        if model_admin.has_add_permission(request):
            yield reverse("admin:{}_{}_add".format(*info))
        first = model_admin.get_queryset(request).order_by("pk").first()
        if first is not None:
            yield reverse("admin:{}_{}_change".format(*info), args=[first.pk])


def _request_of(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.fixture
def role_permissions(transactional_db):
    """The roles' groups and permissions, which come from data migrations and which the flush
    after an earlier transactional test took away: the migrations' own steps put them back."""
    for name in ("0002_role_groups", "0009_least_privilege", "0015_default_cadences"):
        for operation in importlib.import_module(f"scheduling.migrations.{name}").Migration.operations:
            operation.code(global_apps, None)


@pytest.mark.parametrize("who", ["superuser", "clinic admin"])
def test_every_admin_page(page, role_permissions, world, who):
    if who == "superuser":
        user = factories.UserFactory(username="root", is_superuser=True, is_staff=True)
    else:
        user = factories.admin_user("clinicadmin", roles.CLINIC_ADMIN)
    user = type(user).objects.get(pk=user.pk)  # no permissions cached from before its role
    sign_in(page, user)
    checked, failures = check(page, list(admin_urls(user)))
    assert len(checked) >= 20, checked
    assert failures == []
