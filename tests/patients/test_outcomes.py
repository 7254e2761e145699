"""patients/outcomes.py: the relapse cohort, each patient counted once from their first plan,
and Kaplan-Meier."""

import datetime

import pytest

from patients import outcomes
from patients.models import MaintenancePlan, PatientFlag
from tests.factories import MaintenancePlanFactory, PatientFlagFactory
from tests.patients.cohort import PLAN_START, on_plan

TODAY = datetime.date(2026, 12, 2)
pytestmark = pytest.mark.usefixtures("frozen")


def test_each_patient_counts_once_from_their_first_plan(clinic):
    patient = on_plan(clinic, status=MaintenancePlan.Status.ENDED, ended_on=datetime.date(2025, 12, 1))
    second = MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 1, 5))
    PatientFlagFactory(patient=patient, plan=second, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    assert outcomes.relapse_cohort(clinics=[clinic], started_by=TODAY, today=TODAY) == [outcomes.CohortRow(
        mrn=patient.mrn, clinic="Riverside TMS", started_on=PLAN_START, lapsed=False, relapse_on=None,
        censored_on=datetime.date(2025, 12, 1),
    )]


# --- Kaplan–Meier ------------------------------------------------------------------------------


def test_kaplan_meier_keeps_the_censored_at_risk_until_they_leave():
    steps = outcomes.kaplan_meier([1, 2, 2, 3, 4], [True, True, False, True, False])
    assert steps == [(0, 1.0, 5), (1, 0.8, 5), (2, pytest.approx(0.6), 4), (3, pytest.approx(0.3), 2)]
    assert outcomes.survival_at(steps, 0.5) == 1.0
    assert outcomes.survival_at(steps, 2.5) == pytest.approx(0.6)
    assert outcomes.survival_at(steps, 10) == pytest.approx(0.3)


def test_kaplan_meier_of_nobody_relapsing_stays_at_one():
    assert outcomes.kaplan_meier([5, 9], [False, False]) == [(0, 1.0, 2)]


def test_a_reintroduction_starting_next_week_is_not_a_relapse_yet(clinic):
    from patients.models import TreatmentCourse
    from tests.factories import TreatmentCourseFactory

    patient = on_plan(clinic)
    TreatmentCourseFactory(patient=patient, kind=TreatmentCourse.Kind.REINTRODUCTION,
                           start_date=TODAY + datetime.timedelta(days=7))
    [row] = outcomes.relapse_cohort(clinics=[clinic], started_by=TODAY, today=TODAY)
    assert (row.relapse_on, row.censored_on) == (None, TODAY)
    [row] = outcomes.relapse_cohort(clinics=[clinic], started_by=TODAY, today=TODAY + datetime.timedelta(days=7))
    assert row.relapse_on == TODAY + datetime.timedelta(days=7)
