"""Every ModelAdmin of both apps: each model has one, every editable field is on its form, and
every page (list, add, change, autocomplete, inlines) opens with a fixed number of queries."""

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
    AuthorisationChange,
    CourseTemplate,
    MaintenancePhase,
    MaintenancePlan,
    MotorThresholdRecheck,
    OutreachAttempt,
    Patient,
    PatientFlag,
    PlanTemplate,
    PlanTemplatePhase,
    Protocol,
    TreatmentCourse,
)
from scheduling.models import (
    Appointment,
    BookedAt,
    CadenceStep,
    Chair,
    Clinic,
    ClinicMembership,
    Closure,
    FreedSlot,
    JobMark,
    OpeningHours,
    OutreachCadence,
    OutreachMessage,
    OutreachTemplate,
    Reminder,
    SessionRecord,
    SlotOffer,
    WaitlistEntry,
)
from tests import factories
from tests.admin_pages import admin_url

UTC = datetime.UTC
pytestmark = pytest.mark.usefixtures("_fast_password_hashing")


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


def build_cadences(count):
    cadences = [OutreachCadence.objects.create(name=f"Cadence {n}", flag_kind="overdue_maintenance",
                                               clinic=factories.ClinicFactory()) for n in range(count)]
    template = factories.OutreachTemplateFactory()
    for cadence in cadences:
        CadenceStep.objects.create(cadence=cadence, day=0, action="first", template=template)
        CadenceStep.objects.create(cadence=cadence, day=7, action="call")
    return cadences


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
    AuthorisationChange: lambda count: [
        AuthorisationChange.objects.create(course=factories.TreatmentCourseFactory(), authorised_sessions=30,
                                           changed_by=factories.UserFactory())
        for _ in range(count)
    ],
    MotorThresholdRecheck: lambda count: [
        MotorThresholdRecheck.objects.create(patient=factories.PatientFactory(), reason="medication",
                                             requested_by=factories.UserFactory())
        for _ in range(count)
    ],
    PatientFlag: build_flags,
    Clinic: build_clinics,
    Chair: lambda count: factories.ChairFactory.create_batch(count),
    OpeningHours: lambda count: factories.OpeningHoursFactory.create_batch(count),
    Closure: lambda count: factories.ClosureFactory.create_batch(count),
    ClinicMembership: lambda count: [
        ClinicMembership.objects.create(user=factories.UserFactory(), clinic=factories.ClinicFactory())
        for _ in range(count)
    ],
    Appointment: build_appointments,
    SessionRecord: lambda count: factories.SessionRecordFactory.create_batch(count, operator=factories.UserFactory()),
    Reminder: build_reminders,
    PlanTemplate: build_plan_templates,
    OutreachAttempt: build_outreach,
    OutreachTemplate: lambda count: factories.OutreachTemplateFactory.create_batch(count),
    OutreachCadence: build_cadences,
    OutreachMessage: lambda count: factories.OutreachMessageFactory.create_batch(
        count, sent_by=factories.UserFactory()),
    WaitlistEntry: lambda count: factories.WaitlistEntryFactory.create_batch(count, created_by=factories.UserFactory()),
    SlotOffer: lambda count: factories.SlotOfferFactory.create_batch(count),
    FreedSlot: lambda count: factories.FreedSlotFactory.create_batch(count),
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
    inlined = {MaintenancePhase, PlanTemplatePhase, CadenceStep}
    kept_by_the_database = {BookedAt}  # its triggers write it; no one edits it
    assert {model_admin.model for model_admin in OUR_ADMINS} == ours - inlined - kept_by_the_database
    # Phases are edited inside their plan.
    assert [inline.model for inline in admin.site._registry[MaintenancePlan].inlines] == [MaintenancePhase]
    assert [inline.model for inline in admin.site._registry[PlanTemplate].inlines] == [PlanTemplatePhase]
    assert [inline.model for inline in admin.site._registry[OutreachCadence].inlines] == [CadenceStep]


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
# there, reminders written by booking, job marks by the jobs and authorisation history by the
# authorisation page: none is added in admin (see tests/scheduling/admin/test_appointment_admin.py,
# test_session_record_admin.py, test_reminder_admin.py).
ADDABLE_ADMINS = [
    model_admin for model_admin in OUR_ADMINS
    if model_admin.model not in {Appointment, SessionRecord, Reminder, JobMark, AuthorisationChange,
                                 OutreachMessage, SlotOffer, FreedSlot}
]


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
