"""Automatic logoff on the server: idle limits for staff and portal accounts, the absolute
lifetime of a login, and the session endpoints the page's script uses."""

import datetime

import pytest
import time_machine
from django.contrib.auth import user_logged_out
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, PatientFactory, UserFactory, staff_user
from tests.tmsclinic.test_settings import run

START = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def idle_limits(settings):
    """The limits the settings give when the environment sets none (tests/conftest.py relaxes
    them for every other test); test_the_default_limits checks that these are those."""
    settings.TMS_STAFF_IDLE_MINUTES, settings.TMS_PORTAL_IDLE_MINUTES = 15, 30


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff_client(client, clock, db):
    client.force_login(staff_user(username="frontdesk"))
    return client


@pytest.fixture
def portal_client(client, clock, clinic):
    patient = PatientFactory(home_clinic=clinic, email="dora@example.org")
    patient.user = UserFactory(username=patient.email)
    patient.save()
    client.force_login(patient.user)
    return client


@pytest.fixture
def logout_reasons():
    reasons = []

    def remember(sender, request, user, **kwargs):
        reasons.append(getattr(request, "logout_reason", None))

    user_logged_out.connect(remember, dispatch_uid="test_logoff_reasons")
    yield reasons
    user_logged_out.disconnect(dispatch_uid="test_logoff_reasons")


def signed_in(client):
    return "_auth_user_id" in client.session


PATIENTS = reverse("staff:patients")


def test_staff_idle_for_16_minutes_are_sent_to_login_and_the_session_is_gone(staff_client, clock,
                                                                              logout_reasons):
    assert staff_client.get(PATIENTS).status_code == 200
    clock.shift(16 * MINUTE)
    response = staff_client.get(PATIENTS + "?q=ann")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fstaff%2Fpatients%2F%3Fq%3Dann"
    assert not signed_in(staff_client)
    assert logout_reasons == ["idle"]
    login_page = staff_client.get(response["Location"]).content.decode()
    assert "signed out after 15 minutes without activity" in login_page


def test_staff_active_every_10_minutes_for_an_hour_stay_signed_in(staff_client, clock, logout_reasons):
    for _ in range(6):
        clock.shift(10 * MINUTE)
        assert staff_client.get(PATIENTS).status_code == 200
    assert signed_in(staff_client)
    assert logout_reasons == []


def test_the_staff_limit_is_a_setting(staff_client, clock, settings):
    settings.TMS_STAFF_IDLE_MINUTES = 5
    clock.shift(6 * MINUTE)
    assert staff_client.get(PATIENTS).status_code == 302
    assert not signed_in(staff_client)


@pytest.mark.parametrize(("idle_minutes", "still_in"), [(29, True), (31, False)])
def test_portal_accounts_have_30_minutes(portal_client, clock, idle_minutes, still_in):
    assert portal_client.get(reverse("portal:home")).status_code == 200
    clock.shift(idle_minutes * MINUTE)
    response = portal_client.get(reverse("portal:preferences"))
    assert signed_in(portal_client) is still_in
    if still_in:
        assert response.status_code == 200
    else:
        assert response["Location"] == "/portal/login/?next=%2Fportal%2Fpreferences%2F"


def test_a_login_ends_after_12_hours_however_active(staff_client, clock, logout_reasons):
    for _ in range(12 * 6 - 1):  # a request every 10 minutes up to 11 h 50
        clock.shift(10 * MINUTE)
        assert staff_client.get(PATIENTS).status_code == 200, "signed out early"
    clock.shift(10 * MINUTE + datetime.timedelta(seconds=1))
    response = staff_client.get(PATIENTS)
    assert response.status_code == 302
    assert not signed_in(staff_client)
    assert logout_reasons == ["max_age"]
    assert "a login lasts at most 12 hours" in staff_client.get(response["Location"]).content.decode()


def test_the_session_cookie_ends_when_the_browser_closes(client, db, settings):
    staff_user(username="frontdesk")
    response = client.post(reverse("login"), {"username": "frontdesk", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value
    assert not cookie["max-age"] and not cookie["expires"]  # a browser-session cookie
    assert settings.SESSION_COOKIE_AGE == 12 * 3600


def test_the_status_endpoint_does_not_count_as_activity(staff_client, clock):
    clock.shift(10 * MINUTE)
    answer = staff_client.get(reverse("session-status")).json()
    assert answer == {"signed_in": True, "seconds_left": 5 * 60}
    clock.shift(6 * MINUTE)
    assert staff_client.get(PATIENTS).status_code == 302
    assert not signed_in(staff_client)


def test_the_status_endpoint_answers_after_the_login_has_ended(staff_client, clock, logout_reasons):
    clock.shift(16 * MINUTE)
    response = staff_client.get(reverse("session-status"))
    assert response.status_code == 200
    assert response.json() == {"signed_in": False, "seconds_left": 0}
    assert not signed_in(staff_client)
    assert logout_reasons == ["idle"]


def test_stay_signed_in_counts_as_activity(staff_client, clock):
    clock.shift(10 * MINUTE)
    answer = staff_client.post(reverse("session-keepalive")).json()
    assert answer == {"signed_in": True, "seconds_left": 15 * 60}
    clock.shift(14 * MINUTE)
    assert staff_client.get(PATIENTS).status_code == 200
    clock.shift(16 * MINUTE)
    assert staff_client.get(PATIENTS).status_code == 302


def test_stay_signed_in_needs_the_csrf_token(clock, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user(username="frontdesk"))
    clock.shift(10 * MINUTE)
    assert client.post(reverse("session-keepalive")).status_code == 403
    assert client.get(reverse("session-status")).json()["seconds_left"] == 5 * 60


def test_stay_signed_in_does_not_revive_an_ended_login(staff_client, clock):
    clock.shift(16 * MINUTE)
    assert staff_client.post(reverse("session-keepalive")).json() == {"signed_in": False, "seconds_left": 0}
    assert not signed_in(staff_client)


def test_an_htmx_request_after_the_limit_redirects_the_whole_page(staff_client, clock):
    clock.shift(16 * MINUTE)
    response = staff_client.get(reverse("staff:patient-search"), {"q": "ann"},
                                headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/staff/"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fstaff%2F"
    assert response.content == b""
    assert not signed_in(staff_client)


def test_a_post_after_the_limit_changes_nothing_and_goes_to_login(staff_client, clock, clinic):
    clock.shift(16 * MINUTE)
    response = staff_client.post(reverse("staff:patient-new"), {"first_name": "Eve", "last_name": "Late"})
    assert response["Location"] == "/accounts/login/"
    from patients.models import Patient

    assert not Patient.objects.filter(last_name="Late").exists()


def test_the_page_tells_its_script_how_long_is_left_and_where_to_sign_in(staff_client, clock):
    clock.shift(4 * MINUTE)
    page = staff_client.get(PATIENTS).content.decode()
    assert 'name="tms-logoff" data-seconds-left="900" data-warn-seconds="60"' in page
    assert 'data-status-url="/session/status" data-keepalive-url="/session/keepalive"' in page
    assert 'data-login-url="/accounts/login/"' in page
    assert 'src="/static/js/logoff.js" defer' in page


def test_portal_pages_send_their_script_to_the_portal_login(portal_client):
    assert 'data-login-url="/portal/login/"' in portal_client.get(reverse("portal:home")).content.decode()


def test_anonymous_pages_carry_no_logoff_script(client, db):
    assert "logoff.js" not in client.get(reverse("login")).content.decode()
    assert client.get(reverse("session-status")).json() == {"signed_in": False, "seconds_left": 0}


def test_admin_pages_carry_the_logoff_script_too(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'name="tms-logoff" data-seconds-left="900"' in page
    assert 'src="/static/js/logoff.js" defer' in page


def test_the_default_limits():
    probe = ("import django; from django.conf import settings; django.setup(); print(settings.TMS_STAFF_IDLE_MINUTES, "
             "settings.TMS_PORTAL_IDLE_MINUTES, settings.TMS_LOGOFF_WARNING_SECONDS, settings.SESSION_COOKIE_AGE, "
             "settings.SESSION_EXPIRE_AT_BROWSER_CLOSE)")
    result = run(probe, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["15", "30", "60", str(12 * 3600), "True"]
