"""Patients on maintenance plans for the outcome tests, plans started on 1 September 2025."""

import datetime

from patients.models import PatientFlag
from tests.factories import MaintenancePlanFactory, PatientFactory, PatientFlagFactory

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
PLAN_START = datetime.date(2025, 9, 1)  # 457 days before today


def on_plan(clinic, *, lapsed=False, started_on=PLAN_START, **plan_fields):
    patient = PatientFactory(home_clinic=clinic)
    plan = MaintenancePlanFactory(patient=patient, started_on=started_on, **plan_fields)
    if lapsed:
        PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                           resolved_at=NOW - datetime.timedelta(days=200))
    return patient
