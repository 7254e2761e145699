"""One search, everywhere (issue 13, part 2), in Chromium with the keyboard alone: "/" goes to
the navigation's search box, Enter lists the patients found, and a patient opens; in the
booking panel's picker (an ARIA combobox) the arrows move, Escape closes, Enter chooses the
patient without submitting the form, and the appointment is booked. Screenshots go to
test-results/search/."""

import datetime
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from scheduling.models import Appointment
from tests import factories
from tests.e2e.browser import booking_redrawn, htmx_settled
from tests.e2e.test_accessibility import blocking_violations, sign_in
from tests.e2e.test_keyboard import tab_to
from tmsclinic import roles

pytestmark = pytest.mark.browser

SHOTS = Path("test-results/search")


@pytest.fixture
def riverside(transactional_db):
    clinic = factories.ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        factories.OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8),
                                      closes_at=datetime.time(18))
    factories.ChairFactory(clinic=clinic, name="Chair A")
    people = {
        "elena": factories.PatientFactory(home_clinic=clinic, first_name="Elena", last_name="Okoro", mrn="RV-1001",
                                          date_of_birth=datetime.date(1966, 12, 9), phone="+12125550123"),
        "helena": factories.PatientFactory(home_clinic=clinic, first_name="Helena", last_name="Okorocha",
                                           mrn="RV-1002"),
    }
    lakeside = factories.ClinicFactory(name="Lakeside TMS")
    factories.PatientFactory(home_clinic=lakeside, first_name="Elena", last_name="Okoro", mrn="LK-1001",
                             date_of_birth=datetime.date(1966, 12, 9))
    desk = factories.staff_user(role=roles.FRONT_DESK, username="riverdesk", clinics=[clinic])
    return {"clinic": clinic, "desk": desk, **people}


def test_slash_focuses_the_navigation_search_which_finds_and_opens_a_patient(page, live_server, riverside):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 800})
    sign_in(page, riverside["desk"])
    page.goto(reverse("staff:patients"))
    box = page.get_by_role("searchbox", name="Search patients")
    expect(box).to_be_visible()
    expect(box).not_to_be_focused()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    assert box.input_value() == ""  # the slash moved the focus; it was not typed
    page.keyboard.type("(212) 555-0123")
    page.screenshot(path=SHOTS / "nav-search-typed-1366.png")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=%28212%29+555-0123" in page.url
    links = page.locator("table a[href^='/staff/patients/']")
    expect(links).to_have_text(["Okoro, Elena"])  # Riverside's Elena only; Lakeside's twin is walled off

    # Typing "/" into a text box types it; it does not jump to the navigation.
    page.keyboard.press("/")
    expect(box).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("12/09/1966")
    expect(box).to_have_value("12/09/1966")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(links).to_have_text(["Okoro, Elena"])

    page.keyboard.press("/")
    page.keyboard.press("Control+a")
    page.keyboard.type("Okoro, Elena")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(links).to_have_text(["Okoro, Elena", "Okorocha, Helena"])  # the whole name first, then the part
    page.screenshot(path=SHOTS / "nav-search-results-1366.png")
    tab_to(page, "Okoro, Elena")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Elena Okoro")
    page.screenshot(path=SHOTS / "nav-search-opened-1366.png")


def test_the_booking_picker_is_a_combobox_used_with_the_keyboard_alone(page, live_server, riverside):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 800})
    sign_in(page, riverside["desk"])
    page.goto(reverse("staff:today"))
    tab_to(page, "Next day ›")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "Book Chair A at 08:00")
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="Book Chair A at 09:00")).to_be_focused()
    page.keyboard.press("Enter")
    booking = page.locator("#booking")
    picker = booking.get_by_role("combobox", name="Patient")
    expect(picker).to_be_focused()
    expect(picker).to_have_attribute("aria-expanded", "false")
    htmx_settled(page)
    page.wait_for_selector("#booking-drawer.show:not(.showing)")
    expect(picker).to_be_focused()  # still, once the drawer has slid in

    results = booking.locator("#patient-results")  # the kind and chair <select>s have options too
    page.keyboard.type("okoro")
    elena = results.get_by_role("option", name=re.compile(r"^Elena Okoro "))
    helena = results.get_by_role("option", name=re.compile(r"^Helena Okorocha "))
    expect(results.get_by_role("option")).to_have_count(2)  # not Lakeside's Elena
    expect(picker).to_have_attribute("aria-expanded", "true")
    expect(picker).to_have_attribute("aria-controls", "patient-listbox")
    assert picker.get_attribute("aria-activedescendant") is None
    page.keyboard.press("ArrowDown")
    expect(elena).to_have_attribute("aria-selected", "true")
    expect(picker).to_have_attribute("aria-activedescendant", elena.get_attribute("id"))
    page.keyboard.press("ArrowDown")
    expect(helena).to_have_attribute("aria-selected", "true")
    expect(elena).to_have_attribute("aria-selected", "false")
    page.screenshot(path=SHOTS / "picker-highlighted-1366.png")
    assert blocking_violations(page) == []  # axe-core on the open combobox, an option highlighted
    page.keyboard.press("ArrowUp")
    expect(picker).to_have_attribute("aria-activedescendant", elena.get_attribute("id"))
    page.keyboard.press("Escape")  # closes the list; the text stays
    expect(picker).to_have_attribute("aria-expanded", "false")
    expect(results.get_by_role("option")).to_have_count(0)
    expect(picker).to_have_value("okoro")
    expect(page.locator("#booking-drawer")).to_be_visible()  # Escape closed the list, not the drawer

    page.keyboard.press("Control+a")
    page.keyboard.type("Okoro, Elena")
    expect(results.get_by_role("option")).to_have_count(2)
    expect(results.get_by_role("option").first).to_have_accessible_name("Elena Okoro MRN RV-1001 · born 9 Dec 1966")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # chooses Elena; the booking form is not sent
    expect(booking.get_by_label("Patient")).to_have_value("Elena Okoro (RV-1001)")
    booking_redrawn(page)
    assert not Appointment.objects.exists()
    expect(booking.locator("input[name=patient]")).to_have_value(str(riverside["elena"].pk))
    page.screenshot(path=SHOTS / "picker-chosen-1366.png")
    tab_to(page, "Book")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    appointment = Appointment.objects.get()
    assert appointment.patient == riverside["elena"]
    assert f"{riverside['clinic'].local(appointment.starts_at):%H:%M}" == "09:00"
    page.screenshot(path=SHOTS / "picker-booked-1366.png")


def test_on_a_phone_the_search_is_in_the_menu(page, live_server, riverside):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, riverside["desk"])
    page.goto(reverse("staff:patients"))
    box = page.get_by_role("searchbox", name="Search patients")
    expect(box).to_be_hidden()  # folded into the menu
    page.get_by_role("button", name="Toggle navigation").click()
    expect(box).to_be_visible()
    box.fill("9 Dec 1966")
    page.screenshot(path=SHOTS / "nav-search-menu-390.png")
    with page.expect_navigation():
        box.press("Enter")
    expect(page.locator("table a[href^='/staff/patients/']")).to_have_text(["Okoro, Elena"])
    page.screenshot(path=SHOTS / "nav-search-results-390.png", full_page=True)
