"""Book from the worklist: the booking form opened on the first free slot from the due date."""

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from scheduling.services import find_open_slots
from tests.factories import AppointmentFactory, ChairFactory, PatientFactory, PatientFlagFactory
from tests.scheduling.staff.worklist.helpers import (
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


def test_book_opens_the_booking_form_on_the_first_open_slot(client, front_desk, open_clinic, chair, protocol):
    second_chair = ChairFactory(clinic=open_clinic, name="Chair 2")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, TODAY, 8))  # someone else
    flag = overdue_patient(open_clinic, protocol, 10)
    client.force_login(front_desk)
    response = client.get(reverse("staff:attention-book", args=[flag.pk]))

    first = find_open_slots(clinic=open_clinic, protocol=protocol, start=NOW, end=NOW + datetime.timedelta(days=1))[0]
    assert (first.chair, first.starts_at) == (second_chair, at(open_clinic, TODAY, 8))
    location = urlsplit(response["Location"])
    assert response.status_code == 302 and location.path == reverse("staff:book")
    assert parse_qs(location.query) == {
        "patient": [str(flag.patient.uuid)], "chair": [str(second_chair.pk)],
        "starts_at": ["2026-12-02T08:00:00-05:00"], "kind": ["maintenance"],
    }
    form = client.get(response["Location"]).context["form"]
    assert form.initial == {"patient": flag.patient, "chair": second_chair,
                            "starts_at": datetime.datetime(2026, 12, 2, 8, 0), "kind": "maintenance"}


def test_book_suggests_the_due_date_for_a_patient_not_yet_due(client, clinician, open_clinic, chair, protocol):
    patient = PatientFactory(home_clinic=open_clinic)
    on_plan(patient, protocol, due_days_ago=-5)
    flag = PatientFlagFactory(patient=patient, kind=WORSENING)
    client.force_login(clinician)
    query = parse_qs(urlsplit(client.get(reverse("staff:attention-book", args=[flag.pk]))["Location"]).query)
    assert query["starts_at"] == [at(open_clinic, TODAY + datetime.timedelta(days=5), 8).isoformat()]


def test_book_skips_times_the_patient_is_already_booked(client, front_desk, open_clinic, chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    AppointmentFactory(patient=flag.patient, chair=ChairFactory(clinic=open_clinic), kind="consult",
                       starts_at=at(open_clinic, TODAY, 8), ends_at=at(open_clinic, TODAY, 8, 30))
    client.force_login(front_desk)
    query = parse_qs(urlsplit(client.get(reverse("staff:attention-book", args=[flag.pk]))["Location"]).query)
    assert query["starts_at"] == [at(open_clinic, TODAY, 8, 30).isoformat()]


def test_book_says_so_when_no_chair_is_free_within_three_weeks(client, front_desk, clinic, chair, protocol):
    flag = overdue_patient(clinic, protocol, 10)  # the clinic has no opening hours
    client.force_login(front_desk)
    response = client.get(reverse("staff:attention-book", args=[flag.pk]) + f"?kind={OVERDUE}")
    assert response["Location"] == f"{WORKLIST}?kind={OVERDUE}"
    assert messages_of(response) == [
        f"No chair is free for {flag.patient.full_name} at Riverside TMS in the 21 days from the due date."
    ]


def test_book_needs_an_active_plan_an_open_flag_and_a_booking_role(client, front_desk, technician, open_clinic,
                                                                  chair, protocol):
    no_plan = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    resolved = overdue_patient(open_clinic, protocol, 10)
    resolved.resolved_at = NOW
    resolved.save()
    client.force_login(technician)
    assert client.get(reverse("staff:attention-book", args=[no_plan.pk])).status_code == 403
    client.force_login(front_desk)
    response = client.get(reverse("staff:attention-book", args=[no_plan.pk]), follow=True)
    assert response.redirect_chain == [(WORKLIST, 302)]
    assert messages_of(response) == [
        f"{no_plan.patient.full_name} has no active maintenance plan to book a session of."
    ]
    response = client.get(reverse("staff:attention-book", args=[resolved.pk]))
    assert messages_of(response) == [
        f"The flag “Overdue maintenance” for {resolved.patient.full_name} is already resolved."
    ]
    assert client.get(reverse("staff:attention-book", args=[99999])).status_code == 404
