"""Finding a patient's records for a staff page: behind the clinic wall, and named in the audit
trail. Every staff view that opens one record goes through here, so the wall and the audit
event cannot be forgotten one view at a time."""

from django.shortcuts import get_object_or_404

from tmsclinic import audit

from .models import MaintenancePlan, Patient, PatientFlag, TreatmentCourse

BREAK_GLASS_SESSION_KEY = "break_glass_patients"


def opened_by_break_glass(request):
    """Patients outside the user's clinics that they opened this session by break-glass."""
    return tuple(request.session.get(BREAK_GLASS_SESSION_KEY, ()))


def walled(request, queryset):
    """``queryset`` narrowed to what the request's user may see (their clinics' patients)."""
    return queryset.visible_to(request.user, also=opened_by_break_glass(request))


def patient_for(request, uuid, *, related=("home_clinic",)):
    """The patient the URL names, or a 404 when there is none or they are behind the wall."""
    person = get_object_or_404(walled(request, Patient.objects.select_related(*related)), uuid=uuid)
    audit.about(request, person)
    return person


def plan_for(request, pk):
    plan = get_object_or_404(walled(request, MaintenancePlan.objects.select_related("patient__home_clinic")), pk=pk)
    audit.about(request, plan.patient)
    return plan


def course_for(request, pk):
    course = get_object_or_404(walled(request, TreatmentCourse.objects.select_related("patient__home_clinic")), pk=pk)
    audit.about(request, course.patient)
    return course


def flag_for(request, pk):
    flag = get_object_or_404(walled(request, PatientFlag.objects.select_related("patient__home_clinic")), pk=pk)
    audit.about(request, flag.patient)
    return flag
