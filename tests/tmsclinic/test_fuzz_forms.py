"""Property-based fuzzing of every staff and portal form, derived from the URL map: nothing a
user can post gives a 5xx, and whatever is refused changes nothing.

The test builds one small clinic and opens every staff and portal page it can reach (every
route of the map with every object of the clinic, then the links and GET forms on those pages):
the staff pages as a superuser, who is shown every form, the portal's as the portal patient and
as nobody signed in. It collects the forms that post, one per route and action, and checks that
every route answering a GET with 405 is among them. Then, as each staff role of tmsclinic.roles
whose capabilities open the route, as the portal patient and as nobody, hypothesis posts to each
form: first every field in turn at its worst value (a day moved to the end of year 9999, a
number past what the database holds, a line break) with the others good, then generated values
— control characters, huge and unicode text, numbers and dates at the extremes, empty values,
lists and junk — in one or two fields, or all. A refusal is a 4xx, a form shown again with
errors, or an error message without a success; after one, the patients' and scheduling's tables
and the accounts are as they were. Each role starts from the same clinic.

Bounded and derandomized so CI gets the same examples every run: set TMS_FUZZ_EXAMPLES to look
harder on a developer's machine.
"""

import datetime
import os
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django import forms
from django.apps import apps
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.test.utils import ContextList
from django.urls import Resolver404, get_resolver, resolve
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from patients.models import PatientFlag, PlanTemplate, TreatmentCourse
from scheduling.models import Appointment
from scheduling.services import outreach, plans, waitlist
from scheduling.services.portal import open_portal_account, portal_account_for, set_password_link
from scheduling.services.reminders import link_for
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    OutreachMessageFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    SlotOfferFactory,
    TreatmentCourseFactory,
    UserFactory,
    WaitlistEntryFactory,
    staff_user,
)
from tests.tmsclinic.test_url_map import patterns
from tmsclinic.roles import STAFF_ROLES, capabilities_of

PORTAL_PATIENT = "portal patient"
ANONYMOUS = "anonymous"
AUDIENCES = ("staff", "portal")
EXAMPLES = int(os.environ.get("TMS_FUZZ_EXAMPLES", "10"))
PORTAL_PASSWORD = "violet-kestrel-harbour-42"

pytestmark = pytest.mark.usefixtures("frozen")


# --- Values ------------------------------------------------------------------------------------

control_text = st.text(alphabet=st.sampled_from("\x00\r\n\t\x0b\x1b\x7f\x85\u2028\u2029 aZ9é"), min_size=1,
                       max_size=20)
huge_text = st.sampled_from([5_001, 100_000]).flatmap(lambda n: st.sampled_from(["x" * n, "9" * n, "é\n" * n]))
extreme_numbers = st.sampled_from(["-1", "0", "-0", "2147483648", "-2147483649", "9223372036854775808", "1e309",
                                   "NaN", "-Infinity", "0x10", "1.5", "٣", "１２", "1_000"]) | st.integers(
    min_value=-(2**70), max_value=2**70).map(str)
extreme_dates = st.sampled_from([
    "0001-01-01", "9999-12-31", "0001-01-01T00:00", "9999-12-31T23:59", "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-12:00", "1899-12-31", "2201-01-01", "2026-02-30", "0000-00-00", "24:00", "23:59:60",
    "2026-03-08T02:30", "2026-11-01T01:30", "2026-12-07", "2026-12-07T10:00",
]) | st.dates().map(datetime.date.isoformat) | st.datetimes().map(datetime.datetime.isoformat)
wrong_types = st.sampled_from(["on", "true", "null", "None", "[]", "{}", "<script>", "' OR 1=1 --",
                               "00000000-0000-0000-0000-000000000000", "1@2026-12-07T10:00:00+00:00", "@", "%00"])
bad_value = st.one_of(st.just(""), control_text, st.text(max_size=40), huge_text, extreme_numbers, extreme_dates,
                      wrong_types)
# A list posts the field several times: a wrong type for a one-value field.
any_bad_value = bad_value | st.lists(bad_value, min_size=2, max_size=3)


# A good value made bad the way it is most likely to hurt: a day or moment moved to the ends of
# the calendar (in a date field or inside a value such as a proposed slot), a number past what
# the database holds, a line break in a line of text.
DAY = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?")
EDGES = ("9999-12-31T23:59", "0001-01-01T00:00", "1899-12-31T12:00", "2201-01-01T12:00")


def spoiled(value):
    if match := DAY.search(value):
        return [value[:match.start()] + (edge if match[1] else edge[:10]) + value[match.end():] for edge in EDGES]
    if value.lstrip("-").isdigit():
        return ["9223372036854775808", "-2147483649", "1e309"]
    return [value + "\r\nBcc: someone@example.org", value + "\x00", (value or "x") * 5_001]


def spoilers(good):
    return list(dict.fromkeys(bad for value in good for bad in spoiled(value))) or ["\r\n"]


@st.composite
def submissions(draw, fields):
    """A form's fields, with one or two (or, now and then, all) holding bad values and the rest
    the form's own good ones; sometimes a field the form does not have."""
    names = sorted(fields)
    everything_bad = not names or draw(st.integers(min_value=0, max_value=4)) == 0
    bad = set(names) if everything_bad else set(draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)))
    data = {name: draw(st.sampled_from(spoilers(fields[name])) | any_bad_value if name in bad or not fields[name]
                       else st.sampled_from(fields[name]))
            for name in names}
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        data[draw(st.text(min_size=1, max_size=12))] = draw(bad_value)
    return data


def worst_cases(fields):
    """Explicit examples run before the generated ones: each field in turn at its worst value,
    every other field good."""
    good = {name: values[0] for name, values in fields.items() if values}
    return [{**good, name: spoilers(fields[name])[0]} for name in sorted(fields)]


# --- Forms on the pages ------------------------------------------------------------------------

# Good values for fields whose page shows none: what a person would type.
TYPED = {"date": ["2026-12-10"], "datetime-local": ["2026-12-03T10:00"], "time": ["09:00"], "number": ["1", "40"],
         "email": ["fuzz.patient@example.org"], "tel": ["+12125550100"], "password": [PORTAL_PASSWORD],
         "search": ["Example"], "text": ["Fuzz"], "textarea": ["First line\nsecond line"]}


@dataclass
class FormOnPage:
    method: str
    action: str
    fields: dict = field(default_factory=dict)  # name -> good values

    def offer(self, name, value):
        if name and name != "csrfmiddlewaretoken" and value not in self.fields.setdefault(name, []):
            self.fields[name].append(value)


class FormsAndLinks(HTMLParser):
    """Every form of a page with its fields' names and good values, and every link."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.links = [], []
        self._form = self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        self.links += [link for link in (attrs.get("href") if tag == "a" else "", attrs.get("hx-get")) if link]
        if tag == "form":
            self._form = FormOnPage(attrs.get("method", "get").lower(), attrs.get("action", ""))
            self.forms.append(self._form)
        if self._form is None:
            return
        name = attrs.get("name")
        if tag == "input" and name and name != "csrfmiddlewaretoken":
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio", "hidden", "submit") or attrs.get("value"):
                self._form.offer(name, attrs.get("value", "on"))
            else:
                self._form.fields.setdefault(name, [])
            for value in TYPED.get(kind, []):
                self._form.offer(name, value)
        elif tag == "button" and name:
            self._form.offer(name, attrs.get("value", ""))
        elif tag == "select" and name:
            self._select = name
            self._form.fields.setdefault(name, [])
        elif tag == "option" and self._select and attrs.get("value"):
            self._form.offer(self._select, attrs["value"])
        elif tag == "textarea" and name:
            self._textarea = name
            for value in TYPED["textarea"]:
                self._form.offer(name, value)

    def handle_data(self, data):
        if self._form is not None and self._textarea and data.strip():
            self._form.offer(self._textarea, data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def route_of(path):
    """(namespace, name) of a staff or portal path, or None for any other."""
    try:
        match = resolve(urllib.parse.urlsplit(path).path)
    except Resolver404:
        return None
    return (match.namespace, match.url_name) if match.namespace in AUDIENCES else None


def seed_urls(data):
    """Every staff and portal route of the URL map, with every object of the data set that
    fits its parameters (which ones exist is read from the map, not listed here)."""
    samples = {"uuid": data.uuids, "pk": data.pks, "day": [datetime.date(2026, 12, 2)], "action": ["check-in"],
               "token": data.tokens}
    urls = set(data.extra_urls)
    for namespace, name, _ in patterns():
        if namespace not in AUDIENCES:
            continue
        prefix, resolver = get_resolver().namespace_dict[namespace]
        for possibility, *_ in resolver.reverse_dict.getlist(name):
            for template, params in possibility:
                combos = [{}]
                for param in params:
                    combos = [{**combo, param: value} for combo in combos for value in samples.get(param, [])]
                urls.update(f"/{prefix}{template % combo}" for combo in combos)
    return urls


def post_forms(client, seeds):
    """{action URL: fields} of every form that posts, on the pages reachable from the seeds
    (and one step further: their links and their GET forms filled with good values); and the
    routes that answered a GET with 405, which take only a POST."""
    found, seen, pages, post_only = {}, set(), sorted(seeds), set()
    for depth in range(2):
        following = []
        for url in pages:
            if url in seen or route_of(url) is None:
                continue
            seen.add(url)
            response = client.get(url, follow=True)
            if response.status_code == 405:
                post_only.add(url)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            page_path = response.wsgi_request.get_full_path()
            parser = FormsAndLinks()
            parser.feed(response.content.decode())
            for form in parser.forms:
                action = urllib.parse.urljoin(page_path, form.action or page_path)
                if form.method == "post":
                    # One form per path: the login page asked for by every page is one form.
                    path = urllib.parse.urlsplit(action).path
                    action = next((known for known in found if urllib.parse.urlsplit(known).path == path), action)
                    target = found.setdefault(action, {})
                    for name, values in form.fields.items():
                        target.setdefault(name, [])
                        target[name] += [value for value in values if value not in target[name]]
                elif depth == 0:
                    query = {name: values[0] for name, values in form.fields.items() if values}
                    following.append(action.split("?")[0] + "?" + urllib.parse.urlencode(query))
            if depth == 0:
                following += [urllib.parse.urljoin(page_path, link) for link in parser.links]
        pages = following
    # One URL per route (and action): the first object of the data set, in the order it was made.
    chosen = {}
    for url in sorted((url for url in found if route_of(url)), key=object_order):
        chosen.setdefault(route_and_action(url), url)
    return {url: found[url] for url in chosen.values()}, post_only


def route_and_action(url):
    match = resolve(urllib.parse.urlsplit(url).path)
    return match.namespace, match.url_name, tuple(sorted(
        (key, value) for key, value in match.kwargs.items() if isinstance(value, str)))


def object_order(url):
    match = resolve(urllib.parse.urlsplit(url).path)
    return route_and_action(url), sorted(
        (key, value.int if isinstance(value, uuid.UUID) else value) for key, value in match.kwargs.items()
        if not isinstance(value, str))


# --- The clinic the fuzzer works in ------------------------------------------------------------


@dataclass
class FuzzData:
    clinic: object
    uuids: list
    pks: list
    tokens: list
    extra_urls: list
    portal_user: object


def _join_clinic(user, clinic):
    # Staff see only their clinics' patients once clinics are walled off.
    try:
        membership = apps.get_model("scheduling", "ClinicMembership")
    except LookupError:
        return
    membership.objects.get_or_create(user=user, clinic=clinic, defaults={"is_home": True})


def ordered(number):
    # Fixed keys, so that "the first object of the data set" is the same on every run.
    return uuid.UUID(int=number)


@pytest.fixture
def fuzz_data(open_clinic, chair, protocol_for_fuzz):
    clinic, protocol = open_clinic, protocol_for_fuzz
    taper = PlanTemplate.objects.get(name="Taper to monthly")
    at_8 = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=clinic.tz)  # now, in the clinic
    # In an acute course, this morning's session begun and not yet checked in.
    acute = PatientFactory(home_clinic=clinic, first_name="Acute", uuid=ordered(1))
    course = TreatmentCourseFactory(patient=acute, protocol=protocol)
    AppointmentFactory(patient=acute, chair=chair, course=course, starts_at=at_8, uuid=ordered(11))
    # On maintenance, with a portal account, a session booked next week and an overdue flag.
    kept = PatientFactory(home_clinic=clinic, first_name="Kept", phone="+12125550111", email="kept@example.org",
                          calendar_token="fuzz-calendar-token", uuid=ordered(2))
    done = TreatmentCourseFactory(patient=kept, protocol=protocol, status=TreatmentCourse.Status.COMPLETED,
                                  ended_on=datetime.date(2026, 11, 20))
    plan = plans.start_plan(patient=kept, protocol=protocol, source_course=done, template=taper,
                            started_on=datetime.date(2026, 12, 7))
    upcoming = AppointmentFactory(patient=kept, chair=chair, plan=plan, kind=Appointment.Kind.MAINTENANCE,
                                  starts_at=datetime.datetime(2026, 12, 8, 10, 0, tzinfo=clinic.tz),
                                  uuid=ordered(12))
    overdue = PatientFlagFactory(patient=kept, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    portal_user = open_portal_account(kept, password=PORTAL_PASSWORD)
    # On the waitlist, with an offer of a freed time.
    offer = SlotOfferFactory(entry=WaitlistEntryFactory(patient=kept), chair=chair,
                             starts_at=datetime.datetime(2026, 12, 9, 9, 0, tzinfo=clinic.tz))
    # After an acute course with no plan yet: a safety flag, and checked in on the other chair.
    waiting = PatientFactory(home_clinic=clinic, first_name="Waiting", uuid=ordered(3))
    TreatmentCourseFactory(patient=waiting, protocol=protocol, status=TreatmentCourse.Status.COMPLETED,
                           ended_on=datetime.date(2026, 11, 25))
    safety = PatientFlagFactory(patient=waiting, kind=PatientFlag.Kind.SAFETY)
    AppointmentFactory(patient=waiting, chair=ChairFactory(clinic=clinic, name="Chair 2"), starts_at=at_8,
                       status=Appointment.Status.CHECKED_IN, uuid=ordered(13))
    # A paused plan, and an invitation to the portal not yet taken up.
    paused_patient = PatientFactory(home_clinic=clinic, first_name="Paused", uuid=ordered(4))
    invitation = set_password_link(portal_account_for(paused_patient))
    source = TreatmentCourseFactory(patient=paused_patient, protocol=protocol, status=TreatmentCourse.Status.COMPLETED,
                                    ended_on=datetime.date(2026, 11, 1))
    paused = plans.start_plan(patient=paused_patient, protocol=protocol, source_course=source, template=taper,
                              started_on=datetime.date(2026, 12, 7))
    plans.pause_plan(paused)
    return FuzzData(
        clinic=clinic,
        uuids=[ordered(number) for number in (1, 2, 3, 4, 11, 12, 13)],
        pks=[plan.pk, paused.pk, overdue.pk, safety.pk],
        tokens=[link_for(upcoming).rstrip("/").rsplit("/", 1)[1], kept.calendar_token,
                outreach.link_for(OutreachMessageFactory(flag=overdue)).rstrip("/").rsplit("/", 1)[1],
                waitlist.link_for(offer).rstrip("/").rsplit("/", 1)[1]],
        extra_urls=[urllib.parse.urlsplit(invitation).path],
        portal_user=portal_user,
    )


@pytest.fixture
def protocol_for_fuzz(db):
    return ProtocolFactory(chair_minutes=45)


# --- What is refused changes nothing -----------------------------------------------------------


def snapshot():
    """Every row of the patients' and scheduling's tables, and the accounts (less the time of
    their last login): what a refusal must leave as it was. The audit trail, sessions and
    lockout counters are meant to change."""
    rows = {}
    for model in [*apps.get_app_config("patients").get_models(), *apps.get_app_config("scheduling").get_models()]:
        rows[model._meta.label] = list(model.objects.order_by("pk").values_list())
    user_fields = [f.attname for f in get_user_model()._meta.concrete_fields if f.name != "last_login"]
    rows["accounts"] = list(get_user_model().objects.order_by("pk").values_list(*user_fields))
    rows["roles"] = list(get_user_model().groups.through.objects.order_by("pk").values_list())
    return rows


def is_refusal(response):
    if 400 <= response.status_code < 500:
        return True
    contexts = response.context if isinstance(response.context, ContextList) else [response.context]
    for context in filter(None, contexts):
        for value in context.flatten().values():
            if isinstance(value, forms.BaseForm | forms.BaseFormSet) and value.is_bound and value.errors:
                return True
    levels = {message.level for message in get_messages(response.wsgi_request)}
    return message_levels.ERROR in levels and message_levels.SUCCESS not in levels


# --- The tests ---------------------------------------------------------------------------------


def discover(data, client, audience):
    """The forms that post on the audience's pages, and the routes that take only a POST."""
    return post_forms(client, {url for url in seed_urls(data) if route_of(url)[0] == audience})


# Routes no page has a form for: an SMS provider posts a patient's reply to the webhook.
WEBHOOKS = {"/portal/sms/inbound/?token=fuzz-token": {"From": ["+12125550111"], "Body": ["STOP", "Hello"]}}


def assert_found_every_post_only_route(targets, post_only):
    targets = {**targets, **WEBHOOKS}
    found = {route_of(url) for url in targets}
    missing = {route_of(url) for url in post_only} - found
    assert not missing, f"no form found that posts to {missing}: give the data set one"


def fuzz(client, user, role, url, fields):
    state = {}

    def post_does_no_harm(data):
        if user is not None and SESSION_KEY not in client.session:
            client.force_login(user)  # a logout posted by an earlier example ended the session
        before = state.get("rows") or snapshot()
        response = client.post(url, data)
        assert response.status_code < 500, (url, data)
        state["rows"] = snapshot()
        if is_refusal(response):
            assert state["rows"] == before, f"{role} posting {data!r} to {url} was refused but changed data"

    test = given(data=submissions(fields))(post_does_no_harm)
    for data in worst_cases(fields):
        test = example(data=data)(test)
    test = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])(test)
    # Each role starts from the same clinic: what one role's examples changed is undone.
    with transaction.atomic():
        test()
        transaction.set_rollback(True)


def test_no_staff_form_gives_a_server_error_and_a_refusal_changes_nothing(fuzz_data):
    # Discovered as a superuser, who is shown every form; then posted as each role allowed in.
    superuser = Client()
    superuser.force_login(UserFactory(username="fuzz-root", is_superuser=True, is_staff=True))
    targets, post_only = discover(fuzz_data, superuser, "staff")
    assert_found_every_post_only_route(targets, post_only)
    actions = {url.rstrip("/").rsplit("/", 1)[1] for url in targets if route_of(url) == ("staff", "appointment-action")}
    assert actions == {"check-in", "no-show", "complete", "reschedule", "cancel"}  # not vacuous
    for role in STAFF_ROLES:
        user = staff_user(role=role, username=f"fuzz-{role}")
        _join_clinic(user, fuzz_data.clinic)
        # A role whose capabilities open no staff page (the clinic admin works in admin) posts nothing.
        allowed = {url: fields for url, fields in targets.items()
                   if capabilities_of(user) & resolve(urllib.parse.urlsplit(url).path).func.required_capabilities}
        for url, fields in sorted(allowed.items()):
            fuzz(Client(), user, role, url, fields)


@pytest.mark.parametrize("role", [PORTAL_PATIENT, ANONYMOUS])
def test_no_portal_form_gives_a_server_error_and_a_refusal_changes_nothing(fuzz_data, role, settings):
    django_settings = settings
    user = fuzz_data.portal_user if role == PORTAL_PATIENT else None
    client = Client()
    if user is not None:
        client.force_login(user)
    targets, post_only = discover(fuzz_data, client, "portal")
    if role == PORTAL_PATIENT:
        assert_found_every_post_only_route(targets, post_only)
    else:
        # Nobody signed in is shown no logout form, yet may post to it.
        found = {route_of(url) for url in targets}
        targets.update({url: {} for url in post_only if route_of(url) not in found})
    assert targets, f"no portal form for {role}"
    django_settings.TMS_SMS_INBOUND_TOKEN = "fuzz-token"
    for url, fields in sorted({**targets, **WEBHOOKS}.items()):
        fuzz(client, user, role, url, fields)
