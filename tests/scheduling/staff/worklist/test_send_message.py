"""Outreach on the worklist (issue 14, part 1): a message sent by hand with a template and the
patient's self-booking link, through the same ledger and rules as the cadence; and what the row
says of the cadence (a call task to make, a call back asked for, opted out)."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from patients.models import OutreachAttempt
from scheduling import sms
from scheduling.models import OutreachMessage
from scheduling.services import outreach
from tests.factories import OutreachMessageFactory, OutreachTemplateFactory, PatientFlagFactory
from tests.scheduling.staff.worklist.helpers import MISSED, NOW, WORKLIST, messages_of

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture(autouse=True)
def backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def flag(open_clinic):
    return PatientFlagFactory(patient__home_clinic=open_clinic, patient__first_name="Ada", kind=MISSED,
                              patient__phone="+12125550147", patient__sms_consent=True, patient__email_consent=True)


@pytest.fixture
def template(db):
    return OutreachTemplateFactory(name="Call us, please", body="Hi {first_name}, please call {clinic}: {link}")


def send(client, flag, **data):
    return client.post(reverse("staff:attention-message", args=[flag.pk]) + f"?kind={MISSED}", data)


def test_sending_a_message_by_hand(client, front_desk, flag, template):
    client.force_login(front_desk)
    response = send(client, flag, template=template.pk, channel="sms")
    assert response["Location"] == f"{WORKLIST}?kind={MISSED}"
    assert "within the minute" in messages_of(response)[0]
    [row] = OutreachMessage.objects.all()
    assert (row.flag, row.step, row.channel, row.sent_by, row.status) == (flag, None, "sms", front_desk, "pending")
    outreach.send_due()  # what the worker does within the minute
    [text] = sms.outbox
    assert text["to"] == "+12125550147" and text["body"].startswith("Hi Ada, please call Riverside TMS: http")
    attempt = OutreachAttempt.objects.get(flag=flag)
    assert (attempt.channel, attempt.outcome, attempt.by) == ("sms", "sent", front_desk)
    assert "sent by hand" in attempt.note
    # A second click within minutes sends nothing more.
    response = send(client, flag, template=template.pk, channel="sms")
    assert any("a few minutes ago" in text for text in messages_of(response))
    assert OutreachMessage.objects.count() == 1


@pytest.mark.parametrize(("change", "data", "message"), [
    ({"sms_consent": False}, {"channel": "sms"}, "has not agreed to SMS"),
    ({"email": ""}, {"channel": "email"}, "has not agreed to e-mail"),
    ({"outreach_opt_out_at": NOW}, {"channel": "sms"}, "asked for no more of these messages"),
    ({}, {"channel": "fax"}, "Choose SMS or e-mail."),
    ({}, {"channel": "sms", "template": "999999"}, "Choose one of the messages listed."),
    ({}, {"channel": "sms", "template": "x"}, "Choose one of the messages listed."),
])
def test_a_message_that_cannot_go_is_refused_in_words(client, front_desk, flag, template, change, data, message):
    for field, value in change.items():
        setattr(flag.patient, field, value)
    flag.patient.save()
    client.force_login(front_desk)
    response = send(client, flag, **{"template": template.pk, **data})
    assert response.status_code == 302 and any(message in text for text in messages_of(response))
    assert not OutreachMessage.objects.exists()


def test_technicians_may_not_send_and_a_resolved_flag_sends_nothing(client, technician, front_desk, flag, template):
    client.force_login(technician)
    assert send(client, flag, template=template.pk, channel="sms").status_code == 403
    flag.resolved_at = NOW
    flag.save()
    client.force_login(front_desk)
    assert "already resolved" in messages_of(send(client, flag, template=template.pk, channel="sms"))[0]
    assert not OutreachMessage.objects.exists()


def cadence_badge(client):
    page = client.get(WORKLIST).content.decode()
    start = page.find('data-testid="cadence">')
    return page[start + len('data-testid="cadence">'):page.find("<", start)] if start >= 0 else None


def test_the_row_shows_a_call_task_until_a_call_is_logged(client, front_desk, flag):
    client.force_login(front_desk)
    assert cadence_badge(client) is None
    OutreachMessageFactory(flag=flag, channel="call", status="sent", sent_at=NOW - datetime.timedelta(hours=1),
                           step_day=7, template=None)
    assert cadence_badge(client) == "Call task (day 7)"
    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        OutreachAttempt.objects.create(flag=flag, channel="phone", outcome="voicemail", by=front_desk)
    assert cadence_badge(client) is None


def test_the_row_shows_a_call_back_asked_for_and_an_opt_out(client, front_desk, flag):
    client.force_login(front_desk)
    message = OutreachMessageFactory(flag=flag, status="sent", sent_at=NOW, step_day=0)
    outreach.ask_for_call(message)
    assert cadence_badge(client) == "Asked to be called back"
    OutreachAttempt.objects.all().delete()
    outreach.opt_out(flag.patient)
    assert cadence_badge(client) == "Asked for no more messages: call instead"


def test_staff_cannot_log_a_call_back_request_themselves(client, front_desk, flag):
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]),
                           {"channel": "phone", "outcome": "callback"})
    assert messages_of(response) and not OutreachAttempt.objects.exists()
    assert mail.outbox == []
