"""The waitlist: patients' wishes for a sooner or better time, and freed chair time offered to
them, most overdue maintenance patients first, then the longest waiting.

Freed time is an outbox like the reminders': a ``FreedSlot`` row is written in the transaction
that frees it (``record_freed`` from a cancellation or a move, ``chair_back_in_service`` from a
chair's save), a run of the offer job is enqueued after the commit, and beat runs the same job
every minute from database state (``offer_freed_slots``). The job expires holds, picks the next
candidates for each open freed time (one worker per row: a row lock), writes their ``SlotOffer``
rows, and sends them, each claimed before sending like a reminder, so nothing goes out twice.

A patient answers from the signed link in the offer (``offer_from_link``): ``accept`` books
through ``book_appointment`` (or moves the visit the wish was about with
``reschedule_appointment``), whose chair lock and exclusion constraints let only the first
accept win; the others holding that time are marked gone and told.
"""

import datetime
import logging
import uuid
from collections import Counter
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from patients.models import MaintenancePlan, Patient, TreatmentCourse
from tmsclinic.celery import enqueue_after_commit
from tmsclinic.inputs import one_line
from tmsclinic.links import absolute_url

from .. import sms
from ..models import Appointment, Chair, FreedSlot, SlotOffer, WaitlistEntry
from . import booking, messaging, reminders
from .calendar import ClinicCalendar, after, local_days, midnight, short_when

log = logging.getLogger(__name__)

TASK = "scheduling.tasks.offer_freed_slots"
LINK_SALT = "scheduling.waitlist-offer"
LINK_MAX_AGE = datetime.timedelta(days=30)  # the hold ends long before; this only bounds a stray link
STUCK_AFTER = datetime.timedelta(minutes=15)
LIVE = (SlotOffer.Status.PENDING, SlotOffer.Status.SENDING, SlotOffer.Status.OPEN)
ROWS_PER_RUN = 200
COURSE_KINDS = (Appointment.Kind.ACUTE, Appointment.Kind.REINTRODUCTION)
WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


class WaitlistRefusal(Exception):
    """The wish cannot be added or changed; the message says why. Nothing changed."""


def notice():
    return datetime.timedelta(hours=settings.TMS_WAITLIST_NOTICE_HOURS)


# --- Wishes ------------------------------------------------------------------------------------


def _kind_for(patient):
    """The kind of session a wish without ``earlier_than`` is for: the next maintenance visit,
    else a session of the course in progress; Refusal when there is nothing to book."""
    if MaintenancePlan.objects.active().filter(patient=patient).exists():
        return Appointment.Kind.MAINTENANCE
    course = (TreatmentCourse.objects.filter(patient=patient, status=TreatmentCourse.Status.ACTIVE)
              .order_by("-start_date").first())
    if course is not None and course.kind in COURSE_KINDS:
        return course.kind
    raise WaitlistRefusal("There is no course or active maintenance plan to book sessions for, so there is "
                          "nothing to offer.")


def add_wish(*, patient, clinic, by=None, via=Appointment.Via.STAFF, earlier_than=None, weekdays="",
             earliest_time=None, latest_time=None, from_date=None, until_date=None, note="", now=None):
    """Put the patient on the clinic's waitlist, or raise WaitlistRefusal saying why not."""
    now = now or timezone.now()
    if patient.status != Patient.Status.ACTIVE:
        raise WaitlistRefusal("A discharged patient cannot be put on the waitlist.")
    if earlier_than is not None:
        if earlier_than.patient_id != patient.pk or earlier_than.clinic_id != clinic.pk:
            raise WaitlistRefusal("That appointment is not one of this patient's at this clinic.")
        if earlier_than.status != Appointment.Status.BOOKED or earlier_than.starts_at <= now:
            raise WaitlistRefusal("That appointment is no longer booked to come, so there is nothing to bring "
                                  "forward.")
        kind = earlier_than.kind
    else:
        kind = _kind_for(patient)
    entry = WaitlistEntry(
        patient=patient, clinic=clinic, kind=kind, earlier_than=earlier_than, weekdays="".join(sorted(weekdays)),
        earliest_time=earliest_time, latest_time=latest_time, from_date=from_date, until_date=until_date,
        note=note, via=via, created_by=by if getattr(by, "is_authenticated", False) else None, created_at=now,
    )
    try:
        entry.full_clean()
    except ValidationError as error:
        raise WaitlistRefusal(" ".join(error.messages)) from error
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError as error:  # another desk added one a moment ago
        raise WaitlistRefusal("This patient is already on this clinic's waitlist.") from error
    # Open freed times may suit the new wish: the next run looks at them again.
    FreedSlot.objects.filter(clinic=clinic, status=FreedSlot.Status.OPEN, look_at__gt=now).update(look_at=now)
    enqueue_after_commit(TASK)
    return entry


def withdraw(entry, *, now=None):
    """Take the wish off the waitlist; its offers still out are closed. False if it was not
    waiting any more."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = WaitlistEntry.objects.filter(pk=entry.pk, status=WaitlistEntry.Status.WAITING).update(
            status=WaitlistEntry.Status.WITHDRAWN, closed_at=now)
        if changed:
            SlotOffer.objects.filter(entry=entry, status__in=LIVE).update(
                status=SlotOffer.Status.SKIPPED, last_error="The patient came off the waitlist.")
    return bool(changed)


def waiting_entry(patient, clinic=None):
    rows = WaitlistEntry.objects.filter(patient=patient, status=WaitlistEntry.Status.WAITING)
    if clinic is not None:
        rows = rows.filter(clinic=clinic)
    return rows.select_related("clinic", "earlier_than__clinic").first()


def recent_offers(patient, limit=10):
    return list(SlotOffer.objects.filter(patient=patient).select_related("clinic", "chair")
                .order_by("-created_at")[:limit])


def describe(entry):
    """The wish in words: "sooner than Tue 8 Dec, 10:00; Mondays or Fridays; from 09:00"."""
    parts = []
    if entry.earlier_than_id is not None:
        visit = entry.earlier_than
        parts.append(f"sooner than {short_when(visit.clinic, visit.starts_at)}")
    if entry.weekdays:
        parts.append(" or ".join(WEEKDAYS[int(d)] for d in entry.weekdays))
    if entry.earliest_time and entry.latest_time:
        parts.append(f"starting between {entry.earliest_time:%H:%M} and {entry.latest_time:%H:%M}")
    elif entry.earliest_time:
        parts.append(f"starting from {entry.earliest_time:%H:%M}")
    elif entry.latest_time:
        parts.append(f"starting by {entry.latest_time:%H:%M}")
    if entry.from_date:
        parts.append(f"from {entry.from_date.day} {entry.from_date:%b %Y}")
    if entry.until_date:
        parts.append(f"until {entry.until_date.day} {entry.until_date:%b %Y}")
    return "; ".join(parts) or "any time the clinic is open"


# --- Freed time (written in the transaction that frees it) -------------------------------------


def record_freed(appointment, reason, now=None):
    """The appointment's chair time is free again: write the outbox row and ask for a run."""
    now = now or timezone.now()
    if appointment.starts_at <= now:
        return None
    freed = FreedSlot.objects.create(clinic_id=appointment.clinic_id, chair_id=appointment.chair_id,
                                     starts_at=appointment.starts_at, ends_at=appointment.ends_at, reason=reason,
                                     look_at=now, created_at=now)
    enqueue_after_commit(TASK)
    return freed


def chair_back_in_service(chair, now=None):
    """A chair back in service frees its opening hours over the next TMS_WAITLIST_CHAIR_BACK_DAYS:
    one freed time per opening interval."""
    now = now or timezone.now()
    clinic = chair.clinic
    first_day = clinic.local(now).date()
    last_day = first_day + datetime.timedelta(days=settings.TMS_WAITLIST_CHAIR_BACK_DAYS)
    calendar = ClinicCalendar(clinic, first_day, last_day)
    rows = []
    day = first_day
    while day <= last_day:
        for opens, closes in calendar.open_intervals(day):
            if closes > now + notice():
                rows.append(FreedSlot(clinic=clinic, chair=chair, starts_at=max(opens, now), ends_at=closes,
                                      reason=FreedSlot.Reason.CHAIR_BACK, look_at=now, created_at=now))
        day += datetime.timedelta(days=1)
    FreedSlot.objects.bulk_create(rows)
    if rows:
        enqueue_after_commit(TASK)
    return rows


@receiver(pre_save, sender=Chair, dispatch_uid="waitlist_chair_was_active")
def _remember_whether_in_service(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        instance._was_active = None
        return
    instance._was_active = Chair.objects.filter(pk=instance.pk).values_list("active", flat=True).first()


@receiver(post_save, sender=Chair, dispatch_uid="waitlist_chair_back_in_service")
def _offer_a_chair_back_in_service(sender, instance, created, raw=False, **kwargs):
    # Whoever saves the chair (admin, its clinic's inline, a script), in the save's transaction.
    if not raw and not created and instance.active and getattr(instance, "_was_active", None) is False:
        chair_back_in_service(instance)


# --- Who is offered what -------------------------------------------------------------------------


@dataclass
class Candidate:
    entry: WaitlistEntry
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    channel: str
    days_overdue: int


def _duration(entry, plan, course, now):
    """The chair time the entry's session takes, or None when it has nothing to book now."""
    if entry.earlier_than_id is not None:
        visit = entry.earlier_than
        if visit is None or visit.status != Appointment.Status.BOOKED or visit.starts_at <= now:
            return None
        return visit.ends_at - visit.starts_at
    if entry.kind == Appointment.Kind.MAINTENANCE:
        protocol = plan.protocol if plan is not None else None
    else:
        protocol = course.protocol if course is not None and course.kind == entry.kind else None
    return datetime.timedelta(minutes=protocol.chair_minutes) if protocol is not None else None


def days_overdue(plan, clinic, now):
    """Whole days since the plan's visit fell due, once its grace days have run out (as
    ``MaintenancePlan.days_overdue``, at ``now``); 0 when not overdue."""
    if plan is None or plan.overdue_after is None or now < plan.overdue_after or plan.next_due_on is None:
        return 0
    return (clinic.local(now).date() - plan.next_due_on).days


def fits_wish(entry, clinic, starts_at, ends_at):
    local = clinic.local(starts_at)
    if entry.weekdays and str(local.weekday()) not in entry.weekdays:
        return False
    if entry.earliest_time and local.time() < entry.earliest_time:
        return False
    if entry.latest_time and local.time() > entry.latest_time:
        return False
    if entry.from_date and local.date() < entry.from_date:
        return False
    if entry.until_date and local.date() > entry.until_date:
        return False
    return entry.earlier_than_id is None or starts_at < entry.earlier_than.starts_at


def _free_of_other_sessions(clinic, starts_at, ends_at, others):
    """No overlapping booking and no other session on the slot's day (in the clinic's calendar)."""
    day = clinic.local(starts_at).date()
    return not any((a.starts_at < ends_at and a.ends_at > starts_at) or clinic.local(a.starts_at).date() == day
                   for a in others)


def candidates(freed, now, earliest):
    """The waiting entries the freed time can be offered to, best first: most overdue
    maintenance patients first, then the oldest wish. Each gets the earliest start in the freed
    time that suits their wish. A fixed number of queries, whatever the waitlist's length (one
    more per distinct session length)."""
    clinic = freed.clinic
    entries = list(
        WaitlistEntry.objects.filter(clinic=clinic, status=WaitlistEntry.Status.WAITING,
                                     patient__status=Patient.Status.ACTIVE, patient__outreach_opt_out_at=None)
        .exclude(pk__in=SlotOffer.objects.filter(freed_slot=freed).values("entry_id"))
        .select_related("patient__home_clinic", "earlier_than")
    )
    if not entries:
        return []
    patient_ids = [entry.patient_id for entry in entries]
    plans = {plan.patient_id: plan for plan in
             MaintenancePlan.objects.active().filter(patient__in=patient_ids).select_related("protocol")}
    courses = {}
    for course in (TreatmentCourse.objects.filter(patient__in=patient_ids, status=TreatmentCourse.Status.ACTIVE)
                   .select_related("protocol").order_by("start_date")):
        courses[course.patient_id] = course  # the newest wins
    first_day, last_day = local_days(clinic, freed.starts_at, freed.ends_at)
    booked = {}
    for appointment in Appointment.objects.to_come().filter(
            patient__in=patient_ids, starts_at__lt=midnight(clinic, last_day + datetime.timedelta(days=1)),
            ends_at__gt=midnight(clinic, first_day)):
        booked.setdefault(appointment.patient_id, []).append(appointment)
    already = set(SlotOffer.objects.filter(entry__in=entries, chair=freed.chair_id, starts_at__gte=freed.starts_at,
                                           starts_at__lt=freed.ends_at).values_list("entry_id", "starts_at"))
    starts_by_duration = {}
    found = []
    for entry in entries:
        channel = reminders.channel_for(entry.patient)
        duration = _duration(entry, plans.get(entry.patient_id), courses.get(entry.patient_id), now)
        if channel is None or duration is None:
            continue
        if duration not in starts_by_duration:
            starts_by_duration[duration] = [
                slot.starts_at for slot in booking.open_slots(
                    clinic=clinic, duration=duration, start=max(freed.starts_at, earliest), end=freed.ends_at,
                    chairs=[freed.chair])]
        others = [a for a in booked.get(entry.patient_id, ()) if a.pk != entry.earlier_than_id]
        for starts_at in starts_by_duration[duration]:
            ends_at = after(starts_at, duration)
            if ((entry.pk, starts_at) not in already and fits_wish(entry, clinic, starts_at, ends_at)
                    and _free_of_other_sessions(clinic, starts_at, ends_at, others)):
                overdue = days_overdue(plans.get(entry.patient_id), entry.patient.home_clinic, now)
                found.append(Candidate(entry, starts_at, ends_at, channel, overdue))
                break
    found.sort(key=lambda c: (-c.days_overdue, c.entry.created_at, c.entry.pk))
    return found


# --- The job ---------------------------------------------------------------------------------------


def offer_freed_slots(now=None):
    """Expire holds, offer each open freed time to its next candidates, send the offers, tell
    those whose time went to someone else. Safe to run twice or in two workers at once."""
    now = now or timezone.now()
    counts = Counter()
    SlotOffer.objects.filter(status=SlotOffer.Status.SENDING, claimed_at__lt=now - STUCK_AFTER).update(
        status=SlotOffer.Status.FAILED,
        last_error="A worker stopped while sending it; not resent automatically.")
    _expire_holds(now, counts)
    # An offer found unsendable at the last moment (consent withdrawn, say) makes room for the
    # next candidate at once, not a minute later.
    for _ in range(3):
        skipped = counts["skipped"]
        for pk in _to_look_at(now):
            counts["offered"] += _look_at(pk, now)
        _send_pending(now, counts)
        if counts["skipped"] == skipped:
            break
    _tell_gone(now, counts)
    return dict(counts)


def _to_look_at(now):
    """The open freed times due a look, soonest first, up to ROWS_PER_RUN: those already held by
    as many live offers as TMS_WAITLIST_BATCH are left out, or more than ROWS_PER_RUN of them would
    keep every later one from being offered until their holds ran out."""
    live = (SlotOffer.objects.filter(freed_slot=OuterRef("pk"), status__in=LIVE).order_by()
            .values("freed_slot").annotate(count=Count("pk")).values("count"))
    return list(FreedSlot.objects.filter(status=FreedSlot.Status.OPEN, look_at__lte=now)
                .annotate(live=Coalesce(Subquery(live), 0)).filter(live__lt=settings.TMS_WAITLIST_BATCH)
                .order_by("starts_at").values_list("pk", flat=True)[:ROWS_PER_RUN])


def _expire_holds(now, counts):
    with transaction.atomic():
        ids = list(SlotOffer.objects.filter(status=SlotOffer.Status.OPEN, expires_at__lte=now)
                   .select_for_update(skip_locked=True).values_list("pk", flat=True))
        counts["expired"] += SlotOffer.objects.filter(pk__in=ids, status=SlotOffer.Status.OPEN).update(
            status=SlotOffer.Status.EXPIRED)


def _look_at(pk, now):
    """Offer one freed time to its next candidates, under its row lock (one worker at a time);
    returns how many offers were written."""
    with transaction.atomic():
        freed = (FreedSlot.objects.select_for_update(skip_locked=True, of=("self",))
                 .select_related("clinic", "chair").filter(pk=pk, status=FreedSlot.Status.OPEN).first())
        if freed is None:
            return 0
        offers = list(freed.offers.all())
        live = [offer for offer in offers if offer.status in LIVE]
        wanted = settings.TMS_WAITLIST_BATCH - len(live)
        if wanted <= 0:
            return 0
        clinic = freed.clinic
        quiet = reminders.in_quiet_hours(clinic, now)
        sends_at = reminders.end_of_quiet_hours(clinic, now) if quiet else now
        found = candidates(freed, now, sends_at + notice())
        if not found:
            if not live:
                _close(freed, offers, now, quiet)
            return 0
        if quiet:  # no offer goes out at night: look again when quiet hours end
            freed.look_at = sends_at
            freed.save(update_fields=["look_at"])
            return 0
        made = SlotOffer.objects.bulk_create([
            SlotOffer(entry=c.entry, patient=c.entry.patient, clinic=clinic, chair=freed.chair, starts_at=c.starts_at,
                      ends_at=c.ends_at, channel=c.channel, freed_slot=freed)
            for c in found[:wanted]
        ])
        return len(made)


def _close(freed, offers, now, quiet):
    if any(offer.status == SlotOffer.Status.ACCEPTED for offer in offers):
        freed.status, freed.note = FreedSlot.Status.FILLED, ""
    else:
        freed.status = FreedSlot.Status.UNFILLED
        if offers:
            freed.note = f"Offered to {len(offers)}; no one took it."
        elif quiet:
            freed.note = "Quiet hours last until it is too close to offer."
        else:
            freed.note = "No one on the waitlist could be offered it."
    freed.closed_at = now
    freed.save(update_fields=["status", "note", "closed_at"])


def _claim(now):
    return messaging.claim(SlotOffer.objects.all(), now=now, limit=ROWS_PER_RUN, order_by="created_at")


def why_not_send(offer, now):
    """Why a claimed offer must not go out now, or None."""
    patient = offer.patient
    if offer.entry.status != WaitlistEntry.Status.WAITING:
        return "The wish is no longer on the waitlist."
    if patient.status != Patient.Status.ACTIVE:
        return "The patient is discharged."
    if patient.outreach_opt_out_at is not None:
        return "The patient asked for no more offers."
    if not reminders.usable_channels(patient)[offer.channel]:
        return "The patient withdrew consent to this channel or removed the address."
    if offer.starts_at < now + notice():
        return f"It starts within {settings.TMS_WAITLIST_NOTICE_HOURS} hours."
    if Appointment.objects.clashing(offer.starts_at, offer.ends_at).filter(chair=offer.chair_id).exists():
        return "The time was booked meanwhile."
    return None


def _send_pending(now, counts):
    while ids := _claim(now):
        rows = list(SlotOffer.objects.filter(pk__in=ids).select_related("patient", "entry", "clinic", "chair"))
        connection = messaging.mail_connection(rows)
        sms_backend = sms.get_backend()
        try:
            for offer in rows:
                _send_one(offer, now, connection, sms_backend, counts)
        finally:
            connection.close()
        if len(ids) < ROWS_PER_RUN:
            break


def _send_one(offer, now, connection, sms_backend, counts):
    sending = SlotOffer.objects.filter(pk=offer.pk, status=SlotOffer.Status.SENDING)
    reason = why_not_send(offer, now)
    if reason is None and reminders.in_quiet_hours(offer.clinic, now):
        reason = "It would have gone out in quiet hours."
    if reason:
        sending.update(status=SlotOffer.Status.SKIPPED, last_error=reason)
        counts["skipped"] += 1
        return
    try:
        subject, text = render_offer(offer, now)
        messaging.deliver(offer.patient, offer.channel, subject, text, None, connection, sms_backend)
    except sms.TransientSendError as error:
        retry = offer.attempts < settings.TMS_REMINDER_MAX_ATTEMPTS
        sending.update(status=SlotOffer.Status.PENDING if retry else SlotOffer.Status.FAILED,
                       last_error=str(error)[:1000])
        counts["retry" if retry else "failed"] += 1
    except sms.PermanentSendError as error:
        sending.update(status=SlotOffer.Status.FAILED, last_error=str(error)[:1000])
        counts["failed"] += 1
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:
        log.exception("waitlist offer %s could not be sent", offer.pk)
        sending.update(status=SlotOffer.Status.FAILED, last_error=f"{type(error).__name__}: {error}"[:1000])
        counts["failed"] += 1
    else:
        SlotOffer.objects.filter(pk=offer.pk).update(sent_at=now)
        # Conditional: taken by someone else while it was being sent, it stays gone (and its
        # patient is told).
        sending.update(status=SlotOffer.Status.OPEN, last_error="", expires_at=hold_until(offer, now))
        counts["sent"] += 1


def hold_until(offer, now):
    return min(now + datetime.timedelta(minutes=settings.TMS_WAITLIST_HOLD_MINUTES), offer.starts_at)


def _tell_gone(now, counts):
    """A short note to each patient whose offer went to someone else: once, never retried."""
    rows = list(SlotOffer.objects.filter(status=SlotOffer.Status.GONE, sent_at__isnull=False,
                                         gone_told_at__isnull=True).select_related("patient", "clinic")[:ROWS_PER_RUN])
    if not rows:
        return
    connection = messaging.mail_connection(rows)
    sms_backend = sms.get_backend()
    try:
        for offer in rows:
            if not SlotOffer.objects.filter(pk=offer.pk, gone_told_at__isnull=True).update(gone_told_at=now):
                continue  # another worker told them
            if not reminders.usable_channels(offer.patient)[offer.channel]:
                continue
            try:
                subject, text = render_gone(offer)
                messaging.deliver(offer.patient, offer.channel, subject, text, None, connection, sms_backend)
            except SoftTimeLimitExceeded:
                raise
            except Exception:
                log.warning("could not tell patient %s that offer %s has gone", offer.patient_id, offer.pk,
                            exc_info=True)
            else:
                counts["told_gone"] += 1
    finally:
        connection.close()


# --- Messages ----------------------------------------------------------------------------------


def link_for(offer):
    token = signing.dumps(str(offer.uuid), salt=LINK_SALT)
    return absolute_url(reverse("portal:offer", args=[token]))


def offer_from_link(token):
    """The offer a link is for, or None when the link is forged, expired or not an offer's."""
    try:
        key = uuid.UUID(signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE))
    except (signing.BadSignature, TypeError, ValueError, AttributeError):
        return None
    return (SlotOffer.objects.select_related("clinic", "chair", "patient", "entry", "appointment__clinic")
            .filter(uuid=key).first())


def _message(offer, name, context):
    context = {"clinic": offer.clinic, "patient": offer.patient, "local_start": offer.clinic.local(offer.starts_at),
               **context}
    with timezone.override(offer.clinic.tz):
        if offer.channel == messaging.SMS:
            return None, render_to_string(f"portal/emails/{name}.sms.txt", context).strip()
        return (one_line(render_to_string(f"portal/emails/{name}_subject.txt", context)),
                render_to_string(f"portal/emails/{name}.txt", context))


def render_offer(offer, now):
    """(subject or None, text): clinic, day, time, how long it is held, the link; nothing clinical."""
    return _message(offer, "offer", {"link": link_for(offer),
                                     "hold_minutes": settings.TMS_WAITLIST_HOLD_MINUTES,
                                     "until": offer.clinic.local(hold_until(offer, now))})


def render_gone(offer):
    return _message(offer, "offer_gone", {})


# --- Answers from the link ---------------------------------------------------------------------

# What came of an accept.
BOOKED, TAKEN, EXPIRED, CLOSED = "booked", "taken", "expired", "closed"
WISH_CLOSED, SAME_DAY = "wish-closed", "same-day"


def answerable(offer, now=None):
    now = now or timezone.now()
    return offer.status == SlotOffer.Status.OPEN and offer.expires_at is not None and now < offer.expires_at


def _book(offer, entry, user):
    visit = entry.earlier_than
    if visit is not None and visit.status == Appointment.Status.BOOKED:
        # The visit the wish was about moves to the offered time: one booking, not two.
        return booking.reschedule_appointment(visit, chair=offer.chair, starts_at=offer.starts_at, by=user,
                                              via=Appointment.Via.PORTAL)
    patient = offer.patient
    plan = course = None
    if entry.kind == Appointment.Kind.MAINTENANCE:
        plan = MaintenancePlan.objects.active().filter(patient=patient).first()
    elif entry.kind in COURSE_KINDS:
        course = (TreatmentCourse.objects.filter(patient=patient, status=TreatmentCourse.Status.ACTIVE,
                                                 kind=entry.kind).order_by("-start_date").first())
    return booking.book_appointment(patient=patient, chair=offer.chair, starts_at=offer.starts_at, kind=entry.kind,
                                    booked_by=user, course=course, plan=plan, via=Appointment.Via.PORTAL,
                                    duration=offer.ends_at - offer.starts_at)


def accept(offer, *, user=None, now=None):
    """The patient takes the offered time. Returns (outcome, appointment or None); the outcome is
    BOOKED or why not (TAKEN, EXPIRED, CLOSED, WISH_CLOSED, SAME_DAY), nothing booked then.

    Locks in a booking's order — the chair, then the wish, then the offer — so that patients
    accepting one time at once queue on the chair, and the winner can mark the others gone."""
    now = now or timezone.now()
    with transaction.atomic():
        Chair.objects.select_for_update().filter(pk=offer.chair_id).first()
        entry = (WaitlistEntry.objects.select_for_update(of=("self",)).select_related("earlier_than")
                 .get(pk=offer.entry_id))
        current = (SlotOffer.objects.select_for_update(of=("self",))
                   .select_related("patient", "clinic", "chair", "freed_slot").get(pk=offer.pk))
        if current.status != SlotOffer.Status.OPEN:
            return CLOSED, None
        if not answerable(current, now):
            current.status = SlotOffer.Status.EXPIRED
            current.save(update_fields=["status"])
            return EXPIRED, None
        if entry.status != WaitlistEntry.Status.WAITING:
            return WISH_CLOSED, None
        clinic = current.clinic
        others = Appointment.objects.to_come().filter(patient=current.patient_id).exclude(pk=entry.earlier_than_id)
        if not _free_of_other_sessions(clinic, current.starts_at, current.ends_at,
                                       list(others.filter(starts_at__lt=current.ends_at + datetime.timedelta(days=1),
                                                          ends_at__gt=current.starts_at - datetime.timedelta(days=1)))):
            return SAME_DAY, None
        try:
            appointment = _book(current, entry, user if getattr(user, "is_authenticated", False) else None)
        except (booking.SlotUnavailable, booking.AppointmentStateError) as error:
            current.status, current.answered_at = SlotOffer.Status.GONE, now
            current.last_error = one_line(error.message)[:1000]
            current.gone_told_at = now  # they see it on the page they are looking at
            current.save(update_fields=["status", "answered_at", "last_error", "gone_told_at"])
            return TAKEN, None
        current.status, current.answered_at, current.appointment = SlotOffer.Status.ACCEPTED, now, appointment
        current.save(update_fields=["status", "answered_at", "appointment"])
        entry.status, entry.closed_at = WaitlistEntry.Status.BOOKED, now
        entry.save(update_fields=["status", "closed_at"])
        SlotOffer.objects.filter(chair=current.chair_id, status__in=LIVE, starts_at__lt=appointment.ends_at,
                                 ends_at__gt=appointment.starts_at).exclude(pk=current.pk).update(
            status=SlotOffer.Status.GONE, last_error="Another patient took this time first.")
        SlotOffer.objects.filter(entry=entry, status__in=LIVE).exclude(pk=current.pk).update(
            status=SlotOffer.Status.SKIPPED, last_error="The patient took another offered time.")
        freed = current.freed_slot
        if freed is not None and appointment.starts_at <= freed.starts_at and appointment.ends_at >= freed.ends_at:
            FreedSlot.objects.filter(pk=freed.pk, status=FreedSlot.Status.OPEN).update(
                status=FreedSlot.Status.FILLED, closed_at=now)
        enqueue_after_commit(TASK)  # tell the others, offer what is left
    return BOOKED, appointment


def decline(offer, now=None):
    """No thanks: the next candidate is offered the time. False if it was no longer open."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = SlotOffer.objects.filter(pk=offer.pk, status=SlotOffer.Status.OPEN).update(
            status=SlotOffer.Status.DECLINED, answered_at=now)
        if changed:
            enqueue_after_commit(TASK)
    return bool(changed)


# --- What staff see ----------------------------------------------------------------------------


def freed_on_day(clinic, day):
    """The clinic's freed times starting on ``day`` (its calendar), each with its offers
    (``offer_list``), patients named: two queries."""
    on_day = FreedSlot.objects.filter(clinic=clinic, starts_at__gte=midnight(clinic, day),
                                      starts_at__lt=midnight(clinic, day + datetime.timedelta(days=1)))
    rows = list(on_day.select_related("chair").order_by("starts_at", "chair__name", "pk"))
    offers = {}
    # By a subquery, not the rows' keys: a day without freed times asks too, so the day view's
    # queries are the same whatever the day holds.
    for offer in (SlotOffer.objects.filter(freed_slot__in=on_day.values("pk")).select_related("patient")
                  .order_by("created_at")):
        offers.setdefault(offer.freed_slot_id, []).append(offer)
    now = timezone.now()
    for freed in rows:
        freed.offer_list = offers.get(freed.pk, [])
        for offer in freed.offer_list:
            offer.state_words = offer_words(offer, clinic, now)
    return rows


def offer_words(offer, clinic, now):
    """An offer's state for staff: "holding until 10:30", "accepted", …"""
    if offer.status == SlotOffer.Status.OPEN and offer.expires_at and now < offer.expires_at:
        return f"holding until {clinic.local(offer.expires_at):%H:%M}"
    if offer.status == SlotOffer.Status.OPEN:
        return "hold ran out"
    return offer.get_status_display().lower()
