"""Automatic logoff: the one place that says when a login ends.

A login ends after ``TMS_STAFF_IDLE_MINUTES`` (staff) or ``TMS_PORTAL_IDLE_MINUTES`` (portal
accounts) without a request, and ``SESSION_COOKIE_AGE`` seconds after it began however busy
it was. Both moments are kept in the session; ``AutomaticLogoffMiddleware`` enforces them on
every request and ``static/js/logoff.js`` takes the page's patient data off the screen when
they pass. The session-status endpoint reads them without counting as activity.
"""

import math
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_logged_in
from django.dispatch import receiver
from django.shortcuts import resolve_url
from django.urls import reverse

from .roles import is_staff_member

LAST_ACTIVITY = "tms_last_activity"  # epoch seconds of the latest request that counted
SIGNED_IN_AT = "tms_signed_in_at"  # epoch seconds of the login
# Activity is written to the session at most every this fraction of the idle limit (a write
# per request would cost database queries on every page), so a login may end up to that much
# before its full idle limit: a minute of the staff's 15, two of the portal's 30.
ACTIVITY_RESOLUTION = 1 / 15

IDLE, MAX_AGE = "idle", "max_age"  # request.logout_reason, read by the audit trail


def session_endpoint(view):
    """Marks a view that answers about the session itself (status, stay signed in): the
    middleware neither counts it as activity nor redirects it when the login has ended."""
    view.session_endpoint = True
    return view


def is_portal_account(user):
    """A patient's portal account: not staff, not an administrator. Anyone else gets the
    stricter staff limit."""
    return not (is_staff_member(user) or user.is_staff)


def idle_limit(user):
    minutes = settings.TMS_PORTAL_IDLE_MINUTES if is_portal_account(user) else settings.TMS_STAFF_IDLE_MINUTES
    return minutes * 60


def _left(request, now):
    """(seconds until the idle limit, seconds until the absolute limit)."""
    session = request.session
    idle = session.get(LAST_ACTIVITY, now) + idle_limit(request.user) - now
    absolute = session.get(SIGNED_IN_AT, now) + settings.SESSION_COOKIE_AGE - now
    return idle, absolute


def seconds_left(request, now=None):
    """Whole seconds until this login ends, rounded up (0 when it has, or when nobody is
    signed in)."""
    if not request.user.is_authenticated:
        return 0
    now = time.time() if now is None else now
    return max(0, math.ceil(min(*_left(request, now))))


def ended_because(request, now):
    """IDLE or MAX_AGE when the signed-in user's login has run out, else None."""
    idle, absolute = _left(request, now)
    if idle <= 0:
        return IDLE
    if absolute <= 0:
        return MAX_AGE
    return None


def record_activity(request, now=None, *, force=False):
    """Counts this request as the user's activity. Without ``force`` the session is written
    only when the last recorded activity is older than ACTIVITY_RESOLUTION of the idle limit;
    a clock that went back (time travel in tests, a corrected server clock) is not activity."""
    now = time.time() if now is None else now
    session = request.session
    if SIGNED_IN_AT not in session:  # a login made before automatic logoff was deployed
        session[SIGNED_IN_AT] = now
    last = session.get(LAST_ACTIVITY)
    if force or last is None or now - last >= idle_limit(request.user) * ACTIVITY_RESOLUTION:
        session[LAST_ACTIVITY] = now


def login_url(user, next_path=None):
    """Where this user signs in again: the portal's login for portal accounts, else staff's."""
    url = reverse("portal:login") if is_portal_account(user) else resolve_url(settings.LOGIN_URL)
    return f"{url}?{urlencode({'next': next_path})}" if next_path else url


def sign_out(request, reason):
    """Logs the user out through Django (so ``user_logged_out`` fires and the audit trail
    reads ``request.logout_reason``) and leaves a message for the login page."""
    if reason == IDLE:
        minutes = idle_limit(request.user) // 60
        text = f"You were signed out after {minutes} minutes without activity, to protect patients' information."
    else:
        hours = settings.SESSION_COOKIE_AGE // 3600
        text = f"You were signed out because a login lasts at most {hours} hours. Please sign in again."
    request.logout_reason = reason
    logout(request)
    messages.warning(request, text)


@receiver(user_logged_in, dispatch_uid="logoff_signed_in_at")
def _start_the_clocks(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_ACTIVITY] = now


def context(request):
    """Template context: what ``static/js/logoff.js`` needs, for a signed-in user's pages."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "logoff": {
            "seconds_left": seconds_left(request),
            "warn_seconds": settings.TMS_LOGOFF_WARNING_SECONDS,
            "status_url": reverse("session-status"),
            "keepalive_url": reverse("session-keepalive"),
            "login_url": login_url(user),
        }
    }
