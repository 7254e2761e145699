"""Assessments in Django admin: each PHQ-9 question on the form, scored and signed on saving."""

import pytest

from patients.models import Assessment
from tests.admin_pages import admin_url

pytestmark = pytest.mark.usefixtures("_fast_password_hashing", "admin_client")


def test_assessment_form_shows_each_phq9_question(client, db):
    content = client.get(admin_url(Assessment, "add")).content.decode()
    assert "Little interest or pleasure in doing things" in content
    assert "better off dead or of hurting yourself" in content


def test_an_assessment_saved_in_the_admin_is_scored_and_signed(client, patient, superuser):
    items = {f"item_{n}": 2 for n in range(1, 10)} | {"item_9": 0}
    response = client.post(
        admin_url(Assessment, "add"),
        {
            "patient": patient.pk,
            "instrument": "phq9",
            "taken_at_0": "2026-11-25",
            "taken_at_1": "10:00",
            "difficulty": "",
            **items,
        },
    )
    assert response.status_code == 302
    assessment = Assessment.objects.get()
    assert (assessment.total, assessment.band) == (16, Assessment.Band.MODERATELY_SEVERE)
    assert assessment.entered_by == superuser
    assert assessment.source == Assessment.Source.STAFF
