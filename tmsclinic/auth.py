"""Login throttling (django-axes) as this project uses it."""

from axes.backends import AxesStandaloneBackend


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
