"""Staff pages refuse a patient's portal account."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.usefixtures("frozen")


def test_staff_pages_refuse_a_portal_account(client, patient, open_clinic):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="someone"))
    for url in [reverse("staff:today"), reverse("staff:patient", args=[patient.uuid]), reverse("staff:book")]:
        assert client.get(url).status_code == 403
