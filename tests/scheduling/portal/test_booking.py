"""Patients book, cancel and move their own maintenance sessions in the portal, within the
rules their plan sets; every refusal says why in plain words and changes nothing."""

import datetime
import re
import uuid

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from patients.models import PatientFlag, TreatmentCourse
from scheduling.models import Appointment, Reminder
from scheduling.services import book_appointment
from scheduling.services.plans import refresh_plan
from tests.conftest import AUDIT_QUERIES
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    UserFactory,
    staff_user,
)

# The plan falls due on Monday 11 January 2027 with 7 grace days: bookable from Monday 4
# January (7 days before) to Monday 18 January (the last day of grace), New York time.
DUE = datetime.date(2027, 1, 11)
GRACE = 7


def local(clinic, day, hour, minute=0, second=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute, second), tzinfo=clinic.tz)


def travel(moment):
    return time_machine.travel(moment, tick=False)


def day(number):
    return datetime.date(2027, 1, number)


@pytest.fixture
def clinic(clinic):
    clinic.phone = "+12125550123"
    clinic.save()
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    return clinic


@pytest.fixture
def chairs(clinic):
    return [ChairFactory(clinic=clinic, name="Chair 1"), ChairFactory(clinic=clinic, name="Chair 2")]


@pytest.fixture
def protocol(db):
    return ProtocolFactory(name="iTBS maintenance", chair_minutes=45, session_minutes=10)


def make_plan(patient, protocol, *, sessions_per_visit=1, due=DUE):
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol, started_on=due, grace_days=GRACE)
    MaintenancePhaseFactory(plan=plan, interval_days=28, sessions_per_visit=sessions_per_visit, visits=None)
    return refresh_plan(plan)


@pytest.fixture
def account(db):
    return UserFactory(username="ada")


@pytest.fixture
def patient(clinic, account):
    return PatientFactory(home_clinic=clinic, user=account, first_name="Ada", last_name="Lovelace", mrn="MRN-ADA",
                          email_consent=True)


@pytest.fixture
def plan(patient, protocol, chairs):
    return make_plan(patient, protocol)


@pytest.fixture
def portal(client, account, settings):
    # The tests travel weeks ahead of the moment they log in.
    settings.SESSION_COOKIE_AGE = 365 * 24 * 3600
    client.force_login(account)
    return client


@pytest.fixture
def monday_morning(clinic):
    """Monday 4 January 2027, 09:00 in New York: the first day of the window."""
    with travel(local(clinic, day(4), 9)):
        yield


def post_slot(portal, starts_at, kind="maintenance"):
    return portal.post(reverse("portal:book-slot"), {"slot": starts_at.isoformat(), "kind": kind}, follow=True)


def shown(response):
    return [str(m) for m in response.context["messages"]]


def booked(patient):
    return list(Appointment.objects.filter(patient=patient).exclude(status=Appointment.Status.CANCELLED))


# --- The slot list ---------------------------------------------------------------------------


@pytest.mark.usefixtures("monday_morning")
def test_it_lists_free_times_by_day_in_clinic_time_without_chairs_or_patients(
    portal, clinic, plan, chairs, django_assert_max_num_queries
):
    other = PatientFactory(home_clinic=clinic, first_name="Grace", last_name="Hopper")
    # Both chairs taken at 10:00 on Tuesday: that time is not offered; 10:15 overlaps too.
    for chair in chairs:
        AppointmentFactory(chair=chair, patient=other if chair == chairs[0] else PatientFactory(home_clinic=clinic),
                           starts_at=local(clinic, day(5), 10), ends_at=local(clinic, day(5), 10, 45))
    with django_assert_max_num_queries(13 + AUDIT_QUERIES):
        response = portal.get(reverse("portal:book"))
    assert response.status_code == 200
    days = response.context["days"]
    first_day, first_times = days[0]
    assert first_day == day(5)  # 24 hours' notice: nothing left on Monday
    # 09:30 to 10:30 would overlap the 10:00 sessions on both chairs.
    assert [f"{t:%H:%M}" for t in first_times][:3] == ["09:00", "09:15", "10:45"]
    assert days[-1][0] == day(18)  # the last day of grace
    page = response.content.decode()
    assert "Tuesday 5 January" in page
    assert 'aria-label="Book Tuesday 5 January at 09:00">09:00</button>' in page  # clinic time, not UTC
    assert "Chair" not in page and "Grace Hopper" not in page and "Hopper" not in page
    assert "between Monday 4 January and Monday 18 January" in page


def test_the_page_has_a_fixed_number_of_queries(portal, clinic, plan, patient, django_assert_max_num_queries):
    with travel(local(clinic, day(4), 9)):
        for n in range(2):
            AppointmentFactory(chair=clinic.chairs.first(), patient=PatientFactory(home_clinic=clinic),
                               starts_at=local(clinic, day(6 + n), 9), ends_at=local(clinic, day(6 + n), 9, 45))
        with django_assert_max_num_queries(13 + AUDIT_QUERIES):
            assert portal.get(reverse("portal:book")).status_code == 200


# --- Booking ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("monday_morning")
def test_it_books_through_the_booking_service_on_the_first_free_chair(portal, clinic, plan, patient, account, chairs):
    AppointmentFactory(chair=chairs[0], patient=PatientFactory(home_clinic=clinic),
                       starts_at=local(clinic, day(6), 9), ends_at=local(clinic, day(6), 9, 45))
    response = post_slot(portal, local(clinic, day(6), 9))
    [appointment] = booked(patient)
    assert response.redirect_chain[-1][0] == reverse("portal:appointment", args=[appointment.uuid])
    assert "Booked: Wednesday 6 January at 09:00." in shown(response)
    assert appointment.chair == chairs[1]
    assert (appointment.kind, appointment.plan, appointment.course) == (Appointment.Kind.MAINTENANCE, plan, None)
    assert (appointment.booked_via, appointment.booked_by) == (Appointment.Via.PORTAL, account)
    assert appointment.ends_at - appointment.starts_at == datetime.timedelta(minutes=45)  # the protocol's chair time
    assert Reminder.objects.filter(appointment=appointment).count() == 2  # armed by the service


@pytest.mark.usefixtures("monday_morning")
def test_it_books_for_the_protocols_chair_minutes(portal, clinic, plan, patient):
    plan.protocol.chair_minutes = 60
    plan.protocol.session_minutes = 37
    plan.protocol.save()
    post_slot(portal, local(clinic, day(7), 16))
    [appointment] = booked(patient)
    assert appointment.ends_at == local(clinic, day(7), 17)


@pytest.mark.usefixtures("monday_morning")
def test_someone_taking_the_first_chair_first_moves_the_booking_to_the_next(portal, clinic, plan, patient, chairs,
                                                                             monkeypatch):
    # The chairs looked free when the list was read; the first went to the front desk since.
    AppointmentFactory(chair=chairs[0], patient=PatientFactory(home_clinic=clinic),
                       starts_at=local(clinic, day(6), 9), ends_at=local(clinic, day(6), 9, 45))
    monkeypatch.setattr("scheduling.services.portal._free_chairs", lambda offer, starts_at: chairs)
    post_slot(portal, local(clinic, day(6), 9))
    [appointment] = booked(patient)
    assert appointment.chair == chairs[1]


def test_times_stay_on_the_clinics_clock_across_the_dst_change(portal, clinic, patient, protocol, chairs):
    make_plan(patient, protocol, due=datetime.date(2027, 3, 14))  # clocks go forward that night in New York
    with travel(local(clinic, datetime.date(2027, 3, 11), 9)):
        days = dict(portal.get(reverse("portal:book")).context["days"])
    before, after = days[datetime.date(2027, 3, 13)], days[datetime.date(2027, 3, 15)]
    for times in (before, after):
        assert (f"{times[0]:%H:%M}", f"{times[-1]:%H:%M}") == ("08:00", "17:15")
    assert (before[0].utcoffset(), after[0].utcoffset()) == (datetime.timedelta(hours=-5), datetime.timedelta(hours=-4))


@pytest.mark.usefixtures("monday_morning")
def test_it_refuses_less_than_the_minimum_notice(portal, clinic, plan, patient):
    response = post_slot(portal, local(clinic, day(5), 8, 45))  # 23 h 45 min ahead
    assert shown(response) == [
        "Sessions must be booked at least 24 hours ahead. For a sooner time, please call the clinic on +12125550123."
    ]
    assert booked(patient) == []
    post_slot(portal, local(clinic, day(5), 9))  # exactly 24 hours ahead is fine
    assert len(booked(patient)) == 1


@pytest.mark.usefixtures("monday_morning")
def test_the_minimum_notice_is_a_setting(portal, clinic, plan, patient, settings):
    settings.TMS_PORTAL_MIN_NOTICE_HOURS = 48
    response = post_slot(portal, local(clinic, day(6), 8, 45))
    assert "at least 48 hours ahead" in shown(response)[0]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_it_refuses_after_the_end_of_grace(portal, clinic, plan, patient):
    response = post_slot(portal, local(clinic, day(19), 9))
    assert shown(response) == ["Your maintenance session can be booked between Monday 4 January and Monday 18 January."]
    assert booked(patient) == []


def test_window_edge_the_day_before_it_opens_is_refused(portal, clinic, plan, patient):
    with travel(local(clinic, day(1), 8)):
        response = post_slot(portal, local(clinic, day(3), 17, 15))  # Sunday 3 January, the day before
        assert shown(response) == [
            "Your maintenance session can be booked between Monday 4 January and Monday 18 January."
        ]
        assert booked(patient) == []
        page = portal.get(reverse("portal:book"))
        assert page.context["days"][0][0] == day(4)
        post_slot(portal, local(clinic, day(4), 8))  # the first time of the first day
    assert [a.starts_at for a in booked(patient)] == [local(clinic, day(4), 8)]


def test_window_edge_the_last_day_of_grace_is_bookable(portal, clinic, plan, patient):
    with travel(local(clinic, day(16), 12)):
        response = post_slot(portal, local(clinic, day(19), 8))  # the day after grace ends
        assert "between Monday 4 January and Monday 18 January" in shown(response)[0]
        post_slot(portal, local(clinic, day(18), 17, 15))  # the last time of the last day of grace
    assert [a.starts_at for a in booked(patient)] == [local(clinic, day(18), 17, 15)]


def test_window_ends_at_midnight_in_the_clinics_zone(portal, clinic, plan):
    # 23:59 in New York on the last day of grace is already the 19th in UTC: still in grace.
    with travel(local(clinic, day(18), 23, 59)):
        response = portal.get(reverse("portal:book"))
        assert not response.context["offer"].after_lapse
    # At midnight the plan has lapsed: the next visit is booked from today (the tests at the end).
    with travel(local(clinic, day(19), 0)):
        response = portal.get(reverse("portal:book"))
    assert response.context["offer"].after_lapse


def test_the_window_opening_is_a_setting(portal, clinic, plan, patient, settings):
    settings.TMS_PORTAL_BOOK_DAYS_BEFORE = 3
    with travel(local(clinic, day(4), 9)):
        response = post_slot(portal, local(clinic, day(7), 9))
        assert shown(response) == [
            "Your maintenance session can be booked between Friday 8 January and Monday 18 January."
        ]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_it_refuses_more_future_bookings_than_allowed(portal, clinic, plan, patient, chairs):
    post_slot(portal, local(clinic, day(5), 9))
    post_slot(portal, local(clinic, day(6), 9))
    response = post_slot(portal, local(clinic, day(7), 9))
    message = ("You already have 2 upcoming sessions booked, the most you can book online. You can book another "
               "once one has taken place, or you can cancel one.")
    assert shown(response) == [message]
    assert len(booked(patient)) == 2
    page = portal.get(reverse("portal:book"))
    assert page.context["days"] == [] and page.context["reason"] == message


@pytest.mark.usefixtures("monday_morning")
def test_the_booking_limit_is_a_setting(portal, clinic, plan, patient, settings):
    settings.TMS_PORTAL_MAX_FUTURE_BOOKINGS = 1
    post_slot(portal, local(clinic, day(5), 9))
    response = post_slot(portal, local(clinic, day(6), 9))
    assert shown(response)[0].startswith("You already have 1 upcoming session booked")
    assert len(booked(patient)) == 1


@pytest.mark.usefixtures("monday_morning")
def test_it_refuses_a_second_session_the_same_day(portal, clinic, plan, patient):
    post_slot(portal, local(clinic, day(6), 9))
    response = post_slot(portal, local(clinic, day(6), 14))
    assert shown(response) == [
        "You already have a session on Wednesday 6 January. Only one session a day can be booked."
    ]
    assert len(booked(patient)) == 1
    times = dict(portal.get(reverse("portal:book")).context["days"])
    assert day(6) not in times


def test_a_cluster_visit_may_book_several_sessions_a_day(portal, clinic, patient, protocol, chairs):
    make_plan(patient, protocol, sessions_per_visit=5)
    with travel(local(clinic, day(4), 9)):
        post_slot(portal, local(clinic, day(6), 9))
        post_slot(portal, local(clinic, day(6), 14))
    assert len(booked(patient)) == 2


def test_an_accelerated_protocol_may_book_several_sessions_a_day(portal, clinic, patient, chairs):
    accelerated = ProtocolFactory(name="SAINT", chair_minutes=15, session_minutes=10, sessions_per_day=5)
    make_plan(patient, accelerated)
    with travel(local(clinic, day(4), 9)):
        post_slot(portal, local(clinic, day(6), 9))
        post_slot(portal, local(clinic, day(6), 10))
    assert len(booked(patient)) == 2


@pytest.mark.usefixtures("monday_morning")
def test_it_refuses_a_time_the_patient_is_already_booked(portal, clinic, plan, patient, chairs):
    book_appointment(patient=patient, chair=chairs[0], starts_at=local(clinic, day(6), 9), kind="consult",
                     booked_by=None)
    response = post_slot(portal, local(clinic, day(6), 9, 15))
    assert shown(response) == ["You already have a session at that time."]
    assert len(booked(patient)) == 1


def test_it_refuses_a_patient_with_no_maintenance_plan(portal, clinic, patient, chairs):
    with travel(local(clinic, day(4), 9)):
        page = portal.get(reverse("portal:book"))
        response = post_slot(portal, local(clinic, day(6), 9))
    message = ("You have no maintenance session to book at the moment. For any other visit, please call the clinic "
               "on +12125550123.")
    assert page.context["reason"] == message and message in page.content.decode()
    assert shown(response) == [message]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_it_refuses_a_paused_plan(portal, clinic, plan, patient):
    from scheduling.services.plans import pause_plan

    pause_plan(plan)
    response = post_slot(portal, local(clinic, day(6), 9))
    assert shown(response)[0].startswith("You have no maintenance session to book at the moment.")
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_only_maintenance_can_be_asked_for(portal, clinic, plan, patient):
    portal.post(reverse("portal:book-slot"), {"slot": local(clinic, day(6), 9).isoformat(), "kind": "acute"})
    [appointment] = booked(patient)
    assert appointment.kind == Appointment.Kind.MAINTENANCE


@pytest.mark.usefixtures("monday_morning")
def test_reintroduction_is_refused_unless_staff_allow_it(portal, clinic, plan, patient, protocol):
    TreatmentCourseFactory(patient=patient, protocol=protocol, kind=TreatmentCourse.Kind.REINTRODUCTION)
    response = post_slot(portal, local(clinic, day(6), 9), kind="reintroduction")
    assert shown(response) == [
        "Reintroduction sessions are booked by the clinic: please call the clinic on +12125550123."
    ]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_reintroduction_needs_an_active_reintroduction_course(portal, clinic, plan, patient, protocol):
    patient.may_book_reintroduction = True
    patient.save()
    TreatmentCourseFactory(patient=patient, protocol=protocol, kind=TreatmentCourse.Kind.ACUTE)
    response = post_slot(portal, local(clinic, day(6), 9), kind="reintroduction")
    assert shown(response)[0].startswith("Reintroduction sessions are booked by the clinic")
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_reintroduction_when_allowed_books_on_the_course(portal, clinic, patient, protocol, chairs):
    patient.may_book_reintroduction = True
    patient.save()
    course = TreatmentCourseFactory(patient=patient, protocol=protocol, kind=TreatmentCourse.Kind.REINTRODUCTION)
    page = portal.get(reverse("portal:book") + "?kind=reintroduction")
    assert page.context["days"]
    post_slot(portal, local(clinic, day(6), 9), kind="reintroduction")
    [appointment] = booked(patient)
    assert (appointment.kind, appointment.course, appointment.plan) == (Appointment.Kind.REINTRODUCTION, course, None)


@pytest.mark.usefixtures("monday_morning")
def test_reintroduction_beyond_the_authorised_sessions_is_refused(portal, clinic, patient, protocol, chairs):
    patient.may_book_reintroduction = True
    patient.save()
    TreatmentCourseFactory(patient=patient, protocol=protocol, kind=TreatmentCourse.Kind.REINTRODUCTION,
                           authorised_sessions=0)
    response = post_slot(portal, local(clinic, day(6), 9), kind="reintroduction")
    assert shown(response) == [
        "All the sessions authorised for this course are booked or given: please call the clinic on +12125550123."
    ]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_it_books_only_at_the_home_clinic(portal, clinic, plan, patient, chairs):
    elsewhere = ClinicFactory(name="Uptown TMS", time_zone="America/New_York")
    OpeningHoursFactory(clinic=elsewhere, weekday=2, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=elsewhere, name="Uptown chair")
    for chair in chairs:
        AppointmentFactory(chair=chair, patient=PatientFactory(home_clinic=clinic),
                           starts_at=local(clinic, day(6), 9), ends_at=local(clinic, day(6), 9, 45))
    response = post_slot(portal, local(clinic, day(6), 9))
    assert shown(response) == ["Sorry, that time is no longer free. Please choose another time."]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
@pytest.mark.parametrize("value", ["", "tomorrow", "2027-01-06T09:00", "2027-13-45T09:00:00+00:00", "x" * 500])
def test_a_bad_slot_value_gets_a_message_not_an_error(portal, clinic, plan, patient, value):
    response = portal.post(reverse("portal:book-slot"), {"slot": value}, follow=True)
    assert response.status_code == 200
    assert shown(response) == ["Please choose one of the times listed."]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_a_time_off_the_grid_or_outside_hours_is_refused(portal, clinic, plan, patient):
    for moment in (local(clinic, day(6), 9, 7), local(clinic, day(6), 17, 30), local(clinic, day(6), 3)):
        response = post_slot(portal, moment)
        assert shown(response) == ["Sorry, that time is no longer free. Please choose another time."]
    assert booked(patient) == []


@pytest.mark.usefixtures("monday_morning")
def test_a_double_post_books_once(portal, clinic, plan, patient):
    post_slot(portal, local(clinic, day(6), 9))
    response = post_slot(portal, local(clinic, day(6), 9))
    assert shown(response) == ["You already have a session at that time."]
    assert len(booked(patient)) == 1


@pytest.mark.usefixtures("monday_morning")
def test_a_get_on_the_booking_url_goes_back_to_the_list(portal, plan):
    response = portal.get(reverse("portal:book-slot"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:book"))


# --- Appointment, cancel, reschedule ----------------------------------------------------------


@pytest.fixture
def appointment(clinic, plan, patient, account, chairs):
    with travel(local(clinic, day(4), 9)):
        return book_appointment(patient=patient, chair=chairs[0], starts_at=local(clinic, day(6), 9),
                                kind=Appointment.Kind.MAINTENANCE, plan=plan, booked_by=account, via="portal")


@pytest.fixture
def desk(db):
    staff_user(username="desk1", email="desk1@clinic.test")
    staff_user(username="desk2", email="")  # no address: nobody to write to
    staff_user(username="desk3", email="desk3@clinic.test", is_active=False)
    staff_user(username="tech1", role="Technician", email="tech1@clinic.test")


def test_the_appointment_page_shows_clinic_time_and_the_choices(portal, clinic, appointment):
    with travel(local(clinic, day(4), 9)):
        response = portal.get(reverse("portal:appointment", args=[appointment.uuid]))
    page = response.content.decode()
    assert "Wednesday 6 January 2027 at 09:00" in page
    assert "Cancel this appointment" in page and "Move to another time" in page
    assert "Chair" not in page


def test_the_appointment_page_has_a_fixed_number_of_queries(portal, clinic, appointment,
                                                            django_assert_max_num_queries):
    with travel(local(clinic, day(4), 9)), django_assert_max_num_queries(5 + AUDIT_QUERIES):
        assert portal.get(reverse("portal:appointment", args=[appointment.uuid])).status_code == 200


def test_after_the_cutoff_the_page_gives_the_clinics_phone(portal, clinic, appointment):
    with travel(local(clinic, day(5), 9, 0, 1)):
        response = portal.get(reverse("portal:appointment", args=[appointment.uuid]))
    page = response.content.decode()
    assert "Cancel this appointment" not in page and "Move to another time" not in page
    assert "please call the clinic on" in page and "+12125550123" in page


def test_cancel_before_the_cutoff_frees_the_slot_disarms_reminders_and_tells_the_front_desk(
    portal, clinic, appointment, desk, django_capture_on_commit_callbacks
):
    assert Reminder.objects.filter(appointment=appointment, status=Reminder.Status.PENDING).count() == 2
    with travel(local(clinic, day(5), 9)), django_capture_on_commit_callbacks(execute=True):
        response = portal.post(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
    assert "Your appointment is cancelled. The clinic has been told." in shown(response)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert not Reminder.objects.filter(appointment=appointment, status=Reminder.Status.PENDING).exists()
    [message] = mail.outbox
    assert message.to == ["desk1@clinic.test"]
    assert "MRN-ADA" in message.subject and "MRN-ADA" in message.body
    assert "Wednesday 6 January 2027 at 09:00" in message.body
    for clinical in ("maintenance", "Maintenance", "Lovelace", "iTBS", "PHQ"):
        assert clinical not in message.subject + message.body
    with travel(local(clinic, day(5), 9)):  # the slot is free again
        assert portal.get(reverse("portal:book")).context["days"][0][1][0] == local(clinic, day(6), 9)


def test_the_front_desk_addresses_are_a_setting(portal, clinic, appointment, desk, settings,
                                                 django_capture_on_commit_callbacks):
    settings.TMS_FRONT_DESK_EMAILS = ["desk@riverside.test", "manager@riverside.test"]
    with travel(local(clinic, day(4), 12)), django_capture_on_commit_callbacks(execute=True):
        portal.post(reverse("portal:cancel", args=[appointment.uuid]))
    assert [m.to for m in mail.outbox] == [["desk@riverside.test", "manager@riverside.test"]]


def test_cancel_after_the_cutoff_is_refused_with_the_clinics_phone(
    portal, clinic, appointment, desk, django_capture_on_commit_callbacks
):
    with travel(local(clinic, day(5), 9, 0, 1)), django_capture_on_commit_callbacks(execute=True):
        response = portal.post(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
    assert shown(response) == [
        "It is less than 24 hours before this appointment, so it can no longer be changed online. "
        "To change it, please call the clinic on +12125550123."
    ]
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert mail.outbox == []


def test_the_cancel_cutoff_is_the_notice_setting(portal, clinic, appointment, settings):
    settings.TMS_CANCEL_NOTICE_HOURS = 48
    with travel(local(clinic, day(4), 9, 0, 1)):
        response = portal.post(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
    assert "less than 48 hours" in shown(response)[0]
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_a_double_cancel_is_refused_politely(portal, clinic, appointment, desk, django_capture_on_commit_callbacks):
    with travel(local(clinic, day(4), 12)), django_capture_on_commit_callbacks(execute=True):
        portal.post(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
        response = portal.post(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
    assert shown(response) == ["This appointment cannot be cancelled."]
    assert len(mail.outbox) == 1


def test_a_get_on_cancel_asks_to_confirm_and_changes_nothing(
    portal, clinic, appointment, desk, django_capture_on_commit_callbacks
):
    with travel(local(clinic, day(4), 12)), django_capture_on_commit_callbacks(execute=True):
        response = portal.get(reverse("portal:cancel", args=[appointment.uuid]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Cancel your appointment on Wednesday 6 January at 09:00?" in page
    # "Yes" posts back to the same address; "Keep it" goes back to the appointment's page.
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page.split("<main", 1)[1], re.S)
    assert form.group(1) == reverse("portal:cancel", args=[appointment.uuid])
    assert ">Yes, cancel it</button>" in form.group(2)
    assert f'href="{reverse("portal:appointment", args=[appointment.uuid])}">Keep it</a>' in form.group(2)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert Reminder.objects.filter(appointment=appointment, status=Reminder.Status.PENDING).count() == 2
    assert mail.outbox == []


def test_the_appointment_page_asks_before_cancelling(portal, clinic, appointment):
    with travel(local(clinic, day(4), 12)):
        page = portal.get(reverse("portal:appointment", args=[appointment.uuid])).content.decode()
    # A link to the question, not a form that cancels on one tap.
    assert f'href="{reverse("portal:cancel", args=[appointment.uuid])}">Cancel this appointment</a>' in page
    assert 'method="post"' not in page.split("</header>", 1)[1]


def test_the_confirmation_is_not_offered_after_the_cutoff_or_once_cancelled(portal, clinic, appointment):
    with travel(local(clinic, day(5), 9, 0, 1)):
        late = portal.get(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
    assert late.redirect_chain[-1][0] == reverse("portal:appointment", args=[appointment.uuid])
    assert shown(late)[0].startswith("It is less than 24 hours before this appointment")
    with travel(local(clinic, day(4), 12)):
        portal.post(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
        again = portal.get(reverse("portal:cancel", args=[appointment.uuid]), follow=True)
    assert shown(again) == ["This appointment cannot be cancelled."]
    assert "Yes, cancel it" not in again.content.decode()


def test_the_cancel_confirmation_has_a_fixed_number_of_queries(portal, clinic, appointment,
                                                                django_assert_num_queries):
    with travel(local(clinic, day(4), 12)), django_assert_num_queries(5 + AUDIT_QUERIES):
        assert portal.get(reverse("portal:cancel", args=[appointment.uuid])).status_code == 200


def test_reschedule_lists_times_and_moves_the_appointment(
    portal, clinic, appointment, patient, account, desk, django_capture_on_commit_callbacks
):
    with travel(local(clinic, day(4), 12)):
        page = portal.get(reverse("portal:reschedule", args=[appointment.uuid]))
        assert page.status_code == 200
        times = dict(page.context["days"])
        assert local(clinic, day(7), 9) in times[day(7)]
        # Each time is a link-like GET that asks first: nothing moves until the POST.
        assert f'<form method="get" action="{reverse("portal:reschedule", args=[appointment.uuid])}"' in (
            page.content.decode())
        with django_capture_on_commit_callbacks(execute=True):
            question = portal.get(reverse("portal:reschedule", args=[appointment.uuid]),
                                  {"slot": local(clinic, day(7), 9).isoformat()})
        assert [a.pk for a in booked(patient)] == [appointment.pk] and mail.outbox == []
        assert "Move your appointment to Thursday 7 January at 09:00?" in question.content.decode()
        assert "It is now booked for Wednesday 6 January at 09:00." in question.content.decode()
        [slot] = re.findall(r'name="slot" value="([^"]+)"', question.content.decode())
        with django_capture_on_commit_callbacks(execute=True):
            response = portal.post(reverse("portal:reschedule", args=[appointment.uuid]), {"slot": slot},
                                   follow=True)
    assert "Moved to Thursday 7 January at 09:00." in shown(response)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    [new] = booked(patient)
    assert (new.starts_at, new.kind, new.plan, new.booked_via, new.booked_by) == (
        local(clinic, day(7), 9), Appointment.Kind.MAINTENANCE, appointment.plan, Appointment.Via.PORTAL, account)
    assert response.redirect_chain[-1][0] == reverse("portal:appointment", args=[new.uuid])
    [message] = mail.outbox
    assert "MRN-ADA" in message.body and "Thursday 7 January 2027 at 09:00" in message.body


@pytest.mark.parametrize("slot", ["2027-01-05T09:00:00-05:00", "2027-01-19T09:00:00-05:00", "soon",
                                  "2027-01-07T09:07:00-05:00", "2027-01-07T09:00:00"])
def test_asking_to_move_to_a_time_not_offered_shows_the_list_again(portal, clinic, appointment, patient, slot):
    with travel(local(clinic, day(4), 12)):
        response = portal.get(reverse("portal:reschedule", args=[appointment.uuid]), {"slot": slot}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("portal:reschedule", args=[appointment.uuid])
    assert shown(response) == ["Sorry, that time is not free any more. Please choose one of the times listed."]
    assert "Yes, move it" not in response.content.decode()
    assert [a.pk for a in booked(patient)] == [appointment.pk]


def test_reschedule_after_the_cutoff_is_refused(portal, clinic, appointment, patient):
    with travel(local(clinic, day(5), 9, 0, 1)):
        response = portal.post(reverse("portal:reschedule", args=[appointment.uuid]),
                               {"slot": local(clinic, day(7), 9).isoformat()}, follow=True)
    assert "please call the clinic on +12125550123" in shown(response)[0]
    assert [a.pk for a in booked(patient)] == [appointment.pk]


def test_reschedule_keeps_the_booking_rules(portal, clinic, appointment, patient):
    with travel(local(clinic, day(4), 12)):
        soon = portal.post(reverse("portal:reschedule", args=[appointment.uuid]),
                           {"slot": local(clinic, day(5), 9).isoformat()}, follow=True)
        late = portal.post(reverse("portal:reschedule", args=[appointment.uuid]),
                           {"slot": local(clinic, day(19), 9).isoformat()}, follow=True)
        bad = portal.post(reverse("portal:reschedule", args=[appointment.uuid]), {"slot": "soon"}, follow=True)
    assert shown(soon)[0].startswith("Sessions must be booked at least 24 hours ahead.")
    assert shown(late) == ["Your maintenance session can be booked between Monday 4 January and Monday 18 January."]
    assert shown(bad) == ["Please choose one of the times listed."]
    assert [a.pk for a in booked(patient)] == [appointment.pk]


def test_moving_within_the_same_day_is_not_a_second_session(portal, clinic, appointment, patient):
    with travel(local(clinic, day(4), 12)):
        portal.post(reverse("portal:reschedule", args=[appointment.uuid]),
                    {"slot": local(clinic, day(6), 14).isoformat()})
    [new] = booked(patient)
    assert new.starts_at == local(clinic, day(6), 14)


def test_only_portal_bookable_kinds_can_be_moved(portal, clinic, plan, patient, chairs):
    with travel(local(clinic, day(4), 9)):
        consult = book_appointment(patient=patient, chair=chairs[0], starts_at=local(clinic, day(6), 9),
                                   kind=Appointment.Kind.CONSULT, booked_by=None)
        response = portal.get(reverse("portal:reschedule", args=[consult.uuid]), follow=True)
    assert shown(response) == [
        "This appointment can only be moved by the clinic: please call the clinic on +12125550123."
    ]


# --- Only one's own --------------------------------------------------------------------------


@pytest.fixture
def someone_elses(clinic, protocol, chairs):
    other = PatientFactory(home_clinic=clinic, user=UserFactory(username="grace"))
    other_plan = make_plan(other, protocol)
    with travel(local(clinic, day(4), 9)):
        return book_appointment(patient=other, chair=chairs[1], starts_at=local(clinic, day(8), 9),
                                kind=Appointment.Kind.MAINTENANCE, plan=other_plan, booked_by=None)


@pytest.mark.parametrize("name", ["appointment", "cancel", "reschedule"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_patients_appointment_is_a_404(portal, clinic, plan, someone_elses, name, method):
    with travel(local(clinic, day(4), 12)):
        response = getattr(portal, method)(reverse(f"portal:{name}", args=[someone_elses.uuid]),
                                           {"slot": local(clinic, day(7), 9).isoformat()})
    assert response.status_code == 404
    someone_elses.refresh_from_db()
    assert (someone_elses.status, someone_elses.starts_at) == (Appointment.Status.BOOKED, local(clinic, day(8), 9))


@pytest.mark.parametrize("name", ["appointment", "cancel", "reschedule"])
def test_an_unknown_uuid_is_a_404(portal, plan, name):
    assert portal.get(reverse(f"portal:{name}", args=[uuid.uuid4()])).status_code == 404
    suffix = "" if name == "appointment" else f"{name}/"
    assert portal.get(f"/portal/appointments/not-a-uuid/{suffix}").status_code == 404


@pytest.mark.parametrize("url", ["/portal/book/", "/portal/book/slot/"])
def test_staff_get_a_404_and_strangers_the_login_page(client, front_desk, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    client.force_login(front_desk)
    assert client.get(url).status_code == 404
    assert client.post(url, {"slot": "2027-01-06T09:00:00+00:00"}).status_code == 404


def test_a_discharged_patient_cannot_book(portal, clinic, plan, patient):
    patient.status = "discharged"
    patient.save()
    with travel(local(clinic, day(4), 9)):
        assert portal.get(reverse("portal:book")).status_code == 404
        response = portal.post(reverse("portal:book-slot"), {"slot": local(clinic, day(6), 9).isoformat()})
        assert response.status_code == 404
    assert booked(patient) == []


# --- Issue 14, part 2: booking after a lapse -------------------------------------------------
# Past the grace days a maintenance patient books the next visit from today, within
# TMS_PORTAL_LAPSED_BOOK_DAYS, and staff see it was booked after a lapse; past
# TMS_PORTAL_LAPSED_CALL_DAYS overdue the patient is asked to call instead.


def test_a_lapsed_patient_books_from_today_and_staff_see_the_lapse(portal, clinic, plan, patient, client):
    flag = PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                              detail="Due 11 Jan, 8 days overdue.")
    with travel(local(clinic, day(19), 9)):  # 8 days after the due date, the day after grace
        offer = portal.get(reverse("portal:book")).context["offer"]
        assert offer.after_lapse
        # From today to 14 days on, in the clinic's calendar.
        assert (clinic.local(offer.opens).date(), clinic.local(offer.closes).date()) == (
            day(19), day(19) + datetime.timedelta(days=15))
        response = post_slot(portal, local(clinic, day(20), 10))
    [visit] = booked(patient)
    assert (visit.starts_at, visit.plan, visit.booked_via, visit.booked_after_lapse) == (
        local(clinic, day(20), 10), plan, Appointment.Via.PORTAL, True)
    assert response.status_code == 200 and not any("call" in text for text in shown(response))
    flag.refresh_from_db()
    assert flag.detail == "Due 11 Jan, 8 days overdue. Booked in the portal after a lapse, for Wed 20 Jan, 10:00."
    client.force_login(staff_user(role="Front desk", username="desk"))
    page = client.get(reverse("staff:appointment", args=[visit.uuid])).content.decode()
    assert 'data-testid="after-lapse">booked after a lapse<' in page


def test_a_visit_within_the_grace_days_is_not_after_a_lapse(portal, clinic, plan, patient):
    with travel(local(clinic, day(12), 9)):
        post_slot(portal, local(clinic, day(13), 10))
    [visit] = booked(patient)
    assert not visit.booked_after_lapse


def test_a_time_beyond_the_lapsed_window_is_refused(portal, clinic, plan, patient, settings):
    settings.TMS_PORTAL_LAPSED_BOOK_DAYS = 3
    with travel(local(clinic, day(19), 9)):
        response = post_slot(portal, local(clinic, day(23), 10))  # today + 4
    assert booked(patient) == []
    assert "between Tuesday 19 January and Friday 22 January" in shown(response)[0]


@pytest.mark.parametrize(("call_days", "overdue_on", "asked_to_call"), [
    (60, day(19), False), (60, DUE + datetime.timedelta(days=60), False), (60, DUE + datetime.timedelta(days=61), True),
    (5, day(19), True),
])
def test_long_overdue_patients_are_asked_to_call(portal, clinic, plan, patient, settings, call_days, overdue_on,
                                                 asked_to_call):
    settings.TMS_PORTAL_LAPSED_CALL_DAYS = call_days
    with travel(local(clinic, overdue_on, 9)):
        response = portal.get(reverse("portal:book"))
        home = portal.get(reverse("portal:home")).content.decode()
    if asked_to_call:
        assert response.context["offer"] is None
        assert response.context["reason"] == (
            "Your maintenance session was due on Monday 11 January. As it has been a while, please call the clinic "
            "on +12125550123: your clinician may want to see you before you book.")
        assert "As it has been a while, please call the clinic: your clinician may want to see you" in home
    else:
        assert response.context["offer"].after_lapse
        last = overdue_on + datetime.timedelta(days=14)
        assert f"Book it as soon as you can — between today and {last.day} {last:%B}." in home


@pytest.mark.usefixtures("monday_morning")
def test_a_day_of_times_is_one_form_and_each_time_a_button_that_posts_it(portal, clinic, plan, patient):
    page = portal.get(reverse("portal:book"))
    html = page.content.decode()
    days = page.context["days"]
    forms = re.findall(r'<form method="post" action="/portal/book/slot/".*?</form>', html, re.S)
    assert days and len(forms) == len(days)
    for form, (_, times) in zip(forms, days, strict=True):
        assert re.findall(r'<button type="submit" name="slot" value="([^"]+)"', form) == [t.isoformat() for t in times]
        assert form.count('name="csrfmiddlewaretoken"') == 1 and form.count('name="kind"') == 1
    # What a browser sends for one button: its form's fields and that button's time.
    first = days[0][1][0]
    post_slot(portal, first)
    assert [appointment.starts_at for appointment in booked(patient)] == [first]
