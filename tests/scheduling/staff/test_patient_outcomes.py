"""Outcomes on the patient page: each course's response and remission against its baseline,
the PHQ-9 chart with sessions, courses and maintenance, and the plan card."""

import datetime
import re

import pytest
from django.urls import reverse

from patients import charts
from patients.models import Assessment, TreatmentCourse
from scheduling.models import Appointment
from scheduling.services import plans
from tests.conftest import AUDIT_QUERIES
from tests.factories import AppointmentFactory, AssessmentFactory, SessionRecordFactory, TreatmentCourseFactory
from tests.patients.cohort import UTC

TODAY = datetime.date(2026, 12, 2)
pytestmark = pytest.mark.usefixtures("frozen")


def phq9(patient, day, total):
    """A PHQ-9 with the given total (item 9 unanswered) taken that afternoon."""
    items = ([3] * (total // 3) + [total % 3] + [0] * 8)[:8]
    return AssessmentFactory(patient=patient, taken_at=datetime.datetime.combine(day, datetime.time(15), tzinfo=UTC),
                             **{f"item_{n}": value for n, value in enumerate(items, start=1)})


def session(patient, chair, day, status=Appointment.Status.COMPLETED, **kwargs):
    return AppointmentFactory(patient=patient, chair=chair, status=status,
                              starts_at=datetime.datetime.combine(day, datetime.time(10), tzinfo=chair.clinic.tz),
                              **kwargs)


@pytest.mark.parametrize(("last", "response", "remission"), [(9, True, False), (4, True, True), (12, False, False)])
def test_the_course_shows_response_and_remission_against_its_baseline(client, clinician, patient, acute, last,
                                                                      response, remission):
    phq9(patient, datetime.date(2026, 8, 30), 20)  # baseline, before the course starts
    phq9(patient, datetime.date(2026, 9, 20), 15)
    phq9(patient, datetime.date(2026, 10, 15), last)
    client.force_login(clinician)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    line = re.search(rf'data-testid="course-outcome-{acute.pk}">(.*?)</li>', page, re.S).group(1)
    assert f"PHQ-9 20 → {last}" in line
    assert ("Response</span>" in line, "No response yet" in line) == (response, not response)
    assert ("Remission</span>" in line, "Not in remission" in line) == (remission, not remission)
    assert ('id="phq9-response-0"' in page, 'id="phq9-remission-0"' in page) == (response, remission)


def test_the_chart_shows_scores_over_the_bands_with_sessions_courses_and_maintenance(client, clinician, patient,
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
    client.force_login(clinician)
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


def test_without_a_phq9_there_is_no_chart(client, clinician, patient):
    client.force_login(clinician)
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
            done = session(patient, chair, day, course=acute, kind=Appointment.Kind.ACUTE)
            SessionRecordFactory(appointment=done, motor_threshold=50 + day.day % 5, mt_measured=True,
                                 operator=clinician)
            phq9(patient, day, 12)

    add([datetime.date(2026, 9, 2)])
    client.force_login(clinician)
    client.get(url)
    # 16 for the page, 2 for the motor threshold's history and pending re-check, 2 for the waitlist
    # card, and the audit.
    with django_assert_num_queries(20 + AUDIT_QUERIES) as few:
        client.get(url)
    add([datetime.date(2026, 9, 3) + datetime.timedelta(days=n) for n in range(30)])
    TreatmentCourseFactory(patient=patient, protocol=acute.protocol, kind=TreatmentCourse.Kind.REINTRODUCTION,
                           start_date=datetime.date(2026, 11, 1), status=TreatmentCourse.Status.COMPLETED)
    with django_assert_num_queries(len(few)):
        client.get(url)


def test_the_front_desk_sees_the_plan_but_no_phq9_score_or_outcome(client, front_desk, patient, acute):
    AssessmentFactory(patient=patient, taken_at=datetime.datetime(2026, 11, 1, 15, tzinfo=UTC))
    client.force_login(front_desk)
    response = client.get(reverse("staff:patient", args=[patient.uuid]))
    page = response.content.decode()
    assert response.status_code == 200 and patient.full_name in page
    assert "PHQ-9" not in page.replace("Enter a PHQ-9", "") and "<svg" not in page
    assert "response" not in page.lower() and "remission" not in page.lower()
    assert response.context["assessments"] == [] and response.context["course_outcomes"] == []
