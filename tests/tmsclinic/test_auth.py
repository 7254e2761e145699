"""The login throttle (tmsclinic/auth.py): a username from one address is locked after
AXES_FAILURE_LIMIT wrong passwords, and an address trying many usernames (password spraying) after
AXES_IP_FAILURE_LIMIT, whatever the usernames; other addresses are not affected."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, staff_user

SPRAYER = "203.0.113.50"
ELSEWHERE = "198.51.100.20"


def log_in(client, username, password, address):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def spray(client, count, address=SPRAYER):
    """One wrong password each for ``count`` different usernames, none locked on its own."""
    for n in range(count):
        assert log_in(client, f"guess{n}", "Winter2026!", address).status_code == 200


@pytest.fixture
def frontdesk(db):
    return staff_user(username="frontdesk")


def test_an_address_spraying_many_usernames_is_locked_out(client, frontdesk, settings):
    assert settings.AXES_IP_FAILURE_LIMIT == 30 and settings.AXES_FAILURE_LIMIT == 5
    spray(client, 29)
    assert log_in(client, "guess29", "Winter2026!", SPRAYER).status_code == 429  # the 30th locks the address
    # Even the right password of a real account is refused from there now...
    response = log_in(client, "frontdesk", PASSWORD, SPRAYER)
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    assert "Too many failed attempts" in response.content.decode()
    # ...and the staff member logs in from anywhere else.
    assert log_in(client, "frontdesk", PASSWORD, ELSEWHERE).status_code == 302


def test_below_the_address_limit_logins_from_there_work(client, frontdesk):
    spray(client, 29)
    assert log_in(client, "frontdesk", PASSWORD, SPRAYER).status_code == 302


def test_a_successful_login_does_not_clear_the_addresss_count(client, frontdesk, settings):
    # An attacker with an account of their own cannot reset the count between rounds by logging in.
    settings.AXES_IP_FAILURE_LIMIT = 6
    staff_user(username="insider")
    spray(client, 5)
    assert log_in(client, "insider", PASSWORD, SPRAYER).status_code == 302
    client.post(reverse("logout"))
    assert log_in(client, "guess5", "Winter2026!", SPRAYER).status_code == 429
    assert log_in(client, "frontdesk", PASSWORD, SPRAYER).status_code == 429


def test_one_username_is_still_locked_after_five_wrong_passwords(client, frontdesk):
    for _ in range(5):
        log_in(client, "frontdesk", "not-my-password", SPRAYER)
    assert log_in(client, "frontdesk", PASSWORD, SPRAYER).status_code == 429
    assert log_in(client, "frontdesk", PASSWORD, ELSEWHERE).status_code == 302


def test_the_portal_login_counts_against_the_address_too(client, frontdesk, settings):
    settings.AXES_IP_FAILURE_LIMIT = 3
    answers = [client.post(reverse("portal:login"), {"username": f"p{n}@example.org", "password": "Winter2026!"},
                           REMOTE_ADDR=SPRAYER).status_code for n in range(3)]
    assert answers == [200, 200, 429]
    assert log_in(client, "frontdesk", PASSWORD, SPRAYER).status_code == 429
