"""Staff pages for a patient's own data: the list, the search the booking form uses, the form
that registers or edits a patient, and entering a PHQ-9. Their URLs are in the staff map,
scheduling/staff/urls.py."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from tmsclinic.paging import counted_page
from tmsclinic.roles import BREAK_GLASS, EDIT_PATIENTS, RECORD_PHQ9, SEE_PATIENTS, staff_required

from . import search, services
from .forms import (
    PHQ9_QUESTION,
    BreakGlassForm,
    PatientFilterForm,
    PatientForm,
    PatientSearchForm,
    PHQ9Form,
    duplicate_mrn_error,
)
from .models import Assessment, Patient
from .selectors import BREAK_GLASS_SESSION_KEY, opened_by_break_glass, patient_for, walled
from .services import record_assessment

PAGE_SIZE = 50
SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10


def matching(patients, text):
    """Patients ``text`` describes, best first: see patients/search.py."""
    return search.search(patients, text)


@staff_required(SEE_PATIENTS)
def patient_list(request):
    filters = PatientFilterForm(request.GET, user=request.user)
    # An invalid filter shows its error and is ignored; the valid ones still apply.
    filters.is_valid()
    wanted = filters.cleaned_data
    patients = matching(walled(request, Patient.objects.select_related("home_clinic")), wanted.get("q", ""))
    if wanted.get("status"):
        patients = patients.filter(status=wanted["status"])
    if wanted.get("clinic"):
        patients = patients.filter(home_clinic=wanted["clinic"])
    page = counted_page(patients, PAGE_SIZE, request.GET.get("page"))
    return render(request, "staff/patients/list.html", {"filters": filters, "page": page})


@staff_required(SEE_PATIENTS)
def patient_search(request):
    """The booking form's as-you-type patient picker: an HTML fragment for htmx. Opened as a
    page (a bookmark, a browser without script) it is the patient list with the same search."""
    form = PatientSearchForm(request.GET)
    text = form.cleaned_data["q"] if form.is_valid() else ""
    if not request.htmx:
        return redirect(f"{reverse('staff:patients')}?{urlencode({'q': text})}")
    too_short = len(text) < SEARCH_MIN_CHARS
    patients = []
    if not too_short:
        patients = matching(walled(request, Patient.objects.active()), text)[:SEARCH_LIMIT]
    return render(
        request,
        "staff/patients/search_results.html",
        {"patients": patients, "text": text, "too_short": too_short, "min_chars": SEARCH_MIN_CHARS},
    )


@staff_required(EDIT_PATIENTS)
def patient_new(request):
    return _patient_form(request, Patient(), title="New patient")


@staff_required(EDIT_PATIENTS)
def patient_edit(request, uuid):
    patient = patient_for(request, uuid, related=())
    # The title is fixed now: a form that fails validation has already changed the instance.
    return _patient_form(request, patient, title=f"Edit {patient.full_name}")


def _patient_form(request, patient, *, title):
    adding = patient._state.adding
    if request.method == "POST":
        form = PatientForm(request.POST, instance=patient, user=request.user)
        if form.is_valid() and _save(form):
            messages.success(request, f"{'Added' if adding else 'Saved'} {form.instance}.")
            return redirect("staff:patient", form.instance.uuid)
    else:
        form = PatientForm(instance=patient, user=request.user)
    return render(
        request,
        "staff/patients/form.html",
        {"form": form, "title": title, "patient": None if adding else patient},
    )


def _save(form):
    """Save the form's patient. When another request took the same MRN after this form
    was validated, the database refuses it: put the duplicate error on the form instead."""
    try:
        with transaction.atomic():  # a savepoint, so the check below can still query
            form.save()
    except IntegrityError:
        mrn = form.cleaned_data["mrn"]
        if not Patient.objects.filter(mrn=mrn).exclude(pk=form.instance.pk).exists():
            raise
        form.add_error("mrn", duplicate_mrn_error(mrn))
        return False
    return True


@staff_required(RECORD_PHQ9)
@require_http_methods(["GET", "POST"])
def phq9(request, uuid):
    person = patient_for(request, uuid, related=("primary_clinician",))
    form = PHQ9Form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        assessment = record_assessment(
            patient=person, items=form.items, source=Assessment.Source.STAFF, by=request.user,
            difficulty=form.cleaned_data["difficulty"],
        )
        if assessment.endorses_self_harm:
            clinician = person.primary_clinician
            who = (clinician.get_full_name() or clinician.username) if clinician else "the clinic's clinicians"
            messages.error(
                request,
                f"Safety: question 9 (thoughts of being better off dead or of self-harm) was answered above "
                f"“not at all”. A safety flag was raised and {who} has been e-mailed to review today.",
            )
        messages.success(request, f"PHQ-9 saved: {assessment.total}, {assessment.get_band_display().lower()}.")
        return redirect("staff:patient", uuid=person.uuid)
    return render(request, "staff/outcomes/phq9.html", {"patient": person, "form": form, "question": PHQ9_QUESTION},
                  status=400 if form.is_bound else 200)


@staff_required(BREAK_GLASS)
@require_http_methods(["GET", "POST"])
def break_glass(request):
    """Open a patient of another clinic for this session, after a written reason."""
    form = BreakGlassForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        person = Patient.objects.filter(mrn=form.cleaned_data["mrn"]).first()
        if person is None:
            form.add_error("mrn", "No patient has this MRN.")
        elif walled(request, Patient.objects.filter(pk=person.pk)).exists():
            messages.info(request, f"{person.full_name} is a patient of your clinics: no break-glass needed.")
            return redirect("staff:patient", person.uuid)
        else:
            services.break_glass(patient=person, by=request.user, reason=form.cleaned_data["reason"], request=request)
            request.session[BREAK_GLASS_SESSION_KEY] = [*opened_by_break_glass(request), person.pk]
            messages.warning(request, f"Break-glass: you can open {person.full_name}'s record until you sign out. "
                                      f"{person.home_clinic.name}'s administrators have been told.")
            return redirect("staff:patient", person.uuid)
    return render(request, "staff/patients/break_glass.html", {"form": form}, status=400 if form.errors else 200)

