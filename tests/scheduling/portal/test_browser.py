"""The portal by keyboard alone on a phone-sized screen: log in, answer a PHQ-9 whose question
9 is not "not at all", and see crisis help first on the next page."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from patients.models import PatientFlag
from tests.factories import PASSWORD, ClinicFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/portal")

@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()

def test_keyboard_only_check_in_shows_crisis_help(phone, transactional_db):
    SHOTS.mkdir(parents=True, exist_ok=True)
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York",
                           crisis_help="Call or text 988 now, or 911 in an emergency.", crisis_phone="988")
    account = UserFactory(username="eve@patients.test", email="eve@patients.test")
    patient = PatientFactory(home_clinic=clinic, user=account, email="eve@patients.test", first_name="Eve")

    phone.goto("/portal/login/")
    expect(phone.get_by_label("E-mail")).to_be_focused()  # the first field takes the focus
    phone.keyboard.type("eve@patients.test")
    phone.keyboard.press("Tab")
    expect(phone.get_by_label("Password")).to_be_focused()
    phone.keyboard.type(PASSWORD)
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="Hello Eve")).to_be_visible()

    phone.get_by_role("link", name="Check-in").focus()
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="How are you feeling?")).to_be_visible()
    for number in range(1, 10):
        # Tab reaches each question's radio group; the arrow keys choose within it.
        radio = phone.locator(f"input[name=item_{number}][value='0']")
        radio.focus()
        phone.keyboard.press("Space")
        if number == 9:
            phone.keyboard.press("ArrowRight")
            phone.keyboard.press("ArrowRight")
            expect(phone.locator("input[name=item_9][value='2']")).to_be_checked()
    phone.locator("input[name=difficulty][value='0']").focus()
    phone.keyboard.press("Space")
    phone.screenshot(path=str(SHOTS / "keyboard-phq9.png"), full_page=True)
    phone.get_by_role("button", name="Send my answers").focus()
    phone.keyboard.press("Enter")

    crisis = phone.get_by_test_id("crisis-help")
    expect(crisis).to_be_visible()
    expect(crisis).to_contain_text("Call or text 988 now, or 911 in an emergency.")
    expect(crisis.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")
    box = crisis.bounding_box()
    assert box is not None and box["y"] < 844  # on screen without scrolling
    phone.screenshot(path=str(SHOTS / "keyboard-crisis.png"), full_page=True)
    assert PatientFlag.objects.filter(patient=patient, kind=PatientFlag.Kind.SAFETY).exists()
