"""Every page works by keyboard (the project's promise 8): Tab reaches every control of the main
pages in turn, each showing where the focus is, with no trap; and the day's main flow — log in,
book from the day view, pick the patient, check in, complete the session — is done with keys
alone, never a click."""

import datetime

import pytest
import time_machine
from playwright.sync_api import expect

from scheduling.models import Appointment, SessionRecord
from tests import factories
from tests.e2e.browser import booking_redrawn
from tests.e2e.test_accessibility import sign_in
from tests.tmsclinic.test_url_map import routes, url_for
from tmsclinic import roles

pytestmark = pytest.mark.browser

# What a keyboard user can reach with Tab: visible, enabled controls; of a group of radio
# buttons only one is a Tab stop (the arrows move within it).
REACHABLE = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]';
  const seenRadio = new Set();
  return [...document.querySelectorAll(selector)].filter(el => {
    // checkVisibility: not inside a closed <details> or <dialog>, not display:none or hidden.
    if (el.disabled || el.tabIndex < 0 || !el.checkVisibility({visibilityProperty: true})) return false;
    if (el.type === 'radio') { if (seenRadio.has(el.name)) return false; seenRadio.add(el.name); }
    return true;
  }).map(el => el.dataset.kbId = el.dataset.kbId || Math.random().toString(36).slice(2));
}"""

# Where the focus is, and whether the page shows it: an outline or Bootstrap's focus ring.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  el.dataset.kbId = el.dataset.kbId || 'unlisted-' + Math.random().toString(36).slice(2);
  const style = getComputedStyle(el);
  const shown = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
  const name = (el.innerText || el.value || el.name || el.id || '').trim().slice(0, 40);
  return {id: el.dataset.kbId, shown: shown, name: name};
}"""


def tab_walk(page):
    """Tab from the top of the page until the focus leaves it; returns the controls that Tab
    never reached, and those that showed no focus."""
    expected = page.evaluate(REACHABLE)
    # Tab from the very top, wherever an autofocus put the focus.
    page.evaluate("""() => { const start = document.createElement('span'); start.tabIndex = -1;
                             document.body.prepend(start); start.focus(); }""")
    reached, unseen_focus = [], []
    for _ in range(4 * len(expected) + 5):  # a date box takes a Tab for each of its parts
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is not None and reached and focused["id"] == reached[-1]:
            continue  # still in the date box
        if focused is None or focused["id"] in reached:
            break  # out of the page, or round again: no trap
        reached.append(focused["id"])
        if not focused["shown"]:
            unseen_focus.append(focused["name"])
    missed = [kb_id for kb_id in expected if kb_id not in reached]
    shown = "(ids) => ids.map(id => document.querySelector(`[data-kb-id='${id}']`).outerHTML.slice(0, 120))"
    return page.evaluate(shown, missed), unseen_focus


STAFF_PAGES = ("today", "book", "patients", "patient", "patient-edit", "phq9", "attention", "outcomes-report")
PORTAL_PAGES = ("home", "book", "phq9", "preferences")


def test_tab_reaches_every_control_of_the_main_pages_and_shows_where_it_is(page, world):
    problems = {}
    sign_in(page, factories.staff_user(role=roles.CLINICIAN, username="clinician"))
    staff = routes("staff")
    for name in STAFF_PAGES:
        url = url_for("staff", name, staff[name], world["by_segment"])[0]
        page.goto(url)
        missed, unseen = tab_walk(page)
        if missed or unseen:
            problems[url] = {"not reached": missed, "focus not shown": unseen}
    sign_in(page, world["patient"].user)
    portal = routes("portal")
    for name in PORTAL_PAGES:
        url = url_for("portal", name, portal[name], world["by_segment"])[0]
        page.goto(url)
        missed, unseen = tab_walk(page)
        if missed or unseen:
            problems[url] = {"not reached": missed, "focus not shown": unseen}
    assert problems == {}


def tab_to(page, name, limit=400):
    """Press Tab until the focused control's name (its aria-label, label, text or value) is ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement;
            const label = el.labels && el.labels.length ? el.labels[0].innerText.replace(/\\*$/, '') : '';
            return (el.getAttribute('aria-label') || label || el.innerText || el.value || '').trim(); }""")
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_book_check_in_and_complete_a_session_with_the_keyboard_alone(page, transactional_db, settings):
    clinic = factories.ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        factories.OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8),
                                      closes_at=datetime.time(18))
    factories.ChairFactory(clinic=clinic, name="Chair A")
    patient = factories.PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace", mrn="MRN-ADA")
    factories.TreatmentCourseFactory(patient=patient, protocol=factories.ProtocolFactory(chair_minutes=45),
                                     motor_threshold=52)
    factories.staff_user(role=roles.CLINICIAN, username="drc")

    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600  # the login lasts until the server's clock reaches the session
    page.goto("/accounts/login/")
    expect(page.get_by_label("Username")).to_be_focused()  # the login's first box has the focus
    page.keyboard.type("drc")
    page.keyboard.press("Tab")
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Riverside TMS")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["width"] > 20  # shown when it has the focus

    tab_to(page, "Next day ›")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # One tab stop for the chair's column (its first free time), the arrow keys within it.
    tab_to(page, "Book Chair A at 08:00")
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="Book Chair A at 09:00")).to_be_focused()
    page.keyboard.press("Enter")
    booking = page.locator("#booking")
    expect(booking).to_be_visible()
    expect(booking.get_by_label("Patient")).to_be_focused()
    page.keyboard.type("Lovel")
    result = booking.locator("#patient-listbox").get_by_role("option", name="Ada Lovelace")
    expect(result).to_be_visible()
    page.keyboard.press("ArrowDown")  # the picker is a combobox: arrows highlight, Enter chooses
    expect(result).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    booking_redrawn(page)
    expect(booking.get_by_label("Patient")).to_have_value("Ada Lovelace (MRN-ADA)")
    tab_to(page, "Book")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Acute session")).to_be_visible()
    appointment = Appointment.objects.get(patient=patient)
    assert f"{clinic.local(appointment.starts_at):%H:%M}" == "09:00"
    with time_machine.travel(appointment.starts_at + datetime.timedelta(minutes=5), tick=True):
        page.reload()
        tab_to(page, "Check in")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_test_id("status")).to_have_text("Checked in")
        tab_to(page, "Motor threshold measured at this session (% of machine output)")
        page.keyboard.type("53")
        tab_to(page, "Complete session")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_test_id("status")).to_have_text("Completed")
    assert SessionRecord.objects.filter(appointment=appointment, motor_threshold=53, mt_measured=True).exists()
