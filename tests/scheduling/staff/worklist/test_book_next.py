"""Book from the worklist: a confirmation page on the suggested slot (no sooner than the lead
time, on the patient's usual weekday and time when there is one), which books it and goes back
to the worklist, where the patient now waits under "Booked — awaiting visit"."""

import datetime

import pytest
from django.urls import reverse

from scheduling.models import Appointment
from tests.factories import AppointmentFactory, ChairFactory, ClinicFactory, PatientFactory, PatientFlagFactory
from tests.scheduling.staff.worklist.helpers import (
    MISSED,
    NOW,
    OVERDUE,
    SAFETY,
    TODAY,
    WORKLIST,
    WORSENING,
    at,
    messages_of,
    on_plan,
    overdue_patient,
)

pytestmark = pytest.mark.usefixtures("frozen")
BOOK_NEXT = 'Book next<span class="visually-hidden"> session</span>'


def book_url(flag):
    return reverse("staff:attention-book", args=[flag.pk])


def suggested(client, flag):
    response = client.get(book_url(flag))
    assert response.status_code == 200, response
    return response.context["slot"]


def test_it_suggests_the_first_free_slot_two_hours_from_now(client, front_desk, open_clinic, chair, protocol):
    second_chair = ChairFactory(clinic=open_clinic, name="Chair 2")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, TODAY, 10))  # someone else, 10:00-10:45
    flag = overdue_patient(open_clinic, protocol, 10, first_name="Ada", last_name="Lovelace")
    client.force_login(front_desk)
    response = client.get(book_url(flag))
    slot = response.context["slot"]
    # 08:00 in New York now; the lead time (two hours by default) makes 10:00 the first; Chair 1 is taken.
    assert (slot.chair, slot.starts_at) == (second_chair, at(open_clinic, TODAY, 10))
    page = response.content.decode()
    assert "Book the next session of Ada Lovelace" in page
    assert 'data-testid="suggested-slot">Wednesday 2 December 2026, 10:00<' in page
    assert "Chair 2, 45 minutes in the chair" in page
    assert "No completed session yet to read a usual day from." in page
    assert Appointment.objects.filter(patient=flag.patient).count() == 0  # a GET books nothing


@pytest.mark.parametrize(("lead", "expected"), [(0, (8, 0)), (30, (8, 30)), (100, (9, 45)), (600, (18, 0))])
def test_the_lead_time_is_a_setting(client, front_desk, open_clinic, chair, protocol, settings, lead, expected):
    settings.TMS_SUGGEST_LEAD_MINUTES = lead
    flag = overdue_patient(open_clinic, protocol, 10)
    client.force_login(front_desk)
    # 08:00 + 100 minutes is 09:40: the next start on the 15-minute grid is 09:45. 18:00 is after
    # closing time: the first slot is the next morning's.
    hour, minute = expected
    day = TODAY if (hour, minute) < (18, 0) else TODAY + datetime.timedelta(days=1)
    assert suggested(client, flag).starts_at == (at(open_clinic, day, hour, minute) if hour < 18
                                                 else at(open_clinic, day, 8))


def test_it_suggests_the_due_date_for_a_patient_not_yet_due(client, clinician, open_clinic, chair, protocol):
    patient = PatientFactory(home_clinic=open_clinic)
    on_plan(patient, protocol, due_days_ago=-5)
    flag = PatientFlagFactory(patient=patient, kind=WORSENING)
    client.force_login(clinician)
    assert suggested(client, flag).starts_at == at(open_clinic, TODAY + datetime.timedelta(days=5), 8)


def test_it_skips_times_the_patient_is_already_booked(client, front_desk, open_clinic, chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    AppointmentFactory(patient=flag.patient, chair=ChairFactory(clinic=open_clinic), kind="consult",
                       starts_at=at(open_clinic, TODAY, 10), ends_at=at(open_clinic, TODAY, 10, 30))
    client.force_login(front_desk)
    assert suggested(client, flag).starts_at == at(open_clinic, TODAY, 10, 30)


def _came(patient, chair, day, hour, minute=0, kind="maintenance", status="completed"):
    return AppointmentFactory(patient=patient, chair=chair, kind=kind, status=status,
                              starts_at=at(chair.clinic, day, hour, minute))


def test_it_suggests_the_patients_usual_weekday_and_time(client, front_desk, open_clinic, chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    # Fridays at 15:00 in New York, on both sides of the end of summer time (19:00 and 20:00 UTC).
    for day in (datetime.date(2026, 10, 23), datetime.date(2026, 11, 6), datetime.date(2026, 11, 20)):
        _came(flag.patient, chair, day, 15, kind="acute")
    _came(flag.patient, chair, datetime.date(2026, 11, 23), 9)  # one Monday
    for monday in (datetime.date(2026, 11, 2), datetime.date(2026, 11, 9), datetime.date(2026, 11, 16)):
        _came(flag.patient, chair, monday, 9, status="cancelled")  # not visits
        _came(flag.patient, chair, monday, 11, kind="consult")  # not treatment sessions
    client.force_login(front_desk)
    response = client.get(book_url(flag))
    assert response.context["slot"].starts_at == at(open_clinic, datetime.date(2026, 12, 4), 15)
    assert "Usually comes on Fridays at 15:00." in response.content.decode()


def test_when_the_usual_time_is_taken_it_suggests_the_nearest_on_that_day(client, front_desk, open_clinic, chair,
                                                                         protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    for day in (datetime.date(2026, 11, 13), datetime.date(2026, 11, 20)):
        _came(flag.patient, chair, day, 15)
    friday = datetime.date(2026, 12, 4)
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, friday, 14, 45))  # 14:45-15:30, someone else
    client.force_login(front_desk)
    # Free starts nearest 15:00 for 45 minutes: 14:00 (an hour before) and 15:30 (half an hour after).
    assert suggested(client, flag).starts_at == at(open_clinic, friday, 15, 30)


def test_a_tie_between_weekdays_goes_to_the_latest_visit(client, front_desk, open_clinic, chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    _came(flag.patient, chair, datetime.date(2026, 11, 9), 9)  # a Monday
    _came(flag.patient, chair, datetime.date(2026, 11, 19), 16, 30)  # a Thursday, later
    client.force_login(front_desk)
    assert suggested(client, flag).starts_at == at(open_clinic, datetime.date(2026, 12, 3), 16, 30)


def test_without_a_free_usual_weekday_it_suggests_the_first_free_slot(client, front_desk, clinic, chair, protocol):
    from tests.factories import OpeningHoursFactory

    for weekday in range(4):  # Monday to Thursday only
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    flag = overdue_patient(clinic, protocol, 10)
    _came(flag.patient, chair, datetime.date(2026, 11, 20), 15)  # a Friday: the clinic is shut on Fridays now
    client.force_login(front_desk)
    assert suggested(client, flag).starts_at == at(clinic, TODAY, 10)


def test_booking_goes_back_to_the_worklist_where_the_patient_awaits_the_visit(client, front_desk, open_clinic,
                                                                            chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 10, first_name="Ada", last_name="Lovelace")
    other = overdue_patient(open_clinic, protocol, 5)
    client.force_login(front_desk)
    query = f"?kind={OVERDUE}"
    page = client.get(book_url(flag) + query)
    form = page.context["form"]
    posted = {"chair": form.initial["chair"].pk, "starts_at": form.initial["starts_at"]}
    assert posted == {"chair": chair.pk, "starts_at": "2026-12-02T15:00:00+00:00"}
    response = client.post(book_url(flag) + query, posted)
    assert response.status_code == 302 and response["Location"] == f"{WORKLIST}{query}"
    appointment = Appointment.objects.get(patient=flag.patient)
    assert (appointment.kind, appointment.plan, appointment.chair, appointment.starts_at, appointment.booked_by) == (
        "maintenance", flag.plan, chair, at(open_clinic, TODAY, 10), front_desk)
    assert messages_of(response) == [
        "Booked Ada Lovelace on Chair 1, Wed 2 Dec, 10:00: they wait under “Booked — awaiting visit” until the "
        "session is done."]

    worklist = client.get(WORKLIST)
    assert [f.pk for f in worklist.context["to_act_on"]] == [other.pk]
    assert [f.pk for f in worklist.context["awaiting_visit"]] == [flag.pk]
    html = worklist.content.decode()
    waiting = html[html.index('data-testid="awaiting-visit"'):]
    assert "Ada Lovelace" in waiting and 'data-testid="awaiting">Booked Wed 2 Dec 10:00<' in waiting
    assert waiting.count(BOOK_NEXT) == 0 and html.count(BOOK_NEXT) == 1


def test_a_slot_taken_meanwhile_is_refused_and_the_next_one_suggested(client, front_desk, open_clinic, chair,
                                                                     protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    client.force_login(front_desk)
    posted = {"chair": chair.pk, "starts_at": at(open_clinic, TODAY, 10).isoformat()}
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, TODAY, 10), patient__first_name="Someone")
    response = client.post(book_url(flag), posted)
    assert response.status_code == 200
    assert messages_of(response) == ["Chair 1 is already booked from 10:00 to 10:45. Here is the next suggestion."]
    assert response.context["slot"].starts_at == at(open_clinic, TODAY, 10, 45)
    assert not Appointment.objects.filter(patient=flag.patient).exists()


@pytest.mark.parametrize(("posted", "said"), [
    ({"starts_at": "2026-12-02T10:00:00-05:00"}, "That chair is not at the patient's clinic."),
    ({"starts_at": "tomorrow"}, "The suggested time was not understood; open the suggestion again."),
    ({"starts_at": "2026-12-02T10:00:00"}, "The suggested time was not understood; open the suggestion again."),
    ({"starts_at": "2026-12-02T10:00\x00"}, "Remove the line break or control character: this field takes one line "
                                            "of text. Null characters are not allowed."),
])
def test_bad_posts_change_nothing_and_say_why(client, front_desk, open_clinic, chair, protocol, posted, said):
    flag = overdue_patient(open_clinic, protocol, 10)
    elsewhere = ChairFactory(clinic=ClinicFactory(name="Lakeside TMS"))
    chair_pk = elsewhere.pk if "chair" in said else chair.pk
    client.force_login(front_desk)
    response = client.post(book_url(flag), {"chair": chair_pk, **posted})
    assert response.status_code == 200
    assert messages_of(response) == [said]
    assert not Appointment.objects.filter(patient=flag.patient).exists()


def test_it_says_so_when_no_chair_is_free_within_three_weeks(client, front_desk, clinic, chair, protocol):
    flag = overdue_patient(clinic, protocol, 10)  # the clinic has no opening hours
    client.force_login(front_desk)
    response = client.get(book_url(flag) + f"?kind={OVERDUE}")
    assert response["Location"] == f"{WORKLIST}?kind={OVERDUE}"
    assert messages_of(response) == [
        f"No chair is free for {flag.patient.full_name} at Riverside TMS in the 21 days from the due date."
    ]


def test_it_needs_an_active_plan_an_open_flag_and_a_booking_role(client, front_desk, technician, open_clinic,
                                                                 chair, protocol):
    no_plan = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    resolved = overdue_patient(open_clinic, protocol, 10)
    resolved.resolved_at = NOW
    resolved.save()
    client.force_login(technician)
    assert client.get(book_url(no_plan)).status_code == 403
    assert client.post(book_url(resolved), {}).status_code == 403
    client.force_login(front_desk)
    response = client.get(book_url(no_plan), follow=True)
    assert response.redirect_chain == [(WORKLIST, 302)]
    assert messages_of(response) == [
        f"{no_plan.patient.full_name} has no active maintenance plan to book a session of."
    ]
    response = client.post(book_url(resolved), {"chair": chair.pk, "starts_at": "2026-12-02T10:00:00-05:00"})
    assert messages_of(response) == [
        f"The flag “Overdue maintenance” for {resolved.patient.full_name} is already resolved."
    ]
    assert not Appointment.objects.filter(patient=resolved.patient).exists()
    assert client.get(reverse("staff:attention-book", args=[99999])).status_code == 404


def test_a_missed_appointments_flag_waits_once_a_treatment_visit_is_booked(client, front_desk, open_clinic, chair):
    missed = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    safety = PatientFlagFactory(patient=missed.patient, kind=SAFETY)
    AppointmentFactory(patient=missed.patient, chair=chair, kind="consult", starts_at=at(open_clinic, TODAY, 9))
    client.force_login(front_desk)
    response = client.get(WORKLIST)
    assert [f.pk for f in response.context["to_act_on"]] == [safety.pk, missed.pk]  # a consult is not a visit
    AppointmentFactory(patient=missed.patient, chair=chair, kind="acute", starts_at=at(open_clinic, TODAY, 11))
    response = client.get(WORKLIST)
    # A safety flag is never answered by a booking.
    assert [f.pk for f in response.context["to_act_on"]] == [safety.pk]
    assert [f.pk for f in response.context["awaiting_visit"]] == [missed.pk]


def test_another_time_or_chair_books_on_the_booking_page_and_comes_back_to_the_worklist(
        client, front_desk, open_clinic, chair, protocol):
    from html import unescape
    from urllib.parse import parse_qs, urlsplit

    flag = overdue_patient(open_clinic, protocol, 10, first_name="Ada", last_name="Lovelace")
    client.force_login(front_desk)
    query = f"?kind={OVERDUE}"
    link = client.get(book_url(flag) + query).context["other_times"]
    asked = parse_qs(urlsplit(link).query)
    assert asked["next"] == [f"{WORKLIST}{query}"] and "kind" not in asked  # the kind comes from her state
    form = client.get(link)
    assert form.context["form"]["kind"].value() == "maintenance"
    assert f'name="next" value="{WORKLIST}{query}"' in unescape(form.content.decode())
    response = client.post(reverse("staff:book"), {
        "patient": flag.patient.pk, "clinic": open_clinic.pk, "chair": chair.pk, "kind": "maintenance",
        "starts_at": "2026-12-03T11:00", "next": f"{WORKLIST}{query}"})
    assert response["Location"] == f"{WORKLIST}{query}"
    assert Appointment.objects.get(patient=flag.patient).plan == flag.plan
