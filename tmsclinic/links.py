"""Links that leave the site (e-mails, SMS, calendar files) carry its full address."""

from django.conf import settings


def absolute_url(path):
    """``path`` (from ``reverse``) on the address staff and patients use, ``SITE_URL``."""
    return settings.SITE_URL.rstrip("/") + path
