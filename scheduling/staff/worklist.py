"""The "needs attention" worklist: every open flag, safety first, then the patients longest
off their maintenance schedule, with what staff need to act — book, call, snooze, resolve."""

import calendar
import functools
from typing import NamedTuple
from urllib.parse import urlencode

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_form
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from patients.models import OutreachAttempt
from patients.selectors import flag_for, walled
from patients.services import CLINICAL_KINDS, FlagRefused, resolve_flag, snooze_flag, why_not_snooze
from tmsclinic.roles import BOOK, CLINICAL_READ, CLINICAL_WRITE, FOLLOW_UP, SEE_PATIENTS, may, staff_required

from .. import selectors, services
from ..models import Appointment, Chair, Clinic, OutreachMessage
from ..services import SlotUnavailable, outreach
from ..services.calendar import short_when
from .forms import OutreachForm, ResolveForm, SendMessageForm, SnoozeForm, SuggestedSlotForm, WorklistFilterForm

# 20 rows keep the page under 150 KB (issue 15; benchmarks/bench_pages.py).
PAGE_SIZE = 20
# A follow-up form is drawn once a page with this in its field ids, then given each row's.
ROW = "flagROW-"


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
    # The flags' order costs two subqueries a flag; what a row shows, five more. The first query
    # orders every flag by their ids (its length is the count); the second reads the page's rows.
    page = Paginator(list(flags.prefetch_related(None).values_list("pk", flat=True)), PAGE_SIZE).get_page(
        request.GET.get("page"))
    page.object_list = list(flags.filter(pk__in=page.object_list))
    templates = list(outreach.templates_for_staff())
    choices = tuple((template.pk, template.name) for template in templates)
    for flag in page:
        flag.live_plan = plan = flag.patient.live_plans[0] if flag.patient.live_plans else None
        flag.days_overdue = plan.days_overdue if plan else 0
        flag.outreach_form = _for_row(flag, "outreach")
        flag.snooze_form = _for_row(flag, "snooze")
        flag.resolve_form = _for_row(flag, "resolve")
        flag.message_form = _for_row(flag, "message", flag.patient.preferred_channel, choices)
        flag.cadence = cadence_state(flag)
    return render(request, "staff/attention.html", {
        "filters": filters,
        "page": page,
        "to_act_on": [flag for flag in page if not flag.awaiting_visit],
        "awaiting_visit": [flag for flag in page if flag.awaiting_visit],
        "clinical_kinds": CLINICAL_KINDS,
        # The worklist's filters, carried by every row's actions (what {% querystring %} gives).
        "back_query": f"?{request.GET.urlencode()}" if request.GET else "",
    })


class _Choice(NamedTuple):
    pk: int
    name: str


@functools.lru_cache(maxsize=64)
def _drawn(form, channel=None, choices=()):
    """A follow-up form as crispy-forms draws it with ROW in its field ids. Their HTML depends
    on nothing but the form, the preferred channel and the message templates offered (the
    snooze form's today only validates), so each is drawn once a process, not once a page
    (crispy-forms drew 80 of them on 20 rows: most of the page's time)."""
    if form == "outreach":
        drawn = OutreachForm(auto_id=f"{ROW}%s")
    elif form == "snooze":
        drawn = SnoozeForm(auto_id=f"{ROW}%s", today=None)
    elif form == "resolve":
        drawn = ResolveForm(auto_id=f"{ROW}%s")
    else:
        drawn = SendMessageForm(auto_id=f"{ROW}%s", templates=[_Choice(*choice) for choice in choices],
                                initial={"channel": channel})
    return str(as_crispy_form(drawn))


def _for_row(flag, form, *args):
    """The drawn form with the row's ids: the same HTML as drawing it with auto_id=_form_id(flag)."""
    # The ids are the row's flag number: nothing a person typed.
    return mark_safe(_drawn(form, *args).replace(ROW, _form_id(flag) % ""))  # noqa: S308


def cadence_state(flag):
    """What the worklist says of a flag's outreach: (wording, style) or None. A call task is to
    do until someone logs an outreach attempt after it; a patient's call-back request likewise."""
    attempt = flag.latest_outreach[0] if flag.latest_outreach else None
    if attempt is not None and attempt.outcome == OutreachAttempt.Outcome.CALLBACK:
        return "Asked to be called back", "warning"
    if flag.patient.outreach_opt_out_at:
        return "Asked for no more messages: call instead", "secondary"
    message = flag.latest_message[0] if flag.latest_message else None
    if message is None:
        return None
    day = f"day {message.step_day}" if message.step_day is not None else "by hand"
    if message.channel == OutreachMessage.Channel.CALL:
        if message.status == OutreachMessage.Status.SENT and (attempt is None or attempt.at < message.sent_at):
            return f"Call task ({day})", "warning"
        return None
    if message.status == OutreachMessage.Status.PENDING:
        return f"{message.get_channel_display()} to go ({day})", "light"
    if message.status == OutreachMessage.Status.SKIPPED:
        return f"Not sent ({day}): {message.last_error}", "light"
    if message.status == OutreachMessage.Status.FAILED:
        return f"{message.get_channel_display()} failed ({day}): {message.last_error}", "danger"
    if message.appointment_id:
        return "Booked from the link", "success"
    return None


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


def _booking_link(patient, slot, back):
    """The full booking form on the slot, for another time or chair (the kind from the
    patient's state), coming back to the worklist once booked."""
    query = {"patient": patient.uuid, "next": back}
    if slot is not None:
        query.update(chair=slot.chair.pk, starts_at=patient.home_clinic.local(slot.starts_at).isoformat())
    return f"{reverse('staff:book')}?{urlencode(query)}"


# A GET shows the suggested slot and changes nothing; the POST books it and goes back to the
# worklist, where the patient now waits under "Booked — awaiting visit".
@staff_required(BOOK)
@require_http_methods(["GET", "POST"])
def book_next(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    patient = flag.patient
    clinic = patient.home_clinic
    plan = patient.maintenance_plans.active().select_related("protocol").first()
    if plan is None:
        messages.error(request, f"{patient.full_name} has no active maintenance plan to book a session of.")
        return redirect(_back(request))
    chairs = Chair.objects.filter(clinic=clinic, active=True)
    if request.method == "POST":
        form = SuggestedSlotForm(request.POST, chairs=chairs)
        if form.is_valid():
            try:
                appointment = services.book_appointment(
                    patient=patient, chair=form.cleaned_data["chair"], starts_at=form.cleaned_data["starts_at"],
                    kind=Appointment.Kind.MAINTENANCE, booked_by=request.user, plan=plan,
                )
            except SlotUnavailable as refusal:
                messages.error(request, f"{refusal.message} Here is the next suggestion.")
            else:
                messages.success(request, f"Booked {patient.full_name} on {appointment.chair.name}, "
                                          f"{short_when(clinic, appointment.starts_at)}: they wait under "
                                          "“Booked — awaiting visit” until the session is done.")
                return redirect(_back(request))
        else:
            for errors in form.errors.values():
                messages.error(request, " ".join(errors))
    usual = selectors.usual_time(patient, clinic)
    slot = selectors.suggested_slot(plan, usual)
    if slot is None:
        messages.warning(request, f"No chair is free for {patient.full_name} at {clinic.name} "
                                  f"in the {selectors.SUGGEST_WITHIN.days} days from the due date.")
        return redirect(_back(request))
    return render(request, "staff/attention_book.html", {
        "flag": flag,
        "patient": patient,
        "plan": plan,
        "slot": slot,
        "starts_at": clinic.local(slot.starts_at),
        "usual": usual and {"weekday": calendar.day_name[usual[0]], "time": usual[1]},
        "form": SuggestedSlotForm(initial={"chair": slot.chair, "starts_at": slot.starts_at.isoformat()},
                                  chairs=chairs),
        "other_times": _booking_link(patient, slot, _back(request)),
        "back": _back(request),
    })


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
def send_message(request, pk):
    flag = _open_flag(request, pk)
    if flag is None:
        return redirect(_back(request))
    form = SendMessageForm(request.POST, templates=list(outreach.templates_for_staff()))
    if not form.is_valid():
        return _refuse(request, form)
    channel = form.cleaned_data["channel"]
    try:
        outreach.send_by_hand(flag, template=form.cleaned_data["template"], channel=channel, user=request.user)
    except outreach.SendRefused as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"“{form.cleaned_data['template'].name}” goes to {flag.patient.full_name} by "
                                  f"{'SMS' if channel == 'sms' else 'e-mail'} within the minute (in the morning if "
                                  "it is quiet hours), with their self-booking link.")
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
