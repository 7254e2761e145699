"""The Content-Security-Policy in a real browser: the main staff, admin and portal pages load
without a single violation, and what htmx and the project's scripts do still works."""

import datetime
import re

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.browser import pick_patient
from tests.factories import (
    PASSWORD,
    AppointmentFactory,
    AssessmentFactory,
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    PatientFlagFactory,
    UserFactory,
    staff_user,
)

pytestmark = pytest.mark.browser

# Installed before any of the page's own scripts, so that nothing the policy refuses goes unseen.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation and console error it reports collected."""
    page.add_init_script(LISTEN)
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and not message.location["url"].endswith(
        "/favicon.ico") and page.console_errors.append(f"{message.text} ({message.location['url']})"))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    return page


def assert_no_violation(page, where):
    page.wait_for_load_state("load")
    violations = page.evaluate("window.__violations")
    assert violations == [], f"{where}: {violations}"
    assert page.console_errors == [], f"{where}: {page.console_errors}"


@pytest.fixture
def midday():
    """14:00 in New York, with the clock running: the day has free cells after the appointment
    whatever the hour the tests run at (at 23:02 the appointment took the day's last ones)."""
    with time_machine.travel(datetime.datetime(2027, 2, 3, 19, 0, tzinfo=datetime.UTC), tick=True):
        yield


@pytest.fixture
def clinic_with_a_day(transactional_db, midday):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 45))
    chair = ChairFactory(clinic=clinic, name="Chair A")
    ClinicFactory(name="Harbour TMS", time_zone="America/New_York")  # so the clinic picker shows
    ada = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace", mrn="MRN-ADA")
    PatientFactory(home_clinic=clinic, first_name="Alan", last_name="Turing")
    for days_ago, item in ((60, 3), (20, 1)):
        AssessmentFactory(patient=ada, item_1=item, taken_at=timezone.now() - datetime.timedelta(days=days_ago))
    PatientFlagFactory(patient=ada)
    starts_at = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    if clinic.local(starts_at).date() != clinic.today():
        starts_at -= datetime.timedelta(minutes=50)
    appointment = AppointmentFactory(chair=chair, patient=ada, starts_at=starts_at)
    return clinic, ada, appointment


def log_in(page, url, username, label="Username"):
    page.goto(url)
    page.get_by_label(label).fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_staff_pages_load_without_a_violation_and_htmx_still_works(watched, clinic_with_a_day):
    clinic, ada, appointment = clinic_with_a_day
    staff_user(role="Clinician", username="drc")
    page = watched
    log_in(page, "/accounts/login/", "drc")
    expect(page.get_by_role("heading", name=re.compile("Riverside TMS"))).to_be_visible()
    assert_no_violation(page, "day view")
    # The grid is laid out by the nonce'd stylesheet: the appointment sits in Chair A's column.
    card = page.get_by_test_id("appointment")
    assert abs(card.bounding_box()["x"] - page.get_by_test_id("chair-column").first.bounding_box()["x"]) < 5

    # htmx: a free cell loads the booking form into the side panel; the search fills in results.
    page.get_by_role("link", name=re.compile(r"^Book Chair A at ")).first.click()
    booking = page.locator("#booking")
    expect(booking).to_be_visible()
    pick_patient(page, booking, "Lovel", "Ada Lovelace")
    expect(booking.get_by_label("Patient")).to_have_value("Ada Lovelace (MRN-ADA)")
    assert_no_violation(page, "booking panel")

    for url, landmark in [
        ("/staff/patients/", "Lovelace, Ada"),
        (f"/staff/patients/{ada.uuid}/", "PHQ-9"),
        (f"/staff/appointments/{appointment.uuid}/", "Ada Lovelace"),
        ("/staff/attention/", "Ada Lovelace"),
        ("/staff/reports/outcomes/", "Relapse after maintenance"),
    ]:
        page.goto(url)
        expect(page.locator("main")).to_contain_text(landmark)
        assert_no_violation(page, url)
    page.goto(f"/staff/patients/{ada.uuid}/")
    chart = page.locator("figure svg").first
    expect(chart).to_be_visible()
    # The chart keeps its colours without inline style: the score line is drawn in blue, not black.
    line = chart.locator("#phq9-scores polyline").first
    assert line.evaluate("e => getComputedStyle(e).stroke") == "rgb(31, 78, 140)"

    # The clinic picker submits itself when changed (a script, not an inline onchange).
    page.goto("/staff/")
    page.get_by_label("Clinic", exact=True).select_option(label="Harbour TMS")
    expect(page.get_by_role("heading", name=re.compile("Harbour TMS"))).to_be_visible()
    assert_no_violation(page, "clinic picker")


def test_admin_pages_load_without_a_violation(watched, clinic_with_a_day):
    User.objects.create_superuser("root", "root@clinic.test", PASSWORD)
    page = watched
    log_in(page, "/admin/login/", "root")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert_no_violation(page, "admin index")
    for url in ["/admin/patients/patient/", "/admin/scheduling/appointment/", "/admin/auth/user/add/"]:
        page.goto(url)
        assert_no_violation(page, url)


def test_portal_pages_load_without_a_violation(watched, clinic_with_a_day):
    clinic, ada, appointment = clinic_with_a_day
    ada.user = UserFactory(username="ada@patients.test", email="ada@patients.test")
    ada.email = "ada@patients.test"
    ada.save()
    page = watched
    log_in(page, "/portal/login/", "ada@patients.test", label="E-mail")
    expect(page.locator("main")).to_contain_text("Ada")
    assert_no_violation(page, "portal home")
    expect(page.locator("figure svg").first).to_be_visible()
    for url in ["/portal/book/", "/portal/check-in/", "/portal/preferences/"]:
        page.goto(url)
        assert_no_violation(page, url)
