"""Fixtures of the browser tests."""

import pytest

from tests import factories


@pytest.fixture
def world(transactional_db):
    """An open clinic and a patient with one of every record a staff or portal URL can name."""
    clinic = factories.ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    for weekday in range(7):
        factories.OpeningHoursFactory(clinic=clinic, weekday=weekday)
    patient = factories.PatientFactory(home_clinic=clinic, first_name="Ada", last_name="Lovelace")
    return {"clinic": clinic, "patient": patient, "by_segment": factories.one_of_everything(patient)}



# A phone's screen, as the portal's patients mostly see it.
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, live_server):
    """A page in a phone-sized, touch browser context on the live server."""
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
