import datetime

import pytest
import time_machine
from django.urls import reverse

from tests.factories import PASSWORD, AppointmentFactory, ChairFactory, UserFactory, staff_user
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, TECHNICIAN


def test_anonymous_user_is_sent_to_login(client, db):
    response = client.get(reverse("staff:today"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_logs_in_and_lands_on_the_staff_home(client, front_desk):
    response = client.post(reverse("login"), {"username": "frontdesk", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("staff:today")
    assert response.context["user"] == front_desk


def test_wrong_password_is_refused_with_a_message(client, front_desk):
    response = client.post(reverse("login"), {"username": "frontdesk", "password": "nope"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_logs_out(client, front_desk):
    client.force_login(front_desk)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("staff:today")).status_code == 302


@pytest.mark.parametrize("role", [FRONT_DESK, TECHNICIAN, CLINICIAN])
def test_every_role_that_sees_patients_opens_the_staff_home(client, role, db):
    client.force_login(staff_user(role=role, username=f"u-{role}"))
    assert client.get(reverse("staff:today")).status_code == 200
    assert client.get(reverse("home"))["Location"] == reverse("staff:today")


def test_the_clinic_admin_is_sent_to_admin_and_opens_no_staff_page(client, db):
    user = staff_user(role=CLINIC_ADMIN, username="boss")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    assert client.get(reverse("home"))["Location"] == reverse("admin:index")
    assert client.get(reverse("staff:today")).status_code == 403


def test_an_account_without_a_staff_role_is_refused(client, db):
    client.force_login(UserFactory(username="portal-patient"))
    response = client.get(reverse("staff:today"))
    assert response.status_code == 403
    assert "for clinic staff" in response.content.decode()
    assert client.get(reverse("home")).status_code == 403


def test_healthz_reports_database_and_broker_to_staff(client, front_desk):
    client.force_login(front_desk)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] in {"ok", "unreachable"}


def test_healthz_stays_up_when_the_broker_is_unreachable(client, db, settings):
    from tmsclinic.celery import app

    settings.TMS_HEALTHZ_TOKEN = "monitor-token"
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz", headers={"Authorization": "Bearer monitor-token"})
    finally:
        app.conf.broker_url = settings.CELERY_BROKER_URL
    assert response.status_code == 200
    assert response.json() == {**response.json(), "database": "ok", "broker": "unreachable"}


def test_a_balancer_probing_a_node_by_its_address_gets_the_bare_answer(client, db, settings):
    """A Host outside ALLOWED_HOSTS (the node's private address): /healthz still answers, only
    "ok" — not the details, even with the monitor's token — and nothing else is served to it."""
    settings.ALLOWED_HOSTS = ["clinic.example.org"]
    settings.TMS_HEALTHZ_TOKEN = "monitor-token"
    response = client.get("/healthz", HTTP_HOST="10.0.3.7:8000", headers={"Authorization": "Bearer monitor-token"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert client.head("/healthz", HTTP_HOST="10.0.3.7").status_code == 400  # GET only, as /healthz itself
    assert client.post("/healthz", HTTP_HOST="10.0.3.7").status_code == 400
    assert client.get("/session/status", HTTP_HOST="10.0.3.7").status_code == 400
    assert client.get("/healthz/", HTTP_HOST="10.0.3.7").status_code == 400
    # With the site's own name, the details for the token as before.
    detailed = client.get("/healthz", HTTP_HOST="clinic.example.org", headers={"Authorization": "Bearer monitor-token"})
    assert detailed.json()["database"] == "ok"


@time_machine.travel(datetime.datetime(2026, 11, 25, 3, 30, tzinfo=datetime.UTC), tick=False)
def test_staff_home_shows_todays_chairs_in_the_clinics_own_time(client, technician, clinic):
    # 03:30 UTC on the 25th is still the 24th, 22:30, in New York.
    chair_1 = ChairFactory(clinic=clinic, name="Chair A")
    ChairFactory(clinic=clinic, name="Chair B")
    ChairFactory(clinic=clinic, name="Broken chair", active=False)
    AppointmentFactory(chair=chair_1, starts_at=datetime.datetime(2026, 11, 24, 14, 0, tzinfo=datetime.UTC))
    AppointmentFactory(chair=chair_1, starts_at=datetime.datetime(2026, 11, 25, 15, 0, tzinfo=datetime.UTC))
    client.force_login(technician)
    page = client.get(reverse("staff:today")).content.decode()
    assert "Tuesday 24 November 2026" in page
    assert "Chair A" in page and "Chair B" in page
    assert "Broken chair" not in page
    assert "09:00–09:45" in page  # 14:00 UTC on the 24th
    assert "10:00" not in page  # the 25th's appointment is tomorrow there
