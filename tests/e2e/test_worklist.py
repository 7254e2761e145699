import datetime
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from playwright.sync_api import expect

from patients.models import PatientFlag, PlanTemplate, PlanTemplatePhase
from scheduling.models import Appointment
from scheduling.services.plans import flag_overdue_patients, start_plan
from tests.factories import (
    PASSWORD,
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    staff_user,
)

pytestmark = pytest.mark.browser


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

    # The booking form opens on the suggested slot, every field filled in.
    expect(page).to_have_url(re.compile(r"/staff/book/\?"))
    suggested = parse_qs(urlsplit(page.url).query)
    starts_at = datetime.datetime.fromisoformat(suggested["starts_at"][0])
    booking = page.locator("#booking")
    expect(booking.get_by_label("Patient")).to_have_value("Ada Lovelace (MRN-ADA)")
    expect(booking.get_by_label("Chair")).to_have_value(str(chair.pk))
    expect(booking.get_by_label("Starts at (clinic time)")).to_have_value(f"{clinic.local(starts_at):%Y-%m-%dT%H:%M}")
    expect(booking.get_by_label("Kind")).to_have_value("maintenance")
    booking.get_by_role("button", name="Book").click()

    expect(page.get_by_role("heading", name="Maintenance session")).to_be_visible()
    appointment = Appointment.objects.get(patient=patient)
    assert (appointment.plan, appointment.chair, appointment.starts_at) == (plan, chair, starts_at)

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
