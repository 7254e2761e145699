"""Passwords: 12 characters at least and not a common one; reset links sent by the worker,
throttled per address and per client address without telling whether an account exists, and
valid an hour for staff (the portal's links keep PASSWORD_RESET_TIMEOUT)."""

import datetime
import queue
import re

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.models import Patient
from scheduling.services.portal import open_portal_account, set_password_link
from tests.factories import PASSWORD, UserFactory, staff_user
from tmsclinic.accounts.passwords import REFUSED

NEW_PASSWORD = "heron-lantern-quarry-7"
T0 = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(("password", "why"), [
    ("tms-demo-26", "at least 12 characters"),
    ("qwerty123456", "too common"),
    ("123456654321", "too common"),
])
def test_short_or_common_passwords_are_refused(password, why):
    with pytest.raises(ValidationError) as refused:
        validate_password(password)
    assert why in " ".join(refused.value.messages)


def test_the_demo_and_test_passwords_are_accepted():
    for password in (django_settings.DEMO_PASSWORD, "tms-demo-2026", PASSWORD, NEW_PASSWORD):
        validate_password(password)


def link_in(message):
    return re.search(r"http://\S+", message.body).group(0).removeprefix(django_settings.SITE_URL.rstrip("/"))


@pytest.fixture
def frontdesk(db):
    return staff_user(username="frontdesk", email="desk@clinic.test")


def ask_for_a_link(client, email, **extra):
    return client.post(reverse("password_reset"), {"email": email}, **extra)


def test_the_request_queues_the_e_mail_for_the_worker(client, frontdesk, django_capture_on_commit_callbacks,
                                                      monkeypatch):
    published = queue.Queue()
    monkeypatch.setattr("tmsclinic.celery.app.send_task", lambda name, **options: published.put((name, options)))
    with django_capture_on_commit_callbacks() as callbacks:
        response = ask_for_a_link(client, "desk@clinic.test")
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []  # nothing is sent by the web request
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the message is published from a thread of its own
    name, options = published.get(timeout=10)
    assert name == "tmsclinic.tasks.send_password_reset"
    # Only the account's id and the flow travel through the broker: the worker makes the link.
    assert options["kwargs"]["user_id"] == frontdesk.pk
    assert set(options["kwargs"]) == {"user_id", "flow", "subject_template", "email_template", "url_name"}


def test_the_worker_sends_a_link_that_works_once_for_an_hour(client, frontdesk, reset_mail_worker,
                                                            django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            ask_for_a_link(client, "desk@clinic.test")
        assert reset_mail_worker == [("tmsclinic.tasks.send_password_reset", {
            "user_id": frontdesk.pk, "flow": "staff", "url_name": "password_reset_confirm",
            "subject_template": "registration/emails/password_reset_subject.txt",
            "email_template": "registration/emails/password_reset.txt"})]
        (message,) = mail.outbox
        assert message.to == ["desk@clinic.test"]
        assert "for 60 minutes" in message.body
        link = link_in(message)

    with time_machine.travel(T0 + datetime.timedelta(minutes=61), tick=False):
        assert "This link no longer works" in client.get(link, follow=True).content.decode()
    with time_machine.travel(T0 + datetime.timedelta(minutes=59), tick=False):
        form_url = client.get(link, follow=True).redirect_chain[-1][0]
        response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert response["Location"] == reverse("password_reset_complete")
        assert "This link no longer works" in client.get(link, follow=True).content.decode()
    frontdesk.refresh_from_db()
    assert frontdesk.check_password(NEW_PASSWORD)


def test_a_short_password_is_refused_on_the_reset_page(client, frontdesk, reset_mail_worker,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_a_link(client, "desk@clinic.test")
    form_url = client.get(link_in(mail.outbox[0]), follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "short-pass1", "new_password2": "short-pass1"})
    assert "at least 12 characters" in response.content.decode()
    frontdesk.refresh_from_db()
    assert frontdesk.check_password(PASSWORD)


def test_the_staff_reset_sends_nothing_to_a_portal_account(client, patient, reset_mail_worker,
                                                           django_capture_on_commit_callbacks):
    patient.email = "ann@example.org"
    patient.save()
    open_portal_account(patient, password=PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = ask_for_a_link(client, "ann@example.org")
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_portal_links_keep_the_longer_lifetime_and_do_not_open_the_staff_page(client, patient, settings):
    patient.email = "ann@example.org"
    patient.save()
    with time_machine.travel(T0, tick=False):
        user = open_portal_account(patient, password=PASSWORD)
        link = set_password_link(user).removeprefix(settings.SITE_URL.rstrip("/"))
    with time_machine.travel(T0 + datetime.timedelta(days=2), tick=False):
        assert client.get(link, follow=True).status_code == 200
        uidb64, token = link.strip("/").split("/")[-2:]
        staff_page = reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})
        assert "This link no longer works" in client.get(staff_page, follow=True).content.decode()
    assert Patient.objects.get(pk=patient.pk).user.check_password(PASSWORD)


def test_requests_for_one_address_are_throttled_without_saying_whether_it_exists(client, frontdesk, settings):
    settings.TMS_RESET_PER_ADDRESS = 3
    for email in ("desk@clinic.test", "nobody@clinic.test"):
        for _ in range(3):
            assert ask_for_a_link(client, email)["Location"] == reverse("password_reset_done")
        refused = ask_for_a_link(client, email.upper())
        assert refused.status_code == 200 and REFUSED in refused.content.decode().replace("&#x27;", "'")
    # The same words for an address with an account and one without: nothing is given away.
    assert ask_for_a_link(client, "other@clinic.test")["Location"] == reverse("password_reset_done")


def test_requests_from_one_client_address_are_throttled(client, frontdesk, settings, reset_mail_worker,
                                                        django_capture_on_commit_callbacks):
    settings.TMS_RESET_PER_IP = 4
    with time_machine.travel(T0, tick=False):
        for n in range(4):
            ask_for_a_link(client, f"someone{n}@clinic.test", REMOTE_ADDR="203.0.113.9")
        with django_capture_on_commit_callbacks(execute=True):
            refused = ask_for_a_link(client, "desk@clinic.test", REMOTE_ADDR="203.0.113.9")
            assert refused.status_code == 200 and "Too many password-reset requests" in refused.content.decode()
            assert ask_for_a_link(client, "desk@clinic.test", REMOTE_ADDR="198.51.100.7").status_code == 302
        assert len(mail.outbox) == 1  # only the request from the other address was sent
    with time_machine.travel(T0 + datetime.timedelta(minutes=61), tick=False):
        assert ask_for_a_link(client, "desk@clinic.test", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_the_portal_reset_is_throttled_too(client, db, settings):
    settings.TMS_RESET_PER_ADDRESS = 1
    UserFactory(username="bo@example.com", email="bo@example.com")
    assert client.post(reverse("portal:password-reset"), {"email": "bo@example.com"}).status_code == 302
    refused = client.post(reverse("portal:password-reset"), {"email": "bo@example.com"})
    assert refused.status_code == 200 and "Too many password-reset requests" in refused.content.decode()


@pytest.mark.parametrize("url_name", ["password_reset", "portal:password-reset"])
def test_with_the_throttle_cache_down_a_reset_is_refused_with_a_message_not_a_500(
        client, frontdesk, settings, reset_mail_worker, django_capture_on_commit_callbacks, caplog, url_name):
    """A Redis that is not there (nothing listens on port 1): real connection errors, no mock. The
    request is refused, not let through uncounted, and nothing is queued."""
    settings.CACHES = {**settings.CACHES, "throttle": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                       "LOCATION": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(url_name), {"email": "desk@clinic.test"})
    assert response.status_code == 200
    assert "Password reset cannot be offered for a moment" in response.content.decode()
    assert reset_mail_worker == [] and mail.outbox == []
    assert "the password-reset throttle cannot be read" in caplog.text
