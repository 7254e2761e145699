"""A patient's own appointment in the portal (issue 13, part 6), in Chromium: after booking they
land on its page, can always get back to it from home, and move or cancel it only after saying
yes to a question; the calendar link has a copy button; the PHQ-9 chart is readable on a phone;
and every flow works with JavaScript turned off (htmx only enhances)."""

import datetime
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from patients.models import Assessment, Patient
from scheduling.models import Appointment
from scheduling.services import book_appointment
from scheduling.services.plans import refresh_plan
from scheduling.services.reminders import link_for
from tests.factories import (
    PASSWORD,
    AssessmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/portal")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 800}


@pytest.fixture
def ada(transactional_db):
    """A patient whose maintenance session may be booked from the day after tomorrow."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York", phone="+12125550123")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=clinic, name="Chair A")
    protocol = ProtocolFactory(name="iTBS maintenance", chair_minutes=30, session_minutes=3)
    account = UserFactory(username="ada@patients.test", email="ada@patients.test")
    patient = PatientFactory(home_clinic=clinic, user=account, email="ada@patients.test", first_name="Ada",
                             last_name="Lovelace")
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol, grace_days=7,
                                  started_on=clinic.today() + datetime.timedelta(days=5))
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    refresh_plan(plan)
    return patient


def open_page(browser, live_server, viewport, **options):
    context = browser.new_context(base_url=live_server.url, viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def log_in(page, next_url="/portal/"):
    page.goto(f"/portal/login/?next={next_url}")
    page.get_by_label("E-mail").fill("ada@patients.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def day_words(day):
    return f"{day:%A} {day.day} {day:%B}"


def open_day(page, day):
    """Unfold the day's list of times (each day is a <details>; the first is open already)."""
    heading = page.get_by_role("heading", name=day_words(day))
    if page.locator("details", has=heading).get_attribute("open") is None:
        heading.click()


def appointment_url(appointment):
    return reverse("portal:appointment", args=[appointment.uuid])


def book_move_and_cancel(page, patient, shots):
    """The whole round from the booking page: returns nothing, asserts every step."""
    clinic = patient.home_clinic
    first_day = clinic.today() + datetime.timedelta(days=3)
    later_day = clinic.today() + datetime.timedelta(days=4)

    log_in(page, reverse("portal:book"))
    open_day(page, first_day)
    page.get_by_role("button", name=f"Book {day_words(first_day)} at 09:00").click()

    # Booking lands on the appointment's own page.
    booked = Appointment.objects.get(patient=patient)
    expect(page).to_have_url(re.compile(re.escape(appointment_url(booked)) + "$"))
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(page.get_by_test_id("when")).to_have_text(f"{day_words(first_day)} {first_day.year} at 09:00")
    expect(page.get_by_role("link", name="Add to my calendar")).to_have_attribute(
        "href", reverse("portal:appointment-ics", args=[booked.uuid]))
    page.screenshot(path=str(shots / "1-booked.png"), full_page=True)

    # Back home, and from there back to it.
    page.get_by_role("link", name="Back to your appointments").click()
    expect(page.get_by_role("heading", name="Hello Ada")).to_be_visible()
    page.screenshot(path=str(shots / "2-home.png"), full_page=True)
    page.get_by_role("link", name=f"{day_words(first_day)} at 09:00").click()
    expect(page).to_have_url(re.compile(re.escape(appointment_url(booked)) + "$"))

    # Moving: choosing a time asks first; "Choose another time" changes nothing.
    page.get_by_role("link", name="Move to another time").click()
    expect(page.get_by_role("heading", name="Move your appointment", exact=True)).to_be_visible()
    open_day(page, later_day)
    page.get_by_role("button", name=f"Move to {day_words(later_day)} at 10:00").click()
    question = page.get_by_role("heading", name=f"Move your appointment to {day_words(later_day)} at 10:00?")
    expect(question).to_be_visible()
    page.screenshot(path=str(shots / "3-move-question.png"), full_page=True)
    assert list(Appointment.objects.filter(patient=patient).values_list("pk", "status")) == [
        (booked.pk, Appointment.Status.BOOKED)]
    page.get_by_role("button", name="Yes, move it").click()
    expect(page.get_by_role("alert")).to_have_text(f"Moved to {day_words(later_day)} at 10:00.")
    moved = Appointment.objects.get(patient=patient, status=Appointment.Status.BOOKED)
    assert clinic.local(moved.starts_at).replace(tzinfo=None) == datetime.datetime.combine(
        later_day, datetime.time(10))
    expect(page).to_have_url(re.compile(re.escape(appointment_url(moved)) + "$"))

    # Cancelling: "Keep it" keeps it; "Yes, cancel it" cancels.
    page.get_by_role("link", name="Cancel this appointment").click()
    expect(page.get_by_role("heading", name=f"Cancel your appointment on {day_words(later_day)} at 10:00?")
           ).to_be_visible()
    page.screenshot(path=str(shots / "4-cancel-question.png"), full_page=True)
    page.get_by_role("link", name="Keep it").click()
    expect(page.get_by_test_id("status")).to_have_text("Booked")
    moved.refresh_from_db()
    assert moved.status == Appointment.Status.BOOKED
    page.get_by_role("link", name="Cancel this appointment").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("alert")).to_have_text("Your appointment is cancelled. The clinic has been told.")
    expect(page.get_by_test_id("status")).to_have_text("Cancelled")
    page.screenshot(path=str(shots / "5-cancelled.png"), full_page=True)
    moved.refresh_from_db()
    assert moved.status == Appointment.Status.CANCELLED


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1366x800"])
def test_book_land_on_the_appointment_go_home_come_back_move_and_cancel(browser, live_server, ada, viewport):
    shots = SHOTS / f"appointment-{viewport['width']}"
    shots.mkdir(parents=True, exist_ok=True)
    context, page = open_page(browser, live_server, viewport, is_mobile=viewport is PHONE,
                              has_touch=viewport is PHONE)
    try:
        book_move_and_cancel(page, ada, shots)
    finally:
        context.close()


def test_the_calendar_link_has_a_copy_button_that_says_copied(browser, live_server, ada):
    ada.calendar_token = "private-feed-token-for-ada"
    ada.save(update_fields=["calendar_token"])
    context, page = open_page(browser, live_server, PHONE, is_mobile=True, has_touch=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    try:
        log_in(page, reverse("portal:preferences") + "#calendar")
        feed = page.get_by_label("Your private calendar link")
        expected = live_server.url + reverse("portal:calendar-feed", args=["private-feed-token-for-ada"])
        expect(feed).to_have_value(expected)
        status = page.get_by_test_id("copy-status")
        expect(status).to_have_attribute("aria-live", "polite")
        expect(status).to_have_text("")
        page.get_by_role("button", name="Copy link").click()
        expect(status).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == expected
        page.get_by_role("button", name="Copy link").focus()
        page.screenshot(path=str(SHOTS / "calendar-copied-390.png"), full_page=True)
    finally:
        context.close()


def test_the_phq9_chart_is_readable_on_a_phone(browser, live_server, ada):
    clinic = ada.home_clinic
    TreatmentCourseFactory(patient=ada, start_date=clinic.today() - datetime.timedelta(days=40))
    for days_ago, low in ((42, 3), (20, 2), (3, 0)):
        AssessmentFactory(patient=ada, taken_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(
            days=days_ago), item_1=low, item_2=low, item_3=low)
    context, page = open_page(browser, live_server, PHONE, is_mobile=True, has_touch=True)
    try:
        log_in(page)
        chart = page.locator("[aria-labelledby=phq9-caption] svg")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]  # no sideways scrolling
        # Every label drawn in the chart is at least 13 px tall as shown.
        heights = chart.locator("text").evaluate_all("texts => texts.map(t => t.getBoundingClientRect().height)")
        assert heights and min(heights) >= 13, heights
        legend = page.get_by_test_id("phq9-legend")
        expect(legend).to_contain_text("Your score (lower is better)")
        expect(legend).to_contain_text("0–4: minimal — below 5 is remission-level")
        expect(page.locator("main")).not_to_contain_text("baseline")
        sizes = legend.locator("span").evaluate_all("spans => spans.map(s => parseFloat(getComputedStyle(s).fontSize))")
        assert min(sizes) >= 16, sizes
        page.get_by_test_id("phq9-legend").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "phq9-chart-390.png"), full_page=True)
    finally:
        context.close()


def test_every_portal_flow_works_with_javascript_off(browser, live_server, ada):
    context, page = open_page(browser, live_server, PHONE, java_script_enabled=False)
    shots = SHOTS / "no-js"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        # Log in, book, move and cancel (each with its question), all as plain links and forms.
        book_move_and_cancel(page, ada, shots)
        # No script runs: the copy button, which static/js/portal.js reveals, stays hidden.
        page.goto(reverse("portal:preferences"))
        page.get_by_label("I agree to receive reminders by e-mail").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert")).to_have_text("Your preferences are saved.")
        assert Patient.objects.get(pk=ada.pk).email_consent is True
        page.get_by_role("button", name="Make my calendar link").click()
        expect(page.get_by_role("alert")).to_contain_text("Your new private calendar link is ready.")
        token = Patient.objects.get(pk=ada.pk).calendar_token
        expect(page.get_by_label("Your private calendar link")).to_have_value(
            live_server.url + reverse("portal:calendar-feed", args=[token]))
        expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
        page.screenshot(path=str(shots / "6-preferences.png"), full_page=True)

        page.goto(reverse("portal:phq9"))
        for number in range(1, 10):
            page.locator(f"input[name=item_{number}][value='1']").check()
        page.locator("input[name=difficulty][value='1']").check()
        page.get_by_role("button", name="Send my answers").click()
        expect(page.get_by_test_id("score")).to_contain_text("Your PHQ-9 total is 9 (mild).")
        assessment = Assessment.objects.get(patient=ada)
        assert (assessment.total, assessment.source) == (9, Assessment.Source.PORTAL)
        page.screenshot(path=str(shots / "7-phq9-done.png"), full_page=True)

        page.goto(reverse("portal:home"))
        expect(page.locator("[aria-labelledby=phq9-caption] svg")).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_label("E-mail")).to_be_visible()
    finally:
        context.close()


def test_the_reminder_links_cancel_asks_first_with_javascript_off(browser, live_server, ada):
    clinic = ada.home_clinic
    day = clinic.today() + datetime.timedelta(days=3)
    starts_at = datetime.datetime.combine(day, datetime.time(11), tzinfo=clinic.tz)
    appointment = book_appointment(patient=ada, chair=clinic.chairs.get(), starts_at=starts_at,
                                   kind=Appointment.Kind.CONSULT, booked_by=None,
                                   duration=datetime.timedelta(minutes=45))
    path = "/" + link_for(appointment).split("/", 3)[3]
    context, page = open_page(browser, live_server, PHONE, java_script_enabled=False)
    try:
        page.goto(path)
        page.get_by_role("link", name="Cancel this appointment").click()
        expect(page.get_by_role("heading", name=f"Cancel your appointment on {day_words(day)} at 11:00?")
               ).to_be_visible()
        page.screenshot(path=str(SHOTS / "reminder-cancel-question-390.png"), full_page=True)
        page.get_by_role("link", name="Keep it").click()
        expect(page.get_by_test_id("status")).to_have_text("Booked")
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.BOOKED
        page.get_by_role("link", name="Cancel this appointment").click()
        page.get_by_role("button", name="Yes, cancel it").click()
        expect(page.get_by_test_id("status")).to_have_text("Cancelled")
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.CANCELLED
    finally:
        context.close()
