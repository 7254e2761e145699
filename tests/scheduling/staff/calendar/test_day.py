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
    # The day view reads its freed times and their waitlist offers too (two queries, the offers'
    # asked even on a day without freed times: the same queries whatever the day holds).
    with django_assert_num_queries((12 if view == "staff:day" else 7) + AUDIT_QUERIES) as few:
        client.get(url)
    add([9, 10, 13, 14, 15])
    with django_assert_num_queries(len(few)):
        response = client.get(url)
    assert response.content.decode().count(f"{DAY:%-d} Dec" if view == "staff:week" else "appointment-card") >= 1


# --- Issue 13, part 1: compact cards, the now line, check-in from the grid, the run sheet -------


def test_a_ten_minute_session_is_drawn_compact_with_its_kind_and_status(client, technician, open_clinic, chair):
    short = AppointmentFactory(chair=chair, starts_at=at(open_clinic, 9), ends_at=at(open_clinic, 9, 10),
                               patient__first_name="Ada", patient__last_name="Lovelace")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 10), status="completed")
    client.force_login(technician)
    response = client.get(reverse("staff:day", args=[DAY]))
    items = {appointment.pk: (compact, appointment) for appointment, _, _, _, compact in response.context["grid"].items}
    compact, drawn = items[short.pk]
    assert compact and drawn.short_kind == "Acute"
    page = response.content.decode()
    assert 'class="appointment-card status-booked compact' in page
    assert "Acute</span>\n      · <span data-testid=\"appointment-status\">Booked</span>" in page


def test_the_now_line_and_check_in_are_on_todays_grid_only(client, technician, open_clinic, chair):
    # Frozen at 08:00 in New York: check-in opens an hour before the start.
    soon = AppointmentFactory(chair=chair, starts_at=at(open_clinic, 8, 30), patient__first_name="Ada")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 10), patient__first_name="Alan")
    client.force_login(technician)
    response = client.get(reverse("staff:today"))
    assert response.context["grid"].now[:2] == (2, 0.0)  # the first row, at its top
    page = response.content.decode()
    assert page.count("Check in<span") == 1
    assert reverse("staff:appointment-action", args=[soon.uuid, "check-in"]) in page
    tomorrow = client.get(reverse("staff:day", args=[DAY.replace(day=3)]))
    assert tomorrow.context["grid"].now is None and 'data-testid="now-line"' not in tomorrow.content.decode()


def test_the_run_sheet_has_a_page_per_chair_or_technician(client, technician, open_clinic, chair, protocol):
    ChairFactory(clinic=open_clinic, name="Chair 2")
    patient = PatientFactory(home_clinic=open_clinic, first_name="Ada", last_name="Lovelace", mrn="MRN-1")
    course = TreatmentCourseFactory(patient=patient, protocol=protocol)
    AppointmentFactory(chair=chair, patient=patient, course=course, starts_at=at(open_clinic, 9), technician=technician)
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 11), patient__first_name="Alan")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 13), status="cancelled", patient__first_name="Gone")
    client.force_login(technician)
    by_chair = client.get(reverse("staff:run-sheet", args=[DAY]))
    pages = dict(by_chair.context["pages"])
    assert list(pages) == ["Chair 1", "Chair 2"] and pages["Chair 2"] == []
    assert [a.patient.first_name for a in pages["Chair 1"]] == ["Ada", "Alan"]  # cancelled left out
    page = by_chair.content.decode()
    assert "MRN MRN-1" in page
    assert f"{protocol.pulses_per_session} pulses at {protocol.intensity_percent_mt} % MT" in page
    assert "Measure</strong>: no motor threshold has been measured yet" in page
    by_technician = dict(client.get(reverse("staff:run-sheet", args=[DAY]), {"by": "technician"}).context["pages"])
    assert {name: [a.patient.first_name for a in rows] for name, rows in by_technician.items()} == {
        "tech": ["Ada"], "No technician assigned": ["Alan"]}


def test_the_run_sheet_stays_behind_the_clinic_wall_and_reads_few_queries(client, open_clinic, chair, protocol,
                                                                          django_assert_num_queries):
    from tests.factories import ClinicFactory, staff_user

    other = ClinicFactory(name="Elsewhere")
    client.force_login(staff_user(role="Technician", username="local", clinics=[open_clinic]))
    assert client.get(reverse("staff:run-sheet", args=[DAY]), {"clinic": other.pk}).status_code == 404

    def add(hours):
        for hour in hours:
            patient = PatientFactory(home_clinic=open_clinic)
            AppointmentFactory(chair=chair, patient=patient, starts_at=at(open_clinic, hour),
                               course=TreatmentCourseFactory(patient=patient, protocol=protocol))

    add([8])
    client.get(reverse("staff:run-sheet", args=[DAY]))  # the session's first visit saves it
    with django_assert_num_queries(8 + AUDIT_QUERIES):
        client.get(reverse("staff:run-sheet", args=[DAY]))
    add([9, 10, 13])
    with django_assert_num_queries(8 + AUDIT_QUERIES):
        assert client.get(reverse("staff:run-sheet", args=[DAY])).content.decode().count("run-sheet-row") == 4


def test_a_superusers_home_clinic_is_their_day_view(client, open_clinic, db):
    from scheduling.models import ClinicMembership
    from tests.factories import ClinicFactory, UserFactory

    ClinicFactory(name="Aardvark TMS")  # a new clinic, first by name
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True)
    ClinicMembership.objects.create(user=boss, clinic=open_clinic, is_home=True)
    client.force_login(boss)
    assert client.get(reverse("staff:today")).context["clinic"] == open_clinic
