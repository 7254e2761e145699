"""The staff login in two steps: an account with a second factor is not logged in by its password
alone; the code of its authenticator app (or a recovery code, once) completes the login."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import staff_user
from tmsclinic.models import AuditEvent

from .conftest import log_in_with_password, mfa_events, recovery_codes_for, totp

T0 = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(T0, tick=False):
        yield


def logged_in(client):
    return "_auth_user_id" in client.session


def test_the_password_alone_does_not_log_in_an_account_with_an_app(client, clinician_with_app):
    response = log_in_with_password(client, "clinician")
    assert response.status_code == 302 and response["Location"] == reverse("login-code")
    assert not logged_in(client)
    assert client.get(reverse("staff:today"))["Location"].startswith(reverse("login"))


def test_the_apps_code_completes_the_login(client, clinician_with_app):
    user, key = clinician_with_app
    log_in_with_password(client, "clinician")
    response = client.post(reverse("login-code"), {"code": totp(key)})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("staff:today")).status_code == 200
    assert AuditEvent.objects.filter(action="login", username="clinician").count() == 1


def test_the_page_asked_for_is_opened_after_the_code(client, clinician_with_app):
    _, key = clinician_with_app
    log_in_with_password(client, "clinician", next_url=reverse("staff:patients"))
    response = client.post(reverse("login-code"), {"code": totp(key)})
    assert response["Location"] == reverse("staff:patients")


def test_a_wrong_code_is_refused_and_recorded(client, clinician_with_app):
    _, key = clinician_with_app
    log_in_with_password(client, "clinician")
    wrong = f"{(int(totp(key)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("login-code"), {"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not logged_in(client)
    assert mfa_events() == [("clinician", "wrong authenticator code")]
    assert TOTPDevice.objects.get().throttling_failure_count == 1


def test_wrong_codes_are_throttled_by_the_device(client, clinician_with_app):
    _, key = clinician_with_app
    log_in_with_password(client, "clinician")
    client.post(reverse("login-code"), {"code": "000000" if totp(key) != "000000" else "111111"})
    # One second must pass after one wrong code: meanwhile even the right one is not checked.
    response = client.post(reverse("login-code"), {"code": totp(key)})
    assert "Too many wrong codes" in response.content.decode()
    assert not logged_in(client)
    assert mfa_events()[-1] == ("clinician", "authenticator code not checked: 1 wrong codes in a row")
    with time_machine.travel(T0 + datetime.timedelta(seconds=2), tick=False):
        response = client.post(reverse("login-code"), {"code": totp(key)})
    assert response.status_code == 302 and logged_in(client)


def test_a_recovery_code_logs_in_once(client, clinician_with_app):
    user, _ = clinician_with_app
    recovery_codes_for(user, "abcdefgh", "ijklmnop")
    log_in_with_password(client, "clinician")
    response = client.post(reverse("login-code"), {"code": "ABCD-EFGH"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("staff:today")
    assert "You used a recovery code: 1 left" in response.content.decode()

    client.post(reverse("logout"))
    log_in_with_password(client, "clinician")
    response = client.post(reverse("login-code"), {"code": "abcd-efgh"})
    assert "That code is not right" in response.content.decode()
    assert not logged_in(client)
    assert mfa_events() == [("clinician", "wrong recovery code")]


def test_the_code_must_come_within_five_minutes(client, clinician_with_app):
    _, key = clinician_with_app
    log_in_with_password(client, "clinician")
    with time_machine.travel(T0 + datetime.timedelta(minutes=6), tick=False):
        response = client.post(reverse("login-code"), {"code": totp(key)}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "within 5 minutes" in response.content.decode()
    assert not logged_in(client)


def test_the_code_page_without_a_password_first_sends_to_the_login(client, clinician_with_app):
    _, key = clinician_with_app
    response = client.post(reverse("login-code"), {"code": totp(key)})
    assert response["Location"] == reverse("login")
    assert not logged_in(client)


def test_a_wrong_password_never_reaches_the_code_page(client, clinician_with_app):
    response = client.post(reverse("login"), {"username": "clinician", "password": "not-the-password"})
    assert response.status_code == 200
    assert client.get(reverse("login-code"))["Location"] == reverse("login")


def test_an_account_without_a_second_factor_logs_in_with_its_password_when_none_is_required(client, db):
    staff_user(username="frontdesk")
    response = log_in_with_password(client, "frontdesk")
    assert response["Location"] == reverse("home") and logged_in(client)
