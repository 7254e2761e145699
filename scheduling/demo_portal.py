"""Portal accounts for the demo clinic: seed_demo opens two, and `make run` lists them."""

from django.conf import settings
from django.utils import timezone

from patients.models import MaintenancePlan, Patient

from .portal import InviteRefused, open_portal_account


def open_demo_portal_accounts():
    """Give the first patient on time with maintenance and the first overdue one (by MRN, so
    the same seed gives the same two) a portal account with the demo password."""
    now = timezone.now()
    live = MaintenancePlan.objects.filter(
        status=MaintenancePlan.Status.ACTIVE, patient__status=Patient.Status.ACTIVE
    ).exclude(patient__email="").select_related("patient__home_clinic").order_by("patient__mrn")
    chosen = [
        ("maintenance on time", live.filter(overdue_after__gt=now).first()),
        ("maintenance overdue", live.filter(overdue_after__lte=now).first()),
    ]
    for _, plan in chosen:
        if plan is None:
            continue
        try:
            open_portal_account(plan.patient, password=settings.DEMO_PASSWORD)
        except InviteRefused:  # an account left from an earlier demo holds the address
            continue


def demo_portal_logins():
    """(e-mail, what their record shows) for the demo patients who have portal accounts."""
    now = timezone.now()
    patients = Patient.objects.filter(user__isnull=False, status=Patient.Status.ACTIVE).select_related("user")
    logins = []
    for patient in patients.order_by("mrn")[:2]:
        plan = patient.maintenance_plans.filter(status=MaintenancePlan.Status.ACTIVE).first()
        overdue = plan is not None and plan.overdue_after is not None and plan.overdue_after <= now
        logins.append((patient.user.username, "maintenance overdue" if overdue else "maintenance on time"))
    return logins
