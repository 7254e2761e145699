"""Patients, bookings and runs of send_due for the reminders tests, in the week of Monday 4
January 2027 (no DST change anywhere)."""

import datetime

import time_machine
from django.core import mail

from scheduling import sms
from scheduling.models import Appointment, Reminder
from scheduling.services import book_appointment
from scheduling.services.reminders import send_due
from tests.factories import OpeningHoursFactory, PatientFactory

UTC = datetime.UTC
PENDING, SENDING, SENT = Reminder.Status.PENDING, Reminder.Status.SENDING, Reminder.Status.SENT
FAILED, SKIPPED = Reminder.Status.FAILED, Reminder.Status.SKIPPED
DAY_BEFORE, HOURS_BEFORE = Reminder.Kind.DAY_BEFORE, Reminder.Kind.HOURS_BEFORE
EMAIL, SMS = Reminder.Channel.EMAIL, Reminder.Channel.SMS
PHONE = "+12125550100"
# Monday 4 January 2027, a week with no DST change anywhere.
MONDAY = datetime.date(2027, 1, 4)


def travel(moment):
    return time_machine.travel(moment, tick=False)


def day(n):
    return MONDAY + datetime.timedelta(days=n)


def local(clinic, on, hour, minute=0):
    return datetime.datetime.combine(on, datetime.time(hour, minute), tzinfo=clinic.tz)


def open_all_week(clinic, opens=6, closes=22):
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(opens),
                            closes_at=datetime.time(closes))
    return clinic


def reachable(clinic, by=EMAIL, **kwargs):
    """A patient who agreed to both channels and prefers ``by``."""
    fields = {"email_consent": True, "sms_consent": True, "phone": PHONE, "preferred_channel": by, **kwargs}
    return PatientFactory(home_clinic=clinic, **fields)


def book(patient, chair, starts_at, **kwargs):
    return book_appointment(patient=patient, chair=chair, starts_at=starts_at, kind=Appointment.Kind.CONSULT,
                            booked_by=None, duration=datetime.timedelta(minutes=45), **kwargs)


def booked_on_monday(patient, chair, starts_at, **kwargs):
    with travel(local(chair.clinic, MONDAY, 9)):
        return book(patient, chair, starts_at, **kwargs)


def rows(appointment):
    return {r.kind: r for r in Reminder.objects.filter(appointment=appointment)}


def run_at(moment):
    with travel(moment):
        return send_due()


def messages_to(patient):
    """Every message a patient received, e-mail or SMS."""
    emails = [m for m in mail.outbox if m.to == [patient.email]]
    texts = [m for m in sms.outbox if m["to"] == str(patient.phone)] if patient.phone else []
    return emails + texts
