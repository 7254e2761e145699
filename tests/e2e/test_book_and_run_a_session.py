import datetime
import re

import pytest
import time_machine
from playwright.sync_api import expect

from scheduling.models import Appointment, SessionRecord
from tests.e2e.browser import pick_patient
from tests.factories import (
    PASSWORD,
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)

pytestmark = pytest.mark.browser


def test_book_from_the_day_view_then_check_in_and_complete(page, transactional_db, settings):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=clinic, name="Chair A")
    patient = PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace", mrn="MRN-ADA")
    TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45), motor_threshold=52)
    PatientFactory(home_clinic=clinic, first_name="Alan", last_name="Turing")
    staff_user(role="Clinician", username="drc")

    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600  # the login lasts until the server's clock reaches the session
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("drc")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Next day ›").click()

    page.get_by_role("link", name="Book Chair A at 09:00").click()
    booking = page.locator("#booking")
    expect(booking).to_be_visible()  # loaded into the side panel by htmx
    pick_patient(page, booking, "Lovel", "Ada Lovelace")
    expect(booking.get_by_label("Patient")).to_have_value("Ada Lovelace (MRN-ADA)")
    booking.get_by_role("button", name="Book").click()

    expect(page.get_by_role("heading", name="Acute session")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Booked")
    appointment = Appointment.objects.get(patient=patient)
    assert f"{clinic.local(appointment.starts_at):%H:%M}" == "09:00"
    expect(page.get_by_test_id("check-in-opens")).to_have_text(re.compile(r"Check-in opens at 08:00 on \w+day"))
    expect(page.get_by_role("button", name="Check in")).to_have_count(0)

    # Tomorrow, five minutes into the session (the server's clock).
    with time_machine.travel(appointment.starts_at + datetime.timedelta(minutes=5), tick=True):
        page.reload()
        page.get_by_role("button", name="Check in").click()
        expect(page.get_by_test_id("status")).to_have_text("Checked in")
        # The first session of the course measures the MT: the box is empty, and asked for.
        expect(page.get_by_test_id("mt-recheck")).to_contain_text("no motor threshold has been measured yet")
        threshold = page.get_by_label("Motor threshold measured at this session")
        expect(threshold).to_have_value("")
        page.get_by_role("button", name="Complete session").click()
        expect(page.get_by_text("Measure the motor threshold and enter it")).to_be_visible()
        page.get_by_label("Motor threshold measured at this session").fill("53")
        page.get_by_label("Side effects").fill("Mild scalp discomfort")
        page.get_by_role("button", name="Complete session").click()
        expect(page.get_by_test_id("status")).to_have_text("Completed")
    record = SessionRecord.objects.get(appointment=appointment)
    assert (record.pulses_delivered, record.motor_threshold, record.mt_measured, record.side_effects) == (
        3000, 53, True, "Mild scalp discomfort")
