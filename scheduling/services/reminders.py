"""The reminders outbox: rows written with the booking, sent by a beat task exactly once.

A ``Reminder`` row is written in the same transaction as the booking (``arm``, with the rows
``reminders_for`` builds, which ``seed_demo`` writes in bulk too), skipped in the same
transaction as a cancellation (``disarm``), and sent by ``send_due`` which claims rows before
sending them, so two workers never send the same one. Everything is decided from
database state at send time: consent, quiet hours, whether the session has begun.
"""

import datetime
import logging
import uuid
from collections import Counter

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape

from patients.models import MaintenancePlan, Patient, PatientFlag
from tmsclinic.celery import enqueue_after_commit
from tmsclinic.inputs import one_line
from tmsclinic.links import absolute_url
from tmsclinic.roles import CLINICIAN, role_members

from .. import sms
from ..models import Appointment, Reminder
from . import messaging

log = logging.getLogger(__name__)

LINK_SALT = "scheduling.reminder-link"
STUCK_AFTER = datetime.timedelta(minutes=15)
# Reminders claimed and sent together: one mail connection, one rendering per distinct
# context, a fixed number of queries.
BATCH = settings.TMS_REMINDER_BATCH


# --- Rules, in the clinic's own time ---------------------------------------------------------


def _time(text):
    hours, minutes = text.split(":")
    return datetime.time(int(hours), int(minutes))


def quiet_hours():
    start, end = settings.TMS_QUIET_HOURS.split("-")
    return _time(start), _time(end)


def in_quiet_hours(clinic, moment):
    start, end = quiet_hours()
    local = clinic.local(moment).time()
    return local >= start or local < end if start > end else start <= local < end


def end_of_quiet_hours(clinic, moment):
    """The first moment after ``moment`` when quiet hours end, in the clinic's zone."""
    _, end = quiet_hours()
    local = clinic.local(moment)
    day = local.date() if local.time() < end else local.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, end, tzinfo=clinic.tz)


def planned_times(appointment):
    """(kind, when) for each reminder of an appointment: the day before at the clinic's
    hour, and some hours before."""
    clinic = appointment.clinic
    at = clinic.reminder_day_before_at or _time(settings.TMS_REMINDER_DAY_BEFORE_AT)
    hours = clinic.reminder_hours_before if clinic.reminder_hours_before is not None else (
        settings.TMS_REMINDER_HOURS_BEFORE)
    day_before = clinic.local(appointment.starts_at).date() - datetime.timedelta(days=1)
    return [
        (Reminder.Kind.DAY_BEFORE, datetime.datetime.combine(day_before, at, tzinfo=clinic.tz)),
        (Reminder.Kind.HOURS_BEFORE, appointment.starts_at - datetime.timedelta(hours=hours)),
    ]


def usable_channels(patient):
    """Each channel: whether the patient consented to it and we have the address."""
    return {channel: can_reach(patient, channel) for channel in (Reminder.Channel.EMAIL, Reminder.Channel.SMS)}


def can_reach(patient, channel):
    """Whether the patient consented to ``channel`` and we have the address; only that one is
    looked at (an SMS number costs a parse to check)."""
    if channel == Reminder.Channel.EMAIL:
        return patient.email_consent and bool(patient.email)
    if channel == Reminder.Channel.SMS:
        return patient.sms_consent and bool(patient.phone)
    raise KeyError(channel)


def channel_for(patient):
    """The channel to use: the patient's preferred one if they consented to it and we have
    the address, else the other consented one, else None."""
    preferred = patient.preferred_channel
    channels = (Reminder.Channel.EMAIL, Reminder.Channel.SMS)
    for channel in (preferred, *(c for c in channels if c != preferred)):
        if channel in channels and can_reach(patient, channel):  # the other is looked at only if needed
            return channel
    return None


def _fit_quiet_hours(clinic, channel, when, deadline):
    """Move an SMS out of quiet hours to the morning; None when the morning is too late."""
    if channel != Reminder.Channel.SMS or not in_quiet_hours(clinic, when):
        return when
    morning = end_of_quiet_hours(clinic, when)
    return morning if morning < deadline else None


# --- Arming and disarming (inside the booking's transaction) ---------------------------------


def reminders_for(appointment, now):
    """The unsaved reminder rows of an appointment booked at ``now``, without writing or
    enqueueing anything. Reminders that can no longer go out are made skipped with the reason,
    so the delivery log tells staff why nothing was sent."""
    patient = appointment.patient
    channel = channel_for(patient)
    rows = []
    for kind, when in planned_times(appointment):
        row = Reminder(appointment=appointment, kind=kind, channel=channel or patient.preferred_channel,
                       scheduled_for=when)
        if channel is None:
            row.status, row.last_error = Reminder.Status.SKIPPED, "The patient has not agreed to be contacted."
        elif when <= now or when >= appointment.starts_at:
            row.status, row.last_error = Reminder.Status.SKIPPED, "Booked after this reminder was due."
        else:
            fitted = _fit_quiet_hours(appointment.clinic, channel, when, appointment.starts_at)
            if fitted is None:
                row.status, row.last_error = Reminder.Status.SKIPPED, "It would fall in quiet hours."
            else:
                row.scheduled_for = fitted
        rows.append(row)
    return rows


def arm(appointment, now=None):
    """Write the appointment's reminder rows, and ask for a run of the sending task when one
    is due within the minute."""
    now = now or timezone.now()
    rows = reminders_for(appointment, now)
    Reminder.objects.bulk_create(rows)
    # A reminder due before beat's next tick gets a run of its own at the moment it is due.
    soon = [row.scheduled_for for row in rows
            if row.status == Reminder.Status.PENDING and row.scheduled_for <= now + datetime.timedelta(minutes=1)]
    if soon:
        enqueue_after_commit("scheduling.tasks.send_due_reminders", eta=min(soon))
    return rows


def disarm(appointment, reason):
    return Reminder.objects.filter(appointment=appointment, status=Reminder.Status.PENDING).update(
        status=Reminder.Status.SKIPPED, last_error=reason
    )


# --- Messages ---------------------------------------------------------------------------------


def link_for(appointment):
    """A signed, expiring link to confirm or cancel without logging in."""
    token = signing.dumps(str(appointment.uuid), salt=LINK_SALT)
    return absolute_url(reverse("portal:reminder-link", args=[token]))


def portal_booking_link(patient):
    """The portal's booking page, for a patient who can log in there; else None. An account
    still waiting for its invitation to be taken up has no password to log in with."""
    user = patient.user
    if user is None or not user.is_active or not user.has_usable_password():
        return None
    return absolute_url(reverse("portal:book"))


def appointment_from_link(token):
    """The appointment a link is for, or None when the link is forged or expired."""
    try:
        value = signing.loads(token, salt=LINK_SALT, max_age=datetime.timedelta(days=settings.TMS_REMINDER_LINK_DAYS))
        key = uuid.UUID(value)
    except (signing.BadSignature, TypeError, ValueError, AttributeError):  # forged, expired, or not ours
        return None
    return Appointment.objects.select_related("clinic", "chair").filter(uuid=key).first()


def _context(reminder):
    if reminder.appointment_id:
        appointment = reminder.appointment
        clinic = appointment.clinic
        return {
            "clinic": clinic,
            "local_start": clinic.local(appointment.starts_at),
            "link": link_for(appointment),
            "kind": reminder.kind,
        }
    patient = reminder.plan.patient
    return {"clinic": patient.home_clinic, "due_on": reminder.due_on, "kind": reminder.kind,
            "book_link": portal_booking_link(patient)}


def _template_names(reminder):
    name = "maintenance_due" if reminder.kind == Reminder.Kind.MAINTENANCE_DUE else "appointment_reminder"
    if reminder.channel == Reminder.Channel.SMS:
        return (f"emails/{name}.sms.txt",)
    return (f"emails/{name}.subject.txt", f"emails/{name}.txt", f"emails/{name}.html")


def _render_parts(templates, channel, context):
    """(subject, text, html or None) from the compiled ``templates`` of ``_template_names``."""
    # Template filters show aware datetimes in the current zone: make it the clinic's.
    with timezone.override(context["clinic"].tz):
        if channel == Reminder.Channel.SMS:
            return None, templates[0].render(context).strip(), None
        subject, text, html = (template.render(context) for template in templates)
        return one_line(subject), text, html


def render(reminder):
    """(subject, text, html or None). No clinical detail: clinic, date, time, address, link."""
    templates = [get_template(name) for name in _template_names(reminder)]
    return _render_parts(templates, reminder.channel, _context(reminder))


class BatchRenderer:
    """Renders a batch's messages exactly as ``render`` does, for a fraction of its cost: each
    template is looked up once per batch, and rendered once per distinct context but for the
    link (the sessions of a clinic that start at the same time, a clinic's plans due the same
    day) with a stand-in for the link, which each message then gets in its place, escaped in
    HTML as the template would have escaped it."""

    STAND_IN = "tms-link-stand-in-7f3c9b"

    def __init__(self):
        self.templates = {}
        self.rendered = {}

    def __call__(self, reminder):
        context = _context(reminder)
        link_key = "link" if "link" in context else "book_link"
        link = context[link_key]
        if link is None:  # nothing to stand in for
            link_key = None
        names = _template_names(reminder)
        key = (names, tuple(sorted(
            (name, value.pk if name == "clinic" else value) for name, value in context.items() if name != link_key)))
        parts = self.rendered.get(key)
        if parts is None:
            templates = [self.templates.get(name) or self.templates.setdefault(name, get_template(name))
                         for name in names]
            if link_key is not None:
                context[link_key] = self.STAND_IN
            parts = self.rendered[key] = _render_parts(templates, reminder.channel, context)
        if link_key is None:
            return parts
        subject, text, html = parts
        return (subject and subject.replace(self.STAND_IN, link), text.replace(self.STAND_IN, link),
                html and html.replace(self.STAND_IN, conditional_escape(link)))


# --- Sending ----------------------------------------------------------------------------------


def _claim(now):
    """Take up to BATCH due rows for this worker (messaging.claim)."""
    return messaging.claim(Reminder.objects.filter(scheduled_for__lte=now), now=now, limit=BATCH,
                           order_by="scheduled_for")


def _superseded(rows, now):
    """Appointments whose hours-before reminder is due as well as their day-before one (a
    worker caught up late): only the later reminder goes, not two at once."""
    day_before = [r.appointment_id for r in rows if r.kind == Reminder.Kind.DAY_BEFORE]
    return set(
        Reminder.objects.filter(
            appointment__in=day_before, kind=Reminder.Kind.HOURS_BEFORE, scheduled_for__lte=now,
            status__in=(Reminder.Status.PENDING, Reminder.Status.SENDING, Reminder.Status.SENT),
        ).values_list("appointment_id", flat=True)
    ) if day_before else set()


def _why_not(reminder, now, superseded=()):
    """Why a claimed reminder must not go out now, or None."""
    appointment = reminder.appointment
    patient = appointment.patient if appointment else reminder.plan.patient
    if patient.status != Patient.Status.ACTIVE:
        return "The patient is discharged."
    # Consent is what counts: a reminder armed for a channel the patient still agrees to
    # goes out even if they have since come to prefer the other one.
    if not can_reach(patient, reminder.channel):
        return "The patient withdrew consent to this channel or removed the address."
    if appointment is not None:
        if appointment.status not in Appointment.TO_COME:
            return f"The appointment is {appointment.get_status_display().lower()}."
        if appointment.starts_at <= now:
            return "The session had already begun."
        if reminder.kind == Reminder.Kind.DAY_BEFORE and appointment.pk in superseded:
            return "The hours-before reminder was due too; only that one went out."
    elif reminder.plan.status != MaintenancePlan.Status.ACTIVE or reminder.plan.next_due_on != reminder.due_on:
        return "The plan changed since."
    return None


def _deliver(reminder, connection, sms_backend, render=render):
    subject, text, html = render(reminder)
    patient = reminder.appointment.patient if reminder.appointment_id else reminder.plan.patient
    messaging.deliver(patient, reminder.channel, subject, text, html, connection, sms_backend)


def send_due(now=None, hand_on=None):
    """Send every due reminder once. Returns counts by outcome. A fixed number of queries
    per batch of up to BATCH reminders.

    With ``hand_on`` (the task passes one that enqueues another run of itself), a run that has
    claimed a full batch calls it before sending that batch and, when it returns True, stops
    after the batch: the next batch is claimed by another run, on whichever worker is idle,
    while this one sends, so several workers share a backlog. When it returns False (the broker
    is down), this run goes on with the next batch itself."""
    now = now or timezone.now()
    # A row left "sending" by a worker that died may or may not have gone out: never resend it
    # blindly (a reminder twice loses trust), show it to staff, who can resend from admin.
    Reminder.objects.filter(status=Reminder.Status.SENDING, claimed_at__lt=now - STUCK_AFTER).update(
        status=Reminder.Status.FAILED,
        last_error="A worker stopped while sending it; not resent automatically. Resend it if needed.",
    )
    counts = {"sent": 0, "skipped": 0, "retry": 0, "failed": 0, "held": 0}
    while ids := _claim(now):
        rows = list(
            Reminder.objects.filter(pk__in=ids).select_related(
                "appointment__patient", "appointment__clinic", "plan__patient__home_clinic", "plan__patient__user"
            )
        )
        handed_on = len(ids) == BATCH and hand_on is not None and hand_on()
        superseded = _superseded(rows, now)
        connection = messaging.mail_connection(rows)
        sms_backend = sms.get_backend()
        renderer = BatchRenderer()
        try:
            for reminder in rows:
                _send_one(reminder, now, connection, sms_backend, counts, superseded, renderer)
        finally:
            connection.close()
        messaging.save_outcomes(rows, ["status", "sent_at", "scheduled_for", "last_error", "attempts"])
        if len(ids) < BATCH or handed_on:
            break
        # A long run reads the clock again for each batch, so a session that has begun in the
        # meantime is not reminded about.
        now = max(now, timezone.now())
    return counts


def _send_one(reminder, now, connection, sms_backend, counts, superseded, render=render):
    reason = _why_not(reminder, now, superseded)
    if reason:
        reminder.status, reminder.last_error = Reminder.Status.SKIPPED, reason
        counts["skipped"] += 1
        return
    clinic = reminder.appointment.clinic if reminder.appointment_id else reminder.plan.patient.home_clinic
    deadline = reminder.appointment.starts_at if reminder.appointment_id else now + datetime.timedelta(days=30)
    fitted = _fit_quiet_hours(clinic, reminder.channel, now, deadline)
    if fitted is None:
        reminder.status, reminder.last_error = Reminder.Status.SKIPPED, "It would fall in quiet hours."
        counts["skipped"] += 1
        return
    if fitted != now:  # caught up during quiet hours: hold it until the morning
        reminder.status, reminder.scheduled_for = Reminder.Status.PENDING, fitted
        reminder.attempts -= 1
        counts["held"] += 1
        return
    try:
        _deliver(reminder, connection, sms_backend, render)
    except sms.TransientSendError as error:
        reminder.last_error = str(error)[:1000]
        if reminder.attempts >= settings.TMS_REMINDER_MAX_ATTEMPTS:
            reminder.status = Reminder.Status.FAILED
            counts["failed"] += 1
        else:
            reminder.status = Reminder.Status.PENDING
            reminder.scheduled_for = now + datetime.timedelta(minutes=2 ** reminder.attempts)
            counts["retry"] += 1
    except sms.PermanentSendError as error:
        reminder.status, reminder.last_error = Reminder.Status.FAILED, str(error)[:1000]
        counts["failed"] += 1
    except SoftTimeLimitExceeded:  # the task's time is up: stop, do not record it as this row's fault
        raise
    except Exception as error:
        # A bug or an error no backend classified: record it on this row and go on with the
        # batch, whose other rows would otherwise stay "sending" and never be recorded.
        log.exception("reminder %s could not be sent", reminder.pk)
        reminder.status, reminder.last_error = Reminder.Status.FAILED, f"{type(error).__name__}: {error}"[:1000]
        counts["failed"] += 1
    else:
        reminder.status, reminder.sent_at, reminder.last_error = Reminder.Status.SENT, now, ""
        counts["sent"] += 1


# --- Resending by hand ------------------------------------------------------------------------

RESENDABLE = (Reminder.Status.FAILED, Reminder.Status.SKIPPED)


def _resend_at(reminder, now, superseded):
    """(why not, None) or (None, when to send it)."""
    if reminder.status not in RESENDABLE:
        return "Only failed or skipped reminders can be resent.", None
    reason = _why_not(reminder, now, superseded)
    if reason:
        return reason, None
    # A plan's nudge has no session to beat: the morning after quiet hours always comes in time.
    deadline = reminder.appointment.starts_at if reminder.appointment_id else now + datetime.timedelta(days=1)
    when = _fit_quiet_hours(clinic_of(reminder), reminder.channel, now, deadline)
    if when is None:
        return "SMS quiet hours last until the session begins.", None
    return None, when


def clinic_of(reminder):
    """The clinic whose time a reminder keeps: its appointment's, or for a plan's reminder the
    patient's home clinic."""
    if reminder.appointment_id:
        return reminder.appointment.clinic
    return reminder.plan.patient.home_clinic


def resend(reminders, now=None):
    """Re-arm failed or skipped reminders that the sending rules still allow: the session has
    not begun and is still booked (or the plan is active and still due that day), and the
    patient still agrees to the channel. Each goes out now, or an SMS when quiet hours end,
    with a fresh budget of attempts. Returns (how many were re-armed, Counter of refusals)."""
    now = now or timezone.now()
    rows = list(reminders.select_related(
        "appointment__patient", "appointment__clinic", "plan__patient__home_clinic"))
    superseded = _superseded(rows, now)
    refused = Counter()
    rearmed = []
    with transaction.atomic():
        for reminder in rows:
            reason, when = _resend_at(reminder, now, superseded)
            if reason is None:
                # Conditional, like a worker's claim: a row changed meanwhile is left alone.
                if Reminder.objects.filter(pk=reminder.pk, status__in=RESENDABLE).update(
                    status=Reminder.Status.PENDING, scheduled_for=when, last_error="", attempts=0, sent_at=None,
                ):
                    rearmed.append(when)
                    continue
                reason = "It changed while you were choosing it; look again."
            refused[reason] += 1
        if any(when <= now for when in rearmed):
            enqueue_after_commit("scheduling.tasks.send_due_reminders")
    return len(rearmed), refused


# --- Other jobs -------------------------------------------------------------------------------


def nudge_due_soon(now=None):
    """Write a "your maintenance session is due" reminder for every active plan due within
    TMS_DUE_SOON_DAYS with nothing booked, once per due date (the unique constraint). The
    window runs from today on the calendar of the patient's home clinic."""
    now = now or timezone.now()
    ahead = datetime.timedelta(days=settings.TMS_DUE_SOON_DAYS)
    # Every clinic's today is within a day of UTC's: one query takes the widest window, and
    # each plan is then held to its own clinic's.
    utc_today = now.astimezone(datetime.UTC).date()
    one_day = datetime.timedelta(days=1)
    booked = Appointment.objects.to_come().filter(patient=OuterRef("patient"), starts_at__gte=now)
    plans = (
        MaintenancePlan.objects.active().filter(
            patient__status=Patient.Status.ACTIVE,
            next_due_on__gte=utc_today - one_day, next_due_on__lte=utc_today + one_day + ahead,
        )
        .filter(~Exists(booked))
        # Once per due date whatever the channel: a patient who switched channel since the
        # last nudge is not nudged again.
        .filter(~Exists(Reminder.objects.filter(plan=OuterRef("pk"), due_on=OuterRef("next_due_on"),
                                                 kind=Reminder.Kind.MAINTENANCE_DUE)))
        .select_related("patient__home_clinic")
    )
    rows = []
    for plan in plans:
        today = plan.patient.home_clinic.local(now).date()
        if not today <= plan.next_due_on <= today + ahead:
            continue
        channel = channel_for(plan.patient)
        if channel is not None:
            rows.append(Reminder(plan=plan, due_on=plan.next_due_on, kind=Reminder.Kind.MAINTENANCE_DUE,
                                 channel=channel, scheduled_for=now))
    created = Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def staff_digest(now=None):
    """E-mail each clinician the flags raised since their last digest: counts and a link to
    the worklist, no patient names. Flags of patients with no named clinician go to every
    clinician of the patient's home clinic. Each flag goes out once."""
    now = now or timezone.now()
    with transaction.atomic():
        flags = list(
            PatientFlag.objects.select_for_update(of=("self",)).filter(digested_at__isnull=True)
            .select_related("patient")
        )
        if not flags:
            return 0
        clinicians = list(role_members(CLINICIAN).filter(is_active=True).exclude(email="")
                          .prefetch_related("clinic_memberships"))
        works_at = {c.pk: {m.clinic_id for m in c.clinic_memberships.all()} for c in clinicians}
        per_clinician = {c.pk: [] for c in clinicians}
        for flag in flags:
            owner = flag.patient.primary_clinician_id
            for clinician in clinicians:
                if owner == clinician.pk or (owner not in per_clinician
                                             and flag.patient.home_clinic_id in works_at[clinician.pk]):
                    per_clinician[clinician.pk].append(flag)
        link = absolute_url(reverse("staff:attention"))
        messages = []
        for clinician in clinicians:
            mine = per_clinician[clinician.pk]
            if not mine:
                continue
            counts = {}
            for flag in mine:
                counts[flag.get_kind_display()] = counts.get(flag.get_kind_display(), 0) + 1
            context = {"clinician": clinician, "counts": sorted(counts.items()), "total": len(mine), "link": link}
            messages.append(EmailMultiAlternatives(
                one_line(render_to_string("emails/staff_digest.subject.txt", context)),
                render_to_string("emails/staff_digest.txt", context), to=[clinician.email],
            ))
        PatientFlag.objects.filter(pk__in=[flag.pk for flag in flags]).update(digested_at=now)
    # Sent after the commit: a mail server that is down loses one digest, never marks twice.
    get_connection().send_messages(messages)
    return len(messages)
