import csv
import datetime
import io
import re

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from patients import charts, outcomes
from patients.models import Assessment, MaintenancePlan, PatientFlag, PlanTemplate, TreatmentCourse
from scheduling import services
from scheduling.models import Appointment
from scheduling.services import plans
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    ClinicFactory,
    MaintenancePlanFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
    staff_user,
)
from tmsclinic.roles import CLINIC_ADMIN

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
TODAY = datetime.date(2026, 12, 2)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def protocol(db):
    return ProtocolFactory()


@pytest.fixture
def acute(patient, protocol):
    return TreatmentCourseFactory(patient=patient, protocol=protocol, status=TreatmentCourse.Status.COMPLETED,
                                  start_date=datetime.date(2026, 9, 1), ended_on=datetime.date(2026, 10, 20))


@pytest.fixture
def taper(db):
    return PlanTemplate.objects.get(name="Taper to monthly")


@pytest.fixture
def plan(patient, acute, taper):
    return plans.start_plan(patient=patient, protocol=acute.protocol, template=taper, source_course=acute,
                                started_on=datetime.date(2026, 12, 7))


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def phq9(patient, day, total):
    """A PHQ-9 with the given total (item 9 unanswered) taken that afternoon."""
    items = ([3] * (total // 3) + [total % 3] + [0] * 8)[:8]
    return AssessmentFactory(patient=patient, taken_at=datetime.datetime.combine(day, datetime.time(15), tzinfo=UTC),
                             **{f"item_{n}": value for n, value in enumerate(items, start=1)})


def session(patient, chair, day, status=Appointment.Status.COMPLETED, **kwargs):
    return AppointmentFactory(patient=patient, chair=chair, status=status,
                              starts_at=datetime.datetime.combine(day, datetime.time(10), tzinfo=chair.clinic.tz),
                              **kwargs)


def plan_data(phases, *, started_on="2026-12-07", grace_days="7", initial=3, delete=()):
    data = {"started_on": started_on, "grace_days": grace_days, "phases-TOTAL_FORMS": str(len(phases)),
            "phases-INITIAL_FORMS": str(initial), "phases-MIN_NUM_FORMS": "0", "phases-MAX_NUM_FORMS": "1000"}
    for n, (interval, sessions, visits) in enumerate(phases):
        data.update({f"phases-{n}-interval_days": interval, f"phases-{n}-sessions_per_visit": sessions,
                     f"phases-{n}-visits": "" if visits is None else visits})
    data.update({f"phases-{n}-DELETE": "on" for n in delete})
    return data


def start_url(patient, template=None):
    url = reverse("staff:plan-start", args=[patient.uuid])
    return f"{url}?template={template.pk}" if template else url


# --- Starting a plan ---------------------------------------------------------------------------


def test_starting_a_plan_offers_the_templates_then_their_phases_to_edit(client, clinician, patient, acute, taper):
    client.force_login(clinician)
    first = client.get(start_url(patient)).content.decode()
    for name in ("Taper to monthly", "Weekly", "Monthly cluster"):
        assert name in first
    second = client.get(start_url(patient, taper))
    assert second.context["phases"].initial == [
        {"interval_days": 7, "sessions_per_visit": 1, "visits": 4},
        {"interval_days": 14, "sessions_per_visit": 1, "visits": 4},
        {"interval_days": 28, "sessions_per_visit": 1, "visits": None},
    ]
    assert second.context["form"].initial == {"started_on": TODAY, "grace_days": taper.grace_days}
    assert 'name="phases-1-interval_days" value="14"' in second.content.decode()


def test_a_clinician_starts_a_plan_with_phases_edited_for_this_patient(client, clinician, patient, acute, taper):
    client.force_login(clinician)
    response = client.post(start_url(patient, taper), plan_data(
        [(10, 1, 3), (14, 1, 4), (28, 1, None), (30, 2, None)], grace_days="5", delete=[2],
    ))
    assert response.status_code == 302
    plan = MaintenancePlan.objects.get(patient=patient)
    assert [(p.interval_days, p.sessions_per_visit, p.visits) for p in plan.phases.all()] == [
        (10, 1, 3), (14, 1, 4), (30, 2, None),
    ]
    assert (plan.template, plan.source_course, plan.protocol) == (taper, acute, acute.protocol)
    assert plan.started_on == plan.next_due_on == datetime.date(2026, 12, 7)
    # 5 grace days: overdue from midnight starting 13 December in New York, 05:00 UTC.
    assert plan.grace_days == 5
    assert plan.overdue_after == datetime.datetime(2026, 12, 13, 5, 0, tzinfo=UTC)
    assert flash(response) == ["Maintenance plan started: first visit due 7 Dec 2026."]
    # The template itself is untouched.
    assert [p.interval_days for p in taper.phases.all()] == [7, 14, 28]


def test_a_plan_needs_a_completed_acute_course(client, clinician, patient, protocol, taper):
    TreatmentCourseFactory(patient=patient, protocol=protocol, status=TreatmentCourse.Status.ACTIVE)
    TreatmentCourseFactory(patient=patient, protocol=protocol, kind=TreatmentCourse.Kind.REINTRODUCTION,
                           status=TreatmentCourse.Status.COMPLETED)
    client.force_login(clinician)
    for response in (client.get(start_url(patient)), client.post(start_url(patient, taper), plan_data([(7, 1, None)]))):
        assert response["Location"] == reverse("staff:patient", args=[patient.uuid])
        assert flash(response)[-1] == plans.NO_COMPLETED_COURSE
    assert not MaintenancePlan.objects.exists()


def test_a_patient_with_a_live_plan_is_refused_another(client, clinician, patient, plan, taper):
    plans.pause_plan(plan)
    client.force_login(clinician)
    response = client.post(start_url(patient, taper), plan_data([(7, 1, None)]))
    assert flash(response) == [plans.ALREADY_ON_A_PLAN]
    assert MaintenancePlan.objects.count() == 1


def test_a_plan_started_meanwhile_by_someone_else_is_refused_by_the_database(client, clinician, patient, plan, taper,
                                                                             monkeypatch):
    monkeypatch.setattr(services, "why_no_new_plan", lambda person, source: None)
    client.force_login(clinician)
    response = client.post(start_url(patient, taper), plan_data([(7, 1, None)], initial=1))
    assert flash(response) == [plans.ALREADY_ON_A_PLAN]
    assert MaintenancePlan.objects.count() == 1


@pytest.mark.parametrize(("data", "message"), [
    (plan_data([(7, 1, None)], started_on="2026-12-01", initial=1), "A plan cannot start in the past"),
    (plan_data([(7, 1, None), (28, 1, None)], initial=2), "Only the last phase can be ongoing"),
    (plan_data([(7, 1, 4)], initial=1, delete=[0]), "A plan needs at least one phase."),
    (plan_data([(0, 1, None)], initial=1), "Ensure this value is greater than or equal to 1."),
    (plan_data([(7, 1, None)], grace_days="", initial=1), "This field is required."),
])
def test_bad_plan_input_is_explained_and_nothing_is_started(client, clinician, patient, acute, taper, data, message):
    client.force_login(clinician)
    response = client.post(start_url(patient, taper), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not MaintenancePlan.objects.exists()


def test_only_clinicians_change_plans(client, front_desk, technician, patient, plan, taper):
    client.force_login(front_desk)
    assert client.get(start_url(patient, taper)).status_code == 403
    client.force_login(technician)
    for name in ("staff:plan-pause", "staff:plan-resume", "staff:plan-end"):
        assert client.post(reverse(name, args=[plan.pk]), {"reason": "x"}).status_code == 403
    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.ACTIVE


# --- Pausing, resuming, ending -----------------------------------------------------------------


def test_a_pause_until_a_date_moves_the_due_date_and_resuming_undoes_it(client, clinician, patient, plan):
    client.force_login(clinician)
    response = client.post(reverse("staff:plan-pause", args=[plan.pk]), {"until": "2026-12-20"})
    assert flash(response) == ["Plan paused until 20 Dec 2026."]
    plan.refresh_from_db()
    assert (plan.status, plan.paused_until, plan.next_due_on) == ("paused", datetime.date(2026, 12, 20),
                                                                  datetime.date(2026, 12, 20))
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "Paused until 20 Dec 2026" in page
    client.post(reverse("staff:plan-resume", args=[plan.pk]))
    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.ACTIVE


def test_a_pause_without_a_date_is_never_overdue(client, clinician, plan):
    client.force_login(clinician)
    client.post(reverse("staff:plan-pause", args=[plan.pk]), {"until": ""})
    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.PAUSED and plan.overdue_after is None


def test_a_pause_cannot_end_in_the_past(client, clinician, plan):
    client.force_login(clinician)
    response = client.post(reverse("staff:plan-pause", args=[plan.pk]), {"until": "2026-12-01"})
    assert response.status_code == 400
    assert "A pause cannot end in the past." in response.content.decode()
    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.ACTIVE


def test_only_a_paused_plan_resumes(client, clinician, plan):
    client.force_login(clinician)
    assert flash(client.post(reverse("staff:plan-resume", args=[plan.pk]))) == ["Only a paused plan can be resumed."]


def test_ending_a_plan_needs_a_reason(client, clinician, patient, plan):
    client.force_login(clinician)
    response = client.post(reverse("staff:plan-end", args=[plan.pk]), {"reason": "  "})
    assert response.status_code == 400
    assert "Say why the plan ends" in response.content.decode()
    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.ACTIVE

    client.post(reverse("staff:plan-end", args=[plan.pk]), {"reason": "Moved away"})
    plan.refresh_from_db()
    assert (plan.status, plan.end_reason, plan.ended_on) == ("ended", "Moved away", TODAY)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "Ended 2 Dec 2026</span> Moved away" in page
    assert "Start a maintenance plan" in page
    assert flash(client.post(reverse("staff:plan-end", args=[plan.pk]), {"reason": "again"})) == [
        "This plan has already ended."
    ]


# --- Outcomes on the patient page --------------------------------------------------------------


@pytest.mark.parametrize(("last", "response", "remission"), [(9, True, False), (4, True, True), (12, False, False)])
def test_the_course_shows_response_and_remission_against_its_baseline(client, front_desk, patient, acute, last,
                                                                      response, remission):
    phq9(patient, datetime.date(2026, 8, 30), 20)  # baseline, before the course starts
    phq9(patient, datetime.date(2026, 9, 20), 15)
    phq9(patient, datetime.date(2026, 10, 15), last)
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    line = re.search(rf'data-testid="course-outcome-{acute.pk}">(.*?)</li>', page, re.S).group(1)
    assert f"PHQ-9 20 → {last}" in line
    assert ("Response</span>" in line, "No response yet" in line) == (response, not response)
    assert ("Remission</span>" in line, "Not in remission" in line) == (remission, not remission)
    assert ('id="phq9-response-0"' in page, 'id="phq9-remission-0"' in page) == (response, remission)


def test_the_chart_shows_scores_over_the_bands_with_sessions_courses_and_maintenance(client, front_desk, patient,
                                                                                   chair, acute, plan, monkeypatch):
    for day in (2, 3, 4):
        session(patient, chair, datetime.date(2026, 9, day), course=acute, kind=Appointment.Kind.ACUTE)
    session(patient, chair, datetime.date(2026, 9, 5), course=acute, kind=Appointment.Kind.ACUTE,
            status=Appointment.Status.CANCELLED)
    session(patient, chair, datetime.date(2026, 11, 30), kind=Appointment.Kind.CONSULT)
    session(patient, chair, datetime.date(2026, 12, 7), plan=plan, kind=Appointment.Kind.MAINTENANCE)
    phq9(patient, datetime.date(2026, 8, 30), 20)
    phq9(patient, datetime.date(2026, 10, 15), 4)
    drawn = []
    real_chart = charts.phq9_chart
    monkeypatch.setattr(charts, "phq9_chart", lambda **data: drawn.append(data) or real_chart(**data))
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()

    data = drawn[0]
    assert data["scores"] == [(datetime.date(2026, 8, 30), 20), (datetime.date(2026, 10, 15), 4)]
    # Completed treatment sessions only: not the cancelled one nor the consultation.
    assert data["sessions"] == [datetime.date(2026, 9, d) for d in (2, 3, 4)] + [datetime.date(2026, 12, 7)]
    assert data["maintenance_from"] == datetime.date(2026, 12, 7) and data["until"] == TODAY
    assert [(c["start"], c["end"]) for c in data["courses"]] == [(acute.start_date, acute.ended_on)]

    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "<?xml" not in page
    for band in Assessment.Band:
        assert f'id="phq9-band-{band}"' in svg
        assert f">{band.label}</text>" in svg
    ticks = svg[svg.index('id="phq9-sessions"'):]
    assert ticks[:ticks.index("</g>")].count("<path") == 4
    for element in ("phq9-scores", "phq9-course-0", "phq9-maintenance", "phq9-response-0", "phq9-remission-0",
                    "phq9-response-threshold-0"):
        assert f'id="{element}"' in svg
    table = page[page.index('data-testid="phq9-scores"'):]
    assert "<td>30 Aug 2026</td><td>20</td><td>Severe</td>" in table
    assert "<td>15 Oct 2026</td><td>4</td><td>Minimal</td>" in table


def test_without_a_phq9_there_is_no_chart(client, front_desk, patient):
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "<svg" not in page and "No PHQ-9 recorded yet." in page


def test_the_plan_card_shows_visits_done_next_due_and_phase(client, clinician, patient, chair, acute, taper):
    plan = plans.start_plan(patient=patient, protocol=acute.protocol, template=taper, source_course=acute,
                                started_on=datetime.date(2026, 10, 26))
    for day in (datetime.date(2026, 10, 26) + datetime.timedelta(weeks=n) for n in range(5)):
        session(patient, chair, day, plan=plan, kind=Appointment.Kind.MAINTENANCE)
    plans.refresh_plan(plan)
    client.force_login(clinician)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    card = page[page.index('data-testid="plan"'):]
    assert re.search(r'data-testid="plan-visits">5 \(last 23 Nov 2026\)', card)
    assert 'data-testid="plan-next-due">Mon 7 Dec 2026<' in card
    assert 'data-testid="plan-phase">2 of 3: every 14 days × 4<' in card
    assert "every 7 days × 4: 4 of 4 visits ✓" in card
    assert '<li class="fw-semibold" aria-current="step">every 14 days × 4: 1 of 4 visits</li>' in card
    assert "every 28 days ongoing: 0 visits so far" in card
    assert ">Active</span>" in card and "Start a maintenance plan" not in page


def test_the_patient_page_query_count_does_not_grow_with_the_history(client, clinician, patient, chair, acute, plan,
                                                                     django_assert_num_queries):
    url = reverse("staff:patient", args=[patient.uuid])

    def add(days):
        for day in days:
            session(patient, chair, day, course=acute, kind=Appointment.Kind.ACUTE)
            phq9(patient, day, 12)

    add([datetime.date(2026, 9, 2)])
    client.force_login(clinician)
    client.get(url)
    with django_assert_num_queries(14) as few:
        client.get(url)
    add([datetime.date(2026, 9, 3) + datetime.timedelta(days=n) for n in range(30)])
    TreatmentCourseFactory(patient=patient, protocol=acute.protocol, kind=TreatmentCourse.Kind.REINTRODUCTION,
                           start_date=datetime.date(2026, 11, 1), status=TreatmentCourse.Status.COMPLETED)
    with django_assert_num_queries(len(few)):
        client.get(url)


# --- The outcomes report -----------------------------------------------------------------------


PLAN_START = datetime.date(2025, 9, 1)  # 457 days before today


def on_plan(clinic, *, lapsed=False, started_on=PLAN_START, **plan_fields):
    patient = PatientFactory(home_clinic=clinic)
    plan = MaintenancePlanFactory(patient=patient, started_on=started_on, **plan_fields)
    if lapsed:
        PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                           resolved_at=NOW - datetime.timedelta(days=200))
    return patient


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


def test_each_patient_counts_once_from_their_first_plan(clinic):
    patient = on_plan(clinic, status=MaintenancePlan.Status.ENDED, ended_on=datetime.date(2025, 12, 1))
    second = MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 1, 5))
    PatientFlagFactory(patient=patient, plan=second, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    assert outcomes.relapse_cohort(clinic=clinic, started_by=TODAY, today=TODAY) == [outcomes.CohortRow(
        mrn=patient.mrn, clinic="Riverside TMS", started_on=PLAN_START, lapsed=False, relapse_on=None,
        censored_on=datetime.date(2025, 12, 1),
    )]


@pytest.mark.parametrize("role", ["Front desk", "Technician"])
def test_the_report_is_for_clinicians_and_clinic_admins(client, db, role):
    client.force_login(staff_user(role=role))
    assert client.get(reverse("staff:outcomes-report")).status_code == 403
    assert client.get(reverse("staff:outcomes-csv")).status_code == 403
    client.force_login(staff_user(role=CLINIC_ADMIN, username="admin"))
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
    with django_assert_num_queries(7 if view == "staff:outcomes-report" else 5) as few:
        client.get(url, {"clinic": clinic.pk})
    add(20)
    with django_assert_num_queries(len(few)):
        client.get(url, {"clinic": clinic.pk})


# --- Kaplan–Meier ------------------------------------------------------------------------------


def test_kaplan_meier_keeps_the_censored_at_risk_until_they_leave():
    steps = outcomes.kaplan_meier([1, 2, 2, 3, 4], [True, True, False, True, False])
    assert steps == [(0, 1.0, 5), (1, 0.8, 5), (2, pytest.approx(0.6), 4), (3, pytest.approx(0.3), 2)]
    assert outcomes.survival_at(steps, 0.5) == 1.0
    assert outcomes.survival_at(steps, 2.5) == pytest.approx(0.6)
    assert outcomes.survival_at(steps, 10) == pytest.approx(0.3)


def test_kaplan_meier_of_nobody_relapsing_stays_at_one():
    assert outcomes.kaplan_meier([5, 9], [False, False]) == [(0, 1.0, 2)]
