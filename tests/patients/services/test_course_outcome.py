"""course_outcome: a course's response and remission against its baseline PHQ-9."""

import datetime
from zoneinfo import ZoneInfo

import time_machine

from patients.services import course_outcome
from tests.factories import ClinicFactory, PatientFactory, TreatmentCourseFactory
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


def _taken(patient, total, local):
    from tests.factories import AssessmentFactory

    items = {f"item_{n}": min(3, max(0, total - 3 * (n - 1))) for n in range(1, 10)}
    return AssessmentFactory(patient=patient, taken_at=local.astimezone(datetime.UTC), **items)


def test_a_score_on_the_courses_last_evening_in_new_york_belongs_to_the_course(db):
    """20:30 in New York on the last day is 01:30 UTC the next day: the clinic's day counts."""
    new_york = ZoneInfo("America/New_York")
    patient = PatientFactory(home_clinic=ClinicFactory(time_zone="America/New_York"))
    course = TreatmentCourseFactory(patient=patient, start_date=datetime.date(2026, 9, 1),
                                    ended_on=datetime.date(2026, 10, 20))
    history = [_taken(patient, 20, datetime.datetime(2026, 8, 31, 9, tzinfo=new_york)),
               _taken(patient, 4, datetime.datetime(2026, 10, 20, 20, 30, tzinfo=new_york))]
    assert history[1].taken_at.date() == datetime.date(2026, 10, 21)  # a UTC date would leave it out
    outcome = course_outcome(course, history)
    assert outcome["latest"] == history[1] and outcome["remission"] and outcome["response"]


def test_a_score_just_after_midnight_in_london_is_not_the_baseline(db):
    """00:30 in London (summer time) on the day after the start is 23:30 UTC on the start day."""
    london = ZoneInfo("Europe/London")
    patient = PatientFactory(home_clinic=ClinicFactory(time_zone="Europe/London"))
    course = TreatmentCourseFactory(patient=patient, start_date=datetime.date(2026, 9, 1))
    baseline = _taken(patient, 20, datetime.datetime(2026, 9, 1, 9, tzinfo=london))
    after = _taken(patient, 8, datetime.datetime(2026, 9, 2, 0, 30, tzinfo=london))
    with time_machine.travel(datetime.datetime(2026, 9, 10, tzinfo=datetime.UTC), tick=False):
        outcome = course_outcome(course, [baseline, after])
    assert (outcome["baseline"], outcome["latest"], outcome["response"]) == (baseline, after, True)


def test_scores_after_today_do_not_count_yet(db):
    patient = PatientFactory(home_clinic=ClinicFactory(time_zone="America/New_York"))
    course = TreatmentCourseFactory(patient=patient, start_date=datetime.date(2026, 9, 1))
    history = [phq(patient, 20, datetime.date(2026, 8, 30)), phq(patient, 9, datetime.date(2026, 9, 5)),
               phq(patient, 2, datetime.date(2026, 9, 20))]
    with time_machine.travel(datetime.datetime(2026, 9, 10, 16, tzinfo=datetime.UTC), tick=False):
        assert course_outcome(course, history)["latest"] == history[1]
