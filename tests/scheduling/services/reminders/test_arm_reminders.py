"""Arming: booking writes the day-before and hours-before reminders in its own transaction, on
the clinic's clock, on the channel the patient agreed to, out of quiet hours; cancelling or
moving the appointment disarms them."""

import datetime

import pytest
from django.core import mail

from scheduling import sms
from scheduling.models import Appointment, Reminder
from scheduling.services import cancel_appointment, reschedule_appointment
from tests.factories import ChairFactory, ClinicFactory
from tests.scheduling.services.reminders.helpers import (
    DAY_BEFORE,
    EMAIL,
    HOURS_BEFORE,
    MONDAY,
    PENDING,
    SKIPPED,
    SMS,
    UTC,
    book,
    booked_on_monday,
    day,
    local,
    messages_to,
    open_all_week,
    reachable,
    rows,
    run_at,
    travel,
)

# --- Arming, in the booking's transaction -----------------------------------------------------


def test_booking_writes_the_day_before_and_hours_before_reminders(chair, clinic):
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    armed = rows(appointment)
    assert set(armed) == {DAY_BEFORE, HOURS_BEFORE}
    # The day before at 17:00 New York time (EST, UTC-5), and two hours before the session.
    assert armed[DAY_BEFORE].scheduled_for == datetime.datetime(2027, 1, 5, 22, 0, tzinfo=UTC)
    assert armed[HOURS_BEFORE].scheduled_for == datetime.datetime(2027, 1, 6, 13, 0, tzinfo=UTC)
    assert {(r.status, r.channel, r.attempts, r.sent_at) for r in armed.values()} == {(PENDING, EMAIL, 0, None)}


def test_reminders_are_written_in_the_bookings_own_transaction(chair, clinic, monkeypatch):
    patient = reachable(clinic)

    def outbox_down(*args, **kwargs):
        raise RuntimeError("could not write the outbox")

    monkeypatch.setattr(Reminder.objects, "bulk_create", outbox_down)
    with pytest.raises(RuntimeError):
        booked_on_monday(patient, chair, local(clinic, day(2), 10))
    # No appointment without its reminders: they commit or roll back together.
    assert not Appointment.objects.exists()


def test_a_clinic_can_choose_its_own_reminder_times(chair, clinic):
    clinic.reminder_day_before_at = datetime.time(18, 30)
    clinic.reminder_hours_before = 3
    clinic.save()
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 14))
    armed = rows(appointment)
    assert armed[DAY_BEFORE].scheduled_for == local(clinic, day(1), 18, 30)
    assert armed[HOURS_BEFORE].scheduled_for == local(clinic, day(2), 11)


def test_the_installation_defaults_come_from_settings(chair, clinic, settings):
    settings.TMS_REMINDER_DAY_BEFORE_AT = "16:15"
    settings.TMS_REMINDER_HOURS_BEFORE = 4
    appointment = booked_on_monday(reachable(clinic), chair, local(clinic, day(2), 14))
    armed = rows(appointment)
    assert armed[DAY_BEFORE].scheduled_for == local(clinic, day(1), 16, 15)
    assert armed[HOURS_BEFORE].scheduled_for == local(clinic, day(2), 10)


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        ({"preferred_channel": EMAIL}, EMAIL),
        ({"preferred_channel": SMS}, SMS),
        # The preferred channel is not usable: the other consented one is.
        ({"preferred_channel": SMS, "phone": ""}, EMAIL),
        ({"preferred_channel": SMS, "sms_consent": False}, EMAIL),
        ({"preferred_channel": EMAIL, "email": ""}, SMS),
        ({"preferred_channel": EMAIL, "email_consent": False}, SMS),
        # Consent without an address, or an address without consent, is no channel at all.
        ({"email_consent": False, "phone": ""}, None),
        ({"email": "", "sms_consent": False}, None),
        ({"email_consent": False, "sms_consent": False}, None),
    ],
)
def test_the_channel_follows_consent_and_preference(chair, clinic, contact, expected):
    patient = reachable(clinic, **contact)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    armed = rows(appointment).values()
    if expected is None:
        assert {r.status for r in armed} == {SKIPPED}
        assert {r.last_error for r in armed} == {"The patient has not agreed to be contacted."}
    else:
        assert {(r.status, r.channel) for r in armed} == {(PENDING, expected)}


def test_a_reminder_already_due_at_booking_is_logged_as_skipped(chair, clinic):
    with travel(local(clinic, day(1), 18)):  # after 17:00 the day before
        appointment = book(reachable(clinic), chair, local(clinic, day(2), 10))
    armed = rows(appointment)
    assert armed[DAY_BEFORE].status == SKIPPED
    assert armed[DAY_BEFORE].last_error == "Booked after this reminder was due."
    assert armed[HOURS_BEFORE].status == PENDING


# --- Quiet hours ------------------------------------------------------------------------------


def test_an_sms_due_at_six_in_the_morning_is_held_until_eight(chair, clinic):
    clinic.reminder_hours_before = 3
    clinic.save()
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 9))
    held = rows(appointment)[HOURS_BEFORE]
    assert (held.status, held.scheduled_for) == (PENDING, local(clinic, day(2), 8))
    assert run_at(local(clinic, day(1), 17))["sent"] == 1  # the day before
    assert run_at(local(clinic, day(2), 7, 59))["sent"] == 0
    assert len(sms.outbox) == 1
    assert run_at(local(clinic, day(2), 8))["sent"] == 1
    assert len(sms.outbox) == 2


def test_an_email_is_not_held_by_quiet_hours(chair, clinic):
    clinic.reminder_hours_before = 3
    clinic.save()
    appointment = booked_on_monday(reachable(clinic, by=EMAIL), chair, local(clinic, day(2), 9))
    assert rows(appointment)[HOURS_BEFORE].scheduled_for == local(clinic, day(2), 6)
    run_at(local(clinic, day(1), 17))
    assert run_at(local(clinic, day(2), 6))["sent"] == 1
    assert rows(appointment)[HOURS_BEFORE].sent_at == local(clinic, day(2), 6)
    assert len(mail.outbox) == 2


def test_an_sms_whose_morning_is_after_the_session_is_skipped(chair, clinic):
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 7, 30))
    skipped = rows(appointment)[HOURS_BEFORE]  # 05:30; the morning (08:00) is after the session
    assert (skipped.status, skipped.last_error) == (SKIPPED, "It would fall in quiet hours.")
    assert rows(appointment)[DAY_BEFORE].status == PENDING


def test_quiet_hours_come_from_settings(chair, clinic, settings):
    settings.TMS_QUIET_HOURS = "16:00-09:00"
    appointment = booked_on_monday(reachable(clinic, by=SMS), chair, local(clinic, day(2), 11))
    assert rows(appointment)[DAY_BEFORE].scheduled_for == local(clinic, day(2), 9)


# --- Daylight saving --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "session", "day_before_utc", "hours_before_utc"),
    [
        # New York springs forward on Sunday 14 March 2027.
        ("America/New_York", datetime.datetime(2027, 3, 15, 10), datetime.datetime(2027, 3, 14, 21),
         datetime.datetime(2027, 3, 15, 12)),
        ("America/New_York", datetime.datetime(2027, 3, 14, 10), datetime.datetime(2027, 3, 13, 22),
         datetime.datetime(2027, 3, 14, 12)),
        # ... and falls back on Sunday 7 November 2027.
        ("America/New_York", datetime.datetime(2027, 11, 8, 10), datetime.datetime(2027, 11, 7, 22),
         datetime.datetime(2027, 11, 8, 13)),
        ("America/New_York", datetime.datetime(2027, 11, 7, 10), datetime.datetime(2027, 11, 6, 21),
         datetime.datetime(2027, 11, 7, 13)),
        # London springs forward on Sunday 28 March 2027 and falls back on Sunday 31 October.
        ("Europe/London", datetime.datetime(2027, 3, 29, 10), datetime.datetime(2027, 3, 28, 16),
         datetime.datetime(2027, 3, 29, 7)),
        ("Europe/London", datetime.datetime(2027, 3, 28, 10), datetime.datetime(2027, 3, 27, 17),
         datetime.datetime(2027, 3, 28, 7)),
        ("Europe/London", datetime.datetime(2027, 11, 1, 10), datetime.datetime(2027, 10, 31, 17),
         datetime.datetime(2027, 11, 1, 8)),
        ("Europe/London", datetime.datetime(2027, 10, 31, 10), datetime.datetime(2027, 10, 30, 16),
         datetime.datetime(2027, 10, 31, 8)),
    ],
)
def test_reminders_across_a_dst_change_keep_the_wall_clock_time(db, zone, session, day_before_utc,
                                                                  hours_before_utc):
    clinic = open_all_week(ClinicFactory(time_zone=zone))
    chair = ChairFactory(clinic=clinic)
    patient = reachable(clinic)
    starts_at = session.replace(tzinfo=clinic.tz)
    with travel(starts_at - datetime.timedelta(days=7)):
        appointment = book(patient, chair, starts_at)
    armed = rows(appointment)
    assert armed[DAY_BEFORE].scheduled_for == day_before_utc.replace(tzinfo=UTC)
    assert clinic.local(armed[DAY_BEFORE].scheduled_for).time() == datetime.time(17)
    assert armed[HOURS_BEFORE].scheduled_for == hours_before_utc.replace(tzinfo=UTC)
    assert armed[HOURS_BEFORE].scheduled_for == starts_at - datetime.timedelta(hours=2)
    for reminder in armed.values():
        moment = reminder.scheduled_for
        assert run_at(moment - datetime.timedelta(seconds=1))["sent"] == 0
        assert run_at(moment)["sent"] == 1
    assert len(mail.outbox) == 2


@pytest.mark.parametrize(
    ("zone", "evening", "morning_utc"),
    [
        # The night the clocks go forward is an hour shorter, the night they go back an hour longer:
        # the SMS still waits until 08:00 on the clinic's clock.
        ("America/New_York", datetime.datetime(2027, 3, 13, 22), datetime.datetime(2027, 3, 14, 12)),
        ("America/New_York", datetime.datetime(2027, 11, 6, 22), datetime.datetime(2027, 11, 7, 13)),
        ("Europe/London", datetime.datetime(2027, 3, 27, 22), datetime.datetime(2027, 3, 28, 7)),
        ("Europe/London", datetime.datetime(2027, 10, 30, 22), datetime.datetime(2027, 10, 31, 8)),
    ],
)
def test_an_sms_held_overnight_across_a_dst_change_goes_at_eight_local(db, zone, evening, morning_utc):
    clinic = open_all_week(ClinicFactory(time_zone=zone, reminder_day_before_at=datetime.time(22)))
    chair = ChairFactory(clinic=clinic)
    starts_at = (evening + datetime.timedelta(hours=13)).replace(tzinfo=clinic.tz)  # 11:00 the next day
    with travel(starts_at - datetime.timedelta(days=7)):
        appointment = book(reachable(clinic, by=SMS), chair, starts_at)
    held = rows(appointment)[DAY_BEFORE]
    assert held.scheduled_for == morning_utc.replace(tzinfo=UTC)
    assert clinic.local(held.scheduled_for).time() == datetime.time(8)


# --- Disarming -------------------------------------------------------------------------------


def test_a_cancelled_appointments_reminders_are_skipped(chair, clinic, front_desk):
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    with travel(local(clinic, MONDAY, 10)):
        cancel_appointment(appointment, by=front_desk, reason="Unwell")
    assert {(r.status, r.last_error) for r in rows(appointment).values()} == {
        (SKIPPED, "The appointment was cancelled.")
    }
    run_at(local(clinic, day(2), 9))
    assert messages_to(patient) == []


def test_a_rescheduled_appointment_is_reminded_of_its_new_time_only(chair, clinic, front_desk):
    patient = reachable(clinic)
    old = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    with travel(local(clinic, MONDAY, 10)):
        new = reschedule_appointment(old, chair=chair, starts_at=local(clinic, day(3), 15), by=front_desk)
    assert {r.status for r in rows(old).values()} == {SKIPPED}
    armed = rows(new)
    assert armed[DAY_BEFORE].scheduled_for == local(clinic, day(2), 17)
    assert armed[HOURS_BEFORE].scheduled_for == local(clinic, day(3), 13)
    for moment in (local(clinic, day(1), 17), local(clinic, day(2), 8), local(clinic, day(2), 17),
                   local(clinic, day(3), 13)):
        run_at(moment)
    received = messages_to(patient)
    assert len(received) == 2
    assert all("Thursday 7 January 2027 at 15:00" in message.body for message in received)
    assert {r.status for r in rows(old).values()} == {SKIPPED}
