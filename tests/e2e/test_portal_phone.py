"""A patient on a phone: log in, book a maintenance session, cancel it (after saying yes), answer a PHQ-9."""

import datetime
from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from patients.models import Assessment
from scheduling.models import Appointment
from scheduling.services.plans import refresh_plan
from tests.factories import (
    PASSWORD,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/portal")


def phq9_url():
    try:
        return reverse("portal:phq9")
    except NoReverseMatch:  # the check-in is not built yet
        return None


def day_words(day):
    return f"{day:%A} {day.day} {day:%B}"


def test_a_patient_books_and_cancels_a_session_and_checks_in_on_a_phone(phone, transactional_db):
    SHOTS.mkdir(parents=True, exist_ok=True)
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York", phone="+12125550123")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=clinic, name="Chair A")
    protocol = ProtocolFactory(name="iTBS maintenance", chair_minutes=30, session_minutes=3)
    account = UserFactory(username="ada@patients.test", email="ada@patients.test")
    patient = PatientFactory(home_clinic=clinic, user=account, email="ada@patients.test", first_name="Ada",
                             last_name="Lovelace")
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol, started_on=clinic.today() + datetime.timedelta(
        days=5), grace_days=7)
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    refresh_plan(plan)
    chosen_day = clinic.today() + datetime.timedelta(days=3)

    phone.goto("/portal/login/?next=/portal/book/")
    phone.get_by_label("E-mail").fill("ada@patients.test")
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Log in").click()

    expect(phone.get_by_role("heading", name="Book a maintenance session")).to_be_visible()
    expect(phone.get_by_role("heading", name=day_words(chosen_day))).to_be_visible()
    assert "Chair A" not in phone.content()
    phone.get_by_role("heading", name=day_words(chosen_day)).click()  # each day folds open
    phone.screenshot(path=str(SHOTS / "1-slots.png"), full_page=True)
    phone.get_by_role("button", name=f"Book {day_words(chosen_day)} at 09:00").click()

    expect(phone.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(phone.get_by_test_id("when")).to_contain_text(f"{day_words(chosen_day)} {chosen_day.year} at 09:00")
    expect(phone.get_by_test_id("status")).to_have_text("Booked")
    phone.screenshot(path=str(SHOTS / "2-booked.png"), full_page=True)
    appointment = Appointment.objects.get(patient=patient)
    assert (appointment.booked_via, appointment.kind) == (Appointment.Via.PORTAL, Appointment.Kind.MAINTENANCE)

    phone.get_by_role("link", name="Cancel this appointment").click()
    expect(phone.get_by_role("heading", name=f"Cancel your appointment on {day_words(chosen_day)} at 09:00?")
           ).to_be_visible()
    phone.get_by_role("button", name="Yes, cancel it").click()
    expect(phone.get_by_role("alert")).to_have_text("Your appointment is cancelled. The clinic has been told.")
    expect(phone.get_by_test_id("status")).to_have_text("Cancelled")
    phone.screenshot(path=str(SHOTS / "3-cancelled.png"), full_page=True)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED

    check_in = phq9_url()
    if check_in is None:
        return
    phone.goto(check_in)
    for number in range(1, 10):
        phone.locator(f"input[name=item_{number}][value='1']").check()
    phone.locator("input[name=difficulty][value='1']").check()
    phone.screenshot(path=str(SHOTS / "4-phq9.png"), full_page=True)
    phone.get_by_role("button", name="Send my answers").click()
    phone.wait_for_url(f"**{reverse('portal:phq9-done')}")
    phone.screenshot(path=str(SHOTS / "5-phq9-done.png"), full_page=True)
    assessment = Assessment.objects.get(patient=patient)
    assert (assessment.total, assessment.source) == (9, Assessment.Source.PORTAL)
