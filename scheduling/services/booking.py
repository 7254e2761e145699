"""Availability and booking: the only code that creates or changes appointments.

Every function here runs in one transaction. Callers get an Appointment or a
``SlotUnavailable`` / ``AppointmentStateError`` whose message is written in the words the
front desk uses; never an IntegrityError.
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

from patients.models import MaintenancePlan, TreatmentCourse
from tmsclinic.roles import CLINICAL_WRITE, may

from ..models import Appointment, Chair, FreedSlot, SessionRecord
from . import billing, motor_threshold, reminders, waitlist
from .calendar import ClinicCalendar, after, clock, clock_on_day, local_days, midnight
from .plans import refresh_plan

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


def chair_minutes(*, protocol=None):
    return protocol.chair_minutes if protocol is not None else settings.TMS_CONSULT_MINUTES


# --- Availability ----------------------------------------------------------------------------


def find_open_slots(*, clinic, protocol, start, end, chair=None, any_chair=False):
    """Free slots for ``protocol`` on the clinic's chairs (or one chair) between two moments.

    Candidate starts fall every ``TMS_SLOT_STEP_MINUTES`` from each opening time; a slot must
    end by closing time, not be in the past and not overlap a live appointment on its chair.
    Four queries whatever the range: hours, closures, chairs, and the range's appointments.
    With ``any_chair``, one slot a free time (its first free chair) instead of one a free chair.
    """
    chairs = [chair] if chair is not None else list(Chair.objects.filter(clinic=clinic, active=True))
    duration = datetime.timedelta(minutes=chair_minutes(protocol=protocol))
    return open_slots(clinic=clinic, duration=duration, start=start, end=end, chairs=chairs, any_chair=any_chair)


def open_slots(*, clinic, duration, start, end, chairs, ignoring=None, any_chair=False):
    """``find_open_slots`` for a given chair time and list of chairs; ``ignoring`` is the pk of
    an appointment that does not count as busy (the one being moved)."""
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
        .exclude(pk=ignoring)
        .order_by("starts_at")
        .values_list("chair_id", "starts_at", "ends_at")
    )
    for chair_id, starts_at, ends_at in appointments:
        starts, ends = busy[chair_id]
        starts.append(starts_at)
        ends.append(ends_at)

    first_day, last_day = local_days(clinic, start, end)
    calendar = ClinicCalendar(clinic, first_day, last_day)
    slots = []
    day = first_day
    while day <= last_day:
        for opens, closes in calendar.open_intervals(day):
            candidate = opens
            if candidate < start:  # skip the grid forward to the first start not in the past
                candidate += step * -(-(start - candidate) // step)
            while after(candidate, duration) <= closes and after(candidate, duration) <= end:
                finish = after(candidate, duration)
                for c in chairs:
                    starts, ends = busy[c.pk]
                    # The first appointment ending after our start is the only one to check:
                    # live appointments on one chair never overlap one another.
                    i = bisect.bisect_right(ends, candidate)
                    if i == len(starts) or starts[i] >= finish:
                        slots.append(Slot(c, candidate, finish))
                        if any_chair:
                            break
                candidate += step
        day += datetime.timedelta(days=1)
    return slots


# --- Booking ---------------------------------------------------------------------------------

# PostgreSQL: deadlock_detected, serialization_failure. Retried; anything else is raised.
RETRYABLE_PGCODES = {"40P01", "40001"}
BOOKING_ATTEMPTS = 4


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
    others = Appointment.objects.clashing(starts_at, ends_at, exclude=exclude_pk)
    taken = others.filter(chair=chair).first()
    if taken is not None:
        return (
            f"{chair.name} is already booked from {clock(clinic, taken.starts_at)} "
            f"to {clock(clinic, taken.ends_at)}."
        )
    clash = others.filter(patient=patient).select_related("clinic").first()
    if clash is not None:
        return (
            f"{patient.full_name} is already booked then "
            f"({clock(clash.clinic, clash.starts_at)}–{clock(clash.clinic, clash.ends_at)} "
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


def _long_date(day):
    return f"{day.day} {day:%B %Y}"


def _check_authorisation(course, kind, override_by, override_note, *, clinic, starts_at):
    """Refuse a session beyond the course's authorised count, or outside its authorised window
    (the clinic's calendar dates), unless a clinician approves it and says why. The course row
    is locked so two desks cannot both book the last authorised session."""
    if course is None or kind not in Appointment.TREATMENT_KINDS:
        return None
    course = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
    used = Appointment.objects.counted_against(course).count()
    day = clinic.local(starts_at).date()
    beyond = None
    if course.authorised_sessions is not None and used >= course.authorised_sessions:
        beyond = f"All {course.authorised_sessions} authorised sessions of this course are booked or given"
    elif course.authorised_until is not None and day > course.authorised_until:
        beyond = f"The course's authorisation ends on {_long_date(course.authorised_until)}"
    elif course.authorised_from is not None and day < course.authorised_from:
        beyond = f"The course's authorisation starts on {_long_date(course.authorised_from)}"
    if beyond is None:
        return None
    if override_by is None:
        raise SlotUnavailable(f"{beyond}; a clinician must approve this session.")
    if not may(override_by, CLINICAL_WRITE):
        raise SlotUnavailable("Only a clinician can approve sessions beyond the authorisation.")
    if not override_note.strip():
        raise SlotUnavailable(f"{beyond}: say why you approve this session.")
    return override_by


def _book(*, patient, chair, starts_at, kind, booked_by, course, plan, via, duration,
          override_by=None, override_note=""):
    # Lock the chair first: bookings for one chair queue here instead of racing to the
    # exclusion constraint, so they see each other's rows and never deadlock.
    chair = Chair.objects.select_for_update().select_related("clinic").get(pk=chair.pk)
    clinic = chair.clinic
    ends_at = after(starts_at, duration)
    reason = _refusal(patient=patient, chair=chair, clinic=clinic, starts_at=starts_at, ends_at=ends_at)
    if reason:
        raise SlotUnavailable(reason)
    approved_by = _check_authorisation(course, kind, override_by, override_note, clinic=clinic, starts_at=starts_at)
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
        old.cancelled_at, old.cancelled_by = timezone.now(), by
        old.cancel_reason = "Rescheduled"
        old.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "updated_at"])
        reminders.disarm(old, "Rescheduled; the new time has its own reminders.")
        waitlist.record_freed(old, FreedSlot.Reason.MOVED)
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


def check_in_opens_at(appointment):
    """Check-in opens TMS_CHECK_IN_OPENS_MINUTES before the start, and never before the
    session's own day has begun in its clinic: nobody checks in tomorrow's session today."""
    clinic = appointment.clinic
    day_starts = midnight(clinic, clinic.local(appointment.starts_at).date())
    return max(appointment.starts_at - datetime.timedelta(minutes=settings.TMS_CHECK_IN_OPENS_MINUTES), day_starts)


def _refuse_before_it_happens(current, *, action):
    """A session record says that a treatment happened: a session is checked in only once its
    check-in has opened and completed only once it has started."""
    now = timezone.now()
    if action == "checked in" and now < (opens := check_in_opens_at(current)):
        raise AppointmentStateError(f"Check-in for this session opens at {clock_on_day(current.clinic, opens)}.")
    if action == "completed" and now < current.starts_at:
        raise AppointmentStateError(
            f"This session starts at {clock_on_day(current.clinic, current.starts_at)}: "
            "it can be completed once it has started.")


def check_in(appointment, *, by):
    with transaction.atomic():
        current = _locked(appointment, allowed=(Appointment.Status.BOOKED,), action="checked in")
        _refuse_before_it_happens(current, action="checked in")
        current.status = Appointment.Status.CHECKED_IN
        current.checked_in_at = timezone.now()
        current.technician = current.technician or by
        current.save(update_fields=["status", "checked_in_at", "technician", "updated_at"])
    return current


def cancel_appointment(appointment, *, by, reason=""):
    with transaction.atomic():
        current = _locked(appointment, allowed=Appointment.TO_COME, action="cancelled")
        current.status = Appointment.Status.CANCELLED
        current.cancelled_at, current.cancelled_by = timezone.now(), by
        current.cancel_reason = reason[:200]
        current.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "updated_at"])
        reminders.disarm(current, "The appointment was cancelled.")
        waitlist.record_freed(current, FreedSlot.Reason.CANCELLED)
        _after_change(current)
    return current


def complete_appointment(appointment, *, by, **record):
    """Mark the session done and write its SessionRecord (pulses, intensity, …).

    ``motor_threshold`` is the MT measured at this session, or None if it was not measured:
    then the record carries the last measured MT, marked as not measured here. Where a re-check
    is due (``motor_threshold.recheck_reasons``) a measured MT is required. Values outside the
    plausible ranges are refused; nothing is written on refusal."""
    with transaction.atomic():
        current = _locked(appointment, allowed=Appointment.TO_COME, action="completed")
        _refuse_before_it_happens(current, action="completed")
        measured = record.get("motor_threshold") is not None
        if not measured:
            reasons = motor_threshold.recheck_reasons(
                motor_threshold.with_mt_status(Appointment.objects.filter(pk=current.pk))
                .select_related("clinic", "course").get())
            if reasons:
                raise AppointmentStateError(
                    f"Measure the motor threshold at this session: {'; '.join(reasons)}.")
            record["motor_threshold"] = motor_threshold.carried_threshold(current)
        session = SessionRecord(appointment=current, operator=by, mt_measured=measured,
                                cpt_code=billing.derive_cpt(current, mt_measured=measured), **record)
        try:
            # A carried MT was checked when it was measured (or typed at the course's start).
            session.full_clean(exclude=["appointment"] if measured else ["appointment", "motor_threshold"])
        except ValidationError as error:
            raise AppointmentStateError(" ".join(error.messages)) from error
        current.status = Appointment.Status.COMPLETED
        current.technician = current.technician or by
        current.save(update_fields=["status", "technician", "updated_at"])
        session.save()
        _after_change(current)
    return current


def mark_no_show(appointment, *, by):
    with transaction.atomic():
        current = _locked(appointment, allowed=(Appointment.Status.BOOKED,), action="marked as a no-show")
        if current.starts_at > timezone.now():
            raise AppointmentStateError("This appointment has not started yet.")
        current.status = Appointment.Status.NO_SHOW
        current.marked_no_show_at, current.marked_no_show_by = timezone.now(), by
        current.save(update_fields=["status", "marked_no_show_at", "marked_no_show_by", "updated_at"])
        _after_change(current)
    return current


def mark_no_shows(now=None):
    """Every 15 minutes: sessions still booked some minutes after their end become no-shows,
    as ``mark_no_show`` would make them (from booked only; their plans recomputed in the same
    transaction), in one statement whatever their number. This feeds the missed-appointments
    flag."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(minutes=settings.TMS_AUTO_NO_SHOW_MINUTES)
    with transaction.atomic():
        stale = Appointment.objects.filter(status=Appointment.Status.BOOKED, ends_at__lte=cutoff)
        plan_ids = set(stale.exclude(plan=None).values_list("plan", flat=True))
        changed = stale.update(status=Appointment.Status.NO_SHOW, marked_no_show_at=now, updated_at=now)
        for plan in MaintenancePlan.objects.filter(pk__in=plan_ids).select_related("patient__home_clinic"):
            refresh_plan(plan)
    return changed
