"""Staff invite a patient to the portal from the patient page: an account and an e-mailed
link, refused without an address, after discharge or to an address with another account."""

import pytest
from django.core import mail
from django.urls import reverse

from patients.models import Patient
from tests.factories import UserFactory
from tests.scheduling.portal_accounts import link_in


def test_staff_invite_creates_an_account_and_emails_a_link(client, front_desk, invited):
    client.force_login(front_desk)
    response = client.post(reverse("staff:invite", args=[invited.uuid]), follow=True)
    assert "Portal invitation sent to ann.lee@example.com" in response.content.decode()
    invited.refresh_from_db()
    assert invited.user.username == "ann.lee@example.com"
    assert not invited.user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann.lee@example.com"]
    assert "/portal/set-password/" in link_in(mail.outbox[0])


def test_the_patient_page_offers_the_invitation(client, front_desk, invited):
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[invited.uuid])).content.decode()
    assert reverse("staff:invite", args=[invited.uuid]) in page
    assert "Invite to the portal" in page


@pytest.mark.parametrize(("change", "message"), [
    ({"email": ""}, "Add the patient&#x27;s e-mail address first"),
    ({"status": Patient.Status.DISCHARGED}, "This patient is discharged"),
])
def test_invite_is_refused_without_email_or_after_discharge(client, front_desk, patient, change, message):
    Patient.objects.filter(pk=patient.pk).update(**change)
    client.force_login(front_desk)
    response = client.post(reverse("staff:invite", args=[patient.uuid]), follow=True)
    assert message in response.content.decode()
    assert mail.outbox == []
    patient.refresh_from_db()
    assert patient.user is None


def test_invite_is_refused_when_the_address_has_another_account(client, front_desk, invited):
    UserFactory(username="ann.lee@example.com")
    client.force_login(front_desk)
    response = client.post(reverse("staff:invite", args=[invited.uuid]), follow=True)
    assert "Another account already uses ann.lee@example.com" in response.content.decode()
    assert mail.outbox == []


def test_a_technician_cannot_invite(client, technician, invited):
    client.force_login(technician)
    assert client.post(reverse("staff:invite", args=[invited.uuid])).status_code == 403
    assert mail.outbox == []
