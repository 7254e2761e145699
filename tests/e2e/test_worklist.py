import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from patients.models import OutreachAttempt, PatientFlag, PlanTemplate, PlanTemplatePhase
from scheduling.models import Appointment
from scheduling.services.plans import flag_overdue_patients, refresh_plan, start_plan
from tests.e2e.test_accessibility import blocking_violations
from tests.factories import (
    PASSWORD,
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    staff_user,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/worklist")
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


def test_a_clinician_books_the_suggested_slot_and_the_flag_resolves_when_the_session_is_done(
        page, transactional_db, settings):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    chair = ChairFactory(clinic=clinic, name="Chair A")
    protocol = ProtocolFactory(name="iTBS maintenance", pattern="itbs", pulses_per_session=600, session_minutes=3,
                               chair_minutes=30, intensity_percent_mt=120)
    # Transactional tests flush the templates the data migration made.
    monthly = PlanTemplate.objects.create(name="Monthly", grace_days=7)
    PlanTemplatePhase.objects.create(template=monthly, order=0, interval_days=28, visits=None)
    patient = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace", mrn="MRN-ADA")
    plan = start_plan(patient=patient, protocol=protocol, template=monthly,
                      started_on=clinic.today() - datetime.timedelta(days=30))
    assert flag_overdue_patients()["raised"] == 1
    flag = PatientFlag.objects.get(patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    staff_user(role="Clinician", username="drc")

    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600  # the login lasts until the server's clock reaches the session
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("drc")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("attention-count")).to_have_text("1 open")
    page.get_by_role("link", name="Needs attention").click()

    row = page.get_by_test_id("flag").filter(has_text="Ada Lovelace")
    expect(row.get_by_test_id("kind")).to_contain_text("Overdue maintenance")
    expect(row.get_by_test_id("plan")).to_contain_text("Monthly")
    expect(row.get_by_test_id("days-overdue")).to_have_text("30")
    expect(row.get_by_test_id("next-booking")).to_have_text("Nothing booked")
    row.get_by_role("link", name="Book next session").click()

    # A confirmation of the suggested slot: booked in one click, and back to the worklist.
    expect(page.get_by_role("heading", name="Book the next session of Ada Lovelace")).to_be_visible()
    assert blocking_violations(page) == []
    page.screenshot(path=str(SHOTS / "book-next-confirm.png"), full_page=True)
    page.get_by_role("button", name="Book this session").click()
    expect(page).to_have_url(re.compile(r"/staff/attention/$"))
    appointment = Appointment.objects.get(patient=patient)
    starts_at = appointment.starts_at
    assert (appointment.plan, appointment.chair, appointment.kind) == (plan, chair, "maintenance")
    # No sooner than the two-hour lead time, on the clinic's grid.
    assert starts_at >= timezone.now() + datetime.timedelta(minutes=119)
    waiting = page.get_by_test_id("awaiting-visit")
    expect(waiting.get_by_test_id("flag")).to_contain_text("Ada Lovelace")
    local = clinic.local(starts_at)
    expect(waiting.get_by_test_id("awaiting")).to_have_text(f"Booked {local:%a} {local.day} {local:%b %H:%M}")
    expect(page.get_by_role("link", name="Book next session")).to_have_count(0)
    expect(page.get_by_test_id("to-act-on")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "booked-awaiting-visit.png"), full_page=True)
    waiting.get_by_test_id("next-booking").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Maintenance session")).to_be_visible()

    # The session's time comes (the server's clock): it is checked in and completed.
    with time_machine.travel(starts_at + datetime.timedelta(minutes=5), tick=True):
        page.reload()
        page.get_by_role("button", name="Check in").click()
        expect(page.get_by_test_id("status")).to_have_text("Checked in")
        expect(page.get_by_label("Pulses delivered")).to_have_value("600")  # prefilled from the plan's protocol
        page.get_by_label("Motor threshold measured at this session").fill("58")  # none on record: measured
        page.get_by_role("button", name="Complete session").click()
        expect(page.get_by_test_id("status")).to_have_text("Completed")

        page.get_by_role("link", name="Needs attention").click()
        expect(page.get_by_test_id("no-flags")).to_be_visible()
        expect(page.get_by_test_id("attention-count")).to_have_count(0)
    flag.refresh_from_db()
    assert flag.resolved_at is not None and flag.resolved_by is None  # the system saw the patient back on schedule


def sign_in(context, live_server, user):
    """The browser context carries ``user``'s session, without the login form."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def a_busy_worklist():
    """Thirty overdue patients (a page and a half) with a past session, phone, e-mail and outreach; one
    booked (listed last: on the second page)."""
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    chair = ChairFactory(clinic=clinic, name="Chair A")
    protocol = ProtocolFactory(name="iTBS maintenance", session_minutes=3, chair_minutes=30)
    for n in range(30):
        patient = PatientFactory(home_clinic=clinic, first_name=f"Patient{n:02d}", last_name="Overdue",
                                 phone=f"+1212555{n:04d}", email=f"p{n}@patients.test", sms_consent=n % 2 == 0)
        plan = MaintenancePlanFactory(patient=patient, protocol=protocol,
                                      started_on=clinic.today() - datetime.timedelta(days=20 + n), grace_days=7)
        MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
        plan = refresh_plan(plan)
        flag = PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, plan=plan,
                                  due_on=plan.next_due_on)
        AppointmentFactory(patient=patient, chair=chair, kind="maintenance", status="completed",
                           starts_at=timezone.now() - datetime.timedelta(days=60 + n))
        OutreachAttempt.objects.create(flag=flag, channel="phone", outcome="no_answer", note="Left a message")
        if n == 0:
            AppointmentFactory(patient=patient, chair=chair, kind="maintenance",
                               starts_at=timezone.now() + datetime.timedelta(days=2))
    return clinic


def rows_in_view(page):
    """How many worklist rows lie wholly inside the viewport, as Chromium lays them out."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="flag"]')].filter(row => {
        const box = row.getBoundingClientRect();
        return box.height > 0 && box.top >= -1 && box.bottom <= window.innerHeight + 1;
    }).length""")


@pytest.mark.parametrize(("name", "viewport", "at_least"), [("desktop", DESKTOP, 10), ("phone", PHONE, 2)])
def test_the_worklist_is_compact_with_call_and_mail_links(browser, live_server, transactional_db, name, viewport,
                                                         at_least):
    a_busy_worklist()
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    sign_in(context, live_server, staff_user(role="Front desk", username="desk"))
    page = context.new_page()
    page.goto("/staff/attention/")
    expect(page.get_by_test_id("flag")).to_have_count(20)  # a page of the thirty
    # Where the list begins on a screen of its own (the first row at the top), and as the page opens.
    assert rows_in_view(page) >= (at_least if name == "desktop" else 1)
    page.get_by_test_id("flag").first.evaluate("row => window.scrollTo(0, row.getBoundingClientRect().top + scrollY)")
    in_view = rows_in_view(page)
    assert in_view >= at_least, f"only {in_view} rows fit a {viewport} screen"
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    assert blocking_violations(page) == []
    # Nothing is wider than the screen on a phone: the rows are cards.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    row = page.get_by_test_id("flag").filter(has_text="Patient28 Overdue")
    expect(row.get_by_role("link", name="+12125550028")).to_have_attribute("href", "tel:+12125550028")
    expect(row.get_by_role("link", name="p28@patients.test")).to_have_attribute("href", "mailto:p28@patients.test")
    # The booked patient waits below (on the last page), with the date, and is not offered a booking again.
    last = context.new_page()
    last.goto("/staff/attention/?page=2")
    waiting = last.get_by_test_id("awaiting-visit").get_by_test_id("flag")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Patient00 Overdue")
    expect(waiting.get_by_role("link", name="Book next session")).to_have_count(0)
    # "Follow up" opens the row's forms under it, by keyboard too.
    summary = row.get_by_text("Follow up")
    summary.focus()
    page.keyboard.press("Enter")
    expect(row.get_by_label("Channel")).to_be_visible()
    page.screenshot(path=str(SHOTS / f"{name}-follow-up.png"))
    context.close()
