"""The day view in Chromium (issue 13, part 1): the booking form opens beside the grid where it
was asked for at every width; a 10-minute iTBS session shows its patient, kind, status and MT
badge inside its card; the legend and the "now" line; check-in from the grid; one tab stop per
chair column with the arrow keys inside it; and the printed run sheet, one page per chair.
Screenshots under test-results/day/."""

import datetime
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.e2e.browser import htmx_settled
from tests.factories import (
    PASSWORD,
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/day")
NEW_YORK = ZoneInfo("America/New_York")
DAY = datetime.date(2027, 2, 3)  # a Wednesday
NOW = datetime.datetime.combine(DAY, datetime.time(10, 7), tzinfo=NEW_YORK)


def at(hour, minute=0):
    return datetime.datetime.combine(DAY, datetime.time(hour, minute), tzinfo=NEW_YORK)


@pytest.fixture
def day(transactional_db, settings):
    """Three chairs: a 10-minute iTBS session at 10:00 on Chair A (its MT never measured), a
    maintenance session at 10:30 on Chair B, a completed one at 09:00 on Chair C."""
    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    chairs = [ChairFactory(clinic=clinic, name=f"Chair {letter}") for letter in "ABC"]
    itbs = ProtocolFactory(name="iTBS", chair_minutes=10, session_minutes=3)
    ada = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace")
    course = TreatmentCourseFactory(patient=ada, protocol=itbs, planned_sessions=30, start_date=DAY)
    AppointmentFactory(patient=ada, chair=chairs[0], course=course, starts_at=at(10), ends_at=at(10, 10))
    alan = PatientFactory(home_clinic=clinic, first_name="Alan", last_name="Turing")
    AppointmentFactory(patient=alan, chair=chairs[1], kind="maintenance", plan=MaintenancePlanFactory(patient=alan),
                       starts_at=at(10, 30), ends_at=at(11, 15))
    AppointmentFactory(patient=PatientFactory(home_clinic=clinic, first_name="Grace", last_name="Hopper"),
                       chair=chairs[2], status="completed", starts_at=at(9), ends_at=at(9, 45))
    staff_user(role="Front desk", username="desk")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return clinic


def log_in(page):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("day-grid")).to_be_visible()


def inside(inner, outer, slack=1):
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


@pytest.mark.parametrize("width", [1280, 1366, 1600])
def test_the_day_at_a_glance_and_booking_beside_it(browser, live_server, day, width):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 800})
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        log_in(page)
        cards = page.get_by_test_id("appointment")
        short = cards.filter(has_text="Ada Lovelace")
        # The 10-minute session: patient, kind, status and the MT badge, all inside its card.
        expect(short.get_by_test_id("kind")).to_have_text("Acute 1/30")
        expect(short.get_by_test_id("appointment-status")).to_have_text("Booked")
        card_box = short.bounding_box()
        for part in (short.get_by_test_id("kind"), short.get_by_test_id("appointment-status"),
                     short.locator(".badge", has_text="MT"), short.get_by_role("button", name="Check in")):
            expect(part).to_be_visible()
            assert inside(part.bounding_box(), card_box), part
        expect(cards.filter(has_text="Alan Turing").get_by_test_id("kind")).to_have_text("Maintenance session")
        expect(page.get_by_test_id("legend")).to_contain_text("Checked in")
        # The now line sits between the 10:00 and 10:15 rows.
        line = page.get_by_test_id("now-line").bounding_box()
        ten = page.locator(".day-grid-time", has_text="10:00").bounding_box()
        quarter = page.locator(".day-grid-time", has_text="10:15").bounding_box()
        assert ten["y"] <= line["y"] <= quarter["y"]
        page.screenshot(path=str(SHOTS / f"day-{width}.png"), full_page=True)

        page.get_by_role("link", name="Book Chair B at 14:00").click()
        booking = page.locator("#booking")
        expect(booking).to_be_visible()
        # The drawer slides in from the right edge: wait until it has come to rest inside the window.
        page.wait_for_function("""() => { const box = document.querySelector('#booking-drawer').getBoundingClientRect();
            return box.width > 0 && box.right <= window.innerWidth + 1; }""")
        drawer = page.locator("#booking-drawer").bounding_box()
        viewport = page.viewport_size
        assert drawer["x"] >= 0 and drawer["x"] + drawer["width"] <= viewport["width"] + 1
        assert drawer["y"] < viewport["height"] / 4  # opens in view, not under the grid
        expect(booking.get_by_label("Starts at (clinic time)")).to_have_value("2027-02-03T14:00")
        page.screenshot(path=str(SHOTS / f"booking-{width}.png"))
        page.keyboard.press("Escape")
        expect(page.locator("#booking-drawer")).to_be_hidden()
    context.close()


def test_check_in_from_the_grid(page, day):
    with time_machine.travel(NOW, tick=True):
        log_in(page)
        with page.expect_navigation():
            page.get_by_role("button", name="Check in Ada Lovelace, 10:00").click()
        expect(page.get_by_test_id("status")).to_have_text("Checked in")


def test_one_tab_stop_per_chair_and_arrow_keys_inside(page, day):
    page.set_viewport_size({"width": 1366, "height": 800})
    with time_machine.travel(NOW, tick=True):
        log_in(page)
        htmx_settled(page)
        grid = page.get_by_test_id("day-grid")
        tabbable = grid.evaluate("""(grid) => Array.from(grid.querySelectorAll('a, button'))
            .filter((el) => el.tabIndex >= 0).length""")
        assert tabbable == 3  # one per chair column
        presses = 0
        while not page.evaluate("() => !!document.activeElement.closest('.day-grid')"):
            page.keyboard.press("Tab")
            presses += 1
            assert presses < 40, "Tab never reached the grid"
        # Chair A's stop is what is on now: Ada's session, then its check-in, then the next free time.
        expect(page.get_by_role("link", name="Ada Lovelace")).to_be_focused()
        assert presses <= 25, f"{presses} tab stops before the grid"
        page.keyboard.press("ArrowDown")
        expect(page.get_by_role("button", name="Check in Ada Lovelace, 10:00")).to_be_focused()
        page.keyboard.press("ArrowDown")
        expect(page.get_by_role("link", name="Book Chair A at 10:15")).to_be_focused()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("link", name="Book Chair B at 10:15")).to_be_focused()
        page.keyboard.press("Tab")  # the next column's own stop: its first free time from now
        expect(page.get_by_role("link", name="Book Chair C at 10:15")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(page.get_by_role("link", name="Book Chair B at 10:15")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#booking")).to_be_visible()
        expect(page.locator("#booking").get_by_label("Starts at (clinic time)")).to_have_value("2027-02-03T10:15")


def test_the_run_sheet_prints_one_page_per_chair(page, day):
    with time_machine.travel(NOW, tick=True):
        log_in(page)
        page.get_by_role("link", name="Run sheet by chair").click()
        expect(page.get_by_test_id("run-sheet-page")).to_have_count(3)
        page.screenshot(path=str(SHOTS / "run-sheet.png"), full_page=True)
        page.emulate_media(media="print")
        expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
        pdf = PdfReader(io.BytesIO(page.pdf(format="Letter")))
    texts = [" ".join(sheet.extract_text().split()) for sheet in pdf.pages]
    assert len(texts) == 3
    assert "Chair A" in texts[0] and "Ada Lovelace" in texts[0] and "Measure" in texts[0] and "iTBS" in texts[0]
    assert "Chair B" in texts[1] and "Alan Turing" in texts[1]
    assert "Chair C" in texts[2] and "Grace Hopper" in texts[2]
    assert not any("Needs attention" in text or "Print" in text for text in texts)


def test_the_day_on_a_phone(browser, live_server, day):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        log_in(page)
        page.get_by_role("link", name="Book Chair A at 10:15").click()
        expect(page.locator("#booking")).to_be_visible()
        drawer = page.locator("#booking-drawer").bounding_box()
        assert drawer["x"] >= -1 and drawer["width"] <= 391
        page.screenshot(path=str(SHOTS / "booking-phone.png"))
    context.close()
