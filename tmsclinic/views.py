import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import health, logoff
from .celery import app as celery_app
from .roles import SEE_PATIENTS, is_staff_member, may
from .tasks import HEARTBEAT_KEY


@login_required
def home(request):
    if may(request.user, SEE_PATIENTS):
        return redirect("staff:today")
    if is_staff_member(request.user) and request.user.is_staff:  # a clinic admin: configuration
        return redirect("admin:index")
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


def _may_see_health_details(request):
    """A signed-in staff member, or a monitor presenting ``Authorization: Bearer`` with
    TMS_HEALTHZ_TOKEN; everyone else learns only "ok" or "not ok"."""
    if is_staff_member(request.user):
        return True
    token = settings.TMS_HEALTHZ_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico where a page names no icon (error pages, files): the icon
    the pages name. Its static URL is read per request, once the storage's manifest exists."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


@never_cache
@require_GET
def healthz(request):
    """200 while the database answers. The broker and the worker's last heartbeat are
    reported, never failed on: a web node stays in rotation while Redis restarts. Only staff
    and holders of the token see those details."""
    if not _may_see_health_details(request):
        return health.bare_answer()
    database = "ok" if health.database_answers() else "unreachable"
    status = 200 if database == "ok" else 503
    try:
        worker_seen = cache.get(HEARTBEAT_KEY)
    except Exception:  # a Redis cache that is down must not fail the probe either
        worker_seen = None
    body = {
        "status": "ok" if status == 200 else "not ok",
        "database": database,
        "broker": "ok" if _broker_reachable() else "unreachable",
        "worker_last_seen": worker_seen,
    }
    return JsonResponse(body, status=status)


def _session_answer(request):
    return JsonResponse({"signed_in": request.user.is_authenticated, "seconds_left": logoff.seconds_left(request)})


@never_cache
@require_GET
@logoff.session_endpoint
def session_status(request):
    """How long this login has left. Polled by static/js/logoff.js; not activity."""
    return _session_answer(request)


@never_cache
@require_POST
@logoff.session_endpoint
def session_keepalive(request):
    """The warning's "Stay signed in" button: counts as activity (CSRF-protected like every POST)."""
    if request.user.is_authenticated:
        logoff.record_activity(request, force=True)
    return _session_answer(request)
