"""A patient's STOP reply by SMS (issue 14, part 1): the provider's webhook withdraws SMS consent
and stops outreach for that number; a wrong or missing token changes nothing."""

import pytest
from django.urls import reverse

from patients.models import Patient
from tests.factories import OutreachMessageFactory, PatientFactory, PatientFlagFactory

URL = reverse("portal:sms-inbound")


@pytest.fixture
def patient(clinic, settings):
    settings.TMS_SMS_INBOUND_TOKEN = "s3cret-token"
    return PatientFactory(home_clinic=clinic, phone="+12125550147", sms_consent=True, email_consent=True)


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop. ", "UNSUBSCRIBE", "quit"])
def test_stop_withdraws_sms_consent_and_outreach(client, patient, body):
    pending = OutreachMessageFactory(flag=PatientFlagFactory(patient=patient), status="pending")
    response = client.post(URL, {"From": "+1 (212) 555-0147", "Body": body}, headers={"X-TMS-Token": "s3cret-token"})
    assert response.status_code == 200
    patient.refresh_from_db()
    pending.refresh_from_db()
    assert (patient.sms_consent, patient.sms_consent_at, patient.email_consent) == (False, None, True)
    assert patient.outreach_opt_out_at is not None
    assert (pending.status, pending.last_error) == ("skipped", "The patient replied STOP.")


def test_other_replies_change_nothing(client, patient):
    response = client.post(URL + "?token=s3cret-token", {"From": "+12125550147", "Body": "Stop by tomorrow?"})
    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).sms_consent


@pytest.mark.parametrize(("headers", "query", "status"), [
    ({}, "", 403), ({"X-TMS-Token": "guess"}, "", 403), ({}, "?token=s3cret-tokeN", 403),
])
def test_a_wrong_token_changes_nothing(client, patient, headers, query, status):
    response = client.post(URL + query, {"From": "+12125550147", "Body": "STOP"}, headers=headers)
    assert response.status_code == status
    assert Patient.objects.get(pk=patient.pk).sms_consent


def test_the_webhook_is_off_without_a_token(client, patient, settings):
    settings.TMS_SMS_INBOUND_TOKEN = ""
    assert client.post(URL, {"From": "+12125550147", "Body": "STOP"}).status_code == 404
    assert client.get(URL).status_code == 405
    assert Patient.objects.get(pk=patient.pk).sms_consent


def test_a_sender_that_is_not_a_number_is_refused(client, patient):
    response = client.post(URL, {"From": "not a number", "Body": "STOP"}, headers={"X-TMS-Token": "s3cret-token"})
    assert response.status_code == 400 and Patient.objects.get(pk=patient.pk).sms_consent
