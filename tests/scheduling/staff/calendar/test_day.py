"""The day and week views: chairs as columns with free slots to book, prompts for the
technician, closed days, and a fixed number of queries."""

import pytest
from django.urls import reverse

from tests.conftest import AUDIT_QUERIES
from tests.factories import AppointmentFactory, ChairFactory, ClosureFactory, PatientFactory, TreatmentCourseFactory
from tests.scheduling.staff.calendar.helpers import DAY, at, course_with_sessions

pytestmark = pytest.mark.usefixtures("frozen")


def test_day_view_shows_chairs_as_columns_with_free_slots_to_book(client, front_desk, open_clinic, chair):
    ChairFactory(clinic=open_clinic, name="Chair 2")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 9), patient__first_name="Ada")
    client.force_login(front_desk)
    page = client.get(reverse("staff:day", args=[DAY])).content.decode()
    assert page.count('data-testid="chair-column"') == 2
    assert "09:00–09:45 Ada" in page
    # 8 hours of 15-minute steps on two chairs, less the three steps the appointment covers.
    assert page.count('class="day-grid-free ') == 2 * 32 - 3
    assert "Book Chair 2 at 08:00" in page


def test_technicians_see_the_day_but_get_no_booking_links(client, technician, open_clinic, chair):
    client.force_login(technician)
    page = client.get(reverse("staff:today")).content.decode()
    assert 'data-testid="day-grid"' in page
    assert "Book Chair 1" not in page


def test_day_view_prompts_a_motor_threshold_recheck_every_fifth_session(client, technician, open_clinic, chair,
                                                                        protocol, settings):
    settings.TMS_MT_RECHECK_EVERY = 5
    patient = PatientFactory(home_clinic=open_clinic)
    course = course_with_sessions(patient, chair, protocol, 4)
    AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 10))
    client.force_login(technician)
    page = client.get(reverse("staff:today")).content.decode()
    assert "session 5 of 36" in page
    assert "Re-check motor threshold" in page


def test_a_closed_day_says_why(client, technician, open_clinic, chair):
    ClosureFactory(clinic=open_clinic, starts_on=DAY, ends_on=DAY, reason="Staff training")
    client.force_login(technician)
    assert "closed today: Staff training" in client.get(reverse("staff:today")).content.decode()


def test_an_impossible_date_is_not_found(client, technician, open_clinic):
    client.force_login(technician)
    assert client.get("/staff/day/2026-02-30/").status_code == 404


@pytest.mark.parametrize("view", ["staff:day", "staff:week"])
def test_day_and_week_query_counts_do_not_grow_with_appointments(client, front_desk, open_clinic, protocol, view,
                                                                 django_assert_num_queries):
    chairs = [ChairFactory(clinic=open_clinic) for _ in range(4)]
    client.force_login(front_desk)
    url = reverse(view, args=[DAY])
    client.get(url)

    def add(hours):
        for hour in hours:
            for chair in chairs:
                patient = PatientFactory(home_clinic=open_clinic)
                AppointmentFactory(chair=chair, patient=patient, starts_at=at(open_clinic, hour),
                                   course=TreatmentCourseFactory(patient=patient, protocol=protocol))

    add([8])
    with django_assert_num_queries((10 if view == "staff:day" else 7) + AUDIT_QUERIES) as few:
        client.get(url)
    add([9, 10, 13, 14, 15])
    with django_assert_num_queries(len(few)):
        response = client.get(url)
    assert response.content.decode().count(f"{DAY:%-d} Dec" if view == "staff:week" else "appointment-card") >= 1
