"""Appointments in Django admin are found by the patient's MRN."""

import pytest

from scheduling.models import Appointment
from tests import factories
from tests.admin_pages import admin_url

pytestmark = pytest.mark.usefixtures("_fast_password_hashing", "admin_client")


def test_appointment_search_by_patient_mrn_finds_their_appointments(client, chair):
    wanted = factories.AppointmentFactory(chair=chair, patient__mrn="MRN777001")
    factories.AppointmentFactory(chair=factories.ChairFactory(clinic=chair.clinic))
    response = client.get(admin_url(Appointment, "changelist"), {"q": "MRN777001"})
    assert list(response.context["cl"].result_list) == [wanted]
