"""The patient page's course: progress, the authorisation (used, booked, to book) and sessions
not yet booked."""

import pytest
from django.urls import reverse

from tests.conftest import AUDIT_QUERIES
from tests.factories import AppointmentFactory, ChairFactory
from tests.scheduling.staff.calendar.helpers import at, course_with_sessions

pytestmark = pytest.mark.usefixtures("frozen")


def test_patient_page_shows_progress_authorisation_and_unbooked_sessions(client, front_desk, open_clinic, chair,
                                                                         patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 14, authorised_sessions=16)
    AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "Session 14 of 36" in page
    # Used counts sessions given, not booked ones (14 given, 1 booked, 1 still to book).
    assert "14 used · 1 booked · 1 to book, of 16 authorised" in page and "text-bg-warning" in page
    assert "21 sessions of this course are not booked yet" in page


def test_patient_page_query_count_does_not_grow(client, front_desk, open_clinic, chair, patient, protocol,
                                                django_assert_num_queries):
    course_with_sessions(patient, chair, protocol, 2)
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    client.get(url)
    # 14 for the page, 1 for the authorisation's history, 2 for the waitlist card (the wish and its
    # offers), and the audit.
    with django_assert_num_queries(17 + AUDIT_QUERIES) as few:
        client.get(url)
    course_with_sessions(patient, ChairFactory(clinic=open_clinic), protocol, 30, days_back=3)
    with django_assert_num_queries(len(few)):
        client.get(url)
