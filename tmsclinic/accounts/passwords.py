"""Password-reset links: how long they work, how often they may be asked for, and their e-mail,
which the Celery worker sends (never the web request).

Staff links work TMS_STAFF_RESET_TIMEOUT seconds (an hour); the portal's invitation and reset
links keep PASSWORD_RESET_TIMEOUT. Requests are counted per address and per client address in
fixed windows of TMS_RESET_WINDOW_MINUTES, in the "throttle" cache.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.cache import caches
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode

from tmsclinic.celery import enqueue_after_commit
from tmsclinic.inputs import one_line
from tmsclinic.links import absolute_url

log = logging.getLogger(__name__)

REFUSED = ("Too many password-reset requests for this address or from this network. "
           "Please wait an hour before asking again, or call the clinic.")
UNAVAILABLE = ("Password reset cannot be offered for a moment. "
               "Please try again in a few minutes, or call the clinic.")


class ThrottleUnavailable(Exception):
    """The request counters cannot be read (the throttle cache, Redis in production, is down):
    the request is refused rather than let through uncounted."""


class StaffResetTokenGenerator(PasswordResetTokenGenerator):
    """Tokens of the staff reset links: valid TMS_STAFF_RESET_TIMEOUT seconds (Django's own
    generator reads only PASSWORD_RESET_TIMEOUT), and salted apart, so a portal link's token
    never opens the staff page nor the reverse."""

    key_salt = "tmsclinic.accounts.passwords.StaffResetTokenGenerator"

    def check_token(self, user, token):
        if not super().check_token(user, token):
            return False
        made_at = base36_to_int(token.split("-")[0])
        return self._num_seconds(self._now()) - made_at <= settings.TMS_STAFF_RESET_TIMEOUT


staff_reset_tokens = StaffResetTokenGenerator()
TOKENS = {"staff": staff_reset_tokens, "portal": default_token_generator}


def _digest(value):
    return hashlib.sha256(str(value).encode()).hexdigest()[:32]


def reset_allowed(email, ip):
    """Count one reset request for ``email`` from client address ``ip``. False (and nothing
    counted) when either has reached its limit in this window. The count is the same whether
    or not an account has that address, so the answer says nothing about accounts."""
    cache = caches["throttle"]
    window = settings.TMS_RESET_WINDOW_MINUTES * 60
    slot = int(time.time() // window)
    limits = {
        f"reset:address:{_digest(email.strip().lower())}:{slot}": settings.TMS_RESET_PER_ADDRESS,
        f"reset:ip:{_digest(ip)}:{slot}": settings.TMS_RESET_PER_IP,
    }
    try:
        counts = cache.get_many(list(limits))
        if any(counts.get(key, 0) >= limit for key, limit in limits.items()):
            return False
        for key in limits:
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # expired between the two calls: the window just turned
                cache.add(key, 1, timeout=window)
    except Exception as error:  # noqa: BLE001 (any cache backend's connection error: Redis's, a file's)
        log.warning("the password-reset throttle cannot be read: refusing the request", exc_info=True)
        raise ThrottleUnavailable from error
    return True


def queue_reset_email(user, *, flow, subject_template, email_template, url_name):
    """Ask the worker to e-mail ``user`` a reset link once the request's transaction commits.
    Only the account's id travels through the broker; the worker makes the token."""
    enqueue_after_commit("tmsclinic.tasks.send_password_reset", kwargs={
        "user_id": user.pk, "flow": flow, "subject_template": subject_template,
        "email_template": email_template, "url_name": url_name,
    })


def send_reset_email(*, user_id, flow, subject_template, email_template, url_name):
    """The worker's half: make the link and send it. An account deactivated meanwhile gets none."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    uid, token = urlsafe_base64_encode(force_bytes(user.pk)), TOKENS[flow].make_token(user)
    context = {
        "user": user,
        "link": absolute_url(reverse(url_name, kwargs={"uidb64": uid, "token": token})),
        "minutes": settings.TMS_STAFF_RESET_TIMEOUT // 60,
        "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    send_mail(
        subject=one_line(render_to_string(subject_template, context)),
        message=render_to_string(email_template, context),
        from_email=None,
        recipient_list=[user.email],
    )
    return True
