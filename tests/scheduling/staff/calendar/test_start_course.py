"""Starting a course from the patient page: clinicians only, and what could not be booked is said."""

import datetime
import re
from html import unescape

import pytest
from django.urls import reverse

from patients.models import CourseTemplate, TreatmentCourse
from scheduling.models import Appointment
from tests.factories import AppointmentFactory, ChairFactory, ClosureFactory

pytestmark = pytest.mark.usefixtures("frozen")


def test_a_clinician_starts_a_course_and_sees_what_could_not_be_placed(client, clinician, open_clinic, chair,
                                                                       patient, protocol):
    ClosureFactory(clinic=open_clinic, starts_on=datetime.date(2026, 12, 25), ends_on=datetime.date(2026, 12, 25))
    client.force_login(clinician)
    response = client.post(reverse("staff:start-course", args=[patient.uuid]), {
        "protocol": protocol.pk, "template": CourseTemplate.objects.get(is_default=True).pk, "kind": "acute",
        "start_date": "2026-12-07", "chair": chair.pk, "time_of_day": "09:00", "authorised_sessions": "36",
    })
    course = TreatmentCourse.objects.get(patient=patient)
    page = response.content.decode()
    assert Appointment.objects.filter(course=course).count() == 36  # mapping + 35: Christmas Day is closed
    assert "1 session could not be booked" in page
    assert "not open on enough weekdays" in page


def test_only_clinicians_start_courses_and_bad_input_is_explained(client, front_desk, clinician, patient):
    client.force_login(front_desk)
    assert client.get(reverse("staff:start-course", args=[patient.uuid])).status_code == 403
    client.force_login(clinician)
    response = client.post(reverse("staff:start-course", args=[patient.uuid]), {"start_date": "2020-01-01"})
    assert response.status_code == 200
    assert "cannot start in the past" in str(response.context["form"].errors)
    assert TreatmentCourse.objects.count() == 0


def _start(client, patient, protocol, chair, start_date="2026-12-07"):
    return client.post(reverse("staff:start-course", args=[patient.uuid]), {
        "protocol": protocol.pk, "template": CourseTemplate.objects.get(is_default=True).pk, "kind": "acute",
        "start_date": start_date, "chair": chair.pk, "time_of_day": "09:00", "authorised_sessions": "36",
    })


def test_the_summary_never_calls_a_booked_day_unbooked(client, clinician, open_clinic, chair, patient, protocol):
    """A week short of open weekdays is named as a week; every day named as not booked has, in
    the database, no session of the course on it."""
    ClosureFactory(clinic=open_clinic, starts_on=datetime.date(2026, 12, 25), ends_on=datetime.date(2026, 12, 25))
    client.force_login(clinician)
    page = _start(client, patient, protocol, chair).content.decode()
    items = re.findall(r"<li>(.*?): ", page.split('data-testid="unplaced"')[1].split("</ul>")[0])
    assert items == ["The week of Tue 22 Dec 2026"]
    course = TreatmentCourse.objects.get(patient=patient)
    booked_days = {open_clinic.local(a.starts_at).date() for a in Appointment.objects.filter(course=course)}
    for item in items:
        if not item.startswith("The week of"):
            assert datetime.datetime.strptime(item, "%a %d %b %Y").date() not in booked_days
    # Every appointment booked is listed, with its chair.
    assert page.count("<tr><td>") == len(booked_days) == 36


def test_a_session_booked_elsewhere_than_asked_is_said(client, clinician, open_clinic, chair, patient, protocol):
    other = ChairFactory(clinic=open_clinic, name="Chair 2")
    AppointmentFactory(chair=chair, starts_at=datetime.datetime(2026, 12, 7, 14, tzinfo=datetime.UTC))  # 09:00 NY
    client.force_login(clinician)
    page = _start(client, patient, protocol, chair).content.decode()
    mapping = Appointment.objects.get(patient=patient, kind="mapping")
    assert mapping.chair == other
    moved = page.split('data-testid="moved"')[1].split("</ul>")[0]
    assert ("Mapping and motor threshold Mon 7 Dec 2026: booked at 09:00 on Chair 2. "
            "Chair 1 is already booked from 09:00 to 09:45.") in unescape(moved)
