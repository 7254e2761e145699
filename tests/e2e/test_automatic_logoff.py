"""Automatic logoff in a real browser: a technician leaves a patient's page open; the warning
comes first, "Stay signed in" keeps the login, and at the limit the patient's name leaves the
screen without anyone clicking, before the login page takes its place."""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import blocking_violations
from tests.factories import PASSWORD, ClinicFactory, PatientFactory, staff_user

pytestmark = pytest.mark.browser

IDLE_SECONDS, WARN_SECONDS = 20, 10


@pytest.fixture
def short_limits(settings):
    # The live server runs in this process, so it sees these at once.
    settings.TMS_STAFF_IDLE_MINUTES = IDLE_SECONDS / 60
    settings.TMS_LOGOFF_WARNING_SECONDS = WARN_SECONDS


def test_the_patients_name_leaves_the_screen_at_the_limit_without_a_click(page, transactional_db, short_limits):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    ada = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace")
    staff_user(role="Technician", username="tech")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("tech")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=re.compile("Riverside TMS"))).to_be_visible()
    page.goto("/staff/patients/")
    expect(page.get_by_text("Lovelace, Ada")).to_be_visible()
    page.goto(f"/staff/patients/{ada.uuid}/")
    name = page.get_by_role("heading", name=re.compile("Ada Lovelace"))
    expect(name).to_be_visible()

    # The warning, before the limit: an alert dialog with the focus on its button.
    warning = page.get_by_role("alertdialog", name="Are you still there?")
    expect(warning).to_be_visible(timeout=IDLE_SECONDS * 1000)
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    expect(warning).to_contain_text("you will be signed out in")
    assert blocking_violations(page) == []  # axe-core, on the page with its warning open
    stay.press("Enter")  # keyboard, as a keyboard user would
    expect(warning).to_be_hidden()
    # The server counted it: the login has its whole idle time again (asking does not extend it).
    status = page.request.get("/session/status").json()
    assert status["signed_in"] is True
    assert status["seconds_left"] > IDLE_SECONDS - WARN_SECONDS
    expect(name).to_be_visible()

    # Then nobody touches anything: the name goes, and the login page (with why) takes its place.
    expect(warning).to_be_visible(timeout=IDLE_SECONDS * 1000)
    expect(page.get_by_text("Ada Lovelace")).to_have_count(0, timeout=(WARN_SECONDS + 10) * 1000)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fstaff%2Fpatients%2F"))
    expect(page.locator("main")).to_contain_text("You were signed out after")
    assert page.request.get("/session/status").json() == {"signed_in": False, "seconds_left": 0}
    # Nothing to go back to: the patient's page was replaced in the history by the login page,
    # and the list before it is not kept (no-store): it is asked for again, and refused.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/staff/patients/$"))
    expect(page.get_by_text(re.compile("Lovelace"))).to_have_count(0)


def test_activity_in_another_tab_keeps_this_one(page, transactional_db, short_limits):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    ada = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace")
    staff_user(role="Technician", username="tech")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("tech")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/staff/patients/{ada.uuid}/")
    warning = page.get_by_role("alertdialog", name="Are you still there?")
    other_tab = page.context.new_page()
    # The other tab works on past this page's own limit: this one asks the server before
    # warning and finds the login alive.
    started = time.monotonic()
    while time.monotonic() - started < IDLE_SECONDS + 4:
        other_tab.goto("/staff/patients/")
        other_tab.wait_for_timeout(IDLE_SECONDS * 1000 / 4)
    expect(page.get_by_role("heading", name=re.compile("Ada Lovelace"))).to_be_visible()
    expect(warning).to_be_hidden()
    assert page.request.get("/session/status").json()["signed_in"] is True
