"""The appointment page names the staff who booked, cancelled or marked a no-show and who
overrode the authorisation: read in one query of their own, whoever and however many they are."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Appointment
from tests.factories import AppointmentFactory, ChairFactory, ClinicFactory, staff_user
from tmsclinic.roles import CLINICIAN, FRONT_DESK, TECHNICIAN


@pytest.fixture
def chair(db):
    return ChairFactory(clinic=ClinicFactory(name="People TMS"))


def person(username, first_name, role=FRONT_DESK):
    return staff_user(role=role, username=username, first_name=first_name, last_name="Staff")


def page(client, appointment):
    response = client.get(reverse("staff:appointment", kwargs={"uuid": appointment.uuid}))
    assert response.status_code == 200
    return response.content.decode()


def test_each_person_is_named_and_read_in_one_query(client, chair):
    reader = person("reader", "Reader", CLINICIAN)
    client.force_login(reader)
    start = timezone.now() - datetime.timedelta(days=3)
    cancelled = AppointmentFactory(
        chair=chair, starts_at=start, status=Appointment.Status.CANCELLED, cancelled_at=start,
        cancelled_by=person("ann", "Ann"), booked_by=person("bob", "Bob"),
        technician=person("tess", "Tess", TECHNICIAN),
        authorisation_override_by=person("olga", "Olga", CLINICIAN), authorisation_override_note="Peer review")
    html = page(client, cancelled)
    for name in ("by Ann Staff", "by Bob Staff", "by Olga Staff: Peer review"):
        assert name in html
    no_show = AppointmentFactory(chair=chair, starts_at=start + datetime.timedelta(hours=2),
                                 status=Appointment.Status.NO_SHOW, marked_no_show_at=start,
                                 marked_no_show_by=person("nick", "Nick", TECHNICIAN))
    assert "by Nick Staff" in page(client, no_show)

    by_link = AppointmentFactory(chair=chair, starts_at=start + datetime.timedelta(hours=4),
                                 status=Appointment.Status.CANCELLED, cancelled_at=start)
    html = page(client, by_link)
    assert "the patient, from a reminder link" in html and " by Bob" not in html

    # Five people or one: the same queries (one for the people, none when nobody is named).
    one = AppointmentFactory(chair=chair, starts_at=start + datetime.timedelta(hours=6),
                             status=Appointment.Status.CANCELLED, cancelled_at=start, cancelled_by=reader)
    page(client, cancelled)
    page(client, one)  # warm: the session's chosen clinic
    with CaptureQueriesContext(connection) as everyone:
        page(client, cancelled)
    with CaptureQueriesContext(connection) as alone:
        page(client, one)
    with CaptureQueriesContext(connection) as nobody:
        page(client, by_link)
    assert len(everyone) == len(alone) == len(nobody) + 1
    people = [query["sql"] for query in everyone.captured_queries if 'FROM "auth_user"' in query["sql"]]
    assert len(people) == 2  # the signed-in user (by the session), and the page's people
