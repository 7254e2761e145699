"""A course's authorisation (issue 12): used means given, booked and to-book are counted apart;
a session past the authorised count or outside its window (the clinic's calendar) needs a
clinician's approval with a reason; an extension keeps the history of what was authorised."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from patients.models import AuthorisationChange
from scheduling.models import Appointment
from scheduling.services import (
    AuthorisationRefused,
    SlotUnavailable,
    authorisation_status,
    book_appointment,
    change_authorisation,
)
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)
from tmsclinic.roles import CLINICIAN, FRONT_DESK

UTC = datetime.UTC


def raw_counts(course):
    """Counted from the rows plainly: given, to come, and what is left of the authorisation."""
    rows = list(Appointment.objects.filter(course=course, kind="acute").values_list("status", flat=True))
    used = rows.count("completed")
    booked = rows.count("booked") + rows.count("checked_in")
    return used, booked, course.authorised_sessions - used - booked


@pytest.mark.parametrize("given", [0, 19, 36])
def test_the_badge_counts_given_sessions_as_used_and_booked_ones_apart(patient, chair, given):
    course = TreatmentCourseFactory(patient=patient, authorised_sessions=36)
    for n in range(36):
        AppointmentFactory(patient=patient, chair=chair, course=course, kind="acute",
                           starts_at=datetime.datetime(2026, 10, 1, 14, tzinfo=UTC) + datetime.timedelta(days=n),
                           status="completed" if n < given else "booked")
    status = authorisation_status(course)
    assert (status["used"], status["booked"], status["to_book"]) == raw_counts(course) == (given, 36 - given, 0)


@pytest.fixture
def london(db):
    clinic = ClinicFactory(name="Thames TMS", time_zone="Europe/London")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 45))
    return clinic


def book(course, chair, starts_at, **kwargs):
    return book_appointment(patient=course.patient, chair=chair, starts_at=starts_at, kind="acute", booked_by=None,
                            course=course, **kwargs)


def test_a_session_after_the_window_in_the_clinics_calendar_needs_a_clinicians_reason(london):
    chair = ChairFactory(clinic=london)
    course = TreatmentCourseFactory(patient=PatientFactory(home_clinic=london),
                                    protocol=ProtocolFactory(chair_minutes=45), authorised_sessions=30,
                                    authorised_until=datetime.date(2027, 6, 30))
    clinician = staff_user(role=CLINICIAN, username="dr")
    desk = staff_user(role=FRONT_DESK, username="desk")
    with time_machine.travel(datetime.datetime(2027, 6, 1, tzinfo=UTC), tick=False):
        # 23:00 on 30 June in London (BST) is 22:00 UTC: inside the window.
        assert book(course, chair, datetime.datetime(2027, 6, 30, 22, 0, tzinfo=UTC)).course == course
        # 00:15 on 1 July in London is still 30 June in UTC: outside the window all the same.
        late = datetime.datetime(2027, 6, 30, 23, 15, tzinfo=UTC)
        with pytest.raises(SlotUnavailable) as refusal:
            book(course, chair, late)
        assert refusal.value.message == ("The course's authorisation ends on 30 June 2027; "
                                         "a clinician must approve this session.")
        with pytest.raises(SlotUnavailable, match="Only a clinician can approve"):
            book(course, chair, late, authorisation_override_by=desk, authorisation_override_note="Asked")
        with pytest.raises(SlotUnavailable, match="say why you approve this session"):
            book(course, chair, late, authorisation_override_by=clinician, authorisation_override_note="  ")
        approved = book(course, chair, late, authorisation_override_by=clinician,
                        authorisation_override_note="Extension requested from the payer")
    assert (approved.authorisation_override_by, approved.authorisation_override_note) == (
        clinician, "Extension requested from the payer")
    assert Appointment.objects.filter(course=course).count() == 2


def test_an_extension_keeps_the_history_and_refuses_what_cannot_be(patient, chair, clinician):
    course = TreatmentCourseFactory(patient=patient, authorised_sessions=30, prior_auth_number="PA-1")
    for n in range(20):
        AppointmentFactory(patient=patient, chair=chair, course=course, kind="acute", status="completed",
                           starts_at=datetime.datetime(2026, 10, 1, 14, tzinfo=UTC) + datetime.timedelta(days=n))
    with pytest.raises(AuthorisationRefused, match="20 sessions of this course have already been given"):
        change_authorisation(course, number="PA-1", sessions=18, valid_from=None, until=None, note="", by=clinician)
    with pytest.raises(AuthorisationRefused, match="cannot end before it starts"):
        change_authorisation(course, number="PA-1", sessions=36, valid_from=datetime.date(2027, 1, 1),
                             until=datetime.date(2026, 12, 1), note="", by=clinician)
    assert not AuthorisationChange.objects.exists()
    change_authorisation(course, number="PA-1", sessions=30, valid_from=datetime.date(2026, 10, 1),
                         until=datetime.date(2026, 12, 31), note="Given by phone", by=clinician)
    change_authorisation(course, number="PA-1-EXT", sessions=36, valid_from=datetime.date(2026, 10, 1),
                         until=datetime.date(2027, 1, 31), note="6 more sessions", by=clinician)
    course.refresh_from_db()
    assert (course.prior_auth_number, course.authorised_sessions, course.authorised_until) == (
        "PA-1-EXT", 36, datetime.date(2027, 1, 31))
    history = list(course.authorisation_changes.values_list("prior_auth_number", "authorised_sessions", "note"))
    assert history == [("PA-1-EXT", 36, "6 more sessions"), ("PA-1", 30, "Given by phone")]


def test_the_front_desk_extends_on_the_page_and_bad_input_changes_nothing(client, patient, chair):
    course = TreatmentCourseFactory(patient=patient, authorised_sessions=30, prior_auth_number="PA-1")
    client.force_login(staff_user(role=FRONT_DESK, username="desk"))
    url = reverse("staff:authorisation", args=[course.pk])
    bad = client.post(url, {"prior_auth_number": "PA-1", "authorised_sessions": "36", "authorised_from": "2027-02-01",
                            "authorised_until": "2027-01-01", "note": "Extension"})
    assert bad.status_code == 400 and "cannot end before it starts" in bad.content.decode()
    course.refresh_from_db()
    assert course.authorised_sessions == 30 and not AuthorisationChange.objects.exists()
    good = client.post(url, {"prior_auth_number": "PA-2", "authorised_sessions": "36", "authorised_from": "2026-10-01",
                             "authorised_until": "2027-01-31", "note": "Extension"}, follow=True)
    assert "The authorisation is recorded." in good.content.decode()
    assert "0 used · 0 booked · 36 to book, of 36 authorised until 31 Jan 2027" in good.content.decode()
    assert AuthorisationChange.objects.get().prior_auth_number == "PA-2"
