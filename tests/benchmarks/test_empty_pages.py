"""The empty pages benchmarks/bench_pages.py measures every page against (benchmarks/floor_urls.py,
mounted only there): each must do what every page of its kind does, or the ratio to it would flatter
the pages. The staff one asks for a capability, writes an audit event and draws the navigation
with its open-flag count; the portal one lets in only a patient's own account and writes its event."""

import pytest
from django.test import override_settings

from benchmarks.floor_urls import EMPTY_PAGES
from tests.factories import PatientFactory, PatientFlagFactory, UserFactory
from tmsclinic.models import AuditEvent

pytestmark = pytest.mark.usefixtures("mounted")


@pytest.fixture
def mounted():
    with override_settings(ROOT_URLCONF="benchmarks.floor_urls"):
        yield


@pytest.fixture
def portal_patient(clinic):
    patient = PatientFactory(home_clinic=clinic)
    patient.user = UserFactory(username=patient.email)
    patient.save()
    return patient


def test_the_empty_staff_page_asks_for_a_capability_audits_and_counts_the_flags(client, clinician, clinic,
                                                                                portal_patient):
    PatientFlagFactory(patient=portal_patient)
    client.force_login(clinician)
    response = client.get(EMPTY_PAGES["staff"])
    assert response.status_code == 200
    assert AuditEvent.objects.filter(path=EMPTY_PAGES["staff"], username="clinician", status=200).count() == 1
    assert b'data-testid="attention-count">1<' in response.content  # the navigation's count, drawn

    client.force_login(UserFactory(username="norole"))  # signed in, no staff role
    assert client.get(EMPTY_PAGES["staff"]).status_code == 403
    client.force_login(portal_patient.user)
    assert client.get(EMPTY_PAGES["staff"]).status_code == 403


def test_the_empty_portal_page_is_for_a_patients_own_account_and_audits(client, clinician, portal_patient):
    client.force_login(portal_patient.user)
    response = client.get(EMPTY_PAGES["portal"])
    assert response.status_code == 200
    assert AuditEvent.objects.filter(path=EMPTY_PAGES["portal"], patient=portal_patient).count() == 1

    client.force_login(clinician)
    assert client.get(EMPTY_PAGES["portal"]).status_code == 404
    client.logout()
    assert client.get(EMPTY_PAGES["portal"]).status_code == 302  # to the portal's sign-in
