"""Patients on plans and overdue flags for the worklist's tests, on Wednesday 2 December 2026."""

import datetime

from django.contrib.messages import get_messages
from django.urls import reverse

from patients.models import PatientFlag
from scheduling.services.plans import refresh_plan
from tests.factories import MaintenancePhaseFactory, MaintenancePlanFactory, PatientFactory, PatientFlagFactory

UTC = datetime.UTC
TODAY = datetime.date(2026, 12, 2)  # a Wednesday
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
SAFETY = PatientFlag.Kind.SAFETY
OVERDUE = PatientFlag.Kind.OVERDUE_MAINTENANCE
MISSED = PatientFlag.Kind.MISSED_APPOINTMENTS
WORSENING = PatientFlag.Kind.WORSENING_SYMPTOMS
WORKLIST = reverse("staff:attention")


def on_plan(patient, protocol, *, due_days_ago, interval_days=28):
    """An active plan with no visit yet, first due ``due_days_ago`` days before today."""
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol,
                                  started_on=TODAY - datetime.timedelta(days=due_days_ago), grace_days=7)
    MaintenancePhaseFactory(plan=plan, interval_days=interval_days, visits=None)
    return refresh_plan(plan)


def overdue_patient(clinic, protocol, days, **patient_fields):
    patient = PatientFactory(home_clinic=clinic, **patient_fields)
    plan = on_plan(patient, protocol, due_days_ago=days)
    return PatientFlagFactory(patient=patient, kind=OVERDUE, plan=plan, due_on=plan.next_due_on)


def rows(response):
    return [flag.pk for flag in response.context["page"]]


def messages_of(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def at(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)
