"""A patient's whole way through the clinic in Chromium, each step by the person who does it
(issue 12): the front desk registers a new patient, invites them to the portal and books a
consultation; a clinician starts an acute course; a technician checks in and completes its
sessions on their days (the clock moved with time-machine), where a weekly motor-threshold
re-check refuses a blank MT; the clinician completes the course and starts a maintenance plan;
the patient logs in to the portal and books the first maintenance visit. Screenshots of each
step are saved under test-results/journey/."""

import datetime
import importlib
import re
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core import mail
from playwright.sync_api import expect

from patients.models import CourseTemplate, MaintenancePlan, Patient, TreatmentCourse
from scheduling.models import Appointment, SessionRecord
from tests.factories import PASSWORD, ChairFactory, ClinicFactory, OpeningHoursFactory, ProtocolFactory, staff_user

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/journey")
NEW_YORK = ZoneInfo("America/New_York")
NEW_PASSWORD = "violet-harbour-lantern-42"


def at(day, hour, minute=0):
    """A moment on the clinic's wall clock."""
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=NEW_YORK)


class Journey:
    """Each person has their own browser, as at the clinic; each logs in when their step begins."""

    def __init__(self, browser, live_server):
        self.browser, self.url, self.contexts, self.shot = browser, live_server.url, [], 0

    def open(self, *, viewport=None):
        context = self.browser.new_context(base_url=self.url, viewport=viewport or {"width": 1366, "height": 800})
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    def staff(self, username):
        page = self.open()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()
        return page

    def snap(self, page, name):
        self.shot += 1
        page.screenshot(path=str(SHOTS / f"{self.shot:02d}-{name}.png"), full_page=True)

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def journey(browser, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    journey = Journey(browser, live_server)
    yield journey
    journey.close()


@pytest.fixture
def clinic(transactional_db, settings):
    settings.TMS_MT_RECHECK_DAYS = 7  # the clinic re-measures MT weekly
    # The plan templates a fresh install has (a data migration), which an earlier
    # transactional test may have flushed.
    importlib.import_module("patients.migrations.0004_plan_templates_and_outreach").create_templates(apps, None)
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York", phone="+12125550123")
    for weekday in range(5):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=clinic, name="Chair A")
    ProtocolFactory(name="10 Hz left DLPFC", chair_minutes=45, session_minutes=38, pulses_per_session=3000)
    # A short acute course keeps the journey short: two sessions in week one, one in week two.
    CourseTemplate.objects.create(name="Short course (test)", weekly_days="2,1", mapping_minutes=60)
    staff_user(role="Front desk", username="desk")
    staff_user(role="Clinician", username="drc", email="drc@clinic.test")
    staff_user(role="Technician", username="tech")
    return clinic


def test_from_first_call_to_the_first_maintenance_visit(journey, clinic, settings, invitation_worker):
    monday = datetime.date(2027, 1, 4)

    # --- Monday 4 January, 09:00: the front desk registers the patient, invites, books a consult.
    with time_machine.travel(at(monday, 9), tick=True):
        desk = journey.staff("desk")
        desk.get_by_role("link", name="Patients").first.click()
        desk.get_by_role("link", name="New patient").click()
        desk.get_by_label("MRN").fill("RV-1001")
        desk.get_by_label("First name").fill("Grace")
        desk.get_by_label("Last name").fill("Hopper")
        desk.get_by_label("Date of birth").fill("1966-12-09")
        desk.get_by_label("Email", exact=True).fill("grace@patients.test")
        desk.get_by_label("Phone", exact=True).fill("(212) 555-0142")
        desk.get_by_label("Home clinic").select_option(label="Riverside TMS")
        desk.get_by_label("Agrees to reminders by e-mail").check()
        desk.get_by_label("Primary clinician").select_option(label="drc")
        journey.snap(desk, "desk-registers")
        desk.get_by_role("button", name="Add patient").click()
        expect(desk.get_by_role("heading", name=re.compile("Grace Hopper"))).to_be_visible()
        patient = Patient.objects.get(mrn="RV-1001")
        assert (patient.home_clinic, str(patient.phone)) == (clinic, "+12125550142")

        desk.get_by_test_id("portal-invite").click()
        expect(desk.get_by_text("Portal invitation on its way to grace@patients.test")).to_be_visible()

        desk.get_by_role("main").get_by_role("link", name="Book", exact=True).click()
        desk.get_by_label("Chair").select_option(label="Chair A (Riverside TMS)")
        desk.get_by_label("Starts at (clinic time)").fill("2027-01-05T10:00")
        desk.get_by_label("Kind").select_option(label="Consultation")
        journey.snap(desk, "desk-books-consult")
        desk.get_by_role("button", name="Book").click()
        expect(desk.get_by_role("heading", name="Consultation")).to_be_visible()
        expect(desk.get_by_test_id("status")).to_have_text("Booked")
        journey.snap(desk, "consult-booked")
        consult = Appointment.objects.get(patient=patient)
        assert (consult.kind, consult.starts_at) == (Appointment.Kind.CONSULT, at(monday + datetime.timedelta(1), 10))

        # The patient opens the invitation and chooses a password the same day.
        [invitation] = [message for message in mail.outbox if "grace@patients.test" in message.to]
        link = re.search(r"https?://\S+", invitation.body).group(0)
        own = journey.open(viewport={"width": 390, "height": 844})
        own.goto(urlsplit(link).path)
        own.get_by_label(re.compile(r"^\s*New password\s*\*?\s*$")).fill(NEW_PASSWORD)
        own.get_by_label("New password confirmation").fill(NEW_PASSWORD)
        own.get_by_role("button", name="Set my password").click()
        expect(own.get_by_role("heading", name=re.compile("Grace"))).to_be_visible()

    # --- Tuesday 5 January, after the consultation: the clinician starts an acute course.
    course_start = datetime.date(2027, 1, 11)
    with time_machine.travel(at(monday + datetime.timedelta(1), 11), tick=True):
        doctor = journey.staff("drc")
        doctor.get_by_role("link", name="Patients").first.click()
        doctor.get_by_role("link", name=re.compile("Hopper")).first.click()
        doctor.get_by_role("link", name="Start a course").click()
        doctor.get_by_label("Protocol").select_option(label="10 Hz left DLPFC")
        doctor.get_by_label("Course template").select_option(label="Short course (test)")
        doctor.get_by_label("Start date").fill(course_start.isoformat())
        doctor.get_by_label("Chair").select_option(label="Chair A (Riverside TMS)")
        doctor.get_by_label("Time of day").fill("09:00")
        doctor.get_by_label("Authorised sessions").fill("3")
        journey.snap(doctor, "clinician-starts-course")
        doctor.get_by_role("button", name="Start course and book sessions").click()
        expect(doctor.get_by_test_id("booked-count")).to_contain_text(
            "4 appointments booked, including the mapping visit, for 3 planned sessions")
        journey.snap(doctor, "course-booked")
    course = TreatmentCourse.objects.get(patient=patient)
    visits = list(course.appointments.order_by("starts_at"))
    # The mapping visit on the start date, then the template's weeks from the next day: two
    # treatment days in the first week, one in the second.
    days = [clinic.local(v.starts_at).date() for v in visits]
    assert [v.kind for v in visits] == [Appointment.Kind.MAPPING] + [Appointment.Kind.ACUTE] * 3
    week_one = course_start + datetime.timedelta(1)
    assert days[0] == course_start
    week_two = week_one + datetime.timedelta(7)
    assert week_one <= days[1] < days[2] < week_two <= days[3] < week_two + datetime.timedelta(7)
    since_mapping = (days[3] - days[0]).days

    # --- Each visit's day: the technician checks the patient in and completes the session. MT is
    # measured at the mapping visit, then again once a week has passed (the clinic's setting).
    measured = {0: ("this is the mapping visit", "52"), 3: (f"{since_mapping} days since the last measurement", "54")}
    for number, visit in enumerate(visits):
        with time_machine.travel(visit.starts_at + datetime.timedelta(minutes=5), tick=True):
            tech = journey.staff("tech")
            tech.get_by_role("link", name=re.compile("Grace Hopper")).first.click()
            tech.get_by_role("button", name="Check in").click()
            expect(tech.get_by_test_id("status")).to_have_text("Checked in")
            threshold = tech.get_by_label("Motor threshold measured at this session")
            if number in measured:
                reason, value = measured[number]
                expect(tech.get_by_test_id("mt-recheck")).to_contain_text(reason)
                expect(threshold).to_have_value("")  # the last MT is a hint, never the value
                tech.get_by_role("button", name="Complete session").click()
                expect(tech.get_by_text("Measure the motor threshold and enter it")).to_be_visible()
                journey.snap(tech, f"visit-{number}-refuses-a-blank-mt")
                threshold.fill(value)
            else:
                expect(tech.get_by_test_id("mt-recheck")).to_have_count(0)
            tech.get_by_role("button", name="Complete session").click()
            expect(tech.get_by_test_id("status")).to_have_text("Completed")
            journey.snap(tech, f"visit-{number}-completed")
    records = SessionRecord.objects.filter(appointment__course=course).order_by("appointment__starts_at")
    assert [(r.motor_threshold, r.mt_measured) for r in records] == [(52, True), (52, False), (52, False), (54, True)]
    sessions = visits[1:]

    # --- An hour after the last session: the clinician completes the course and starts the plan.
    last_day = clinic.local(sessions[-1].starts_at).date()
    with time_machine.travel(sessions[-1].starts_at + datetime.timedelta(hours=1), tick=True):
        doctor = journey.staff("drc")
        doctor.get_by_role("link", name="Patients").first.click()
        doctor.get_by_role("link", name=re.compile("Hopper")).first.click()
        expect(doctor.get_by_test_id("course-complete-prompt")).to_be_visible()
        journey.snap(doctor, "prompt-to-complete")
        doctor.get_by_role("link", name="Complete the course").click()  # click 1
        doctor.get_by_role("button", name="End the course").click()  # click 2
        journey.snap(doctor, "plan-from-default-template")
        doctor.get_by_role("button", name="Start the plan").click()  # click 3
        message = doctor.get_by_text(re.compile("Maintenance plan started"))
        expect(message).to_be_visible()
        journey.snap(doctor, "plan-started")
        note = message.inner_text()
    course.refresh_from_db()
    plan = MaintenancePlan.objects.get(patient=patient)
    assert (course.status, course.ended_on) == (TreatmentCourse.Status.COMPLETED, last_day)
    first_due = last_day + datetime.timedelta(days=7)  # Taper to monthly: weekly at first
    assert plan.next_due_on == first_due
    assert f"first visit due {first_due.day} {first_due:%b %Y}" in note
    # The message says from when the patient can book: the portal opens bookings
    # TMS_PORTAL_BOOK_DAYS_BEFORE days before the due date.
    booking_opens = max(first_due - datetime.timedelta(days=settings.TMS_PORTAL_BOOK_DAYS_BEFORE), last_day)
    opens_words = f"from {booking_opens:%A} {booking_opens.day} {booking_opens:%B}"
    assert f"They can book it in the portal {'now' if booking_opens == last_day else opens_words}." in note

    # --- The evening booking opens: the patient books the first maintenance visit on a phone.
    with time_machine.travel(at(booking_opens, 19), tick=True):
        phone = journey.open(viewport={"width": 390, "height": 844})
        phone.goto("/portal/login/")
        phone.get_by_label("E-mail").fill("grace@patients.test")
        phone.get_by_label("Password").fill(NEW_PASSWORD)
        phone.get_by_role("button", name="Log in").click()
        phone.get_by_role("link", name=re.compile("Book")).first.click()
        expect(phone.get_by_role("heading", name="Book a maintenance session")).to_be_visible()
        day = f"{first_due:%A} {first_due.day} {first_due:%B}"
        phone.get_by_role("heading", name=day).click()
        journey.snap(phone, "patient-chooses-a-time")
        phone.get_by_role("button", name=f"Book {day} at 09:00").click()
        expect(phone.get_by_role("heading", name="Your appointment")).to_be_visible()
        expect(phone.get_by_test_id("status")).to_have_text("Booked")
        journey.snap(phone, "patient-booked")
    visit = Appointment.objects.get(patient=patient, kind=Appointment.Kind.MAINTENANCE)
    assert (visit.plan, visit.booked_via, visit.starts_at) == (plan, Appointment.Via.PORTAL, at(first_due, 9))
