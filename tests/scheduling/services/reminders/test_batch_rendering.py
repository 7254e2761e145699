"""send_due renders a batch's messages once per distinct context and puts each message's own
link in (reminders.BatchRenderer): every message must be exactly what rendering it on its own
(reminders.render) gives, links escaped in HTML as the template escapes them."""

import datetime

import pytest
from django.core import mail

from patients.models import PlanTemplate
from scheduling import sms
from scheduling.models import Reminder
from scheduling.services import reminders
from scheduling.services.plans import start_plan
from tests.factories import AppointmentFactory, ChairFactory, ClinicFactory, ProtocolFactory, UserFactory
from tests.scheduling.services.reminders.helpers import DAY_BEFORE, EMAIL, SMS, UTC, reachable, travel

# 18:00 in New York, 10:00 the next morning in Sydney: no SMS is held by quiet hours.
NOW = datetime.datetime(2027, 1, 5, 23, tzinfo=UTC)


@pytest.fixture
def monthly(db):
    template = PlanTemplate.objects.create(name="Test monthly", grace_days=7)
    template.phases.create(order=0, interval_days=28, visits=None)
    return template


def due_batch(monthly):
    """Reminders of two clinics: sessions sharing a start and not, both channels, and plan
    nudges for patients with and without a portal account."""
    clinics = [ClinicFactory(name="North & Sons", time_zone="America/New_York", phone="+12125550199"),
               ClinicFactory(name="South", time_zone="Australia/Sydney", address="1 <High> Street")]
    for n in range(12):
        clinic = clinics[n % 2]
        patient = reachable(clinic, by=(EMAIL, SMS)[n % 3 == 0], phone=f"+1212555{n:04d}")
        starts_at = NOW + datetime.timedelta(days=1, hours=n // 4)  # four sessions share each start
        appointment = AppointmentFactory(patient=patient, clinic=clinic, chair=ChairFactory(clinic=clinic),
                                         starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=45))
        Reminder.objects.create(appointment=appointment, kind=DAY_BEFORE, channel=patient.preferred_channel,
                                scheduled_for=NOW - datetime.timedelta(minutes=5))
    for n in range(4):
        clinic = clinics[n % 2]
        user = UserFactory(username=f"portal{n}") if n < 3 else None
        patient = reachable(clinic, by=(EMAIL, SMS)[n % 2], user=user, phone=f"+1212666{n:04d}")
        plan = start_plan(patient=patient, protocol=ProtocolFactory(), template=monthly,
                          started_on=NOW.date() + datetime.timedelta(days=3))
        Reminder.objects.create(plan=plan, due_on=plan.next_due_on, kind=Reminder.Kind.MAINTENANCE_DUE,
                                channel=patient.preferred_channel, scheduled_for=NOW - datetime.timedelta(minutes=5))


def sent_messages():
    """Each message sent, keyed by its address, as (subject, text, html)."""
    sent = {m.to[0]: (m.subject, m.body, m.alternatives[0][0] if m.alternatives else None) for m in mail.outbox}
    sent.update({text["to"]: (None, text["body"], None) for text in sms.outbox})
    return sent


def test_each_message_of_a_batch_is_what_rendering_it_alone_gives(monthly, settings):
    # An address with an ampersand: HTML must carry it escaped, the text as it is.
    settings.SITE_URL = "https://clinic.example/a&b"
    due_batch(monthly)
    with travel(NOW):
        assert reminders.send_due()["sent"] == 16
        expected = {}
        for reminder in Reminder.objects.select_related(
                "appointment__patient", "appointment__clinic", "plan__patient__home_clinic", "plan__patient__user"):
            patient = reminder.appointment.patient if reminder.appointment_id else reminder.plan.patient
            address = patient.email if reminder.channel == EMAIL else str(patient.phone)
            expected[address] = reminders.render(reminder)
    sent = sent_messages()
    assert sent == expected
    links = [text for _, text, _ in sent.values() if "/a&b/portal/r/" in text]
    assert len(links) == 12
    assert len(set(links)) == 12  # each message its own link
    assert all("/a&amp;b/" in html and "/a&b/" not in html for _, _, html in sent.values() if html)
    assert not any(reminders.BatchRenderer.STAND_IN in part for message in sent.values() for part in message if part)


def test_a_batch_renders_each_distinct_context_once(monthly, monkeypatch):
    due_batch(monthly)
    rendered = []
    render_parts = reminders._render_parts
    monkeypatch.setattr(reminders, "_render_parts", lambda *args: rendered.append(args) or render_parts(*args))
    with travel(NOW):
        assert reminders.send_due()["sent"] == 16
    # Recomputed from the rows: one rendering per clinic, time (or due day), channel, and
    # whether the message has a link at all.
    distinct = set()
    for reminder in Reminder.objects.select_related("appointment", "plan__patient__user"):
        if reminder.appointment_id:
            distinct.add((reminder.appointment.clinic_id, reminder.appointment.starts_at, reminder.channel, True))
        else:
            patient = reminder.plan.patient
            distinct.add((patient.home_clinic_id, reminder.due_on, reminder.channel, patient.user_id is not None))
    assert len(rendered) == len(distinct) < 16

