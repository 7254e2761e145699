"""Outcomes pages for staff: entering a PHQ-9, starting and changing maintenance plans, what
the patient page shows of outcomes, and the clinic's relapse report with its CSV export."""

import csv
import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db import IntegrityError
from django.db.models import Exists, OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from patients.models import Assessment, MaintenancePlan, Patient, PatientFlag, TreatmentCourse
from patients.services import course_outcome, record_assessment
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, staff_required

from . import adherence, charts
from .models import Appointment
from .outcomes_forms import (
    DEFAULT_MONTHS,
    PHQ9_QUESTION,
    ChoosePlanTemplateForm,
    EndPlanForm,
    OutcomesReportForm,
    PausePlanForm,
    PhaseFormSet,
    PHQ9Form,
    StartPlanForm,
)
from .services import TREATMENT_KINDS

LIVE_PLAN_STATUSES = (MaintenancePlan.Status.ACTIVE, MaintenancePlan.Status.PAUSED)
ALREADY_ON_A_PLAN = "This patient already has an active or paused maintenance plan: end it before starting another."
NO_COMPLETED_COURSE = "A maintenance plan starts from a completed acute course, and this patient has none."
REPORT_READERS = (CLINICIAN, CLINIC_ADMIN)
HORIZON_MONTHS = (3, 6, 12)


# --- PHQ-9 -----------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def phq9(request, uuid):
    person = get_object_or_404(Patient.objects.select_related("primary_clinician"), uuid=uuid)
    form = PHQ9Form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        assessment = record_assessment(
            patient=person, items=form.items, source=Assessment.Source.STAFF, by=request.user,
            difficulty=form.cleaned_data["difficulty"],
        )
        if assessment.endorses_self_harm:
            clinician = person.primary_clinician
            who = (clinician.get_full_name() or clinician.username) if clinician else "the clinic's clinicians"
            messages.error(
                request,
                f"Safety: question 9 (thoughts of being better off dead or of self-harm) was answered above "
                f"“not at all”. A safety flag was raised and {who} has been e-mailed to review today.",
            )
        messages.success(request, f"PHQ-9 saved: {assessment.total}, {assessment.get_band_display().lower()}.")
        return redirect("staff:patient", uuid=person.uuid)
    return render(request, "staff/outcomes/phq9.html", {"patient": person, "form": form, "question": PHQ9_QUESTION},
                  status=400 if form.is_bound else 200)


# --- Maintenance plans -----------------------------------------------------------------------


def _has_live_plan(person):
    return person.maintenance_plans.filter(status__in=LIVE_PLAN_STATUSES).exists()


def _latest_completed_acute(courses):
    """The course a new plan follows on from, from the patient's courses newest first."""
    return next(
        (c for c in courses if c.kind == TreatmentCourse.Kind.ACUTE and c.status == TreatmentCourse.Status.COMPLETED),
        None,
    )


@staff_required(CLINICIAN)
@require_http_methods(["GET", "POST"])
def plan_start(request, uuid):
    """Two steps: choose a template (?template=), then adjust its phases for this patient."""
    person = get_object_or_404(Patient.objects.select_related("home_clinic"), uuid=uuid)
    source = _latest_completed_acute(person.courses.select_related("protocol").order_by("-start_date"))
    refusal = NO_COMPLETED_COURSE if source is None else ALREADY_ON_A_PLAN if _has_live_plan(person) else None
    if refusal:
        messages.error(request, refusal)
        return redirect("staff:patient", uuid=person.uuid)
    clinic = person.home_clinic
    chooser = ChoosePlanTemplateForm(request.GET if "template" in request.GET else None)
    if not chooser.is_valid():
        return render(request, "staff/outcomes/plan_template.html",
                      {"patient": person, "source": source, "form": chooser})
    template = chooser.cleaned_data["template"]
    if request.method == "POST":
        form = StartPlanForm(request.POST, clinic=clinic)
        phases = PhaseFormSet(request.POST, prefix="phases")
        if form.is_valid() and phases.is_valid():
            try:
                plan = adherence.start_plan(
                    patient=person, protocol=source.protocol, template=template, source_course=source,
                    started_on=form.cleaned_data["started_on"], grace_days=form.cleaned_data["grace_days"],
                    phases=phases.phases,
                )
            except IntegrityError:
                # Someone else started a plan for this patient since the check above.
                messages.error(request, ALREADY_ON_A_PLAN)
            else:
                messages.success(request, f"Maintenance plan started: first visit due {plan.next_due_on:%-d %b %Y}.")
            return redirect("staff:patient", uuid=person.uuid)
    else:
        form = StartPlanForm(initial={"started_on": clinic.today(), "grace_days": template.grace_days}, clinic=clinic)
        phases = PhaseFormSet(prefix="phases", initial=[
            {"interval_days": p.interval_days, "sessions_per_visit": p.sessions_per_visit, "visits": p.visits}
            for p in template.phases.all()
        ])
    return render(request, "staff/outcomes/plan_start.html", {
        "patient": person, "source": source, "template": template, "form": form, "phases": phases,
    }, status=400 if form.is_bound else 200)


def _plan(pk):
    return get_object_or_404(MaintenancePlan.objects.select_related("patient__home_clinic"), pk=pk)


def _render_plan_action(request, plan, form, action):
    return render(request, "staff/outcomes/plan_action.html", {
        "plan": plan, "patient": plan.patient, "form": form, "action": action,
    }, status=400 if form.is_bound else 200)


@staff_required(CLINICIAN)
@require_http_methods(["GET", "POST"])
def plan_pause(request, pk):
    plan = _plan(pk)
    if plan.status == MaintenancePlan.Status.ENDED:
        messages.error(request, "This plan has ended; it cannot be paused.")
        return redirect("staff:patient", uuid=plan.patient.uuid)
    form = PausePlanForm(request.POST if request.method == "POST" else None, clinic=plan.patient.home_clinic)
    if request.method == "POST" and form.is_valid():
        until = form.cleaned_data["until"]
        adherence.pause_plan(plan, until=until)
        messages.success(request, f"Plan paused until {until:%-d %b %Y}." if until else "Plan paused until resumed.")
        return redirect("staff:patient", uuid=plan.patient.uuid)
    return _render_plan_action(request, plan, form, "pause")


@staff_required(CLINICIAN)
@require_POST
def plan_resume(request, pk):
    plan = _plan(pk)
    if plan.status != MaintenancePlan.Status.PAUSED:
        messages.error(request, "Only a paused plan can be resumed.")
    else:
        adherence.resume_plan(plan)
        messages.success(request, "Plan resumed.")
    return redirect("staff:patient", uuid=plan.patient.uuid)


@staff_required(CLINICIAN)
@require_http_methods(["GET", "POST"])
def plan_end(request, pk):
    plan = _plan(pk)
    if plan.status == MaintenancePlan.Status.ENDED:
        messages.error(request, "This plan has already ended.")
        return redirect("staff:patient", uuid=plan.patient.uuid)
    form = EndPlanForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        adherence.end_plan(plan, reason=form.cleaned_data["reason"])
        messages.success(request, "Plan ended.")
        return redirect("staff:patient", uuid=plan.patient.uuid)
    return _render_plan_action(request, plan, form, "end")


# --- Outcomes on the patient page ------------------------------------------------------------


def plan_timeline(plan, session_days):
    """Visits done, the phase the next visit belongs to, and each phase's progress, from the
    clinic-local days of the plan's completed sessions (oldest first)."""
    phases = list(plan.phases.all())
    visits, last_visit_on = plan.visits_from_sessions(session_days, phases)
    current = None if plan.status == MaintenancePlan.Status.ENDED else plan.phase_for_visit(visits, phases)
    rows, before = [], 0
    for number, phase in enumerate(phases, start=1):
        done = max(0, visits - before)
        if phase.visits is not None:
            done = min(done, phase.visits)
        rows.append({"number": number, "phase": phase, "done": done, "current": phase is current,
                     "finished": phase.visits is not None and done == phase.visits})
        before += phase.visits or 0
    return {"plan": plan, "visits": visits, "last_visit_on": last_visit_on, "phases": rows,
            "current": next((row for row in rows if row["current"]), None)}


def patient_outcomes(person, courses):
    """The patient page's outcomes: each course's response and remission, the maintenance
    plan's timeline and the PHQ-9 chart. ``courses`` are the patient's, newest first. Three
    queries (four with a plan, for its phases) however long the history."""
    clinic = person.home_clinic
    today = clinic.today()
    assessments = list(person.assessments.order_by("taken_at"))
    sessions = [
        (clinic.local(starts_at).date(), course_id, plan_id)
        for starts_at, course_id, plan_id in Appointment.objects.filter(
            patient=person, status=Appointment.Status.COMPLETED, kind__in=TREATMENT_KINDS,
        ).order_by("starts_at").values_list("starts_at", "course_id", "plan_id")
    ]
    plan = person.maintenance_plans.select_related("template").prefetch_related("phases").first()

    course_rows = []
    for course in courses:
        outcome = course_outcome(course, assessments)
        course_days = [day for day, course_id, _ in sessions if course_id == course.pk]
        if course.ended_on:
            end = course.ended_on
        elif course.status == TreatmentCourse.Status.ACTIVE:
            end = today
        else:
            end = course_days[-1] if course_days else course.start_date
        latest_on = clinic.local(outcome["latest"].taken_at).date() if outcome["latest"] else None
        course_rows.append({"course": course, "outcome": outcome, "start": course.start_date, "end": end,
                            "latest_on": latest_on, "label": f"{course.get_kind_display()} course"})

    chart = None
    if assessments:
        chart = charts.phq9_chart(
            scores=[(clinic.local(a.taken_at).date(), a.total) for a in assessments],
            sessions=[day for day, _, _ in sessions],
            courses=list(reversed(course_rows)),
            maintenance_from=plan.started_on if plan else None,
            until=today,
        )
    return {
        "assessments": assessments,
        "phq9_chart": chart,
        "course_outcomes": course_rows,
        "timeline": plan_timeline(plan, [day for day, _, plan_id in sessions if plan_id == plan.pk]) if plan else None,
        "can_start_plan": (plan is None or plan.status == MaintenancePlan.Status.ENDED)
        and _latest_completed_acute(courses) is not None,
    }


# --- The clinic outcomes report --------------------------------------------------------------


class CohortRow(NamedTuple):
    mrn: str
    clinic: str
    started_on: datetime.date
    lapsed: bool
    relapse_on: datetime.date | None
    censored_on: datetime.date | None

    @property
    def days(self):
        return ((self.relapse_on or self.censored_on) - self.started_on).days

    @property
    def group(self):
        return "lapsed" if self.lapsed else "on_schedule"


def relapse_cohort(*, clinic, started_by, today):
    """Each patient whose first maintenance plan started on or before ``started_by``, with
    whether that plan ever had an overdue flag (lapsed), and the first relapse after its
    start: a worsening-symptoms flag or a reintroduction course. Without one, follow-up is
    censored when the plan ended, or today. One query, whatever the number of patients."""
    first_plan = MaintenancePlan.objects.filter(patient=OuterRef("patient")).order_by("started_on", "pk")
    worsening = PatientFlag.objects.filter(
        patient=OuterRef("patient"), kind=PatientFlag.Kind.WORSENING_SYMPTOMS,
        raised_at__date__gte=OuterRef("started_on"),
    ).order_by("raised_at")
    reintroduction = TreatmentCourse.objects.filter(
        patient=OuterRef("patient"), kind=TreatmentCourse.Kind.REINTRODUCTION, start_date__gte=OuterRef("started_on")
    ).order_by("start_date")
    plans = (
        MaintenancePlan.objects.filter(pk=Subquery(first_plan.values("pk")[:1]), started_on__lte=started_by)
        .annotate(
            lapsed=Exists(PatientFlag.objects.filter(plan=OuterRef("pk"), kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)),
            worsened_at=Subquery(worsening.values("raised_at")[:1]),
            reintroduced_on=Subquery(reintroduction.values("start_date")[:1]),
        )
        .order_by("started_on", "pk")
    )
    if clinic is not None:
        plans = plans.filter(patient__home_clinic=clinic)
    rows = []
    for plan in plans.values("patient__mrn", "patient__home_clinic__name", "patient__home_clinic__time_zone",
                             "started_on", "ended_on", "lapsed", "worsened_at", "reintroduced_on"):
        worsened_on = (
            timezone.localtime(plan["worsened_at"], ZoneInfo(plan["patient__home_clinic__time_zone"])).date()
            if plan["worsened_at"] else None
        )
        relapse_on = min(filter(None, (worsened_on, plan["reintroduced_on"])), default=None)
        rows.append(CohortRow(
            mrn=plan["patient__mrn"], clinic=plan["patient__home_clinic__name"], started_on=plan["started_on"],
            lapsed=plan["lapsed"], relapse_on=relapse_on,
            censored_on=None if relapse_on else min(plan["ended_on"] or today, today),
        ))
    return rows


def horizon_days(months):
    return round(months * charts.DAYS_PER_MONTH)


def summarise(rows, key, label):
    """A group's share relapsed within each horizon, among those whose status at it is known
    (relapsed by then, or followed that long), and its Kaplan–Meier relapse-free estimate."""
    durations = [row.days for row in rows]
    events = [row.relapse_on is not None for row in rows]
    steps = charts.kaplan_meier(durations, events)
    horizons = []
    for months in HORIZON_MONTHS:
        limit = horizon_days(months)
        relapsed = known = 0
        for days, event in zip(durations, events, strict=True):
            if event and days <= limit:
                relapsed += 1
                known += 1
            elif days >= limit:
                known += 1
        at_risk = sum(1 for days in durations if days >= limit)
        estimate = charts.survival_at(steps, limit)
        horizons.append({
            "months": months, "relapsed": relapsed, "known": known, "share": relapsed / known if known else None,
            "at_risk": at_risk,
            # Past everyone's follow-up the estimate is unknown, unless everyone had relapsed.
            "relapse_free": estimate if at_risk or estimate == 0 else None,
        })
    return {"key": key, "label": label, "n": len(rows), "relapsed": sum(events), "durations": durations,
            "events": events, "steps": steps, "horizons": horizons}


def _cohort_for(request):
    form = OutcomesReportForm(request.GET)
    # An invalid filter shows its error and is ignored; the valid one still applies.
    form.is_valid()
    clinic = form.cleaned_data.get("clinic")
    months = form.cleaned_data.get("months")
    months = DEFAULT_MONTHS if months is None else months
    today = clinic.today() if clinic else timezone.localdate()
    started_by = today - datetime.timedelta(days=horizon_days(months))
    return form, clinic, months, today, relapse_cohort(clinic=clinic, started_by=started_by, today=today)


@staff_required(*REPORT_READERS)
def outcomes_report(request):
    form, clinic, months, today, rows = _cohort_for(request)
    groups = [
        summarise([row for row in rows if not row.lapsed], "on-schedule", "Stayed on schedule"),
        summarise([row for row in rows if row.lapsed], "lapsed", "Lapsed (had an overdue flag)"),
    ]
    return render(request, "staff/outcomes/report.html", {
        "form": form, "clinic": clinic, "months": months, "today": today, "groups": groups,
        "chart": charts.survival_chart(groups) if rows else None, "horizon_months": HORIZON_MONTHS,
        "csv_query": request.GET.urlencode(),
    })


def _csv_cell(text):
    # A cell starting with = + - or @ is a formula to a spreadsheet; MRNs are typed by staff.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


@staff_required(*REPORT_READERS)
def outcomes_csv(request):
    _, clinic, _, today, rows = _cohort_for(request)
    name = f"outcomes-{slugify(clinic.name) if clinic else 'all-clinics'}-{today:%Y-%m-%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    writer = csv.writer(response)
    writer.writerow(["mrn", "clinic", "plan_started_on", "group", "relapse_on", "censored_on", "days_followed"])
    for row in rows:
        writer.writerow([
            _csv_cell(row.mrn), _csv_cell(row.clinic), row.started_on, row.group,
            row.relapse_on or "", row.censored_on or "", row.days,
        ])
    return response
