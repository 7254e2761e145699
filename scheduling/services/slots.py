"""The slot finder: the soonest free times for one patient across a clinic's chairs and days,
for booking and for moving an appointment; and what a new booking is likely to be."""

import datetime
from collections import Counter

from patients.models import TreatmentCourse

from ..models import Appointment, Chair
from .booking import chair_minutes, open_slots
from .calendar import midnight
from .courses import active_course_for
from .plans import active_plan_for

# How far ahead the finder looks, how many times it offers in all and on one day.
DAYS_AHEAD = 21
LIMIT = 12
PER_DAY = 4


def free_slots(*, clinic, duration, patient=None, from_day=None, moving=None, chairs=None,
               days=DAYS_AHEAD, limit=LIMIT, per_day=PER_DAY):
    """The soonest free times at ``clinic`` for an appointment of ``duration``, from
    ``from_day`` (the clinic's calendar; today by default) for ``days`` days: one slot per start
    time (the chair of the appointment being moved first, else the chair with the lowest name),
    at most ``per_day`` on one day and ``limit`` in all. A time at which the patient is booked
    anywhere else is left out; ``moving`` (the appointment being moved) does not hold its own
    chair, so it may move a quarter of an hour on it, but is not offered its own time. Five
    queries whatever the range: chairs, hours, closures, the chairs' appointments and the
    patient's."""
    today = clinic.today()
    from_day = max(from_day or today, today)
    start, end = midnight(clinic, from_day), midnight(clinic, from_day + datetime.timedelta(days=days))
    chairs = list(chairs if chairs is not None else Chair.objects.filter(clinic=clinic, active=True))
    preferred = moving.chair_id if moving is not None else None
    chairs.sort(key=lambda chair: (chair.pk != preferred, chair.name, chair.pk))
    chosen, seen, on_day = [], set(), Counter()
    rank = {chair.pk: n for n, chair in enumerate(chairs)}
    slots = open_slots(clinic=clinic, duration=duration, start=start, end=end, chairs=chairs,
                       ignoring=moving.pk if moving is not None else None)
    if patient is not None:
        slots = without_patients_bookings(slots, patient, start, end, moving=moving)
    for slot in sorted(slots, key=lambda s: (s.starts_at, rank[s.chair.pk])):
        day = clinic.local(slot.starts_at).date()
        if slot.starts_at in seen or on_day[day] >= per_day:
            continue
        if moving is not None and slot.starts_at == moving.starts_at and slot.chair.pk == moving.chair_id:
            continue
        seen.add(slot.starts_at)
        on_day[day] += 1
        chosen.append(slot)
        if len(chosen) == limit:
            break
    return chosen


def without_patients_bookings(slots, patient, start, end, *, moving=None):
    """``slots`` less those at a time the patient is booked anywhere between ``start`` and
    ``end`` (one query); ``moving``, the appointment being moved, does not count."""
    theirs = Appointment.objects.live().filter(patient=patient).between(start, end)
    if moving is not None:
        theirs = theirs.exclude(pk=moving.pk)
    busy = list(theirs.values_list("starts_at", "ends_at"))
    return [slot for slot in slots if not any(starts < slot.ends_at and slot.starts_at < ends for starts, ends in busy)]


def likely_kind(patient):
    """The kind of appointment a new booking for ``patient`` most likely is: a session of their
    active course (acute or reintroduction), else a maintenance session of their active plan,
    else a consultation."""
    if patient is None:
        return Appointment.Kind.CONSULT
    course = active_course_for(patient, Appointment.Kind.ACUTE)
    if course is not None:
        reintroduction = course.kind == TreatmentCourse.Kind.REINTRODUCTION
        return Appointment.Kind.REINTRODUCTION if reintroduction else Appointment.Kind.ACUTE
    if active_plan_for(patient, Appointment.Kind.MAINTENANCE) is not None:
        return Appointment.Kind.MAINTENANCE
    return Appointment.Kind.CONSULT


def duration_for(patient, kind):
    """The chair time of a new appointment of ``kind``: its course's or plan's protocol, else a
    consultation's."""
    protocol = None
    if patient is not None:
        source = active_course_for(patient, kind) or active_plan_for(patient, kind)
        protocol = source.protocol if source is not None else None
    return datetime.timedelta(minutes=chair_minutes(protocol=protocol))
