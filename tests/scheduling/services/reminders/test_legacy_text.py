"""Reminders about data stored before single-line fields refused line breaks: a clinic name
with a line break still gives a one-line subject and the reminder goes out."""

from django.core import mail

from scheduling.models import Clinic
from tests.scheduling.services.reminders.helpers import (
    DAY_BEFORE,
    SENT,
    booked_on_monday,
    day,
    local,
    messages_to,
    reachable,
    rows,
    run_at,
)


def test_a_line_break_in_the_clinic_name_stays_out_of_the_subject(chair, clinic):
    Clinic.objects.filter(pk=clinic.pk).update(name="Riverside\r\nBcc: everyone@example.org")
    patient = reachable(clinic)
    appointment = booked_on_monday(patient, chair, local(clinic, day(2), 10))
    assert run_at(local(clinic, day(1), 17))["sent"] == 1
    assert rows(appointment)[DAY_BEFORE].status == SENT
    (message,) = messages_to(patient)
    assert message.subject.startswith("Reminder: your session at Riverside Bcc: everyone@example.org on ")
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.bcc == [] and len(mail.outbox) == 1
