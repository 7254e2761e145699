"""Starting a course from the patient page: clinicians only, and what could not be booked is said."""

import datetime

import pytest
from django.urls import reverse

from patients.models import CourseTemplate, TreatmentCourse
from scheduling.models import Appointment
from tests.factories import ClosureFactory

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
