"""The appointment page and its actions: check in and complete with the record prefilled,
cancel with a reason, reschedule to a proposed slot, no-show; roles and unknown actions."""

import datetime

import pytest
from django.urls import reverse

from scheduling.models import Appointment, SessionRecord
from tests.conftest import NOW
from tests.factories import AppointmentFactory
from tests.scheduling.staff.calendar.helpers import at, course_with_sessions

pytestmark = pytest.mark.usefixtures("frozen")


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
    assert (appointment.cancelled_by, appointment.cancelled_at) == (front_desk, NOW)
    page = client.get(reverse("staff:appointment", args=[appointment.uuid])).content.decode()
    assert "2 Dec 2026 08:00 by frontdesk" in page  # who decided, in clinic time


def test_who_marked_a_no_show_is_kept_and_shown(client, technician, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 7))
    client.force_login(technician)
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "no-show"]))
    appointment.refresh_from_db()
    assert (appointment.status, appointment.marked_no_show_by, appointment.marked_no_show_at) == (
        "no_show", technician, NOW)
    assert "by tech" in client.get(reverse("staff:appointment", args=[appointment.uuid])).content.decode()


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


@pytest.mark.parametrize(("starts", "opens"), [
    ({"hour": 10}, "09:00"),  # today at 10:00, and it is 08:00
    ({"hour": 9, "day": NOW.date() + datetime.timedelta(days=1)}, "08:00 on Thursday 3 December"),
])
def test_before_check_in_opens_the_page_says_when_and_the_actions_are_refused(client, technician, open_clinic,
                                                                             chair, patient, starts, opens):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, **starts))
    client.force_login(technician)
    url = reverse("staff:appointment", args=[appointment.uuid])
    page = client.get(url).content.decode()
    assert f"Check-in opens at {opens}." in page
    assert ">Check in</button>" not in page and "Complete the session" not in page
    for action, refusal in (("check-in", f"Check-in for this session opens at {opens}."),
                            ("complete", "it can be completed once it has started.")):
        response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, action]),
                               {"pulses_delivered": 3000, "intensity_percent_mt": 120, "motor_threshold": 54},
                               follow=True)
        assert refusal in [str(message) for message in response.context["messages"]][0]
    appointment.refresh_from_db()
    assert (appointment.status, appointment.checked_in_at) == ("booked", None)
    assert not SessionRecord.objects.exists()
