"""Booking from the calendar: from an empty slot, refused with a reason on a taken chair, a
time the clocks skip or beyond the authorisation unless a clinician approves."""

import datetime

import pytest
from django.urls import reverse

from scheduling.models import Appointment
from tests.factories import AppointmentFactory, TreatmentCourseFactory
from tests.scheduling.staff.calendar.helpers import at, course_with_sessions

pytestmark = pytest.mark.usefixtures("frozen")


def test_booking_from_an_empty_slot(client, front_desk, open_clinic, chair, patient, protocol):
    course = TreatmentCourseFactory(patient=patient, protocol=protocol)
    client.force_login(front_desk)
    form = client.get(reverse("staff:book"), {"chair": chair.pk, "starts_at": at(open_clinic, 10).isoformat()})
    assert form.context["form"].initial["starts_at"] == datetime.datetime(2026, 12, 2, 10, 0)
    response = client.post(reverse("staff:book"), {"patient": patient.pk, "chair": chair.pk,
                                                   "starts_at": "2026-12-02T10:00", "kind": "acute"})
    appointment = Appointment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("staff:appointment", args=[appointment.uuid])
    assert appointment.starts_at == at(open_clinic, 10)
    assert appointment.course == course and appointment.booked_by == front_desk
    assert appointment.ends_at - appointment.starts_at == datetime.timedelta(minutes=45)


def test_booking_over_a_taken_chair_says_why_and_changes_nothing(client, front_desk, open_clinic, chair, patient):
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    response = client.post(reverse("staff:book"), {"patient": patient.pk, "chair": chair.pk,
                                                   "starts_at": "2026-12-02T10:15", "kind": "consult"})
    assert response.status_code == 200
    assert "Chair 1 is already booked from 10:00 to 10:45." in response.content.decode()
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize("data", [
    {"patient": "abc", "chair": "x", "starts_at": "yesterday", "kind": "nonsense"},
    {"patient": "999999", "chair": "999999", "starts_at": "2026-13-45T99:99", "kind": "acute"},
    {},
])
def test_garbage_in_the_booking_form_gets_messages_not_errors(client, front_desk, open_clinic, chair, data):
    client.force_login(front_desk)
    response = client.post(reverse("staff:book"), data)
    assert response.status_code == 200 and response.context["form"].errors
    assert Appointment.objects.count() == 0
    assert client.get(reverse("staff:book"), {"chair": "1; drop", "starts_at": "x", "patient": "y"}).status_code == 200


def test_a_time_skipped_by_the_clocks_is_refused(client, front_desk, open_clinic, chair, patient):
    client.force_login(front_desk)
    response = client.post(reverse("staff:book"), {"patient": patient.pk, "chair": chair.pk,
                                                   "starts_at": "2027-03-14T02:30", "kind": "consult"})
    assert "clocks change" in response.content.decode()


def test_technicians_cannot_book(client, technician, open_clinic):
    client.force_login(technician)
    assert client.get(reverse("staff:book")).status_code == 403


def test_a_clinician_can_approve_a_session_beyond_the_authorisation(client, clinician, open_clinic, chair, patient,
                                                                    protocol):
    course = course_with_sessions(patient, chair, protocol, 2, authorised_sessions=2)
    client.force_login(clinician)
    data = {"patient": patient.pk, "chair": chair.pk, "starts_at": "2026-12-02T10:00", "kind": "acute"}
    refused = client.post(reverse("staff:book"), data)
    assert ("All 2 authorised sessions of this course are booked or given; a clinician must approve this session."
            in refused.content.decode())
    unexplained = client.post(reverse("staff:book"), {**data, "override_authorisation": "on"})
    assert "say why you approve this session" in unexplained.content.decode()
    assert not Appointment.objects.filter(course=course, status="booked").exists()
    client.post(reverse("staff:book"), {**data, "override_authorisation": "on", "override_note": "Extension"})
    approved = Appointment.objects.get(course=course, status="booked")
    assert approved.authorisation_override_by == clinician and approved.authorisation_override_note == "Extension"
