"""The second-factor pages: set up an app from a QR code or its key, recovery codes shown once
and renewable, removal with a current code, and a superuser's audited reset of someone else's."""

import datetime
import re

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, staff_user
from tmsclinic import roles

from .conftest import app_for, key_of_secret, log_in_with_password, mfa_events, recovery_codes_for, totp

T0 = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def shown_codes(html):
    return re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", html)


def set_up_an_app(client):
    """Walk the set-up page as a person does: read the key off the page, type the app's code."""
    page = client.get(reverse("two-factor-setup")).content.decode()
    secret = re.search(r'data-testid="secret">([A-Z2-7 ]+)<', page).group(1)
    response = client.post(reverse("two-factor-setup"), {"code": totp(key_of_secret(secret)), "next": "/staff/"})
    return key_of_secret(secret), response


@pytest.mark.usefixtures("mfa_required")
def test_setting_up_an_app_opens_the_staff_pages_and_shows_ten_recovery_codes_once(client, db):
    staff_user(username="frontdesk")
    log_in_with_password(client, "frontdesk")
    page = client.get(reverse("two-factor-setup")).content.decode()
    svg = re.search(r"<svg [^>]*>.*?</svg>", page, re.S).group(0)
    assert 'role="img"' in svg and "<script" not in svg.lower() and "on" + "load" not in svg.lower()
    assert client.get(reverse("two-factor-setup")).content.decode().count(
        re.search(r'data-testid="secret">([A-Z2-7 ]+)<', page).group(1)) == 1  # a reload shows the same key

    key, response = set_up_an_app(client)
    codes = shown_codes(response.content.decode())
    assert len(codes) == len(set(codes)) == 10
    assert TOTPDevice.objects.get(user__username="frontdesk").confirmed
    assert StaticToken.objects.filter(device__user__username="frontdesk").count() == 10
    assert client.get(reverse("staff:today")).status_code == 200
    assert mfa_events() == [("frontdesk", "set up an authenticator app and recovery codes")]
    assert shown_codes(client.get(reverse("two-factor")).content.decode()) == []  # never again

    client.post(reverse("logout"))
    log_in_with_password(client, "frontdesk")
    assert client.post(reverse("login-code"), {"code": codes[3]})["Location"] == reverse("home")


def test_a_wrong_code_does_not_set_up_the_app(client, db):
    client.force_login(staff_user(username="frontdesk"))
    client.get(reverse("two-factor-setup"))
    response = client.post(reverse("two-factor-setup"), {"code": "12345"})
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    assert not StaticDevice.objects.exists()
    assert mfa_events() == [("frontdesk", "wrong authenticator code while setting up an app")]


def test_a_second_app_is_not_set_up_over_the_first(client, db):
    user = staff_user(username="frontdesk")
    app_for(user)
    client.force_login(user)
    client.get(reverse("staff:today"))  # asked for the code
    # The set-up page, like every page of the account's second factor, asks for the code first.
    assert client.get(reverse("two-factor-setup"))["Location"].startswith(reverse("login-code"))


def test_new_recovery_codes_replace_the_old(client, db, _frozen):
    client.force_login(staff_user(username="frontdesk"))
    _, first = set_up_an_app(client)
    old = shown_codes(first.content.decode())
    response = client.post(reverse("two-factor-recovery-codes"))
    new = shown_codes(response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert mfa_events()[-1] == ("frontdesk", "generated new recovery codes (the old ones no longer work)")

    client.post(reverse("logout"))
    log_in_with_password(client, "frontdesk")
    assert "That code is not right" in client.post(reverse("login-code"), {"code": old[0]}).content.decode()
    _frozen.shift(datetime.timedelta(seconds=5))  # past the throttle of that wrong code
    assert client.post(reverse("login-code"), {"code": new[0]})["Location"] == reverse("home")


def test_removing_the_app_needs_a_current_code(client, db, _frozen):
    client.force_login(staff_user(username="frontdesk"))
    key, _ = set_up_an_app(client)
    _frozen.shift(datetime.timedelta(seconds=30))  # the next code: each one works once
    response = client.post(reverse("two-factor-remove"), {"code": "000000" if totp(key) != "000000" else "111111"})
    assert response.status_code == 400 and "That code is not right" in response.content.decode()
    assert TOTPDevice.objects.exists()

    _frozen.shift(datetime.timedelta(seconds=5))
    response = client.post(reverse("two-factor-remove"), {"code": totp(key)}, follow=True)
    assert "are removed" in response.content.decode()
    assert not TOTPDevice.objects.exists() and not StaticDevice.objects.exists()
    assert mfa_events()[-1] == ("frontdesk", "removed their authenticator app and recovery codes")
    assert client.get(reverse("staff:today")).status_code == 200  # not required here: password only


@pytest.fixture
def lost_phone(db):
    user = staff_user(username="tech", role=roles.TECHNICIAN)
    app_for(user)
    recovery_codes_for(user, "abcdefgh")
    return user


def test_a_superuser_resets_someone_elses_second_factor_and_it_is_recorded(client, lost_phone):
    client.force_login(User.objects.create_superuser("root", "root@clinic.test", PASSWORD))
    page = client.get(reverse("two-factor-reset")).content.decode()
    assert ">tech<" in page or ">tech (" in page
    response = client.post(reverse("two-factor-reset"), {"account": lost_phone.pk}, follow=True)
    assert "The second factor of tech is removed" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=lost_phone).exists()
    assert not StaticDevice.objects.filter(user=lost_phone).exists()
    assert mfa_events() == [("root", "reset the second factor of tech (2 devices removed)")]

    client.post(reverse("logout"))
    assert log_in_with_password(client, "tech")["Location"] == reverse("home")  # the password again


@pytest.mark.parametrize("role", roles.STAFF_ROLES)
def test_no_one_else_can_reset_someone_elses(client, lost_phone, role):
    client.force_login(staff_user(username="other", role=role, is_staff=True))
    assert client.get(reverse("two-factor-reset")).status_code == 403
    assert client.post(reverse("two-factor-reset"), {"account": lost_phone.pk}).status_code == 403
    assert TOTPDevice.objects.filter(user=lost_phone).exists()
    assert mfa_events() == []


def test_a_superuser_who_has_not_passed_their_own_gives_it_before_resetting(client, lost_phone):
    root = User.objects.create_superuser("root", "root@clinic.test", PASSWORD)
    app_for(root)
    client.force_login(root)
    response = client.post(reverse("two-factor-reset"), {"account": lost_phone.pk})
    assert response["Location"].startswith(reverse("login-code"))
    assert TOTPDevice.objects.filter(user=lost_phone).exists()


def test_the_pages_need_a_login(client, db):
    for name in ("two-factor", "two-factor-setup", "two-factor-reset"):
        assert client.get(reverse(name))["Location"].startswith(reverse("login"))
