"""The private calendar feed and the per-appointment .ics: they parse with icalendar, keep one
UID per appointment, show the right instant across DST changes, and say nothing clinical."""

import datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
import vobject
from django.urls import reverse

from scheduling.models import Appointment
from scheduling.services import book_appointment, cancel_appointment, reschedule_appointment
from tests.factories import ChairFactory, ClinicFactory, OpeningHoursFactory, PatientFactory, UserFactory

UTC = datetime.UTC
NOW = datetime.datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def clinic_in(zone, name):
    clinic = ClinicFactory(name=name, time_zone=zone, address="1 Main Street\nSpringfield")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(7), closes_at=datetime.time(20))
    return clinic


def patient_at(clinic, token="feed-token-" + "x" * 20):
    patient = PatientFactory(home_clinic=clinic, first_name="Cora", last_name="Secretname", mrn="MRN-CAL-1",
                             calendar_token=token)
    patient.user = UserFactory(username=patient.email)
    patient.save()
    return patient


def book(patient, chair, local_start, kind=Appointment.Kind.MAINTENANCE):
    return book_appointment(patient=patient, chair=chair, starts_at=local_start, kind=kind, booked_by=None)


def feed(client, patient):
    response = client.get(reverse("portal:calendar-feed", args=[patient.calendar_token]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content), response.content.decode()


def events_by_uid(calendar):
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def new_york(db):
    return clinic_in("America/New_York", "Riverside TMS")


def test_the_feed_lists_each_appointment_without_clinical_detail(client, new_york):
    patient = patient_at(new_york)
    chair = ChairFactory(clinic=new_york)
    one = book(patient, chair, datetime.datetime(2027, 3, 3, 9, 0, tzinfo=new_york.tz))
    two = book(patient, chair, datetime.datetime(2027, 3, 10, 9, 0, tzinfo=new_york.tz),
               kind=Appointment.Kind.REINTRODUCTION)
    calendar, text = feed(client, patient)
    events = events_by_uid(calendar)
    assert set(events) == {f"{one.uuid}@tmsclinic", f"{two.uuid}@tmsclinic"}
    for event in events.values():
        assert str(event["SUMMARY"]) == "TMS session at Riverside TMS"
        assert str(event["STATUS"]) == "CONFIRMED"
    for secret in ("Secretname", "Cora", "MRN-CAL-1", "aintenance", "eintroduction", "PHQ", "rTMS", chair.name):
        assert secret not in text


def test_a_reschedule_cancels_the_old_event_and_adds_the_new(client, new_york):
    patient = patient_at(new_york)
    chair = ChairFactory(clinic=new_york)
    old = book(patient, chair, datetime.datetime(2027, 3, 3, 9, 0, tzinfo=new_york.tz))
    before = events_by_uid(feed(client, patient)[0])[f"{old.uuid}@tmsclinic"]
    with time_machine.travel(NOW + datetime.timedelta(hours=2), tick=False):
        moved_to = datetime.datetime(2027, 3, 4, 11, 0, tzinfo=new_york.tz)
        new = reschedule_appointment(old, chair=chair, starts_at=moved_to, by=None)
        events = events_by_uid(feed(client, patient)[0])
    assert set(events) == {f"{old.uuid}@tmsclinic", f"{new.uuid}@tmsclinic"}
    moved = events[f"{old.uuid}@tmsclinic"]
    assert str(moved["STATUS"]) == "CANCELLED"
    assert moved.decoded("DTSTART") == before.decoded("DTSTART")
    assert int(moved["SEQUENCE"]) > int(before["SEQUENCE"])
    assert moved.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")
    assert str(events[f"{new.uuid}@tmsclinic"]["STATUS"]) == "CONFIRMED"
    assert events[f"{new.uuid}@tmsclinic"].decoded("DTSTART").astimezone(UTC) == datetime.datetime(
        2027, 3, 4, 16, 0, tzinfo=UTC)


def test_a_cancelled_session_shows_as_cancelled(client, new_york):
    patient = patient_at(new_york)
    appointment = book(patient, ChairFactory(clinic=new_york), datetime.datetime(2027, 3, 3, 9, 0, tzinfo=new_york.tz))
    cancel_appointment(appointment, by=None, reason="Patient unwell")
    event = events_by_uid(feed(client, patient)[0])[f"{appointment.uuid}@tmsclinic"]
    assert str(event["STATUS"]) == "CANCELLED"
    assert "unwell" not in event.to_ical().decode()


@pytest.mark.parametrize(("zone", "before", "after"), [
    # US clocks go forward on 14 March 2027: 09:00 is 14:00 UTC before, 13:00 UTC after…
    ("America/New_York", (datetime.date(2027, 3, 12), 14), (datetime.date(2027, 3, 15), 13)),
    # …and back on 7 November 2027: 13:00 UTC before, 14:00 UTC after.
    ("America/New_York", (datetime.date(2027, 11, 5), 13), (datetime.date(2027, 11, 8), 14)),
    # UK clocks go forward on 28 March 2027: 09:00 is 09:00 UTC before, 08:00 UTC after…
    ("Europe/London", (datetime.date(2027, 3, 26), 9), (datetime.date(2027, 3, 29), 8)),
    # …and back on 31 October 2027: 08:00 UTC before, 09:00 UTC after.
    ("Europe/London", (datetime.date(2027, 10, 29), 8), (datetime.date(2027, 11, 1), 9)),
])
def test_times_are_right_across_a_dst_change_in_two_readers(client, db, zone, before, after):
    """Times are written in UTC, which every reader agrees on (ical.js and vobject read the
    VTIMEZONE icalendar wrote, with RDATE lists, an hour wrong near the changes). Read back by
    icalendar and by vobject, a reader the project does not write with."""
    clinic = clinic_in(zone, f"Clinic in {zone}")
    patient = patient_at(clinic)
    chair = ChairFactory(clinic=clinic)
    booked = [book(patient, chair, datetime.datetime.combine(day, datetime.time(9), tzinfo=ZoneInfo(zone)))
              for day, _ in (before, after)]
    calendar, text = feed(client, patient)
    assert "VTIMEZONE" not in text and "TZID" not in text
    events = events_by_uid(calendar)
    second = {str(event.uid.value): event for event in vobject.readOne(text).vevent_list}
    for appointment, (day, utc_hour) in zip(booked, (before, after), strict=True):
        expected = datetime.datetime.combine(day, datetime.time(utc_hour), tzinfo=UTC)
        length = appointment.ends_at - appointment.starts_at
        event = events[f"{appointment.uuid}@tmsclinic"]
        assert event.decoded("DTSTART") == expected and event.decoded("DTEND") - expected == length
        other = second[f"{appointment.uuid}@tmsclinic"]
        assert other.dtstart.value.utcoffset() == datetime.timedelta(0)
        assert other.dtstart.value == expected and other.dtend.value - expected == length


def test_the_download_is_one_event_of_your_own(client, new_york):
    patient = patient_at(new_york)
    appointment = book(patient, ChairFactory(clinic=new_york), datetime.datetime(2027, 3, 3, 9, 0, tzinfo=new_york.tz))
    url = reverse("portal:appointment-ics", args=[appointment.uuid])
    assert client.get(url)["Location"].startswith(reverse("portal:login"))
    client.force_login(patient.user)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="tms-session-2027-03-03.ics"'
    (event,) = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["UID"]) == f"{appointment.uuid}@tmsclinic"
    assert event.decoded("DTSTART").astimezone(UTC) == datetime.datetime(2027, 3, 3, 14, 0, tzinfo=UTC)
    assert "Secretname" not in response.content.decode()


def test_an_unknown_or_revoked_token_is_a_404(client, new_york):
    patient = patient_at(new_york)
    assert client.get(reverse("portal:calendar-feed", args=["not-a-token"])).status_code == 404
    old = patient.calendar_token
    client.force_login(patient.user)
    client.post(reverse("portal:calendar-token"), {"action": "renew"})
    patient.refresh_from_db()
    assert patient.calendar_token != old and len(patient.calendar_token) >= 40
    client.logout()
    assert client.get(reverse("portal:calendar-feed", args=[old])).status_code == 404
    assert client.get(reverse("portal:calendar-feed", args=[patient.calendar_token])).status_code == 200
    client.force_login(patient.user)
    client.post(reverse("portal:calendar-token"), {"action": "revoke"})
    patient.refresh_from_db()
    assert patient.calendar_token is None
    assert client.get(reverse("portal:calendar-feed", args=["None"])).status_code == 404


def test_a_discharged_patients_feed_stops(client, new_york):
    patient = patient_at(new_york)
    patient.status = "discharged"
    patient.save()
    assert client.get(reverse("portal:calendar-feed", args=[patient.calendar_token])).status_code == 404
