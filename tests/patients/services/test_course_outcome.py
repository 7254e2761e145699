"""course_outcome: a course's response and remission against its baseline PHQ-9."""

import datetime

from patients.services import course_outcome
from tests.factories import PatientFactory, TreatmentCourseFactory
from tests.patients.services.helpers import phq


def test_course_response_and_remission(db):
    patient = PatientFactory()
    course = TreatmentCourseFactory(patient=patient, start_date=datetime.date(2026, 9, 1))
    history = [phq(patient, 20, datetime.date(2026, 8, 30)), phq(patient, 14, datetime.date(2026, 9, 20))]
    outcome = course_outcome(course, history)
    assert (outcome["baseline"].total, outcome["latest"].total) == (20, 14)
    assert not outcome["response"] and not outcome["remission"]
    history.append(phq(patient, 9, datetime.date(2026, 10, 10)))
    assert course_outcome(course, history)["response"] and not course_outcome(course, history)["remission"]
    history.append(phq(patient, 4, datetime.date(2026, 10, 30)))
    assert course_outcome(course, history)["remission"]
