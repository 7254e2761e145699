import datetime

import pytest
import time_machine
from django.urls import reverse

from patients.models import CourseTemplate, TreatmentCourse
from scheduling.models import Appointment, SessionRecord
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClosureFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
)

UTC = datetime.UTC
DAY = datetime.date(2026, 12, 2)  # a Wednesday
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def open_clinic(clinic):
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(12))
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(13), closes_at=datetime.time(17))
    return clinic


@pytest.fixture
def protocol(db):
    return ProtocolFactory(chair_minutes=45, pulses_per_session=3000, intensity_percent_mt=120)


def at(clinic, hour, minute=0, day=DAY):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def course_with_sessions(patient, chair, protocol, count, days_back=1, **kwargs):
    course = TreatmentCourseFactory(patient=patient, protocol=protocol, **kwargs)
    for n in range(count):
        AppointmentFactory(patient=patient, chair=chair, course=course, status="completed",
                           starts_at=at(chair.clinic, 9, day=DAY - datetime.timedelta(days=n + days_back)))
    return course


# --- Day view ---------------------------------------------------------------------------------


def test_day_view_shows_chairs_as_columns_with_free_slots_to_book(client, front_desk, open_clinic, chair):
    ChairFactory(clinic=open_clinic, name="Chair 2")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, 9), patient__first_name="Ada")
    client.force_login(front_desk)
    page = client.get(reverse("staff:day", args=[DAY])).content.decode()
    assert page.count('data-testid="chair-column"') == 2
    assert "09:00–09:45 Ada" in page
    # 8 hours of 15-minute steps on two chairs, less the three steps the appointment covers.
    assert page.count('class="day-grid-free"') == 2 * 32 - 3
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
    with django_assert_num_queries(9 if view == "staff:day" else 6) as few:
        client.get(url)
    add([9, 10, 13, 14, 15])
    with django_assert_num_queries(len(few)):
        response = client.get(url)
    assert response.content.decode().count(f"{DAY:%-d} Dec" if view == "staff:week" else "appointment-card") >= 1


# --- Booking ----------------------------------------------------------------------------------


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
    assert "a clinician must approve another" in refused.content.decode()
    client.post(reverse("staff:book"), {**data, "override_authorisation": "on", "override_note": "Extension"})
    approved = Appointment.objects.get(course=course, status="booked")
    assert approved.authorisation_override_by == clinician and approved.authorisation_override_note == "Extension"


# --- The appointment page ---------------------------------------------------------------------


def test_check_in_and_complete_with_the_record_prefilled(client, technician, open_clinic, chair, patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 1, motor_threshold=55)
    appointment = AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 8))
    client.force_login(technician)
    url = reverse("staff:appointment", args=[appointment.uuid])
    page = client.get(url)
    assert "Session 2 of 36" in page.content.decode()
    assert page.context["record_form"].initial == {"motor_threshold": 55, "pulses_delivered": 3000,
                                                   "intensity_percent_mt": 120, "coil_position": "Left DLPFC"}
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "check-in"]))
    appointment.refresh_from_db()
    assert appointment.status == "checked_in"
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "complete"]),
                {"pulses_delivered": 3000, "intensity_percent_mt": 120, "motor_threshold": 54})
    appointment.refresh_from_db()
    assert appointment.status == "completed"
    assert SessionRecord.objects.get(appointment=appointment).motor_threshold == 54


def test_completing_with_a_bad_record_shows_the_errors(client, technician, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 8), status="checked_in")
    client.force_login(technician)
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "complete"]),
                           {"pulses_delivered": "-3", "intensity_percent_mt": "lots"})
    assert response.status_code == 400 and response.context["record_form"].errors
    appointment.refresh_from_db()
    assert appointment.status == "checked_in"


def test_cancel_needs_a_reason_and_records_it(client, front_desk, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    url = reverse("staff:appointment-action", args=[appointment.uuid, "cancel"])
    assert client.post(url, {"reason": ""}).status_code == 400
    client.post(url, {"reason": "Car broke down"})
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancel_reason) == ("cancelled", "Car broke down")


def test_reschedule_to_a_proposed_slot(client, front_desk, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    proposed = client.get(reverse("staff:appointment", args=[appointment.uuid])).context["proposed"]
    assert proposed and all(slot.chair == chair for slot in proposed)
    slot = proposed[0]
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "reschedule"]),
                           {"slot": f"{slot.chair.pk}@{slot.starts_at.isoformat()}"})
    moved = Appointment.objects.get(status="booked")
    assert response["Location"] == reverse("staff:appointment", args=[moved.uuid])
    assert moved.starts_at == slot.starts_at


@pytest.mark.parametrize("slot", ["", "nonsense", "1@not-a-date", "999@2026-12-02T10:00:00+00:00",
                                  "1@2026-12-02T10:00:00"])
def test_a_bad_reschedule_choice_gets_a_message(client, front_desk, open_clinic, chair, patient, slot):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "reschedule"]), {"slot": slot})
    assert response.status_code in (302, 400)
    appointment.refresh_from_db()
    assert appointment.status == "booked"


def test_a_no_show_before_the_start_is_refused_with_a_message(client, technician, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(technician)
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "no-show"]), follow=True)
    assert "has not started yet" in response.content.decode()


def test_roles_and_unknown_actions(client, technician, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(technician)
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "cancel"]), {"reason": "x"})
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    assert client.post(reverse("staff:appointment-action", args=[appointment.uuid, "explode"])).status_code == 404
    assert client.get(reverse("staff:appointment-action", args=[appointment.uuid, "cancel"])).status_code == 405
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(reverse("staff:appointment", args=[missing])).status_code == 404


# --- The patient page -------------------------------------------------------------------------


def test_patient_page_shows_progress_authorisation_and_unbooked_sessions(client, front_desk, open_clinic, chair,
                                                                         patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 14, authorised_sessions=16)
    AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "Session 14 of 36" in page
    assert "1 of 16 authorised sessions left" in page and "text-bg-warning" in page
    assert "21 sessions of this course are not booked yet" in page


def test_patient_page_query_count_does_not_grow(client, front_desk, open_clinic, chair, patient, protocol,
                                                django_assert_num_queries):
    course_with_sessions(patient, chair, protocol, 2)
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    client.get(url)
    with django_assert_num_queries(14) as few:
        client.get(url)
    course_with_sessions(patient, ChairFactory(clinic=open_clinic), protocol, 30, days_back=3)
    with django_assert_num_queries(len(few)):
        client.get(url)


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


def test_staff_pages_refuse_a_portal_account(client, patient, open_clinic):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="someone"))
    for url in [reverse("staff:today"), reverse("staff:patient", args=[patient.uuid]), reverse("staff:book")]:
        assert client.get(url).status_code == 403
