"""Portal accounts: the e-mailed link sets a password once and expires; login by e-mail,
password reset, logout; discharged patients and repeated wrong passwords are refused."""

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from patients.models import Patient
from scheduling.services.portal import invite_patient
from tests.factories import PASSWORD, UserFactory, staff_user
from tests.scheduling.portal_accounts import NEW_PASSWORD, link_in


def path_of(url):
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_the_link_sets_the_password_once_and_logs_in(client, invited, invitation_worker,
                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite_patient(invited)
    link = path_of(link_in(mail.outbox[0]))
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert response.context["user"].username == "ann.lee@example.com"
    assert "Hello Ann" in response.content.decode()

    client.logout()
    again = client.get(link, follow=True)
    assert again.status_code == 404
    assert "This link no longer works" in again.content.decode()


def test_the_link_expires(client, invited, settings, invitation_worker, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
    start = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks(execute=True):
        invite_patient(invited)
    link = path_of(link_in(mail.outbox[0]))
    with time_machine.travel(start + datetime.timedelta(days=2, hours=23), tick=False):
        assert client.get(link, follow=True).status_code == 200
    with time_machine.travel(start + datetime.timedelta(days=3, hours=1), tick=False):
        response = client.get(link, follow=True)
    assert response.status_code == 404
    assert "expired" in response.content.decode()


def test_the_link_dies_when_the_patient_is_discharged(client, invited, invitation_worker,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite_patient(invited)
    Patient.objects.filter(pk=invited.pk).update(status=Patient.Status.DISCHARGED)
    assert client.get(path_of(link_in(mail.outbox[0])), follow=True).status_code == 404


@pytest.fixture
def account(patient):
    patient.email = "bo@example.com"
    patient.user = UserFactory(username="bo@example.com", email="bo@example.com")
    patient.save()
    return patient


def test_login_by_email_in_any_case(client, account):
    page = client.get(reverse("portal:login")).content.decode()
    assert re.search(r'<label\s+for="id_username"[^>]*>\s*E-mail', page)
    response = client.post(reverse("portal:login"), {"username": "Bo@Example.com", "password": PASSWORD},
                           follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert response.context["user"] == account.user


def test_a_wrong_password_says_so_in_the_patients_words(client, account):
    response = client.post(reverse("portal:login"), {"username": "bo@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct e-mail address and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_discharged_patient_cannot_log_in(client, account):
    Patient.objects.filter(pk=account.pk).update(status=Patient.Status.DISCHARGED)
    response = client.post(reverse("portal:login"), {"username": "bo@example.com", "password": PASSWORD})
    assert "Your portal account is closed; please call the clinic" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_patient_discharged_while_logged_in_is_shut_out(client, account):
    client.force_login(account.user)
    Patient.objects.filter(pk=account.pk).update(status=Patient.Status.DISCHARGED)
    assert client.get(reverse("portal:home")).status_code == 404


def test_five_wrong_passwords_lock_the_account_out(client, account):
    for _ in range(4):
        response = client.post(reverse("portal:login"), {"username": "bo@example.com", "password": "nope"})
        assert response.status_code == 200
    locked = client.post(reverse("portal:login"), {"username": "BO@example.com", "password": "nope"})
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.content.decode()
    # Even the right password is refused now.
    again = client.post(reverse("portal:login"), {"username": "bo@example.com", "password": PASSWORD})
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_the_cool_off(client, account):
    start = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            client.post(reverse("portal:login"), {"username": "bo@example.com", "password": "nope"})
        assert client.post(reverse("portal:login"),
                           {"username": "bo@example.com", "password": PASSWORD}).status_code == 429
    with time_machine.travel(start + datetime.timedelta(hours=1, minutes=1), tick=False):
        response = client.post(reverse("portal:login"), {"username": "bo@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_the_lockout_is_per_account_and_covers_the_staff_login(client, account):
    for _ in range(5):
        client.post(reverse("login"), {"username": "frontdesk", "password": "nope"})
    staff_user(username="frontdesk")
    assert client.post(reverse("login"), {"username": "frontdesk", "password": PASSWORD}).status_code == 429
    response = client.post(reverse("portal:login"), {"username": "bo@example.com", "password": PASSWORD})
    assert response.status_code == 302


def test_password_reset_by_email(client, account, reset_mail_worker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the worker sends the e-mail
        response = client.post(reverse("portal:password-reset"), {"email": "bo@example.com"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:password-reset-sent")
    assert len(mail.outbox) == 1
    link = path_of(link_in(mail.outbox[0]))
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    client.logout()
    assert client.post(reverse("portal:login"), {"username": "bo@example.com", "password": NEW_PASSWORD}
                       ).status_code == 302
    assert client.get(link, follow=True).status_code == 404


def test_password_reset_sends_nothing_to_a_staff_account(client, db, reset_mail_worker,
                                                         django_capture_on_commit_callbacks):
    staff_user(username="frontdesk", email="desk@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:password-reset"), {"email": "desk@example.com"})
    assert mail.outbox == [] and reset_mail_worker == []


def test_logout_returns_to_the_portal_login(client, account):
    client.force_login(account.user)
    response = client.post(reverse("portal:logout"))
    assert response["Location"] == reverse("portal:login")
    assert "_auth_user_id" not in client.session


def test_staff_login_still_works_with_the_throttle(client, front_desk):
    response = client.post(reverse("login"), {"username": "frontdesk", "password": PASSWORD})
    assert response.status_code == 302
