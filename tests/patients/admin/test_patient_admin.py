"""Patients in Django admin: found by MRN, listed with their open flags counted."""

import datetime

import pytest

from patients.models import Patient, PatientFlag
from tests import factories
from tests.admin_pages import admin_url

UTC = datetime.UTC
pytestmark = pytest.mark.usefixtures("_fast_password_hashing", "admin_client")


def test_patient_search_by_mrn_finds_the_patient(client, clinic):
    wanted = factories.PatientFactory(mrn="MRN424242", home_clinic=clinic)
    factories.PatientFactory.create_batch(3, home_clinic=clinic)
    response = client.get(admin_url(Patient, "changelist"), {"q": "MRN424242"})
    assert list(response.context["cl"].result_list) == [wanted]


def test_patient_list_counts_open_flags_only(client, patient):
    factories.PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.SAFETY)
    factories.PatientFlagFactory(patient=patient, resolved_at=datetime.datetime(2026, 1, 5, tzinfo=UTC))
    response = client.get(admin_url(Patient, "changelist"))
    assert [p.open_flags for p in response.context["cl"].result_list] == [1]
