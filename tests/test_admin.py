"""The Django admin: every page opens with a fixed number of queries, and the clinic-specific
behaviour (local times, time-zone select, PHQ-9 scoring, resolving flags) works."""

import datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import (
    Assessment,
    CourseTemplate,
    MaintenancePhase,
    MaintenancePlan,
    OutreachAttempt,
    Patient,
    PatientFlag,
    PlanTemplate,
    PlanTemplatePhase,
    Protocol,
    TreatmentCourse,
)
from scheduling.models import Appointment, Chair, Clinic, Closure, JobMark, OpeningHours, Reminder, SessionRecord
from tests import factories

UTC = datetime.UTC


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The builders make dozens of users; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client(client, superuser):
    client.force_login(superuser)
    return client


def build_protocols(count):
    start = Protocol.objects.count()
    return [factories.ProtocolFactory(name=f"Protocol {start + n}") for n in range(count)]


def build_course_templates(count):
    start = CourseTemplate.objects.count()
    return [CourseTemplate.objects.create(name=f"Template {start + n}") for n in range(count)]


def build_patients(count):
    patients = factories.PatientFactory.create_batch(count, primary_clinician=factories.UserFactory())
    for patient in patients:
        factories.PatientFlagFactory(patient=patient)
    return patients


def build_plans(count):
    plans = []
    for _ in range(count):
        course = factories.TreatmentCourseFactory()
        plan = factories.MaintenancePlanFactory(patient=course.patient, source_course=course)
        factories.MaintenancePhaseFactory(plan=plan)
        plans.append(plan)
    return plans


def build_flags(count):
    return [
        factories.PatientFlagFactory(plan=plan, patient=plan.patient, resolved_by=factories.UserFactory())
        for plan in build_plans(count)
    ]


def build_clinics(count):
    clinics = factories.ClinicFactory.create_batch(count)
    for clinic in clinics:
        factories.ChairFactory(clinic=clinic)
        factories.OpeningHoursFactory(clinic=clinic)
        factories.ClosureFactory(clinic=clinic)
    return clinics


def build_appointments(count):
    return [
        factories.AppointmentFactory(
            course=course,
            patient=course.patient,
            chair=factories.ChairFactory(clinic=course.patient.home_clinic),
            technician=factories.UserFactory(),
            booked_by=factories.UserFactory(),
            authorisation_override_by=factories.UserFactory(),
        )
        for course in factories.TreatmentCourseFactory.create_batch(count)
    ]


def build_reminders(count):
    # Alternately about an appointment and about a plan's due date: both find their clinic.
    return [
        factories.ReminderFactory()
        if n % 2 == 0
        else factories.ReminderFactory(
            appointment=None,
            plan=plan,
            due_on=plan.started_on,
            kind=Reminder.Kind.MAINTENANCE_DUE,
            scheduled_for=datetime.datetime(2026, 11, 1, 14, tzinfo=UTC),
        )
        for n, plan in enumerate(build_plans(count))
    ]


def build_plan_templates(count):
    templates = [PlanTemplate.objects.create(name=f"Template {PlanTemplate.objects.count()}") for _ in range(count)]
    for template in templates:
        PlanTemplatePhase.objects.create(template=template, interval_days=14, visits=2)
    return templates


def build_outreach(count):
    return [
        OutreachAttempt.objects.create(flag=flag, channel="phone", outcome="reached", by=factories.UserFactory())
        for flag in build_flags(count)
    ]


# How to make `count` rows of each model, each with its own related rows so that a query
# per row would show.
BUILDERS = {
    User: lambda count: factories.UserFactory.create_batch(count),
    Patient: build_patients,
    Protocol: build_protocols,
    CourseTemplate: build_course_templates,
    TreatmentCourse: lambda count: factories.TreatmentCourseFactory.create_batch(count),
    MaintenancePlan: build_plans,
    Assessment: lambda count: factories.AssessmentFactory.create_batch(count, entered_by=factories.UserFactory()),
    PatientFlag: build_flags,
    Clinic: build_clinics,
    Chair: lambda count: factories.ChairFactory.create_batch(count),
    OpeningHours: lambda count: factories.OpeningHoursFactory.create_batch(count),
    Closure: lambda count: factories.ClosureFactory.create_batch(count),
    Appointment: build_appointments,
    SessionRecord: lambda count: factories.SessionRecordFactory.create_batch(count, operator=factories.UserFactory()),
    Reminder: build_reminders,
    PlanTemplate: build_plan_templates,
    OutreachAttempt: build_outreach,
    JobMark: lambda count: [
        JobMark.objects.create(job=f"job {JobMark.objects.count()}", reached=datetime.datetime(2026, 11, 1, tzinfo=UTC))
        for _ in range(count)
    ],
}

OUR_ADMINS = [
    model_admin
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in {"patients", "scheduling"}
]


def label(model_admin):
    return model_admin.model._meta.label


def admin_url(model, page, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


# A ceiling with room to spare for every admin page; each page is also held to the count
# measured on few rows once there are more (assert_queries_do_not_grow).
MAX_QUERIES_PER_PAGE = 15


def queries_for(client, url):
    """Queries one GET of ``url`` runs, after a first GET has filled per-process caches."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def assert_queries_do_not_grow(client, url, grow, django_assert_max_num_queries):
    """A page's queries measured on a few rows, then held to that count on more rows."""
    bound = queries_for(client, url)
    assert bound <= MAX_QUERIES_PER_PAGE
    grow()
    with django_assert_max_num_queries(bound):
        response = client.get(url)
    assert response.status_code == 200
    return response


def test_every_model_has_an_admin():
    ours = {*apps.get_app_config("patients").get_models(), *apps.get_app_config("scheduling").get_models()}
    assert {model_admin.model for model_admin in OUR_ADMINS} == ours - {MaintenancePhase, PlanTemplatePhase}
    # Phases are edited inside their plan.
    assert [inline.model for inline in admin.site._registry[MaintenancePlan].inlines] == [MaintenancePhase]
    assert [inline.model for inline in admin.site._registry[PlanTemplate].inlines] == [PlanTemplatePhase]


@pytest.mark.parametrize("model_admin", OUR_ADMINS, ids=label)
def test_every_editable_field_is_on_the_form(model_admin, rf, superuser):
    """Explicit fieldsets must not hide a field added to the model later."""
    request = rf.get("/")
    request.user = superuser
    shown = set(flatten_fieldsets(model_admin.get_fieldsets(request)))
    editable = {
        field.name for field in model_admin.model._meta.concrete_fields if field.editable and not field.auto_created
    }
    assert editable <= shown


@pytest.mark.parametrize("model_admin", OUR_ADMINS, ids=label)
def test_changelist_queries_do_not_grow_with_rows(model_admin, client, django_assert_max_num_queries):
    model, build = model_admin.model, BUILDERS[model_admin.model]
    build(3)
    response = assert_queries_do_not_grow(
        client, admin_url(model, "changelist"), lambda: build(7), django_assert_max_num_queries
    )
    assert len(response.context["cl"].result_list) == model.objects.count() >= 10


# Appointments are booked on the staff booking page, sessions recorded by completing them
# there, reminders written by booking and job marks by the jobs: none is added in admin (see
# tests/scheduling/test_appointment_admin.py, test_session_record_admin.py, test_reminder_admin.py).
ADDABLE_ADMINS = [
    model_admin for model_admin in OUR_ADMINS
    if model_admin.model not in {Appointment, SessionRecord, Reminder, JobMark}
]


def test_job_marks_are_read_only_in_admin(admin_client):
    mark = JobMark.objects.create(job="flag_overdue_patients:no-shows",
                                  reached=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    url = admin_url(JobMark, "change", mark.pk)
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"job": mark.job, "reached_0": "2030-01-01", "reached_1": "00:00:00"})
    assert response.status_code == 403
    assert JobMark.objects.get().reached == mark.reached
    assert admin_client.get(admin_url(JobMark, "add")).status_code == 403


@pytest.mark.parametrize("model_admin", ADDABLE_ADMINS, ids=label)
def test_add_page_queries_do_not_grow_with_rows(model_admin, client, django_assert_max_num_queries):
    build = BUILDERS[model_admin.model]
    build(3)
    assert_queries_do_not_grow(
        client, admin_url(model_admin.model, "add"), lambda: build(7), django_assert_max_num_queries
    )


@pytest.mark.parametrize("model_admin", OUR_ADMINS, ids=label)
def test_change_page_queries_do_not_grow_with_rows(model_admin, client, django_assert_max_num_queries):
    build = BUILDERS[model_admin.model]
    shown = build(3)[0]
    response = assert_queries_do_not_grow(
        client, admin_url(model_admin.model, "change", shown.pk), lambda: build(7), django_assert_max_num_queries
    )
    assert response.context["original"] == shown


AUTOCOMPLETES = [
    (model_admin, field_name) for model_admin in OUR_ADMINS for field_name in model_admin.autocomplete_fields
]


@pytest.mark.parametrize(
    ("model_admin", "field_name"), AUTOCOMPLETES, ids=[f"{label(a)}.{f}" for a, f in AUTOCOMPLETES]
)
def test_autocomplete_queries_do_not_grow_with_rows(model_admin, field_name, client, django_assert_max_num_queries):
    """The search behind an autocomplete field names each result without a query per result."""
    target = model_admin.model._meta.get_field(field_name).related_model
    build = BUILDERS[target]
    build(3)
    meta = model_admin.model._meta
    url = (
        f"{reverse('admin:autocomplete')}?app_label={meta.app_label}"
        f"&model_name={meta.model_name}&field_name={field_name}"
    )
    response = assert_queries_do_not_grow(client, url, lambda: build(7), django_assert_max_num_queries)
    assert len(response.json()["results"]) >= 10


def test_clinic_change_page_queries_do_not_grow_with_chairs_hours_and_closures(
    client, clinic, django_assert_max_num_queries
):
    def add(count):
        for n in range(count):
            factories.ChairFactory(clinic=clinic)
            factories.OpeningHoursFactory(clinic=clinic, weekday=n % 7, opens_at=datetime.time(n % 12))
            factories.ClosureFactory(clinic=clinic, starts_on=datetime.date(2026, 1, 1) + datetime.timedelta(n))

    add(3)
    response = assert_queries_do_not_grow(
        client, admin_url(Clinic, "change", clinic.pk), lambda: add(7), django_assert_max_num_queries
    )
    assert response.content.decode().count('name="chairs-') > 10


def test_plan_change_page_queries_do_not_grow_with_phases(client, django_assert_max_num_queries):
    plan = factories.MaintenancePlanFactory()
    factories.MaintenancePhaseFactory.create_batch(3, plan=plan)
    assert_queries_do_not_grow(
        client,
        admin_url(MaintenancePlan, "change", plan.pk),
        lambda: factories.MaintenancePhaseFactory.create_batch(7, plan=plan),
        django_assert_max_num_queries,
    )


def test_patient_search_by_mrn_finds_the_patient(client, clinic):
    wanted = factories.PatientFactory(mrn="MRN424242", home_clinic=clinic)
    factories.PatientFactory.create_batch(3, home_clinic=clinic)
    response = client.get(admin_url(Patient, "changelist"), {"q": "MRN424242"})
    assert list(response.context["cl"].result_list) == [wanted]


def test_patient_list_counts_open_flags_only(client, patient):
    factories.PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.SAFETY)
    factories.PatientFlagFactory(patient=patient, resolved_at=datetime.datetime(2026, 1, 5, tzinfo=UTC))
    response = client.get(admin_url(Patient, "changelist"))
    assert [p.open_flags for p in response.context["cl"].result_list] == [1]


def test_appointment_search_by_patient_mrn_finds_their_appointments(client, chair):
    wanted = factories.AppointmentFactory(chair=chair, patient__mrn="MRN777001")
    factories.AppointmentFactory(chair=factories.ChairFactory(clinic=chair.clinic))
    response = client.get(admin_url(Appointment, "changelist"), {"q": "MRN777001"})
    assert list(response.context["cl"].result_list) == [wanted]


def test_appointment_times_are_shown_in_the_clinics_own_zone(client, chair):
    appointment = factories.AppointmentFactory(chair=chair, starts_at=datetime.datetime(2026, 11, 25, 14, tzinfo=UTC))
    changelist = client.get(admin_url(Appointment, "changelist")).content.decode()
    assert "2026-11-25 09:00 EST" in changelist
    assert "2026-11-25 09:45 EST" in changelist

    change = client.get(admin_url(Appointment, "change", appointment.pk)).content.decode()
    assert "2026-11-25 09:00 EST to 2026-11-25 09:45 EST" in change
    assert "In UTC" in change


def test_plan_reminder_is_shown_in_the_patients_home_clinic_zone(client, clinic):
    plan = factories.MaintenancePlanFactory(patient__home_clinic=clinic)
    factories.ReminderFactory(
        appointment=None,
        plan=plan,
        due_on=plan.started_on,
        kind=Reminder.Kind.MAINTENANCE_DUE,
        scheduled_for=datetime.datetime(2026, 11, 24, 22, tzinfo=UTC),
    )
    assert "2026-11-24 17:00 EST" in client.get(admin_url(Reminder, "changelist")).content.decode()


def clinic_form(time_zone, **inlines):
    data = {"name": "Harbour TMS", "time_zone": time_zone, "address": "", "phone": "",
            "crisis_help": "Call 111, or 999 in an emergency.", "crisis_phone": "111"}
    for prefix in ("chairs", "opening_hours", "closures"):
        rows = inlines.get(prefix, [])
        data |= {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0}
        for n, row in enumerate(rows):
            data |= {f"{prefix}-{n}-{field}": value for field, value in row.items()}
    return data


def test_time_zone_is_chosen_from_a_list(client, db):
    assert '<option value="Europe/London">' in client.get(admin_url(Clinic, "add")).content.decode()


def test_it_refuses_a_time_zone_that_does_not_exist(client, db):
    response = client.post(admin_url(Clinic, "add"), clinic_form("Mars/Olympus_Mons"))
    assert response.status_code == 200
    assert "time_zone" in response.context["adminform"].form.errors
    assert not Clinic.objects.exists()


def test_a_clinic_is_configured_from_nothing_on_one_page(client, db):
    response = client.post(
        admin_url(Clinic, "add"),
        clinic_form(
            "Europe/London",
            chairs=[{"name": "Chair A", "device_model": "MagVenture", "coil": "B65", "active": "on"}],
            opening_hours=[{"weekday": 0, "opens_at": "08:00", "closes_at": "18:00"}],
            closures=[{"starts_on": "2026-12-25", "ends_on": "2026-12-26", "reason": "Christmas"}],
        ),
    )
    assert response.status_code == 302
    clinic = Clinic.objects.get(name="Harbour TMS")
    assert clinic.time_zone == "Europe/London"
    assert [chair.name for chair in clinic.chairs.all()] == ["Chair A"]
    assert str(clinic.opening_hours.get()) == "Monday 08:00–18:00"
    assert clinic.closures.get().ends_on == datetime.date(2026, 12, 26)


def test_assessment_form_shows_each_phq9_question(client, db):
    content = client.get(admin_url(Assessment, "add")).content.decode()
    assert "Little interest or pleasure in doing things" in content
    assert "better off dead or of hurting yourself" in content


def test_an_assessment_saved_in_the_admin_is_scored_and_signed(client, patient, superuser):
    items = {f"item_{n}": 2 for n in range(1, 10)} | {"item_9": 0}
    response = client.post(
        admin_url(Assessment, "add"),
        {
            "patient": patient.pk,
            "instrument": "phq9",
            "taken_at_0": "2026-11-25",
            "taken_at_1": "10:00",
            "difficulty": "",
            **items,
        },
    )
    assert response.status_code == 302
    assessment = Assessment.objects.get()
    assert (assessment.total, assessment.band) == (16, Assessment.Band.MODERATELY_SEVERE)
    assert assessment.entered_by == superuser
    assert assessment.source == Assessment.Source.STAFF


def test_resolve_action_resolves_only_open_flags_and_records_who(client, superuser):
    earlier = datetime.datetime(2026, 1, 5, tzinfo=UTC)
    colleague = factories.UserFactory()
    open_flags = factories.PatientFlagFactory.create_batch(2)
    closed = factories.PatientFlagFactory(resolved_at=earlier, resolved_by=colleague)

    response = client.post(
        admin_url(PatientFlag, "changelist"),
        {"action": "mark_resolved", "_selected_action": [flag.pk for flag in [*open_flags, closed]]},
    )

    assert response.status_code == 302
    for flag in open_flags:
        flag.refresh_from_db()
        assert flag.resolved_at is not None
        assert flag.resolved_by == superuser
    closed.refresh_from_db()
    assert (closed.resolved_at, closed.resolved_by) == (earlier, colleague)


def test_resolving_a_flag_on_its_page_records_who(client, superuser):
    flag = factories.PatientFlagFactory(raised_at=datetime.datetime(2026, 1, 5, tzinfo=UTC))
    response = client.post(
        admin_url(PatientFlag, "change", flag.pk),
        {
            "patient": flag.patient.pk,
            "kind": flag.kind,
            "detail": "",
            "plan": "",
            "raised_at_0": "2026-01-05",
            "raised_at_1": "00:00",
            "resolved_at_0": "2026-01-06",
            "resolved_at_1": "09:00",
            "resolved_by": "",
            "resolution_note": "Booked for next week",
        },
    )
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.resolved_by == superuser
