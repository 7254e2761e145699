"""Billing codes and the monthly billing export.

Each completed session carries its CPT code, derived when it is completed, never typed
(CLINICAL.md): 90867 for the first session of a course, which includes the cortical mapping and
the motor-threshold determination (the mapping visit, or a course's first session where the MT
is measured); 90869 where the MT was re-determined at a later session; 90868 for every other
session. A clinician may change a record's code, with a reason; who and why are kept.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Appointment, SessionRecord
from .calendar import midnight

FIRST, SUBSEQUENT, REDETERMINATION = SessionRecord.Cpt.FIRST, SessionRecord.Cpt.SUBSEQUENT, SessionRecord.Cpt.MT

# Appointments that are TMS sessions (a consultation is billed otherwise, not here).
BILLED_KINDS = (Appointment.Kind.MAPPING, *Appointment.TREATMENT_KINDS)


def derive_cpt(appointment, *, mt_measured):
    """The CPT code of a session being completed now (its earlier sessions already completed)."""
    if appointment.kind not in BILLED_KINDS:
        return ""
    if appointment.kind == Appointment.Kind.MAPPING:
        return FIRST
    if mt_measured and appointment.course_id is not None:
        earlier = Appointment.objects.filter(course_id=appointment.course_id, kind__in=BILLED_KINDS,
                                             status=Appointment.Status.COMPLETED).exclude(pk=appointment.pk)
        if not earlier.exists():
            return FIRST
    return REDETERMINATION if mt_measured else SUBSEQUENT


class CodeRefused(ValidationError):
    """A change of billing code that cannot be made; the message says why."""


def change_cpt(record, *, code, reason, by):
    """A clinician corrects a session's CPT code; the reason and who are kept on the record
    (and the change in the audit trail, by the page that asks for it)."""
    if code not in SessionRecord.Cpt.values:
        raise CodeRefused(f"{code} is not a TMS billing code.")
    reason = " ".join(reason.split())
    if not reason:
        raise CodeRefused("Say why the code is changed.")
    with transaction.atomic():
        current = SessionRecord.objects.select_for_update().get(pk=record.pk)
        if current.cpt_code == code:
            raise CodeRefused(f"The code is already {code}.")
        current.cpt_code, current.cpt_code_reason, current.cpt_code_changed_by = code, reason, by
        current.save(update_fields=["cpt_code", "cpt_code_reason", "cpt_code_changed_by"])
    return current


COLUMNS = ["clinic", "payer", "mrn", "date_of_service", "cpt", "course", "authorisation_number",
           "rendering_clinician", "technician"]


def month_bounds(clinic, month):
    """[start, end) of a calendar month (its first day given) in the clinic's zone."""
    following = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return midnight(clinic, month), midnight(clinic, following)


def billing_rows(clinics, month, *, payer=None):
    """One row per completed, coded session in ``month`` (a date, its first day) at each of
    ``clinics``, by clinic, payer, date and MRN: what a billing system needs to raise a claim."""
    rows = []
    for clinic in sorted(clinics, key=lambda c: c.name):
        start, end = month_bounds(clinic, month)
        records = (
            SessionRecord.objects.filter(appointment__clinic=clinic, appointment__starts_at__gte=start,
                                         appointment__starts_at__lt=end,
                                         appointment__status=Appointment.Status.COMPLETED)
            .exclude(cpt_code="")
            .select_related("appointment__patient__primary_clinician", "appointment__course__clinician",
                            "appointment__technician", "operator")
        )
        if payer is not None:
            records = records.filter(appointment__patient__payer=payer)
        for record in records:
            appointment = record.appointment
            patient, course = appointment.patient, appointment.course
            clinician = (course.clinician if course and course.clinician_id else None) or patient.primary_clinician
            technician = appointment.technician or record.operator
            rows.append({
                "clinic": clinic.name,
                "payer": patient.payer,
                "mrn": patient.mrn,
                "date_of_service": clinic.local(appointment.starts_at).date(),
                "cpt": record.cpt_code,
                "course": f"{course.get_kind_display()} from {course.start_date:%Y-%m-%d}" if course else "Maintenance",
                "authorisation_number": course.prior_auth_number if course else "",
                "rendering_clinician": _name(clinician),
                "technician": _name(technician),
            })
    return sorted(rows, key=lambda row: (row["clinic"], row["payer"], row["date_of_service"], row["mrn"]))


def _name(user):
    return (user.get_full_name() or user.get_username()) if user is not None else ""
