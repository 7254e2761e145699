"""The second factor: who must have one, the login's second step, setting one up, removing it,
and a superuser's reset of someone else's.

Built on django-otp. An account's authenticator app is a confirmed ``TOTPDevice``; its
recovery codes are one ``StaticDevice`` holding ``RECOVERY_CODES`` one-time tokens. django-otp
throttles each device's wrong codes (1, 2, 4, 8… seconds after successive failures) and
``OTPMiddleware`` says whether this login passed the second factor
(``request.user.is_verified()``). Every change, and every wrong code, is an audit event
("mfa").
"""

import base64
import math
import re
import time

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import get_user_model, user_logged_in
from django.contrib.auth import login as auth_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone
from django.utils.safestring import mark_safe
from django_otp import login as otp_login
from django_otp import user_has_device, verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tmsclinic import audit
from tmsclinic.roles import roles_of

RECOVERY_CODES = 10
APP_NAME = "Authenticator app"
CODES_NAME = "Recovery codes"
# What the next /staff/ or /admin/ page needs first (SecondFactorMiddleware).
CODE, SETUP = "code", "setup"
# Whether the account had a second factor when it logged in: read on every request instead of
# asking the database, and kept up to date when this session adds or removes one.
DEVICE_AT_LOGIN = "tms_mfa_device_at_login"
# A login between its two steps: the password was right, the code is still to come.
PENDING = "tms_mfa_pending"
PENDING_SECONDS = 5 * 60
AUTHENTICATOR_CODE = re.compile(r"\d{6}")

WRONG_CODE = "That code is not right. Type the 6-digit code your authenticator app shows now, or a recovery code."


# --- Who is asked ---------------------------------------------------------------------------


def required_for(user):
    """Whether this account must have a second factor: when TMS_MFA_REQUIRED is on, every
    superuser and admin (is_staff) account and every holder of a role in TMS_MFA_ROLES."""
    if not settings.TMS_MFA_REQUIRED or not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return bool(roles_of(user) & set(settings.TMS_MFA_ROLES))


def has_device(user):
    return user_has_device(user, confirmed=True)


def has_app(user):
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def owed(request):
    """What a signed-in user must do before a staff or admin page: None (nothing), CODE (give
    the code of the second factor they have) or SETUP (set one up: it is required of them).
    Costs no query for a login that has passed, or that has no second factor and needs none."""
    user = request.user
    if not user.is_authenticated or user.is_verified():
        return None
    device_at_login = request.session.get(DEVICE_AT_LOGIN)
    if device_at_login is None:  # a login from before the second factor existed
        device_at_login = request.session[DEVICE_AT_LOGIN] = has_device(user)
    required = required_for(user)
    if not (device_at_login or required):
        return None
    if has_device(user):
        return CODE
    return SETUP if required else None


@receiver(user_logged_in, dispatch_uid="mfa_device_at_login")
def _remember_device(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[DEVICE_AT_LOGIN] = has_device(user)


# --- The login's second step ----------------------------------------------------------------


def start_pending(request, user, next_url):
    """The password was right and the account has a second factor: remember who is logging in
    (not logged in yet) for PENDING_SECONDS, until the code comes."""
    request.session.cycle_key()
    request.session[PENDING] = {
        "user": user.pk, "backend": user.backend, "hash": user.get_session_auth_hash(),
        "at": time.time(), "next": next_url,
    }


def pending_login(request):
    """(user, next_url) of the login waiting for its code, or (None, None) when there is none,
    it is too old, or the password changed meanwhile."""
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None or user.get_session_auth_hash() != pending["hash"]:
        return None, None
    user.backend = pending["backend"]
    return user, pending["next"]


def finish_pending(request, user, device):
    """Log in the pending user as passed by ``device`` (django-otp keeps it in the session)."""
    request.session.pop(PENDING, None)
    user.otp_device = device
    auth_login(request, user, backend=user.backend)


def check_code(request, user, code):
    """(device, None) when ``code`` is right for one of ``user``'s devices — a recovery code is
    then used up — else (None, why not in words). Six digits are an authenticator code, anything
    else a recovery code. Wrong codes count against the device's throttle and are audited."""
    code = re.sub(r"[\s-]", "", code or "").lower()
    if AUTHENTICATOR_CODE.fullmatch(code):
        model, what = TOTPDevice, "authenticator code"
    else:
        model, what = StaticDevice, "recovery code"
    for device in model.objects.devices_for_user(user, confirmed=True):
        allowed, info = device.verify_is_allowed()
        if not allowed:
            wait = math.ceil((info["locked_until"] - timezone.now()).total_seconds())
            audit.record("mfa", request=request, user=user,
                         detail=f"{what} not checked: {info['failure_count']} wrong codes in a row")
            return None, f"Too many wrong codes. Wait {max(wait, 1)} seconds, then try again."
        verified = verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified, None
    audit.record("mfa", request=request, user=user, detail=f"wrong {what}")
    return None, WRONG_CODE


# --- Setting up, removing, resetting --------------------------------------------------------


def app_being_set_up(user):
    """The authenticator app this user is setting up: an unconfirmed device, kept until it is
    confirmed, so that reloading the page shows the same secret."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_NAME, confirmed=False)


def secret_text(device):
    """The device's secret as people type it into an app by hand: base32 in groups of four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(device):
    """The device's otpauth:// address as an inline SVG QR code (markup, no script)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string(encoding="unicode")
    svg = svg.replace("<svg ", '<svg role="img" aria-label="QR code to scan with your authenticator app" '
                               'class="qr-code" ', 1)
    return mark_safe(svg)  # noqa: S308 - made here by qrcode from our own data


def confirm_app(request, device, code):
    """Confirm the app being set up with a code it shows: the app becomes the account's second
    factor, this login counts as passed, and the account gets new recovery codes, returned to be
    shown once. None when the code is wrong."""
    user = request.user
    with transaction.atomic():
        verified = verify_token(user, device.persistent_id, re.sub(r"\s", "", code or ""))
        if verified is None:
            audit.record("mfa", request=request, detail="wrong authenticator code while setting up an app")
            return None
        verified.confirmed = True
        verified.save(update_fields=["confirmed"])
        TOTPDevice.objects.devices_for_user(user, confirmed=False).delete()
        codes = _new_recovery_codes(user)
        audit.record("mfa", request=request, detail="set up an authenticator app and recovery codes")
    otp_login(request, verified)
    request.session[DEVICE_AT_LOGIN] = True
    return codes


def _new_recovery_codes(user):
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=CODES_NAME, confirmed=True)
    tokens = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=token) for token in tokens)
    return [f"{token[:4]}-{token[4:]}" for token in tokens]


def regenerate_recovery_codes(request):
    """New recovery codes for the signed-in user, replacing every old one; returned to be shown
    once."""
    with transaction.atomic():
        codes = _new_recovery_codes(request.user)
        audit.record("mfa", request=request, detail="generated new recovery codes (the old ones no longer work)")
    return codes


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def remove_own(request, code):
    """Remove the signed-in user's second factor (app and recovery codes) after a code from it;
    returns why not, in words, or None when it is done."""
    user = request.user
    device, refusal = check_code(request, user, code)
    if device is None:
        return refusal
    with transaction.atomic():
        _delete_devices(user)
        audit.record("mfa", request=request, detail="removed their authenticator app and recovery codes")
    request.session[DEVICE_AT_LOGIN] = False
    return None


def reset(request, account):
    """A superuser removes another account's second factor (a lost phone): that account logs in
    with its password next time and, where it is required, sets up a new one at once."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only a superuser resets someone else's second factor.")
    with transaction.atomic():
        removed = _delete_devices(account)
        audit.record("mfa", request=request,
                     detail=f"reset the second factor of {account.get_username()} ({removed} devices removed)")
    return removed


def _delete_devices(user):
    """Delete every device of ``user``; returns how many (recovery codes count as one)."""
    removed = 0
    for model in (TOTPDevice, StaticDevice):
        _, per_model = model.objects.filter(user=user).delete()
        removed += per_model.get(model._meta.label, 0)
    return removed


def accounts_with_devices():
    """Accounts that have a second factor, for the superuser's reset page."""
    apps = TOTPDevice.objects.filter(confirmed=True).values("user")
    codes = StaticDevice.objects.filter(confirmed=True).values("user")
    return get_user_model().objects.filter(Q(pk__in=apps) | Q(pk__in=codes)).order_by("username")
