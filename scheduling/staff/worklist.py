"""The "needs attention" worklist: every open flag, safety first, then the patients longest
off their maintenance schedule, with what staff need to act — book, call, snooze, resolve."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from patients.models import OutreachAttempt
from patients.selectors import flag_for, walled
from patients.services import CLINICAL_KINDS, FlagRefused, resolve_flag, snooze_flag, why_not_snooze
from tmsclinic.roles import BOOK, CLINICAL_READ, CLINICAL_WRITE, FOLLOW_UP, SEE_PATIENTS, may, staff_required

from .. import selectors
from ..models import Appointment, Clinic
from .forms import OutreachForm, ResolveForm, SnoozeForm, WorklistFilterForm

PAGE_SIZE = 50


# --- Pages -----------------------------------------------------------------------------------


def _back(request):
    """The worklist as it was filtered: action URLs carry its query string."""
    query = request.GET.urlencode()
    return reverse("staff:attention") + (f"?{query}" if query else "")


def _form_id(flag):
    # Every row has its own forms: their field ids must not collide.
    return f"flag{flag.pk}-%s"


@staff_required(SEE_PATIENTS)
def worklist(request):
    now = timezone.now()
    clinics = list(Clinic.objects.visible_to(request.user))
    filters = WorklistFilterForm(request.GET, clinics=clinics, clinical=may(request.user, CLINICAL_READ))
    # An invalid filter shows its error and is ignored; the valid ones still apply.
    filters.is_valid()
    wanted = filters.cleaned_data
    flags = walled(request, selectors.open_flags(clinics, now))
    if wanted.get("clinic"):
        flags = flags.filter(patient__home_clinic_id=wanted["clinic"])
    if filters.kinds():
        flags = flags.filter(kind__in=filters.kinds())
    page = Paginator(flags, PAGE_SIZE).get_page(request.GET.get("page"))
    for flag in page:
        clinic = flag.patient.home_clinic
        flag.live_plan = plan = flag.patient.live_plans[0] if flag.patient.live_plans else None
        flag.days_overdue = plan.days_overdue if plan else 0
        flag.outreach_form = OutreachForm(auto_id=_form_id(flag))
        flag.snooze_form = SnoozeForm(auto_id=_form_id(flag), today=clinic.today())
        flag.resolve_form = ResolveForm(auto_id=_form_id(flag))
    return render(request, "staff/attention.html", {
        "filters": filters,
        "page": page,
        "clinical_kinds": CLINICAL_KINDS,
    })


def _open_flag(request, pk):
    """The flag, or None (with a message) when someone has resolved it meanwhile."""
    flag = flag_for(request, pk)
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
@staff_required(BOOK)
def book_next(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    patient = flag.patient
    plan = patient.maintenance_plans.active().select_related("protocol").first()
    if plan is None:
        messages.error(request, f"{patient.full_name} has no active maintenance plan to book a session of.")
        return redirect(_back(request))
    slot = selectors.suggested_slot(plan)
    if slot is None:
        messages.warning(request, f"No chair is free for {patient.full_name} at {patient.home_clinic.name} "
                                  f"in the {selectors.SUGGEST_WITHIN.days} days from the due date.")
        return redirect(_back(request))
    starts_at = patient.home_clinic.local(slot.starts_at)
    query = urlencode({"patient": patient.uuid, "chair": slot.chair.pk, "starts_at": starts_at.isoformat(),
                       "kind": Appointment.Kind.MAINTENANCE})
    return redirect(f"{reverse('staff:book')}?{query}")


@staff_required(FOLLOW_UP)
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


@staff_required(FOLLOW_UP)
@require_POST
def snooze(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    if reason := why_not_snooze(flag):
        messages.error(request, reason)
        return redirect(_back(request))
    form = SnoozeForm(request.POST, today=flag.patient.home_clinic.today())
    if not form.is_valid():
        return _refuse(request, form)
    until = form.cleaned_data["until"]
    try:
        snoozed = snooze_flag(flag, until=until)
    except FlagRefused as refusal:  # the clinic's day turned since the form was checked
        messages.error(request, refusal.message)
        return redirect(_back(request))
    if snoozed:
        messages.success(request, f"{flag.patient.full_name} is off the worklist until {until:%a} {until.day} "
                                  f"{until:%b}.")
    else:
        messages.info(request, f"The flag for {flag.patient.full_name} was resolved meanwhile.")
    return redirect(_back(request))


@staff_required(FOLLOW_UP)
@require_POST
def resolve(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    if flag.kind in CLINICAL_KINDS and not may(request.user, CLINICAL_WRITE):
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
