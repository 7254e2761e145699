"""Maintenance plans on the staff pages: started from a template with its phases edited for
this patient after a completed acute course, paused until a date or open-ended, resumed, and
ended with a reason; clinicians only."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from patients.models import MaintenancePlan, TreatmentCourse
from scheduling import services
from scheduling.services import plans
from tests.factories import TreatmentCourseFactory
from tests.patients.cohort import UTC

TODAY = datetime.date(2026, 12, 2)
pytestmark = pytest.mark.usefixtures("frozen")


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


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
    assert flash(response) == ["Maintenance plan started: first visit due 7 Dec 2026. They have no portal account: "
                               "invite them to the portal to let them book it there."]
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
    # Resumed early, the plan is due as if never paused (its start, 7 Dec), not on the old pause date.
    assert (plan.status, plan.paused_until, plan.next_due_on) == (MaintenancePlan.Status.ACTIVE, None,
                                                                  datetime.date(2026, 12, 7))


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


@pytest.mark.parametrize("change", [
    lambda plan: plans.pause_plan(plan, until=None),
    lambda plan: plans.end_plan(plan, reason="Moved away"),
], ids=["pause", "end"])
def test_a_plan_ended_meanwhile_by_someone_else_is_not_changed_from_a_stale_copy(plan, change):
    stale = MaintenancePlan.objects.get(pk=plan.pk)  # read before the other clinician acted
    plans.end_plan(plan, reason="Discharged")
    with pytest.raises(services.PlanStateError):
        change(stale)
    plan.refresh_from_db()
    assert (plan.status, plan.end_reason, plan.paused_until) == ("ended", "Discharged", None)


def test_a_pause_posted_after_someone_ended_the_plan_says_so_instead_of_failing(client, clinician, plan, monkeypatch):
    client.force_login(clinician)
    # The page was checked while the plan was live; another clinician ends it before the save.
    real_pause = plans.pause_plan

    def pause_after_someone_ended_it(plan, **kwargs):
        plans.end_plan(MaintenancePlan.objects.get(pk=plan.pk), reason="Discharged")
        return real_pause(plan, **kwargs)

    monkeypatch.setattr(services, "pause_plan", pause_after_someone_ended_it)
    response = client.post(reverse("staff:plan-pause", args=[plan.pk]), {"until": ""})
    assert response.status_code == 302
    assert flash(response) == ["This plan has ended; it cannot be paused."]
    plan.refresh_from_db()
    assert plan.status == "ended"
