"""The reminders outbox (scheduling/services/reminders.py and the jobs around it): e-mail and
SMS kept in memory, and a chair in a clinic open 06:00-22:00 every day."""

import pytest

from scheduling import sms
from tests.factories import ChairFactory
from tests.scheduling.services.reminders.helpers import open_all_week


@pytest.fixture(autouse=True)
def in_memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    settings.SITE_URL = "https://clinic.example"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def chair(clinic):
    open_all_week(clinic)
    return ChairFactory(clinic=clinic, name="Chair 1")
