"""SecondFactorMiddleware: with the second factor required, a staff or admin account opens no
/staff/ or /admin/ page until it has set one up and passed it; portal accounts are never asked;
the demo (DEBUG on) lets password-only logins in."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory, admin_user, staff_user
from tmsclinic import roles

from .conftest import app_for, log_in_with_password, totp

ROOT = Path(__file__).resolve().parents[3]


def setup_url(next_url):
    return f"{reverse('two-factor-setup')}?next={next_url.replace('/', '%2F')}"


def code_url(next_url):
    return f"{reverse('login-code')}?next={next_url.replace('/', '%2F')}"


@pytest.mark.usefixtures("mfa_required")
def test_a_required_account_without_one_is_sent_to_set_it_up_after_its_password(client, db):
    staff_user(username="frontdesk")
    response = log_in_with_password(client, "frontdesk")
    assert response["Location"] == setup_url("/")
    for url in (reverse("staff:today"), reverse("staff:patients"), reverse("staff:attention")):
        assert client.get(url)["Location"] == setup_url(url)
    assert client.post(reverse("staff:patients"))["Location"] == reverse("two-factor-setup")
    assert client.get(reverse("two-factor-setup")).status_code == 200


@pytest.mark.usefixtures("mfa_required")
def test_admin_pages_too(client, db):
    client.force_login(admin_user("clinicadmin", roles.CLINIC_ADMIN))
    assert client.get("/admin/")["Location"] == setup_url("/admin/")
    assert client.get("/admin/auth/user/")["Location"] == setup_url("/admin/auth/user/")


@pytest.mark.usefixtures("mfa_required")
def test_an_htmx_request_sends_the_whole_page(client, db):
    client.force_login(staff_user(username="frontdesk"))
    response = client.get(reverse("staff:patient-search"), headers={"HX-Request": "true",
                                                                     "HX-Current-URL": "http://testserver/staff/"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == setup_url("/staff/")


@pytest.mark.usefixtures("mfa_required")
def test_a_superuser_is_always_asked_whatever_the_roles(client, db, settings):
    settings.TMS_MFA_ROLES = []
    client.force_login(User.objects.create_superuser("root", "root@clinic.test", PASSWORD))
    assert client.get("/admin/")["Location"] == setup_url("/admin/")


@pytest.mark.usefixtures("mfa_required")
def test_only_the_roles_listed_must_have_one(client, db, settings):
    settings.TMS_MFA_ROLES = [roles.CLINICIAN]
    client.force_login(staff_user(username="frontdesk", role=roles.FRONT_DESK))
    assert client.get(reverse("staff:today")).status_code == 200
    client.force_login(staff_user(username="clinician", role=roles.CLINICIAN))
    assert client.get(reverse("staff:today"))["Location"] == setup_url("/staff/")


@pytest.mark.usefixtures("mfa_required")
def test_a_login_that_has_not_passed_its_second_factor_gives_its_code_first(client, db):
    # A login that skipped the two-step page (one made before the account set up its app, or
    # through another login form): its staff and admin pages ask for the code first.
    user = admin_user("clinicadmin", roles.CLINIC_ADMIN)
    key = app_for(user)
    client.force_login(user)
    assert client.get("/admin/")["Location"] == code_url("/admin/")
    response = client.post(code_url("/admin/"), {"code": totp(key)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_account_with_a_second_factor_is_asked_for_it_even_when_none_is_required(client, db):
    user = staff_user(username="clinician", role=roles.CLINICIAN)
    app_for(user)
    client.force_login(user)
    assert client.get(reverse("staff:today"))["Location"] == code_url("/staff/")


@pytest.mark.usefixtures("mfa_required")
def test_portal_patients_are_never_asked(client, patient):
    patient.user = UserFactory(username="ann@example.org")
    patient.save()
    response = log_in_with_password(client, "ann@example.org")
    assert response["Location"] == reverse("home")
    client.force_login(patient.user)
    assert client.get(reverse("portal:home")).status_code == 200
    assert client.get(reverse("two-factor")).status_code == 404


def test_the_demo_lets_a_password_in_and_offers_the_second_factor(client, db, settings):
    settings.DEBUG = True
    settings.TMS_MFA_REQUIRED = False  # what DEBUG=true gives (test_the_default_follows_debug)
    staff_user(username="frontdesk")
    response = client.post(reverse("login"), {"username": "frontdesk", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("staff:today")
    assert f'href="{reverse("two-factor")}"' in response.content.decode()


def test_admin_login_is_the_staff_login(client, db):
    response = client.get("/admin/login/?next=/admin/auth/user/")
    assert response["Location"] == f"{reverse('login')}?next=%2Fadmin%2Fauth%2Fuser%2F"
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def settings_of(**env):
    """TMS_MFA_REQUIRED and TMS_MFA_ROLES as a fresh interpreter reads them from ``env`` (and
    nothing else of the suite's environment about the second factor)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("TMS_MFA_", "DEBUG"))}
    code = ("import json, django; from django.conf import settings; django.setup(); "
            "print(json.dumps([settings.TMS_MFA_REQUIRED, settings.TMS_MFA_ROLES]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**base, "DJANGO_SETTINGS_MODULE": "tmsclinic.settings", "SECRET_KEY": "x" * 50, **env})
    return result


@pytest.mark.parametrize(("debug", "required"), [("false", True), ("true", False)])
def test_the_default_follows_debug(debug, required):
    result = settings_of(DEBUG=debug)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [required, list(roles.STAFF_ROLES)]


def test_an_unknown_role_in_the_setting_stops_the_start():
    result = settings_of(DEBUG="false", TMS_MFA_ROLES="Clinician,Janitor")
    assert result.returncode != 0
    assert "TMS_MFA_ROLES names unknown roles ['Janitor']" in result.stderr
