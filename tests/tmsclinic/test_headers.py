"""Response headers: no-store for signed-in users, the Content-Security-Policy, /healthz's
details only for staff or a token, and the deploy settings (proxy header, check --deploy)."""

import re
import secrets
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import PatientFactory, UserFactory, staff_user
from tests.tmsclinic.test_settings import run

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy_of(response):
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";"))}


def cache_control(response):
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.fixture
def portal_user(clinic):
    patient = PatientFactory(home_clinic=clinic, email="dora@example.org")
    patient.user = UserFactory(username=patient.email)
    patient.save()
    return patient.user


@pytest.mark.parametrize("who", ["staff", "portal", "admin"])
def test_every_response_to_a_signed_in_user_is_no_store_private(client, superuser, portal_user, who):
    user, urls = {
        "staff": (staff_user(username="frontdesk"), ["staff:today", "staff:patients", "staff:attention"]),
        "portal": (portal_user, ["portal:home", "portal:preferences"]),
        "admin": (superuser, ["admin:index", "admin:auth_user_changelist"]),
    }[who]
    client.force_login(user)
    for name in urls:
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert {"no-store", "private"} <= cache_control(response), name
    assert {"no-store", "private"} <= cache_control(client.get(reverse("session-status")))


def test_anonymous_pages_are_not_made_no_store(client, db):
    assert "no-store" not in cache_control(client.get(reverse("portal:password-reset-sent")))


@pytest.mark.parametrize("signed_in", [False, True])
def test_static_files_keep_their_caching(client, settings, db, signed_in):
    # Served by whitenoise ahead of the session, so neither a login nor the CSP touches them.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    if signed_in:
        client.force_login(staff_user(username="frontdesk"))
    response = client.get("/static/css/clinic.css")
    assert response.status_code == 200
    assert "no-store" not in cache_control(response)
    assert "Content-Security-Policy" not in response


def test_the_content_security_policy(client, db):
    client.force_login(staff_user(username="frontdesk"))
    assert policy_of(client.get(reverse("staff:patients"))) == POLICY
    assert policy_of(client.get(reverse("login"))) == POLICY


def test_the_day_view_styles_its_grid_with_a_nonce_that_changes_every_response(client, open_clinic, chair):
    client.force_login(staff_user(username="frontdesk"))
    nonces = []
    for _ in range(2):
        response = client.get(reverse("staff:today"))
        style_src = policy_of(response)["style-src"]
        assert style_src[0] == "'self'" and len(style_src) == 2
        nonce = re.fullmatch(r"'nonce-(.+)'", style_src[1]).group(1)
        assert f'<style nonce="{nonce}">' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_no_template_has_inline_script_event_handlers_or_style_attributes():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        if "emails" in template.relative_to(TEMPLATES).parts:
            continue  # e-mails are not pages the policy governs
        text = re.sub(r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", template.read_text(), flags=re.S)
        offenders += [f"{template}: inline <script>" for _ in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>", text)]
        offenders += [f"{template}: {m.group(0)}" for m in re.finditer(r"\s(on[a-z]+|style)=", text)]
        offenders += [f"{template}: <style> without the nonce" for _ in re.finditer(r"<style(?![^>]*nonce=)", text)]
        offenders += [f"{template}: javascript: URL" for _ in re.finditer(r"javascript:", text)]
    assert offenders == []


def test_healthz_tells_the_world_only_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_tells_a_portal_account_only_ok(client, portal_user):
    client.force_login(portal_user)
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_gives_details_to_staff(client, db):
    client.force_login(staff_user(username="frontdesk"))
    body = client.get("/healthz").json()
    assert {"status", "database", "broker", "worker_last_seen"} == set(body)
    assert body["database"] == "ok"


@pytest.mark.parametrize(("header", "details"), [
    ("Bearer the-monitors-token", True),
    ("bearer the-monitors-token", True),
    ("Bearer the-monitors-toke", False),
    ("Bearer ", False),
    ("Basic the-monitors-token", False),
    ("the-monitors-token", False),
])
def test_healthz_gives_details_to_the_token(client, db, settings, header, details):
    settings.TMS_HEALTHZ_TOKEN = "the-monitors-token"
    body = client.get("/healthz", headers={"Authorization": header}).json()
    assert ("database" in body) is details


def test_without_a_token_set_no_header_gets_details(client, db, settings):
    settings.TMS_HEALTHZ_TOKEN = ""
    assert client.get("/healthz", headers={"Authorization": "Bearer "}).json() == {"status": "ok"}


@pytest.mark.parametrize("host", ["testserver", "10.0.3.7"])  # the site's name, or a node's own address
def test_healthz_says_not_ok_with_503_when_the_database_does_not_answer(client, db, monkeypatch, settings, host):
    from django.db import DatabaseError

    from tmsclinic import health

    class DatabaseDown:
        def cursor(self):
            raise DatabaseError("gone")

    settings.ALLOWED_HOSTS = ["testserver"]
    monkeypatch.setattr(health, "connection", DatabaseDown())
    response = client.get("/healthz", HTTP_HOST=host)
    assert response.status_code == 503
    assert response.json() == {"status": "not ok"}


PROXY_PROBE = ("import django; from django.conf import settings; django.setup(); "
               "print(settings.SECURE_PROXY_SSL_HEADER)")


@pytest.mark.parametrize(("behind_proxy", "header"), [
    (None, "None"), ("false", "None"), ("true", "('HTTP_X_FORWARDED_PROTO', 'https')"),
])
def test_the_forwarded_proto_header_is_trusted_only_behind_a_tls_proxy(behind_proxy, header):
    env = {"DEBUG": "true"} | ({"TMS_BEHIND_TLS_PROXY": behind_proxy} if behind_proxy else {})
    result = run(PROXY_PROBE, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == header


def test_check_deploy_is_clean_behind_a_tls_proxy_with_a_healthz_token(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                 SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="tms.example.org", TMS_VAR_DIR=str(tmp_path),
                 TMS_BEHIND_TLS_PROXY="true", TMS_HEALTHZ_TOKEN=secrets.token_urlsafe(32))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
