"""The signed link in a reminder: see when and where, confirm, or cancel early enough; the
link is the only key, and it opens one appointment and nothing else."""

import datetime

import pytest
import time_machine
from django.core import signing
from django.urls import reverse

from scheduling.models import Appointment, Reminder
from scheduling.services import book_appointment
from scheduling.services.reminders import LINK_SALT, link_for
from tests.conftest import AUDIT_QUERIES
from tests.factories import ChairFactory, OpeningHoursFactory, PatientFactory

MONDAY = datetime.date(2027, 1, 4)


def travel(moment):
    return time_machine.travel(moment, tick=False)


def local(clinic, days, hour, minute=0, second=0):
    return datetime.datetime.combine(MONDAY + datetime.timedelta(days=days), datetime.time(hour, minute, second),
                                     tzinfo=clinic.tz)


@pytest.fixture
def clinic(clinic):
    clinic.phone = "+12125550123"
    clinic.address = "1 Main Street"
    clinic.save()
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(7), closes_at=datetime.time(20))
    return clinic


def book(patient, chair, starts_at):
    return book_appointment(patient=patient, chair=chair, starts_at=starts_at, kind=Appointment.Kind.CONSULT,
                            booked_by=None, duration=datetime.timedelta(minutes=45))


@pytest.fixture
def appointment(clinic, chair):
    """Wednesday 6 January 2027 at 10:00 in New York, booked (and its link signed) on Monday."""
    patient = PatientFactory(home_clinic=clinic, first_name="Zebedee", last_name="Quill", email_consent=True)
    with travel(local(clinic, 0, 9)):
        return book(patient, chair, local(clinic, 2, 10))


def path_of(appointment, at):
    with travel(at):
        return link_for(appointment).removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def link(appointment, clinic, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    return path_of(appointment, local(clinic, 0, 9))


def get(client, path, at):
    with travel(at):
        return client.get(path)


def post(client, path, at, action):
    with travel(at):
        return client.post(path, {"action": action})


def test_the_link_shows_the_clinic_and_the_time_in_the_clinics_zone(client, link, clinic,
                                                                     django_assert_max_num_queries):
    with django_assert_max_num_queries(3 + AUDIT_QUERIES):  # the link names a patient: an audit event
        response = get(client, link, local(clinic, 0, 10))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Riverside TMS" in page
    assert "Wednesday 6 January 2027 at 10:00" in page
    assert "1 Main Street" in page
    assert 'value="confirm"' in page
    # Cancelling asks first: a link to the question, no button that cancels on one tap.
    assert f'href="{link}?ask=cancel">Cancel this appointment</a>' in page and 'value="cancel"' not in page


def test_cancel_asks_to_confirm_and_the_question_changes_nothing(client, link, appointment, clinic):
    response = get(client, link + "?ask=cancel", local(clinic, 0, 10))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Cancel your appointment on Wednesday 6 January at 10:00?" in page
    assert '<button class="btn btn-danger" name="action" value="cancel">Yes, cancel it</button>' in page
    assert f'href="{link}">Keep it</a>' in page
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    # Within the notice period there is nothing to ask: the clinic's phone instead.
    late = get(client, link + "?ask=cancel", local(clinic, 1, 10, 0, 1)).content.decode()
    assert "Yes, cancel it" not in late and "+12125550123" in late


def test_the_page_names_neither_the_patient_nor_anything_clinical(client, link, appointment, clinic):
    page = get(client, link, local(clinic, 0, 10)).content.decode()
    for private in ("Zebedee", "Quill", appointment.patient.mrn, appointment.patient.email, "Consultation"):
        assert private not in page


def test_confirming_records_when(client, link, appointment, clinic):
    response = post(client, link, local(clinic, 1, 18), "confirm")
    assert response.status_code == 302
    assert response["Location"] == link + "?done=confirmed"
    appointment.refresh_from_db()
    assert appointment.confirmed_at == local(clinic, 1, 18)
    assert appointment.status == Appointment.Status.BOOKED
    post(client, link, local(clinic, 1, 19), "confirm")
    appointment.refresh_from_db()
    assert appointment.confirmed_at == local(clinic, 1, 18)
    page = get(client, link + "?done=confirmed", local(clinic, 1, 19)).content.decode()
    assert "your appointment is confirmed" in page
    assert 'value="confirm"' not in page


def test_cancelling_more_than_a_day_ahead_cancels_and_disarms_the_reminders(client, link, appointment, clinic):
    response = post(client, link, local(clinic, 1, 10), "cancel")  # exactly 24 hours ahead
    assert response.status_code == 302
    assert response["Location"] == link + "?done=cancelled"
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.cancelled_at == local(clinic, 1, 10)
    assert appointment.cancel_reason == "Cancelled by the patient from a reminder"
    assert set(Reminder.objects.filter(appointment=appointment).values_list("status", flat=True)) == {
        Reminder.Status.SKIPPED
    }
    page = get(client, link, local(clinic, 1, 11)).content.decode()
    assert "Cancelled" in page
    assert 'value="confirm"' not in page and 'value="cancel"' not in page


def test_cancelling_within_a_day_is_refused_with_the_clinics_phone(client, link, appointment, clinic):
    just_inside = local(clinic, 1, 10, 0, 1)
    page = get(client, link, just_inside).content.decode()
    assert 'value="cancel"' not in page and "?ask=cancel" not in page
    assert "+12125550123" in page
    response = post(client, link, just_inside, "cancel")
    assert response.status_code == 409
    assert "can no longer be cancelled online" in response.content.decode()
    assert 'href="tel:+12125550123"' in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert set(Reminder.objects.filter(appointment=appointment).values_list("status", flat=True)) == {
        Reminder.Status.PENDING
    }


def test_nothing_can_be_done_once_the_session_has_begun(client, link, appointment, clinic):
    for action in ("confirm", "cancel"):
        response = post(client, link, local(clinic, 2, 10), action)
        assert response.status_code == 200
    appointment.refresh_from_db()
    assert (appointment.status, appointment.confirmed_at) == (Appointment.Status.BOOKED, None)


def test_the_link_expires(client, appointment, clinic, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.TMS_REMINDER_LINK_DAYS = 14
    signed = local(clinic, 0, 9)
    link = path_of(appointment, signed)
    assert get(client, link, signed + datetime.timedelta(days=14)).status_code == 200
    assert get(client, link, signed + datetime.timedelta(days=14, seconds=1)).status_code == 404
    assert post(client, link, signed + datetime.timedelta(days=14, seconds=1), "cancel").status_code == 404


def test_a_forged_link_is_not_found(client, link, appointment, clinic):
    token = link.rstrip("/").rsplit("/", 1)[1]
    value, timestamp, signature = token.split(":")
    forgeries = [
        f"{value}:{timestamp}:{signature[:-2]}xx",  # signature tampered with
        signing.dumps(str(appointment.uuid)),  # signed for another purpose (no salt)
        signing.dumps(str(appointment.uuid), salt=LINK_SALT, key="not-our-secret-key-at-all-0123456789"),
    ]
    for forged in forgeries:
        path = reverse("portal:reminder-link", args=[forged])
        assert get(client, path, local(clinic, 0, 10)).status_code == 404
        assert post(client, path, local(clinic, 0, 10), "cancel").status_code == 404
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


@pytest.mark.parametrize(
    "token",
    ["garbage", "a:b", "a:b:c", "::", ":::::", "ImFiYyI:1xW25n:abc", "%00", "%E2%82%AC", "ü" * 3, "x" * 4000,
     "..", "Ij8i:1xW25n:" + "A" * 43],
)
def test_garbage_tokens_are_not_found_never_an_error(client, clinic, token):
    assert client.get(f"/portal/r/{token}/").status_code == 404
    assert client.post(f"/portal/r/{token}/", {"action": "cancel"}).status_code == 404


@pytest.mark.parametrize("value", ["not-a-uuid", 12, None, ["a", "list"], {"uuid": "x"}])
def test_a_validly_signed_token_of_the_wrong_shape_is_not_found(client, clinic, value):
    token = signing.dumps(value, salt=LINK_SALT)
    assert client.get(reverse("portal:reminder-link", args=[token])).status_code == 404


def test_a_link_reaches_its_own_appointment_and_no_other(client, link, appointment, clinic, chair):
    other_patient = PatientFactory(home_clinic=clinic)
    with travel(local(clinic, 0, 9)):
        same_patient_later = book(appointment.patient, chair, local(clinic, 3, 15))
        someone_else = book(other_patient, ChairFactory(clinic=clinic), local(clinic, 2, 10))
    page = get(client, link, local(clinic, 0, 10)).content.decode()
    assert "Thursday 7 January" not in page
    assert "15:00" not in page
    with travel(local(clinic, 0, 10)):
        client.post(link, {"action": "cancel", "appointment": str(someone_else.uuid), "uuid": str(someone_else.uuid)})
    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert statuses == {
        appointment.pk: Appointment.Status.CANCELLED,
        same_patient_later.pk: Appointment.Status.BOOKED,
        someone_else.pk: Appointment.Status.BOOKED,
    }


def test_an_unknown_action_changes_nothing(client, link, appointment, clinic):
    assert post(client, link, local(clinic, 0, 10), "delete").status_code == 200
    appointment.refresh_from_db()
    assert (appointment.status, appointment.confirmed_at) == (Appointment.Status.BOOKED, None)
    with travel(local(clinic, 0, 10)):
        assert client.put(link).status_code == 405
