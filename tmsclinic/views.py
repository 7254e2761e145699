from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app
from .roles import is_staff_member
from .tasks import HEARTBEAT_KEY


@login_required
def home(request):
    if is_staff_member(request.user):
        return redirect("staff:today")
    if hasattr(request.user, "patient"):  # a patient who used the staff login page
        return redirect("portal:home")
    raise PermissionDenied("This page is for clinic staff.")


def _broker_reachable():
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        return True
    except Exception:  # any transport error means "not reachable"; never fail the probe
        return False


@never_cache
@require_GET
def healthz(request):
    """200 while the database answers. The broker and the worker's last heartbeat are
    reported, never failed on: a web node stays in rotation while Redis restarts."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except DatabaseError:
        database = "unreachable"
    try:
        worker_seen = cache.get(HEARTBEAT_KEY)
    except Exception:  # a Redis cache that is down must not fail the probe either
        worker_seen = None
    body = {
        "database": database,
        "broker": "ok" if _broker_reachable() else "unreachable",
        "worker_last_seen": worker_seen,
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)
