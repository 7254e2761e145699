"""Booking and moving with the slot finder in Chromium (issue 13, part 3), at 1366x800 and on a
phone: from the patient's page the Book page suggests the kind and the next free times; a time
is confirmed before it is booked; the appointment is then moved to another chair after a
confirmation step. Screenshots under test-results/slots/."""

import datetime
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from scheduling.models import Appointment
from tests.factories import (
    PASSWORD,
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/slots")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime.datetime(2027, 2, 3, 8, 0, tzinfo=NEW_YORK)  # a Wednesday, before opening


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 800}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_book_a_time_of_the_finder_then_move_it(browser, live_server, transactional_db, settings, viewport):
    SHOTS.mkdir(parents=True, exist_ok=True)
    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(5):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(9), closes_at=datetime.time(12))
    chair_a, chair_b = ChairFactory(clinic=clinic, name="Chair A"), ChairFactory(clinic=clinic, name="Chair B")
    ada = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace")
    TreatmentCourseFactory(patient=ada, protocol=ProtocolFactory(chair_minutes=45))
    # Chair A is taken at 09:00; Ada is busy nowhere else.
    AppointmentFactory(chair=chair_a, starts_at=NOW.replace(hour=9), patient__first_name="Alan")
    staff_user(role="Front desk", username="desk")
    name = "desktop" if viewport["width"] > 1000 else "phone"

    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("desk")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"/staff/book/?patient={ada.uuid}")
        expect(page.get_by_label("Kind")).to_have_value("acute")  # her course is active
        times = page.get_by_test_id("free-time")
        expect(times.first).to_have_text("Wed 3 Feb 09:00 · Chair B")  # Chair A is taken at 09:00
        expect(times.nth(1)).to_have_text("Wed 3 Feb 09:15 · Chair B")
        page.screenshot(path=str(SHOTS / f"book-{name}.png"), full_page=True)
        times.nth(1).click()
        expect(page.get_by_test_id("confirm-booking")).to_contain_text(
            "Ada Lovelace, acute session on Chair B at Wednesday 3 February, 09:15 (45 min)")
        assert not Appointment.objects.filter(patient=ada).exists()
        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("heading", name="Acute session")).to_be_visible()
        booked = Appointment.objects.get(patient=ada)
        assert (booked.chair, booked.starts_at) == (chair_b, NOW.replace(hour=9, minute=15))

        # Moving it: the finder offers other times, its own chair first; one asks to confirm.
        later = page.get_by_test_id("free-time").filter(has_text=re.compile("Thu 4 Feb 09:00"))
        expect(later).to_have_text("Thu 4 Feb 09:00 · Chair B")
        later.click()
        expect(page.get_by_test_id("confirm-move")).to_contain_text("to Thursday 4 February, 09:00–09:45 on Chair B?")
        page.screenshot(path=str(SHOTS / f"confirm-move-{name}.png"), full_page=True)
        booked.refresh_from_db()
        assert booked.starts_at == NOW.replace(hour=9, minute=15)  # nothing moved yet
        page.get_by_role("button", name="Move it").click()
        expect(page.get_by_role("alert").or_(page.get_by_role("status")).filter(
            has_text="Moved to")).to_be_visible()
    moved = Appointment.objects.get(patient=ada, status="booked")
    assert (moved.chair, moved.starts_at) == (chair_b, datetime.datetime(2027, 2, 4, 9, tzinfo=NEW_YORK))
    context.close()
