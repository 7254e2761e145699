from celery import shared_task

from . import adherence


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def flag_overdue_patients():
    """Hourly (beat). Works from database state: a missed run catches up, a repeated or
    concurrent run raises nothing twice."""
    return adherence.flag_overdue_patients()
