"""Staff pages' tests: a patient after a completed acute course, and a plan on the "Taper to
monthly" template (files that need another protocol or plan define their own)."""

import datetime

import pytest

from patients.models import PlanTemplate, TreatmentCourse
from scheduling.services import plans
from tests.factories import ProtocolFactory, TreatmentCourseFactory


@pytest.fixture
def protocol(db):
    return ProtocolFactory()


@pytest.fixture
def acute(patient, protocol):
    return TreatmentCourseFactory(patient=patient, protocol=protocol, status=TreatmentCourse.Status.COMPLETED,
                                  start_date=datetime.date(2026, 9, 1), ended_on=datetime.date(2026, 10, 20))


@pytest.fixture
def taper(db):
    return PlanTemplate.objects.get(name="Taper to monthly")


@pytest.fixture
def plan(patient, acute, taper):
    return plans.start_plan(patient=patient, protocol=acute.protocol, template=taper, source_course=acute,
                                started_on=datetime.date(2026, 12, 7))
