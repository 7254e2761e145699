"""patients/outcomes.py: the relapse cohort, each patient counted once from their first plan,
and Kaplan-Meier."""

import datetime

import pytest

from patients import outcomes
from patients.models import MaintenancePlan, PatientFlag
from tests.factories import MaintenancePlanFactory, PatientFlagFactory
from tests.patients.cohort import NOW, PLAN_START, on_plan

TODAY = datetime.date(2026, 12, 2)
pytestmark = pytest.mark.usefixtures("frozen")


def test_each_patient_counts_once_from_their_first_plan(clinic):
    patient = on_plan(clinic, status=MaintenancePlan.Status.ENDED, ended_on=datetime.date(2025, 12, 1))
    second = MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 1, 5))
    PatientFlagFactory(patient=patient, plan=second, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    assert outcomes.relapse_cohort(clinics=[clinic], now=NOW) == [outcomes.CohortRow(
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
    [row] = outcomes.relapse_cohort(clinics=[clinic], now=NOW)
    assert (row.relapse_on, row.censored_on) == (None, TODAY)
    [row] = outcomes.relapse_cohort(clinics=[clinic], now=NOW + datetime.timedelta(days=7))
    assert row.relapse_on == TODAY + datetime.timedelta(days=7)


@pytest.mark.parametrize(("zone", "raised_at", "relapse_on"), [
    # 00:30 in London (summer time) on the plan's first day is 23:30 UTC the day before: a relapse
    # on day 0, which a UTC date misses.
    ("Europe/London", datetime.datetime(2025, 8, 31, 23, 30, tzinfo=datetime.UTC), PLAN_START),
    # 21:30 in New York the evening before the plan starts is 01:30 UTC on its first day: before
    # the plan, so no relapse (a UTC date counted it, and followed the patient for -1 days).
    ("America/New_York", datetime.datetime(2025, 9, 1, 1, 30, tzinfo=datetime.UTC), None),
    # 23:30 in New York on the first day is 03:30 UTC the next: a relapse on day 0.
    ("America/New_York", datetime.datetime(2025, 9, 2, 3, 30, tzinfo=datetime.UTC), PLAN_START),
])
def test_worsening_is_dated_on_the_clinics_calendar(db, zone, raised_at, relapse_on):
    from tests.factories import ClinicFactory

    clinic = ClinicFactory(time_zone=zone)
    patient = on_plan(clinic)
    PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.WORSENING_SYMPTOMS, raised_at=raised_at)
    [row] = outcomes.relapse_cohort(clinics=[clinic], now=NOW)
    assert row.relapse_on == relapse_on
    assert row.days >= 0


def test_a_worsening_flag_after_today_does_not_count_yet(clinic):
    patient = on_plan(clinic)
    PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.WORSENING_SYMPTOMS,
                       raised_at=datetime.datetime(2026, 12, 3, 15, tzinfo=datetime.UTC))
    [row] = outcomes.relapse_cohort(clinics=None, now=NOW)
    assert (row.relapse_on, row.censored_on) == (None, TODAY)


def test_every_clinic_is_reckoned_on_its_own_date(db):
    """At 02:00 UTC on 2 December it is still 1 December in New York and already the 2nd in
    London: across all clinics, each patient's "today" is their clinic's."""
    from patients.models import TreatmentCourse
    from tests.factories import ClinicFactory, TreatmentCourseFactory

    now = datetime.datetime(2026, 12, 2, 2, 0, tzinfo=datetime.UTC)
    new_york, london = ClinicFactory(time_zone="America/New_York"), ClinicFactory(time_zone="Europe/London")
    for clinic in (new_york, london):
        patient = on_plan(clinic)
        TreatmentCourseFactory(patient=patient, kind=TreatmentCourse.Kind.REINTRODUCTION, start_date=TODAY)
        on_plan(clinic, started_on=TODAY)  # started "today" on the London calendar only
    rows = {(row.clinic, row.started_on): row for row in outcomes.relapse_cohort(now=now)}
    assert set(rows) == {(new_york.name, PLAN_START), (london.name, PLAN_START), (london.name, TODAY)}
    yesterday = TODAY - datetime.timedelta(days=1)
    new_yorker = rows[new_york.name, PLAN_START]
    assert (new_yorker.relapse_on, new_yorker.censored_on) == (None, yesterday)
    assert rows[london.name, PLAN_START].relapse_on == TODAY
    assert rows[london.name, TODAY].days == 0
