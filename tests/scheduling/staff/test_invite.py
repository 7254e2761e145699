"""Staff invite a patient to the portal from the patient page: an account and an e-mailed
link, refused without an address, after discharge or to an address with another account."""

import pytest
from django.core import mail
from django.urls import reverse

from patients.models import Patient
from tests.factories import UserFactory
from tests.scheduling.portal_accounts import link_in


def test_staff_invite_creates_an_account_and_the_worker_emails_a_link(client, front_desk, invited, invitation_worker,
                                                                     django_capture_on_commit_callbacks):
    client.force_login(front_desk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("staff:invite", args=[invited.uuid]), follow=True)
    assert "Portal invitation on its way to ann.lee@example.com" in response.content.decode()
    invited.refresh_from_db()
    assert invited.user.username == "ann.lee@example.com"
    assert not invited.user.has_usable_password()
    # Nothing is sent in the request: the worker sends it once the request's transaction commits.
    assert mail.outbox == []
    assert invitation_worker == [("scheduling.tasks.send_portal_invitation", {"patient_id": invited.pk})]
    for callback in callbacks:
        callback()
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


def test_a_mail_server_that_is_down_neither_fails_the_request_nor_loses_the_account(
        client, front_desk, invited, invitation_worker, django_capture_on_commit_callbacks, settings):
    """The request only queues the invitation; the worker's task meets the refused connection and
    is retried with growing delays (autoretry_for OSError, as SMTP errors are)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    client.force_login(front_desk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("staff:invite", args=[invited.uuid]))
    assert response.status_code == 302
    invited.refresh_from_db()
    assert invited.user is not None and invited.user.username == "ann.lee@example.com"
    from celery.exceptions import Retry

    from scheduling.tasks import send_portal_invitation

    assert [name for name, _ in invitation_worker] == ["scheduling.tasks.send_portal_invitation"]
    with pytest.raises(Retry):
        send_portal_invitation.apply(kwargs={"patient_id": invited.pk}, throw=True)
    assert len(callbacks) == 1


@pytest.mark.parametrize("change", ["discharged", "no account", "deactivated"])
def test_the_worker_sends_nothing_to_a_patient_who_changed_meanwhile(invited, invitation_worker,
                                                                     django_capture_on_commit_callbacks, change):
    from scheduling.services.portal import invite_patient

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user = invite_patient(invited)
    if change == "discharged":
        Patient.objects.filter(pk=invited.pk).update(status=Patient.Status.DISCHARGED)
    elif change == "no account":
        Patient.objects.filter(pk=invited.pk).update(user=None)
    else:
        user.is_active = False
        user.save(update_fields=["is_active"])
    for callback in callbacks:
        callback()
    assert mail.outbox == []
