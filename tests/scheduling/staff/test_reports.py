"""The outcomes report and its CSV: relapse on schedule and lapsed, by clinic and by how long
ago plans started, for clinicians and clinic admins, pseudonymous, in a fixed number of queries."""

import csv
import datetime
import io

import pytest
from django.urls import reverse

from patients.models import MaintenancePlan, PatientFlag, TreatmentCourse
from tests.conftest import AUDIT_QUERIES
from tests.factories import ClinicFactory, PatientFlagFactory, TreatmentCourseFactory, staff_user
from tests.patients.cohort import PLAN_START, UTC, on_plan
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN

pytestmark = pytest.mark.usefixtures("frozen")


def worsened(patient, days_after_start):
    moment = datetime.datetime.combine(PLAN_START + datetime.timedelta(days=days_after_start), datetime.time(15),
                                       tzinfo=UTC)
    PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.WORSENING_SYMPTOMS, raised_at=moment)


def reintroduced(patient, days_after_start):
    TreatmentCourseFactory(patient=patient, kind=TreatmentCourse.Kind.REINTRODUCTION,
                           start_date=PLAN_START + datetime.timedelta(days=days_after_start))


@pytest.fixture
def cohort(clinic):
    """Five on schedule: one relapse at day 100, one plan ended (censored) at day 50. Four lapsed:
    relapses at days 40 (reintroduction), 150 and 300 (worsening). Events before the plan
    started do not count; a patient of another clinic and a plan started last month are
    left out when the filters say so."""
    on_schedule = [on_plan(clinic) for _ in range(4)]
    worsened(on_schedule[0], 100)
    reintroduced(on_schedule[1], -60)
    on_plan(clinic, status=MaintenancePlan.Status.ENDED, ended_on=PLAN_START + datetime.timedelta(days=50))
    lapsed = [on_plan(clinic, lapsed=True) for _ in range(4)]
    reintroduced(lapsed[0], 40)
    worsened(lapsed[1], 150)
    worsened(lapsed[2], 300)
    worsened(lapsed[3], -10)
    worsened(on_plan(ClinicFactory(name="Lakeside TMS"), lapsed=True), 20)
    on_plan(clinic, started_on=datetime.date(2026, 11, 1))
    return {"on_schedule": on_schedule, "lapsed": lapsed}


def report(client, **params):
    response = client.get(reverse("staff:outcomes-report"), params)
    assert response.status_code == 200
    return response


def horizons(group):
    return [(h["relapsed"], h["known"], h["relapse_free"], h["at_risk"]) for h in group["horizons"]]


def test_the_report_compares_relapse_on_schedule_and_lapsed(client, clinician, clinic, cohort):
    client.force_login(clinician)
    response = report(client, clinic=clinic.pk, months=3)
    on_schedule, lapsed = response.context["groups"]
    assert (on_schedule["n"], on_schedule["relapsed"], lapsed["n"], lapsed["relapsed"]) == (5, 1, 4, 3)
    # The plan that ended on day 50 is unknown at every horizon; Kaplan–Meier keeps it at risk
    # until then, so the relapse on day 100 is 1 of 4 at risk: 75% relapse-free, not 80%.
    assert horizons(on_schedule) == [(0, 4, 1.0, 4), (1, 4, 0.75, 3), (1, 4, 0.75, 3)]
    assert horizons(lapsed) == [(1, 4, 0.75, 3), (2, 4, 0.5, 2), (3, 4, 0.25, 1)]
    page = response.content.decode()
    shares = page[page.index('data-testid="shares-lapsed"'):]
    assert "1 of 4 (25%)</td><td>2 of 4 (50%)</td><td>3 of 4 (75%)" in shares
    relapse_free = page[page.index('data-testid="km-on-schedule"'):]
    assert "<td>100% <span" in relapse_free and "75% <span class=\"text-body-secondary\">(at risk 3)" in relapse_free
    for curve in ("km-on-schedule", "km-lapsed", "km-censored-on-schedule"):
        assert f'id="{curve}"' in page


def test_the_report_filters_by_clinic_and_by_how_long_ago_plans_started(client, clinician, clinic, cohort):
    client.force_login(clinician)
    everyone = report(client).context["groups"]
    assert (everyone[0]["n"], everyone[1]["n"]) == (5, 5)
    assert [g["n"] for g in report(client, clinic=clinic.pk, months=0).context["groups"]] == [6, 4]
    assert [g["n"] for g in report(client, clinic=clinic.pk, months=24).context["groups"]] == [0, 0]
    empty = report(client, clinic=clinic.pk, months=24).content.decode()
    assert "No patient's maintenance plan started that long ago." in empty
    bad = report(client, clinic=clinic.pk, months="soon")
    assert [g["n"] for g in bad.context["groups"]] == [5, 4]
    assert "Enter a whole number." in bad.content.decode()


@pytest.mark.parametrize("role", ["Front desk", "Technician", CLINIC_ADMIN])
def test_the_report_is_for_clinicians_only(client, db, role):
    client.force_login(staff_user(role=role))
    assert client.get(reverse("staff:outcomes-report")).status_code == 403
    assert client.get(reverse("staff:outcomes-csv")).status_code == 403
    client.force_login(staff_user(role=CLINICIAN, username="doc"))
    assert client.get(reverse("staff:outcomes-csv")).status_code == 200


def test_the_csv_has_one_pseudonymous_row_per_patient(client, clinician, clinic, cohort):
    cohort["lapsed"][3].mrn = "=HYPERLINK(1)"
    cohort["lapsed"][3].save()
    client.force_login(clinician)
    response = client.get(reverse("staff:outcomes-csv"), {"clinic": clinic.pk, "months": 3})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="outcomes-riverside-tms-2026-12-02.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["mrn", "clinic", "plan_started_on", "group", "relapse_on", "censored_on", "days_followed"]
    by_mrn = {row[0]: row for row in rows[1:]}
    assert len(by_mrn) == 9
    assert by_mrn[cohort["on_schedule"][0].mrn] == [cohort["on_schedule"][0].mrn, "Riverside TMS", "2025-09-01",
                                                     "on_schedule", "2025-12-10", "", "100"]
    assert by_mrn[cohort["lapsed"][0].mrn][3:] == ["lapsed", "2025-10-11", "", "40"]
    assert by_mrn["'=HYPERLINK(1)"][3:] == ["lapsed", "", "2026-12-02", "457"]
    assert all("Pat" not in cell for row in rows for cell in row)  # no names


@pytest.mark.parametrize("view", ["staff:outcomes-report", "staff:outcomes-csv"])
def test_the_report_query_count_does_not_grow_with_patients(client, clinician, clinic, view,
                                                            django_assert_num_queries):
    def add(count):
        for n in range(count):
            patient = on_plan(clinic, lapsed=n % 2 == 0)
            worsened(patient, 30 + n)
            reintroduced(patient, 60 + n)

    add(2)
    client.force_login(clinician)
    url = reverse(view)
    client.get(url)
    # The cohort: plans with their flags and reintroductions, then the worsening flags dated per clinic.
    with django_assert_num_queries((9 if view == "staff:outcomes-report" else 7) + AUDIT_QUERIES) as few:
        client.get(url, {"clinic": clinic.pk})
    add(20)
    with django_assert_num_queries(len(few)):
        client.get(url, {"clinic": clinic.pk})
