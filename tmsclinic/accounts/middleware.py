from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from . import mfa

# The pages a second factor protects; the portal's patients are never asked for one.
GUARDED_PREFIXES = ("/staff/", "/admin/")
# Leaving is always allowed.
EXEMPT_URL_NAMES = frozenset({"admin:logout"})


class SecondFactorMiddleware:
    """No staff or admin page for a login that owes its second factor (``mfa.owed``): it is
    sent to give its code, or to set one up where one is required and it has none, and then on
    to the page it asked for. Sits after django-otp's OTPMiddleware and the automatic logoff."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path.startswith(GUARDED_PREFIXES):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in EXEMPT_URL_NAMES:
            return None
        step = mfa.owed(request)
        if step is None:
            return None
        url = reverse("login-code" if step == mfa.CODE else "two-factor-setup")
        if request.htmx:  # the whole page goes, not just the fragment it asked for
            next_path = request.htmx.current_url_abs_path
        else:
            next_path = request.get_full_path() if request.method in ("GET", "HEAD") else None
        if next_path:
            url = f"{url}?{urlencode({'next': next_path})}"
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
