"""Clinics in Django admin: the time zone chosen from a list, and a clinic configured with its
chairs, hours and closures on one page."""

import datetime

import pytest

from scheduling.models import Clinic
from tests.admin_pages import admin_url

pytestmark = pytest.mark.usefixtures("_fast_password_hashing", "admin_client")


def clinic_form(time_zone, **inlines):
    data = {"name": "Harbour TMS", "time_zone": time_zone, "address": "", "phone": "",
            "crisis_help": "Call 111, or 999 in an emergency.", "crisis_phone": "111"}
    for prefix in ("chairs", "opening_hours", "closures"):
        rows = inlines.get(prefix, [])
        data |= {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0}
        for n, row in enumerate(rows):
            data |= {f"{prefix}-{n}-{field}": value for field, value in row.items()}
    return data


def test_time_zone_is_chosen_from_a_list(client, db):
    assert '<option value="Europe/London">' in client.get(admin_url(Clinic, "add")).content.decode()


def test_it_refuses_a_time_zone_that_does_not_exist(client, db):
    response = client.post(admin_url(Clinic, "add"), clinic_form("Mars/Olympus_Mons"))
    assert response.status_code == 200
    assert "time_zone" in response.context["adminform"].form.errors
    assert not Clinic.objects.exists()


def test_a_clinic_is_configured_from_nothing_on_one_page(client, db):
    response = client.post(
        admin_url(Clinic, "add"),
        clinic_form(
            "Europe/London",
            chairs=[{"name": "Chair A", "device_model": "MagVenture", "coil": "B65", "active": "on"}],
            opening_hours=[{"weekday": 0, "opens_at": "08:00", "closes_at": "18:00"}],
            closures=[{"starts_on": "2026-12-25", "ends_on": "2026-12-26", "reason": "Christmas"}],
        ),
    )
    assert response.status_code == 302
    clinic = Clinic.objects.get(name="Harbour TMS")
    assert clinic.time_zone == "Europe/London"
    assert [chair.name for chair in clinic.chairs.all()] == ["Chair A"]
    assert str(clinic.opening_hours.get()) == "Monday 08:00–18:00"
    assert clinic.closures.get().ends_on == datetime.date(2026, 12, 26)
