"""Outreach cadences: bringing back a patient who fell off their schedule.

A newly raised overdue-maintenance or missed-appointments flag sets its clinic's cadence going
(admin-editable; by default day 0 a message by the patient's preferred consented channel, day 3
by the other one, day 7 a call task on the worklist). Each step is a row of the outreach ledger
(``OutreachMessage``), like the reminders outbox:

- ``arm`` (a beat task every minute) writes the row of the step whose window holds today, on the
  clinic's calendar: a step is due from its day until the next step's day (the last one for
  ``LAST_STEP_WINDOW``), so a flag snoozed past a step, or raised before its cadence existed,
  skips that step rather than sending everything at once. The unique (flag, step) constraint
  makes a second arming, or two workers arming at once, write nothing.
- ``send_due`` claims due rows (row locks on PostgreSQL), decides from database state at send
  time whether each may go — flag still open, the patient has not booked or opted out, still
  consents to the channel, outside quiet hours (held until morning) — sends it, and logs it as
  an outreach attempt on the worklist. A call step's row is the worklist's call task.
- Every message carries a signed, expiring self-booking link (``link_for``): the patient books
  one of a few offered times in a tap, without a password, through the portal's rules and
  ``book_appointment``, asks to be called back, or opts out.
- Staff send one by hand from the worklist (``send_by_hand``): the same row, the same rules.
"""

import datetime
import logging
import string
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from patients.models import OutreachAttempt, Patient, PatientFlag
from tmsclinic.celery import enqueue_after_commit
from tmsclinic.links import absolute_url

from .. import sms
from ..models import Appointment, CadenceStep, OutreachCadence, OutreachMessage, OutreachTemplate
from . import messaging
from .calendar import long_day
from .reminders import end_of_quiet_hours, in_quiet_hours, usable_channels

log = logging.getLogger(__name__)

LINK_SALT = "scheduling.outreach-link"
KINDS = tuple(OutreachCadence.FlagKind.values)
LAST_STEP_WINDOW = 7  # days the last step stays due after its day
STUCK_AFTER = datetime.timedelta(minutes=15)
BATCH = 200
MAX_ATTEMPTS = 5
TASK = "scheduling.tasks.run_outreach"
SENT, PENDING, SKIPPED, FAILED = (OutreachMessage.Status.SENT, OutreachMessage.Status.PENDING,
                                  OutreachMessage.Status.SKIPPED, OutreachMessage.Status.FAILED)


# --- Templates --------------------------------------------------------------------------------


def fill(text, values):
    """The template with its known placeholders filled; anything else is left as written (a
    template saved before it was checked must not fail a send, nor reach an attribute)."""
    out = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return text
    for literal, field, spec, conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        if field in values and not spec and not conversion:
            out.append(str(values[field]))
        else:
            out.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


# --- The self-booking link --------------------------------------------------------------------


def link_for(message):
    token = signing.dumps(str(message.uuid), salt=LINK_SALT)
    return absolute_url(reverse("portal:come-back", args=[token]))


class LinkRefused(Exception):
    """The link cannot be used; ``message`` says why in the patient's words, ``row`` is the
    ledger row when the link was genuine but is too old."""

    def __init__(self, message, row=None):
        super().__init__(message)
        self.message, self.row = message, row


def _row(value):
    try:
        key = uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return None
    return (OutreachMessage.objects.select_related("patient__home_clinic", "flag", "appointment__clinic")
            .filter(uuid=key).first())


def message_from_link(token, now=None):
    """The ledger row a link was sent with, or LinkRefused: forged, expired, or unknown."""
    max_age = datetime.timedelta(days=settings.TMS_OUTREACH_LINK_DAYS)
    try:
        value = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    except signing.SignatureExpired:
        # Genuine but old: the row is found only to name its clinic's phone number.
        row = _row(signing.loads(token, salt=LINK_SALT))
        raise LinkRefused(f"This link has expired: links in our messages work for "
                          f"{settings.TMS_OUTREACH_LINK_DAYS} days.", row) from None
    except signing.BadSignature:
        raise LinkRefused("This link is not valid: it may have been cut short when it was copied.") from None
    row = _row(value)
    if row is None:
        raise LinkRefused("This link is no longer valid.")
    return row


# --- Which cadence, which step ----------------------------------------------------------------


def cadences_by_clinic_and_kind():
    """{(clinic id or None, kind): [steps by day]} for the active cadences, in two queries."""
    cadences = {c.pk: c for c in OutreachCadence.objects.filter(active=True)}
    steps = {}
    for step in CadenceStep.objects.filter(cadence__in=cadences).select_related("template").order_by("day"):
        cadence = cadences[step.cadence_id]
        steps.setdefault((cadence.clinic_id, cadence.flag_kind), []).append(step)
    return steps


def steps_for(cadences, clinic_id, kind):
    """The clinic's own cadence for the kind, else the one for every clinic."""
    return cadences.get((clinic_id, kind)) or cadences.get((None, kind)) or []


def due_step(steps, days):
    """The step whose window holds ``days`` since the flag was raised, or None."""
    for index, step in enumerate(steps):
        until = steps[index + 1].day if index + 1 < len(steps) else step.day + LAST_STEP_WINDOW
        if step.day <= days < until:
            return step
    return None


def _booked(now):
    return Appointment.objects.to_come().filter(patient=OuterRef("patient"), starts_at__gte=now)


def arm(now=None):
    """Write the ledger row of each open flag's due step, once. Returns how many were written."""
    now = now or timezone.now()
    cadences = cadences_by_clinic_and_kind()
    if not cadences:
        return 0
    flags = (
        PatientFlag.objects.open().filter(kind__in=KINDS, patient__status=Patient.Status.ACTIVE,
                                          patient__outreach_opt_out_at__isnull=True)
        .filter(~Exists(_booked(now)))
        .select_related("patient__home_clinic")
    )
    sent_steps = set(OutreachMessage.objects.filter(flag__in=flags, step__isnull=False)
                     .values_list("flag_id", "step_id"))
    rows = []
    for flag in flags:
        clinic = flag.patient.home_clinic
        today = clinic.local(now).date()
        if flag.snoozed_until and flag.snoozed_until >= today:
            continue
        days = (today - clinic.local(flag.raised_at).date()).days
        step = due_step(steps_for(cadences, clinic.pk, flag.kind), days)
        if step is None or (flag.pk, step.pk) in sent_steps:
            continue
        rows.append(OutreachMessage(
            flag=flag, patient=flag.patient, step=step, step_day=step.day, template=step.template,
            channel=_planned_channel(step, flag.patient), scheduled_for=now,
        ))
    created = OutreachMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def _planned_channel(step, patient):
    """The channel a step means for this patient today; decided again when it is sent."""
    if step.action == CadenceStep.Action.CALL:
        return OutreachMessage.Channel.CALL
    return patient.preferred_channel


def _channel_at_send(message, usable, earlier):
    """The channel a message goes by now, or None when the patient consents to none. The second
    step uses the channel the first did not; a patient with one consented channel hears twice
    on it rather than not at all."""
    consented = [c for c in (message.patient.preferred_channel, *usable) if usable.get(c)]
    if not consented:
        return None
    if message.step_id is None:  # staff chose it
        return message.channel if usable.get(message.channel) else None
    if message.step.action == CadenceStep.Action.OTHER_CHANNEL:
        others = [c for c in consented if c not in earlier]
        return (others or consented)[0]
    return consented[0]


# --- Sending ----------------------------------------------------------------------------------


def _claim(now):
    return messaging.claim(OutreachMessage.objects.filter(scheduled_for__lte=now), now=now, limit=BATCH,
                           order_by="scheduled_for")


def why_not(message, now, booked):
    """Why a claimed message must not go, or None."""
    patient = message.patient
    if message.flag.resolved_at is not None:
        return "The flag was resolved."
    if patient.status != Patient.Status.ACTIVE:
        return "The patient is discharged."
    if patient.outreach_opt_out_at is not None:
        return "The patient asked for no more of these messages."
    if patient.pk in booked:
        return "The patient has booked a visit."
    if message.step_id is not None and message.step.cadence.active is False:
        return "The cadence was switched off."
    return None


def render(message, channel):
    """(subject, text) of a message, for its patient. No clinical detail: first name, clinic,
    due date, the link."""
    patient, clinic = message.patient, message.patient.home_clinic
    plan_due = message.flag.due_on
    values = {
        "first_name": patient.first_name,
        "clinic": clinic.name,
        "clinic_phone": clinic.phone.as_national if clinic.phone else "the clinic",
        "due_on": long_day(plan_due) if plan_due else "recently",
        "link": link_for(message),
    }
    template = message.template
    subject = fill(template.subject, values) if template else f"A message from {clinic.name}"
    text = fill(template.body, values) if template else ""
    if channel == OutreachMessage.Channel.SMS:
        text = f"{text} Reply STOP to stop these messages."
    else:
        text = (f"{text}\n\nTo stop these messages, open the link above and choose “Stop these messages”. "
                f"Appointment reminders are not affected.\n")
    return subject, text


def send_due(now=None):
    """Send every due outreach message once. Returns counts by outcome."""
    now = now or timezone.now()
    OutreachMessage.objects.filter(status=OutreachMessage.Status.SENDING, claimed_at__lt=now - STUCK_AFTER).update(
        status=FAILED, last_error="A worker stopped while sending it; not resent automatically.")
    counts = {"sent": 0, "skipped": 0, "retry": 0, "failed": 0, "held": 0, "tasks": 0}
    while ids := _claim(now):
        rows = list(OutreachMessage.objects.filter(pk__in=ids).select_related(
            "patient__home_clinic", "flag", "template", "step__cadence"))
        patients = {row.patient_id for row in rows}
        booked = set(Appointment.objects.to_come().filter(patient__in=patients, starts_at__gte=now)
                     .values_list("patient_id", flat=True))
        earlier = {}
        for flag_id, channel in (OutreachMessage.objects.filter(flag__in={r.flag_id for r in rows}, status=SENT)
                                 .exclude(channel=OutreachMessage.Channel.CALL).values_list("flag_id", "channel")):
            earlier.setdefault(flag_id, set()).add(channel)
        connection = messaging.mail_connection(rows)
        sms_backend = sms.get_backend()
        attempts = []
        try:
            for row in rows:
                _send_one(row, now, booked, earlier.get(row.flag_id, set()), connection, sms_backend, counts)
                if row.status == SENT and row.channel != OutreachMessage.Channel.CALL:
                    attempts.append(_attempt(row))
        finally:
            connection.close()
        with transaction.atomic():
            messaging.save_outcomes(rows, ["status", "sent_at", "scheduled_for", "last_error", "attempts", "channel"])
            OutreachAttempt.objects.bulk_create(attempts)
        if len(ids) < BATCH:
            break
        now = max(now, timezone.now())
    return counts


def _attempt(row):
    how = f"day {row.step_day} of the cadence" if row.step_id else "sent by hand"
    name = row.template.name if row.template else "message"
    return OutreachAttempt(flag=row.flag, channel=row.channel, outcome=OutreachAttempt.Outcome.SENT,
                           by=row.sent_by, at=row.sent_at, note=f"“{name}” ({how}) with a self-booking link.")


def _send_one(row, now, booked, earlier, connection, sms_backend, counts):
    if reason := why_not(row, now, booked):
        row.status, row.last_error = SKIPPED, reason
        counts["skipped"] += 1
        return
    if row.channel == OutreachMessage.Channel.CALL:
        row.status, row.sent_at, row.last_error = SENT, now, ""
        counts["tasks"] += 1
        return
    clinic = row.patient.home_clinic
    if in_quiet_hours(clinic, now):  # no message to bring a patient back arrives at night
        row.status, row.scheduled_for, row.attempts = PENDING, end_of_quiet_hours(clinic, now), row.attempts - 1
        counts["held"] += 1
        return
    channel = _channel_at_send(row, usable_channels(row.patient), earlier)
    if channel is None:
        row.status = SKIPPED
        row.last_error = ("The patient no longer agrees to this channel." if row.step_id is None
                          else "The patient has not agreed to e-mail or SMS.")
        counts["skipped"] += 1
        return
    row.channel = channel
    subject, text = render(row, channel)
    try:
        messaging.deliver(row.patient, channel, subject, text, None, connection, sms_backend)
    except sms.TransientSendError as error:
        row.last_error = str(error)[:1000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = FAILED
            counts["failed"] += 1
        else:
            row.status, row.scheduled_for = PENDING, now + datetime.timedelta(minutes=2 ** row.attempts)
            counts["retry"] += 1
    except sms.PermanentSendError as error:
        row.status, row.last_error = FAILED, str(error)[:1000]
        counts["failed"] += 1
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:
        log.exception("outreach message %s could not be sent", row.pk)
        row.status, row.last_error = FAILED, f"{type(error).__name__}: {error}"[:1000]
        counts["failed"] += 1
    else:
        row.status, row.sent_at, row.last_error = SENT, now, ""
        counts["sent"] += 1


def run(now=None):
    """The beat task's work: arm the due steps, then send what is due."""
    armed = arm(now)
    return {"armed": armed, **send_due(now)}


# --- What staff do ------------------------------------------------------------------------------


class SendRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def send_by_hand(flag, *, template, channel, user, now=None):
    """Queue one message from the worklist, sent within the minute by the worker (or when quiet
    hours end). The same rules as a cadence's step; refused when it could not go."""
    now = now or timezone.now()
    patient = flag.patient
    if not flag.is_open:
        raise SendRefused("The flag is resolved: nothing was sent.")
    if patient.outreach_opt_out_at is not None:
        raise SendRefused(f"{patient.full_name} asked for no more of these messages: call them instead.")
    if not usable_channels(patient).get(channel):
        raise SendRefused(f"{patient.full_name} has not agreed to {'SMS' if channel == 'sms' else 'e-mail'} "
                          "(or we have no address for it): nothing was sent.")
    if not template.active:
        raise SendRefused("That template is switched off.")
    with transaction.atomic():
        recent = OutreachMessage.objects.filter(flag=flag, step__isnull=True, template=template,
                                                created_at__gte=now - datetime.timedelta(minutes=5))
        if recent.exists():
            raise SendRefused("That message was sent to this patient a few minutes ago.")
        row = OutreachMessage.objects.create(flag=flag, patient=patient, template=template, channel=channel,
                                             scheduled_for=now, sent_by=user)
        enqueue_after_commit(TASK)
    return row


def templates_for_staff():
    return OutreachTemplate.objects.filter(active=True)


def stop_for_flag(flag, reason):
    """Skip the flag's pending messages (the patient booked, or the flag was resolved)."""
    return OutreachMessage.objects.filter(flag=flag, status=PENDING).update(status=SKIPPED, last_error=reason)


# --- What the patient does with the link ----------------------------------------------------------


def opt_out(patient, now=None):
    """The patient asks for no more outreach: every pending message of theirs is skipped."""
    now = now or timezone.now()
    with transaction.atomic():
        Patient.objects.filter(pk=patient.pk, outreach_opt_out_at__isnull=True).update(outreach_opt_out_at=now)
        OutreachMessage.objects.filter(patient=patient, status=PENDING).update(
            status=SKIPPED, last_error="The patient asked for no more of these messages.")
    patient.refresh_from_db(fields=["outreach_opt_out_at"])


def ask_for_call(message, now=None):
    """The patient asks to be called back: logged on the flag's worklist row, once per message.
    Returns False when they had already asked."""
    now = now or timezone.now()
    note = f"Asked from the link in a message sent {message.sent_at:%Y-%m-%d}." if message.sent_at else (
        "Asked from the link in a message.")
    with transaction.atomic():
        PatientFlag.objects.select_for_update().filter(pk=message.flag_id).first()
        if OutreachAttempt.objects.filter(flag=message.flag_id, outcome=OutreachAttempt.Outcome.CALLBACK,
                                          at__gte=message.created_at).exists():
            return False
        OutreachAttempt.objects.create(flag_id=message.flag_id, channel=OutreachAttempt.Channel.PHONE,
                                       outcome=OutreachAttempt.Outcome.CALLBACK, note=note, at=now)
    return True


def opened(message, now=None):
    OutreachMessage.objects.filter(pk=message.pk, link_opened_at__isnull=True).update(
        link_opened_at=now or timezone.now())


def booked_from_link(message, appointment):
    """Record the booking on the message and stop the flag's other messages."""
    with transaction.atomic():
        OutreachMessage.objects.filter(pk=message.pk).update(appointment=appointment)
        stop_for_flag(message.flag, "The patient booked a visit.")


# --- A STOP reply by SMS ------------------------------------------------------------------------

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}


def is_stop(body):
    return body.strip().strip(".!").upper() in STOP_WORDS


def stop_by_sms(number, now=None):
    """A patient replied STOP from ``number`` (E.164): no more SMS of any kind (the carriers'
    rule for STOP) and no more outreach, for every patient with that number. Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        patients = list(Patient.objects.select_for_update().filter(phone=number))
        for patient in patients:
            patient.sms_consent = False
            patient.stamp_consents({"sms_consent"})
            patient.outreach_opt_out_at = patient.outreach_opt_out_at or now
            patient.save(update_fields=["sms_consent", "sms_consent_at", "outreach_opt_out_at", "updated_at"])
        OutreachMessage.objects.filter(patient__in=patients, status=PENDING).update(
            status=SKIPPED, last_error="The patient replied STOP.")
    return len(patients)
