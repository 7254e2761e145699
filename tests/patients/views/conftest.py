"""The staff pages of patients/views.py: the front desk signed in, and three people to find."""

import pytest

from patients.models import Patient
from tests.factories import PatientFactory


@pytest.fixture
def desk_client(client, front_desk):
    client.force_login(front_desk)
    return client


@pytest.fixture
def people(clinic):
    return {
        "ann": PatientFactory(
            mrn="A1001", first_name="Ann", last_name="Smith", home_clinic=clinic, email="ann.smith@mail.test"
        ),
        "bob": PatientFactory(
            mrn="A1002", first_name="Bob", last_name="Annis", home_clinic=clinic, email="bob@mail.test"
        ),
        "cy": PatientFactory(
            mrn="B2001",
            first_name="Cy",
            last_name="Jones",
            home_clinic=clinic,
            email="cyj@elsewhere.test",
            status=Patient.Status.DISCHARGED,
        ),
    }
