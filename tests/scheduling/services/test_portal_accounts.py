"""invite_patient and open_portal_account: one account per patient, one patient per address."""

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse

from scheduling.services.portal import invite_patient, open_portal_account
from tests.factories import PatientFactory
from tests.scheduling.portal_accounts import NEW_PASSWORD


def test_a_second_invitation_reuses_the_account(invited, invitation_worker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = invite_patient(invited)
        second = invite_patient(invited)
    assert first.pk == second.pk
    assert User.objects.filter(username="ann.lee@example.com").count() == 1
    assert len(mail.outbox) == 2


def test_a_second_patient_with_the_same_email_is_refused(db, invited):
    invite_patient(invited)
    twin = PatientFactory(home_clinic=invited.home_clinic, email="ann.lee@example.com")
    with pytest.raises(Exception, match="Another account already uses"):
        invite_patient(twin)


def test_an_account_opened_with_a_password_logs_in_by_email(client, invited):
    user = open_portal_account(invited, password=NEW_PASSWORD)
    assert user.username == "ann.lee@example.com"
    assert mail.outbox == []
    response = client.post(reverse("portal:login"), {"username": "ann.lee@example.com", "password": NEW_PASSWORD})
    assert response["Location"] == reverse("portal:home")
