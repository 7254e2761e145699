from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "tmsclinic:worker-heartbeat"


@shared_task(ignore_result=True)
def heartbeat():
    """Beat sends this every minute; /healthz reports when a worker last ran it, so an IT
    person can see that the worker and beat are alive."""
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)
