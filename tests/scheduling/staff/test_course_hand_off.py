"""The acute → maintenance hand-off on the staff pages (issue 12, part 5): a clinician completes
a course, or discontinues it saying why; the patient page prompts for it once every planned
session is given; completing offers to cancel what is still booked; and a maintenance plan then
starts in three clicks with the default template, its first visit one interval after the last
acute session, and the patient's portal booking window open."""

import datetime
import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from patients.models import MaintenancePlan, TreatmentCourse
from scheduling import services
from scheduling.models import Appointment
from scheduling.services import portal
from tests.factories import AppointmentFactory, TreatmentCourseFactory

UTC = datetime.UTC
TODAY = datetime.date(2026, 12, 2)  # the frozen clock's day in New York (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("frozen")


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def at(day, hour, minute=0):
    """A moment given on New York's wall clock (the clinic fixture's zone)."""
    from zoneinfo import ZoneInfo

    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture
def course(patient, chair):
    """An acute course of 3 planned sessions; the last given at 21:30 New York time on 30 Nov
    (already 1 Dec in UTC); one more session still booked on 4 Dec."""
    course = TreatmentCourseFactory(patient=patient, planned_sessions=3, start_date=datetime.date(2026, 11, 25))
    for day in (26, 27, 30):
        hour, minute = (21, 30) if day == 30 else (10, 0)
        AppointmentFactory(patient=patient, chair=chair, course=course, status=Appointment.Status.COMPLETED,
                           starts_at=at(datetime.date(2026, 11, day), hour, minute))
    AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(datetime.date(2026, 12, 4), 10))
    return course


def end_url(course):
    return reverse("staff:course-end", args=[course.pk])


def links(html):
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]


# --- The service ---------------------------------------------------------------------------------


def test_a_course_ends_on_its_last_sessions_day_in_the_clinics_calendar(course, clinician):
    ended, cancelled = services.end_course(course, outcome="completed", reason="", by=clinician,
                                           cancel_leftover=True)
    # 21:30 in New York on 30 Nov is 02:30 UTC on 1 Dec: the clinic's day is the 30th.
    assert (ended.status, ended.ended_on, cancelled) == ("completed", datetime.date(2026, 11, 30), 1)
    leftover = Appointment.objects.get(course=course, starts_at=at(datetime.date(2026, 12, 4), 10))
    assert (leftover.status, leftover.cancelled_by, leftover.cancel_reason) == ("cancelled", clinician,
                                                                                 "Course completed")


def test_leftover_bookings_stay_when_not_asked_to_cancel_them(course, clinician):
    services.end_course(course, outcome="discontinued", reason="Side effects", by=clinician, cancel_leftover=False)
    course.refresh_from_db()
    assert (course.status, course.end_reason) == ("discontinued", "Side effects")
    assert Appointment.objects.filter(course=course, status="booked").count() == 1


@pytest.mark.parametrize(("outcome", "reason", "message"), [
    ("discontinued", "  ", "Say why the course is discontinued."),
    ("active", "", "A course ends completed or discontinued."),
])
def test_the_service_refuses_an_ending_without_what_it_needs(course, clinician, outcome, reason, message):
    with pytest.raises(services.CourseRefused, match=re.escape(message)):
        services.end_course(course, outcome=outcome, reason=reason, by=clinician, cancel_leftover=True)
    course.refresh_from_db()
    assert course.status == "active" and course.ended_on is None


def test_a_course_with_nothing_given_cannot_be_said_completed(patient, clinician):
    course = TreatmentCourseFactory(patient=patient)
    with pytest.raises(services.CourseRefused, match="No session of this course has been given"):
        services.end_course(course, outcome="completed", reason="", by=clinician, cancel_leftover=True)
    ended, _ = services.end_course(course, outcome="discontinued", reason="Never came", by=clinician,
                                   cancel_leftover=True)
    assert ended.ended_on == TODAY


def test_a_course_cannot_end_while_one_of_its_sessions_is_under_way(course, clinician):
    Appointment.objects.filter(course=course, status="booked").update(status="checked_in")
    with pytest.raises(services.CourseRefused, match="under way"):
        services.end_course(course, outcome="completed", reason="", by=clinician, cancel_leftover=True)


def test_a_course_ends_once(course, clinician):
    services.end_course(course, outcome="completed", reason="", by=clinician, cancel_leftover=True)
    with pytest.raises(services.CourseRefused, match="already completed"):
        services.end_course(course, outcome="discontinued", reason="x", by=clinician, cancel_leftover=True)


# --- The patient page and the course's end page ---------------------------------------------------


def test_the_patient_page_prompts_to_complete_once_every_planned_session_is_given(client, clinician, course):
    client.force_login(clinician)
    page = client.get(reverse("staff:patient", args=[course.patient.uuid])).content.decode()
    assert 'data-testid="course-complete-prompt"' in page and "All 3 planned sessions are given." in page
    assert end_url(course) in links(page)


def test_before_that_the_page_offers_it_quietly(client, clinician, course):
    course.planned_sessions = 36
    course.save()
    client.force_login(clinician)
    page = client.get(reverse("staff:patient", args=[course.patient.uuid])).content.decode()
    assert 'data-testid="course-complete-prompt"' not in page
    assert 'data-testid="course-end-link"' in page and end_url(course) in links(page)


def test_others_are_not_offered_it(client, front_desk, technician, course):
    for user in (front_desk, technician):
        client.force_login(user)
        page = client.get(reverse("staff:patient", args=[course.patient.uuid])).content.decode()
        assert end_url(course) not in links(page)
        assert client.post(end_url(course), {"outcome": "completed"}).status_code == 403
    course.refresh_from_db()
    assert course.status == "active"


def test_the_end_page_lists_the_bookings_it_would_cancel(client, clinician, course):
    client.force_login(clinician)
    page = client.get(end_url(course)).content.decode()
    assert "3 of 3 planned sessions given." in page
    assert "1 session of this course still booked" in page and "Fri 4 Dec 2026, 10:00" in page


def test_discontinuing_without_a_reason_is_refused_in_words_and_changes_nothing(client, clinician, course):
    client.force_login(clinician)
    response = client.post(end_url(course), {"outcome": "discontinued", "reason": "", "cancel_leftover": "on"})
    assert response.status_code == 400
    assert "Say why the course is discontinued." in response.content.decode()
    course.refresh_from_db()
    assert course.status == "active" and Appointment.objects.filter(course=course, status="booked").count() == 1


def test_a_refusal_of_the_service_is_shown_on_the_form(client, clinician, patient):
    course = TreatmentCourseFactory(patient=patient)
    client.force_login(clinician)
    response = client.post(end_url(course), {"outcome": "completed"})
    assert response.status_code == 400 and "No session of this course has been given" in response.content.decode()


def test_an_ended_course_sends_the_clinician_back_to_the_patient(client, clinician, course):
    services.end_course(course, outcome="completed", reason="", by=clinician, cancel_leftover=False)
    client.force_login(clinician)
    response = client.get(end_url(course))
    assert response["Location"] == reverse("staff:patient", args=[course.patient.uuid])
    assert flash(response) == ["This course is already completed."]


def test_a_discontinued_course_leads_back_to_the_patient_not_to_a_plan(client, clinician, course):
    client.force_login(clinician)
    response = client.post(end_url(course), {"outcome": "discontinued", "reason": "Moved away"})
    assert response["Location"] == reverse("staff:patient", args=[course.patient.uuid])
    assert flash(response) == ["Course discontinued on 30 Nov 2026."]


# --- Three clicks to the maintenance plan ------------------------------------------------------------


def test_from_the_prompt_to_a_maintenance_plan_in_three_clicks(client, clinician, course, taper):
    patient = course.patient
    client.force_login(clinician)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()

    # Click 1: "Complete the course" on the prompt.
    form_page = client.get(end_url(course))
    assert form_page.status_code == 200 and 'value="completed"' in form_page.content.decode()
    assert end_url(course) in links(page)

    # Click 2: "End the course", with the form as it comes (completed; leftover cancelled).
    ended = client.post(end_url(course), {"outcome": "completed", "reason": "", "cancel_leftover": "on"})
    assert flash(ended) == ["Course completed on 30 Nov 2026. 1 booking cancelled."]
    assert ended["Location"] == f"{reverse('staff:plan-start', args=[patient.uuid])}?template={taper.pk}"

    # The plan's page arrives with the default template's phases and the first visit one
    # interval (7 days) after the last acute session on the clinic's calendar: 7 Dec, not today.
    plan_page = client.get(ended["Location"])
    assert plan_page.context["template"] == taper
    assert plan_page.context["form"].initial["started_on"] == datetime.date(2026, 12, 7)
    assert "last session was on Mon 30 Nov 2026" in plan_page.content.decode()

    # Click 3: "Start the plan", with what the page offers.
    form = plan_page.context["form"]
    phases = plan_page.context["phases"]
    data = {"started_on": form.initial["started_on"].isoformat(), "grace_days": form.initial["grace_days"],
            **{f"phases-{k}": v for k, v in (("TOTAL_FORMS", phases.total_form_count()),
                                             ("INITIAL_FORMS", phases.initial_form_count()),
                                             ("MIN_NUM_FORMS", 0), ("MAX_NUM_FORMS", 1000))}}
    for n, initial in enumerate(phases.initial):
        data.update({f"phases-{n}-{name}": "" if value is None else value for name, value in initial.items()})
    started = client.post(ended["Location"], data)
    plan = MaintenancePlan.objects.get(patient=patient)
    assert (plan.template, plan.source_course, plan.next_due_on) == (taper, course, datetime.date(2026, 12, 7))
    assert flash(started)[-1] == ("Maintenance plan started: first visit due 7 Dec 2026. They have no portal "
                                  "account: invite them to the portal to let them book it there.")

    # The patient's portal booking window is open: from 7 days before the visit is due.
    offer = portal.maintenance_offer(patient)
    assert offer.plan == plan and offer.opens <= at(TODAY, 9)


def test_the_plan_card_links_straight_to_the_default_template(client, clinician, course, taper):
    services.end_course(course, outcome="completed", reason="", by=clinician, cancel_leftover=True)
    client.force_login(clinician)
    page = client.get(reverse("staff:patient", args=[course.patient.uuid])).content.decode()
    assert f"{reverse('staff:plan-start', args=[course.patient.uuid])}?template={taper.pk}" in links(page)
    assert "Start a maintenance plan (Taper to monthly)" in page


def test_the_template_chooser_starts_on_the_default(client, clinician, acute, taper):
    client.force_login(clinician)
    chooser = client.get(reverse("staff:plan-start", args=[acute.patient.uuid]))
    assert chooser.context["form"].initial["template"] == taper


def test_a_patient_with_a_portal_account_is_told_when_they_can_book(patient, clinician, course, taper, settings):
    from django.contrib.auth.models import User

    patient.user = User.objects.create_user("pat", "pat@example.test", "x")
    patient.save()
    services.end_course(course, outcome="completed", reason="", by=clinician, cancel_leftover=True)
    plan = services.start_plan(patient=patient, protocol=course.protocol, template=taper, source_course=course,
                               started_on=datetime.date(2026, 12, 20))
    assert portal.portal_booking_note(patient, plan) == "They can book it in the portal from Sunday 13 December."
    settings.TMS_PORTAL_BOOK_DAYS_BEFORE = 30
    assert portal.portal_booking_note(patient, plan) == "They can book it in the portal now."


def test_a_course_that_ended_long_ago_starts_its_plan_today_not_in_the_past(patient, clinician, chair):
    course = TreatmentCourseFactory(patient=patient, planned_sessions=1, status="completed",
                                    ended_on=datetime.date(2026, 6, 1))
    AppointmentFactory(patient=patient, chair=chair, course=course, status="completed",
                       starts_at=at(datetime.date(2026, 6, 1), 10))
    assert services.first_visit_due(course, 7, patient.home_clinic) == (TODAY, datetime.date(2026, 6, 1))


def test_no_default_template_means_the_chooser(client, clinician, course, taper, settings):
    settings.TMS_DEFAULT_PLAN_TEMPLATE = "No such template"
    client.force_login(clinician)
    response = client.post(end_url(course), {"outcome": "completed", "cancel_leftover": "on"})
    assert response["Location"] == reverse("staff:patient", args=[course.patient.uuid])
    page = client.get(response["Location"]).content.decode()
    assert reverse("staff:plan-start", args=[course.patient.uuid]) in links(page)


def test_completing_a_course_while_a_plan_is_live_does_not_offer_another(client, clinician, course, taper):
    services.start_plan(patient=course.patient, protocol=course.protocol, template=taper,
                        source_course=TreatmentCourseFactory(patient=course.patient, status="completed"),
                        started_on=datetime.date(2026, 12, 20))
    client.force_login(clinician)
    response = client.post(end_url(course), {"outcome": "completed"})
    assert response["Location"] == reverse("staff:patient", args=[course.patient.uuid])
    assert TreatmentCourse.objects.get(pk=course.pk).status == "completed"
