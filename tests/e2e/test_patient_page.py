"""The patient page in Chromium: a 36-session course read to its last session through the
paged lists, with htmx (the list swapped in place, the address kept in step) and without
JavaScript (plain links); each list keeps its page while another is paged. And a new patient
saved with the MRN left blank gets one. Screenshots in test-results/patient/."""

import datetime
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from patients.models import Patient
from tests.e2e.browser import htmx_settled
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/patient")
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


def signed_in(browser, live_server, user, **options):
    context = browser.new_context(base_url=live_server.url, **options)
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return context


def a_patient_in_a_course():
    """36 sessions booked from tomorrow, a day apart, and 25 held before today."""
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    chair = ChairFactory(clinic=clinic, name="Chair A")
    patient = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace")
    course = TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory())
    start = timezone.now().replace(microsecond=0)
    booked = [AppointmentFactory(patient=patient, chair=chair, course=course,
                                 starts_at=start + datetime.timedelta(days=n + 1)) for n in range(36)]
    for n in range(25):
        AppointmentFactory(patient=patient, chair=chair, status="completed",
                           starts_at=start - datetime.timedelta(days=n + 40))
    return clinic, patient, booked


def rows(page, testid):
    return page.get_by_test_id(testid).locator("tbody tr")


@pytest.mark.parametrize(("name", "viewport", "javascript"), [("desktop-htmx", DESKTOP, True),
                                                               ("phone-no-javascript", PHONE, False)])
def test_the_last_session_of_a_course_is_one_click_away(browser, live_server, transactional_db, name, viewport,
                                                        javascript):
    clinic, patient, booked = a_patient_in_a_course()
    context = signed_in(browser, live_server, staff_user(role="Front desk", username="desk"), viewport=viewport,
                        java_script_enabled=javascript)
    page = context.new_page()
    url = f"/staff/patients/{patient.uuid}/"
    page.goto(f"{url}?past=2")
    expect(rows(page, "upcoming")).to_have_count(20)
    expect(rows(page, "past")).to_have_count(5)  # 25 held: the second page of the past has five
    if javascript:
        htmx_settled(page)
    page.get_by_role("link", name="Next upcoming appointments").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(url)}\?past=2&upcoming=2$"))
    expect(rows(page, "upcoming")).to_have_count(16)
    last = clinic.local(booked[-1].starts_at)
    expect(rows(page, "upcoming").last).to_contain_text(f"{last:%a} {last.day} {last:%b %Y %H:%M}")
    expect(rows(page, "past")).to_have_count(5)  # the past list stayed on its page
    expect(page.get_by_role("link", name="Next upcoming appointments")).to_have_count(0)
    if javascript:
        # The last page has no "Next": the focus goes to the list's heading, not the page's top.
        expect(page.get_by_role("heading", name="Upcoming")).to_be_focused()
    page.get_by_test_id("upcoming").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{name}-course-end.png"), full_page=True)
    page.get_by_role("link", name="Previous upcoming appointments").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(url)}\?past=2$"))
    expect(rows(page, "upcoming")).to_have_count(20)
    context.close()


def test_a_new_patient_saved_without_an_mrn_gets_one(browser, live_server, transactional_db):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    desk = staff_user(role="Front desk", username="desk")
    context = signed_in(browser, live_server, desk, viewport=PHONE)
    page = context.new_page()
    page.goto("/staff/patients/new/")
    expect(page.get_by_text("Leave blank to have the next one given, like TMS-000123.")).to_be_visible()
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Date of birth").fill("1976-12-09")
    page.get_by_label("Home clinic").select_option(str(clinic.pk))
    page.get_by_role("button", name=re.compile("^(Save|Add)")).click()
    patient = Patient.objects.get(last_name="Hopper")
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    expect(page.get_by_text(f"MRN TMS-{patient.pk:06d}")).to_be_visible()
    page.screenshot(path=str(SHOTS / "new-patient-mrn.png"), full_page=True)
    context.close()
