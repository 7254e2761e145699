"""Bad input on the patient page's actions never gives a 500: a plan paused until the end of
year 9999 is refused with a plain message, and a clinic name carrying a line break cannot break
the portal invitation's e-mail (legacy data, from before names refused line breaks)."""

import pytest
from django.core import mail
from django.urls import reverse

from patients.models import MaintenancePlan
from scheduling.models import Clinic

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.mark.parametrize("until", ["9999-12-31", "2201-01-01"])
def test_a_pause_out_of_range_is_refused_with_a_message(client, clinician, plan, until):
    client.force_login(clinician)
    response = client.post(reverse("staff:plan-pause", args=[plan.pk]), {"until": until})
    assert response.status_code == 400
    assert response.context["form"].errors["until"] == ["Enter a date between 1900 and 2200."]
    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.ACTIVE and plan.paused_until is None


@pytest.mark.parametrize("name", ["Riverside\r\nBcc: everyone@example.org", "Riverside\nTMS", "Riverside\rTMS"])
def test_a_line_break_in_the_clinic_name_cannot_break_the_invitation(client, front_desk, invited, name,
                                                                     invitation_worker,
                                                                     django_capture_on_commit_callbacks):
    # Written past the forms, as data from before the rule would be.
    Clinic.objects.filter(pk=invited.home_clinic_id).update(name=name)
    client.force_login(front_desk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff:invite", args=[invited.uuid]), follow=True)
    assert response.status_code == 200
    assert "Portal invitation on its way to ann.lee@example.com" in response.content.decode()
    (message,) = mail.outbox
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.subject.startswith("Your patient portal at Riverside")
    assert message.to == ["ann.lee@example.com"] and message.bcc == []


def test_an_address_with_a_line_break_is_refused_with_a_message(client, front_desk, invited):
    type(invited).objects.filter(pk=invited.pk).update(email="ann.lee@example.com\nBcc: everyone@example.org")
    client.force_login(front_desk)
    response = client.post(reverse("staff:invite", args=[invited.uuid]), follow=True)
    assert response.status_code == 200
    assert "The patient&#x27;s e-mail address is not valid" in response.content.decode()
    assert mail.outbox == []
    invited.refresh_from_db()
    assert invited.user is None
