"""Clinic walls: a staff member sees only the patients of their own clinics. Every staff URL
that names another clinic's record is a 404 (swept over the whole URL map, not a hand list),
and lists, search, the worklist, its count, reports and the booking form show none of them."""

import datetime

import pytest
from django.urls import reverse

from patients.models import Patient
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    PatientFactory,
    PatientFlagFactory,
    TreatmentCourseFactory,
    staff_user,
)
from tests.tmsclinic.test_url_map import routes, url_for
from tmsclinic.roles import CLINICIAN, FRONT_DESK, TECHNICIAN

UTC = datetime.UTC
pytestmark = pytest.mark.usefixtures("frozen")


def records_of(clinic, first_name):
    patient = PatientFactory(home_clinic=clinic, first_name=first_name, last_name="Walled", mrn=f"W-{first_name}")
    course = TreatmentCourseFactory(patient=patient)
    plan = MaintenancePlanFactory(patient=patient)
    MaintenancePhaseFactory(plan=plan)
    appointment = AppointmentFactory(patient=patient, chair=ChairFactory(clinic=clinic), course=course,
                                     starts_at=datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC))
    flag = PatientFlagFactory(patient=patient)
    return {"patients": {"uuid": patient.uuid}, "appointments": {"uuid": appointment.uuid},
            "plans": {"pk": plan.pk}, "attention": {"pk": flag.pk}, "courses": {"pk": course.pk}}


@pytest.fixture
def two_clinics(db):
    north, south = ClinicFactory(name="North TMS"), ClinicFactory(name="South TMS")
    return north, south, records_of(north, "Nora"), records_of(south, "Sam")


@pytest.mark.parametrize("role", [FRONT_DESK, TECHNICIAN, CLINICIAN])
def test_every_url_naming_another_clinics_record_is_not_found(client, two_clinics, role):
    north, south, north_records, south_records = two_clinics
    client.force_login(staff_user(role=role, username=f"north-{role}", clinics=[north]))
    swept = 0
    for name, pattern in routes("staff").items():
        own_url, names_record = url_for("staff", name, pattern, north_records)
        if not names_record:
            continue
        other_url, _ = url_for("staff", name, pattern, south_records)
        own = client.get(own_url).status_code
        for method in ("get", "post"):
            status = getattr(client, method)(other_url).status_code
            # Refused by role (403) or method (405) as for their own clinic's record; else unseen.
            assert status in (403, 404, 405), (role, method, other_url, status)
            if own not in (403, 405):
                assert status == 404, (role, method, other_url, status)
        swept += 1
    assert swept >= 15
    assert Patient.objects.get(first_name="Sam").flags.filter(resolved_at__isnull=True).exists()  # untouched


def test_lists_search_worklist_and_counts_show_only_their_clinics(client, two_clinics):
    north, south, _, _ = two_clinics
    client.force_login(staff_user(role=CLINICIAN, username="north-clinician", clinics=[north]))
    pages = {
        "patients": client.get(reverse("staff:patients")),
        "search": client.get(reverse("staff:patient-search"), {"q": "Walled"}, headers={"HX-Request": "true"}),
        "worklist": client.get(reverse("staff:attention")),
        "day": client.get(reverse("staff:day", args=[datetime.date(2026, 12, 2)])),
        "report": client.get(reverse("staff:outcomes-report")),
    }
    for name, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200, name
        assert "Sam" not in page and "South TMS" not in page, name
    assert "Nora" in pages["patients"].content.decode() and "Nora" in pages["search"].content.decode()
    assert pages["worklist"].context["page"].paginator.count == 1
    assert pages["worklist"].context["attention_counts"]["total"] == 1
    assert client.get(reverse("staff:today"), {"clinic": south.pk}).status_code == 404


def test_another_clinics_patient_cannot_be_booked(client, two_clinics):
    north, south, _, south_records = two_clinics
    client.force_login(staff_user(role=FRONT_DESK, username="north-desk", clinics=[north]))
    sam = Patient.objects.get(first_name="Sam")
    chair = ChairFactory(clinic=north)
    before = sam.appointments.count()
    response = client.post(reverse("staff:book"), {
        "patient": sam.pk, "chair": chair.pk, "starts_at": "2026-12-03T09:00", "kind": "acute"})
    assert response.status_code == 200 and "Choose a patient from the search." in response.content.decode()
    assert sam.appointments.count() == before


def test_a_patient_booked_at_their_clinic_is_seen_there_and_a_superuser_sees_all(client, two_clinics, superuser):
    north, south, _, _ = two_clinics
    visitor = PatientFactory(home_clinic=south, first_name="Vic", last_name="Visiting")
    AppointmentFactory(patient=visitor, chair=ChairFactory(clinic=north),
                       starts_at=datetime.datetime(2026, 12, 2, 17, 0, tzinfo=UTC))
    client.force_login(staff_user(role=FRONT_DESK, username="north-desk", clinics=[north]))
    assert client.get(reverse("staff:patient", args=[visitor.uuid])).status_code == 200
    client.force_login(superuser)
    assert client.get(reverse("staff:patient", args=[Patient.objects.get(first_name="Sam").uuid])).status_code == 200


def test_a_member_of_no_clinic_sees_no_patient(client, two_clinics):
    client.force_login(staff_user(role=CLINICIAN, username="nowhere", clinics=[]))
    assert client.get(reverse("staff:patients")).context["page"].paginator.count == 0
    page = client.get(reverse("staff:today"))
    assert page.status_code == 200 and "Nora" not in page.content.decode()


# --- Break-glass --------------------------------------------------------------------------------


def test_a_clinician_opens_another_clinics_patient_after_a_reason_and_the_admins_are_told(
        client, two_clinics, django_capture_on_commit_callbacks):
    from django.core import mail

    from tmsclinic.models import AuditEvent

    north, south, _, _ = two_clinics
    south_admin = staff_user(role="Clinic admin", username="south-admin", clinics=[south])
    staff_user(role="Clinic admin", username="north-admin", clinics=[north])
    doctor = staff_user(role=CLINICIAN, username="doc", clinics=[north])
    sam = Patient.objects.get(first_name="Sam")
    client.force_login(doctor)
    page = reverse("staff:patient", args=[sam.uuid])
    assert client.get(page).status_code == 404

    url = reverse("staff:break-glass")
    refused = client.post(url, {"mrn": sam.mrn, "reason": "urgent"})
    assert refused.status_code == 400 and "at least 10 characters" in refused.content.decode()
    assert client.post(url, {"mrn": "NO-SUCH", "reason": "Seen in the ER tonight"}).status_code == 400
    assert client.get(page).status_code == 404 and not AuditEvent.objects.filter(action="break_glass").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"mrn": sam.mrn, "reason": "Seen in the ER tonight, needs his protocol"})
    assert response["Location"] == page
    assert client.get(page).status_code == 200
    event = AuditEvent.objects.get(action="break_glass")
    reason = "Seen in the ER tonight, needs his protocol"
    assert (event.username, event.patient_id, event.detail) == ("doc", sam.pk, reason)
    assert [message.to for message in mail.outbox] == [[south_admin.email]]
    assert "doc" in mail.outbox[0].body and sam.mrn not in mail.outbox[0].body
    # Only that patient, and only for this session.
    assert client.get(reverse("staff:patients")).context["page"].paginator.count == 2
    client.logout()
    client.force_login(doctor)
    assert client.get(page).status_code == 404


@pytest.mark.parametrize("role", [FRONT_DESK, TECHNICIAN])
def test_only_clinicians_break_the_glass(client, two_clinics, role):
    client.force_login(staff_user(role=role, username=f"n-{role}", clinics=[two_clinics[0]]))
    sam = Patient.objects.get(first_name="Sam")
    response = client.post(reverse("staff:break-glass"), {"mrn": sam.mrn, "reason": "Seen in the ER tonight"})
    assert response.status_code == 403
