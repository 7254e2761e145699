"""The motor threshold (MT): when it must be measured, what was measured, and the MT a session
used when it was not measured.

MT is measured at the mapping visit and when none has been measured since the course began
(its first session); then again after TMS_MT_RECHECK_EVERY treatment sessions and, if set,
TMS_MT_RECHECK_DAYS calendar days since the last measurement; and at the first session after a
clinician records a medication change or asks for a re-check (CLINICAL.md: MT drifts by more
than 5 % in about half of sessions; re-check weekly or every 5 sessions and after a medication
change). A session record says whether its MT was measured (``mt_measured``) or carried from
the last measurement, so it never claims a measurement that did not happen.
"""

from django.conf import settings
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from patients.models import MotorThresholdRecheck

from ..models import Appointment, SessionRecord

# Appointments at which an MT can be measured: the mapping visit and every treatment session.
MEASURED_AT = (Appointment.Kind.MAPPING, *Appointment.TREATMENT_KINDS)


def with_mt_status(queryset):
    """Annotate appointments with what decides whether MT is due at each: when the patient's
    MT was last measured before it, how many treatment sessions they completed since, and the
    latest re-check request. Four subqueries in the one query, whatever the number of appointments."""
    measured = SessionRecord.objects.filter(
        appointment__patient=OuterRef("patient"), mt_measured=True, appointment__starts_at__lt=OuterRef("starts_at"),
    ).order_by("-appointment__starts_at")
    asked = MotorThresholdRecheck.objects.filter(patient=OuterRef("patient")).order_by("-requested_at")
    since = (
        Appointment.objects.filter(
            patient=OuterRef("patient"), status=Appointment.Status.COMPLETED, kind__in=Appointment.TREATMENT_KINDS,
            # The session that measured counts as one of them (a mapping visit is no session):
            # measured at session 6, the fifth since is session 10 and session 11 measures again.
            starts_at__lt=OuterRef("starts_at"), starts_at__gte=OuterRef("mt_measured_at"),
        )
        .order_by().values("patient").annotate(n=Count("pk")).values("n")
    )
    return queryset.annotate(
        mt_measured_at=Subquery(measured.values("appointment__starts_at")[:1]),
        mt_asked_at=Subquery(asked.values("requested_at")[:1]),
        mt_asked_reason=Subquery(asked.values("reason")[:1]),
    ).annotate(sessions_since_mt=Coalesce(Subquery(since), Value(0)))


def recheck_reasons(appointment):
    """Why MT must be measured at this appointment (annotated by ``with_mt_status``, with its
    clinic and course at hand), in the words the technician reads; empty when it need not be."""
    if appointment.kind not in MEASURED_AT:
        return []
    clinic, measured_at = appointment.clinic, appointment.mt_measured_at
    reasons = []
    if appointment.kind == Appointment.Kind.MAPPING:
        reasons.append("this is the mapping visit")
    elif measured_at is None:
        reasons.append("no motor threshold has been measured yet")
    elif appointment.course_id and clinic.local(measured_at).date() < appointment.course.start_date:
        reasons.append("none has been measured since this course began")
    else:
        every = settings.TMS_MT_RECHECK_EVERY
        if every and appointment.sessions_since_mt >= every:
            reasons.append(f"{appointment.sessions_since_mt} sessions since the last measurement")
        days = (clinic.local(appointment.starts_at).date() - clinic.local(measured_at).date()).days
        if settings.TMS_MT_RECHECK_DAYS and days >= settings.TMS_MT_RECHECK_DAYS:
            reasons.append(f"{days} days since the last measurement")
    asked_at = appointment.mt_asked_at
    if asked_at is not None and (measured_at is None or asked_at > measured_at):
        reasons.append("a medication change was recorded" if appointment.mt_asked_reason == "medication"
                       else "a clinician asked for a re-check")
    return reasons


def measurements(patient):
    """The patient's measured MTs, newest first: the value, when (the session's start), who."""
    return (
        SessionRecord.objects.filter(appointment__patient=patient, mt_measured=True)
        .select_related("operator", "appointment__clinic")
        .order_by("-appointment__starts_at")
    )


def last_measurement(patient, before=None):
    """The patient's latest measured MT (a SessionRecord), before a moment if given."""
    records = measurements(patient)
    if before is not None:
        records = records.filter(appointment__starts_at__lt=before)
    return records.first()


def carried_threshold(appointment):
    """The MT a session uses when it is not measured there: the last measurement, else the
    course's MT given when it was started, else none."""
    last = last_measurement(appointment.patient, before=appointment.starts_at)
    if last is not None:
        return last.motor_threshold
    return appointment.course.motor_threshold if appointment.course_id else None


def ask_for_recheck(patient, *, reason, note, by):
    """A clinician records a medication change or asks for a re-check at the next session."""
    return MotorThresholdRecheck.objects.create(patient=patient, reason=reason, note=note, requested_by=by)


def off_protocol(protocol, *, pulses, intensity, tolerance=0.10):
    """The delivered values more than ``tolerance`` away from the protocol's, in words."""
    differences = []
    for label, value, planned, unit in (("Pulses", pulses, protocol.pulses_per_session, ""),
                                        ("Intensity", intensity, protocol.intensity_percent_mt, " % MT")):
        if value is not None and planned and abs(value - planned) > tolerance * planned:
            differences.append(f"{label} {value:,}{unit} is {abs(value - planned) / planned:.0%} "
                               f"{'above' if value > planned else 'below'} the protocol's {planned:,}{unit}")
    return differences

