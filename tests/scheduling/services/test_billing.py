"""Billing codes (issue 12): every completed session carries its CPT code, derived, not typed —
90867 for a course's first session with mapping and MT determination, 90869 where the MT was
re-determined, else 90868 — and a clinician may change it with a reason. The monthly export
lists each coded session of the month in the clinic's own calendar, per clinic and payer."""

import csv
import datetime
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from scheduling.models import Appointment, SessionRecord
from scheduling.services import AppointmentStateError, billing, complete_appointment, motor_threshold
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    PatientFactory,
    ProtocolFactory,
    SessionRecordFactory,
    TreatmentCourseFactory,
    staff_user,
)
from tmsclinic.roles import CLINICIAN, FRONT_DESK, TECHNICIAN

UTC = datetime.UTC
START = datetime.date(2026, 10, 5)  # a Monday


def complete(appointment, by, *, mt=None):
    with time_machine.travel(appointment.starts_at + datetime.timedelta(minutes=20), tick=False):
        return complete_appointment(appointment, by=by, pulses_delivered=3000, intensity_percent_mt=120,
                                    motor_threshold=mt)


def due(appointment):
    annotated = motor_threshold.with_mt_status(Appointment.objects.filter(pk=appointment.pk))
    return bool(motor_threshold.recheck_reasons(annotated.select_related("clinic", "course").get()))


def expected_codes(visits):
    """The rule written out plainly over (kind, measured) in order: the first measured visit of
    a course is 90867 (a mapping visit always is), a later measured one 90869, others 90868."""
    codes, first_done = [], False
    for kind, measured in visits:
        if kind == "mapping" or (measured and not first_done):
            codes.append("90867")
            first_done = True
        else:
            codes.append("90869" if measured else "90868")
    return codes


@pytest.mark.parametrize("with_mapping_visit", [True, False])
def test_a_whole_course_is_coded_by_what_happened_at_each_session(patient, chair, technician, clinician,
                                                                  with_mapping_visit):
    """Mapping (or a first session that measures), then 20 sessions re-checked every fifth and
    once after a medication change, then a taper of two: 4 re-determinations in all."""
    course = TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45), start_date=START,
                                    motor_threshold=None)
    kinds = (["mapping"] if with_mapping_visit else []) + ["acute"] * 20 + ["acute"] * 2
    days = [START + datetime.timedelta(days=n) for n in range(20 + len(kinds))]
    days = [day for day in days if day.weekday() < 5][:len(kinds)]
    visits = []
    for number, (kind, day) in enumerate(zip(kinds, days, strict=True)):
        if number == 18:  # before the 18th session: a medication change
            with time_machine.travel(datetime.datetime.combine(day, datetime.time(6), tzinfo=UTC), tick=False):
                motor_threshold.ask_for_recheck(patient, reason="medication", note="", by=clinician)
        at_ten = datetime.datetime.combine(day, datetime.time(10), tzinfo=chair.clinic.tz)
        appointment = AppointmentFactory(patient=patient, chair=chair, course=course, kind=kind, starts_at=at_ten,
                                         status="checked_in")
        measured = due(appointment)  # the technician measures exactly when asked
        complete(appointment, technician, mt=55 + number % 3 if measured else None)
        visits.append((kind, measured))
    records = SessionRecord.objects.filter(appointment__course=course).order_by("appointment__starts_at")
    codes = [record.cpt_code for record in records]
    assert codes == expected_codes(visits)
    assert codes.count("90867") == 1 and codes[0] == "90867"
    assert codes.count("90869") == 4


def test_a_maintenance_session_is_coded_by_its_measurement(patient, chair, technician):
    for number, mt in enumerate((None, 60)):
        appointment = AppointmentFactory(patient=patient, chair=chair, kind="maintenance", status="checked_in",
                                         starts_at=datetime.datetime(2026, 11, 2 + number, 15, tzinfo=UTC))
        SessionRecordFactory(appointment=AppointmentFactory(
            patient=patient, chair=chair, kind="acute", status="completed",
            starts_at=datetime.datetime(2026, 10, 1 + number, 15, tzinfo=UTC)), mt_measured=True)
        complete(appointment, technician, mt=mt)
    assert [r.cpt_code for r in SessionRecord.objects.filter(appointment__kind="maintenance")
            .order_by("appointment__starts_at")] == ["90868", "90869"]


def test_a_clinician_changes_a_code_with_a_reason_and_nobody_else_can(client, patient, chair, technician, clinician):
    record = SessionRecordFactory(appointment=AppointmentFactory(patient=patient, chair=chair, status="completed"),
                                  cpt_code="90868")
    url = reverse("staff:appointment-action", args=[record.appointment.uuid, "billing-code"])
    client.force_login(technician)
    client.post(url, {"code": "90869", "reason": "MT was re-measured"})
    client.force_login(clinician)
    response = client.post(url, {"code": "90869", "reason": " "})
    assert response.status_code == 400 and "reason" in response.context["cpt_form"].errors
    record.refresh_from_db()
    assert (record.cpt_code, record.cpt_code_changed_by) == ("90868", None)
    response = client.post(url, {"code": "90869", "reason": "MT was re-measured, not written down"}, follow=True)
    assert "The billing code is now 90869." in response.content.decode()
    record.refresh_from_db()
    assert (record.cpt_code, record.cpt_code_reason, record.cpt_code_changed_by) == (
        "90869", "MT was re-measured, not written down", clinician)
    response = client.post(url, {"code": "90869", "reason": "again"}, follow=True)
    assert "The code is already 90869." in response.content.decode()


def test_a_code_change_is_refused_for_an_unknown_code(patient, chair, clinician):
    record = SessionRecordFactory(appointment=AppointmentFactory(patient=patient, chair=chair, status="completed"))
    with pytest.raises(billing.CodeRefused, match="99999 is not a TMS billing code"):
        billing.change_cpt(record, code="99999", reason="why not", by=clinician)
    with pytest.raises(AppointmentStateError.__mro__[1]):  # a ValidationError, as every refusal
        billing.change_cpt(record, code="90869", reason="", by=clinician)


# --- The monthly export ----------------------------------------------------------------------


@pytest.fixture
def billed(db):
    """Sessions in and around November 2026 at a New York and a London clinic, two payers."""
    clinics = [ClinicFactory(name="Riverside TMS", time_zone="America/New_York"),
               ClinicFactory(name="Thames TMS", time_zone="Europe/London")]
    doctor = staff_user(role=CLINICIAN, username="dr-who", first_name="Ada", last_name="Doctor")
    tech = staff_user(role=TECHNICIAN, username="tech-b", first_name="Bo", last_name="Tech")
    moments = [
        datetime.datetime(2026, 11, 1, 3, 30, tzinfo=UTC),    # 31 Oct 23:30 New York / 1 Nov 03:30 London
        datetime.datetime(2026, 11, 1, 0, 30, tzinfo=UTC),    # 31 Oct 20:30 New York / 1 Nov 00:30 London
        datetime.datetime(2026, 11, 15, 15, 0, tzinfo=UTC),
        datetime.datetime(2026, 12, 1, 4, 30, tzinfo=UTC),    # 30 Nov 23:30 New York / 1 Dec London
        datetime.datetime(2026, 11, 30, 23, 30, tzinfo=UTC),  # 30 Nov 18:30 New York / 23:30 London
    ]
    for clinic in clinics:
        for payer in ("Aetna", "Self-pay"):
            chair = ChairFactory(clinic=clinic)  # a chair each: PostgreSQL refuses overlapping bookings
            patient = PatientFactory(home_clinic=clinic, payer=payer)
            course = TreatmentCourseFactory(patient=patient, clinician=doctor, prior_auth_number=f"PA-{patient.mrn}")
            for n, moment in enumerate(moments):
                appointment = AppointmentFactory(patient=patient, chair=chair, course=course, status="completed",
                                                 starts_at=moment,
                                                 technician=tech)
                SessionRecordFactory(appointment=appointment, cpt_code=["90867", "90868", "90869"][n % 3])
        # Not billed: a cancelled session and a record without a code.
        AppointmentFactory(patient=patient, chair=chair, status="cancelled",
                           starts_at=datetime.datetime(2026, 11, 10, 15, tzinfo=UTC))
        SessionRecordFactory(appointment=AppointmentFactory(patient=patient, chair=chair, status="completed",
                             starts_at=datetime.datetime(2026, 11, 11, 15, tzinfo=UTC)), cpt_code="")
    return clinics


def recomputed(clinic_names, month, payer=None):
    """From the raw rows, with the zone read by zoneinfo directly: what the export must say."""
    rows = []
    for record in SessionRecord.objects.select_related("appointment__clinic", "appointment__patient",
                                                       "appointment__course"):
        appointment = record.appointment
        day = appointment.starts_at.astimezone(ZoneInfo(appointment.clinic.time_zone)).date()
        if (appointment.clinic.name in clinic_names and (day.year, day.month) == month and record.cpt_code
                and appointment.status == "completed" and payer in (None, appointment.patient.payer)):
            rows.append((appointment.clinic.name, appointment.patient.payer, appointment.patient.mrn,
                         day.isoformat(), record.cpt_code, appointment.course.prior_auth_number, "Ada Doctor",
                         "Bo Tech"))
    return sorted(rows)


def exported(response):
    assert response["Content-Type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.content.decode()))
    assert reader.fieldnames == billing.COLUMNS
    return sorted((row["clinic"], row["payer"], row["mrn"], row["date_of_service"], row["cpt"],
                   row["authorisation_number"], row["rendering_clinician"], row["technician"]) for row in reader)


def test_the_export_is_the_months_coded_sessions_in_each_clinics_calendar(client, billed):
    client.force_login(staff_user(role=FRONT_DESK, username="billing-desk"))
    response = client.get(reverse("staff:billing"), {"month": "2026-11"})
    rows = exported(response)
    assert rows == recomputed({"Riverside TMS", "Thames TMS"}, (2026, 11))
    # New York: 31 Oct 23:30 is October's; 30 Nov 23:30 is November's. London: the reverse.
    assert len([row for row in rows if row[0] == "Riverside TMS"]) == 2 * 3
    assert len([row for row in rows if row[0] == "Thames TMS"]) == 2 * 4
    assert 'filename="billing-all-clinics-2026-11.csv"' in response["Content-Disposition"]


def test_one_clinic_and_one_payer(client, billed):
    riverside, _ = billed
    client.force_login(staff_user(role=FRONT_DESK, username="billing-desk"))
    response = client.get(reverse("staff:billing"), {"month": "2026-11", "clinic": riverside.pk, "payer": "Aetna"})
    assert exported(response) == recomputed({"Riverside TMS"}, (2026, 11), payer="Aetna")
    assert 'filename="billing-riverside-tms-2026-11-aetna.csv"' in response["Content-Disposition"]


def test_the_export_stays_behind_the_clinic_wall(client, billed):
    riverside, thames = billed
    client.force_login(staff_user(role=FRONT_DESK, username="riverside-desk", clinics=[riverside]))
    assert exported(client.get(reverse("staff:billing"), {"month": "2026-11"})) == recomputed(
        {"Riverside TMS"}, (2026, 11))
    assert client.get(reverse("staff:billing"), {"month": "2026-11", "clinic": thames.pk}).status_code == 400


@pytest.mark.parametrize("month", ["", "November", "2026-13", "9999-01", "2026-11-05"])
def test_a_bad_month_gets_a_message_not_a_file(client, billed, month):
    client.force_login(staff_user(role=FRONT_DESK, username="billing-desk"))
    response = client.get(reverse("staff:billing"), {"month": month})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert response.context["form"].errors["month"]
