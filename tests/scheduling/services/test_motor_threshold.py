"""The motor threshold (issue 12): measured at the mapping visit and a course's first session,
re-checked every TMS_MT_RECHECK_EVERY sessions (or TMS_MT_RECHECK_DAYS days), after a recorded
medication change and when a clinician asks; a session that needs it cannot complete with the
MT blank; a session that does not records the last measured MT as carried, never as measured;
implausible values are refused."""

import datetime

import pytest
import time_machine

from patients.models import MotorThresholdRecheck
from scheduling.models import Appointment, SessionRecord
from scheduling.services import AppointmentStateError, complete_appointment, motor_threshold
from tests.factories import AppointmentFactory, ProtocolFactory, TreatmentCourseFactory

UTC = datetime.UTC
FIRST = datetime.date(2026, 11, 2)  # a Monday


@pytest.fixture
def course(patient):
    return TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45), start_date=FIRST,
                                  motor_threshold=None)


def session(course, chair, day, kind=Appointment.Kind.ACUTE):
    starts_at = datetime.datetime.combine(day, datetime.time(10), tzinfo=chair.clinic.tz)
    return AppointmentFactory(patient=course.patient, chair=chair, course=course, kind=kind, starts_at=starts_at,
                              status=Appointment.Status.CHECKED_IN)


def reasons(appointment):
    annotated = motor_threshold.with_mt_status(Appointment.objects.filter(pk=appointment.pk))
    return motor_threshold.recheck_reasons(annotated.select_related("clinic", "course").get())


def complete(appointment, by, mt=None, **record):
    with time_machine.travel(appointment.starts_at + datetime.timedelta(minutes=20), tick=False):
        return complete_appointment(appointment, by=by, pulses_delivered=3000, intensity_percent_mt=120,
                                    motor_threshold=mt, **record)


def test_a_whole_course_measures_at_mapping_then_every_fifth_session_and_carries_between(course, chair, technician):
    """Mapping measures 55; sessions 1-5 carry it; session 6 (5 since) must measure, 57; 7-10
    carry 57; session 11 must measure again. Expected from the rule written out, not the code."""
    mapping = session(course, chair, FIRST, kind=Appointment.Kind.MAPPING)
    assert reasons(mapping) == ["this is the mapping visit"]
    complete(mapping, technician, mt=55)
    due_at, measured_values = [], {6: 57, 11: 56}
    for number in range(1, 12):
        appointment = session(course, chair, FIRST + datetime.timedelta(days=number))
        why = reasons(appointment)
        if why:
            due_at.append(number)
            with pytest.raises(AppointmentStateError, match="Measure the motor threshold at this session: 5 sessions"):
                complete(appointment, technician)
        complete(appointment, technician, mt=measured_values.get(number))
    assert due_at == [6, 11]
    records = SessionRecord.objects.filter(appointment__course=course).order_by("appointment__starts_at")
    expected = [(55, True)] + [(55, False)] * 5 + [(57, True)] + [(57, False)] * 4 + [(56, True)]
    assert [(r.motor_threshold, r.mt_measured) for r in records] == expected


def test_a_blank_mt_where_one_is_due_is_refused_and_nothing_is_written(course, chair, technician):
    appointment = session(course, chair, FIRST)  # the course's first session: nothing measured yet
    with pytest.raises(AppointmentStateError) as refusal:
        complete(appointment, technician)
    assert refusal.value.message == ("Measure the motor threshold at this session: "
                                     "no motor threshold has been measured yet.")
    assert Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.CHECKED_IN
    assert not SessionRecord.objects.exists()


@pytest.mark.parametrize(("reason", "says"), [("medication", "a medication change was recorded"),
                                              ("clinician", "a clinician asked for a re-check")])
def test_a_medication_change_or_a_clinicians_request_asks_for_the_next_session(course, chair, technician,
                                                                             clinician, reason, says):
    complete(session(course, chair, FIRST, kind=Appointment.Kind.MAPPING), technician, mt=55)
    complete(session(course, chair, FIRST + datetime.timedelta(days=1)), technician)
    with time_machine.travel(datetime.datetime(2026, 11, 3, 20, tzinfo=UTC), tick=False):
        motor_threshold.ask_for_recheck(course.patient, reason=reason, note="Sertraline 50 → 100 mg", by=clinician)
    next_one = session(course, chair, FIRST + datetime.timedelta(days=2))
    assert reasons(next_one) == [says]
    complete(next_one, technician, mt=60)
    assert reasons(session(course, chair, FIRST + datetime.timedelta(days=3))) == []  # answered


def test_weekly_rechecks_count_calendar_days_in_the_clinics_zone(course, chair, technician, settings):
    settings.TMS_MT_RECHECK_EVERY, settings.TMS_MT_RECHECK_DAYS = 0, 7
    complete(session(course, chair, FIRST, kind=Appointment.Kind.MAPPING), technician, mt=55)
    six_days = session(course, chair, FIRST + datetime.timedelta(days=6))
    seven_days = session(course, chair, FIRST + datetime.timedelta(days=7))
    assert reasons(six_days) == []
    assert reasons(seven_days) == ["7 days since the last measurement"]


def test_a_new_course_measures_again_even_with_an_old_measurement(course, chair, technician):
    complete(session(course, chair, FIRST, kind=Appointment.Kind.MAPPING), technician, mt=55)
    later = TreatmentCourseFactory(patient=course.patient, protocol=course.protocol, kind="reintroduction",
                                   start_date=datetime.date(2027, 3, 1))
    first = session(later, chair, datetime.date(2027, 3, 1))
    assert reasons(first) == ["none has been measured since this course began"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("intensity_percent_mt", 300, "less than or equal to 150"),
    ("intensity_percent_mt", 0, "greater than or equal to 1"),
    ("pulses_delivered", 20_000, "less than or equal to 10000"),
    ("motor_threshold", 10, "greater than or equal to 20"),
    ("motor_threshold", 101, "less than or equal to 100"),
])
def test_implausible_values_are_refused_by_the_service(course, chair, technician, field, value, message):
    appointment = session(course, chair, FIRST)
    record = {"pulses_delivered": 3000, "intensity_percent_mt": 120, "motor_threshold": 55, field: value}
    with time_machine.travel(appointment.starts_at + datetime.timedelta(minutes=20), tick=False), \
            pytest.raises(AppointmentStateError, match=message):
        complete_appointment(appointment, by=technician, **record)
    assert not SessionRecord.objects.exists()
    assert Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.CHECKED_IN


def test_the_day_view_and_the_page_read_the_same_rule_in_a_fixed_number_of_queries(
        course, chair, technician, django_assert_num_queries):
    from scheduling.selectors import day_appointments

    complete(session(course, chair, FIRST, kind=Appointment.Kind.MAPPING), technician, mt=55)
    for number in range(1, 6):
        complete(session(course, chair, FIRST + datetime.timedelta(days=number)), technician)
    sixth = session(course, chair, FIRST + datetime.timedelta(days=6))
    MotorThresholdRecheck.objects.create(patient=course.patient, reason="medication")
    with django_assert_num_queries(1):
        (listed,) = day_appointments(chair.clinic, FIRST + datetime.timedelta(days=6))
    assert listed.pk == sixth.pk
    assert listed.mt_recheck_reasons == ["5 sessions since the last measurement", "a medication change was recorded"]
