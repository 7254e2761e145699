"""Derived from the URL map, so that a new page cannot forget who may open it: every route
belongs to a known audience; every staff view asks for a capability of tmsclinic.roles; every
portal view needs the patient's own login or carries an unguessable key; and what each staff
role gets on every staff URL is pinned here, role by role."""

import datetime
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.factories import UserFactory, staff_user
from tmsclinic.roles import ALL_CAPABILITIES, CLINIC_ADMIN, CLINICIAN, FRONT_DESK, STAFF_ROLES, TECHNICIAN

# Least privilege (issue 11): the clinic admin configures in admin and opens no staff page; the
# front desk and the technician read no PHQ-9 and no report.
EVERYONE = frozenset({FRONT_DESK, TECHNICIAN, CLINICIAN})
BOOKERS = frozenset({FRONT_DESK, CLINICIAN})
CLINICIANS = frozenset({CLINICIAN})
REPORT_READERS = frozenset({CLINICIAN})
# The adherence dashboard shows aggregate figures only (no patient's name): the clinic admin's one staff page.
ADHERENCE_READERS = frozenset({CLINICIAN, CLINIC_ADMIN})

# Who gets past the door of each staff page: the access of the app as it stands, pinned by
# role rather than read back from the code. A page added to the map must be added here.
STAFF_ACCESS = {
    "today": EVERYONE,
    "day": EVERYONE,
    "run-sheet": EVERYONE,
    "week": EVERYONE,
    "book": BOOKERS,
    "appointment": EVERYONE,
    # Each action then asks for its own capability (tests/scheduling/…/test_appointment*).
    "appointment-action": EVERYONE,
    "patients": EVERYONE,
    "patient-new": BOOKERS,
    "patient-search": EVERYONE,
    "break-glass": CLINICIANS,
    "patient": EVERYONE,
    "patient-edit": BOOKERS,
    "phq9": CLINICIANS,
    "start-course": CLINICIANS,
    "plan-start": CLINICIANS,
    "invite": BOOKERS,
    "mt-recheck": CLINICIANS,
    "waitlist-add": BOOKERS,
    "waitlist-withdraw": BOOKERS,
    "plan-pause": CLINICIANS,
    "plan-resume": CLINICIANS,
    "plan-end": CLINICIANS,
    "attention": EVERYONE,
    "attention-book": BOOKERS,
    "attention-outreach": BOOKERS,
    "attention-message": BOOKERS,
    "attention-snooze": BOOKERS,
    "attention-resolve": BOOKERS,
    "outcomes-report": REPORT_READERS,
    "outcomes-csv": REPORT_READERS,
    "billing": BOOKERS,  # the front desk and clinicians: the BILLING capability
    "adherence": ADHERENCE_READERS,
    "authorisation": BOOKERS,  # likewise
    "course-end": CLINICIANS,
}

# Portal views that work without a portal login: the login itself, or a link with a key.
PORTAL_WITHOUT_LOGIN = {"login", "logout", "password-reset", "password-reset-sent", "set-password",
                        "reminder-link", "come-back", "sms-inbound", "calendar-feed", "offer"}
# The other routes, by name: site root, health probe, automatic logoff's session endpoints,
# staff login and password pages.
OTHER_ROUTES = {"home", "healthz", "favicon",
                "session-status", "session-keepalive", "login", "logout", "password_change",
                "password_change_done", "password_reset", "password_reset_done", "password_reset_confirm",
                "password_reset_complete",
                # The login's second step and the second-factor pages (tests/tmsclinic/accounts/).
                "login-code", "admin-login", "two-factor", "two-factor-setup", "two-factor-recovery-codes",
                "two-factor-remove", "two-factor-reset"}


def patterns(resolvers=None, namespace=None):
    """(namespace, name, pattern) of every named route, included maps too."""
    for entry in get_resolver().url_patterns if resolvers is None else resolvers:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # Django admin: its own permission checks (tests/…/admin)
            yield from patterns(entry.url_patterns, entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield namespace, entry.name, entry


def routes(namespace):
    return {name: pattern for ns, name, pattern in patterns() if ns == namespace}


def test_every_route_belongs_to_a_known_audience():
    for namespace, name, pattern in patterns():
        assert name, f"route {pattern.pattern} has no name"
        known = {"staff": STAFF_ACCESS, "portal": routes("portal"), None: OTHER_ROUTES}.get(namespace, ())
        assert name in known, f"{namespace}:{name} is a new route: say who may open it here"


@pytest.mark.parametrize("name", sorted(STAFF_ACCESS))
def test_every_staff_view_asks_for_a_capability(name):
    view = routes("staff")[name].callback
    asked = getattr(view, "required_capabilities", None)
    assert asked, f"staff:{name} does not use tmsclinic.roles.staff_required"
    assert asked <= ALL_CAPABILITIES


def test_every_portal_view_needs_the_patients_login_or_a_key():
    for name, pattern in routes("portal").items():
        if name in PORTAL_WITHOUT_LOGIN:
            continue
        assert getattr(pattern.callback, "patient_only", False), f"portal:{name} does not use patient_required"


def test_the_pinned_table_covers_exactly_the_staff_map():
    assert set(routes("staff")) == set(STAFF_ACCESS)


def staff_url(name):
    """The URL of a staff route, with values that find nothing: the door is checked before
    anything is looked up, so those let in answer 404 (or 405, or a redirect), never 403."""
    samples = {"uuid": uuid.uuid4(), "pk": 999999, "day": datetime.date(2026, 12, 2), "action": "check-in"}
    converters = routes("staff")[name].pattern.converters
    kwargs = {key: samples[key] for key in converters}
    # Converters of included maps (patients/<uuid>/…) are not on the pattern itself.
    for key in ("uuid", "pk"):
        try:
            return reverse(f"staff:{name}", kwargs={**kwargs, key: samples[key]})
        except Exception:  # noqa: S112 - not this route's keyword
            continue
    return reverse(f"staff:{name}", kwargs=kwargs or None)


def url_for(namespace, name, pattern, by_segment):
    """The URL of a route with the world's records, and whether it names one: which record a
    keyword names is read from the path segment before it (patients/<uuid>, attention/<pk>)."""
    if namespace == "staff":
        sample = staff_url(name)
        kwargs = resolve(sample).kwargs
        keys = {"uuid", "pk"} & set(kwargs)
        if not keys:
            return sample, False
        (key,) = keys
        segment = sample.split(f"/{kwargs[key]}/")[0].rsplit("/", 1)[-1]
        return reverse(f"staff:{name}", kwargs={**kwargs, key: by_segment[segment][key]}), True
    if set(pattern.pattern.converters) - {"uuid"}:
        return None, False
    kwargs = {"uuid": by_segment["appointments"]["uuid"]} if "uuid" in pattern.pattern.converters else None
    return reverse(f"portal:{name}", kwargs=kwargs), bool(kwargs)


@pytest.mark.parametrize("role", [*STAFF_ROLES, "superuser", "portal patient", "anonymous"])
def test_each_role_gets_what_the_table_says_on_every_staff_url(client, db, role):
    if role == "superuser":
        client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    elif role == "portal patient":
        client.force_login(UserFactory(username="ann@example.org"))
    elif role != "anonymous":
        client.force_login(staff_user(role=role, username=f"u-{role}"))
    for name, allowed in STAFF_ACCESS.items():
        url = staff_url(name)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if role == "anonymous":
                assert response.status_code == 302 and response["Location"].startswith(reverse("login")), (url, method)
            elif role == "superuser" or role in allowed:
                assert response.status_code != 403, (role, method, url)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)


def test_the_table_is_not_vacuous():
    # The technician is refused booking, the front desk and the clinic admin clinical changes:
    # the walk above checks refusals as well as admissions.
    refused = {role: {name for name, allowed in STAFF_ACCESS.items() if role not in allowed} for role in STAFF_ROLES}
    assert "book" in refused[TECHNICIAN] and "start-course" in refused[FRONT_DESK]
    assert {"phq9", "outcomes-csv"} <= refused[FRONT_DESK] & refused[TECHNICIAN]
    assert refused[CLINIC_ADMIN] == set(STAFF_ACCESS) - {"adherence"} and not refused[CLINICIAN]
    assert "adherence" in refused[FRONT_DESK] & refused[TECHNICIAN]
