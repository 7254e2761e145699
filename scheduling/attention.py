"""The "needs attention" worklist: every open flag, safety first, then the patients longest
off their maintenance schedule, with what staff need to act — book, call, snooze, resolve."""

import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, OuterRef, Prefetch, Q, Subquery, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from patients.models import MaintenancePlan, OutreachAttempt, PatientFlag
from patients.services import resolve_flag
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, roles_of, staff_required

from . import services
from .attention_forms import OutreachForm, ResolveForm, SnoozeForm, WorklistFilterForm
from .models import Appointment, Clinic
from .views import BOOKERS

# Technicians run the chairs; following patients up is the front desk's and clinicians' work.
FOLLOW_UP = (FRONT_DESK, CLINICIAN, CLINIC_ADMIN)
# Closing these is a clinical judgement (CLINICAL.md: item 9 needs a clinician's review today).
CLINICAL_KINDS = (PatientFlag.Kind.SAFETY, PatientFlag.Kind.WORSENING_SYMPTOMS)
PAGE_SIZE = 50
SUGGEST_WITHIN = datetime.timedelta(days=21)


# --- Which flags, in which order -------------------------------------------------------------


def _today_in(time_zone, now):
    return timezone.localtime(now, ZoneInfo(time_zone)).date()


def awake(clinics, now):
    """Flags not hidden by a snooze. A snooze ends as its day begins in the patient's home
    clinic, so "hide until Monday" shows the flag on Monday morning wherever the clinic is."""
    clinics_by_today = {}
    for clinic in clinics:
        clinics_by_today.setdefault(_today_in(clinic.time_zone, now), []).append(clinic.pk)
    condition = Q(snoozed_until__isnull=True)
    for today, clinic_ids in clinics_by_today.items():
        condition |= Q(patient__home_clinic__in=clinic_ids, snoozed_until__lte=today)
    return condition


def open_flag_counts():
    """How many open flags the worklist shows, and how many of them are safety flags: one
    query, grouped by clinic zone and snooze day so each snooze ends in its clinic's time."""
    now = timezone.now()
    rows = (
        PatientFlag.objects.filter(resolved_at__isnull=True)
        .values_list("patient__home_clinic__time_zone", "snoozed_until")
        .annotate(flags=Count("pk"), safety=Count("pk", filter=Q(kind=PatientFlag.Kind.SAFETY)))
        .order_by()
    )
    counts = {"total": 0, "safety": 0}
    for time_zone, snoozed_until, flags, safety in rows:
        if snoozed_until is None or snoozed_until <= _today_in(time_zone, now):
            counts["total"] += flags
            counts["safety"] += safety
    return counts


def open_flags(clinics, now):
    """Open, awake flags with everything a row shows, in a fixed number of queries: the last
    session and next booking as subqueries, the live plan and latest outreach prefetched."""
    patient_sessions = Appointment.objects.filter(patient=OuterRef("patient"))
    last_session = patient_sessions.filter(status=Appointment.Status.COMPLETED).order_by("-starts_at")
    next_booking = patient_sessions.filter(
        status__in=[Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN], starts_at__gte=now
    ).order_by("starts_at")
    active_plan = MaintenancePlan.objects.filter(patient=OuterRef("patient"), status=MaintenancePlan.Status.ACTIVE)
    live_plans = MaintenancePlan.objects.filter(
        status__in=[MaintenancePlan.Status.ACTIVE, MaintenancePlan.Status.PAUSED]
    ).select_related("template", "protocol")
    return (
        PatientFlag.objects.filter(resolved_at__isnull=True)
        .filter(awake(clinics, now))
        .select_related("patient__home_clinic")
        .annotate(
            last_session_at=Subquery(last_session.values("starts_at")[:1]),
            next_booking_at=Subquery(next_booking.values("starts_at")[:1]),
            next_booking_uuid=Subquery(next_booking.values("uuid")[:1]),
            overdue_after=Subquery(active_plan.values("overdue_after")[:1]),
            safety_first=Case(When(kind=PatientFlag.Kind.SAFETY, then=Value(0)), default=Value(1)),
        )
        # The longest overdue first; a plan not yet due, or no plan, after every overdue one.
        .order_by("safety_first", F("overdue_after").asc(nulls_last=True), "raised_at", "pk")
        .prefetch_related(
            Prefetch("patient__maintenance_plans", queryset=live_plans, to_attr="live_plans"),
            Prefetch("outreach", queryset=OutreachAttempt.objects.select_related("by")[:1], to_attr="latest_outreach"),
        )
    )


def suggested_slot(plan):
    """The first free slot for the plan's protocol at the patient's home clinic, from the due
    date (or now, for a patient already overdue) within ``SUGGEST_WITHIN``, at a time the
    patient is not already booked."""
    clinic = plan.patient.home_clinic
    start = timezone.now()
    if plan.next_due_on is not None:
        start = max(start, datetime.datetime.combine(plan.next_due_on, datetime.time(0), tzinfo=clinic.tz))
    end = start + SUGGEST_WITHIN
    slots = services.find_open_slots(clinic=clinic, protocol=plan.protocol, start=start, end=end)
    busy = list(Appointment.objects.live().filter(patient=plan.patient).between(start, end)
                .values_list("starts_at", "ends_at"))
    return next(
        (slot for slot in slots if not any(a < slot.ends_at and slot.starts_at < b for a, b in busy)), None
    )


# --- Pages -----------------------------------------------------------------------------------


def _back(request):
    """The worklist as it was filtered: action URLs carry its query string."""
    query = request.GET.urlencode()
    return reverse("staff:attention") + (f"?{query}" if query else "")


def _form_id(flag):
    # Every row has its own forms: their field ids must not collide.
    return f"flag{flag.pk}-%s"


@staff_required
def worklist(request):
    now = timezone.now()
    clinics = list(Clinic.objects.all())
    filters = WorklistFilterForm(request.GET, clinics=clinics)
    # An invalid filter shows its error and is ignored; the valid ones still apply.
    filters.is_valid()
    wanted = filters.cleaned_data
    flags = open_flags(clinics, now)
    if wanted.get("clinic"):
        flags = flags.filter(patient__home_clinic_id=wanted["clinic"])
    if wanted.get("kind"):
        flags = flags.filter(kind=wanted["kind"])
    page = Paginator(flags, PAGE_SIZE).get_page(request.GET.get("page"))
    for flag in page:
        clinic = flag.patient.home_clinic
        flag.live_plan = plan = flag.patient.live_plans[0] if flag.patient.live_plans else None
        flag.days_overdue = plan.days_overdue if plan else 0
        flag.outreach_form = OutreachForm(auto_id=_form_id(flag))
        flag.snooze_form = SnoozeForm(auto_id=_form_id(flag), today=clinic.today())
        flag.resolve_form = ResolveForm(auto_id=_form_id(flag))
    held = roles_of(request.user)
    return render(request, "staff/attention.html", {
        "filters": filters,
        "page": page,
        "can_book": bool(held & set(BOOKERS)),
        "can_follow_up": bool(held & set(FOLLOW_UP)),
        "is_clinician": CLINICIAN in held,
        "clinical_kinds": CLINICAL_KINDS,
    })


def _open_flag(request, pk):
    """The flag, or None (with a message) when someone has resolved it meanwhile."""
    flag = get_object_or_404(PatientFlag.objects.select_related("patient__home_clinic"), pk=pk)
    if not flag.is_open:
        messages.info(request, f"The flag “{flag.get_kind_display()}” for {flag.patient.full_name} is already "
                               "resolved.")
        return None
    return flag


def _refuse(request, form):
    """Say what was wrong with a row's form; the row is left as it was."""
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return redirect(_back(request))


# A GET: it changes nothing, it only opens the booking form on the suggested slot.
@staff_required(*BOOKERS)
def book_next(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    patient = flag.patient
    plan = patient.maintenance_plans.filter(status=MaintenancePlan.Status.ACTIVE).select_related("protocol").first()
    if plan is None:
        messages.error(request, f"{patient.full_name} has no active maintenance plan to book a session of.")
        return redirect(_back(request))
    slot = suggested_slot(plan)
    if slot is None:
        messages.warning(request, f"No chair is free for {patient.full_name} at {patient.home_clinic.name} "
                                  f"in the {SUGGEST_WITHIN.days} days from the due date.")
        return redirect(_back(request))
    starts_at = patient.home_clinic.local(slot.starts_at)
    query = urlencode({"patient": patient.uuid, "chair": slot.chair.pk, "starts_at": starts_at.isoformat(),
                       "kind": Appointment.Kind.MAINTENANCE})
    return redirect(f"{reverse('staff:book')}?{query}")


@staff_required(*FOLLOW_UP)
@require_POST
def log_outreach(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    form = OutreachForm(request.POST, instance=OutreachAttempt(flag=flag, by=request.user))
    if not form.is_valid():
        return _refuse(request, form)
    attempt = form.save()
    messages.success(request, f"Logged for {flag.patient.full_name}: {attempt.get_channel_display()}, "
                              f"{attempt.get_outcome_display().lower()}.")
    return redirect(_back(request))


@staff_required(*FOLLOW_UP)
@require_POST
def snooze(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    if flag.kind == PatientFlag.Kind.SAFETY:
        messages.error(request, "A safety flag needs a clinician's review today; it cannot be snoozed.")
        return redirect(_back(request))
    form = SnoozeForm(request.POST, today=flag.patient.home_clinic.today())
    if not form.is_valid():
        return _refuse(request, form)
    until = form.cleaned_data["until"]
    if PatientFlag.objects.filter(pk=flag.pk, resolved_at__isnull=True).update(snoozed_until=until):
        messages.success(request, f"{flag.patient.full_name} is off the worklist until {until:%a} {until.day} "
                                  f"{until:%b}.")
    else:
        messages.info(request, f"The flag for {flag.patient.full_name} was resolved meanwhile.")
    return redirect(_back(request))


@staff_required(*FOLLOW_UP)
@require_POST
def resolve(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    if flag.kind in CLINICAL_KINDS and CLINICIAN not in roles_of(request.user):
        messages.error(request, f"Only a clinician can resolve a flag “{flag.get_kind_display()}”.")
        return redirect(_back(request))
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return _refuse(request, form)
    if resolve_flag(flag, by=request.user, note=form.cleaned_data["note"]):
        messages.success(request, f"Resolved “{flag.get_kind_display()}” for {flag.patient.full_name}.")
    else:
        messages.info(request, f"The flag for {flag.patient.full_name} was resolved meanwhile.")
    return redirect(_back(request))
