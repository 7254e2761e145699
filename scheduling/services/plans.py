"""Keeping maintenance patients on schedule: starting, pausing and ending plans, their next due
dates, and the flags raised for everyone who falls off. The flag job is set-based: a fixed
number of statements whatever the number of plans, safe to run twice or in two workers at once."""

import datetime
from collections import defaultdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from patients.models import MaintenancePhase, MaintenancePlan, Patient, PatientFlag, PlanTemplate, TreatmentCourse

from ..models import Appointment, JobMark

SYSTEM_RESOLVED = "Back on schedule: resolved by the system."
# Why a plan no longer due closed its overdue flag, as the worklist's history shows it.
RESOLVED_BECAUSE = {
    MaintenancePlan.Status.ENDED: "The maintenance plan was ended: resolved by the system.",
    MaintenancePlan.Status.PAUSED: "The maintenance plan was paused: resolved by the system.",
}


ALREADY_ON_A_PLAN = "This patient already has an active or paused maintenance plan: end it before starting another."
NO_COMPLETED_COURSE = "A maintenance plan starts from a completed acute course, and this patient has none."


class PlanStateError(ValidationError):
    """The plan is not in a state that allows this; the message says why, in clinic words."""


def completed_visit_days(plan, clinic):
    """The clinic's calendar days of the plan's completed sessions, oldest first: what its
    visits are counted from."""
    starts = (
        Appointment.objects.filter(plan=plan, status=Appointment.Status.COMPLETED)
        .order_by("starts_at").values_list("starts_at", flat=True)
    )
    return [clinic.local(moment).date() for moment in starts]


def last_session_on(course, clinic):
    """The clinic's calendar day of the course's last session given, or None."""
    last = (Appointment.objects.filter(course=course, status=Appointment.Status.COMPLETED)
            .order_by("-starts_at").values_list("starts_at", flat=True).first())
    return clinic.local(last).date() if last else None


def active_plan_for(patient, kind):
    """The plan a session of ``kind`` booked by staff belongs to: the active plan for a
    maintenance session, else None."""
    if kind != Appointment.Kind.MAINTENANCE:
        return None
    return patient.maintenance_plans.active().first()


def latest_completed_acute(courses):
    """The course a new plan follows on from, from the patient's courses newest first."""
    return next(
        (c for c in courses if c.kind == TreatmentCourse.Kind.ACUTE and c.status == TreatmentCourse.Status.COMPLETED),
        None,
    )


def why_no_new_plan(patient, source):
    """Why ``patient`` cannot start a plan following on from ``source`` (their latest completed
    acute course, or None), or None when they can."""
    if source is None:
        return NO_COMPLETED_COURSE
    if patient.maintenance_plans.live().exists():
        return ALREADY_ON_A_PLAN
    return None


def default_plan_template():
    """The template a new plan is offered with (TMS_DEFAULT_PLAN_TEMPLATE), or None if the
    clinic has no template of that name."""
    return PlanTemplate.objects.filter(name=settings.TMS_DEFAULT_PLAN_TEMPLATE).first()


def first_visit_due(source, first_interval_days, clinic):
    """When a plan following on from the acute course ``source`` should want its first visit:
    one interval after the course's last session given (its end date if none is on record),
    on the clinic's calendar, and not before today. Returns (that day, the last session's day)."""
    last_day = last_session_on(source, clinic) or source.ended_on or source.start_date
    return max(last_day + datetime.timedelta(days=first_interval_days), clinic.today()), last_day


def refresh_plan(plan):
    """Recompute a plan's ``next_due_on`` and ``overdue_after`` from its completed sessions,
    and resolve its overdue flag when it is no longer overdue. Call it inside the transaction
    that changed the sessions."""
    clinic = plan.patient.home_clinic
    phases = list(plan.phases.all())
    days = completed_visit_days(plan, clinic)
    completed, last_visit_on = plan.visits_from_sessions(days, phases)
    plan.refresh_schedule(completed_visits=completed, last_visit_on=last_visit_on, time_zone=clinic.time_zone,
                          phases=phases)
    plan.save(update_fields=["next_due_on", "overdue_after"])
    if not plan.is_overdue:
        PatientFlag.objects.open().filter(patient=plan.patient_id, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE).update(
            resolved_at=timezone.now(), resolution_note=RESOLVED_BECAUSE.get(plan.status, SYSTEM_RESOLVED))
    return plan


def start_plan(*, patient, protocol, template, started_on, grace_days=None, source_course=None, phases=None):
    """Start a maintenance plan from a template; its phases are copied so they can be edited
    for this patient (pass ``phases`` as (interval_days, sessions_per_visit, visits) to
    override them)."""
    if phases is None:
        phases = [(p.interval_days, p.sessions_per_visit, p.visits) for p in template.phases.all()]
    with transaction.atomic():
        plan = MaintenancePlan.objects.create(
            patient=patient, protocol=protocol, template=template, source_course=source_course,
            started_on=started_on, grace_days=template.grace_days if grace_days is None else grace_days,
        )
        MaintenancePhase.objects.bulk_create(
            MaintenancePhase(plan=plan, order=order, interval_days=interval, sessions_per_visit=sessions, visits=visits)
            for order, (interval, sessions, visits) in enumerate(phases)
        )
        return refresh_plan(plan)


def why_not_pause(plan):
    if plan.status == MaintenancePlan.Status.ENDED:
        return "This plan has ended; it cannot be paused."
    return None


def why_not_resume(plan):
    if plan.status != MaintenancePlan.Status.PAUSED:
        return "Only a paused plan can be resumed."
    return None


def why_not_end(plan):
    if plan.status == MaintenancePlan.Status.ENDED:
        return "This plan has already ended."
    return None


def _change_state(plan, why_not):
    """Lock the plan's row and re-read its state, so two clinicians acting on one plan at once
    are judged one after the other; raise PlanStateError when the state no longer allows it.
    Call inside a transaction."""
    state = MaintenancePlan.objects.select_for_update().values("status", "paused_until").get(pk=plan.pk)
    plan.status, plan.paused_until = state["status"], state["paused_until"]
    if reason := why_not(plan):
        raise PlanStateError(reason)


def pause_plan(plan, *, until=None):
    """Pause a plan (hospital stay, travel): nothing is due before ``until``; with no date
    it is paused until someone resumes it."""
    with transaction.atomic():
        _change_state(plan, why_not_pause)
        plan.status, plan.paused_until = MaintenancePlan.Status.PAUSED, until
        plan.save(update_fields=["status", "paused_until"])
        return refresh_plan(plan)


def resume_plan(plan):
    with transaction.atomic():
        _change_state(plan, why_not_resume)
        # Resuming ends the pause: its date no longer holds the next visit back.
        plan.status, plan.paused_until = MaintenancePlan.Status.ACTIVE, None
        plan.save(update_fields=["status", "paused_until"])
        return refresh_plan(plan)


def end_plan(plan, *, reason, on=None):
    with transaction.atomic():
        _change_state(plan, why_not_end)
        plan.status, plan.end_reason = MaintenancePlan.Status.ENDED, reason[:200]
        plan.ended_on = on or plan.patient.home_clinic.today()
        plan.save(update_fields=["status", "end_reason", "ended_on"])
        return refresh_plan(plan)


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def _when(moment):
    return connection.ops.adapt_datetimefield_value(moment)


RAISE_OVERDUE = """
INSERT INTO {flag} (patient_id, kind, detail, plan_id, due_on, raised_at, resolution_note)
SELECT plan.patient_id, %s, '', plan.id, plan.next_due_on, %s, ''
FROM {plan} plan JOIN {patient} patient ON patient.id = plan.patient_id
WHERE plan.status = %s AND plan.overdue_after <= %s
  AND patient.status = %s
  AND NOT EXISTS (
    SELECT 1 FROM {flag} flag
    WHERE flag.patient_id = plan.patient_id AND flag.kind = %s
      AND (flag.resolved_at IS NULL OR (flag.plan_id = plan.id AND flag.due_on = plan.next_due_on)))
"""
# The patients' status is joined, not read by key for each overdue plan: PostgreSQL then hashes
# the overdue plans against the partial index of active patients (an index-only scan of a sixth
# of the chain; with the plans' 0.5 % guess of a subquery it probed the table 4 400 times, and
# its earlier flags as many more), which halves the statement's reading.
# No ON CONFLICT on this one: runs of the job are serialised (``_one_run_at_a_time``), so the
# NOT EXISTS sees every open flag another run raised, and PostgreSQL's speculative insertion
# would cost about a third of the statement for nothing.

# Two no-shows in a row, or two within the window, since the patient's last such flag. "In a
# row" means two no-shows since the last attended session. A patient can only come to qualify
# when a no-show is recorded, or when their open flag is resolved (no-shows recorded while it
# was open could not raise another), so only the patients with either since the last run are
# looked at (partial indexes find them), each at the cost of a few probes of the
# (patient, starts_at) index: the statement costs what the new events cost, not what the
# clinic's history does. Whatever else could change the verdict (deleting an attended session
# in admin) forgets the mark, and the next run looks back a year.
RAISE_MISSED = """
INSERT INTO {flag} (patient_id, kind, detail, raised_at, resolution_note)
SELECT since.patient_id, %(missed)s, '', %(now)s, ''
FROM (
  SELECT candidate.patient_id,
    COALESCE((SELECT MAX(flag.raised_at) FROM {flag} flag
              WHERE flag.patient_id = candidate.patient_id AND flag.kind = %(missed)s), %(epoch)s) AS flagged_at,
    COALESCE((SELECT MAX(attended.starts_at) FROM {appointment} attended
              WHERE attended.patient_id = candidate.patient_id AND attended.status = %(completed)s
                AND attended.starts_at <= %(now)s), %(epoch)s) AS attended_at
  FROM (SELECT recent.patient_id FROM {appointment} recent
        WHERE recent.status = %(no_show)s AND recent.updated_at > %(since)s AND recent.starts_at <= %(now)s
        UNION
        SELECT resolved.patient_id FROM {flag} resolved
        WHERE resolved.kind = %(missed)s AND resolved.resolved_at > %(since)s
       ) candidate
) since
WHERE (SELECT COUNT(*) FROM {appointment} missed
       WHERE missed.patient_id = since.patient_id AND missed.status = %(no_show)s AND missed.starts_at <= %(now)s
         AND missed.starts_at > since.flagged_at AND missed.starts_at > since.attended_at) >= 2
   OR (SELECT COUNT(*) FROM {appointment} missed
       WHERE missed.patient_id = since.patient_id AND missed.status = %(no_show)s AND missed.starts_at <= %(now)s
         AND missed.starts_at > since.flagged_at AND missed.starts_at >= %(window)s) >= 2
ON CONFLICT DO NOTHING
"""
# With no mark of the last run (the first ever, or the mark was lost), a year of no-shows.
MISSED_LOOKBACK = datetime.timedelta(days=365)
# Each run looks back this far before the last one's mark: a no-show recorded in a transaction
# that committed after that run had read the table is still seen.
MISSED_OVERLAP = datetime.timedelta(hours=1)
MISSED_MARK = "flag_overdue_patients:no-shows"

EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def _end_pauses(now):
    """A pause with an end date has already moved the plan's due date; once its last day is
    over on the clinic's calendar, it just ends. No clinic's date is ahead of UTC's by more
    than a day, so one query finds every candidate and the clinic's zone decides."""
    paused = MaintenancePlan.objects.filter(status=MaintenancePlan.Status.PAUSED,
                                            paused_until__lte=now.astimezone(datetime.UTC).date())
    ended = defaultdict(list)
    for plan in paused.select_related("patient__home_clinic"):
        if plan.paused_until < plan.patient.home_clinic.local(now).date():
            ended[plan.paused_until].append(plan.pk)
    if ended:
        # Still paused until the same day: a plan ended or paused again meanwhile is left alone.
        still = Q()
        for until, ids in ended.items():
            still |= Q(pk__in=ids, paused_until=until)
        paused.filter(still).update(status=MaintenancePlan.Status.ACTIVE)


def forget_missed_appointments_mark():
    """After a change the missed-appointments check cannot see coming (an attended session
    deleted), its next run looks back a year."""
    JobMark.objects.filter(job=MISSED_MARK).delete()


def _missed_since(now):
    reached = JobMark.objects.filter(job=MISSED_MARK).values_list("reached", flat=True).first()
    if reached is None or reached > now:  # no mark, or one from a run given a later clock
        return now - MISSED_LOOKBACK
    return reached - MISSED_OVERLAP


# Any number that no other advisory lock of the application uses.
FLAG_JOB_LOCK = 0x7F1A6


def _one_run_at_a_time():
    """Make a second run that starts meanwhile wait for this one's commit (its statements then
    see this run's flags). SQLite's IMMEDIATE transactions are serialised already.

    In the same round trip, no JIT compilation for the rest of the run's transaction: its
    statements take milliseconds, and where the planner overestimates the no-shows changed since
    the last run (every row's ``updated_at`` the same moment, as after an import) it compiled
    the missed-appointments statement, for more time than the statement itself takes."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s), set_config('jit', 'off', true)", [FLAG_JOB_LOCK])


def flag_overdue_patients(now=None):
    """Raise overdue-maintenance and missed-appointments flags for everyone who has fallen
    off schedule, and resolve overdue flags of patients back on it. Returns how many flags
    were raised and resolved."""
    now = now or timezone.now()
    overdue = PatientFlag.Kind.OVERDUE_MAINTENANCE
    missed = PatientFlag.Kind.MISSED_APPOINTMENTS
    tables = {"flag": _table(PatientFlag), "plan": _table(MaintenancePlan), "patient": _table(Patient),
              "appointment": _table(Appointment)}
    with transaction.atomic():
        _one_run_at_a_time()
        _end_pauses(now)
        # Resolved before any is raised: open overdue flags whose plan is no longer overdue (or
        # gone, or not active), the open flags against the overdue plans, both read by their
        # partial indexes. A flag raised below is for an overdue plan, so it need not be looked
        # at again; and a patient whose old plan's flag closes here and whose new plan is
        # overdue is flagged in this run, not the next.
        still_overdue = MaintenancePlan.objects.filter(pk=OuterRef("plan_id"), status=MaintenancePlan.Status.ACTIVE,
                                                       overdue_after__lte=now)
        resolved = (
            PatientFlag.objects.open().filter(kind=overdue).filter(~Exists(still_overdue))
            .update(resolved_at=now, resolution_note=SYSTEM_RESOLVED)
        )
        with connection.cursor() as cursor:
            cursor.execute(RAISE_OVERDUE.format(**tables), [
                overdue, _when(now), MaintenancePlan.Status.ACTIVE, _when(now), Patient.Status.ACTIVE, overdue,
            ])
            raised = cursor.rowcount
            cursor.execute(RAISE_MISSED.format(**tables), {
                "missed": missed, "now": _when(now), "epoch": _when(EPOCH),
                "completed": Appointment.Status.COMPLETED, "no_show": Appointment.Status.NO_SHOW,
                "since": _when(_missed_since(now)),
                "window": _when(now - datetime.timedelta(days=settings.TMS_MISSED_WINDOW_DAYS)),
            })
            raised += cursor.rowcount
        JobMark.objects.bulk_create([JobMark(job=MISSED_MARK, reached=now)], update_conflicts=True,
                                    unique_fields=["job"], update_fields=["reached"])
    return {"raised": raised, "resolved": resolved}
