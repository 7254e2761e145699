"""What a patient may do in the portal: book, cancel and move their own sessions, send a PHQ-9,
act on a reminder's link; and their portal account (invitation, demo accounts).

Bookings go through ``book_appointment`` like the front desk's, so the database keeps
them race-safe; the portal adds the plan's rules (window, notice, how many, one a day) and
picks the chair itself, so a patient never sees chairs or other patients. The patient's row is
locked while the rules are checked and the booking made: two tabs posting at once are
serialised and the second sees the first's booking.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from patients.models import Assessment, MaintenancePlan, Patient, PatientFlag, TreatmentCourse
from tmsclinic.celery import enqueue_after_commit
from tmsclinic.inputs import one_line
from tmsclinic.links import absolute_url
from tmsclinic.roles import FRONT_DESK, role_members

from ..models import Appointment, Chair
from .booking import (
    AppointmentStateError,
    SlotUnavailable,
    book_appointment,
    cancel_appointment,
    find_open_slots,
    open_slots,
    reschedule_appointment,
)
from .calendar import after, long_day, long_when, midnight, short_when
from .plans import completed_visit_days

log = logging.getLogger(__name__)

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
    after_lapse: bool = False  # a maintenance visit booked past its grace days

    @property
    def duration(self):
        return datetime.timedelta(minutes=self.protocol.chair_minutes)

    @property
    def label(self):
        return "maintenance session" if self.kind == Appointment.Kind.MAINTENANCE else "reintroduction session"


def please_call(clinic):
    return f"please call the clinic on {clinic.phone}" if clinic.phone else "please call the clinic"


def booking_opens_on(plan):
    """The first day the patient may book the plan's next visit in the portal."""
    return plan.next_due_on - datetime.timedelta(days=settings.TMS_PORTAL_BOOK_DAYS_BEFORE)


def portal_booking_note(patient, plan):
    """What staff are told, once a plan starts, of the patient booking its first visit in the
    portal: from when, or that they need an invitation first."""
    if plan.next_due_on is None:
        return ""
    if patient.user_id is None or not patient.user.is_active:
        return "They have no portal account: invite them to the portal to let them book it there."
    opens = booking_opens_on(plan)
    if opens <= patient.home_clinic.today():
        return "They can book it in the portal now."
    return f"They can book it in the portal from {long_day(opens)}."


def maintenance_offer(patient, now=None):
    """The maintenance session the patient may book now, or Refusal saying why not."""
    now = now or timezone.now()
    clinic = patient.home_clinic
    plan = MaintenancePlan.objects.active().filter(patient=patient).select_related("protocol").first()
    if plan is None or plan.next_due_on is None:
        raise Refusal(
            f"You have no maintenance session to book at the moment. For any other visit, {please_call(clinic)}."
        )
    first_day = booking_opens_on(plan)
    last_day = plan.next_due_on + datetime.timedelta(days=plan.grace_days)
    opens, closes = midnight(clinic, first_day), midnight(clinic, last_day + datetime.timedelta(days=1))
    after_lapse = now >= closes
    if after_lapse:
        today = clinic.local(now).date()
        if (today - plan.next_due_on).days > settings.TMS_PORTAL_LAPSED_CALL_DAYS:
            raise Refusal(
                f"Your maintenance session was due on {long_day(plan.next_due_on)}. As it has been a while, "
                f"{please_call(clinic)}: your clinician may want to see you before you book."
            )
        # Lapsed, not for long: the next visit may be booked from today, within a short window.
        opens = midnight(clinic, today)
        closes = midnight(clinic, today + datetime.timedelta(days=settings.TMS_PORTAL_LAPSED_BOOK_DAYS + 1))
    phases = list(plan.phases.all())
    completed_visits, _ = plan.visits_from_sessions(completed_visit_days(plan, clinic), phases)
    phase = plan.phase_for_visit(completed_visits, phases)
    cluster = phase is not None and phase.sessions_per_visit > 1
    return Offer(
        kind=Appointment.Kind.MAINTENANCE, protocol=plan.protocol, clinic=clinic, opens=opens, closes=closes,
        several_a_day=cluster or plan.protocol.sessions_per_day > 1, plan=plan, after_lapse=after_lapse,
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
        raise Refusal(f"Reintroduction sessions are booked by the clinic: {please_call(clinic)}.")
    last_day = clinic.today() + datetime.timedelta(days=settings.TMS_PORTAL_REINTRODUCTION_DAYS_AHEAD)
    return Offer(
        kind=Appointment.Kind.REINTRODUCTION, protocol=course.protocol, clinic=clinic,
        opens=midnight(clinic, clinic.today()), closes=midnight(clinic, last_day + datetime.timedelta(days=1)),
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
    return f"between {long_day(offer.opens)} and {long_day(last_day)}"


def upcoming_for(patient, now, moving=None):
    """The patient's live appointments that have not ended, except the one being moved."""
    rows = Appointment.objects.to_come().filter(patient=patient, ends_at__gt=now).select_related("clinic")
    if moving is not None:
        rows = rows.exclude(pk=moving.pk)
    return list(rows)


def limit_reached(offer, upcoming):
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
    ends_at = after(starts_at, offer.duration)
    if starts_at < now + datetime.timedelta(hours=settings.TMS_PORTAL_MIN_NOTICE_HOURS):
        return (
            f"Sessions must be booked at least {settings.TMS_PORTAL_MIN_NOTICE_HOURS} hours ahead. "
            f"For a sooner time, {please_call(clinic)}."
        )
    if starts_at < offer.opens or ends_at > offer.closes:
        return f"Your {offer.label} can be booked {window_text(offer)}."
    if reason := limit_reached(offer, upcoming):
        return reason
    if any(a.starts_at < ends_at and a.ends_at > starts_at for a in upcoming):
        return "You already have a session at that time."
    day = clinic.local(starts_at).date()
    if not offer.several_a_day and any(a.clinic.local(a.starts_at).date() == day for a in upcoming):
        return f"You already have a session on {long_day(day)}. Only one session a day can be booked."
    return None


def bookable_times(offer, patient, now=None, moving=None, upcoming=None):
    """The start times the patient may choose, in order, with no chair attached."""
    now = now or timezone.now()
    upcoming = upcoming_for(patient, now, moving) if upcoming is None else upcoming
    if limit_reached(offer, upcoming):
        return []
    earliest = max(offer.opens, now + datetime.timedelta(hours=settings.TMS_PORTAL_MIN_NOTICE_HOURS))
    slots = find_open_slots(clinic=offer.clinic, protocol=offer.protocol, start=earliest, end=offer.closes,
                            any_chair=True)
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
    slots = open_slots(clinic=offer.clinic, duration=offer.duration, start=starts_at,
                                end=after(starts_at, offer.duration), chairs=chairs)
    return [slot.chair for slot in slots if slot.starts_at == starts_at]


TAKEN = "Sorry, that time is no longer free. Please choose another time."


def _place(offer, starts_at, book):
    """Book on the first chair free at ``starts_at``; the next one if someone beats us to it."""
    refusal = None
    for chair in _free_chairs(offer, starts_at):
        try:
            return book(chair)
        except SlotUnavailable as error:
            refusal = error
            log.info("portal booking on %s refused: %s", chair.pk, error.message)
    if refusal is not None and "authorised" in refusal.message:
        raise Refusal(
            f"All the sessions authorised for this course are booked or given: {please_call(offer.clinic)}."
        )
    raise Refusal(TAKEN)


def book_slot(*, patient, kind, starts_at, user, now=None):
    """Book one session for the patient at ``starts_at``, or raise Refusal. The view's one
    call, and what the concurrency test races."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        now = now or timezone.now()
        offer = offer_for(patient, kind, now)
        if reason := _refusal(offer, starts_at, upcoming_for(patient, now), now):
            raise Refusal(reason)
        appointment = _place(offer, starts_at, lambda chair: book_appointment(
            patient=patient, chair=chair, starts_at=starts_at, kind=offer.kind, booked_by=user,
            course=offer.course, plan=offer.plan, via=Appointment.Via.PORTAL,
        ))
        if offer.after_lapse:
            _mark_booked_after_lapse(appointment)
        return appointment


def _mark_booked_after_lapse(appointment):
    """Staff are told a lapsed patient came back by themselves: the appointment says so, and so
    does the open overdue flag the worklist shows."""
    appointment.booked_after_lapse = True
    appointment.save(update_fields=["booked_after_lapse"])
    note = f"Booked in the portal after a lapse, for {short_when(appointment.clinic, appointment.starts_at)}."
    for flag in PatientFlag.objects.filter(patient=appointment.patient_id, plan=appointment.plan_id,
                                           kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, resolved_at=None):
        flag.detail = f"{flag.detail} {note}".strip()
        flag.save(update_fields=["detail"])


def may_change(appointment, now):
    cutoff = appointment.starts_at - datetime.timedelta(hours=settings.TMS_CANCEL_NOTICE_HOURS)
    return appointment.status == Appointment.Status.BOOKED and now <= cutoff


def too_late(appointment):
    return (
        f"It is less than {settings.TMS_CANCEL_NOTICE_HOURS} hours before this appointment, so it can no longer "
        f"be changed online. To change it, {please_call(appointment.clinic)}."
    )


def _front_desk_addresses(clinic):
    """The setting's addresses, else the front desk of the clinic concerned (not the chain's)."""
    if settings.TMS_FRONT_DESK_EMAILS:
        return list(settings.TMS_FRONT_DESK_EMAILS)
    return list(
        role_members(FRONT_DESK).filter(is_active=True, clinic_memberships__clinic=clinic).exclude(email="")
        .values_list("email", flat=True).distinct()
    )


def _tell_front_desk(patient, clinic, old_start, new_start=None):
    """E-mail the front desk once the change has committed. Only the MRN and the times: no
    clinical detail travels by e-mail."""
    moved = f" and moved it to {long_when(clinic, new_start)}" if new_start else ""
    subject = one_line(f"Portal: {'rescheduled' if new_start else 'cancelled'} appointment ({patient.mrn})")
    body = (
        f"Patient {patient.mrn} cancelled their appointment at {clinic.name} on {long_when(clinic, old_start)}"
        f"{moved} (clinic time), from the patient portal.\n"
    )

    def send():
        recipients = _front_desk_addresses(clinic)
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
        if not may_change(appointment, now):
            raise Refusal(too_late(appointment) if appointment.status == Appointment.Status.BOOKED
                          else "This appointment cannot be cancelled.")
        try:
            cancel_appointment(appointment, by=user, reason="Cancelled by the patient in the portal")
        except AppointmentStateError as error:
            raise Refusal(error.message) from error
        _tell_front_desk(patient, appointment.clinic, appointment.starts_at)


def reschedule(*, patient, appointment, starts_at, user, now=None):
    """Move the appointment to ``starts_at`` under the same rules as a new booking."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        now = now or timezone.now()
        if not may_change(appointment, now):
            raise Refusal(too_late(appointment))
        offer = offer_for(patient, appointment.kind, now)
        if reason := _refusal(offer, starts_at, upcoming_for(patient, now, moving=appointment), now):
            raise Refusal(reason)

        def move(chair):
            return reschedule_appointment(appointment, chair=chair, starts_at=starts_at, by=user,
                                                   via=Appointment.Via.PORTAL)

        try:
            new = _place(offer, starts_at, move)
        except AppointmentStateError as error:
            raise Refusal(error.message) from error
        _tell_front_desk(patient, appointment.clinic, appointment.starts_at, new.starts_at)
        return new


# --- The link in a reminder (no login) --------------------------------------------------------

LINK_CANCEL_REASON = "Cancelled by the patient from a reminder"


def link_actions_open(appointment, now=None):
    """Whether a reminder's link may still confirm or cancel: the session is to come and has
    not begun."""
    now = now or timezone.now()
    return appointment.status in Appointment.TO_COME and appointment.starts_at > now


def link_cancel_cutoff(appointment):
    return appointment.starts_at - datetime.timedelta(hours=settings.TMS_CANCEL_NOTICE_HOURS)


def confirm_from_link(appointment):
    """The patient confirms from the reminder; the first confirmation's time is kept."""
    Appointment.objects.filter(pk=appointment.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())


def cancel_from_link(appointment, now=None):
    """Cancel from the reminder's link. Returns None when cancelled, else why not: "too-late"
    (within the notice hours) or "not-live" (someone changed it meanwhile)."""
    now = now or timezone.now()
    if now > link_cancel_cutoff(appointment):
        return "too-late"
    try:
        cancel_appointment(appointment, by=None, reason=LINK_CANCEL_REASON)
    except AppointmentStateError:
        return "not-live"
    return None


# --- PHQ-9 from the portal --------------------------------------------------------------------


def next_check_in(patient):
    """When the patient may next send a PHQ-9 from the portal, or None if they may now."""
    last = patient.assessments.filter(source=Assessment.Source.PORTAL).order_by("-taken_at").first()
    if last is None:
        return None
    next_at = last.taken_at + datetime.timedelta(days=settings.TMS_PORTAL_PHQ9_EVERY_DAYS)
    return next_at if next_at > timezone.now() else None


# --- Accounts ---------------------------------------------------------------------------------


class InviteRefused(Exception):
    """The patient cannot be invited; the message says why, in staff words."""


def portal_account_for(patient):
    """The patient's portal user, created (username = e-mail, no usable password) and linked
    if they have none yet. Raises InviteRefused when the patient cannot have one."""
    if patient.status == Patient.Status.DISCHARGED:
        raise InviteRefused("This patient is discharged: discharged patients cannot use the portal.")
    email = patient.email.strip().lower()
    if not email:
        raise InviteRefused("Add the patient's e-mail address first: the invitation is sent by e-mail.")
    try:
        validate_email(email)  # the form checks it; data from before it did may not be
    except ValidationError:
        raise InviteRefused("The patient's e-mail address is not valid: correct it first.") from None
    User = get_user_model()
    with transaction.atomic():
        patient = Patient.objects.select_for_update(of=("self",)).select_related("user").get(pk=patient.pk)
        user = patient.user
        holder = User.objects.filter(username__iexact=email).exclude(pk=getattr(user, "pk", None)).first()
        if holder is not None:
            raise InviteRefused(f"Another account already uses {email}: ask a clinic admin to sort it out.")
        if user is None:
            user = User(username=email, email=email)
            user.set_unusable_password()
            user.save()
            patient.user = user
            patient.save(update_fields=["user", "updated_at"])
        elif user.username != email:
            user.username = user.email = email
            user.save(update_fields=["username", "email"])
    return user


def open_portal_account(patient, *, password):
    """A portal account with a known password and no invitation: for seed_demo and scripts."""
    user = portal_account_for(patient)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def set_password_link(user):
    return absolute_url(reverse("portal:set-password", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user),
    }))


INVITATION_TASK = "scheduling.tasks.send_portal_invitation"


def invite_patient(patient):
    """Create or reuse the patient's portal account, and have the worker e-mail them a one-time
    link to set their password once the transaction commits (it expires after
    PASSWORD_RESET_TIMEOUT): a mail server that is slow or down never holds up or fails the
    staff's request. Refusals (InviteRefused) are told at once. Returns the user."""
    user = portal_account_for(patient)
    enqueue_after_commit(INVITATION_TASK, kwargs={"patient_id": patient.pk})
    return user


def send_invitation(patient_id):
    """The worker's half of :func:`invite_patient`: the link is made now, from the account as it
    is. Nothing is sent to a patient discharged meanwhile, or whose account has gone or lost its
    address. Returns whether a message went."""
    patient = Patient.objects.select_related("home_clinic", "user").filter(pk=patient_id).first()
    user = patient.user if patient is not None else None
    if user is None or not user.is_active or not user.email or patient.status == Patient.Status.DISCHARGED:
        return False
    context = {
        "patient": patient, "clinic": patient.home_clinic, "link": set_password_link(user),
        "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    send_mail(
        subject=one_line(render_to_string("portal/emails/invite_subject.txt", context)),
        message=render_to_string("portal/emails/invite.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
    return True
