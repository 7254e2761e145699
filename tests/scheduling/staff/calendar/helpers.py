"""Times on the calendar's day and courses with sessions behind them."""

import datetime

from tests.factories import AppointmentFactory, TreatmentCourseFactory

DAY = datetime.date(2026, 12, 2)  # a Wednesday


def at(clinic, hour, minute=0, day=DAY):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


def course_with_sessions(patient, chair, protocol, count, days_back=1, **kwargs):
    course = TreatmentCourseFactory(patient=patient, protocol=protocol, **kwargs)
    for n in range(count):
        AppointmentFactory(patient=patient, chair=chair, course=course, status="completed",
                           starts_at=at(chair.clinic, 9, day=DAY - datetime.timedelta(days=n + days_back)))
    return course
