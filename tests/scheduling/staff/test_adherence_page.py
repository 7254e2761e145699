"""The adherence dashboard page and its CSVs: for clinicians and clinic admins only, aggregate
figures of the user's own clinics (a filter among them), no patient named, charts drawn inline
with accessible names, bad input answered in words, and a fixed number of queries whatever
the clinic's size."""

import csv
import datetime
import io

import pytest
import time_machine
from django.urls import reverse

from patients.models import Patient, TreatmentCourse
from scheduling.services.plans import refresh_plan
from scheduling.staff.dashboard import _shared_for
from tests.conftest import AUDIT_QUERIES, NOW
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    OutreachMessageFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)
from tmsclinic.models import AuditEvent
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, TECHNICIAN

pytestmark = pytest.mark.usefixtures("frozen")  # Wednesday 2 December 2026, 08:00 in New York
UTC = datetime.UTC
URL = reverse("staff:adherence")
TABLES = ("on-schedule", "overdue", "flag-to-visit", "outreach-steps", "outreach-channels", "no-shows",
          "utilisation", "response")


def add_patients(clinic, count, *, first_name="Pat"):
    """``count`` maintenance patients of ``clinic``: every other one overdue (due 1 September) and
    flagged, sent a message, back for a session and then missing one; the others on schedule
    after a session on 20 November. Each with a completed acute course: PHQ-9 12, then 0."""
    chair = clinic.chairs.first() or ChairFactory(clinic=clinic, name="Chair 1")
    protocol = ProtocolFactory()
    first = Patient.objects.count()  # each patient's sessions at hours of their own: one chair holds them all
    for n in range(first, first + count):
        patient = PatientFactory(home_clinic=clinic, first_name=f"{first_name}{n}", last_name="Secret")
        plan = MaintenancePlanFactory(patient=patient, protocol=protocol, started_on=datetime.date(2026, 9, 1),
                                      grace_days=7)
        MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
        at = datetime.datetime(2026, 10, 1, 13, tzinfo=UTC) + datetime.timedelta(hours=n)
        if n % 2:
            AppointmentFactory(patient=patient, chair=chair, kind="maintenance", status="completed", plan=plan,
                               starts_at=datetime.datetime(2026, 11, 20, 14, tzinfo=UTC) + datetime.timedelta(hours=n))
        else:
            flag = PatientFlagFactory(patient=patient, plan=plan, raised_at=at)
            OutreachMessageFactory(flag=flag, channel="sms", step_day=0, status="sent", scheduled_for=at,
                                   sent_at=at)
            AppointmentFactory(patient=patient, chair=chair, kind="maintenance", status="completed",
                               starts_at=at + datetime.timedelta(days=9))
            AppointmentFactory(patient=patient, chair=chair, kind="maintenance", status="no_show",
                               starts_at=at + datetime.timedelta(days=20))
        refresh_plan(plan)
        TreatmentCourseFactory(patient=patient, protocol=protocol, status=TreatmentCourse.Status.COMPLETED,
                                        start_date=datetime.date(2026, 6, 1), ended_on=datetime.date(2026, 7, 20))
        AssessmentFactory(patient=patient, taken_at=datetime.datetime(2026, 5, 30, 15, tzinfo=UTC), item_1=3, item_2=3)
        AssessmentFactory(patient=patient, taken_at=datetime.datetime(2026, 7, 15, 15, tzinfo=UTC),
                          **{f"item_{item}": 0 for item in range(1, 10)})


@pytest.fixture
def north(db):
    clinic = ClinicFactory(name="North TMS", time_zone="America/New_York")
    for weekday in range(5):
        OpeningHoursFactory(clinic=clinic, weekday=weekday)
    ChairFactory(clinic=clinic, name="Chair 1")
    return clinic


@pytest.fixture
def south(db):
    return ClinicFactory(name="South TMS", time_zone="Australia/Sydney")


def page(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def download(client, table, **params):
    response = client.get(URL, {"format": "csv", "table": table, **params})
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("role", [CLINICIAN, CLINIC_ADMIN])
def test_clinicians_and_clinic_admins_see_the_clinics_figures_and_no_patient(client, north, role):
    add_patients(north, 4)
    client.force_login(staff_user(role=role, username="reader"))
    response = page(client)
    figures = response.context["figures"]
    assert (figures["today"]["patients"], figures["today"]["overdue"]) == (4, 2)
    html = response.content.decode()
    assert 'data-testid="share-today">50%<' in html
    assert "Secret" not in html and "MRN0" not in html and "Pat0" not in html
    for chart in ("on-schedule", "no-shows", "utilisation"):
        assert (f'role="img" aria-labelledby="{chart}-title" aria-describedby="{chart}-desc" '
                f'data-testid="{chart}-chart"><title id="{chart}-title">') in html
    assert "style=" not in html  # CSP: styles come from static/css/adherence.css
    assert "How these are counted" in html
    assert f'href="{URL}"' in html  # the navigation's link


@pytest.mark.parametrize("role", [FRONT_DESK, TECHNICIAN])
def test_the_front_desk_and_technicians_are_refused(client, north, role):
    client.force_login(staff_user(role=role, username="other"))
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"format": "csv", "table": "overdue"}).status_code == 403
    client.force_login(staff_user(role=FRONT_DESK, username="desk2"))
    assert f'href="{URL}"' not in client.get(reverse("staff:today")).content.decode()


def test_a_user_sees_only_their_clinics_and_another_clinics_rows_change_nothing(client, north, south, settings):
    settings.TMS_ADHERENCE_MAX_AGE_SECONDS = 0  # each read counts afresh: the figures, not a shared copy
    add_patients(north, 2)
    client.force_login(staff_user(role=CLINICIAN, username="northern", clinics=[north]))
    before = page(client).context["figures"]
    add_patients(south, 6, first_name="Southern")
    after = page(client).context["figures"]
    assert after == before
    assert download(client, "on-schedule") == download(client, "on-schedule", clinic=north.pk)

    refused = page(client, clinic=south.pk)
    assert "That is not one of your clinics." in refused.content.decode()
    assert refused.context["figures"] == before
    other = client.get(URL, {"format": "csv", "table": "overdue", "clinic": south.pk})
    assert other.status_code == 400 and "That is not one of your clinics." in other.content.decode()

    client.force_login(staff_user(role=CLINICIAN, username="everywhere", clinics=[north, south]))
    assert page(client).context["figures"]["today"]["patients"] == 8
    only_north = page(client, clinic=north.pk)
    assert only_north.context["figures"] == before and only_north.context["today"] == datetime.date(2026, 12, 2)


def test_every_table_downloads_as_csv_and_the_export_is_audited(client, north):
    add_patients(north, 2)
    TreatmentCourseFactory(patient=PatientFactory(home_clinic=north), protocol=ProtocolFactory(name="=HYPERLINK(1)"),
                           status=TreatmentCourse.Status.COMPLETED)
    client.force_login(staff_user(role=CLINIC_ADMIN, username="boss"))
    response = client.get(URL, {"format": "csv", "table": "overdue", "clinic": north.pk})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="adherence-overdue-north-tms-2026-12-02.csv"'
    assert AuditEvent.objects.filter(action="export", path__startswith=URL).exists()

    assert download(client, "overdue") == [
        ["maintenance_patients", "on_schedule", "overdue", "share_on_schedule", "median_days_overdue"],
        ["2", "1", "1", "0.5", "92"]]
    weekly = download(client, "on-schedule")
    assert weekly[0] == ["week_of", "maintenance_patients", "on_schedule", "off_schedule", "share_on_schedule"]
    assert len(weekly) == 27 and weekly[-1] == ["2026-11-30", "2", "1", "1", "0.5"]
    assert download(client, "flag-to-visit")[1:] == [
        ["overdue_maintenance", "1", "1", "0", "1.0", "9"], ["missed_appointments", "0", "0", "0", "", ""],
        ["all", "1", "1", "0", "1.0", "9"]]
    assert download(client, "outreach-steps")[1:] == [["0", "1", "1", "1.0"]]
    assert download(client, "outreach-channels")[1:] == [["email", "0", "0", ""], ["sms", "1", "1", "1.0"],
                                                          ["call", "0", "0", ""]]
    no_shows = download(client, "no-shows")
    assert sum(int(row[2]) for row in no_shows[1:]) == 1 and sum(int(row[1]) for row in no_shows[1:]) == 2
    utilisation = download(client, "utilisation")
    assert utilisation[0] == ["day", "booked_minutes", "open_minutes", "utilisation"] and len(utilisation) == 29
    assert utilisation[-1] == ["2026-12-02", "0", "600", "0.0"]
    assert download(client, "response")[1:] == [
        ["10 Hz rTMS (NeuroStar)", "2", "2", "2", "2", "1.0", "1.0"], ["'=HYPERLINK(1)", "1", "0", "0", "0", "", ""],
        ["All protocols", "3", "2", "2", "2", "1.0", "1.0"]]
    assert {len(download(client, table)) > 1 for table in TABLES} == {True}


def test_bad_input_is_answered_in_words(client, north):
    client.force_login(staff_user(role=CLINICIAN, username="doc"))
    unknown = client.get(URL, {"format": "csv", "table": "patients"})
    assert unknown.status_code == 400 and "There is no table “patients”" in unknown.content.decode()
    assert client.get(URL, {"format": "csv"}).status_code == 400
    garbled = page(client, clinic="north'; --")
    assert "That is not one of your clinics." in garbled.content.decode()
    assert page(client, format="pdf").context["figures"] is not None  # an unknown format shows the page


def test_a_member_of_no_clinic_is_told_so(client, db):
    client.force_login(staff_user(role=CLINIC_ADMIN, username="new", clinics=[]))
    response = page(client)
    assert response.context["figures"] is None and 'data-testid="no-clinics"' in response.content.decode()
    assert download(client, "response") == [["protocol", "completed_acute_courses", "with_baseline_and_later_score",
                                              "response", "remission", "response_rate", "remission_rate"]]


@pytest.mark.parametrize(("params", "queries"), [
    # session, user, roles, the user's clinics, the clinics shown (or the form's check of the one
    # chosen), the dashboard's eleven, the navigation's count, the filter's choices
    ({}, 18), ({"clinic": "chosen"}, 18),
    # the same, reading the figures another read counted (see the sharing's test below)
    ({"shared": True}, 7), ({"clinic": "chosen", "shared": True}, 7),
    # session, user, roles, the user's clinics, the clinics shown, and the one table's queries
    ({"format": "csv", "table": "on-schedule"}, 7), ({"format": "csv", "table": "response"}, 7),
    ({"format": "csv", "table": "utilisation"}, 9),
])
def test_the_query_count_does_not_grow_with_the_clinic(client, north, south, params, queries,
                                                       django_assert_num_queries, settings):
    if not params.pop("shared", False):
        settings.TMS_ADHERENCE_MAX_AGE_SECONDS = 0  # counted on every read
    params = {**params, "clinic": north.pk} if "clinic" in params else params
    add_patients(north, 2)
    add_patients(south, 2, first_name="South")
    client.force_login(staff_user(role=CLINICIAN, username="doc"))

    def load():
        response = client.get(URL, params)
        assert response.status_code == 200
        if response.streaming:
            b"".join(response.streaming_content)

    load()
    with django_assert_num_queries(queries + AUDIT_QUERIES):
        load()
    add_patients(north, 15, first_name="More")
    add_patients(south, 15, first_name="MoreSouth")
    with django_assert_num_queries(queries + AUDIT_QUERIES):
        load()


def test_readers_of_the_same_clinics_share_the_figures_for_the_configured_time(client, north, south, settings):
    settings.TMS_ADHERENCE_MAX_AGE_SECONDS = 300
    add_patients(north, 2)
    add_patients(south, 2, first_name="South")
    client.force_login(staff_user(role=CLINICIAN, username="first", clinics=[north]))
    first = page(client)
    assert first.context["figures"]["today"]["patients"] == 2
    assert "counted less than a minute ago: they are counted again at most every 5 minutes" in first.content.decode()

    add_patients(north, 2, first_name="Later")  # two more maintenance patients of North
    with time_machine.travel(NOW + datetime.timedelta(minutes=3), tick=False):
        client.force_login(staff_user(role=CLINIC_ADMIN, username="second", clinics=[north]))
        shared = page(client)
        assert shared.context["figures"] == first.context["figures"]  # the first reader's count
        assert "counted 3 minutes ago" in shared.content.decode()
        # The CSV is counted on each download: it has the two new patients already.
        assert download(client, "overdue")[1][0] == "4"
        # Another set of clinics is counted apart: never North's figures for South's reader,
        # nor North's alone for a reader of both.
        client.force_login(staff_user(role=CLINICIAN, username="southern", clinics=[south]))
        assert page(client).context["figures"]["today"]["patients"] == 2
        client.force_login(staff_user(role=CLINICIAN, username="both", clinics=[north, south]))
        assert page(client).context["figures"]["today"]["patients"] == 6
        assert page(client, clinic=south.pk).context["figures"]["today"]["patients"] == 2

    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        client.force_login(staff_user(role=CLINICIAN, username="third", clinics=[north]))
        recounted = page(client)
        assert recounted.context["figures"]["today"]["patients"] == 4
        assert "counted less than a minute ago" in recounted.content.decode()


def test_with_no_sharing_every_read_counts_afresh(client, north, settings):
    settings.TMS_ADHERENCE_MAX_AGE_SECONDS = 0
    add_patients(north, 2)
    client.force_login(staff_user(role=CLINICIAN, username="doc", clinics=[north]))
    assert page(client).context["figures"]["today"]["patients"] == 2
    add_patients(north, 2, first_name="Later")
    response = page(client)
    assert response.context["figures"]["today"]["patients"] == 4
    assert 'data-testid="computed"' not in response.content.decode()


def test_with_the_figures_cache_down_the_page_counts_them_afresh(client, north, settings, caplog):
    # A Redis that is not there (nothing listens on port 1): real connection errors, no mock.
    settings.CACHES = {**settings.CACHES, "figures": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                      "LOCATION": "redis://127.0.0.1:1/0"}}
    add_patients(north, 2)
    client.force_login(staff_user(role=CLINICIAN, username="doc", clinics=[north]))
    assert page(client).context["figures"]["today"]["patients"] == 2
    add_patients(north, 2, first_name="Later")
    assert page(client).context["figures"]["today"]["patients"] == 4
    assert "The figures cache cannot be read" in caplog.text


@pytest.mark.parametrize(("seconds", "words"), [(0, None), (300, "5 minutes"), (60, "1 minute"),
                                                 (90, "90 seconds"), (1, "1 second")])
def test_the_sharing_time_in_words(seconds, words):
    assert _shared_for(seconds) == words
