"""Fixtures shared by the staff, portal and services tests of scheduling."""

import pytest


@pytest.fixture
def invited(patient):
    patient.email = "Ann.Lee@Example.com"
    patient.first_name, patient.last_name = "Ann", "Lee"
    patient.save()
    return patient
