"""Signed in as one patient, nothing under /portal/ opens another patient's record, whatever
identifier of theirs goes into the URL; and a patient account never opens a staff page."""

import datetime

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from scheduling.services.reminders import link_for
from tests.factories import AppointmentFactory, AssessmentFactory, PatientFactory, UserFactory


def named_patterns(namespace):
    """(name, converters) of every named URL pattern in a namespace, included lists too."""

    def walk(patterns, converters):
        for pattern in patterns:
            found = {**converters, **pattern.pattern.converters}
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, found)
            elif isinstance(pattern, URLPattern) and pattern.name:
                yield pattern.name, found

    resolver = next(p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == namespace)
    return sorted(dict(walk(resolver.url_patterns, {})).items())


@pytest.fixture
def me(clinic):
    patient = PatientFactory(home_clinic=clinic, first_name="Ann", last_name="Own", mrn="MRN-MINE")
    patient.user = UserFactory(username=patient.email)
    patient.save()
    return patient


@pytest.fixture
def other(clinic, chair):
    patient = PatientFactory(home_clinic=clinic, first_name="Zebedee", last_name="Otherpatient", mrn="MRN-OTHER-7",
                             calendar_token="their-secret-calendar-token")
    patient.user = UserFactory(username=patient.email)
    patient.save()
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(days=3)
    AppointmentFactory(patient=patient, chair=chair, starts_at=start)
    AssessmentFactory(patient=patient, item_1=3)
    return patient


def identifiers_of(patient):
    """Every value of this patient's that could go into a portal URL, by URL keyword."""
    appointment = patient.appointments.get()
    return {
        "uuid": [appointment.uuid, patient.uuid],
        "token": [patient.calendar_token, link_for(appointment).rstrip("/").rsplit("/", 1)[1],
                  default_token_generator.make_token(patient.user)],
        "uidb64": [urlsafe_base64_encode(force_bytes(patient.user.pk))],
    }


def urls_with(name, converters, values):
    """Every URL of the pattern with each of the given values in turn (all combinations)."""
    combos = [{}]
    for key in converters:
        assert key in values, f"portal:{name} takes <{key}>: add the other patient's {key} to identifiers_of"
        combos = [{**combo, key: value} for combo in combos for value in values[key]]
    for kwargs in combos:
        try:
            url = reverse(f"portal:{name}", kwargs=kwargs or None)
        except NoReverseMatch:  # a value of the wrong shape for this converter
            url = None
        if url is not None:
            yield url


def is_login_redirect(response):
    return response.status_code == 302 and response["Location"].startswith(
        (reverse("portal:login"), reverse("login"))
    )


def test_the_walk_covers_the_portal():
    names = {name for name, _ in named_patterns("portal")}
    assert {"home", "phq9", "preferences", "calendar-feed", "appointment-ics", "set-password"} <= names
    # Inviting a patient is a staff action: it lives in the staff map, walked below.
    assert "invite" in {name for name, _ in named_patterns("staff")}


def test_no_portal_url_opens_another_patients_record(client, me, other):
    values = identifiers_of(other)
    checked = 0
    for name, converters in named_patterns("portal"):
        urls = list(urls_with(name, converters, values))
        assert urls, f"no URL could be built for portal:{name}"
        for url in urls:
            for method in ("get", "post"):
                client.force_login(me.user)
                response = getattr(client, method)(url)
                body = response.content.decode(errors="replace")
                assert "Otherpatient" not in body and "MRN-OTHER-7" not in body, (method, url)
                assert other.email not in body, (method, url)
                if converters:
                    assert response.status_code in {404, 405} or is_login_redirect(response), (
                        method, url, response.status_code)
                checked += 1
    assert checked > 20


def test_signed_out_the_portal_sends_to_login_or_404(client, other):
    values = identifiers_of(other)
    public = {"login", "password-reset", "password-reset-sent", "reminder-link", "calendar-feed", "set-password",
              "logout"}
    for name, converters in named_patterns("portal"):
        if name in public:
            continue
        for url in urls_with(name, converters, values):
            response = client.get(url)
            assert response.status_code in {404, 405} or is_login_redirect(response), (url, response.status_code)


def test_a_patient_account_never_opens_a_staff_page(client, me, other):
    client.force_login(me.user)
    samples = {"UUIDConverter": other.uuid, "IntConverter": 1, "StringConverter": "x", "SlugConverter": "x",
               "PathConverter": "x"}
    checked = 0
    for name, converters in named_patterns("staff"):
        kwargs = {key: samples.get(type(conv).__name__, datetime.date(2026, 12, 2)) for key, conv in converters.items()}
        url = reverse(f"staff:{name}", kwargs=kwargs or None)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in {403, 405}, (method, url, response.status_code)
            assert "Otherpatient" not in response.content.decode()
            checked += 1
    assert checked > 20
    assert client.get("/")["Location"] == reverse("portal:home")  # the site root sends a patient to the portal
    assert client.get("/admin/").status_code == 302  # to the admin's own login: not staff


def test_staff_cannot_use_the_portal_as_a_patient(client, front_desk):
    client.force_login(front_desk)
    assert client.get(reverse("portal:home")).status_code == 404
    assert client.get(reverse("portal:phq9")).status_code == 404


def test_a_capability_link_works_for_its_owner(client, other):
    client.force_login(other.user)
    assert client.get(reverse("portal:calendar-feed", args=[other.calendar_token])).status_code == 200
    token = link_for(other.appointments.get()).rstrip("/").rsplit("/", 1)[1]
    assert client.get(reverse("portal:reminder-link", args=[token])).status_code == 200

