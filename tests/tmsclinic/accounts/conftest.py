import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, staff_user
from tmsclinic.models import AuditEvent


def totp(key, at=None, *, step=30, digits=6):
    """RFC 6238 (TOTP over RFC 4226's HOTP, HMAC-SHA1), written here from the RFC rather than
    taken from django-otp, so that a test checks the app against the standard. ``key`` is the
    secret's bytes."""
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 10 ** digits:0{digits}d}"


def key_of_secret(secret_text):
    """The key's bytes from the secret as the set-up page shows it (base32 in groups)."""
    secret = re.sub(r"\s", "", secret_text)
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def app_for(user):
    """A confirmed authenticator app for ``user``; returns the key's bytes."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    return bytes.fromhex(device.key)


def recovery_codes_for(user, *codes):
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    for code in codes:
        StaticToken.objects.create(device=device, token=code)


def mfa_events(**filters):
    return list(AuditEvent.objects.filter(action="mfa", **filters).order_by("seq").values_list("username", "detail"))


def log_in_with_password(client, username, next_url=None):
    url = reverse("login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"username": username, "password": PASSWORD})


@pytest.fixture
def mfa_required(settings):
    settings.TMS_MFA_REQUIRED = True


@pytest.fixture
def clinician_with_app(db):
    user = staff_user(username="clinician", role="Clinician")
    return user, app_for(user)
