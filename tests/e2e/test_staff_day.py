import datetime

import pytest
from django.utils import timezone

from tests.factories import PASSWORD, AppointmentFactory, ChairFactory, ClinicFactory, staff_user

pytestmark = pytest.mark.browser


def test_a_technician_logs_in_and_sees_todays_chairs(page, transactional_db):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    chair_a = ChairFactory(clinic=clinic, name="Chair A")
    ChairFactory(clinic=clinic, name="Chair B")
    now = timezone.now().replace(second=0, microsecond=0)
    # Safely inside the clinic's today whatever the hour: a minute after now.
    starts_at = now + datetime.timedelta(minutes=1)
    if clinic.local(starts_at).date() != clinic.today():
        starts_at = now - datetime.timedelta(minutes=50)
    appointment = AppointmentFactory(chair=chair_a, starts_at=starts_at, patient__first_name="Ada",
                                     patient__last_name="Lovelace")
    staff_user(role="Technician", username="tech")

    page.goto("/")
    page.get_by_label("Username").fill("tech")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("heading", name="Riverside TMS").wait_for()
    assert page.get_by_test_id("chair-column").all_inner_texts() == ["Chair A", "Chair B"]
    card = page.get_by_test_id("appointment")
    assert card.count() == 1
    assert f"{clinic.local(appointment.starts_at):%H:%M}" in card.inner_text()
    assert "Ada Lovelace" in card.inner_text()
    # The card sits in Chair A's column of the grid.
    chair_a_x = page.get_by_test_id("chair-column").first.bounding_box()["x"]
    assert abs(card.bounding_box()["x"] - chair_a_x) < 5
