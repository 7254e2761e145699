from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "tmsclinic:worker-heartbeat"


@shared_task(ignore_result=True)
def heartbeat():
    """Beat sends this every minute; /healthz reports when a worker last ran it, so an IT
    person can see that the worker and beat are alive."""
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)


@shared_task(ignore_result=True, acks_late=True)
def prune_audit():
    """Daily: delete audit events older than TMS_AUDIT_RETENTION_DAYS; the pruning is itself an
    event, and the chain stays checkable from the last pruned event's hash."""
    from .audit import prune

    return prune()


@shared_task(ignore_result=True, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def send_password_reset(*, user_id, flow, subject_template, email_template, url_name):
    """A password-reset e-mail (staff or portal), sent here rather than in the web request; a
    mail server that is down is retried a few times with growing delays."""
    from .accounts.passwords import send_reset_email

    return send_reset_email(user_id=user_id, flow=flow, subject_template=subject_template,
                            email_template=email_template, url_name=url_name)
