"""Availability and booking: the only code that creates or changes appointments.

Every function here is keyword-only and runs in one transaction. Callers get an Appointment
or a ``SlotUnavailable`` whose message is written in the words the front desk uses; never an
IntegrityError.
"""

import bisect
import datetime
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from patients.models import TreatmentCourse
from tmsclinic.roles import CLINICIAN, roles_of

from . import reminders
from .adherence import refresh_plan
from .models import Appointment, Chair, Closure, OpeningHours, SessionRecord

log = logging.getLogger(__name__)
UTC = datetime.UTC


class SlotUnavailable(ValidationError):
    """The appointment cannot be booked; the message says why, in clinic words."""


class AppointmentStateError(ValidationError):
    """The appointment is not in a state that allows this action."""


@dataclass(frozen=True, slots=True)
class Slot:
    chair: Chair
    starts_at: datetime.datetime
    ends_at: datetime.datetime


# --- Opening hours ---------------------------------------------------------------------------


class ClinicCalendar:
    """A clinic's opening hours and closures over a date range, read in two queries."""

    def __init__(self, clinic, first_day, last_day):
        self.clinic = clinic
        self.hours = {}
        for row in OpeningHours.objects.filter(clinic=clinic).order_by("opens_at"):
            self.hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
        self.closures = {}
        for closure in Closure.objects.filter(
            clinic=clinic, starts_on__lte=last_day, ends_on__gte=first_day
        ):
            day = max(closure.starts_on, first_day)
            while day <= min(closure.ends_on, last_day):
                self.closures[day] = closure.reason
                day += datetime.timedelta(days=1)

    def open_intervals(self, day):
        """The day's opening intervals as aware UTC datetimes (wall-clock hours in the
        clinic's zone, so a DST change moves them in UTC, not on the clock)."""
        if day in self.closures:
            return []
        tz = self.clinic.tz
        return [
            (
                datetime.datetime.combine(day, opens, tzinfo=tz).astimezone(UTC),
                datetime.datetime.combine(day, closes, tzinfo=tz).astimezone(UTC),
            )
            for opens, closes in self.hours.get(day.weekday(), [])
        ]


def _local_days(clinic, start, end):
    first = timezone.localtime(start, clinic.tz).date()
    last = timezone.localtime(end, clinic.tz).date()
    return first, last


def chair_minutes(*, protocol=None):
    return protocol.chair_minutes if protocol is not None else settings.TMS_CONSULT_MINUTES


# --- Availability ----------------------------------------------------------------------------


def find_open_slots(*, clinic, protocol, start, end, chair=None):
    """Free slots for ``protocol`` on the clinic's chairs (or one chair) between two moments.

    Candidate starts fall every ``TMS_SLOT_STEP_MINUTES`` from each opening time; a slot must
    end by closing time, not be in the past and not overlap a live appointment on its chair.
    Four queries whatever the range: hours, closures, chairs, and the range's appointments.
    """
    chairs = [chair] if chair is not None else list(Chair.objects.filter(clinic=clinic, active=True))
    duration = datetime.timedelta(minutes=chair_minutes(protocol=protocol))
    return open_slots(clinic=clinic, duration=duration, start=start, end=end, chairs=chairs)


def open_slots(*, clinic, duration, start, end, chairs):
    """``find_open_slots`` for a given chair time and list of chairs."""
    step = datetime.timedelta(minutes=settings.TMS_SLOT_STEP_MINUTES)
    start = max(start, timezone.now())
    chairs = [c for c in chairs if c.active and c.clinic_id == clinic.pk]
    if end <= start or not chairs:
        return []

    busy = {c.pk: ([], []) for c in chairs}  # chair id -> (sorted starts, ends)
    appointments = (
        Appointment.objects.live()
        .filter(clinic=clinic, chair__in=[c.pk for c in chairs])
        .between(start, end)
        .order_by("starts_at")
        .values_list("chair_id", "starts_at", "ends_at")
    )
    for chair_id, starts_at, ends_at in appointments:
        starts, ends = busy[chair_id]
        starts.append(starts_at)
        ends.append(ends_at)

    calendar = ClinicCalendar(clinic, *_local_days(clinic, start, end))
    first_day, last_day = _local_days(clinic, start, end)
    slots = []
    day = first_day
    while day <= last_day:
        for opens, closes in calendar.open_intervals(day):
            candidate = opens
            if candidate < start:  # skip the grid forward to the first start not in the past
                candidate += step * -(-(start - candidate) // step)
            while candidate + duration <= closes and candidate + duration <= end:
                finish = candidate + duration
                for c in chairs:
                    starts, ends = busy[c.pk]
                    # The first appointment ending after our start is the only one to check:
                    # live appointments on one chair never overlap one another.
                    i = bisect.bisect_right(ends, candidate)
                    if i == len(starts) or starts[i] >= finish:
                        slots.append(Slot(c, candidate, finish))
                candidate += step
        day += datetime.timedelta(days=1)
    return slots


# --- Booking ---------------------------------------------------------------------------------

# PostgreSQL: deadlock_detected, serialization_failure. Retried; anything else is raised.
RETRYABLE_PGCODES = {"40P01", "40001"}
BOOKING_ATTEMPTS = 4


def _fmt(clinic, moment):
    return f"{clinic.local(moment):%H:%M}"


def _refusal(*, patient, chair, clinic, starts_at, ends_at, exclude_pk=None):
    """Why this booking cannot happen, in clinic words, or None. Runs under the chair lock."""
    if not chair.active:
        return f"{chair.name} is out of service."
    if starts_at < timezone.now():
        return "That time is in the past."
    day = clinic.local(starts_at).date()
    calendar = ClinicCalendar(clinic, day, day)
    if day in calendar.closures:
        reason = calendar.closures[day]
        return f"The clinic is closed on {day:%A} {day.day} {day:%B}" + (f" ({reason})." if reason else ".")
    if not any(opens <= starts_at and ends_at <= closes for opens, closes in calendar.open_intervals(day)):
        return "That is outside the clinic's opening hours."
    others = Appointment.objects.live().between(starts_at, ends_at).exclude(pk=exclude_pk)
    taken = others.filter(chair=chair).first()
    if taken is not None:
        return (
            f"{chair.name} is already booked from {_fmt(clinic, taken.starts_at)} "
            f"to {_fmt(clinic, taken.ends_at)}."
        )
    clash = others.filter(patient=patient).select_related("clinic").first()
    if clash is not None:
        return (
            f"{patient.full_name} is already booked then "
            f"({_fmt(clash.clinic, clash.starts_at)}–{_fmt(clash.clinic, clash.ends_at)} "
            f"at {clash.clinic.name})."
        )
    return None


def _constraint_message(error, *, patient, chair):
    text = str(error)
    if "appt_no_patient_overlap" in text:
        return f"{patient.full_name} is already booked then."
    if "appt_no_chair_overlap" in text:
        return f"{chair.name} was booked by someone else a moment ago."
    return None


def _with_retries(operation):
    """Run ``operation`` in a fresh transaction, retrying deadlocks and serialisation
    failures with a short backoff."""
    for attempt in range(1, BOOKING_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return operation()
        except OperationalError as error:
            pgcode = getattr(getattr(error, "__cause__", None), "pgcode", None)
            if pgcode not in RETRYABLE_PGCODES or attempt == BOOKING_ATTEMPTS:
                raise
            log.info("booking retry %s after %s", attempt, pgcode)
            time.sleep(0.02 * attempt)
    raise AssertionError("unreachable")


TREATMENT_KINDS = (Appointment.Kind.ACUTE, Appointment.Kind.REINTRODUCTION, Appointment.Kind.MAINTENANCE)
USED_STATUSES = (Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN, Appointment.Status.COMPLETED)


def sessions_used(course):
    """Treatment sessions booked or given on a course: what its authorisation counts."""
    return Appointment.objects.filter(course=course, kind__in=TREATMENT_KINDS, status__in=USED_STATUSES).count()


def _check_authorisation(course, kind, override_by):
    """Refuse a session beyond the course's authorised count unless a clinician approves.
    The course row is locked so two desks cannot both book the last authorised session."""
    if course is None or kind not in TREATMENT_KINDS:
        return None
    course = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
    if course.authorised_sessions is None or sessions_used(course) < course.authorised_sessions:
        return None
    if override_by is None:
        raise SlotUnavailable(
            f"All {course.authorised_sessions} authorised sessions of this course are booked or given; "
            "a clinician must approve another."
        )
    if CLINICIAN not in roles_of(override_by):
        raise SlotUnavailable("Only a clinician can approve sessions beyond the authorisation.")
    return override_by


def _book(*, patient, chair, starts_at, kind, booked_by, course, plan, via, duration,
          override_by=None, override_note=""):
    # Lock the chair first: bookings for one chair queue here instead of racing to the
    # exclusion constraint, so they see each other's rows and never deadlock.
    chair = Chair.objects.select_for_update().select_related("clinic").get(pk=chair.pk)
    clinic = chair.clinic
    ends_at = starts_at + duration
    reason = _refusal(patient=patient, chair=chair, clinic=clinic, starts_at=starts_at, ends_at=ends_at)
    if reason:
        raise SlotUnavailable(reason)
    approved_by = _check_authorisation(course, kind, override_by)
    appointment = Appointment.objects.create(
        authorisation_override_by=approved_by,
        authorisation_override_note=override_note[:200] if approved_by else "",
        patient=patient,
        clinic=clinic,
        chair=chair,
        kind=kind,
        course=course,
        plan=plan,
        starts_at=starts_at,
        ends_at=ends_at,
        booked_via=via,
        booked_by=booked_by if getattr(booked_by, "is_authenticated", False) else None,
    )
    # The reminders outbox is written in the booking's own transaction.
    reminders.arm(appointment)
    return appointment


def _duration_for(*, course, plan, duration):
    if duration is not None:
        return duration
    protocol = course.protocol if course is not None else plan.protocol if plan is not None else None
    return datetime.timedelta(minutes=chair_minutes(protocol=protocol))


def book_appointment(
    *, patient, chair, starts_at, kind, booked_by, course=None, plan=None, via="staff", duration=None,
    authorisation_override_by=None, authorisation_override_note="",
):
    """Book one appointment, or raise SlotUnavailable saying why not.

    The chair time is the protocol's chair minutes (from the course or plan), or
    ``TMS_CONSULT_MINUTES`` for an appointment with neither, unless ``duration`` is given.
    A treatment session beyond the course's authorised count needs
    ``authorisation_override_by`` set to a clinician, which is recorded on the appointment.
    """
    if timezone.is_naive(starts_at):
        raise SlotUnavailable("The start time must include its time zone.")
    duration = _duration_for(course=course, plan=plan, duration=duration)

    def operation():
        return _book(patient=patient, chair=chair, starts_at=starts_at, kind=kind, booked_by=booked_by,
                     course=course, plan=plan, via=via, duration=duration,
                     override_by=authorisation_override_by, override_note=authorisation_override_note)

    try:
        return _with_retries(operation)
    except IntegrityError as error:
        message = _constraint_message(error, patient=patient, chair=chair)
        if message is None:
            raise
        raise SlotUnavailable(message) from error


def reschedule_appointment(appointment, *, chair, starts_at, by, via=Appointment.Via.STAFF):
    """Move an appointment: the old one is cancelled and a new one booked, all or nothing."""
    if appointment.status != Appointment.Status.BOOKED:
        raise AppointmentStateError("Only a booked appointment can be rescheduled.")
    duration = appointment.ends_at - appointment.starts_at

    def operation():
        old = _locked(appointment, allowed=(Appointment.Status.BOOKED,), action="rescheduled")
        old.status = Appointment.Status.CANCELLED
        old.cancelled_at = timezone.now()
        old.cancel_reason = "Rescheduled"
        old.save(update_fields=["status", "cancelled_at", "cancel_reason", "updated_at"])
        reminders.disarm(old, "Rescheduled; the new time has its own reminders.")
        return _book(patient=old.patient, chair=chair, starts_at=starts_at, kind=old.kind, booked_by=by,
                     course=old.course, plan=old.plan, via=via, duration=duration)

    try:
        return _with_retries(operation)
    except IntegrityError as error:
        message = _constraint_message(error, patient=appointment.patient, chair=chair)
        if message is None:
            raise
        raise SlotUnavailable(message) from error


# --- The appointment's day -------------------------------------------------------------------

LIVE_BEFORE_SESSION = (Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN)


def _after_change(appointment):
    """A maintenance session that changed moves its plan's due date, in the same transaction."""
    if appointment.plan_id is not None:
        refresh_plan(appointment.plan)


def _locked(appointment, *, allowed, action):
    """Re-read the appointment under a row lock and check it may still be ``action``ed:
    two people clicking at once must not both act on it."""
    current = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("patient", "clinic", "plan__patient__home_clinic")
        .get(pk=appointment.pk)
    )
    if current.status not in allowed:
        raise AppointmentStateError(
            f"This appointment is {current.get_status_display().lower()} and cannot be {action}."
        )
    return current


def check_in(appointment, *, by):
    with transaction.atomic():
        current = _locked(appointment, allowed=(Appointment.Status.BOOKED,), action="checked in")
        current.status = Appointment.Status.CHECKED_IN
        current.checked_in_at = timezone.now()
        current.technician = current.technician or by
        current.save(update_fields=["status", "checked_in_at", "technician", "updated_at"])
    return current


def cancel_appointment(appointment, *, by, reason=""):
    with transaction.atomic():
        current = _locked(appointment, allowed=LIVE_BEFORE_SESSION, action="cancelled")
        current.status = Appointment.Status.CANCELLED
        current.cancelled_at = timezone.now()
        current.cancel_reason = reason[:200]
        current.save(update_fields=["status", "cancelled_at", "cancel_reason", "updated_at"])
        reminders.disarm(current, "The appointment was cancelled.")
        _after_change(current)
    return current


def complete_appointment(appointment, *, by, **record):
    """Mark the session done and write its SessionRecord (pulses, intensity, MT, …)."""
    with transaction.atomic():
        current = _locked(appointment, allowed=LIVE_BEFORE_SESSION, action="completed")
        current.status = Appointment.Status.COMPLETED
        current.technician = current.technician or by
        current.save(update_fields=["status", "technician", "updated_at"])
        SessionRecord.objects.create(appointment=current, operator=by, **record)
        _after_change(current)
    return current


def mark_no_show(appointment, *, by):
    with transaction.atomic():
        current = _locked(appointment, allowed=(Appointment.Status.BOOKED,), action="marked as a no-show")
        if current.starts_at > timezone.now():
            raise AppointmentStateError("This appointment has not started yet.")
        current.status = Appointment.Status.NO_SHOW
        current.save(update_fields=["status", "updated_at"])
        _after_change(current)
    return current


# --- Acute courses ---------------------------------------------------------------------------


@dataclass
class Unplaced:
    """A session of a new course that could not be booked: staff must place it by hand."""

    day: datetime.date
    reason: str


@dataclass
class CourseBooking:
    course: TreatmentCourse
    appointments: list
    unplaced: list


def _spread(days, count):
    """Pick ``count`` of a week's open ``days`` spread evenly: 3 of Mon–Fri are Mon, Wed, Fri."""
    if count >= len(days):
        return list(days)
    return [days[round((k + 0.5) * len(days) / count - 0.5)] for k in range(count)]


def course_days(*, clinic, template, first_day, last_possible_day=None):
    """The treatment days of a course from ``first_day``: week by week, the template's number
    of days out of that week's open weekdays (Monday to Friday that the clinic is open)."""
    weeks = template.days_per_week
    last_possible_day = last_possible_day or first_day + datetime.timedelta(weeks=len(weeks) + 1)
    calendar = ClinicCalendar(clinic, first_day, last_possible_day)
    days, missing = [], []
    for week, wanted in enumerate(weeks):
        week_start = first_day + datetime.timedelta(weeks=week)
        week_days = [week_start + datetime.timedelta(days=d) for d in range(7)]
        open_days = [d for d in week_days if d.weekday() < 5 and calendar.open_intervals(d)]
        days.extend(_spread(open_days, wanted))
        missing.extend([week_start] * max(0, wanted - len(open_days)))
    return days, missing


def _nearest_slot(*, chair, wanted, duration, not_before=None):
    """The free slot that day closest to ``wanted`` (the preferred chair first on a tie),
    starting no earlier than ``not_before`` when given."""
    clinic = chair.clinic
    day = clinic.local(wanted).date()
    day_start = datetime.datetime.combine(day, datetime.time(0), tzinfo=clinic.tz)
    day_end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), tzinfo=clinic.tz)
    chairs = list(Chair.objects.filter(clinic=clinic, active=True))
    slots = open_slots(clinic=clinic, duration=duration, start=not_before or day_start, end=day_end, chairs=chairs)
    if not slots:
        return None
    return min(slots, key=lambda s: (abs(s.starts_at - wanted), s.chair.pk != chair.pk, s.starts_at))


def _place_day(*, chair, wanted, sessions, gap, duration, book):
    """Book ``sessions`` sessions on one day, each at least ``gap`` after the previous start:
    on ``chair`` at the wanted time when free, else the nearest free slot.
    Returns the appointments and, for each session not placed, the reason."""
    placed = []
    not_before = None
    for _ in range(sessions):
        try:
            placed.append(book(chair, wanted))
        except SlotUnavailable as refusal:
            slot = _nearest_slot(chair=chair, wanted=wanted, duration=duration, not_before=not_before)
            try:
                if slot is None:
                    raise SlotUnavailable(f"{refusal.message} No other chair is free that day.") from refusal
                placed.append(book(slot.chair, slot.starts_at))
            except SlotUnavailable as no_slot:
                return placed, [no_slot.message] * (sessions - len(placed))
        not_before = wanted = placed[-1].starts_at + gap
    return placed, []


def start_course(*, patient, protocol, template, start_date, chair, time_of_day, by,
                 kind=TreatmentCourse.Kind.ACUTE, authorised_sessions=None, prior_auth_number="",
                 motor_threshold=None):
    """Create a course and book its whole series as separate appointments.

    An acute course opens with a mapping visit (motor threshold) on the start date; treatment
    sessions follow from the next day, laid out by the template, on the same chair at the same
    time of day when free, else at the nearest free slot that day. Accelerated protocols book
    their sessions per day at least ``minutes_between_sessions`` apart. What cannot be placed
    is returned in ``unplaced`` and stays visible as unbooked sessions of the course.
    """
    clinic = chair.clinic
    duration = datetime.timedelta(minutes=protocol.chair_minutes)
    gap = max(datetime.timedelta(minutes=protocol.minutes_between_sessions), duration)
    acute = kind == TreatmentCourse.Kind.ACUTE
    session_kind = Appointment.Kind.ACUTE if acute else Appointment.Kind.REINTRODUCTION
    with transaction.atomic():
        course = TreatmentCourse.objects.create(
            patient=patient, protocol=protocol, kind=kind, start_date=start_date,
            planned_sessions=template.sessions_for(protocol), authorised_sessions=authorised_sessions,
            prior_auth_number=prior_auth_number, motor_threshold=motor_threshold,
        )

        def booker(appointment_kind, minutes):
            def book(on_chair, starts_at):
                return book_appointment(patient=patient, chair=on_chair, starts_at=starts_at, kind=appointment_kind,
                                        booked_by=by, course=course, duration=minutes)
            return book

        appointments, unplaced = [], []
        first_day = start_date
        if acute:
            mapping = datetime.timedelta(minutes=template.mapping_minutes)
            placed, reasons = _place_day(
                chair=chair, wanted=datetime.datetime.combine(start_date, time_of_day, tzinfo=clinic.tz),
                sessions=1, gap=mapping, duration=mapping, book=booker(Appointment.Kind.MAPPING, mapping),
            )
            appointments += placed
            unplaced += [Unplaced(start_date, f"Mapping visit: {reason}") for reason in reasons]
            first_day = start_date + datetime.timedelta(days=1)

        days, short_weeks = course_days(clinic=clinic, template=template, first_day=first_day)
        book = booker(session_kind, duration)
        for day in days:
            placed, reasons = _place_day(
                chair=chair, wanted=datetime.datetime.combine(day, time_of_day, tzinfo=clinic.tz),
                sessions=protocol.sessions_per_day, gap=gap, duration=duration, book=book,
            )
            appointments += placed
            unplaced += [Unplaced(day, reason) for reason in reasons]
        for week_start in short_weeks:
            unplaced += [Unplaced(week_start, "The clinic is not open on enough weekdays that week.")] * (
                protocol.sessions_per_day
            )
    return CourseBooking(course=course, appointments=appointments, unplaced=unplaced)
