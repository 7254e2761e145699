import time

from django.core.exceptions import DisallowedHost
from django.shortcuts import redirect
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect

from . import health, logoff


class HealthByAddressMiddleware:
    """A load balancer probes each web node at its own address, a ``Host`` that is not in
    ALLOWED_HOSTS, where Django would answer 400: such a probe of ``/healthz`` gets its bare
    answer ("ok" / "not ok", never the details) here, first of all middleware. Every other
    request, and ``/healthz`` with an allowed host, goes on as before."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz" and request.method == "GET":
            try:
                request.get_host()
            except DisallowedHost:
                return health.bare_answer()
        return self.get_response(request)


class NoStoreWhenSignedInMiddleware:
    """``Cache-Control: no-store, private`` on every response to a signed-in user, so no
    browser or proxy keeps a copy of a page with patients' data (nor shows one from the
    back-forward cache after logoff). Static files are served before this (whitenoise) and
    keep their long caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response


class AutomaticLogoffMiddleware:
    """Ends a login that has been idle too long or has lasted too long (``tmsclinic.logoff``)
    before its view runs, and counts every other request as activity.

    A page is sent to the right login page with ``?next=`` back to it; an htmx request gets
    ``HX-Redirect`` so that the whole page goes, not just the fragment it asked for. The
    session endpoints answer for themselves."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated:
            return None
        now = time.time()
        endpoint = getattr(view_func, "session_endpoint", False)
        reason = logoff.ended_because(request, now)
        if reason is None:
            if not endpoint:
                logoff.record_activity(request, now)
            return None
        logoff.sign_out(request, reason)  # request.user is anonymous from here; `user` is who it was
        if endpoint:
            return None
        if request.htmx:
            return HttpResponseClientRedirect(logoff.login_url(user, request.htmx.current_url_abs_path))
        next_path = request.get_full_path() if request.method in ("GET", "HEAD") else None
        return redirect(logoff.login_url(user, next_path))
