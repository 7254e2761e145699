"""The waitlist in Chromium with JavaScript off: a patient takes an offered time from the link in
the message, the other patient offered it reads that it has gone; a patient puts themselves on the
waitlist; staff see the freed time and its offers on the day view and the patient page. Every
page passes axe-core (no serious or critical violation)."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from playwright.sync_api import expect

from patients.models import MaintenancePlan
from scheduling.models import Appointment, SlotOffer
from scheduling.services import book_appointment, cancel_appointment, waitlist
from tests.e2e.test_accessibility import blocking_violations, sign_in
from tests.factories import (
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    UserFactory,
    WaitlistEntryFactory,
    staff_user,
)

pytestmark = pytest.mark.browser
# Ahead of the real clock: time-machine moves the monotonic clock too, and Playwright's timers
# would wait out a jump back.
NOW = datetime.datetime(2027, 1, 6, 15, 0, tzinfo=datetime.UTC)  # Wednesday, 10:00 in New York
SLOT = datetime.datetime(2027, 1, 7, 19, 30, tzinfo=datetime.UTC)  # Thursday 14:30 in New York


@pytest.fixture
def world(transactional_db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_WAITLIST_BATCH = 2
    with time_machine.travel(NOW, tick=False):
        clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York", phone="+12125550123")
        for weekday in range(7):
            OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
        chair = ChairFactory(clinic=clinic, name="Chair A")
        people = {}
        for n, name in enumerate(["Ann", "Bob"]):
            patient = PatientFactory(home_clinic=clinic, first_name=name, last_name="Waits", email_consent=True,
                                     user=UserFactory(username=f"{name.lower()}@patients.test"))
            plan = MaintenancePlanFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
            MaintenancePhaseFactory(plan=plan)
            MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2027, 1, 20))
            WaitlistEntryFactory(patient=patient, created_at=NOW - datetime.timedelta(days=5 - n))
            people[name] = patient
        appointment = book_appointment(patient=PatientFactory(home_clinic=clinic), chair=chair, starts_at=SLOT,
                                       kind=Appointment.Kind.CONSULT, booked_by=None,
                                       duration=datetime.timedelta(minutes=45))
        cancel_appointment(appointment, by=None)
        waitlist.offer_freed_slots()
        links = {o.patient.first_name: waitlist.link_for(o).split("/portal/", 1)[1]
                 for o in SlotOffer.objects.select_related("patient")}
    return {"clinic": clinic, "people": people, "links": links}


@pytest.fixture
def no_script(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def at_now():
    """The server's clock a moment after the offers went out (the browser's own is not moved)."""
    return time_machine.travel(NOW + datetime.timedelta(minutes=1), tick=True)


def axe_clean(page, urls):
    """axe-core needs scripts: each page is checked again in a browser that runs them."""
    failures = []
    for url in urls:
        page.goto(url)
        failures += [f"{url}: {line}" for line in blocking_violations(page)]
    return failures


def test_the_first_takes_the_time_from_the_link_and_the_other_reads_it_has_gone(no_script, page, world):
    ann, bob = (f"/portal/{world['links'][name]}" for name in ("Ann", "Bob"))
    with at_now():
        assert axe_clean(page, [ann]) == []
        no_script.goto(ann)
        expect(no_script.get_by_test_id("when")).to_have_text("Thursday 7 January 2027 at 14:30")
        no_script.get_by_role("button", name="Yes, book this time for me").click()
        expect(no_script.get_by_test_id("offer-state")).to_contain_text("this time is booked for you")
        assert Appointment.objects.live().get(starts_at=SLOT).patient == world["people"]["Ann"]
        no_script.goto(bob)
        expect(no_script.get_by_test_id("offer-state")).to_contain_text("someone else took this time first")
        assert no_script.get_by_role("button", name="Yes, book this time for me").count() == 0
        no_script.goto("/portal/offers/forged/")
        expect(no_script.get_by_test_id("offer-state")).to_contain_text("This link has expired or is not valid")
        assert axe_clean(page, [ann, bob, "/portal/offers/forged/"]) == []


def test_a_patient_puts_themselves_on_the_waitlist(no_script, page, world):
    patient = PatientFactory(home_clinic=world["clinic"], first_name="Cy", user=UserFactory(username="cy@x.test"))
    plan = MaintenancePlanFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
    MaintenancePhaseFactory(plan=plan)
    with at_now():
        sign_in(page, patient.user)
        assert axe_clean(page, [reverse("portal:waitlist")]) == []
        sign_in(no_script, patient.user)
        no_script.goto(reverse("portal:home"))
        no_script.get_by_role("link", name="Tell me if an earlier time frees up").click()
        no_script.get_by_label("Tuesday").check()
        no_script.get_by_label("Starting from").fill("09:00")
        no_script.get_by_label("Starting by").fill("08:00")
        no_script.get_by_role("button", name="Put me on the waitlist").click()
        expect(no_script.get_by_text("The latest start must not be before the earliest")).to_be_visible()
        no_script.get_by_label("Starting by").fill("")
        no_script.get_by_role("button", name="Put me on the waitlist").click()
        expect(no_script.get_by_test_id("wish")).to_contain_text("Tuesdays; starting from 09:00")
        assert axe_clean(page, [reverse("portal:waitlist")]) == []


def test_staff_see_the_freed_time_and_its_offers(page, world):
    with at_now():
        sign_in(page, staff_user(username="desk", role="Front desk"))
        day_and_patient(page, world)


def day_and_patient(page, world):
    page.goto(reverse("staff:day", args=[datetime.date(2027, 1, 7)]))
    freed = page.get_by_test_id("freed-times")
    expect(freed).to_contain_text("14:30–15:15")
    expect(freed.get_by_test_id("offer")).to_have_count(2)
    expect(freed).to_contain_text("Ann Waits, 14:30: holding until 10:30")
    assert blocking_violations(page) == []
    page.goto(reverse("staff:patient", args=[world["people"]["Bob"].uuid]))
    expect(page.get_by_test_id("waitlist-wish")).to_contain_text("any time the clinic is open")
    expect(page.get_by_role("button", name="Take off the waitlist")).to_be_visible()
    assert blocking_violations(page) == []
