"""Contact preferences: channel and consents, each consent stamped when given and cleared when
withdrawn; the calendar link is made and turned off here."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from patients.models import Patient
from tests.factories import UserFactory

GIVEN = datetime.datetime(2027, 3, 1, 15, 0, tzinfo=datetime.UTC)


@pytest.fixture
def me(patient):
    patient.phone = "+12125550111"
    patient.user = UserFactory(username=patient.email)
    patient.save()
    return patient


def post(client, me, **data):
    client.force_login(me.user)
    return client.post(reverse("portal:preferences"), {"preferred_channel": "email", **data})


def test_the_page_labels_every_field(client, me):
    client.force_login(me.user)
    page = client.get(reverse("portal:preferences")).content.decode()
    for field in ("id_preferred_channel_0", "id_preferred_channel_1", "id_email_consent", "id_sms_consent"):
        assert f'for="{field}"' in page
    assert "Make my calendar link" in page


def test_consent_is_stamped_when_given_and_cleared_when_withdrawn(client, me):
    with time_machine.travel(GIVEN, tick=False):
        response = post(client, me, email_consent="on", sms_consent="on")
    assert response.status_code == 302
    me.refresh_from_db()
    assert (me.email_consent, me.email_consent_at) == (True, GIVEN)
    assert (me.sms_consent, me.sms_consent_at) == (True, GIVEN)

    with time_machine.travel(GIVEN + datetime.timedelta(days=5), tick=False):
        post(client, me, email_consent="on", preferred_channel="email")
    me.refresh_from_db()
    assert (me.email_consent, me.email_consent_at) == (True, GIVEN)  # unchanged: kept its date
    assert (me.sms_consent, me.sms_consent_at) == (False, None)


def test_the_channel_is_saved(client, me):
    post(client, me, preferred_channel="sms", sms_consent="on")
    me.refresh_from_db()
    assert me.preferred_channel == Patient.Channel.SMS


def test_sms_needs_a_phone_number_and_says_so_at_the_field(client, me):
    Patient.objects.filter(pk=me.pk).update(phone="")
    response = post(client, me, preferred_channel="sms", sms_consent="on")
    assert response.status_code == 400
    body = response.content.decode()
    assert "The clinic has no mobile number for you" in body
    assert 'aria-describedby="id_sms_consent_error"' in body or "error_1_id_sms_consent" in body
    me.refresh_from_db()
    assert me.sms_consent is False and me.preferred_channel == Patient.Channel.EMAIL


def test_the_calendar_link_is_made_shown_and_turned_off(client, me):
    client.force_login(me.user)
    client.post(reverse("portal:calendar-token"), {"action": "create"})
    me.refresh_from_db()
    assert me.calendar_token
    page = client.get(reverse("portal:preferences")).content.decode()
    assert reverse("portal:calendar-feed", args=[me.calendar_token]) in page
    assert "webcal://" in page
    client.post(reverse("portal:calendar-token"), {"action": "revoke"})
    me.refresh_from_db()
    assert me.calendar_token is None
    assert "Make my calendar link" in client.get(reverse("portal:preferences")).content.decode()
