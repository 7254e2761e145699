import logging
import os
import threading

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tmsclinic.settings")

log = logging.getLogger(__name__)

app = Celery("tmsclinic")
# Every CELERY_* setting in tmsclinic/settings.py configures the app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_after_commit(task_name, *, args=(), kwargs=None, eta=None):
    """Ask a worker to run a task at ``eta`` (or now), once the transaction commits, from a
    background thread: a broker that is down or hangs never slows or fails the request.
    A reminder is not lost if the message never arrives (beat runs the same task from database
    state every minute); a password-reset e-mail is, and the person asks again."""

    def publish():
        try:
            # Without the eta a worker would run the task at once, before a reminder is due,
            # and find nothing to send.
            app.send_task(task_name, args=args, kwargs=kwargs, eta=eta, retry=False)
        except Exception:  # the broker is down
            log.warning("could not enqueue %s", task_name, exc_info=True)

    # robust: even a thread that cannot start must not turn a committed change into an error.
    transaction.on_commit(lambda: threading.Thread(target=publish, daemon=True).start(), robust=True)
