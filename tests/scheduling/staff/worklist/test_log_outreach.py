"""Logging an outreach attempt on a flag from the worklist."""

import pytest
from django.urls import reverse

from patients.models import OutreachAttempt
from tests.factories import PatientFlagFactory
from tests.scheduling.staff.worklist.helpers import MISSED, NOW, WORKLIST, messages_of

pytestmark = pytest.mark.usefixtures("frozen")


def test_logging_an_outreach_attempt(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]) + f"?kind={MISSED}",
                           {"channel": "phone", "outcome": "voicemail", "note": "Left a message at home"})
    assert response["Location"] == f"{WORKLIST}?kind={MISSED}"
    attempt = OutreachAttempt.objects.get()
    assert (attempt.flag, attempt.channel, attempt.outcome, attempt.note, attempt.by) == (
        flag, "phone", "voicemail", "Left a message at home", front_desk)
    assert "Phone: Left a message" in client.get(WORKLIST).content.decode()


@pytest.mark.parametrize("data", [{}, {"channel": "fax", "outcome": "sent"}, {"channel": "phone", "outcome": "maybe"}])
def test_a_bad_outreach_attempt_is_refused_with_a_message(client, front_desk, open_clinic, data):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]), data)
    assert response.status_code == 302 and messages_of(response)
    assert not OutreachAttempt.objects.exists()


def test_outreach_is_refused_on_a_resolved_flag_and_to_technicians(client, front_desk, technician, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW)
    data = {"channel": "phone", "outcome": "reached"}
    client.force_login(technician)
    assert client.post(reverse("staff:attention-outreach", args=[flag.pk]), data).status_code == 403
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]), data)
    assert "is already resolved" in messages_of(response)[0]
    assert client.get(reverse("staff:attention-outreach", args=[flag.pk])).status_code == 405
    assert not OutreachAttempt.objects.exists()
