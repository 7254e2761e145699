"""Celery tasks. Each works from database state ("what is due and not done"), so a missed
run catches up and a repeated or concurrent run changes nothing twice."""

import logging

from celery import shared_task

from .services import booking, outreach, plans, portal, reminders, waitlist

log = logging.getLogger(__name__)

RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 3, "ignore_result": True}


@shared_task(**RETRY)
def flag_overdue_patients():
    """Hourly: overdue-maintenance and missed-appointment flags."""
    return plans.flag_overdue_patients()


@shared_task(**RETRY)
def send_due_reminders():
    """Every minute: the reminders outbox. A run that claims a full batch enqueues another run
    before sending it, so a backlog is shared by every idle worker, each claiming its own batch."""
    return reminders.send_due(hand_on=_another_run)


def _another_run():
    """Enqueue another run of send_due_reminders; False when it could not be (the broker is
    down: the run in hand goes on with the next batch itself) or need not be (tasks run eagerly,
    in this process)."""
    if send_due_reminders.app.conf.task_always_eager:
        return False
    try:
        send_due_reminders.apply_async(retry=False)
    except Exception:
        log.warning("could not enqueue another run of send_due_reminders", exc_info=True)
        return False
    return True


@shared_task(**RETRY)
def nudge_due_soon():
    """Daily: "book your next session" for plans due soon with nothing booked."""
    return reminders.nudge_due_soon()


@shared_task(**RETRY)
def mark_no_shows():
    """Every 15 minutes: sessions still booked after their end become no-shows."""
    return booking.mark_no_shows()


@shared_task(**RETRY)
def send_staff_digest():
    """Daily: each clinician hears of the flags raised since the last digest."""
    return reminders.staff_digest()


@shared_task(**RETRY)
def run_outreach():
    """Every minute: arm the outreach cadences' due steps and send what is due."""
    return outreach.run()


@shared_task(**RETRY)
def offer_freed_slots():
    """Every minute, and after each freed time or answer: the waitlist's offers."""
    return waitlist.offer_freed_slots()


@shared_task(ignore_result=True, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def send_portal_invitation(*, patient_id):
    """A portal invitation (services.portal.invite_patient), sent here rather than in the staff's
    request; a mail server that is down is retried a few times with growing delays."""
    return portal.send_invitation(patient_id)
