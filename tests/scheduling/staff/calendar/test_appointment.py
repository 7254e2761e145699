"""The appointment page and its actions: check in and complete with the record prefilled,
cancel with a reason, reschedule to a time of the slot finder, no-show; roles and unknown actions."""

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
    # The protocol's values are prefilled; the motor threshold is not (55 was typed at the
    # course's start, never measured at a session), and measuring it is asked for.
    assert page.context["record_form"].initial == {"pulses_delivered": 3000, "intensity_percent_mt": 120,
                                                   "coil_position": "Left DLPFC"}
    assert "Measure the motor threshold at this session: no motor threshold has been measured yet." \
        in page.content.decode()
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "check-in"]))
    appointment.refresh_from_db()
    assert appointment.status == "checked_in"
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "complete"]),
                {"pulses_delivered": 3000, "intensity_percent_mt": 120, "motor_threshold": 54})
    appointment.refresh_from_db()
    assert appointment.status == "completed"
    record = SessionRecord.objects.get(appointment=appointment)
    assert (record.motor_threshold, record.mt_measured) == (54, True)


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


def test_reschedule_to_a_time_of_the_finder_after_confirming(client, front_desk, open_clinic, chair, patient):
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, 10))
    client.force_login(front_desk)
    url = reverse("staff:appointment", args=[appointment.uuid])
    slots = client.get(url).context["reschedule"]["slots"]
    slot = slots[0]
    choice = f"{slot.chair.pk}@{slot.starts_at.isoformat()}"
    # Choosing a time asks to confirm and changes nothing.
    confirm = client.get(url, {"move_to": choice})
    assert confirm.context["reschedule"]["move_to"]["starts_at"] == slot.starts_at
    assert 'data-testid="confirm-move"' in confirm.content.decode()
    appointment.refresh_from_db()
    assert (appointment.status, appointment.starts_at) == ("booked", at(open_clinic, 10))
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "reschedule"]),
                           {"slot": choice})
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


def measured_before(patient, chair, course, mt, technician, days_back=1):
    """A completed session, ``days_back`` before DAY, at which ``mt`` was measured."""
    from tests.factories import SessionRecordFactory

    done = AppointmentFactory(patient=patient, chair=chair, course=course, status="completed",
                              starts_at=at(chair.clinic, 9) - datetime.timedelta(days=days_back))
    return SessionRecordFactory(appointment=done, motor_threshold=mt, mt_measured=True, operator=technician)


def test_the_last_mt_is_a_hint_beside_an_empty_box_and_blank_means_carried(client, technician, open_clinic, chair,
                                                                            patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 0)
    technician.first_name, technician.last_name = "Sam", "Tech"
    technician.save()
    measured_before(patient, chair, course, 58, technician)
    appointment = AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 8),
                                     status="checked_in")
    client.force_login(technician)
    page = client.get(reverse("staff:appointment", args=[appointment.uuid]))
    form = page.context["record_form"]
    assert "motor_threshold" not in form.initial and not form.fields["motor_threshold"].required
    assert "Last measured 58 % on 1 Dec 2026 by Sam Tech. Leave blank unless you measured it" in page.content.decode()
    client.post(reverse("staff:appointment-action", args=[appointment.uuid, "complete"]),
                {"pulses_delivered": 3000, "intensity_percent_mt": 120})
    record = SessionRecord.objects.get(appointment=appointment)
    assert (record.motor_threshold, record.mt_measured) == (58, False)
    assert "58 % — not measured; the last measurement" in client.get(
        reverse("staff:appointment", args=[appointment.uuid])).content.decode()


def test_values_far_from_the_protocol_need_a_confirmation(client, technician, open_clinic, chair, patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 0)
    measured_before(patient, chair, course, 58, technician)
    appointment = AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 8),
                                     status="checked_in")
    client.force_login(technician)
    url = reverse("staff:appointment-action", args=[appointment.uuid, "complete"])
    response = client.post(url, {"pulses_delivered": 2000, "intensity_percent_mt": 120})
    assert response.status_code == 400
    assert ("Pulses 2,000 is 33% below the protocol's 3,000. Tick the box if that is what was delivered."
            in response.context["record_form"].errors["confirm_off_protocol"])
    assert 'type="checkbox" name="confirm_off_protocol"' in response.content.decode()
    assert not SessionRecord.objects.filter(appointment=appointment).exists()
    client.post(url, {"pulses_delivered": 2000, "intensity_percent_mt": 120, "confirm_off_protocol": "on"})
    assert SessionRecord.objects.get(appointment=appointment).pulses_delivered == 2000


def test_an_implausible_intensity_is_refused_on_the_page(client, technician, open_clinic, chair, patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 0)
    appointment = AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 8),
                                     status="checked_in")
    client.force_login(technician)
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "complete"]),
                           {"pulses_delivered": 3000, "intensity_percent_mt": 300, "motor_threshold": 55,
                            "confirm_off_protocol": "on"})
    assert response.status_code == 400
    assert response.context["record_form"].errors["intensity_percent_mt"] == [
        "Ensure this value is less than or equal to 150."]
    appointment.refresh_from_db()
    assert appointment.status == "checked_in" and not SessionRecord.objects.exists()


def test_where_a_recheck_is_due_a_blank_mt_gets_the_reason(client, technician, open_clinic, chair, patient, protocol):
    course = course_with_sessions(patient, chair, protocol, 0)
    appointment = AppointmentFactory(patient=patient, chair=chair, course=course, starts_at=at(open_clinic, 8),
                                     status="checked_in")
    client.force_login(technician)
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "complete"]),
                           {"pulses_delivered": 3000, "intensity_percent_mt": 120})
    assert response.status_code == 400
    assert response.context["record_form"].errors["motor_threshold"] == [
        "Measure the motor threshold and enter it: a re-check is due (no motor threshold has been measured yet)."]
    assert not SessionRecord.objects.exists()
