"""The self-booking link in an outreach message (issue 14, part 1): offered times booked in a tap
without a password, within the plan's rules; expiry, reuse after booking, tampering, another
patient's link and a time taken meanwhile each answered in plain words; a call back asked for
once; stopping the messages; 16 patients taking one time at once on PostgreSQL: one wins."""

import datetime
import re
import threading

import pytest
import time_machine
from django.core import signing
from django.db import connections
from django.test import Client
from django.urls import reverse

from patients.models import OutreachAttempt, PatientFlag
from scheduling.models import Appointment, OutreachMessage
from scheduling.services import book_appointment, outreach
from scheduling.services.plans import refresh_plan
from tests.factories import (
    ChairFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    OutreachMessageFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    UserFactory,
)

DUE = datetime.date(2027, 1, 11)


def at(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def jan(day):
    return datetime.date(2027, 1, day)


@pytest.fixture
def clinic(clinic):
    clinic.phone = "+12125550123"
    clinic.save()
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    return clinic


@pytest.fixture
def chair(clinic):
    return ChairFactory(clinic=clinic, name="Chair 1")


def lapsed_patient(clinic, n=0):
    """A maintenance patient due 11 January with 7 grace days: lapsed from the 19th; flagged and sent a message."""
    patient = PatientFactory(home_clinic=clinic, first_name=f"Ada{n}", email_consent=True)
    protocol = ProtocolFactory(name="iTBS", chair_minutes=15, session_minutes=10)
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol, started_on=DUE, grace_days=7)
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    refresh_plan(plan)
    flag = PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                              raised_at=at(clinic, jan(19), 9), due_on=DUE)
    message = OutreachMessageFactory(flag=flag, status="sent", sent_at=at(clinic, jan(19), 9), step_day=0)
    return message


@pytest.fixture
def message(clinic, chair):
    return lapsed_patient(clinic)


def link(message):
    return reverse("portal:come-back", args=[signing.dumps(str(message.uuid), salt=outreach.LINK_SALT)])


def travel(moment):
    return time_machine.travel(moment, tick=False)


def offered(response):
    return re.findall(r'name="slot" value="([^"]+)"', response.content.decode())


def test_the_link_offers_a_few_times_and_books_one_in_a_tap(client, clinic, message):
    with travel(at(clinic, jan(20), 9)):
        response = client.get(link(message))
        assert response.status_code == 200 and "Hello Ada0" in response.content.decode()
        times = offered(response)
        # The soonest allowed (24 hours' notice), and one three hours later the same day; six in all.
        assert times[:4] == [at(clinic, jan(21), 9).isoformat(), at(clinic, jan(21), 12).isoformat(),
                             at(clinic, jan(22), 8).isoformat(), at(clinic, jan(22), 11).isoformat()]
        assert len(times) == 6 and len({t[:10] for t in times}) == 3
        response = client.post(link(message), {"action": "book", "slot": times[0]}, follow=True)
    assert "you are booked" in response.content.decode()
    [visit] = Appointment.objects.filter(patient=message.patient)
    assert (visit.starts_at, visit.booked_via, visit.booked_after_lapse, visit.booked_by) == (
        at(clinic, jan(21), 9), Appointment.Via.PORTAL, True, None)
    message.refresh_from_db()
    assert message.appointment == visit and message.link_opened_at is not None


def test_using_the_link_again_after_booking_books_nothing_more(client, clinic, message):
    with travel(at(clinic, jan(20), 9)):
        first, second = offered(client.get(link(message)))[:2]
        client.post(link(message), {"action": "book", "slot": first})
        page = client.get(link(message)).content.decode()
        assert "You are booked at Riverside TMS on Thursday 21 January at 09:00" in page
        response = client.post(link(message), {"action": "book", "slot": second})
    assert response.status_code == 409
    assert "You already have a visit booked" in response.content.decode()
    assert Appointment.objects.filter(patient=message.patient).count() == 1


def test_booking_stops_the_rest_of_the_cadence(client, clinic, message):
    pending = OutreachMessageFactory(flag=message.flag, status="pending", scheduled_for=at(clinic, jan(22), 8))
    with travel(at(clinic, jan(20), 9)):
        client.post(link(message), {"action": "book", "slot": offered(client.get(link(message)))[0]})
    pending.refresh_from_db()
    assert (pending.status, pending.last_error) == ("skipped", "The patient booked a visit.")


def test_an_expired_link_says_so_and_gives_the_clinics_number(client, clinic, message, settings):
    token = link(message)
    with travel(at(clinic, jan(19), 9) + datetime.timedelta(days=settings.TMS_OUTREACH_LINK_DAYS, minutes=1)):
        response = client.get(token)
    assert response.status_code == 410
    page = response.content.decode()
    assert "This link has expired" in page and "+12125550123" in page
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-3] + ("abc" if not token.endswith("abc") else "xyz"),  # the signature altered
    lambda token: signing.dumps("00000000-0000-0000-0000-000000000000", salt=outreach.LINK_SALT),  # no such row
    lambda token: signing.dumps("not a uuid", salt=outreach.LINK_SALT),
    lambda token: signing.dumps(token, salt="scheduling.reminder-link"),  # another link's salt
], ids=["tampered", "unknown", "garbage", "other salt"])
def test_a_tampered_or_unknown_link_is_refused_in_plain_words(client, clinic, message, mangle):
    token = signing.dumps(str(message.uuid), salt=outreach.LINK_SALT)
    with travel(at(clinic, jan(20), 9)):
        response = client.get(reverse("portal:come-back", args=[mangle(token)]))
        post = client.post(reverse("portal:come-back", args=[mangle(token)]), {"action": "stop"})
    assert response.status_code == post.status_code == 404
    assert "This link" in response.content.decode() and "Ada0" not in response.content.decode()
    message.patient.refresh_from_db()
    assert message.patient.outreach_opt_out_at is None


def test_another_patients_link_shows_nothing_of_them(client, clinic, message, settings):
    settings.SESSION_COOKIE_AGE = 365 * 24 * 3600  # signed in now, the link opened in January
    other = PatientFactory(home_clinic=clinic, user=UserFactory(username="bea"))
    client.force_login(other.user)
    with travel(at(clinic, jan(20), 9)):
        response = client.get(link(message))
        post = client.post(link(message), {"action": "book", "slot": at(clinic, jan(21), 9).isoformat()})
    assert response.status_code == post.status_code == 403
    assert "sent to someone else" in response.content.decode() and "Ada0" not in response.content.decode()
    assert not Appointment.objects.exists()


def test_its_own_patient_signed_in_may_use_it(client, clinic, message, settings):
    settings.SESSION_COOKIE_AGE = 365 * 24 * 3600
    message.patient.user = UserFactory(username="ada")
    message.patient.save()
    client.force_login(message.patient.user)
    with travel(at(clinic, jan(20), 9)):
        assert client.get(link(message)).status_code == 200


def test_a_time_taken_meanwhile_is_refused_and_others_offered(client, clinic, chair, message):
    with travel(at(clinic, jan(20), 9)):
        first = offered(client.get(link(message)))[0]
        someone = PatientFactory(home_clinic=clinic)
        book_appointment(patient=someone, chair=chair, starts_at=datetime.datetime.fromisoformat(first),
                         kind="consult", booked_by=None)
        response = client.post(link(message), {"action": "book", "slot": first})
    assert response.status_code == 409
    page = response.content.decode()
    assert "no longer free" in page and first not in offered(response) and offered(response)
    assert not Appointment.objects.filter(patient=message.patient).exists()


@pytest.mark.parametrize("slot", ["", "tomorrow", "2027-01-21T09:00", "2027-01-21T03:00:00-05:00",
                                  "9999-99-99T00:00:00+00:00"])
def test_a_bad_time_changes_nothing(client, clinic, message, slot):
    with travel(at(clinic, jan(20), 9)):
        response = client.post(link(message), {"action": "book", "slot": slot})
    assert response.status_code == 409 and not Appointment.objects.exists()


def test_an_unknown_action_changes_nothing(client, clinic, message):
    with travel(at(clinic, jan(20), 9)):
        assert client.post(link(message), {"action": "delete"}).status_code == 400


def test_asking_for_a_call_back_is_logged_once(client, clinic, message):
    with travel(at(clinic, jan(20), 9)):
        response = client.post(link(message), {"action": "callback"}, follow=True)
        client.post(link(message), {"action": "callback"})
    assert "will call you back" in response.content.decode()
    [asked] = OutreachAttempt.objects.filter(flag=message.flag, outcome="callback")
    assert asked.channel == "phone" and asked.by is None


def test_stop_these_messages(client, clinic, message):
    pending = OutreachMessageFactory(flag=message.flag, status="pending")
    with travel(at(clinic, jan(20), 9)):
        response = client.post(link(message), {"action": "stop"}, follow=True)
    assert "no more of these messages" in response.content.decode()
    message.patient.refresh_from_db()
    pending.refresh_from_db()
    assert message.patient.outreach_opt_out_at == at(clinic, jan(20), 9)
    assert message.patient.email_consent  # appointment reminders still go
    assert pending.status == "skipped"


def test_a_patient_long_overdue_is_asked_to_call(client, clinic, message, settings):
    with travel(at(clinic, DUE + datetime.timedelta(days=settings.TMS_PORTAL_LAPSED_CALL_DAYS + 1), 9)):
        message.sent_at = None
        response = client.get(reverse("portal:come-back", args=[
            signing.dumps(str(message.uuid), salt=outreach.LINK_SALT)]))
    page = response.content.decode()
    assert response.status_code == 200 and "please call the clinic" in page and offered(response) == []
    assert "Ask Riverside TMS to call me" in page


# --- 16 patients, one time (PostgreSQL) -------------------------------------------------------


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.django_db(transaction=True)
def test_sixteen_patients_taking_one_time_at_once_one_wins(clinic, chair):
    messages = [lapsed_patient(clinic, n) for n in range(16)]
    slot = at(clinic, jan(21), 10)  # more than 24 hours ahead while the clock ticks
    barrier = threading.Barrier(len(messages))
    statuses = []

    def take(message):
        try:
            barrier.wait()
            statuses.append(Client().post(link(message), {"action": "book", "slot": slot.isoformat()}).status_code)
        finally:
            connections.close_all()

    with time_machine.travel(at(clinic, jan(20), 9), tick=True):
        threads = [threading.Thread(target=take, args=(m,)) for m in messages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert sorted(statuses) == [302] + [409] * 15
    [winner] = Appointment.objects.filter(starts_at=slot)
    assert OutreachMessage.objects.get(appointment=winner).patient == winner.patient
