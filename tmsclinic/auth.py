"""Login throttling (django-axes) as this project uses it."""

from axes.attempts import get_cool_off_threshold
from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check for logins made through a web request.

    A login without a request (the test client's ``login``, a management command) cannot be
    a guess from the internet, so it is left to the next backend instead of failing.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def username_for_lockout(request, credentials):
    """The username axes counts failures against; portal usernames are e-mail addresses,
    so "Ann@x" and "ann@x" share one count."""
    username = (credentials or {}).get("username")
    if username is None:
        username = request.POST.get("username") if request is not None else None
    return username.strip().lower() if isinstance(username, str) else username


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler with a second, higher limit per client address.

    axes locks a username from an address after AXES_FAILURE_LIMIT failures
    (AXES_LOCKOUT_PARAMETERS); one address trying a few passwords on many usernames (password
    spraying) never reaches that, so an address is also locked after AXES_IP_FAILURE_LIMIT
    failures in the cool-off period, whatever the usernames: its failures then count as the
    limit, so axes refuses the login and shows its lockout page as for one username. A successful
    login clears only its own username's failures, so an attacker cannot reset the count with an
    account of their own.
    """

    def get_failures(self, request, credentials=None):
        failures = super().get_failures(request, credentials)
        if self.address_failures(request) >= settings.AXES_IP_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures

    @staticmethod
    def address_failures(request):
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
