import pytest
from django.db import IntegrityError, transaction

from patients.models import Assessment
from tests.factories import AssessmentFactory


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"), (27, "severe")],
)
def test_band_edges_follow_kroenke(total, band):
    assert Assessment.band_for(total) == band


def test_saving_stores_total_and_band(patient):
    assessment = AssessmentFactory(patient=patient, item_1=3, item_2=3, item_3=2, item_9=1)
    assessment.refresh_from_db()
    assert assessment.total == 3 + 3 + 2 + 1 + 1 + 1 + 1 + 1 + 1
    assert assessment.band == Assessment.Band.MODERATE
    assert assessment.endorses_self_harm


def test_database_refuses_an_item_above_three(patient):
    with pytest.raises(IntegrityError), transaction.atomic():
        AssessmentFactory(patient=patient, item_4=4)
