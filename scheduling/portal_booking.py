"""Patients book, cancel and move their own maintenance sessions from the portal.

Bookings go through ``services.book_appointment`` like the front desk's, so the database keeps
them race-safe; the portal adds the plan's rules (window, notice, how many, one a day) and
picks the chair itself, so a patient never sees chairs or other patients. The patient's row is
locked while the rules are checked and the booking made: two tabs posting at once are
serialised and the second sees the first's booking.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from patients.models import MaintenancePlan, Patient, TreatmentCourse
from tmsclinic.roles import FRONT_DESK, patient_required

from . import services
from .models import Appointment, Chair

log = logging.getLogger(__name__)

LIVE = (Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN)
BOOKABLE_KINDS = (Appointment.Kind.MAINTENANCE, Appointment.Kind.REINTRODUCTION)


class Refusal(Exception):
    """The patient cannot do this; the message says why in their words. Nothing changed."""


@dataclass
class Offer:
    """What a patient may book from the portal: one kind of session, in one window."""

    kind: str
    protocol: object
    clinic: object
    opens: datetime.datetime  # first moment a session may start
    closes: datetime.datetime  # a session must end by then
    several_a_day: bool
    plan: MaintenancePlan | None = None
    course: TreatmentCourse | None = None

    @property
    def duration(self):
        return datetime.timedelta(minutes=self.protocol.chair_minutes)

    @property
    def label(self):
        return "maintenance session" if self.kind == Appointment.Kind.MAINTENANCE else "reintroduction session"


def _day(moment_or_date):
    return f"{moment_or_date:%A} {moment_or_date.day} {moment_or_date:%B}"


def _midnight(clinic, day):
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=clinic.tz)


def _call(clinic):
    return f"please call the clinic on {clinic.phone}" if clinic.phone else "please call the clinic"


def maintenance_offer(patient, now=None):
    """The maintenance session the patient may book now, or Refusal saying why not."""
    now = now or timezone.now()
    clinic = patient.home_clinic
    plan = (
        MaintenancePlan.objects.filter(patient=patient, status=MaintenancePlan.Status.ACTIVE)
        .select_related("protocol").first()
    )
    if plan is None or plan.next_due_on is None:
        raise Refusal(f"You have no maintenance session to book at the moment. For any other visit, {_call(clinic)}.")
    first_day = plan.next_due_on - datetime.timedelta(days=settings.TMS_PORTAL_BOOK_DAYS_BEFORE)
    last_day = plan.next_due_on + datetime.timedelta(days=plan.grace_days)
    opens, closes = _midnight(clinic, first_day), _midnight(clinic, last_day + datetime.timedelta(days=1))
    if now >= closes:
        raise Refusal(
            f"Your maintenance session was due on {_day(plan.next_due_on)}. To book it now, {_call(clinic)}."
        )
    phases = list(plan.phases.all())
    completed_days = [
        clinic.local(moment).date()
        for moment in Appointment.objects.filter(plan=plan, status=Appointment.Status.COMPLETED)
        .order_by("starts_at").values_list("starts_at", flat=True)
    ]
    completed_visits, _ = plan.visits_from_sessions(completed_days, phases)
    phase = plan.phase_for_visit(completed_visits, phases)
    cluster = phase is not None and phase.sessions_per_visit > 1
    return Offer(
        kind=Appointment.Kind.MAINTENANCE, protocol=plan.protocol, clinic=clinic, opens=opens, closes=closes,
        several_a_day=cluster or plan.protocol.sessions_per_day > 1, plan=plan,
    )


def reintroduction_offer(patient, now=None):
    """Reintroduction sessions, when staff allow this patient to book them, or Refusal."""
    now = now or timezone.now()
    clinic = patient.home_clinic
    course = None
    if patient.may_book_reintroduction:
        course = (
            TreatmentCourse.objects.filter(patient=patient, kind=TreatmentCourse.Kind.REINTRODUCTION,
                                           status=TreatmentCourse.Status.ACTIVE)
            .select_related("protocol").first()
        )
    if course is None:
        raise Refusal(f"Reintroduction sessions are booked by the clinic: {_call(clinic)}.")
    last_day = clinic.today() + datetime.timedelta(days=settings.TMS_PORTAL_REINTRODUCTION_DAYS_AHEAD)
    return Offer(
        kind=Appointment.Kind.REINTRODUCTION, protocol=course.protocol, clinic=clinic,
        opens=_midnight(clinic, clinic.today()), closes=_midnight(clinic, last_day + datetime.timedelta(days=1)),
        several_a_day=course.protocol.sessions_per_day > 1, course=course,
    )


def offer_for(patient, kind, now=None):
    if kind == Appointment.Kind.REINTRODUCTION:
        return reintroduction_offer(patient, now)
    if kind == Appointment.Kind.MAINTENANCE:
        return maintenance_offer(patient, now)
    raise Refusal("Only maintenance sessions can be booked here.")


def window_text(offer):
    last_day = (offer.closes - datetime.timedelta(days=1)).date()
    return f"between {_day(offer.opens)} and {_day(last_day)}"


def _upcoming(patient, now, moving=None):
    """The patient's live appointments that have not ended, except the one being moved."""
    rows = Appointment.objects.filter(patient=patient, status__in=LIVE, ends_at__gt=now).select_related("clinic")
    if moving is not None:
        rows = rows.exclude(pk=moving.pk)
    return list(rows)


def _limit_reached(offer, upcoming):
    if len(upcoming) >= settings.TMS_PORTAL_MAX_FUTURE_BOOKINGS:
        count = len(upcoming)
        return (
            f"You already have {count} upcoming session{'s' if count != 1 else ''} booked, the most you can "
            "book online. You can book another once one has taken place, or you can cancel one."
        )
    return None


def _refusal(offer, starts_at, upcoming, now):
    """Why the patient may not book ``starts_at``, or None."""
    clinic = offer.clinic
    ends_at = starts_at + offer.duration
    if starts_at < now + datetime.timedelta(hours=settings.TMS_PORTAL_MIN_NOTICE_HOURS):
        return (
            f"Sessions must be booked at least {settings.TMS_PORTAL_MIN_NOTICE_HOURS} hours ahead. "
            f"For a sooner time, {_call(clinic)}."
        )
    if starts_at < offer.opens or ends_at > offer.closes:
        return f"Your {offer.label} can be booked {window_text(offer)}."
    if reason := _limit_reached(offer, upcoming):
        return reason
    if any(a.starts_at < ends_at and a.ends_at > starts_at for a in upcoming):
        return "You already have a session at that time."
    day = clinic.local(starts_at).date()
    if not offer.several_a_day and any(a.clinic.local(a.starts_at).date() == day for a in upcoming):
        return f"You already have a session on {_day(day)}. Only one session a day can be booked."
    return None


def bookable_times(offer, patient, now=None, moving=None, upcoming=None):
    """The start times the patient may choose, in order, with no chair attached."""
    now = now or timezone.now()
    upcoming = _upcoming(patient, now, moving) if upcoming is None else upcoming
    if _limit_reached(offer, upcoming):
        return []
    earliest = max(offer.opens, now + datetime.timedelta(hours=settings.TMS_PORTAL_MIN_NOTICE_HOURS))
    slots = services.find_open_slots(clinic=offer.clinic, protocol=offer.protocol, start=earliest, end=offer.closes)
    times = sorted({slot.starts_at for slot in slots})
    return [t for t in times if _refusal(offer, t, upcoming, now) is None]


def by_day(clinic, times):
    """[(day, [local times])] in the clinic's time, for the slot list."""
    days = {}
    for moment in times:
        local = clinic.local(moment)
        days.setdefault(local.date(), []).append(local)
    return list(days.items())


def _free_chairs(offer, starts_at):
    chairs = list(Chair.objects.filter(clinic=offer.clinic, active=True))
    slots = services.open_slots(clinic=offer.clinic, duration=offer.duration, start=starts_at,
                                end=starts_at + offer.duration, chairs=chairs)
    return [slot.chair for slot in slots if slot.starts_at == starts_at]


TAKEN = "Sorry, that time is no longer free. Please choose another time."


def _place(offer, starts_at, book):
    """Book on the first chair free at ``starts_at``; the next one if someone beats us to it."""
    refusal = None
    for chair in _free_chairs(offer, starts_at):
        try:
            return book(chair)
        except services.SlotUnavailable as error:
            refusal = error
            log.info("portal booking on %s refused: %s", chair.pk, error.message)
    if refusal is not None and "authorised" in refusal.message:
        raise Refusal(f"All the sessions authorised for this course are booked or given: {_call(offer.clinic)}.")
    raise Refusal(TAKEN)


def book_slot(*, patient, kind, starts_at, user, now=None):
    """Book one session for the patient at ``starts_at``, or raise Refusal. The view's one
    call, and what the concurrency test races."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        now = now or timezone.now()
        offer = offer_for(patient, kind, now)
        if reason := _refusal(offer, starts_at, _upcoming(patient, now), now):
            raise Refusal(reason)
        return _place(offer, starts_at, lambda chair: services.book_appointment(
            patient=patient, chair=chair, starts_at=starts_at, kind=offer.kind, booked_by=user,
            course=offer.course, plan=offer.plan, via=Appointment.Via.PORTAL,
        ))


def _may_change(appointment, now):
    cutoff = appointment.starts_at - datetime.timedelta(hours=settings.TMS_CANCEL_NOTICE_HOURS)
    return appointment.status == Appointment.Status.BOOKED and now <= cutoff


def _too_late(appointment):
    return (
        f"It is less than {settings.TMS_CANCEL_NOTICE_HOURS} hours before this appointment, so it can no longer "
        f"be changed online. To change it, {_call(appointment.clinic)}."
    )


def _front_desk_addresses():
    if settings.TMS_FRONT_DESK_EMAILS:
        return list(settings.TMS_FRONT_DESK_EMAILS)
    return list(
        get_user_model().objects.filter(groups__name=FRONT_DESK, is_active=True).exclude(email="")
        .values_list("email", flat=True).distinct()
    )


def _when(clinic, moment):
    local = clinic.local(moment)
    return f"{_day(local)} {local.year} at {local:%H:%M}"


def _tell_front_desk(patient, clinic, old_start, new_start=None):
    """E-mail the front desk once the change has committed. Only the MRN and the times: no
    clinical detail travels by e-mail."""
    moved = f" and moved it to {_when(clinic, new_start)}" if new_start else ""
    subject = f"Portal: {'rescheduled' if new_start else 'cancelled'} appointment ({patient.mrn})"
    body = (
        f"Patient {patient.mrn} cancelled their appointment at {clinic.name} on {_when(clinic, old_start)}"
        f"{moved} (clinic time), from the patient portal.\n"
    )

    def send():
        recipients = _front_desk_addresses()
        if not recipients:
            log.warning("portal change for patient %s: no front-desk address to tell", patient.pk)
            return
        try:
            send_mail(subject, body, from_email=None, recipient_list=recipients)
        except Exception:  # the change stands; the front desk sees it on the day list anyway
            log.exception("could not tell the front desk about a portal change")

    transaction.on_commit(send)


def cancel(*, patient, appointment, user, now=None):
    now = now or timezone.now()
    with transaction.atomic():
        if not _may_change(appointment, now):
            raise Refusal(_too_late(appointment) if appointment.status == Appointment.Status.BOOKED
                          else "This appointment cannot be cancelled.")
        try:
            services.cancel_appointment(appointment, by=user, reason="Cancelled by the patient in the portal")
        except services.AppointmentStateError as error:
            raise Refusal(error.message) from error
        _tell_front_desk(patient, appointment.clinic, appointment.starts_at)


def reschedule(*, patient, appointment, starts_at, user, now=None):
    """Move the appointment to ``starts_at`` under the same rules as a new booking."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        now = now or timezone.now()
        if not _may_change(appointment, now):
            raise Refusal(_too_late(appointment))
        offer = offer_for(patient, appointment.kind, now)
        if reason := _refusal(offer, starts_at, _upcoming(patient, now, moving=appointment), now):
            raise Refusal(reason)

        def move(chair):
            return services.reschedule_appointment(appointment, chair=chair, starts_at=starts_at, by=user,
                                                   via=Appointment.Via.PORTAL)

        try:
            new = _place(offer, starts_at, move)
        except services.AppointmentStateError as error:
            raise Refusal(error.message) from error
        _tell_front_desk(patient, appointment.clinic, appointment.starts_at, new.starts_at)
        return new


# --- Views -----------------------------------------------------------------------------------


def _posted_time(request):
    """The chosen start from the form, or Refusal: the value is whatever the browser sent."""
    try:
        moment = datetime.datetime.fromisoformat(request.POST.get("slot", ""))
    except ValueError:
        moment = None
    if moment is None or timezone.is_naive(moment):
        raise Refusal("Please choose one of the times listed.")
    return moment


def _kind(request, source):
    kind = source.get("kind") or Appointment.Kind.MAINTENANCE
    return kind if kind in BOOKABLE_KINDS else Appointment.Kind.MAINTENANCE


def _slot_page(request, *, offer_or_reason, moving=None, kind):
    patient = request.patient
    clinic = patient.home_clinic
    context = {"clinic": clinic, "moving": moving, "kind": kind, "days": [], "reason": None, "offer": None,
               "can_reintroduce": patient.may_book_reintroduction}
    if isinstance(offer_or_reason, Refusal):
        context["reason"] = str(offer_or_reason)
    else:
        offer = offer_or_reason
        now = timezone.now()
        context["offer"] = offer
        context["window"] = window_text(offer)
        upcoming = _upcoming(patient, now, moving)
        context["reason"] = _limit_reached(offer, upcoming)
        times = bookable_times(offer, patient, now, moving, upcoming)
        context["days"] = by_day(clinic, times)
        if moving is not None:
            context["moving_start"] = clinic.local(moving.starts_at)
    # Template filters show aware times in the current zone: make it the clinic's.
    with timezone.override(clinic.tz):
        return render(request, "portal/book.html", context)


@patient_required
def book(request):
    kind = _kind(request, request.GET)
    try:
        offer = offer_for(request.patient, kind)
    except Refusal as refusal:
        offer = refusal
    return _slot_page(request, offer_or_reason=offer, kind=kind)


@patient_required
def book_slot_view(request):
    kind = _kind(request, request.POST)
    if request.method != "POST":
        return redirect(f"{reverse('portal:book')}?kind={kind}")
    try:
        appointment = book_slot(patient=request.patient, kind=kind, starts_at=_posted_time(request),
                                user=request.user)
    except Refusal as refusal:
        messages.error(request, str(refusal))
        return redirect(f"{reverse('portal:book')}?kind={kind}")
    local = appointment.clinic.local(appointment.starts_at)
    messages.success(request, f"Booked: {_day(local)} at {local:%H:%M}.")
    return redirect("portal:appointment", uuid=appointment.uuid)


def _own_appointment(request, uuid):
    return get_object_or_404(
        Appointment.objects.select_related("clinic"), uuid=uuid, patient=request.patient
    )


@patient_required
def appointment_detail(request, uuid):
    appointment = _own_appointment(request, uuid)
    now = timezone.now()
    clinic = appointment.clinic
    with timezone.override(clinic.tz):
        return render(request, "portal/book_appointment.html", {
            "appointment": appointment,
            "clinic": clinic,
            "local_start": clinic.local(appointment.starts_at),
            "upcoming": appointment.status in LIVE and appointment.ends_at > now,
            "may_change": _may_change(appointment, now),
            "may_move": _may_change(appointment, now) and appointment.kind in BOOKABLE_KINDS,
            "notice_hours": settings.TMS_CANCEL_NOTICE_HOURS,
        })


@patient_required
def cancel_view(request, uuid):
    appointment = _own_appointment(request, uuid)
    if request.method != "POST":
        return redirect("portal:appointment", uuid=appointment.uuid)
    try:
        cancel(patient=request.patient, appointment=appointment, user=request.user)
    except Refusal as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "Your appointment is cancelled. The clinic has been told.")
    return redirect("portal:appointment", uuid=appointment.uuid)


@patient_required
def reschedule_view(request, uuid):
    appointment = _own_appointment(request, uuid)
    if appointment.kind not in BOOKABLE_KINDS:
        messages.error(request, f"This appointment can only be moved by the clinic: {_call(appointment.clinic)}.")
        return redirect("portal:appointment", uuid=appointment.uuid)
    if not _may_change(appointment, timezone.now()):
        messages.error(request, _too_late(appointment) if appointment.status == Appointment.Status.BOOKED
                       else "This appointment cannot be moved.")
        return redirect("portal:appointment", uuid=appointment.uuid)
    if request.method == "POST":
        try:
            new = reschedule(patient=request.patient, appointment=appointment, starts_at=_posted_time(request),
                             user=request.user)
        except Refusal as refusal:
            messages.error(request, str(refusal))
            return redirect("portal:reschedule", uuid=appointment.uuid)
        local = new.clinic.local(new.starts_at)
        messages.success(request, f"Moved to {_day(local)} at {local:%H:%M}.")
        return redirect("portal:appointment", uuid=new.uuid)
    try:
        offer = offer_for(request.patient, appointment.kind)
    except Refusal as refusal:
        offer = refusal
    return _slot_page(request, offer_or_reason=offer, moving=appointment, kind=appointment.kind)
