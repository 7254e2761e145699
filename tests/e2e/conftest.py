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

