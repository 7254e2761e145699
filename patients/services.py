"""Clinical operations on patients: the one way PHQ-9 answers come in and flags are raised,
resolved and snoozed, and the safety e-mail."""

import datetime
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from tmsclinic import audit
from tmsclinic.links import absolute_url
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, role_members

from .models import ITEM_FIELDS, Assessment, Patient, PatientFlag
from .outcomes import course_outcome

__all__ = ["course_outcome", "raise_flag", "record_assessment", "resolve_flag", "snooze_flag"]

# A snooze is for "call back after the holidays", not for forgetting a patient.
MAX_SNOOZE_DAYS = 90
# Closing these is a clinical judgement (CLINICAL.md: item 9 needs a clinician's review today).
CLINICAL_KINDS = (PatientFlag.Kind.SAFETY, PatientFlag.Kind.WORSENING_SYMPTOMS)


class FlagRefused(ValidationError):
    """The flag cannot be changed so; the message says why, in clinic words."""

log = logging.getLogger(__name__)


def raise_flag(*, patient, kind, detail="", plan=None, due_on=None):
    """Open a flag, or add to the detail of the open flag of that kind (at most one is open).

    Returns (flag, created). Safe against a concurrent raise: the partial unique constraint
    refuses the second insert, which then finds and updates the first.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            return PatientFlag.objects.create(patient=patient, kind=kind, detail=detail, plan=plan, due_on=due_on,
                                              raised_at=now), True
    except IntegrityError:
        flag = PatientFlag.objects.open().select_for_update().get(patient=patient, kind=kind)
        if detail:
            flag.detail = f"{flag.detail}\n{detail}".strip()
            flag.save(update_fields=["detail"])
        return flag, False


def resolve_flag(flag, *, by=None, note=""):
    """Resolve an open flag; ``by=None`` records that the system resolved it."""
    updated = PatientFlag.objects.open().filter(pk=flag.pk).update(
        resolved_at=timezone.now(), resolved_by=by, resolution_note=note
    )
    return updated == 1


def snooze_until_error(today, until):
    """Why a flag cannot be hidden until ``until`` (the home clinic's ``today`` given), or None."""
    if until <= today:
        return "Choose a day after today."
    if until > today + datetime.timedelta(days=MAX_SNOOZE_DAYS):
        return f"A flag can be hidden for at most {MAX_SNOOZE_DAYS} days."
    return None


def why_not_snooze(flag):
    """Why this flag can never be snoozed, or None."""
    if flag.kind == PatientFlag.Kind.SAFETY:
        return "A safety flag needs a clinician's review today; it cannot be snoozed."
    return None


def snooze_flag(flag, *, until):
    """Hide an open flag from the worklist until the morning of ``until`` in the patient's home
    clinic. A safety flag is never snoozed. Returns False when the flag was resolved meanwhile."""
    if reason := why_not_snooze(flag) or snooze_until_error(flag.patient.home_clinic.today(), until):
        raise FlagRefused(reason)
    return PatientFlag.objects.open().filter(pk=flag.pk).update(snoozed_until=until) == 1


def _members_of(role, clinic_id):
    """The e-mail addresses of the active holders of ``role`` at a clinic."""
    return list(role_members(role).filter(is_active=True, clinic_memberships__clinic_id=clinic_id)
                .exclude(email="").values_list("email", flat=True).distinct())


def _clinicians_to_alert(patient):
    if patient.primary_clinician_id and patient.primary_clinician.email:
        return [patient.primary_clinician.email]
    # No named clinician: every clinician of the patient's clinic hears about it rather than nobody.
    return _members_of(CLINICIAN, patient.home_clinic_id)


def _send_safety_alert(patient_pk):
    patient = Patient.objects.select_related("primary_clinician").get(pk=patient_pk)
    recipients = _clinicians_to_alert(patient)
    if not recipients:
        log.error("safety flag for patient %s: no clinician has an e-mail address", patient_pk)
        return
    link = absolute_url(reverse("staff:patient", args=[patient.uuid]))
    # No clinical detail in the message: e-mail is not a safe place for it. The link needs a login.
    send_mail(
        subject="TMS Clinic: a patient's answers need review today",
        message=(
            "A patient answered PHQ-9 question 9 (thoughts of being better off dead or of self-harm) "
            "above “not at all”. Please review today.\n\n" + link
        ),
        from_email=None,
        recipient_list=recipients,
    )


def _worsening(assessment, plan):
    """Why this score counts as worsening during maintenance, or None."""
    if assessment.total >= settings.TMS_WORSENING_TOTAL:
        return f"PHQ-9 {assessment.total} during maintenance (≥ {settings.TMS_WORSENING_TOTAL})"
    # The last score on or before the plan's first day, a day of the clinic's calendar.
    zone = ZoneInfo(assessment.patient.home_clinic.time_zone)
    after_first_day = datetime.datetime.combine(plan.started_on + datetime.timedelta(days=1), datetime.time(0), zone)
    end_of_acute = (
        Assessment.objects.filter(patient=assessment.patient, taken_at__lt=after_first_day)
        .order_by("-taken_at").first()
    )
    if end_of_acute and assessment.total - end_of_acute.total >= settings.TMS_WORSENING_RISE:
        return f"PHQ-9 rose from {end_of_acute.total} at the end of the acute course to {assessment.total}"
    return None


def record_assessment(*, patient, items, source, by=None, difficulty=None, taken_at=None):
    """Store a PHQ-9 and act on it, whatever the path (staff form, portal, admin).

    Item 9 above 0 raises a safety flag in the same transaction and e-mails the clinician as
    soon as it commits. During maintenance a worsening score raises a worsening flag.
    """
    items = list(items)
    if len(items) != len(ITEM_FIELDS) or not all(isinstance(v, int) and 0 <= v <= 3 for v in items):
        raise ValidationError("A PHQ-9 needs an answer from 0 to 3 to each of its nine questions.")
    assessment = Assessment(
        patient=patient, source=source, entered_by=by, difficulty=difficulty,
        taken_at=taken_at or timezone.now(), **dict(zip(ITEM_FIELDS, items, strict=True)),
    )
    with transaction.atomic():
        assessment.save()
        if assessment.endorses_self_harm:
            answer = ("", "several days", "more than half the days", "nearly every day")[assessment.item_9]
            raise_flag(patient=patient, kind=PatientFlag.Kind.SAFETY,
                       detail=f"PHQ-9 item 9 answered “{answer}” on {assessment.taken_at:%Y-%m-%d}.")
            transaction.on_commit(lambda: _send_safety_alert(patient.pk))
        plan = patient.maintenance_plans.active().first()
        reason = _worsening(assessment, plan) if plan else None
        if reason:
            raise_flag(patient=patient, kind=PatientFlag.Kind.WORSENING_SYMPTOMS, detail=reason, plan=plan)
    return assessment


# --- Break-glass ------------------------------------------------------------------------------


def break_glass(*, patient, by, reason, request=None):
    """A clinician opens a patient of another clinic in an emergency: the reason is kept in the
    audit trail, and the patient's clinic admins are told by e-mail (without clinical detail)."""
    with transaction.atomic():
        audit.record("break_glass", request=request, user=by, patient=patient, detail=reason)
        transaction.on_commit(lambda: _send_break_glass_notice(patient.pk, by.get_username(), reason))


def _send_break_glass_notice(patient_pk, username, reason):
    patient = Patient.objects.select_related("home_clinic").get(pk=patient_pk)
    recipients = _members_of(CLINIC_ADMIN, patient.home_clinic_id)
    if not recipients:
        log.error("break-glass on patient %s: no clinic admin of %s has an e-mail address", patient_pk,
                  patient.home_clinic)
        return
    trail = absolute_url(reverse("admin:tmsclinic_auditevent_changelist") + "?action__exact=break_glass")
    # No patient identifier in the e-mail: the audit trail (behind a login) names the patient.
    send_mail(
        subject=f"TMS Clinic: break-glass access at {patient.home_clinic.name}",
        message=(
            f"{username} opened the record of one of {patient.home_clinic.name}'s patients from outside the "
            f"clinic, giving this reason:\n\n{reason}\n\nThe audit trail names the patient and lists what "
            f"was opened:\n{trail}\n\nIf this was not expected, talk to them and to your privacy officer."
        ),
        from_email=None,
        recipient_list=recipients,
    )

